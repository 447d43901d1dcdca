//! Server-rendered pages: dashboard, camera pages and forms, events list and event detail.

use super::access::{audit, visible_camera, visible_cameras, visible_event};
use super::forms::{CameraForm, EventsQuery, FieldErrors};
use super::respond::{PageResult, html, ok, redirect, same_site_path};
use super::view::{CameraView, DrawnZone, EventView, Me};
use crate::app::state::AppState;
use crate::auth::Identity;
use crate::db::EventFilter;
use crate::error::{Error, ErrorKind};
use crate::model::{DescribedBy, EventStatus};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    nav: &'static str,
    me: Me,
    cameras: Vec<CameraView>,
    recent: Vec<EventView>,
    /// Away (alerts go out) or home.
    armed: bool,
    /// Where alerts go: the channels set up, by the names people know ("Home Assistant and
    /// Telegram"); empty when none is.
    alert_channels: String,
    /// Whether the object detector runs: then people, vehicles and animals make events, and
    /// motion alone does not.
    objects_detected: bool,
    /// An unfinished setup guide (administrators): its step's name, number and title.
    guide: Option<(String, usize, &'static str)>,
}

pub(super) async fn dashboard(state: web::Data<AppState>, me: Identity) -> PageResult {
    let cameras = visible_cameras(&state, &me).iter().map(|c| CameraView::of(c)).collect();
    let filter = EventFilter { limit: 6, allowed_cameras: me.allowed_cameras(), ..Default::default() };
    let recent = state.db.list_events(&filter).await?;
    ok(DashboardPage {
        nav: "dashboard",
        me: Me::of(&me),
        cameras,
        recent: recent.iter().map(EventView::of).collect(),
        armed: state.cameras.controls().armed(),
        alert_channels: super::view::channels_in_words(&super::view::channels_in_use(&state).await),
        objects_detected: state.detector.error.is_none(),
        guide: if me.is_admin() {
            super::guide::GuideDraft::load(&state)
                .await?
                .filter(|draft| !draft.finished)
                .map(|draft| (draft.step.clone(), draft.number(), draft.title()))
        } else {
            None
        },
    }
    .render())
}

#[derive(Template)]
#[template(path = "live.html")]
struct LiveGridPage {
    nav: &'static str,
    me: Me,
    cameras: Vec<CameraView>,
}

/// Every camera the user may see, live, each from its sub (detect) stream.
pub(super) async fn live_grid(state: web::Data<AppState>, me: Identity) -> PageResult {
    let cameras = visible_cameras(&state, &me).iter().filter(|c| c.config.enabled).map(|c| CameraView::of(c)).collect();
    ok(LiveGridPage { nav: "live", me: Me::of(&me), cameras }.render())
}

