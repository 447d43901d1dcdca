//! The JSON API, snapshots and latest frames as JPEG, health, and Prometheus `/metrics`.

use super::access::{visible_camera, visible_cameras, visible_event};
use super::forms::EventsQuery;
use super::respond::ApiResult;
use super::view::{CameraView, EventView};
use crate::app::state::AppState;
use crate::auth::Identity;
use crate::bridges::{BridgeHealth, LinkState};
use crate::error::Error;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use serde::Deserialize;
use std::fmt::Write;
use std::sync::atomic::Ordering;

pub(super) async fn health(state: web::Data<AppState>) -> HttpResponse {
    match state.db.ping().await {
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({ "status": "ok", "database": state.db.backend_name() })),
        Err(err) => {
            tracing::warn!(error = %err, "health check: database not answering");
            HttpResponse::ServiceUnavailable()
                .json(serde_json::json!({ "status": "unavailable", "error": "database not answering" }))
        }
    }
}

pub(super) async fn list_cameras(state: web::Data<AppState>, me: Identity) -> HttpResponse {
    let cameras: Vec<CameraView> = visible_cameras(&state, &me).iter().map(|c| CameraView::of(c)).collect();
    HttpResponse::Ok().json(cameras)
}

pub(super) async fn get_camera(state: web::Data<AppState>, me: Identity, id: web::Path<String>) -> ApiResult {
    let camera = visible_camera(&state, &me, &id)?;
    Ok(HttpResponse::Ok().json(CameraView::of(&camera)))
}

pub(super) async fn latest_jpeg(state: web::Data<AppState>, me: Identity, id: web::Path<String>) -> ApiResult {
    let camera = visible_camera(&state, &me, &id)?;
    let jpeg =
        camera.latest_jpeg().await?.ok_or_else(|| Error::unavailable("this camera has not sent a picture yet"))?;
    Ok(HttpResponse::Ok()
        .content_type("image/jpeg")
        .insert_header(("Cache-Control", "private, no-store"))
        .body(jpeg.as_ref().clone()))
}

pub(super) async fn list_events(state: web::Data<AppState>, me: Identity, query: web::Query<EventsQuery>) -> ApiResult {
    let mut filter = query.to_filter(50)?;
    filter.allowed_cameras = me.allowed_cameras();
    let events = state.db.list_events(&filter).await?;
    // Search results come by rank, not by id: they have no next page by id.
    let paged = filter.query.is_none() && events.len() as u64 == filter.limit;
    let next_before = paged.then(|| events.last().map(|e| e.id)).flatten();
    let events: Vec<EventView> = events.iter().map(EventView::of).collect();
    Ok(HttpResponse::Ok().json(EventsAnswer { events, next_before }))
}

/// `/api/events`'s answer, written straight from the views (not through a `serde_json::Value`:
/// a map of every event's fields built and dropped on each request).
#[derive(serde::Serialize)]
struct EventsAnswer {
    events: Vec<EventView>,
    next_before: Option<i64>,
}

pub(super) async fn get_event(state: web::Data<AppState>, me: Identity, id: web::Path<i64>) -> ApiResult {
    let event = visible_event(&state, &me, *id).await?;
    Ok(HttpResponse::Ok().json(EventView::with_alert(&event, &state.db).await?))
}

#[derive(Deserialize)]
pub(super) struct SnapshotQuery {
    /// `1`: the copy with boxes and labels drawn in (object events); the clean one otherwise.
    boxes: Option<u8>,
}

pub(super) async fn event_snapshot(
    state: web::Data<AppState>,
    me: Identity,
    id: web::Path<i64>,
    query: web::Query<SnapshotQuery>,
    req: HttpRequest,
) -> ApiResult {
    let event = visible_event(&state, &me, *id).await?;
    serve_snapshot(&state, &req, &event, query.boxes == Some(1)).await
}

