//! The web UI and JSON API (actix-web, askama templates rendered on the server).
//!
//! Every route is listed once, with who may use it, in [`routes`]; the router is built from that
//! table and the [`guard`] middleware enforces it (sign-in, role, CSRF) before any handler runs, so
//! a forgotten check cannot open a route. Pages live in `pages` and `account`, the JSON API and
//! `/metrics` in `api` (cameras changed over JSON in `camera_api`, the OpenAPI description in
//! `openapi`), shared view helpers in `view`. Error kinds become HTTP statuses in
//! [`status_for`] and nowhere else. Static assets are compiled into the binary, so the UI needs no
//! CDN and no files beside the executable.

mod access;
mod account;
mod api;
mod camera_api;
mod deletion;
mod discovery;
mod export;
pub(crate) mod forms;
mod guard;
mod guide;
mod integrations;
mod live;
mod nodes;
mod openapi;
mod pages;
mod push;
mod ranges;
mod recordings;
mod reports;
mod respond;
pub mod turns;
mod view;
mod whatsapp;

use crate::app::state::AppState;
use actix_web::http::Method;
use actix_web::{HttpResponse, Route, web};

pub use export::event_json;
pub use guard::{SESSION_COOKIE, guard, security_headers};

/// Who may use a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: sign-in, first-run set-up, health, static assets.
    Public,
    /// Webhooks of an outside service: no session and no CSRF token; the handler checks the
    /// request's signature (or the shared verify token) itself.
    Signed,
    /// Any signed-in user (viewers see only their cameras).
    Viewer,
    /// Signed-in users, or anyone when `[auth] metrics_public` is set.
    Metrics,
    /// Administrators only.
    Admin,
}

/// One route: method, path pattern, who may use it, and its handler.
pub struct RouteSpec {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
    handler: fn() -> Route,
}

impl RouteSpec {
    const fn new(method: Method, path: &'static str, access: Access, handler: fn() -> Route) -> Self {
        Self { method, path, access, handler }
    }
}

