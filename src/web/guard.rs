//! The gate every request passes: finds out who is asking (session cookie or bearer token),
//! enforces the access level that [`super::routes`] gives the route, checks the CSRF token of
//! state-changing browser requests, and adds the security headers to every answer.

use super::respond::{ShownError, error_page, render_error, status_for, user_message};
use super::view::Me;
use super::{Access, routes};
use crate::app::state::AppState;
use crate::auth::{Identity, constant_time_eq};
use crate::error::Error;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ResourceDef, ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::middleware::{DefaultHeaders, Next};
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, web};
use std::future::{Ready, ready};
use std::sync::OnceLock;

/// The browser session cookie (HttpOnly, SameSite=Lax).
pub const SESSION_COOKIE: &str = "watchpost_session";
/// The CSRF cookie of the sign-in and set-up forms, before a session exists (double submit).
pub const FORM_COOKIE: &str = "watchpost_form";
/// The header scripts send the session's CSRF token in.
const CSRF_HEADER: &str = "x-csrf-token";
/// The form field pages send it in.
pub const CSRF_FIELD: &str = "csrf";

/// Content-Security-Policy and friends; no inline scripts or styles anywhere in the UI.
pub fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
             media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        ))
        .add((header::X_FRAME_OPTIONS, "DENY"))
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::REFERRER_POLICY, "same-origin"))
        .add(("Permissions-Policy", "camera=(), microphone=(), geolocation=()"))
}

fn route_table() -> &'static [(Method, ResourceDef, Access)] {
    static TABLE: OnceLock<Vec<(Method, ResourceDef, Access)>> = OnceLock::new();
    TABLE.get_or_init(|| routes().into_iter().map(|r| (r.method, ResourceDef::new(r.path), r.access)).collect())
}

/// The access level of the route this request will reach; unknown routes need a signed-in user
/// (so a 404 tells an anonymous visitor nothing).
fn access_for(method: &Method, path: &str) -> Access {
    route_table()
        .iter()
        .find(|(m, def, _)| m == method && def.is_match(path))
        .map(|(_, _, access)| *access)
        .unwrap_or(Access::Viewer)
}

/// Requests that want JSON (the API, metrics, scripts) get 401/403 as JSON, pages get redirects.
fn wants_json(req: &ServiceRequest) -> bool {
    req.path().starts_with("/api/") || req.path() == "/metrics"
}

fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