#[derive(Template)]
#[template(path = "camera.html")]
struct CameraPage {
    nav: &'static str,
    me: Me,
    camera: CameraView,
    settings: Vec<(&'static str, String)>,
    events: Vec<EventView>,
}

pub(super) async fn camera_page(state: web::Data<AppState>, me: Identity, id: web::Path<String>) -> PageResult {
    let runtime = visible_camera(&state, &me, &id)?;
    let filter = EventFilter { camera: Some(id.to_string()), limit: 10, ..Default::default() };
    let events = state.db.list_events(&filter).await?;
    let c = &runtime.config;
    let m = &c.motion;
    let settings = vec![
        ("Source", crate::secret::split_credentials(&c.url).0),
        (
            "Credentials",
            if crate::secret::split_credentials(&c.url).1.is_some() { "saved, encrypted" } else { "none" }.into(),
        ),
        ("Detect size", format!("{} × {} at {} fps", c.detect.width, c.detect.height, c.detect.fps)),
        ("Hardware decoding", c.hwaccel.unwrap_or(state.config.ffmpeg.hwaccel).name().to_string()),
        ("Motion threshold", m.threshold.to_string()),
        ("Smallest motion", format!("{} px", m.contour_area)),
        ("Event starts after", format!("{} frames with motion", m.start_frames)),
        ("Event ends after", format!("{} s without motion", m.quiet_secs)),
        ("Motion masks", format!("{} polygon(s)", m.mask.len())),
        ("Recording", recording_summary(&c.record)),
    ];
    ok(CameraPage {
        nav: "dashboard",
        me: Me::of(&me),
        camera: CameraView::of(&runtime),
        settings,
        events: events.iter().map(EventView::of).collect(),
    }
    .render())
}

/// A camera's recording settings in words.
fn recording_summary(record: &crate::recording::settings::RecordConfig) -> String {
    use crate::recording::settings::RecordMode;
    let stream =
        if record.url.as_deref().is_some_and(|u| !u.trim().is_empty()) { "its record stream" } else { "its stream" };
    match record.mode {
        RecordMode::Off => "off".into(),
        RecordMode::Events => format!(
            "events, from {stream}: {} s before to {} s after each, kept {} days",
            record.pre_roll_secs, record.post_roll_secs, record.event_days
        ),
        RecordMode::Continuous => format!(
            "continuous, from {stream}: kept {} days, {} days with events",
            record.continuous_days, record.event_days
        ),
    }
}

#[derive(Template)]
#[template(path = "timeline.html")]
struct TimelinePage {
    nav: &'static str,
    me: Me,
    camera: CameraView,
    day: String,
    previous_day: String,
    next_day: String,
    /// The day's first millisecond (local time) and its length (23–25 hours).
    day_start_ms: i64,
    day_ms: i64,
    spans: Vec<super::recordings::Span>,
    events: Vec<EventView>,
    /// The spans and events drawn on the day's bar (`0..1000` across the day).
    drawn_spans: Vec<(f64, f64)>,
    drawn_events: Vec<f64>,
    /// Where to start playing (an event's start), if asked.
    at_ms: Option<i64>,
    recording: String,
}

#[derive(Deserialize)]
pub(super) struct TimelineQuery {
    day: Option<String>,
    at: Option<i64>,
}

/// A camera's day: recorded spans and events on one bar, a player that plays from any point.
pub(super) async fn timeline_page(
    state: web::Data<AppState>,
    me: Identity,
    id: web::Path<String>,
    query: web::Query<TimelineQuery>,
) -> PageResult {
    let runtime = visible_camera(&state, &me, &id)?;
    let today = chrono::Local::now().date_naive();
    let day = match query.day.as_deref() {
        Some(text) => chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map_err(|_| Error::invalid(format!("day={text:?} is not a date; use YYYY-MM-DD")))?,
        None => today,
    };
    let next = day.succ_opt().unwrap_or(day);
    let (day_start_ms, day_end_ms) = crate::calendar::day_bounds_ms(day, &chrono::Local)
        .ok_or_else(|| Error::invalid(format!("day={day} is out of range")))?;
    let times = state.recordings.db().segment_times(runtime.id(), day_start_ms, day_end_ms).await?;
    let spans = super::recordings::spans(&times);
    let filter = EventFilter {
        camera: Some(runtime.id().to_string()),
        since_ms: Some(day_start_ms),
        until_ms: Some(day_end_ms),
        limit: 500,
        ..Default::default()
    };
    let mut events = state.db.list_events(&filter).await?;
    events.sort_by_key(|e| e.start_ms);
    // On a bar 1000 units across the day; a short span stays visible (0.8 units, about a minute).
    let day_ms = (day_end_ms - day_start_ms).max(1);
    let across = |ms: i64| ((ms - day_start_ms) as f64 * 1000.0 / day_ms as f64 * 100.0).round() / 100.0;
    let drawn_spans =
        spans.iter().map(|s| (across(s.start_ms), (across(s.end_ms) - across(s.start_ms)).max(0.8))).collect();
    let drawn_events = events.iter().map(|e| across(e.start_ms)).collect();
    ok(TimelinePage {
        nav: "dashboard",
        me: Me::of(&me),
        recording: recording_summary(&runtime.config.record),
        camera: CameraView::of(&runtime),
        day: day.format("%Y-%m-%d").to_string(),
        previous_day: day.pred_opt().unwrap_or(day).format("%Y-%m-%d").to_string(),
        next_day: next.format("%Y-%m-%d").to_string(),
        day_start_ms,
        day_ms,
        spans,
        drawn_spans,
        drawn_events,
        events: events.iter().map(EventView::of).collect(),
        at_ms: query.at,
    }
    .render())
}

#[derive(Template)]
#[template(path = "camera_form.html")]
struct CameraFormPage {
    nav: &'static str,
    me: Me,
    editing: bool,
    /// The camera has a saved user name and password (never shown).
    has_credentials: bool,
    form: CameraForm,
    errors: FieldErrors,
}

impl CameraFormPage {
    fn error(&self, field: &str) -> String {
        self.errors.get(field).cloned().unwrap_or_default()
    }
}

pub(super) async fn new_camera(me: Identity) -> PageResult {
    ok(CameraFormPage {
        nav: "new",
        me: Me::of(&me),
        editing: false,
        has_credentials: false,
        form: CameraForm::blank(),
        errors: FieldErrors::new(),
    }
    .render())
}

pub(super) async fn create_camera(
    state: web::Data<AppState>,
    me: Identity,
    req: HttpRequest,
    form: web::Form<CameraForm>,
) -> PageResult {
    let form = form.into_inner();
    let camera = match form.to_config(None) {
        Ok(camera) => camera,
        Err(errors) => return Ok(camera_form_again(&me, false, false, form, errors)),
    };
    let id = camera.id.clone();
    match state.camera_manager.create(camera).await {
        Ok(()) => {
            audit(&state, &me, &req, "camera.create", Some(&id), "").await;
            Ok(redirect(&format!("/cameras/{id}")))
        }
        Err(err) if err.kind == ErrorKind::Conflict => {
            Ok(camera_form_again(&me, false, false, form, FieldErrors::from([("id".to_string(), err.message)])))
        }
        Err(err) => Err(err.into()),
    }
}

/// The camera form again, with what was wrong.
fn camera_form_again(
    me: &Identity,
    editing: bool,
    has_credentials: bool,
    form: CameraForm,
    errors: FieldErrors,
) -> HttpResponse {
    let nav = if editing { "dashboard" } else { "new" };
    html(
        actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
        CameraFormPage { nav, me: Me::of(me), editing, has_credentials, form, errors }.render(),
    )
}

pub(super) async fn edit_camera(state: web::Data<AppState>, me: Identity, id: web::Path<String>) -> PageResult {
    let runtime = state.camera_manager.editable(&id)?;
    ok(CameraFormPage {
        nav: "dashboard",
        me: Me::of(&me),
        editing: true,
        has_credentials: crate::secret::split_credentials(&runtime.config.url).1.is_some(),
        form: CameraForm::from_config(&runtime.config),
        errors: FieldErrors::new(),
    }
    .render())
}

pub(super) async fn update_camera(
    state: web::Data<AppState>,
    me: Identity,
    req: HttpRequest,
    id: web::Path<String>,
    form: web::Form<CameraForm>,
) -> PageResult {
    let runtime = state.camera_manager.editable(&id)?;
    let mut form = form.into_inner();
    form.id = id.to_string();
    let has_credentials = crate::secret::split_credentials(&runtime.config.url).1.is_some();
    let camera = match form.to_config(Some(&runtime.config)) {
        Ok(camera) => camera,
        Err(errors) => return Ok(camera_form_again(&me, true, has_credentials, form, errors)),
    };
    state.camera_manager.update(&id, camera).await?;
    audit(&state, &me, &req, "camera.update", Some(&id), "").await;
    Ok(redirect(&format!("/cameras/{id}")))
}

#[derive(Template)]
#[template(path = "camera_delete.html")]
struct DeletePage {
    nav: &'static str,
    me: Me,
    camera: CameraView,
    event_count: u64,
}

pub(super) async fn confirm_delete(state: web::Data<AppState>, me: Identity, id: web::Path<String>) -> PageResult {
    let runtime = state.camera_manager.editable(&id)?;
    let event_count = state.db.count_events(Some(&id)).await?;
    ok(DeletePage { nav: "dashboard", me: Me::of(&me), camera: CameraView::of(&runtime), event_count }.render())
}

pub(super) async fn delete_camera(
    state: web::Data<AppState>,
    me: Identity,
    req: HttpRequest,
    id: web::Path<String>,
) -> PageResult {
    state.camera_manager.delete(&id).await?;
    audit(&state, &me, &req, "camera.delete", Some(&id), "events kept").await;
    tracing::info!(camera = %id, "camera deleted from the UI; its events are kept");
    Ok(redirect("/"))
}

#[derive(Template)]
#[template(path = "events.html")]
struct EventsPage {
    nav: &'static str,
    me: Me,
    events: Vec<EventView>,
    camera_ids: Vec<String>,
    /// Labels the visible cameras track, and their zones, for the filters.
    labels: Vec<String>,
    zones: Vec<String>,
    query: EventsQuery,
    next_link: Option<String>,
    filtered: bool,
}

impl EventsPage {
    fn selected_camera(&self, id: &str) -> bool {
        self.query.camera.as_deref() == Some(id)
    }

