//! Live video: a camera stream's fragmented MP4 as one endless chunked response (the init segment,
//! then a fragment per frame from the last key frame on; the browser plays it through Media
//! Source Extensions, and ffprobe or VLC can open the URL too), and an MJPEG stream at the detect
//! size for MJPEG cameras and browsers without MSE. Both follow the snapshots' access rules.

use super::access::visible_camera;
use super::respond::ApiResult;
use crate::app::state::AppState;
use crate::auth::Identity;
use crate::error::Error;
use crate::live::LiveStream;
use crate::recording::mp4::{Fragment, InitSegment};
use actix_web::web::Bytes;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

/// How long a request waits for a stream that is starting (a main stream opened for this viewer,
/// a camera reconnecting) before it is told to try again.
const START_WAIT: Duration = Duration::from_secs(15);
/// The multipart boundary of the MJPEG stream.
const BOUNDARY: &str = "watchpost-frame";

#[derive(Deserialize)]
pub(super) struct LiveQuery {
    /// `main` (the default: the record stream, full resolution) or `sub` (the detect stream).
    stream: Option<String>,
}

pub(super) async fn live_mp4(
    state: web::Data<AppState>,
    me: Identity,
    id: web::Path<String>,
    query: web::Query<LiveQuery>,
) -> ApiResult {
    let camera = visible_camera(&state, &me, &id)?;
    let requested = query.stream.as_deref().unwrap_or("main");
    let stream = LiveStream::parse(requested)
        .ok_or_else(|| Error::invalid(format!("stream {requested:?} is not known; use main or sub")))?;
    let mjpeg_instead = || {
        Error::conflict(format!(
            "This stream of camera {:?} cannot be played as video in a browser (it is not H.264 or \
             H.265); watch /api/cameras/{}/live.mjpeg instead.",
            camera.id(),
            camera.id()
        ))
    };
    if !camera.config.enabled {
        return Err(Error::unavailable(format!("Camera {:?} is switched off.", camera.id())).into());
    }
    let feed = camera.live(stream).ok_or_else(mjpeg_instead)?;
    let over = camera.live_over();
    let viewer = tokio::select! {
        viewer = feed.watch(START_WAIT) => viewer,
        _ = over.cancelled() => None,
    }
    .ok_or_else(|| Error::unavailable("The camera's stream has not started yet; try again in a few seconds."))?;
    let track = &viewer.init().track;
    if !track.is_h264_or_h265() {
        return Err(mjpeg_instead().into());
    }
    let content_type = format!("video/mp4; codecs=\"{}\"", track.codec);
    let (width, height) = (track.width, track.height);
    let init = Bytes::from_owner(SharedInit(viewer.init().clone()));
    let fragments = futures_util::stream::unfold((viewer, over), |(mut viewer, over)| async move {
        let piece = tokio::select! {
            piece = viewer.next() => piece?,
            _ = over.cancelled() => return None,
        };
        let bytes = Bytes::from_owner(SharedFragment(piece.fragment));
        Some((Ok::<_, Error>(bytes), (viewer, over)))
    });
    let body = futures_util::StreamExt::chain(futures_util::stream::once(async move { Ok(init) }), fragments);
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(("Cache-Control", "private, no-store"))
        .insert_header(("X-Video-Size", format!("{width}x{height}")))
        .streaming(body))
}

pub(super) async fn live_mjpeg(state: web::Data<AppState>, me: Identity, id: web::Path<String>) -> ApiResult {
    let camera = visible_camera(&state, &me, &id)?;
    let mut changes = camera.latest_changes();
    // The latest picture first (if any), then each new one.
    changes.mark_changed();
    let over = camera.live_over();
    let frames = futures_util::stream::unfold((camera, changes, over), |(camera, mut changes, over)| async move {
        loop {
            tokio::select! {
                changed = changes.changed() => changed.ok()?,
                _ = over.cancelled() => return None,
            }
            // Encoded once per frame however many viewers there are; a failure skips the frame.
            let Ok(Some(jpeg)) = camera.latest_jpeg().await else { continue };
            let mut part =
                format!("--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n", jpeg.len())
                    .into_bytes();
            part.extend_from_slice(&jpeg);
            part.extend_from_slice(b"\r\n");
            return Some((Ok::<_, Error>(Bytes::from(part)), (camera, changes, over)));
        }
    });
    Ok(HttpResponse::Ok()
        .content_type(format!("multipart/x-mixed-replace; boundary={BOUNDARY}"))
        .insert_header(("Cache-Control", "private, no-store"))
        .streaming(frames))
}

/// A fragment's bytes handed to the response without a copy (the recorder and other viewers share
/// them).
struct SharedFragment(Arc<Fragment>);

impl AsRef<[u8]> for SharedFragment {
    fn as_ref(&self) -> &[u8] {
        &self.0.bytes
    }
}

struct SharedInit(Arc<InitSegment>);

impl AsRef<[u8]> for SharedInit {
    fn as_ref(&self) -> &[u8] {
        &self.0.bytes
    }
}