/// `event`'s snapshot: with `boxes`, the copy with boxes and labels drawn in where it exists.
pub(super) async fn serve_snapshot(
    state: &AppState,
    req: &HttpRequest,
    event: &crate::db::entities::event::Model,
    boxes: bool,
) -> ApiResult {
    let id = event.id;
    let clean = event.snapshot.clone().ok_or_else(|| Error::not_found(format!("event {id} has no snapshot")))?;
    let annotated = crate::media::MediaStore::annotated_path(&clean);
    let relative =
        if boxes && state.media.resolve(&annotated).is_some_and(|p| p.is_file()) { annotated } else { clean };
    let path = state.media.resolve(&relative).ok_or_else(|| Error::internal("stored snapshot path is invalid"))?;
    if !path.is_file() {
        return Err(Error::not_found(format!("the snapshot of event {id} is missing from the media directory")).into());
    }
    super::ranges::serve_file(req, &path, "image/jpeg", None).await
}

/// Every camera for a signed-in admin or an open `/metrics`; a viewer's own cameras otherwise.
/// The detector, description and bridge counters add up every camera's activity, so a viewer
/// limited to some cameras does not get them.
pub(super) async fn metrics(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let me = req.extensions().get::<Identity>().cloned();
    let sees_every_camera = me.as_ref().is_none_or(|me| me.allowed_cameras().is_none());
    let cameras: Vec<CameraView> = state
        .cameras
        .list()
        .iter()
        .filter(|c| me.as_ref().is_none_or(|me| me.can_see(c.id())))
        .map(|c| CameraView::of(c))
        .collect();
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, value: &dyn Fn(&CameraView) -> String| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for camera in &cameras {
            let _ = writeln!(out, "{name}{{camera=\"{}\"}} {}", camera.id, value(camera));
        }
    };
    family("watchpost_camera_fps", "gauge", "Frames per second received, measured over 5 s.", &|c| {
        format!("{:.2}", c.fps)
    });
    family("watchpost_camera_online", "gauge", "1 while the camera delivers frames.", &|c| {
        u8::from(c.state == "online").to_string()
    });
    family("watchpost_camera_frames_total", "counter", "Frames decoded by ffmpeg.", &|c| c.frames.to_string());
    family(
        "watchpost_camera_frames_dropped_total",
        "counter",
        "Frames dropped because processing fell behind.",
        &|c| c.frames_dropped.to_string(),
    );
    family("watchpost_camera_restarts_total", "counter", "ffmpeg restarts after a failure or stall.", &|c| {
        c.restarts.to_string()
    });
    family("watchpost_camera_motion_events_total", "counter", "Motion events started since start-up.", &|c| {
        c.motion_events.to_string()
    });
    family("watchpost_camera_object_events_total", "counter", "Object events started since start-up.", &|c| {
        c.object_events.to_string()
    });
    family(
        "watchpost_camera_record_fragments_total",
        "counter",
        "Frames of copied video received for recording.",
        &|c| c.record_fragments.to_string(),
    );
    family(
        "watchpost_camera_record_dropped_total",
        "counter",
        "Frames of copied video not recorded because the disk could not keep up.",
        &|c| c.record_dropped.to_string(),
    );
    if sees_every_camera {
        global_metrics(&state, &mut out).await;
    }
    let _ = writeln!(
        out,
        "# HELP watchpost_uptime_seconds Seconds since start-up.\n# TYPE watchpost_uptime_seconds gauge\nwatchpost_uptime_seconds {}",
        state.started.elapsed().as_secs()
    );
    HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(out)
}