/// Every route of the application. Order matters where patterns overlap (first match wins).
pub fn routes() -> Vec<RouteSpec> {
    use Access::*;
    const GET: Method = Method::GET;
    const POST: Method = Method::POST;
    const PATCH: Method = Method::PATCH;
    const DELETE: Method = Method::DELETE;
    vec![
        RouteSpec::new(GET, "/api/health", Public, || web::route().to(api::health)),
        RouteSpec::new(GET, "/static/{file}", Public, || web::route().to(static_file)),
        RouteSpec::new(GET, "/manifest.webmanifest", Public, || web::route().to(push::manifest)),
        RouteSpec::new(GET, "/sw.js", Public, || web::route().to(push::service_worker)),
        // A notification's token is checked by the handler; a phone's session may be long gone.
        RouteSpec::new(GET, "/push/events/{id}/snapshot.jpg", Signed, || web::route().to(push::snapshot)),
        RouteSpec::new(POST, "/push/events/{id}/{action}", Signed, || web::route().to(push::action)),
        RouteSpec::new(POST, "/push/subscription-change", Signed, || web::route().to(push::subscription_changed)),
        RouteSpec::new(GET, "/login", Public, || web::route().to(account::login_page)),
        RouteSpec::new(POST, "/login", Public, || web::route().to(account::login)),
        RouteSpec::new(GET, "/setup", Public, || web::route().to(account::setup_page)),
        RouteSpec::new(POST, "/setup", Public, || web::route().to(account::setup)),
        RouteSpec::new(GET, "/setup/guide", Admin, || web::route().to(guide::guide_page)),
        RouteSpec::new(POST, "/setup/guide", Admin, || web::route().to(guide::guide_action)),
        RouteSpec::new(POST, "/logout", Viewer, || web::route().to(account::logout)),
        RouteSpec::new(GET, "/metrics", Metrics, || web::route().to(api::metrics)),
        RouteSpec::new(GET, "/api/openapi.json", Viewer, || web::route().to(openapi::openapi)),
        RouteSpec::new(GET, "/api/cameras", Viewer, || web::route().to(api::list_cameras)),
        RouteSpec::new(POST, "/api/cameras", Admin, || web::route().to(camera_api::create)),
        RouteSpec::new(GET, "/api/cameras/{id}", Viewer, || web::route().to(api::get_camera)),
        RouteSpec::new(PATCH, "/api/cameras/{id}", Admin, || web::route().to(camera_api::update)),
        RouteSpec::new(DELETE, "/api/cameras/{id}", Admin, || web::route().to(camera_api::delete)),
        RouteSpec::new(GET, "/api/cameras/{id}/latest.jpg", Viewer, || web::route().to(api::latest_jpeg)),
        RouteSpec::new(GET, "/api/cameras/{id}/live.mp4", Viewer, || web::route().to(live::live_mp4)),
        RouteSpec::new(GET, "/api/cameras/{id}/live.mjpeg", Viewer, || web::route().to(live::live_mjpeg)),
        RouteSpec::new(GET, "/api/cameras/{id}/recordings", Viewer, || web::route().to(recordings::camera_recordings)),
        RouteSpec::new(GET, "/api/cameras/{id}/export.mp4", Viewer, || web::route().to(recordings::export)),
        RouteSpec::new(GET, "/api/storage", Viewer, || web::route().to(recordings::storage)),
        RouteSpec::new(GET, "/api/events", Viewer, || web::route().to(api::list_events)),
        RouteSpec::new(GET, "/api/export.zip", Viewer, || web::route().to(export::export_zip)),
        RouteSpec::new(POST, "/api/events/delete", Admin, || web::route().to(deletion::delete_events_api)),
        RouteSpec::new(GET, "/api/events/{id}", Viewer, || web::route().to(api::get_event)),
        RouteSpec::new(DELETE, "/api/events/{id}", Admin, || web::route().to(deletion::delete_event)),
        RouteSpec::new(GET, "/api/events/{id}/snapshot.jpg", Viewer, || web::route().to(api::event_snapshot)),
        RouteSpec::new(GET, "/api/events/{id}/clip.mp4", Viewer, || web::route().to(recordings::event_clip)),
        RouteSpec::new(GET, "/api/reports", Viewer, || web::route().to(reports::reports_api)),
        RouteSpec::new(GET, "/api/reports/{file}", Viewer, || web::route().to(reports::report_pdf)),
        RouteSpec::new(GET, "/reports", Viewer, || web::route().to(reports::reports_page)),
        RouteSpec::new(POST, "/reports/generate", Admin, || web::route().to(reports::generate)),
        RouteSpec::new(GET, "/", Viewer, || web::route().to(pages::dashboard)),
        RouteSpec::new(GET, "/live", Viewer, || web::route().to(pages::live_grid)),
        RouteSpec::new(GET, "/cameras/new", Admin, || web::route().to(pages::new_camera)),
        RouteSpec::new(POST, "/cameras", Admin, || web::route().to(pages::create_camera)),
        RouteSpec::new(GET, "/cameras/{id}", Viewer, || web::route().to(pages::camera_page)),
        RouteSpec::new(POST, "/cameras/{id}", Admin, || web::route().to(pages::update_camera)),
        RouteSpec::new(GET, "/cameras/{id}/edit", Admin, || web::route().to(pages::edit_camera)),
        RouteSpec::new(GET, "/cameras/{id}/timeline", Viewer, || web::route().to(pages::timeline_page)),
        RouteSpec::new(GET, "/cameras/{id}/delete", Admin, || web::route().to(pages::confirm_delete)),
        RouteSpec::new(POST, "/cameras/{id}/delete", Admin, || web::route().to(pages::delete_camera)),
        RouteSpec::new(GET, "/cameras/{id}/history/delete", Admin, || web::route().to(deletion::camera_history)),
        RouteSpec::new(POST, "/cameras/{id}/history/delete", Admin, || web::route().to(deletion::camera_history)),
        RouteSpec::new(GET, "/events", Viewer, || web::route().to(pages::events_page)),
        RouteSpec::new(GET, "/events/export", Viewer, || web::route().to(export::export_page)),
        RouteSpec::new(GET, "/events/delete", Admin, || web::route().to(deletion::confirm_delete_matching)),
        RouteSpec::new(POST, "/events/delete", Admin, || web::route().to(deletion::delete_events_form)),
        RouteSpec::new(GET, "/events/{id}", Viewer, || web::route().to(pages::event_page)),
        RouteSpec::new(POST, "/events/{id}/status", Viewer, || web::route().to(pages::set_event_status)),
        RouteSpec::new(POST, "/events/resolve", Viewer, || web::route().to(pages::resolve_events)),
        RouteSpec::new(POST, "/events/{id}/tags", Viewer, || web::route().to(pages::set_event_tags)),
        RouteSpec::new(GET, "/account", Viewer, || web::route().to(account::account_page)),
        RouteSpec::new(POST, "/account/password", Viewer, || web::route().to(account::change_password)),
        RouteSpec::new(POST, "/account/delete", Viewer, || web::route().to(account::delete_own_account)),
        RouteSpec::new(GET, "/account/data.json", Viewer, || web::route().to(account::my_data)),
        RouteSpec::new(POST, "/account/push/{id}/remove", Viewer, || web::route().to(push::remove_device_form)),
        RouteSpec::new(POST, "/account/push/{id}/test", Viewer, || web::route().to(push::test_device_form)),
        RouteSpec::new(GET, "/api/push", Viewer, || web::route().to(push::push_info)),
        RouteSpec::new(POST, "/api/push/subscriptions", Viewer, || web::route().to(push::subscribe)),
        RouteSpec::new(DELETE, "/api/push/subscriptions/{id}", Viewer, || web::route().to(push::unsubscribe)),
        RouteSpec::new(POST, "/account/sessions/end-others", Viewer, || web::route().to(account::end_other_sessions)),
        RouteSpec::new(POST, "/tokens", Viewer, || web::route().to(account::create_token)),
        RouteSpec::new(POST, "/tokens/{id}/reissue", Viewer, || web::route().to(account::reissue_token)),
        RouteSpec::new(POST, "/tokens/{id}/revoke", Viewer, || web::route().to(account::revoke_token)),
        RouteSpec::new(GET, "/settings/users", Admin, || web::route().to(account::users_page)),
        RouteSpec::new(POST, "/settings/users", Admin, || web::route().to(account::create_user)),
        RouteSpec::new(GET, "/settings/users/{id}", Admin, || web::route().to(account::user_page)),
        RouteSpec::new(POST, "/settings/users/{id}", Admin, || web::route().to(account::update_user)),
        RouteSpec::new(POST, "/settings/users/{id}/delete", Admin, || web::route().to(account::delete_user)),
        RouteSpec::new(POST, "/settings/users/{id}/password", Admin, || web::route().to(account::reset_password)),
        RouteSpec::new(GET, "/settings/tokens", Admin, || web::route().to(account::tokens_page)),
        RouteSpec::new(POST, "/settings/tokens/rotate-key", Admin, || web::route().to(account::rotate_key)),
        RouteSpec::new(GET, "/settings/audit", Admin, || web::route().to(account::audit_page)),
        RouteSpec::new(GET, "/settings/system", Admin, || web::route().to(pages::system_page)),
        RouteSpec::new(GET, "/settings/backup.zip", Admin, || web::route().to(export::backup_zip)),
        RouteSpec::new(POST, "/settings/restore", Admin, || web::route().to(export::stage_restore)),
        RouteSpec::new(GET, "/settings/storage", Admin, || web::route().to(recordings::storage_page)),
        RouteSpec::new(GET, "/settings/integrations", Admin, || web::route().to(integrations::integrations_page)),
        RouteSpec::new(POST, "/settings/integrations/mqtt", Admin, || web::route().to(integrations::save_mqtt)),
        RouteSpec::new(POST, "/settings/integrations/mqtt/test", Admin, || web::route().to(integrations::test_mqtt)),
        RouteSpec::new(GET, "/api/integrations", Admin, || web::route().to(integrations::integrations_api)),
        RouteSpec::new(GET, "/api/whatsapp/webhook", Signed, || web::route().to(whatsapp::webhook_challenge)),
        RouteSpec::new(POST, "/api/whatsapp/webhook", Signed, || web::route().to(whatsapp::webhook)),
        RouteSpec::new(POST, "/settings/integrations/whatsapp/numbers", Admin, || {
            web::route().to(whatsapp::add_number)
        }),
        RouteSpec::new(POST, "/settings/integrations/whatsapp/numbers/remove", Admin, || {
            web::route().to(whatsapp::remove_number)
        }),
        RouteSpec::new(POST, "/settings/integrations/test-alert", Admin, || {
            web::route().to(integrations::send_test_alert)
        }),
        RouteSpec::new(POST, "/settings/integrations/describe", Admin, || {
            web::route().to(integrations::save_site_context)
        }),
        RouteSpec::new(POST, "/cameras/{id}/controls", Admin, || web::route().to(integrations::set_controls)),
        RouteSpec::new(POST, "/alerts/armed", Admin, || web::route().to(integrations::set_armed)),
        RouteSpec::new(GET, "/discovery", Admin, || web::route().to(discovery::discovery_page)),
        RouteSpec::new(POST, "/discovery/scan", Admin, || web::route().to(discovery::scan_now)),
        RouteSpec::new(GET, "/api/discovery", Admin, || web::route().to(discovery::discovery_api)),
        RouteSpec::new(GET, "/discovery/adopt/{key}", Admin, || web::route().to(discovery::adopt_streams)),
        RouteSpec::new(POST, "/discovery/adopt/{key}", Admin, || web::route().to(discovery::adopt_create)),
        RouteSpec::new(GET, "/discovery/{id}/adopt", Admin, || web::route().to(discovery::adopt_form)),
        RouteSpec::new(POST, "/discovery/{id}/adopt", Admin, || web::route().to(discovery::adopt_connect)),
        RouteSpec::new(POST, "/discovery/{id}/ignore", Admin, || web::route().to(discovery::toggle_ignore)),
        RouteSpec::new(GET, "/nodes", Admin, || web::route().to(nodes::nodes_page)),
        RouteSpec::new(GET, "/api/nodes", Admin, || web::route().to(nodes::nodes_api)),
        RouteSpec::new(GET, "/nodes/{id}/adopt", Admin, || web::route().to(nodes::adopt_form)),
        RouteSpec::new(POST, "/nodes/{id}/adopt", Admin, || web::route().to(nodes::adopt)),
        RouteSpec::new(POST, "/nodes/{id}/link", Admin, || web::route().to(nodes::link)),
    ]
}

