//! Export and backup downloads. `GET /settings/backup.zip` streams an administrator a backup of the
//! installation (see `crate::backup`; without the recordings), and `POST /settings/restore` stages
//! a backup on the server to be restored at the next start. `GET /api/export.zip` streams the events a filter or a time range selects (among the
//! cameras the user may see) as a ZIP (see `crate::export`), and the events page's "Export…"
//! says how many events and about how much it will download before it starts.

use super::access::audit;
use super::forms::EventsQuery;
use super::respond::{ApiError, PageResult, ok};
use super::view::Me;
use crate::app::state::AppState;
use crate::auth::Identity;
use crate::db::entities::event;
use crate::error::Error;
use crate::export::{ChunkSender, ExportSource, write_zip};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

/// The export's query: the events filters, and `clips=0` to leave the videos out.
#[derive(serde::Deserialize)]
pub(super) struct ExportQuery {
    #[serde(flatten)]
    filter: EventsQuery,
    clips: Option<u8>,
}

async fn selected(state: &AppState, me: &Identity, query: &EventsQuery) -> Result<Vec<event::Model>, Error> {
    let mut filter = query.to_filter(500)?;
    filter.allowed_cameras = me.allowed_cameras();
    state.db.events_matching(&filter).await
}

/// An event as `/api/events` shows it.
///
/// Read back from its JSON text rather than built with `serde_json::to_value`: that widens the
/// box's `f32` fractions to `f64` digits (0.1 became 0.10000000149011612) where the API writes 0.1.
pub fn event_json(event: &event::Model) -> serde_json::Value {
    serde_json::to_string(&super::view::EventView::of(event))
        .and_then(|text| serde_json::from_str(&text))
        .unwrap_or_default()
}

pub(super) async fn export_zip(
    state: web::Data<AppState>,
    me: Identity,
    req: HttpRequest,
    query: web::Query<ExportQuery>,
) -> Result<HttpResponse, ApiError> {
    let events = selected(&state, &me, &query.filter).await?;
    let cameras = state.cameras.clone();
    let source = ExportSource {
        media: state.media.clone(),
        recordings: (query.clips != Some(0)).then(|| state.recordings.clone()),
        ffmpeg: state.config.ffmpeg.path.clone(),
        rules_of: Box::new(move |camera| cameras.get(camera).map(|c| c.config.record.clone()).unwrap_or_default()),
        event_json,
        selection: super::deletion::describe(&query.filter, &[]),
        now_ms: chrono::Utc::now().timestamp_millis(),
    };
    let detail = format!("{} event(s): {}", events.len(), source.selection);
    audit(&state, &me, &req, "events.export", None, &detail).await;
    let runtime = tokio::runtime::Handle::current();
    let name = format!("watchpost-export-{}.zip", chrono::Local::now().format("%Y-%m-%d-%H%M"));
    Ok(stream_zip(&name, move |out| write_zip(out, &events, &source, &runtime, |_, _| {})))
}

#[derive(Template)]
#[template(path = "events_export.html")]
struct ExportPage {
    nav: &'static str,
    me: Me,
    count: usize,
    what: String,
    snapshots: String,
    clips: String,
    link: String,
}

/// The events page's "Export…": what the export holds, before it starts.
pub(super) async fn export_page(state: web::Data<AppState>, me: Identity, req: HttpRequest) -> PageResult {
    let query = web::Query::<EventsQuery>::from_query(req.query_string())
        .map_err(|e| Error::invalid(format!("bad query: {e}")))?
        .into_inner();
    let events = selected(&state, &me, &query).await?;
    let mut snapshot_bytes = 0u64;
    for snapshot in events.iter().filter_map(|e| e.snapshot.as_deref()) {
        for relative in [snapshot.to_string(), crate::media::MediaStore::annotated_path(snapshot)] {
            if let Some(path) = state.media.resolve(&relative)
                && let Ok(meta) = tokio::fs::metadata(&path).await
            {
                snapshot_bytes += meta.len();
            }
        }
    }
    let mut footage_bytes = 0i64;
    for event in &events {
        let rules = super::recordings::rules_of(&state, &event.camera_id);
        let (from, to) = crate::recording::clips::clip_span(
            event.start_ms,
            event.end_ms,
            &rules,
            chrono::Utc::now().timestamp_millis(),
        );
        footage_bytes +=
            state.recordings.segments(&event.camera_id, from, to).await?.iter().map(|s| s.bytes.max(0)).sum::<i64>();
    }
    let mb = |bytes: f64| format!("{:.1} MB", bytes / 1e6);
    let page = ExportPage {
        nav: "events",
        me: Me::of(&me),
        count: events.len(),
        what: super::deletion::describe(&query, &[]),
        snapshots: mb(snapshot_bytes as f64),
        clips: if footage_bytes > 0 { format!("up to {}", mb(footage_bytes as f64)) } else { "none recorded".into() },
        link: format!("/api/export.zip?{}", req.query_string()),
    };
    ok(page.render())
}

