//! Server-rendered pages: dashboard, camera pages and forms, events list and event detail.

use super::api::EventsQuery;
use super::forms::{CameraForm, FieldErrors};
use super::view::{CameraView, EventView};
use super::{AppState, status_for, user_message};
use crate::camera::CameraSource;
use crate::db::EventFilter;
use crate::error::Error;
use actix_web::http::header;
use actix_web::{HttpResponse, ResponseError, web};
use askama::Template;
use serde::Deserialize;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(dashboard))
        .route("/cameras/new", web::get().to(new_camera))
        .route("/cameras", web::post().to(create_camera))
        .route("/cameras/{id}", web::get().to(camera_page))
        .route("/cameras/{id}", web::post().to(update_camera))
        .route("/cameras/{id}/edit", web::get().to(edit_camera))
        .route("/cameras/{id}/delete", web::get().to(confirm_delete))
        .route("/cameras/{id}/delete", web::post().to(delete_camera))
        .route("/events", web::get().to(events_page))
        .route("/events/{id}", web::get().to(event_page))
        .route("/events/{id}/status", web::post().to(set_event_status));
}

/// An error shown as a page, with the kind's status.
#[derive(Debug)]
pub struct PageError(Error);

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl From<Error> for PageError {
    fn from(err: Error) -> Self {
        Self(err)
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    nav: &'static str,
    title: String,
    message: String,
}

impl ResponseError for PageError {
    fn status_code(&self) -> actix_web::http::StatusCode {
        status_for(self.0.kind)
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let page = ErrorPage {
            nav: "",
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            message: user_message(&self.0),
        };
        html(status, page.render())
    }
}

type PageResult = Result<HttpResponse, PageError>;

fn html(status: actix_web::http::StatusCode, rendered: Result<String, askama::Error>) -> HttpResponse {
    match rendered {
        Ok(body) => HttpResponse::build(status).content_type("text/html; charset=utf-8").body(body),
        Err(err) => {
            tracing::error!(error = %err, "template failed");
            HttpResponse::InternalServerError().content_type("text/plain").body("template error")
        }
    }
}

fn ok(rendered: Result<String, askama::Error>) -> PageResult {
    Ok(html(actix_web::http::StatusCode::OK, rendered))
}

fn redirect(to: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, to)).finish()
}

pub async fn not_found() -> HttpResponse {
    PageError(Error::not_found("There is no page at this address.")).error_response()
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    nav: &'static str,
    cameras: Vec<CameraView>,
    recent: Vec<EventView>,
}

async fn dashboard(state: web::Data<AppState>) -> PageResult {
    let cameras = state.cameras.list().iter().map(|c| CameraView::of(c)).collect();
    let recent = state.db.list_events(&EventFilter { limit: 6, ..Default::default() }).await?;
    ok(DashboardPage { nav: "dashboard", cameras, recent: recent.iter().map(EventView::of).collect() }.render())
}