/// Registers every route of [`routes`] on an actix `App`.
pub fn configure(state: AppState) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(web::Data::new(state)).app_data(web::FormConfig::default().limit(64 * 1024)).app_data(
            web::QueryConfig::default().error_handler(|err, _| {
                let message = format!("bad query: {err}");
                actix_web::error::InternalError::from_response(
                    message.clone(),
                    HttpResponse::BadRequest().json(serde_json::json!({ "error": message })),
                )
                .into()
            }),
        );
        for spec in routes() {
            cfg.route(spec.path, (spec.handler)().method(spec.method));
        }
        cfg.default_service(web::to(respond::not_found));
    }
}

const STYLE_CSS: &str = include_str!("../../web/static/style.css");
const APP_JS: &str = include_str!("../../web/static/app.js");
const POLYGONS_JS: &str = include_str!("../../web/static/polygons.js");
const TIMELINE_JS: &str = include_str!("../../web/static/timeline.js");
const LIVE_JS: &str = include_str!("../../web/static/live.js");
const FAVICON_SVG: &str = include_str!("../../web/static/favicon.svg");
/// The app's icons for phones' home screens (the installable app's manifest names them).
const ICON_192: &[u8] = include_bytes!("../../web/static/icon-192.png");
const ICON_512: &[u8] = include_bytes!("../../web/static/icon-512.png");

async fn static_file(path: web::Path<String>) -> HttpResponse {
    let (body, content_type) = match path.as_str() {
        "style.css" => (STYLE_CSS.as_bytes(), "text/css; charset=utf-8"),
        "app.js" => (APP_JS.as_bytes(), "text/javascript; charset=utf-8"),
        "polygons.js" => (POLYGONS_JS.as_bytes(), "text/javascript; charset=utf-8"),
        "timeline.js" => (TIMELINE_JS.as_bytes(), "text/javascript; charset=utf-8"),
        "live.js" => (LIVE_JS.as_bytes(), "text/javascript; charset=utf-8"),
        "favicon.svg" => (FAVICON_SVG.as_bytes(), "image/svg+xml"),
        "icon-192.png" => (ICON_192, "image/png"),
        "icon-512.png" => (ICON_512, "image/png"),
        _ => return HttpResponse::NotFound().content_type("text/plain").body("not found"),
    };
    HttpResponse::Ok().content_type(content_type).insert_header(("Cache-Control", "public, max-age=3600")).body(body)
}