/// A `write` into a ZIP run on a blocking thread, streamed as the response body while it is
/// written; a failure ends the body with an error (the download shows as failed).
fn stream_zip(
    name: &str,
    write: impl FnOnce(std::io::BufWriter<ChunkSender>) -> Result<(), Error> + Send + 'static,
) -> HttpResponse {
    let (sender, mut receiver) = tokio::sync::mpsc::channel(4);
    tokio::task::spawn_blocking(move || {
        let out = std::io::BufWriter::with_capacity(256 * 1024, ChunkSender(sender.clone()));
        if let Err(err) = write(out) {
            tracing::warn!(error = %err, "a download stopped");
            let _ = sender.blocking_send(Err(std::io::Error::other(err.to_string())));
        }
    });
    let body = futures_util::stream::poll_fn(move |cx| receiver.poll_recv(cx));
    HttpResponse::Ok()
        .content_type("application/zip")
        .insert_header(("Content-Disposition", format!("attachment; filename=\"{name}\"")))
        .insert_header(("Cache-Control", "private, no-store"))
        .streaming(body)
}

/// `GET /settings/backup.zip`.
pub(super) async fn backup_zip(
    state: web::Data<AppState>,
    me: Identity,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let database = crate::backup::snapshot_database(&state.db, &state.data_dir).await?;
    let plan = crate::backup::BackupPlan {
        data_dir: state.data_dir.clone(),
        media_dir: state.config.storage.media_dir(&state.data_dir),
        recordings_dir: state.recordings.dir().to_path_buf(),
        config_file: state.config_file.clone(),
        recordings: false,
    };
    audit(&state, &me, &req, "backup.download", None, "database, keys, config, snapshots and reports").await;
    let name = format!("watchpost-backup-{}.zip", chrono::Local::now().format("%Y-%m-%d-%H%M"));
    Ok(stream_zip(&name, move |out| {
        let written =
            crate::backup::write_backup(out, &plan, database.as_deref(), chrono::Utc::now().timestamp_millis());
        if let Some(copy) = &database {
            let _ = std::fs::remove_file(copy);
        }
        written.map(|_| ())
    }))
}

/// `POST /settings/restore`: stages the backup at `path` (a file on the server) for the next
/// start; `cancel=1` drops a staged one.
pub(super) async fn stage_restore(
    state: web::Data<AppState>,
    me: Identity,
    req: HttpRequest,
    body: web::Bytes,
) -> PageResult {
    let fields = super::forms::form_fields(&body);
    if super::forms::field(&fields, "cancel") == "1" {
        crate::backup::cancel(&state.data_dir)?;
        audit(&state, &me, &req, "backup.restore_cancel", None, "").await;
        return Ok(super::respond::redirect("/settings/system"));
    }
    let path = std::path::PathBuf::from(super::forms::field(&fields, "path").trim());
    if path.as_os_str().is_empty() {
        return Err(Error::invalid("Give the backup file's path on this server.").into());
    }
    let at = chrono::Local::now().format("%Y-%m-%d %H:%M").to_string();
    let manifest = crate::backup::stage(&state.data_dir, state.config.storage.default_layout(), &path, &me.name, &at)?;
    let detail = format!("{} (made {})", path.display(), manifest["created"].as_str().unwrap_or("?"));
    audit(&state, &me, &req, "backup.restore_staged", None, &detail).await;
    Ok(super::respond::redirect("/settings/system"))
}
