//! WhatsApp opt-in: the administrator adds and removes numbers on the Integrations page; Meta's
//! webhook (a GET handshake with the verify token, then POSTs signed with the app secret) brings
//! the person's code from their number, which verifies it, and tells when they last wrote. A
//! verified number may write `status`, `arm` or `disarm`, and is answered.

use super::access::audit;
use super::forms::{field, form_fields};
use super::respond::{PageResult, redirect};
use crate::app::state::AppState;
use crate::auth::Identity;
use crate::bridges::whatsapp::{CODE_VALID_MS, inbound_texts, new_code, normalize_number, verify_signature};
use crate::error::Error;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use std::collections::HashMap;

fn not_set_up() -> HttpResponse {
    HttpResponse::NotFound().json(serde_json::json!({ "error": "WhatsApp is not set up ([whatsapp] phone_number_id)" }))
}

/// `GET /api/whatsapp/webhook`: Meta's handshake; the challenge is echoed when the verify token is
/// ours.
pub(super) async fn webhook_challenge(
    state: web::Data<AppState>,
    query: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    let config = state.bridges.config().whatsapp.clone();
    if !config.enabled() {
        return not_set_up();
    }
    let expected = config.verify_token.as_ref().map(|t| t.expose().to_string()).unwrap_or_default();
    let given = query.get("hub.verify_token").map(String::as_str).unwrap_or_default();
    let subscribe = query.get("hub.mode").map(String::as_str) == Some("subscribe");
    if subscribe && !expected.is_empty() && crate::auth::constant_time_eq(given.as_bytes(), expected.as_bytes()) {
        tracing::info!("WhatsApp webhook verified by Meta");
        let challenge = query.get("hub.challenge").cloned().unwrap_or_default();
        return HttpResponse::Ok().content_type("text/plain").body(challenge);
    }
    tracing::warn!("WhatsApp webhook handshake refused: wrong verify token or mode");
    HttpResponse::Forbidden().json(serde_json::json!({ "error": "wrong verify token" }))
}

/// `POST /api/whatsapp/webhook`: messages from people, signed by Meta. A number's code verifies it;
/// any message from a number opens its 24-hour window.
pub(super) async fn webhook(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let config = state.bridges.config().whatsapp.clone();
    if !config.enabled() {
        return not_set_up();
    }
    let secret = config.app_secret.as_ref().map(|s| s.expose().to_string()).unwrap_or_default();
    let signature = req.headers().get("x-hub-signature-256").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if secret.is_empty() || !verify_signature(&secret, &body, signature) {
        tracing::warn!(peer = ?req.peer_addr(), "WhatsApp webhook call refused: missing or wrong X-Hub-Signature-256");
        return HttpResponse::Unauthorized().json(serde_json::json!({ "error": "bad signature" }));
    }
    let Ok(payload) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return HttpResponse::BadRequest().json(serde_json::json!({ "error": "not JSON" }));
    };
    let now_ms = chrono::Utc::now().timestamp_millis();
    for message in inbound_texts(&payload) {
        if let Err(why) = state.whatsapp_replays.admit(&message, now_ms) {
            tracing::warn!(number = %message.from, id = %message.id, "WhatsApp message ignored: {why}");
            continue;
        }
        let (from, text) = (message.from, message.text);
        let code = text.to_ascii_uppercase();
        let code = code.starts_with("WP-").then_some(code.as_str());
        let reply = match state.db.whatsapp_inbound(&from, code, now_ms, now_ms - CODE_VALID_MS).await {
            Ok(true) => {
                tracing::info!(number = %from, "WhatsApp number verified: it gets alerts now");
                Some(format!("Watchpost: this number gets alerts now.\n{HELP}"))
            }
            Ok(false) => match state.db.whatsapp_number(&from).await {
                Ok(Some(number)) if number.status == "verified" => Some(answer(&state, &text).await),
                _ => {
                    tracing::debug!(number = %from, "WhatsApp message from a number that is not verified");
                    None
                }
            },
            Err(err) => {
                tracing::warn!(error = %err, "cannot record a WhatsApp message");
                None
            }
        };
        if let Some(reply) = reply {
            // Answered apart: Meta wants the webhook's 200 quickly.
            let (config, db) = (config.clone(), state.db.clone());
            tokio::spawn(async move {
                if let Err(reason) = crate::bridges::whatsapp::send_text(&config, db, &from, &reply).await {
                    tracing::warn!(%reason, "cannot answer on WhatsApp");
                }
            });
        }
    }
    // Meta retries anything but a 200 for days: what could be read was recorded.
    HttpResponse::Ok().json(serde_json::json!({ "ok": true }))
}

const HELP: &str = "Send: status, arm (alerts on, away) or disarm (alerts paused, home).";

/// What a verified number's message asks, done, and the answer.
async fn answer(state: &AppState, text: &str) -> String {
    let controls = state.cameras.controls();
    match text.trim().to_lowercase().as_str() {
        "arm" | "disarm" => {
            let armed = text.trim().eq_ignore_ascii_case("arm");
            match controls.set_armed(armed).await {
                Ok(()) => {
                    tracing::info!(armed, "arm/disarm from WhatsApp");
                    crate::alerts::armed_text(armed).into()
                }
                Err(err) => format!("Could not change it: {err}"),
            }
        }
        "status" => {
            let (online, all) = (state.cameras.online_count(), state.cameras.list().len());
            format!("{}\nCameras online: {online} of {all}", crate::alerts::armed_text(controls.armed()))
        }
        _ => HELP.into(),
    }
}

/// `POST /settings/integrations/whatsapp/numbers` (`number`): a new opt-in with a fresh code.
pub(super) async fn add_number(
    state: web::Data<AppState>,
    me: Identity,
    req: HttpRequest,
    body: web::Bytes,
) -> PageResult {
    if !state.bridges.config().whatsapp.enabled() {
        return Err(Error::invalid("WhatsApp is not set up: set [whatsapp] in the config file first.").into());
    }
    let fields = form_fields(&body);
    let given = field(&fields, "number");
    let refuse = |message: String| {
        super::integrations::render(&state, &me, StatusCode::UNPROCESSABLE_ENTITY, None, String::new(), message)
    };
    let Some(number) = normalize_number(given) else {
        return refuse(format!(
            "{given:?} is not a phone number: write it with + and the country code, e.g. +49 151 12345678."
        ))
        .await;
    };
    if state.db.whatsapp_number(&number).await?.is_some_and(|n| n.status == "verified") {
        return refuse(format!("+{number} is verified already.")).await;
    }
    state.db.whatsapp_pending(&number, &new_code(), chrono::Utc::now().timestamp_millis()).await?;
    audit(&state, &me, &req, "whatsapp.add", Some(&number), "pending").await;
    Ok(redirect("/settings/integrations?done=whatsapp-added#whatsapp"))
}

/// `POST /settings/integrations/whatsapp/numbers/remove` (`number`): no more alerts to it.
pub(super) async fn remove_number(
    state: web::Data<AppState>,
    me: Identity,
    req: HttpRequest,
    body: web::Bytes,
) -> PageResult {
    let fields = form_fields(&body);
    let number = field(&fields, "number");
    if !state.db.whatsapp_remove(number).await? {
        return Err(Error::not_found(format!("+{number} is not in the list.")).into());
    }
    audit(&state, &me, &req, "whatsapp.remove", Some(number), "removed").await;
    Ok(redirect("/settings/integrations?done=whatsapp-removed#whatsapp"))
}
