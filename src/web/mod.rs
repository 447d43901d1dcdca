//! The web UI and JSON API (actix-web, askama templates rendered on the server).
//!
//! Pages live in `pages`, the JSON API and `/metrics` in `api`, shared view helpers in `view`.
//! Error kinds become HTTP statuses in [`status_for`] and nowhere else. Static assets are compiled
//! into the binary, so the UI needs no CDN and no files beside the executable.

mod api;
mod forms;
mod pages;
mod view;

use crate::camera::CameraManager;
use crate::config::Config;
use crate::db::Db;
use crate::error::{Error, ErrorKind};
use crate::events::EventBus;
use crate::media::MediaStore;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use std::sync::Arc;
use std::time::Instant;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub cameras: CameraManager,
    pub media: MediaStore,
    pub bus: EventBus,
    pub config: Arc<Config>,
    pub started: Instant,
}

/// The one mapping from error kinds to HTTP statuses.
pub fn status_for(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::Invalid => StatusCode::BAD_REQUEST,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Logs the full error (with its cause) and returns the message a user may see.
fn user_message(err: &Error) -> String {
    if err.kind == ErrorKind::Internal || err.source.is_some() {
        tracing::error!(error = %err, "request failed");
    }
    match err.kind {
        ErrorKind::Internal => "Something went wrong on the server; the log has the details.".into(),
        _ => err.message.clone(),
    }
}

/// Registers every route on an actix `App`.
pub fn configure(state: AppState) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(web::Data::new(state))
            .app_data(web::FormConfig::default().limit(64 * 1024))
            .app_data(web::QueryConfig::default().error_handler(|err, _| {
                let message = format!("bad query: {err}");
                actix_web::error::InternalError::from_response(
                    message.clone(),
                    HttpResponse::BadRequest().json(serde_json::json!({ "error": message })),
                )
                .into()
            }))
            .configure(api::routes)
            .configure(pages::routes)
            .route("/static/{file}", web::get().to(static_file))
            .default_service(web::to(pages::not_found));
    }
}

const STYLE_CSS: &str = include_str!("../../web/static/style.css");
const APP_JS: &str = include_str!("../../web/static/app.js");
const FAVICON_SVG: &str = include_str!("../../web/static/favicon.svg");

async fn static_file(path: web::Path<String>) -> HttpResponse {
    let (body, content_type) = match path.as_str() {
        "style.css" => (STYLE_CSS, "text/css; charset=utf-8"),
        "app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        "favicon.svg" => (FAVICON_SVG, "image/svg+xml"),
        _ => return HttpResponse::NotFound().content_type("text/plain").body("not found"),
    };
    HttpResponse::Ok().content_type(content_type).insert_header(("Cache-Control", "public, max-age=3600")).body(body)
}