    fn selected_kind(&self, kind: &str) -> bool {
        self.query.kind.as_deref() == Some(kind)
    }

    fn selected_severity(&self, severity: &str) -> bool {
        self.query.severity.as_deref() == Some(severity)
    }

    fn selected_status(&self, status: &str) -> bool {
        self.query.status.as_deref() == Some(status)
    }

    fn tag_value(&self) -> String {
        self.query.tag.clone().unwrap_or_default()
    }

    fn alerts_only(&self) -> bool {
        matches!(self.query.alerts.as_deref(), Some("1" | "true" | "on"))
    }

    /// This page's address, search included, to come back to after resolving.
    fn here(&self) -> String {
        let link = self.link(None);
        match self.query.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
            Some(q) => {
                let words = url::form_urlencoded::Serializer::new(String::new()).append_pair("q", q).finish();
                format!("{link}{}{words}", if link.contains('?') { '&' } else { '?' })
            }
            None => link,
        }
    }

    fn selected_label(&self, label: &str) -> bool {
        self.query.label.as_deref() == Some(label)
    }

    fn selected_zone(&self, zone: &str) -> bool {
        self.query.zone.as_deref() == Some(zone)
    }

    fn date_value(&self) -> String {
        self.query.date.clone().unwrap_or_default()
    }