#[derive(Template)]
#[template(path = "camera.html")]
struct CameraPage {
    nav: &'static str,
    camera: CameraView,
    settings: Vec<(&'static str, String)>,
    events: Vec<EventView>,
}

async fn camera_page(state: web::Data<AppState>, id: web::Path<String>) -> PageResult {
    let runtime =
        state.cameras.get(&id).ok_or_else(|| Error::not_found(format!("There is no camera {:?}.", id.as_str())))?;
    let filter = EventFilter { camera: Some(id.to_string()), limit: 10, ..Default::default() };
    let events = state.db.list_events(&filter).await?;
    let c = &runtime.config;
    let m = &c.motion;
    let settings = vec![
        ("Source", crate::config::redact_url(&c.url)),
        ("Detect size", format!("{} × {} at {} fps", c.detect.width, c.detect.height, c.detect.fps)),
        ("Hardware decoding", c.hwaccel.unwrap_or(state.config.ffmpeg.hwaccel).name().to_string()),
        ("Motion threshold", m.threshold.to_string()),
        ("Smallest motion", format!("{} px", m.contour_area)),
        ("Event starts after", format!("{} frames with motion", m.start_frames)),
        ("Event ends after", format!("{} s without motion", m.quiet_secs)),
        ("Motion masks", format!("{} polygon(s)", m.mask.len())),
    ];
    ok(CameraPage {
        nav: "dashboard",
        camera: CameraView::of(&runtime),
        settings,
        events: events.iter().map(EventView::of).collect(),
    }
    .render())
}

#[derive(Template)]
#[template(path = "camera_form.html")]
struct CameraFormPage {
    nav: &'static str,
    editing: bool,
    form: CameraForm,
    errors: FieldErrors,
}

impl CameraFormPage {
    fn error(&self, field: &str) -> String {
        self.errors.get(field).cloned().unwrap_or_default()
    }
}

async fn new_camera() -> PageResult {
    ok(CameraFormPage { nav: "new", editing: false, form: CameraForm::blank(), errors: FieldErrors::new() }.render())
}

async fn create_camera(state: web::Data<AppState>, form: web::Form<CameraForm>) -> PageResult {
    let form = form.into_inner();
    let mut camera = form.to_config(None);
    if let Ok(c) = &camera
        && state.cameras.get(&c.id).is_some()
    {
        let message = format!("{:?} is already used by another camera; choose another id", c.id);
        camera = Err(FieldErrors::from([("id".to_string(), message)]));
    }
    match camera {
        Err(errors) => Ok(html(
            actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
            CameraFormPage { nav: "new", editing: false, form, errors }.render(),
        )),
        Ok(camera) => {
            crate::camera::store_camera(&state.db, &camera, CameraSource::Ui).await?;
            let location = format!("/cameras/{}", camera.id);
            state.cameras.put(camera, CameraSource::Ui).await;
            Ok(redirect(&location))
        }
    }
}

/// The camera if it exists and may be changed from the UI.
fn editable_camera(state: &AppState, id: &str) -> Result<std::sync::Arc<crate::camera::CameraRuntime>, Error> {
    let runtime = state.cameras.get(id).ok_or_else(|| Error::not_found(format!("There is no camera {id:?}.")))?;
    if runtime.source != CameraSource::Ui {
        return Err(Error::conflict(format!(
            "Camera {id:?} is defined in the config file; change it there and restart Watchpost."
        )));
    }
    Ok(runtime)
}

async fn edit_camera(state: web::Data<AppState>, id: web::Path<String>) -> PageResult {
    let runtime = editable_camera(&state, &id)?;
    ok(CameraFormPage {
        nav: "dashboard",
        editing: true,
        form: CameraForm::from_config(&runtime.config),
        errors: FieldErrors::new(),
    }
    .render())
}

async fn update_camera(state: web::Data<AppState>, id: web::Path<String>, form: web::Form<CameraForm>) -> PageResult {
    let runtime = editable_camera(&state, &id)?;
    let mut form = form.into_inner();
    form.id = id.to_string();
    match form.to_config(Some(&runtime.config)) {
        Err(errors) => Ok(html(
            actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
            CameraFormPage { nav: "dashboard", editing: true, form, errors }.render(),
        )),
        Ok(camera) => {
            crate::camera::store_camera(&state.db, &camera, CameraSource::Ui).await?;
            state.cameras.put(camera, CameraSource::Ui).await;
            Ok(redirect(&format!("/cameras/{id}")))
        }
    }
}

#[derive(Template)]
#[template(path = "camera_delete.html")]
struct DeletePage {
    nav: &'static str,
    camera: CameraView,
    event_count: u64,
}

async fn confirm_delete(state: web::Data<AppState>, id: web::Path<String>) -> PageResult {
    let runtime = editable_camera(&state, &id)?;
    let event_count = state.db.count_events(Some(&id)).await?;
    ok(DeletePage { nav: "dashboard", camera: CameraView::of(&runtime), event_count }.render())
}

async fn delete_camera(state: web::Data<AppState>, id: web::Path<String>) -> PageResult {
    editable_camera(&state, &id)?;
    state.db.delete_camera(&id).await?;
    state.cameras.remove(&id).await;
    tracing::info!(camera = %id, "camera deleted from the UI; its events are kept");
    Ok(redirect("/"))
}

#[derive(Template)]
#[template(path = "events.html")]
struct EventsPage {
    nav: &'static str,
    events: Vec<EventView>,
    camera_ids: Vec<String>,
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

    fn date_value(&self) -> String {
        self.query.date.clone().unwrap_or_default()
    }
}

const EVENTS_PER_PAGE: u64 = 24;

async fn events_page(state: web::Data<AppState>, query: web::Query<EventsQuery>) -> PageResult {
    let query = query.into_inner();
    let filter = query.to_filter(EVENTS_PER_PAGE)?;
    let events = state.db.list_events(&filter).await?;
    let next_link =
        (events.len() as u64 == filter.limit).then(|| events.last().map(|e| e.id)).flatten().map(|before| {
            let mut link = url::form_urlencoded::Serializer::new(String::new());
            for (key, value) in [("camera", &query.camera), ("kind", &query.kind), ("date", &query.date)] {
                if let Some(v) = value.as_ref().filter(|v| !v.is_empty()) {
                    link.append_pair(key, v);
                }
            }
            link.append_pair("before", &before.to_string());
            format!("/events?{}", link.finish())
        });
    let camera_ids = state.cameras.list().iter().map(|c| c.id().to_string()).collect();
    let filtered =
        filter.camera.is_some() || filter.kind.is_some() || filter.since_ms.is_some() || filter.before.is_some();
    ok(EventsPage {
        nav: "events",
        events: events.iter().map(EventView::of).collect(),
        camera_ids,
        query,
        next_link,
        filtered,
    }
    .render())
}

#[derive(Template)]
#[template(path = "event.html")]
struct EventPage {
    nav: &'static str,
    event: EventView,
    camera_name: String,
}

async fn event_page(state: web::Data<AppState>, id: web::Path<i64>) -> PageResult {
    let event = state.db.get_event(*id).await?.ok_or_else(|| Error::not_found(format!("There is no event {id}.")))?;
    let camera_name = state
        .cameras
        .get(&event.camera_id)
        .map(|c| c.config.display_name().to_string())
        .unwrap_or_else(|| event.camera_id.clone());
    ok(EventPage { nav: "events", event: EventView::of(&event), camera_name }.render())
}

#[derive(Deserialize)]
struct StatusForm {
    status: String,
}

async fn set_event_status(state: web::Data<AppState>, id: web::Path<i64>, form: web::Form<StatusForm>) -> PageResult {
    let status = form.status.as_str();
    if !matches!(status, "new" | "viewed" | "resolved") {
        return Err(Error::invalid(format!("status {status:?} is not one of new, viewed, resolved")).into());
    }
    if !state.db.set_event_status(*id, status).await? {
        return Err(Error::not_found(format!("There is no event {id}.")).into());
    }
    Ok(redirect(&format!("/events/{id}")))
}
