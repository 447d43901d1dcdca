//! The installable app and its notifications: the web app manifest, the service worker (served at
//! the site's root so that it controls every page), a user's devices that get push notifications
//! (`/api/push…`, and the account page's forms), and what a notification's service worker may do
//! with the token it carries: fetch the event's snapshot, resolve the event, mute its camera for an
//! hour.

use super::access::{audit, origin_of};
use super::respond::{ApiResult, PageResult, redirect};
use crate::app::state::AppState;
use crate::auth::Identity;
use crate::bridges::push::webpush::SubscriptionKeys;
use crate::db::{NewAudit, NewPushSubscription};
use crate::error::Error;
use crate::model::{CameraScope, Channel, EventStatus};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

const SERVICE_WORKER_JS: &str = include_str!("../../web/static/sw.js");
/// The longest device name kept.
const MAX_NAME: usize = 60;
/// Devices one account may subscribe.
const MAX_DEVICES: usize = 20;
/// How long "Mute 1 h" mutes.
const MUTE_MS: i64 = 3_600_000;

/// `GET /manifest.webmanifest`: what a phone needs to install the UI as an app.
pub(super) async fn manifest() -> HttpResponse {
    let manifest = serde_json::json!({
        "name": "Watchpost",
        "short_name": "Watchpost",
        "description": "Your cameras, their events and alerts.",
        "id": "/",
        "start_url": "/",
        "scope": "/",
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": "#1f6feb",
        "icons": [
            { "src": "/static/icon-192.png", "sizes": "192x192", "type": "image/png", "purpose": "any maskable" },
            { "src": "/static/icon-512.png", "sizes": "512x512", "type": "image/png", "purpose": "any maskable" },
            { "src": "/static/favicon.svg", "sizes": "any", "type": "image/svg+xml" },
        ],
    });
    HttpResponse::Ok()
        .content_type("application/manifest+json")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(manifest.to_string())
}

/// `GET /sw.js`: the service worker, its cache named after this version; never cached itself, so a
/// new version takes over at the next visit.
pub(super) async fn service_worker() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("Service-Worker-Allowed", "/"))
        .body(SERVICE_WORKER_JS.replace("@VERSION@", crate::VERSION))
}

/// `GET /api/push`: whether push is on, the key a browser subscribes with, and the caller's devices.
pub(super) async fn push_info(state: web::Data<AppState>, me: Identity) -> ApiResult {
    let devices = super::view::devices_of(&state, me.user_id).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "enabled": state.config.push.enabled,
        "public_key": state.push_keys.public_key(),
        "devices": devices,
    })))
}

#[derive(Debug, Deserialize)]
pub(super) struct SubscribeRequest {
    /// What to call the device ("Anna's phone").
    #[serde(default)]
    name: String,
    /// `PushSubscription.toJSON()`.
    subscription: BrowserSubscription,
}

#[derive(Debug, Deserialize)]
struct BrowserSubscription {
    endpoint: String,
    keys: BrowserKeys,
}

#[derive(Debug, Deserialize)]
struct BrowserKeys {
    p256dh: String,
    auth: String,
}

/// `POST /api/push/subscriptions`: this device gets the caller's alerts from now on.
pub(super) async fn subscribe(
    state: web::Data<AppState>,
    me: Identity,
    req: HttpRequest,
    body: web::Json<SubscribeRequest>,
) -> ApiResult {
    if !state.config.push.enabled {
        return Err(Error::conflict("Push notifications are off ([push] enabled = false in the config file).").into());
    }
    let request = body.into_inner();
    let (url, endpoint) = checked(&request.subscription)?;
    let keys = &request.subscription.keys;
    let name = request.name.trim();
    let name = if name.is_empty() { "This device".to_string() } else { name.chars().take(MAX_NAME).collect() };
    let owned = state.db.push_subscriptions_of(me.user_id).await?;
    if owned.len() >= MAX_DEVICES && !owned.iter().any(|d| d.endpoint == endpoint) {
        return Err(Error::invalid(format!(
            "You have {MAX_DEVICES} devices with notifications on; remove one on your account page first."
        ))
        .into());
    }
    let new = NewPushSubscription {
        user_id: me.user_id,
        name: name.clone(),
        endpoint,
        p256dh: keys.p256dh.trim().to_string(),
        auth: keys.auth.trim().to_string(),
    };
    let id = state.db.add_push_subscription(new, chrono::Utc::now().timestamp_millis()).await?;
    audit(
        &state,
        &me,
        &req,
        "push.subscribe",
        Some(&name),
        &format!("device {id}, {}", url.origin().ascii_serialization()),
    )
    .await;
    Ok(HttpResponse::Created().json(serde_json::json!({ "id": id, "name": name })))
}