    fn search_value(&self) -> String {
        self.query.q.clone().unwrap_or_default()
    }
}

const EVENTS_PER_PAGE: u64 = 24;

pub(super) async fn events_page(
    state: web::Data<AppState>,
    me: Identity,
    query: web::Query<EventsQuery>,
) -> PageResult {
    let query = query.into_inner();
    let mut filter = query.to_filter(EVENTS_PER_PAGE)?;
    filter.allowed_cameras = me.allowed_cameras();
    let events = state.db.list_events(&filter).await?;
    // Search results come by rank: no next page by id.
    let paged = filter.query.is_none() && events.len() as u64 == filter.limit;
    let next_before = paged.then(|| events.last().map(|e| e.id)).flatten();
    let cameras = visible_cameras(&state, &me);
    let camera_ids = cameras.iter().map(|c| c.id().to_string()).collect();
    let mut labels: Vec<String> = cameras.iter().flat_map(|c| c.config.objects.track.clone()).collect();
    labels.sort();
    labels.dedup();
    let mut zones: Vec<String> = cameras.iter().flat_map(|c| c.config.zones.iter().map(|z| z.name.clone())).collect();
    zones.sort();
    zones.dedup();
    let filtered = filter.camera.is_some()
        || filter.kind.is_some()
        || filter.label.is_some()
        || filter.zone.is_some()
        || filter.since_ms.is_some()
        || filter.before.is_some()
        || filter.query.is_some()
        || filter.severity.is_some()
        || filter.status.is_some()
        || filter.alerts_only
        || filter.tag.is_some();
    let mut page = EventsPage {
        nav: "events",
        me: Me::of(&me),
        events: events.iter().map(EventView::of).collect(),
        camera_ids,
        labels,
        zones,
        query,
        next_link: None,
        filtered,
    };
    page.next_link = next_before.map(|before| page.link(Some(before)));
    ok(page.render())
}

