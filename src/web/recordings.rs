//! Recorded video over HTTP: a camera's recorded spans, an event's clip, the export of any span,
//! and the space recordings take. The same access rules as snapshots (a viewer limited to other
//! cameras gets 404), and every video supports Range so players can seek.

use super::access::{visible_camera, visible_cameras, visible_event};
use super::ranges::serve_file;
use super::respond::ApiResult;
use super::view::rfc3339;
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
    let (from_ms, to_ms) =
        clips::clip_span(event.start_ms, event.end_ms, &rules, chrono::Utc::now().timestamp_millis());
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

/// One camera's line on the Storage page.
pub(super) struct StorageRow {
    pub camera: String,
    pub files: i64,
    pub size: String,
    pub with_events: String,
    pub oldest: String,
    pub per_day: String,
}

#[derive(askama::Template)]
#[template(path = "storage.html")]
struct StoragePage {
    nav: &'static str,
    me: super::view::Me,
    directory: String,
    used: String,
    free: String,
    limit: String,
    rate: String,
    days_left: String,
    write_error: Option<String>,
    deleted: String,
    rows: Vec<StorageRow>,
}

/// Bytes in words: "1.4 GB", "820 MB".
pub(super) fn size_text(bytes: i64) -> String {
    let bytes = bytes.max(0) as f64;
    match bytes {
        b if b >= 1e9 => format!("{:.1} GB", b / 1e9),
        b if b >= 1e6 => format!("{:.0} MB", b / 1e6),
        b => format!("{:.0} kB", b / 1e3),
    }
}

/// How much recordings take and how long the disk lasts at the current rate.
pub(super) async fn storage_page(state: web::Data<AppState>, me: Identity) -> super::respond::PageResult {
    use askama::Template;
    let usage = state.recordings.db().recording_usage().await?;
    let with_events: std::collections::HashMap<String, i64> =
        state.recordings.db().event_footage_bytes().await?.into_iter().collect();
    let limits = state.recordings.limits();
    let free = state.recordings.free_bytes();
    let used: i64 = usage.iter().map(|u| u.bytes).sum();
    let mut per_day_total = 0.0;
    let rows = usage
        .iter()
        .map(|u| {
            let days = ((u.newest_ms - u.oldest_ms) as f64 / 86_400_000.0).max(1.0 / 24.0);
            let per_day = u.bytes as f64 / days;
            per_day_total += per_day;
            StorageRow {
                camera: u.camera_id.clone(),
                files: u.segments,
                size: size_text(u.bytes),
                with_events: size_text(with_events.get(&u.camera_id).copied().unwrap_or(0)),
                oldest: super::view::format_time(u.oldest_ms),
                per_day: size_text(per_day as i64),
            }
        })
        .collect();
    // What recordings may fill: the cap, or what the disk has beyond the space kept free.
    let room = free.map(|f| used as u64 + f.saturating_sub(limits.min_free_bytes));
    let usable = match (limits.max_bytes, room) {
        (0, room) => room,
        (cap, Some(room)) => Some(cap.min(room)),
        (cap, None) => Some(cap),
    };
    let days_left = match usable {
        Some(bytes) if per_day_total > 0.0 => format!("about {:.0} days", bytes as f64 / per_day_total),
        _ => "not known yet".into(),
    };
    let figures = &state.recordings.figures;
    let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    let page = StoragePage {
        nav: "settings",
        me: super::view::Me::of(&me),
        directory: state.recordings.dir().display().to_string(),
        used: size_text(used),
        free: free.map_or("unknown".into(), |f| size_text(f as i64)),
        limit: match limits.max_bytes {
            0 => format!("no cap; {} always left free", size_text(limits.min_free_bytes as i64)),
            cap => format!("{}; {} always left free", size_text(cap as i64), size_text(limits.min_free_bytes as i64)),
        },
        rate: size_text(per_day_total as i64),
        days_left,
        write_error: state.recordings.last_write_error(),
        deleted: format!(
            "{} by age, {} without an event, {} for space",
            load(&figures.deleted_by_age),
            load(&figures.deleted_without_event),
            load(&figures.deleted_for_space)
        ),
        rows,
    };
    super::respond::ok(page.render())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_join_into_spans_and_clips_reach_around_their_event() {
        let joined = spans(&[(0, 10_000), (10_000, 20_000), (21_000, 30_000), (60_000, 70_000)]);
        assert_eq!(joined, [Span { start_ms: 0, end_ms: 30_000 }, Span { start_ms: 60_000, end_ms: 70_000 }]);
        let rules = RecordConfig { pre_roll_secs: 5, post_roll_secs: 3, ..RecordConfig::default() };
        assert_eq!(clips::clip_span(100_000, Some(120_000), &rules, 999_999), (95_000, 123_000));
        assert_eq!(clips::clip_span(100_000, None, &rules, 130_000), (95_000, 133_000), "an open event ends now");
        assert_eq!(clips::clip_span(0, None, &rules, 86_400_000), (-5_000, 3_600_000), "an hour at most");
    }
}