/// The browser's subscription (endpoint and keys) after checking it.
fn checked(subscription: &BrowserSubscription) -> Result<(url::Url, String), Error> {
    let endpoint = subscription.endpoint.trim().to_string();
    let url = url::Url::parse(&endpoint).map_err(|_| Error::invalid("subscription.endpoint is not a URL"))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(Error::invalid("subscription.endpoint must be an https URL"));
    }
    SubscriptionKeys::parse(&subscription.keys.p256dh, &subscription.keys.auth).map_err(Error::invalid)?;
    Ok((url, endpoint))
}

#[derive(Debug, Deserialize)]
pub(super) struct SubscriptionChange {
    old_endpoint: String,
    subscription: BrowserSubscription,
}

/// `POST /push/subscription-change` (`{"old_endpoint", "subscription"}`): the service worker's
/// answer to `pushsubscriptionchange`, when the browser replaced a subscription on its own. The old
/// endpoint, known only to the browser, its push service and Watchpost, is what authorises it.
pub(super) async fn subscription_changed(state: web::Data<AppState>, body: web::Json<SubscriptionChange>) -> ApiResult {
    let change = body.into_inner();
    let (url, endpoint) = checked(&change.subscription)?;
    let keys = &change.subscription.keys;
    let replaced = state
        .db
        .replace_push_endpoint(change.old_endpoint.trim(), &endpoint, keys.p256dh.trim(), keys.auth.trim())
        .await?;
    if !replaced {
        return Err(Error::not_found("No device has that subscription; turn notifications on again.").into());
    }
    tracing::info!(service = %url.origin().ascii_serialization(), "a browser renewed its push subscription");
    Ok(HttpResponse::NoContent().finish())
}