impl EventsPage {
    /// This page's filters as query pairs; `search` adds the search words.
    fn filter_pairs(&self, search: bool) -> url::form_urlencoded::Serializer<'static, String> {
        let mut link = url::form_urlencoded::Serializer::new(String::new());
        for (key, value) in self.query.filter_fields() {
            if let Some(v) = value.as_ref().filter(|v| !v.is_empty() && (search || key != "q")) {
                link.append_pair(key, v);
            }
        }
        link
    }

    /// This page's filters (the search too) as a query string, `?…`, for "Export…" and "Delete…".
    fn filter_query(&self) -> String {
        let link = self.filter_pairs(true).finish();
        if link.is_empty() { String::new() } else { format!("?{link}") }
    }

    /// `/events` with this page's filters (not the search: results by rank have no pages), and
    /// `before` when given.
    fn link(&self, before: Option<i64>) -> String {
        let query = &self.query;
        let mut link = self.filter_pairs(false);
        if let Some(before) = before.or(query.before) {
            link.append_pair("before", &before.to_string());
        }
        let link = link.finish();
        if link.is_empty() { "/events".into() } else { format!("/events?{link}") }
    }
}

/// Marks the checked events resolved (`id` repeated), then back to `back` (an `/events` page).
pub(super) async fn resolve_events(state: web::Data<AppState>, me: Identity, body: web::Bytes) -> PageResult {
    let mut ids = Vec::new();
    let mut back = "/events".to_string();
    for (key, value) in url::form_urlencoded::parse(&body) {
        match key.as_ref() {
            "id" => ids.push(
                value.parse::<i64>().map_err(|_| Error::invalid(format!("id {value:?} is not an event number")))?,
            ),
            "back" => {
                if let Some(path) = same_site_path(&value).filter(|path| path.starts_with("/events")) {
                    back = path;
                }
            }
            _ => {}
        }
    }
    if ids.is_empty() {
        return Err(Error::invalid("No events were selected: tick the events to resolve first.").into());
    }
    if ids.len() > 500 {
        return Err(Error::invalid("At most 500 events can be resolved at once.").into());
    }
    let allowed = me.allowed_cameras();
    let resolved = state.db.set_events_status(&ids, EventStatus::Resolved, allowed.as_deref()).await?;
    tracing::info!(user = %me.name, resolved, "events resolved");
    Ok(redirect(&back))
}

#[derive(Template)]
#[template(path = "event.html")]
struct EventPage {
    nav: &'static str,
    me: Me,
    event: EventView,
    camera_name: String,
    /// The drawing's size: the camera's detect size, so boxes and labels keep their proportions.
    width: u32,
    height: u32,
    zones: Vec<DrawnZone>,
    /// What was recorded around the event.
    video: EventVideo,
}

/// Whether the event page can play a clip, and if not, why.
enum EventVideo {
    /// Recorded: the clip's address and its span for the timeline link.
    Clip { url: String, timeline_url: String },
    /// The camera records, but nothing was kept around this event (it was off, or it is gone).
    NotRecorded,
    /// The camera does not record video.
    Off,
}

