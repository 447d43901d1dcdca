//! The JSON API, snapshots and latest frames as JPEG, health, and Prometheus `/metrics`.

use super::access::{visible_camera, visible_cameras, visible_event};
use super::forms::EventsQuery;
use super::respond::ApiResult;
use super::view::{CameraView, EventView};
use crate::app::state::AppState;
use crate::auth::Identity;
use crate::bridges::{BridgeHealth, LinkState};
use crate::db::EventFilter;
use crate::error::Error;
use crate::model::{EventKind, EventStatus, Severity};
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

/// Where `day` begins and the next day begins on `zone`'s clock, in ms: 23 or 25 hours apart on
/// the days daylight saving time starts or ends. Where midnight does not exist (a zone that
/// springs forward at 00:00), the day begins at its first minute that does.
fn day_bounds_ms<Tz: chrono::TimeZone>(day: chrono::NaiveDate, zone: &Tz) -> Option<(i64, i64)> {
    let start_of = |day: chrono::NaiveDate| {
        let midnight = day.and_hms_opt(0, 0, 0)?;
        (0..=24 * 60)
            .step_by(15)
            .find_map(|minutes| {
                (midnight + chrono::Duration::minutes(minutes)).and_local_timezone(zone.clone()).earliest()
            })
            .map(|t| t.timestamp_millis())
    };
    Some((start_of(day)?, start_of(day.succ_opt()?)?))
}

impl EventsQuery {
    pub fn to_filter(&self, default_limit: u64) -> Result<EventFilter, Error> {
        let non_empty = |v: &Option<String>| v.as_ref().map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        let (since_ms, until_ms) = match non_empty(&self.date) {
            Some(date) => {
                let day = chrono::NaiveDate::parse_from_str(&date, "%Y-%m-%d")
                    .map_err(|_| Error::invalid(format!("date {date:?} is not a day; use YYYY-MM-DD")))?;
                let (start_ms, end_ms) = day_bounds_ms(day, &chrono::Local)
                    .ok_or_else(|| Error::invalid(format!("date {date:?} is out of range")))?;
                (Some(start_ms), Some(end_ms))
            }
            None => (None, None),
        };
        let limit = self.limit.unwrap_or(default_limit);
        if !(1..=500).contains(&limit) {
            return Err(Error::invalid(format!("limit {limit} is out of range; use 1–500")));
        }
        let severity = non_empty(&self.severity)
            .map(|s| {
                Severity::parse(&s)
                    .ok_or_else(|| Error::invalid(format!("severity {s:?} is not one of low, medium, high")))
            })
            .transpose()?;
        let status = non_empty(&self.status)
            .map(|s| {
                EventStatus::parse(&s)
                    .ok_or_else(|| Error::invalid(format!("status {s:?} is not one of new, viewed, resolved")))
            })
            .transpose()?;
        let kind = non_empty(&self.kind)
            .map(|k| {
                EventKind::parse(&k)
                    .ok_or_else(|| Error::invalid(format!("kind {k:?} is not one of motion, object, sensor")))
            })
            .transpose()?;
        let alerts_only = match non_empty(&self.alerts).as_deref() {
            None | Some("0" | "false" | "off") => false,
            Some("1" | "true" | "on") => true,
            Some(other) => return Err(Error::invalid(format!("alerts {other:?} is not a yes or no; use 1 or 0"))),
        };
        Ok(EventFilter {
            tag: non_empty(&self.tag).map(|t| t.to_lowercase()),
            severity,
            status,
            alerts_only,
            camera: non_empty(&self.camera),
            allowed_cameras: None,
            kind,
            label: non_empty(&self.label),
            zone: non_empty(&self.zone),
            since_ms,
            until_ms,
            before: self.before,
            limit,
            query: non_empty(&self.q),
        })
    }
}

pub(super) async fn list_events(state: web::Data<AppState>, me: Identity, query: web::Query<EventsQuery>) -> ApiResult {
    let mut filter = query.to_filter(50)?;
    filter.allowed_cameras = me.allowed_cameras();
    let events = state.db.list_events(&filter).await?;
    // Search results come by rank, not by id: they have no next page by id.
    let paged = filter.query.is_none() && events.len() as u64 == filter.limit;
    let next_before = paged.then(|| events.last().map(|e| e.id)).flatten();
    let events: Vec<EventView> = events.iter().map(EventView::of).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "events": events, "next_before": next_before })))
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
) -> ApiResult {
    let event = visible_event(&state, &me, *id).await?;
    let clean = event.snapshot.ok_or_else(|| Error::not_found(format!("event {id} has no snapshot")))?;
    let annotated = crate::media::MediaStore::annotated_path(&clean);
    let relative = match query.boxes {
        Some(1) if state.media.resolve(&annotated).is_some_and(|p| p.is_file()) => annotated,
        _ => clean,
    };
    let path = state.media.resolve(&relative).ok_or_else(|| Error::internal("stored snapshot path is invalid"))?;
    let bytes = tokio::fs::read(&path).await.map_err(|err| {
        Error::not_found(format!("the snapshot of event {id} is missing from the media directory")).with_source(err)
    })?;
    Ok(HttpResponse::Ok().content_type("image/jpeg").insert_header(("Cache-Control", "private, no-store")).body(bytes))
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

/// The counters that are not per camera: the detector, the descriptions and the bridges.
async fn global_metrics(state: &AppState, out: &mut String) {
    if let Some(figures) = state.cameras.detector_figures() {
        for (name, help, value) in [
            ("watchpost_detector_inferences_total", "Model runs.", figures.runs as f64),
            ("watchpost_detector_detections_total", "Objects found by the model.", figures.detections as f64),
            (
                "watchpost_detector_dropped_total",
                "Requests dropped because the detector fell behind.",
                figures.dropped as f64,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_is_the_local_day_even_when_the_clocks_change() {
        let hours = |date: &str, zone: chrono_tz::Tz| {
            let day = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap();
            let (start, end) = day_bounds_ms(day, &zone).unwrap();
            let start_local = chrono::DateTime::from_timestamp_millis(start).unwrap().with_timezone(&zone);
            ((end - start) / 3_600_000, start_local.format("%H:%M").to_string())
        };
        assert_eq!(hours("2026-03-29", chrono_tz::Europe::Berlin), (23, "00:00".into()), "spring forward");
        assert_eq!(hours("2026-10-25", chrono_tz::Europe::Berlin), (25, "00:00".into()), "fall back");
        assert_eq!(hours("2026-06-01", chrono_tz::Europe::Berlin), (24, "00:00".into()));
        // Chile springs forward at midnight: 2026-09-06 begins at 01:00.
        assert_eq!(hours("2026-09-06", chrono_tz::America::Santiago), (23, "01:00".into()), "no midnight");
    }
}