/// `DELETE /api/push/subscriptions/{id}`: one of the caller's devices stops getting alerts.
pub(super) async fn unsubscribe(
    state: web::Data<AppState>,
    me: Identity,
    req: HttpRequest,
    id: web::Path<i64>,
) -> ApiResult {
    remove_device(&state, &me, &req, *id).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn remove_device(state: &AppState, me: &Identity, req: &HttpRequest, id: i64) -> Result<(), Error> {
    if !state.db.remove_push_subscription(id, Some(me.user_id)).await? {
        return Err(Error::not_found(format!("You have no device {id} with notifications on.")));
    }
    audit(state, me, req, "push.unsubscribe", Some(&id.to_string()), "").await;
    Ok(())
}

/// `POST /account/push/{id}/remove`: the account page's "Remove".
pub(super) async fn remove_device_form(
    state: web::Data<AppState>,
    me: Identity,
    req: HttpRequest,
    id: web::Path<i64>,
) -> PageResult {
    remove_device(&state, &me, &req, *id).await?;
    Ok(redirect("/account?done=push-removed#notifications"))
}

/// `POST /account/push/{id}/test`: a test notification to one of the caller's devices; the page
/// says what happened.
pub(super) async fn test_device_form(state: web::Data<AppState>, me: Identity, id: web::Path<i64>) -> PageResult {
    let device = state
        .db
        .push_subscription(*id)
        .await?
        .filter(|d| d.user_id == me.user_id)
        .ok_or_else(|| Error::not_found(format!("You have no device {id} with notifications on.")))?;
    let (notice, error) = match state.bridges.send_test_to(Channel::Push, &device.id.to_string()).await {
        Ok(_) => (format!("Test notification sent to {}; it shows there within seconds.", device.name), String::new()),
        Err(reason) => (String::new(), reason),
    };
    super::account::account_page_for(&state, &me, StatusCode::OK, notice, error, None).await
}

#[derive(Debug, Deserialize)]
pub(super) struct TokenQuery {
    #[serde(default)]
    token: String,
}

/// The account that a notification token for event `event_id` acts as, if the token is genuine,
/// its device still subscribed, and its owner still enabled and allowed to see `camera`.
async fn token_owner(state: &AppState, token: &str, event_id: i64, camera: &str) -> Result<String, Error> {
    let refused = || Error::forbidden("This notification's link has expired or was not made for this event.");
    let now_s = chrono::Utc::now().timestamp();
    let subscription = state.push_keys.check_action_token(token, event_id, now_s).ok_or_else(refused)?;
    let device = state.db.push_subscription(subscription).await?.ok_or_else(refused)?;
    let user = state.db.user_by_id(device.user_id).await?.filter(|u| !u.disabled).ok_or_else(refused)?;
    // Event 0 is the test alert, of no camera.
    if event_id != 0 && !CameraScope::parse(&user.cameras).allows(camera) {
        return Err(refused());
    }
    Ok(user.name)
}

/// `GET /push/events/{id}/snapshot.jpg?token=`: the snapshot (boxes drawn in) for a notification.
/// Event 0 is the test alert's demo photograph.
pub(super) async fn snapshot(
    state: web::Data<AppState>,
    id: web::Path<i64>,
    query: web::Query<TokenQuery>,
    req: HttpRequest,
) -> ApiResult {
    let id = *id;
    if id == 0 {
        token_owner(&state, &query.token, 0, "").await?;
        return Ok(HttpResponse::Ok()
            .content_type("image/jpeg")
            .insert_header(("Cache-Control", "private, no-store"))
            .body(crate::demo::PHOTO));
    }
    let event = state.db.get_event(id).await?.ok_or_else(|| Error::not_found(format!("There is no event {id}.")))?;
    token_owner(&state, &query.token, id, &event.camera_id).await?;
    super::api::serve_snapshot(&state, &req, &event, true).await
}

#[derive(Debug, Deserialize)]
pub(super) struct ActionRequest {
    token: String,
}

/// `POST /push/events/{id}/resolve` and `…/mute` (`{"token": …}`): a notification's buttons.
pub(super) async fn action(
    state: web::Data<AppState>,
    path: web::Path<(i64, String)>,
    req: HttpRequest,
    body: web::Json<ActionRequest>,
) -> ApiResult {
    let (id, action) = path.into_inner();
    let event = state.db.get_event(id).await?.ok_or_else(|| Error::not_found(format!("There is no event {id}.")))?;
    let user = token_owner(&state, &body.token, id, &event.camera_id).await?;
    let camera_name =
        state.cameras.get(&event.camera_id).map_or(event.camera_id.clone(), |c| c.config.display_name().to_string());
    let (message, detail) = match action.as_str() {
        "resolve" => {
            state.db.set_events_status(&[id], EventStatus::Resolved, None).await?;
            (format!("Event {id} on {camera_name} resolved."), format!("event {id} resolved"))
        }
        "mute" => {
            let until = chrono::Utc::now().timestamp_millis() + MUTE_MS;
            state.cameras.controls().change(&event.camera_id, |c| c.mute_until_ms = Some(until)).await?;
            let at = state.cameras.get(&event.camera_id).map(|c| c.config.alerts.zone()).unwrap_or_default();
            let shown = crate::alerts::policy::format_local(at, until);
            (format!("{camera_name} is muted until {shown}."), format!("muted until {shown}"))
        }
        other => return Err(Error::not_found(format!("A notification cannot {other:?}.")).into()),
    };
    let origin = origin_of(&req, &state);
    let entry = NewAudit {
        actor: Some(user.clone()),
        ip: origin.ip,
        action: format!("push.{action}"),
        target: Some(event.camera_id.clone()),
        ok: true,
        detail: Some(format!("from a notification: {detail}")),
    };
    state.auth.audit(entry).await;
    tracing::info!(%user, event = id, %action, "done from a notification");
    Ok(HttpResponse::Ok().json(serde_json::json!({ "message": message })))
}
