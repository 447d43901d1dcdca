//! Recorded video over HTTP: a camera's recorded spans, an event's clip, the export of any span,
//! and the space recordings take. The same access rules as snapshots (a viewer limited to other
//! cameras gets 404), and every video supports Range so players can seek.

use super::access::{visible_camera, visible_cameras, visible_event};
use super::ranges::serve_file;
use super::respond::ApiResult;
use crate::app::state::AppState;
use crate::auth::Identity;
use crate::error::Error;
use crate::recording::clips;
use crate::recording::settings::RecordConfig;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

/// The longest span one export joins.
const LONGEST_EXPORT_MS: i64 = 24 * 3_600_000;
/// Segments less than this apart belong to one recorded span.
const SPAN_JOIN_MS: i64 = 1_500;

#[derive(Deserialize)]
pub(super) struct SpanQuery {
    from: Option<String>,
    to: Option<String>,
}

impl SpanQuery {
    /// The asked span; the last 24 hours when neither end is given.
    fn span(&self, now_ms: i64) -> Result<(i64, i64), Error> {
        match (&self.from, &self.to) {
            (None, None) => Ok((now_ms - LONGEST_EXPORT_MS, now_ms)),
            (Some(from), Some(to)) => crate::recording::parse_span(from, to, LONGEST_EXPORT_MS),
            _ => Err(Error::invalid("give both from and to (RFC 3339), or neither for the last 24 hours")),
        }
    }
}

#[derive(Serialize)]
struct SegmentView {
    start: String,
    end: String,
    start_ms: i64,
    end_ms: i64,
    bytes: i64,
    codec: String,
    width: i32,
    height: i32,
}

/// A stretch of footage without a gap.
#[derive(Serialize, Debug, PartialEq, Eq)]
pub(super) struct Span {
    pub start_ms: i64,
    pub end_ms: i64,
}

/// Joins segments (oldest first) into gapless spans.
pub(super) fn spans(segments: &[(i64, i64)]) -> Vec<Span> {
    let mut spans: Vec<Span> = Vec::new();
    for &(start_ms, end_ms) in segments {
        match spans.last_mut() {
            Some(last) if start_ms - last.end_ms <= SPAN_JOIN_MS => last.end_ms = last.end_ms.max(end_ms),
            _ => spans.push(Span { start_ms, end_ms }),
        }
    }
    spans
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub(super) async fn camera_recordings(
    state: web::Data<AppState>,
    me: Identity,
    id: web::Path<String>,
    query: web::Query<SpanQuery>,
) -> ApiResult {
    let camera = visible_camera(&state, &me, &id)?;
    let (from_ms, to_ms) = query.span(chrono::Utc::now().timestamp_millis())?;
    let segments = state.recordings.segments(camera.id(), from_ms, to_ms).await?;
    let spans = spans(&segments.iter().map(|s| (s.start_ms, s.end_ms)).collect::<Vec<_>>());
    let segments: Vec<SegmentView> = segments
        .into_iter()
        .map(|s| SegmentView {
            start: rfc3339(s.start_ms),
            end: rfc3339(s.end_ms),
            start_ms: s.start_ms,
            end_ms: s.end_ms,
            bytes: s.bytes,
            codec: s.codec,
            width: s.width,
            height: s.height,
        })
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "camera": camera.id(),
        "mode": camera.config.record.mode.as_str(),
        "from": rfc3339(from_ms),
        "to": rfc3339(to_ms),
        "segments": segments,
        "spans": spans,
    })))
}

/// The span of an event's clip: pre-roll before it starts to post-roll after it ends (an event
/// still going ends now).
pub(super) fn clip_span(start_ms: i64, end_ms: Option<i64>, rules: &RecordConfig, now_ms: i64) -> (i64, i64) {
    let end = end_ms.unwrap_or(now_ms).max(start_ms);
    (start_ms - i64::from(rules.pre_roll_secs) * 1000, end + i64::from(rules.post_roll_secs) * 1000)
}

/// The recording rules of a camera (the defaults for one no longer configured).
pub(super) fn rules_of(state: &AppState, camera: &str) -> RecordConfig {
    state.cameras.get(camera).map(|c| c.config.record.clone()).unwrap_or_default()
}