pub async fn guard(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let access = access_for(req.method(), req.path());
    if access == Access::Signed {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    if access == Access::Public || (access == Access::Metrics && state.config.auth.metrics_public) {
        if is_unsafe(req.method()) {
            let expected = req.cookie(FORM_COOKIE).map(|c| c.value().to_string()).unwrap_or_default();
            if let Err(err) = check_csrf(&mut req, &expected).await {
                return Ok(refuse(req, err));
            }
        }
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    // Signed-in requests take turns at the database: see `turns`.
    let turns = state.turns.clone();
    turns.serve(serve_signed_in(req, next, state, access)).await
}

/// Sign-in, role and CSRF checks, then the handler, for a route that needs a signed-in user.
async fn serve_signed_in(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
    state: web::Data<AppState>,
    access: Access,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    match state.auth.needs_setup().await {
        Ok(true) if wants_json(&req) => {
            let err = Error::unauthenticated("No account exists yet; create the administrator at /setup first.");
            return Ok(refuse(req, err));
        }
        Ok(true) => return Ok(req.into_response(redirect("/setup"))),
        Ok(false) => {}
        Err(err) => return Ok(refuse(req, err)),
    }

    let identity = match identify(&req, &state).await {
        Ok(Some(identity)) => identity,
        Ok(None) if wants_json(&req) => {
            let err = Error::unauthenticated("Sign in first: send an API token as \"Authorization: Bearer <token>\".");
            return Ok(refuse(req, err));
        }
        Ok(None) => {
            let target = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/").to_string();
            // Only a page can be gone back to; after a refused form post start from the dashboard.
            let location = if target == "/" || req.method() != Method::GET {
                "/login".to_string()
            } else {
                format!(
                    "/login?{}",
                    url::form_urlencoded::Serializer::new(String::new()).append_pair("next", &target).finish()
                )
            };
            return Ok(req.into_response(redirect(&location)));
        }
        Err(err) => return Ok(refuse(req, err)),
    };
    let me = Me::of(&identity);
    if access == Access::Admin && !identity.is_admin() {
        return Ok(refuse_signed_in(req, Error::forbidden("Only an administrator can open this."), me));
    }
    if is_unsafe(req.method()) && !identity.csrf().is_empty() {
        let expected = identity.csrf().to_string();
        if let Err(err) = check_csrf(&mut req, &expected).await {
            return Ok(refuse_signed_in(req, err, me));
        }
    }
    req.extensions_mut().insert(identity);
    let response = next.call(req).await?;
    let shown = response.response().extensions().get::<ShownError>().cloned();
    match shown {
        // Error pages get the signed-in user's navigation back.
        Some(shown) => {
            let (req, _) = response.into_parts();
            Ok(ServiceResponse::new(req, render_error(&shown, me)))
        }
        None => Ok(response.map_into_boxed_body()),
    }
}

/// A bearer token decides when present (a bad one is refused, not ignored); else the session.
async fn identify(req: &ServiceRequest, state: &AppState) -> Result<Option<Identity>, Error> {
    if let Some(value) = req.headers().get(header::AUTHORIZATION) {
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .ok_or_else(|| Error::unauthenticated("Use \"Authorization: Bearer <token>\"."))?;
        return state.auth.verify_token(token.trim()).await.map(Some);
    }
    match req.cookie(SESSION_COOKIE) {
        Some(cookie) => state.auth.session(cookie.value()).await,
        None => Ok(None),
    }
}

/// The request must carry `expected` in the `X-CSRF-Token` header or the form's `csrf` field.
async fn check_csrf(req: &mut ServiceRequest, expected: &str) -> Result<(), Error> {
    let refused =
        || Error::forbidden("This form has expired or did not come from Watchpost. Reload the page and try again.");
    if expected.is_empty() {
        return Err(refused());
    }
    if let Some(sent) = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok()) {
        return if constant_time_eq(sent.as_bytes(), expected.as_bytes()) { Ok(()) } else { Err(refused()) };
    }
    let is_form = req.content_type().eq_ignore_ascii_case("application/x-www-form-urlencoded");
    if !is_form {
        return Err(refused());
    }
    let body = req.extract::<web::Bytes>().await.map_err(|_| Error::invalid("The form could not be read."))?;
    let sent = url::form_urlencoded::parse(&body).find(|(k, _)| k == CSRF_FIELD).map(|(_, v)| v.into_owned());
    req.set_payload(Payload::from(body));
    match sent {
        Some(sent) if constant_time_eq(sent.as_bytes(), expected.as_bytes()) => Ok(()),
        _ => Err(refused()),
    }
}

fn redirect(location: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, location)).finish()
}

/// Like [`refuse`], with the user's navigation on the error page.
fn refuse_signed_in(req: ServiceRequest, err: Error, me: Me) -> ServiceResponse<BoxBody> {
    if wants_json(&req) {
        return refuse(req, err);
    }
    let shown = ShownError { status: status_for(err.kind), message: user_message(&err) };
    req.into_response(render_error(&shown, me))
}

fn refuse(req: ServiceRequest, err: Error) -> ServiceResponse<BoxBody> {
    let response = if wants_json(&req) {
        let mut response = HttpResponse::build(status_for(err.kind));
        if err.kind == crate::error::ErrorKind::Unauthenticated {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"watchpost\""));
        }
        response.json(serde_json::json!({ "error": user_message(&err) }))
    } else {
        error_page(&err)
    };
    req.into_response(response)
}

/// The signed-in user, put in place by [`guard`].
impl FromRequest for Identity {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            req.extensions()
                .get::<Identity>()
                .cloned()
                .ok_or_else(|| actix_web::error::ErrorUnauthorized("sign in first")),
        )
    }
}