impl EventPage {
    fn boxes(&self) -> Vec<super::view::DrawnBox> {
        self.event.drawn_boxes(self.width, self.height)
    }
}

pub(super) async fn event_page(state: web::Data<AppState>, me: Identity, id: web::Path<i64>) -> PageResult {
    let mut event = visible_event(&state, &me, *id).await?;
    if event.status == EventStatus::New {
        state.db.set_event_status(event.id, EventStatus::Viewed).await?;
        event.status = EventStatus::Viewed;
    }
    let camera = state.cameras.get(&event.camera_id);
    let camera_name =
        camera.as_ref().map(|c| c.config.display_name().to_string()).unwrap_or_else(|| event.camera_id.clone());
    let (width, height) =
        camera.as_ref().map(|c| (c.config.detect.width, c.config.detect.height)).unwrap_or((1600, 900));
    let view = EventView::with_alert(&event, &state.db).await?;
    // Outline the zones this event entered, as the camera defines them now.
    let zones = camera
        .map(|c| {
            c.config
                .zones
                .iter()
                .filter(|z| view.zones.contains(&z.name))
                .map(|z| DrawnZone::of(z, width, height))
                .collect()
        })
        .unwrap_or_default();
    let rules = super::recordings::rules_of(&state, &event.camera_id);
    let now_ms = chrono::Utc::now().timestamp_millis();
    let (from_ms, to_ms) = crate::recording::clips::clip_span(event.start_ms, event.end_ms, &rules, now_ms);
    let recorded = !state.recordings.segments(&event.camera_id, from_ms, to_ms).await?.is_empty();
    let video = if recorded {
        let day = chrono::DateTime::from_timestamp_millis(event.start_ms).unwrap_or_default().format("%Y-%m-%d");
        EventVideo::Clip {
            url: format!("/api/events/{}/clip.mp4", event.id),
            timeline_url: format!("/cameras/{}/timeline?day={day}&at={}", event.camera_id, event.start_ms),
        }
    } else if rules.enabled() {
        EventVideo::NotRecorded
    } else {
        EventVideo::Off
    };
    ok(EventPage { nav: "events", me: Me::of(&me), event: view, camera_name, width, height, zones, video }.render())
}

#[derive(Deserialize)]
pub(super) struct StatusForm {
    status: String,
}

pub(super) async fn set_event_status(
    state: web::Data<AppState>,
    me: Identity,
    id: web::Path<i64>,
    form: web::Form<StatusForm>,
) -> PageResult {
    visible_event(&state, &me, *id).await?;
    let status = EventStatus::parse(&form.status)
        .ok_or_else(|| Error::invalid(format!("status {:?} is not one of new, viewed, resolved", form.status)))?;
    if !state.db.set_event_status(*id, status).await? {
        return Err(Error::not_found(format!("There is no event {id}.")).into());
    }
    Ok(redirect(&format!("/events/{id}")))
}

#[derive(Deserialize)]
pub(super) struct TagsForm {
    tags: String,
}

/// The tags people give an event ("false alarm", "delivery"): words separated by commas.
pub fn parse_tags(text: &str) -> Result<Vec<String>, Error> {
    let mut tags: Vec<String> = Vec::new();
    for tag in text.split(',').map(|t| t.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()) {
        if tag.is_empty() || tags.contains(&tag) {
            continue;
        }
        if tag.chars().count() > 32 || !tag.chars().all(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_')) {
            return Err(Error::invalid(format!(
                "{tag:?} cannot be a tag: use up to 32 letters, digits, spaces, - or _"
            )));
        }
        tags.push(tag);
    }
    if tags.len() > 10 {
        return Err(Error::invalid("At most 10 tags per event."));
    }
    Ok(tags)
}