/// The counters that are not per camera: the detector, the descriptions, the bridges and the
/// recordings' disk.
async fn global_metrics(state: &AppState, out: &mut String) {
    recording_metrics(state, out).await;
    if let Some(figures) = state.cameras.detector_figures() {
        for (name, help, value) in [
            ("watchpost_detector_inferences_total", "Model runs.", figures.runs as f64),
            (
                "watchpost_detector_detections_total",
                "Objects found by the model (weak ones, score 0.25 and up, included).",
                figures.detections as f64,
            ),
            (
                "watchpost_detector_dropped_total",
                "Requests dropped because the detector fell behind.",
                figures.dropped as f64,
            ),
            (
                "watchpost_detector_postponed_total",
                "Routine whole-frame rechecks put off to a later frame because the detector was busy.",
                figures.postponed as f64,
            ),
            ("watchpost_detector_failures_total", "Model runs that failed.", figures.failures as f64),
            ("watchpost_detector_busy_seconds_total", "Time spent running the model.", figures.busy_secs),
        ] {
            let kind = "counter";
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
        }
    }
    let _ = writeln!(
        out,
        "# HELP watchpost_detector_up 1 while the object detector runs.\n# TYPE watchpost_detector_up gauge\nwatchpost_detector_up {}",
        u8::from(state.cameras.detecting())
    );
    let describe = &state.describer.stats;
    let _ = writeln!(
        out,
        "# HELP watchpost_describe_events_total Object events sent to the vision-language model, by outcome.\n# TYPE watchpost_describe_events_total counter"
    );
    for (result, counter) in
        [("described", &describe.described), ("failed", &describe.failed), ("skipped_budget", &describe.skipped_budget)]
    {
        let _ =
            writeln!(out, "watchpost_describe_events_total{{result=\"{result}\"}} {}", counter.load(Ordering::Relaxed));
    }
    let bridges = state.bridges.health().await;
    type Reading = fn(&BridgeHealth) -> u64;
    let readings: [(&str, &str, &str, Reading); 5] = [
        ("watchpost_bridge_up", "gauge", "1 while the bridge is connected.", |h| {
            u64::from(h.state == LinkState::Connected)
        }),
        ("watchpost_bridge_connects_total", "counter", "Successful connections.", |h| h.connects),
        ("watchpost_bridge_delivered_total", "counter", "Messages the far side acknowledged.", |h| h.delivered),
        ("watchpost_outbox_pending", "gauge", "Messages waiting in the outbox.", |h| h.pending),
        (
            "watchpost_outbox_dropped_total",
            "counter",
            "Undelivered messages dropped (too many waiting, or too old).",
            |h| h.dropped,
        ),
    ];
    for (name, kind, help, value) in readings {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for health in &bridges {
            let _ = writeln!(out, "{name}{{bridge=\"{}\"}} {}", health.name, value(health));
        }
    }
}

/// What recordings take, the space left, and what the sweep deleted, by reason.
async fn recording_metrics(state: &AppState, out: &mut String) {
    let recordings = &state.recordings;
    let _ = writeln!(
        out,
        "# HELP watchpost_recordings_bytes Bytes of recorded video kept, by camera.\n# TYPE watchpost_recordings_bytes gauge"
    );
    match recordings.db().recording_usage().await {
        Ok(usage) => {
            for camera in usage {
                let _ = writeln!(out, "watchpost_recordings_bytes{{camera=\"{}\"}} {}", camera.camera_id, camera.bytes);
            }
        }
        Err(err) => tracing::warn!(error = %err, "metrics: cannot read the recordings' usage"),
    }
    if let Some(free) = recordings.free_bytes() {
        let _ = writeln!(
            out,
            "# HELP watchpost_recordings_free_bytes Space left on the recordings' disk.\n# TYPE watchpost_recordings_free_bytes gauge\nwatchpost_recordings_free_bytes {free}"
        );
    }
    let figures = &recordings.figures;
    let load = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
    let _ = writeln!(
        out,
        "# HELP watchpost_recordings_segments_written_total Recording files written and indexed.\n# TYPE watchpost_recordings_segments_written_total counter\nwatchpost_recordings_segments_written_total {}",
        load(&figures.segments_written)
    );
    let _ = writeln!(
        out,
        "# HELP watchpost_recordings_write_errors_total Times a recording could not be written (a full or missing disk).\n# TYPE watchpost_recordings_write_errors_total counter\nwatchpost_recordings_write_errors_total {}",
        load(&figures.write_errors)
    );
    let _ = writeln!(
        out,
        "# HELP watchpost_recordings_deleted_total Recording files deleted by the retention sweep, by reason.\n# TYPE watchpost_recordings_deleted_total counter"
    );
    for (reason, counter) in [
        ("age", &figures.deleted_by_age),
        ("space", &figures.deleted_for_space),
        ("no_event", &figures.deleted_without_event),
    ] {
        let _ = writeln!(out, "watchpost_recordings_deleted_total{{reason=\"{reason}\"}} {}", load(counter));
    }
}
