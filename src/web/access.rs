//! Who may see what, and who did what: the cameras and events a signed-in user may see (others
//! are "not found", so ids do not leak), where a request came from, the audit log, and the flags
//! of Watchpost's cookies. The [`super::guard`] middleware and every handler use these.

use crate::app::state::AppState;
use crate::auth::{Identity, Origin};
use crate::camera::CameraRuntime;
use crate::db::entities::event;
use crate::error::Error;
use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header;
use std::sync::Arc;

/// The cameras this user may see, by id.
pub(super) fn visible_cameras(state: &AppState, me: &Identity) -> Vec<Arc<CameraRuntime>> {
    let mut cameras: Vec<_> = state.cameras.list().into_iter().filter(|c| me.can_see(c.id())).collect();
    cameras.sort_by(|a, b| a.id().cmp(b.id()));
    cameras
}

/// A camera this user may see; others are "not found", not "forbidden", so ids do not leak.
pub(super) fn visible_camera(state: &AppState, me: &Identity, id: &str) -> Result<Arc<CameraRuntime>, Error> {
    state
        .cameras
        .get(id)
        .filter(|c| me.can_see(c.id()))
        .ok_or_else(|| Error::not_found(format!("There is no camera {id:?}.")))
}

/// An event this user may see.
pub(super) async fn visible_event(state: &AppState, me: &Identity, id: i64) -> Result<event::Model, Error> {
    state
        .db
        .get_event(id)
        .await?
        .filter(|e| me.can_see(&e.camera_id))
        .ok_or_else(|| Error::not_found(format!("There is no event {id}.")))
}

/// Where the request came from: the peer address, or the client a trusted proxy names.
pub fn origin_of(req: &HttpRequest, state: &AppState) -> Origin {
    let peer = req.peer_addr().map(|a| a.ip());
    let mut ip = peer;
    if let Some(peer) = peer
        && state.config.server.is_trusted_proxy(peer)
        && let Some(forwarded) = req.headers().get("x-forwarded-for").and_then(|v| v.to_str().ok())
    {
        ip = forwarded
            .split(',')
            .rev()
            .filter_map(|part| part.trim().parse::<std::net::IpAddr>().ok())
            .find(|candidate| !state.config.server.is_trusted_proxy(*candidate))
            .or(Some(peer));
    }
    Origin {
        ip: ip.map(|ip| ip.to_string()),
        user_agent: req.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_string),
    }
}

/// Records in the audit log that the signed-in user did `action`, from where the request came.
pub async fn audit(
    state: &AppState,
    me: &Identity,
    req: &HttpRequest,
    action: &str,
    target: Option<&str>,
    detail: &str,
) {
    let origin = origin_of(req, state);
    state.auth.audit(state.auth.entry(me, &origin, action, target, detail)).await;
}

/// True when the browser reached us over HTTPS: only a trusted proxy's `X-Forwarded-Proto` can
/// say so, since Watchpost itself serves plain HTTP.
pub fn is_https(req: &HttpRequest, state: &AppState) -> bool {
    req.peer_addr().is_some_and(|a| state.config.server.is_trusted_proxy(a.ip()))
        && req
            .headers()
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|p| p.eq_ignore_ascii_case("https"))
}

/// A cookie with the flags every Watchpost cookie has.
pub fn cookie<'a>(
    req: &HttpRequest,
    state: &AppState,
    name: &'a str,
    value: String,
    same_site: SameSite,
) -> Cookie<'a> {
    Cookie::build(name, value).path("/").http_only(true).same_site(same_site).secure(is_https(req, state)).finish()
}

/// The same cookie, expired, to delete it.
pub fn removal(req: &HttpRequest, state: &AppState, name: &'static str) -> Cookie<'static> {
    let mut cookie = cookie(req, state, name, String::new(), SameSite::Lax);
    cookie.make_removal();
    cookie
}