pub(super) async fn set_event_tags(
    state: web::Data<AppState>,
    me: Identity,
    id: web::Path<i64>,
    form: web::Form<TagsForm>,
) -> PageResult {
    visible_event(&state, &me, *id).await?;
    let tags = parse_tags(&form.tags)?;
    if !state.db.set_event_tags(*id, &tags).await? {
        return Err(Error::not_found(format!("There is no event {id}.")).into());
    }
    Ok(redirect(&format!("/events/{id}")))
}

#[derive(Template)]
#[template(path = "system.html")]
struct SystemPage {
    /// The backup to restore at the next start, in words.
    restore_pending: Option<String>,
    /// Whether this installation can be restored from the page (the default data layout).
    restore_possible: bool,
    nav: &'static str,
    me: Me,
    version: &'static str,
    uptime: String,
    database: &'static str,
    detector_on: bool,
    detector_summary: String,
    detector_error: String,
    detector_rows: Vec<(&'static str, String)>,
    describer: String,
    describe_rows: Vec<(&'static str, String)>,
    cameras: Vec<CameraView>,
}

/// What runs and how it is doing: the detector's load and each camera's counters.
pub(super) async fn system_page(state: web::Data<AppState>, me: Identity) -> PageResult {
    use std::sync::atomic::Ordering::Relaxed;
    let uptime = state.started.elapsed();
    let mut detector_rows = Vec::new();
    if let Some(figures) = state.cameras.detector_figures() {
        let per_run = figures.ms_per_run().map_or_else(|| "—".into(), |ms| format!("{ms:.1} ms"));
        let uptime_s = uptime.as_secs_f64().max(1.0);
        detector_rows = vec![
            ("Model runs", figures.runs.to_string()),
            ("Time per run (average)", per_run),
            ("Busy", format!("{:.1} % of the time", 100.0 * figures.busy_secs / uptime_s)),
            (
                "Objects found",
                format!("{} ({:.2} per second)", figures.detections, figures.detections as f64 / uptime_s),
            ),
            ("Requests dropped (detector behind)", figures.dropped.to_string()),
            ("Rechecks put off (detector busy)", figures.postponed.to_string()),
            ("Failed runs", figures.failures.to_string()),
        ];
    }
    let describe = &state.describer.stats;
    let budget = match state.describer.max_per_hour {
        0 => "no limit".to_string(),
        n => format!("{n} per hour"),
    };
    let describe_rows = match DescribedBy::from_stored(&state.describer.by) {
        DescribedBy::Rules => Vec::new(),
        DescribedBy::Model(_) => vec![
            ("Events sent", describe.requests.load(Relaxed).to_string()),
            ("Described", describe.described.load(Relaxed).to_string()),
            ("Failed after retries", describe.failed.load(Relaxed).to_string()),
            ("Skipped: budget spent", describe.skipped_budget.load(Relaxed).to_string()),
            ("Budget", budget),
            ("Last description took", format!("{} ms", describe.last_ms.load(Relaxed))),
        ],
    };
    let mut cameras: Vec<CameraView> = state.cameras.list().iter().map(|c| CameraView::of(c)).collect();
    cameras.sort_by(|a, b| a.id.cmp(&b.id));
    ok(SystemPage {
        nav: "settings",
        me: Me::of(&me),
        version: crate::VERSION,
        uptime: super::view::format_duration(uptime.as_millis() as i64),
        database: state.db.backend_name(),
        detector_on: state.cameras.detecting(),
        detector_summary: state.detector.summary.clone(),
        detector_error: state.detector.error.clone().unwrap_or_default(),
        detector_rows,
        describer: state.describer.by.clone(),
        describe_rows,
        cameras,
        restore_pending: crate::backup::pending(&state.data_dir)
            .map(|p| format!("{} (asked by {} at {})", p.file.display(), p.by, p.at)),
        restore_possible: state.config.storage.default_layout(),
    }
    .render())
}