pub(super) async fn event_clip(
    state: web::Data<AppState>,
    me: Identity,
    id: web::Path<i64>,
    req: HttpRequest,
) -> ApiResult {
    let event = visible_event(&state, &me, *id).await?;
    let rules = rules_of(&state, &event.camera_id);
    let (from_ms, to_ms) = clip_span(event.start_ms, event.end_ms, &rules, chrono::Utc::now().timestamp_millis());
    let clip = clips::assemble(&state.recordings, &state.config.ffmpeg.path, &event.camera_id, from_ms, to_ms)
        .await?
        .ok_or_else(|| Error::not_found(format!("nothing was recorded around event {id}")))?;
    serve_file(&req, &clip, "video/mp4", None).await
}

#[derive(Deserialize)]
pub(super) struct ExportQuery {
    from: String,
    to: String,
    /// `1`: sent as a download with a file name.
    download: Option<u8>,
}

pub(super) async fn export(
    state: web::Data<AppState>,
    me: Identity,
    id: web::Path<String>,
    query: web::Query<ExportQuery>,
    req: HttpRequest,
) -> ApiResult {
    let camera = visible_camera(&state, &me, &id)?;
    let (from_ms, to_ms) = crate::recording::parse_span(&query.from, &query.to, LONGEST_EXPORT_MS)?;
    let clip = clips::assemble(&state.recordings, &state.config.ffmpeg.path, camera.id(), from_ms, to_ms)
        .await?
        .ok_or_else(|| Error::not_found(format!("nothing was recorded on {} in that span", camera.id())))?;
    let name = chrono::DateTime::from_timestamp_millis(from_ms)
        .map(|t| format!("{}-{}.mp4", camera.id(), t.format("%Y%m%d-%H%M%S")))
        .unwrap_or_else(|| format!("{}.mp4", camera.id()));
    let download = (query.download == Some(1)).then_some(name.as_str());
    serve_file(&req, &clip, "video/mp4", download).await
}

#[derive(Serialize)]
struct CameraUsage {
    camera: String,
    segments: i64,
    bytes: i64,
    oldest: String,
    newest: String,
    /// At the rate of the footage kept so far.
    bytes_per_day: i64,
}

pub(super) async fn storage(state: web::Data<AppState>, me: Identity) -> ApiResult {
    let usage = state.recordings.db().recording_usage().await?;
    let visible: Vec<String> = visible_cameras(&state, &me).iter().map(|c| c.id().to_string()).collect();
    let sees_all = me.allowed_cameras().is_none();
    let cameras: Vec<CameraUsage> = usage
        .into_iter()
        .filter(|u| sees_all || visible.contains(&u.camera_id))
        .map(|u| {
            let days = ((u.newest_ms - u.oldest_ms) as f64 / 86_400_000.0).max(1.0 / 24.0);
            CameraUsage {
                bytes_per_day: (u.bytes as f64 / days) as i64,
                camera: u.camera_id,
                segments: u.segments,
                bytes: u.bytes,
                oldest: rfc3339(u.oldest_ms),
                newest: rfc3339(u.newest_ms),
            }
        })
        .collect();
    let limits = state.recordings.limits();
    let figures = &state.recordings.figures;
    let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "directory": sees_all.then(|| state.recordings.dir().display().to_string()),
        "total_bytes": cameras.iter().map(|c| c.bytes).sum::<i64>(),
        "free_bytes": state.recordings.free_bytes(),
        "max_bytes": (limits.max_bytes > 0).then_some(limits.max_bytes),
        "min_free_bytes": limits.min_free_bytes,
        "write_error": state.recordings.last_write_error(),
        "deleted": {
            "without_event": load(&figures.deleted_without_event),
            "by_age": load(&figures.deleted_by_age),
            "for_space": load(&figures.deleted_for_space),
        },
        "cameras": cameras,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_join_into_spans_and_clips_reach_around_their_event() {
        let joined = spans(&[(0, 10_000), (10_000, 20_000), (21_000, 30_000), (60_000, 70_000)]);
        assert_eq!(joined, [Span { start_ms: 0, end_ms: 30_000 }, Span { start_ms: 60_000, end_ms: 70_000 }]);
        let rules = RecordConfig { pre_roll_secs: 5, post_roll_secs: 3, ..RecordConfig::default() };
        assert_eq!(clip_span(100_000, Some(120_000), &rules, 999_999), (95_000, 123_000));
        assert_eq!(clip_span(100_000, None, &rules, 130_000), (95_000, 133_000), "an open event ends now");
    }
}
