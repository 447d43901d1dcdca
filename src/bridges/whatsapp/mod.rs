//! WhatsApp through Meta's WhatsApp Cloud API, to numbers that opted in.
//!
//! Opt-in: an administrator adds a number on the Integrations page and gets a one-time code and a
//! `wa.me` link with the code written in; the person sends it from that number; Meta delivers the
//! message to Watchpost's webhook ([`verify_signature`] checks `X-Hub-Signature-256` with the app
//! secret), and the number is verified. Alerts go to verified numbers only, from the alerts outbox
//! ([`super::delivery`]): the snapshot is uploaded as media, then sent as an image with a caption
//! while the person wrote within the last 24 hours (WhatsApp's customer-service window), or as the
//! approved template otherwise (free-form messages are refused outside it). A verified number may
//! also write `status`, `arm` or `disarm`; the webhook answers.

pub mod settings;

use super::delivery::{self, AlertSender, SendFailure};
use super::{Bridge, BridgeContext, BridgeHealth, HealthCell};
use crate::alerts::AlertView;
use crate::config::Config;
use crate::db::Db;
use crate::supervise::CancellationToken;
use futures_util::future::BoxFuture;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use settings::WhatsAppConfig;
use std::sync::Arc;
use std::time::Duration;

/// How long after the person last wrote free-form messages may be sent.
pub const WINDOW_MS: i64 = 24 * 3_600_000;
/// How long an opt-in code stays good.
pub const CODE_VALID_MS: i64 = 24 * 3_600_000;
/// WhatsApp's limit on an image caption.
const CAPTION_LIMIT: usize = 1024;
/// Template text parameters may not hold new lines and have a length limit.
const PARAMETER_LIMIT: usize = 900;

pub struct WhatsAppBridge {
    config: WhatsAppConfig,
    context: BridgeContext,
    health: HealthCell,
}

impl WhatsAppBridge {
    /// The WhatsApp bridge when `[whatsapp] phone_number_id` is set.
    pub fn from_config(config: &Config, context: &BridgeContext) -> Option<Arc<dyn Bridge>> {
        let config = config.whatsapp.clone();
        if !config.enabled() {
            return None;
        }
        let target = format!("{}/{}", config.api_url.trim_end_matches('/'), config.api_version);
        let health = HealthCell::new(BridgeHealth::new(crate::model::Channel::Whatsapp, target));
        Some(Arc::new(Self { config, context: context.clone(), health }))
    }

    fn sender(&self) -> Result<CloudApi, String> {
        CloudApi::new(&self.config, self.context.db.clone())
    }
}

impl Bridge for WhatsAppBridge {
    fn channel(&self) -> crate::model::Channel {
        crate::model::Channel::Whatsapp
    }

    fn health(&self) -> BridgeHealth {
        self.health.get()
    }

    fn run(self: Arc<Self>, cancel: CancellationToken) -> BoxFuture<'static, ()> {
        let bus = self.context.bus.subscribe();
        Box::pin(async move {
            let sender = match self.sender() {
                Ok(sender) => Arc::new(sender),
                Err(reason) => return self.health.fail_until_cancelled(reason, &cancel).await,
            };
            // Ask for the sending number once, so the Integrations page says at once whether the id
            // and token work.
            match sender.call(sender.client.get(&sender.base)).await {
                Ok(number) => {
                    let shown = number["display_phone_number"].as_str().unwrap_or("?").to_string();
                    tracing::info!(number = %shown, "the WhatsApp Cloud API accepts Watchpost");
                    self.health.set_state(super::LinkState::Connected, None);
                }
                Err(failure) => {
                    tracing::warn!(reason = %failure.reason, "the WhatsApp Cloud API does not accept Watchpost yet");
                    self.health.set_state(super::LinkState::Disconnected, Some(failure.reason));
                }
            }
            let (context, health) = (self.context.clone(), self.health.clone());
            delivery::serve(sender, context, health, self.config.give_up_hours, bus, cancel).await;
            tracing::info!("WhatsApp bridge stopped");
        })
    }

    fn send_test(&self, alert: AlertView) -> Option<BoxFuture<'static, Result<String, String>>> {
        let sender = self.sender();
        let db = self.context.db.clone();
        Some(Box::pin(async move {
            let sender = sender?;
            let numbers = db.whatsapp_numbers().await.map_err(|e| e.to_string())?;
            let verified: Vec<String> =
                numbers.into_iter().filter(|n| n.status == "verified").map(|n| n.number).collect();
            if verified.is_empty() {
                return Err("No number is verified yet: add one below and send its code from WhatsApp.".into());
            }
            delivery::send_test_to_each(&sender, &alert, &verified, "WhatsApp number(s)", |n| format!("+{n}")).await
        }))
    }
}

/// The Cloud API client: uploads, messages.
struct CloudApi {
    client: reqwest::Client,
    /// `<api_url>/<version>/<phone_number_id>`.
    base: String,
    token: String,
    template: String,
    language: String,
    db: Db,
}

impl CloudApi {
    fn new(config: &WhatsAppConfig, db: Db) -> Result<Self, String> {
        let client = crate::http::client_builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|err| format!("cannot make the WhatsApp client: {err}"))?;
        Ok(Self {
            client,
            base: format!("{}/{}/{}", config.api_url.trim_end_matches('/'), config.api_version, config.phone_number_id),
            token: config.token.as_ref().map(|t| t.expose().trim().to_string()).unwrap_or_default(),
            template: config.template.clone(),
            language: config.template_language.clone(),
            db,
        })
    }

    /// POSTs and reads the Graph API's JSON answer, or says what went wrong.
    async fn call(&self, request: reqwest::RequestBuilder) -> Result<Value, SendFailure> {
        let response = request.bearer_auth(&self.token).send().await.map_err(|err| {
            let kind = if err.is_timeout() { "timed out" } else { "cannot connect" };
            SendFailure::retry(format!("Cloud API unreachable: {kind}"))
        })?;
        let status = response.status();
        let retry_after = crate::http::retry_after(&response);
        let body: Value = match response.bytes().await {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            Err(_) => Value::Null,
        };
        if status.is_success() {
            return Ok(body);
        }
        let error = &body["error"];
        let code = error["code"].as_i64().unwrap_or(0);
        let message = error["message"].as_str().unwrap_or("no explanation").to_string();
        let reason = format!("WhatsApp refused ({status}, code {code}): {message}");
        // Rate limits: HTTP 429, or Graph's throttling codes.
        let throttled = status.as_u16() == 429 || matches!(code, 4 | 80007 | 130429 | 131048 | 131056);
        // The recipient cannot get messages, or the request itself is wrong: trying again won't help.
        let permanent = matches!(code, 131026 | 131030 | 131051 | 132000 | 132001);
        Err(SendFailure {
            reason,
            retry_after: if throttled { Some(retry_after.unwrap_or(Duration::from_secs(60))) } else { None },
            permanent,
        })
    }

    async fn upload(&self, jpeg: &[u8], name: String) -> Result<String, SendFailure> {
        let file = reqwest::multipart::Part::bytes(jpeg.to_vec())
            .file_name(name)
            .mime_str("image/jpeg")
            .map_err(|err| SendFailure::retry(err.to_string()))?;
        let form = reqwest::multipart::Form::new()
            .text("messaging_product", "whatsapp")
            .text("type", "image/jpeg")
            .part("file", file);
        let answer = self.call(self.client.post(format!("{}/media", self.base)).multipart(form)).await?;
        answer["id"].as_str().map(str::to_string).ok_or_else(|| SendFailure::retry("the media upload gave no id"))
    }
}

impl AlertSender for CloudApi {
    fn channel(&self) -> crate::model::Channel {
        crate::model::Channel::Whatsapp
    }

    fn send<'a>(
        &'a self,
        alert: &'a AlertView,
        recipient: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, SendFailure>> {
        Box::pin(async move {
            let gone = || SendFailure {
                reason: "the number was removed or is no longer verified".into(),
                retry_after: None,
                permanent: true,
            };
            let number = match self.db.whatsapp_number(recipient).await {
                Ok(Some(number)) if number.status == "verified" => number,
                Ok(_) => return Err(gone()),
                Err(err) => return Err(SendFailure::retry(format!("cannot read the number: {err}"))),
            };
            let media = match &alert.snapshot {
                Some(jpeg) => Some(self.upload(jpeg, format!("event-{}.jpg", alert.event.id)).await?),
                None => None,
            };
            let now_ms = chrono::Utc::now().timestamp_millis();
            let in_window = number.last_inbound_ms.is_some_and(|at| now_ms - at < WINDOW_MS);
            let body = message(alert, recipient, media.as_deref(), in_window, &self.template, &self.language);
            let request = self
                .client
                .post(format!("{}/messages", self.base))
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_string());
            let answer = self.call(request).await?;
            Ok(answer["messages"][0]["id"].as_str().map(str::to_string))
        })
    }
}

/// Sends `text` to `to` (inside the 24-hour window: the person just wrote), for replies to what a
/// person sent.
pub async fn send_text(config: &WhatsAppConfig, db: Db, to: &str, text: &str) -> Result<(), String> {
    let api = CloudApi::new(config, db)?;
    let body = json!({
        "messaging_product": "whatsapp", "recipient_type": "individual", "to": to,
        "type": "text", "text": { "body": text, "preview_url": false },
    });
    let request = api
        .client
        .post(format!("{}/messages", api.base))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_string());
    api.call(request).await.map(|_| ()).map_err(|failure| failure.reason)
}

/// The `/messages` body: an image with a caption (or text) inside the 24-hour window, else the
/// template with the image as its header and headline, time and description as its parameters.
pub fn message(
    alert: &AlertView,
    to: &str,
    media: Option<&str>,
    in_window: bool,
    template: &str,
    language: &str,
) -> Value {
    if in_window {
        return match media {
            Some(id) => json!({
                "messaging_product": "whatsapp", "recipient_type": "individual", "to": to,
                "type": "image", "image": { "id": id, "caption": alert.text(CAPTION_LIMIT) },
            }),
            None => json!({
                "messaging_product": "whatsapp", "recipient_type": "individual", "to": to,
                "type": "text", "text": { "body": alert.text(4096), "preview_url": false },
            }),
        };
    }
    let parameter = |text: String| {
        let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
        json!({ "type": "text", "text": flat.chars().take(PARAMETER_LIMIT).collect::<String>() })
    };
    let description = match &alert.title {
        Some(title) => format!("{title}. {}", alert.description),
        None => alert.description.clone(),
    };
    let mut components = Vec::new();
    if let Some(id) = media {
        components.push(json!({ "type": "header", "parameters": [{ "type": "image", "image": { "id": id } }] }));
    }
    components.push(json!({
        "type": "body",
        "parameters": [
            parameter(format!("{} {}", alert.severity.as_str().to_uppercase(), alert.headline())),
            parameter(alert.local_time.clone()),
            parameter(description),
            parameter(alert.url.clone()),
        ],
    }));
    json!({
        "messaging_product": "whatsapp", "recipient_type": "individual", "to": to,
        "type": "template",
        "template": { "name": template, "language": { "code": language }, "components": components },
    })
}

/// Whether `signature` (`X-Hub-Signature-256: sha256=<hex>`) is the app secret's HMAC-SHA256 of
/// `body`, compared in constant time.
pub fn verify_signature(app_secret: &str, body: &[u8], signature: &str) -> bool {
    let Some(hex) = signature.trim().strip_prefix("sha256=") else { return false };
    let Some(expected) = decode_hex(hex) else { return false };
    let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(app_secret.as_bytes()) else { return false };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

/// A phone number as WhatsApp names it: digits with the country code, no `+`, spaces or dashes
/// (`+49 151 1234-5678` → `4915112345678`); `None` when it is not one.
pub fn normalize_number(text: &str) -> Option<String> {
    let trimmed = text.trim();
    let rest = trimmed.strip_prefix('+').or_else(|| trimmed.strip_prefix("00"))?;
    let digits: String = rest.chars().filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.')).collect();
    (digits.len() >= 8 && digits.len() <= 15 && digits.chars().all(|c| c.is_ascii_digit()) && !digits.starts_with('0'))
        .then_some(digits)
}

/// A fresh opt-in code: `WP-` and six digits.
pub fn new_code() -> String {
    let mut bytes = [0u8; 4];
    let _ = getrandom::fill(&mut bytes);
    format!("WP-{:06}", u32::from_le_bytes(bytes) % 1_000_000)
}

/// A message from a person, as Meta's webhook delivers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundText {
    pub from: String,
    pub text: String,
    /// Meta's message id (`wamid.…`), the same on every delivery of one message.
    pub id: String,
    /// When the person sent it (Meta's `timestamp`, in seconds), in milliseconds; 0 when absent.
    pub sent_ms: i64,
}

/// The text messages in a webhook delivery.
pub fn inbound_texts(payload: &Value) -> Vec<InboundText> {
    let mut found = Vec::new();
    for entry in payload["entry"].as_array().into_iter().flatten() {
        for change in entry["changes"].as_array().into_iter().flatten() {
            for message in change["value"]["messages"].as_array().into_iter().flatten() {
                let from = message["from"].as_str().unwrap_or_default().to_string();
                let text = match message["type"].as_str() {
                    Some("text") => message["text"]["body"].as_str().unwrap_or_default(),
                    Some("button") => message["button"]["text"].as_str().unwrap_or_default(),
                    _ => "",
                };
                let sent_s = message["timestamp"].as_str().and_then(|t| t.parse::<i64>().ok()).unwrap_or(0);
                if !from.is_empty() {
                    found.push(InboundText {
                        from,
                        text: text.trim().to_string(),
                        id: message["id"].as_str().unwrap_or_default().to_string(),
                        sent_ms: sent_s.saturating_mul(1000),
                    });
                }
            }
        }
    }
    found
}

/// How old a webhook message may be, and how far ahead of this clock, to be acted on.
pub const MESSAGE_MAX_AGE_MS: i64 = 10 * 60_000;

/// Refuses a signed webhook message delivered a second time: a captured "disarm" posted again
/// must not disarm again. A message is acted on once, by its id, and only while it is fresh
/// ([`MESSAGE_MAX_AGE_MS`]); the ids of fresh messages are remembered in memory, which is enough
/// because anything older is refused by its timestamp.
#[derive(Default)]
pub struct ReplayGuard {
    seen: std::sync::Mutex<std::collections::HashMap<String, i64>>,
}

impl ReplayGuard {
    /// `Ok` the first time a fresh message is seen; otherwise why it is ignored.
    pub fn admit(&self, message: &InboundText, now_ms: i64) -> Result<(), &'static str> {
        if message.id.is_empty() || message.sent_ms == 0 {
            return Err("it has no message id or time");
        }
        if now_ms - message.sent_ms > MESSAGE_MAX_AGE_MS {
            return Err("it is too old (a replay, or delivered late)");
        }
        if message.sent_ms - now_ms > MESSAGE_MAX_AGE_MS {
            return Err("its time is in the future");
        }
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.retain(|_, sent_ms| now_ms - *sent_ms <= MESSAGE_MAX_AGE_MS);
        if seen.insert(message.id.clone(), message.sent_ms).is_some() {
            return Err("it was delivered before (a replay)");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_checked_against_the_app_secret() {
        // HMAC-SHA256("It's a Secret to Everybody", "Hello, World!"), GitHub's documented example.
        let good = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert!(verify_signature("It's a Secret to Everybody", b"Hello, World!", good));
        assert!(!verify_signature("another secret", b"Hello, World!", good));
        assert!(!verify_signature("It's a Secret to Everybody", b"Hello, World?", good));
        assert!(!verify_signature("It's a Secret to Everybody", b"Hello, World!", "sha1=757107ea"));
        assert!(!verify_signature("It's a Secret to Everybody", b"Hello, World!", "sha256=zz"));
    }

    #[test]
    fn numbers_are_written_as_whatsapp_names_them() {
        assert_eq!(normalize_number("+49 151 1234-5678").as_deref(), Some("4915112345678"));
        assert_eq!(normalize_number("0044 (20) 7946 0958").as_deref(), Some("442079460958"));
        for bad in ["015112345678", "+49", "+49 151 abc", "", "+0049151123456"] {
            assert_eq!(normalize_number(bad), None, "{bad:?}");
        }
        let code = new_code();
        assert!(code.starts_with("WP-") && code.len() == 9, "{code}");
    }

    #[test]
    fn outside_the_window_the_template_carries_the_alert() {
        let alert = AlertView::test("http://nas:8080");
        let inside = message(&alert, "4915112345678", Some("m1"), true, "watchpost_alert", "en");
        assert_eq!(inside["type"], "image");
        assert_eq!(inside["image"]["id"], "m1");
        assert!(inside["image"]["caption"].as_str().unwrap().contains("Test alert"));
        let outside = message(&alert, "4915112345678", Some("m1"), false, "watchpost_alert", "de");
        assert_eq!(outside["type"], "template");
        assert_eq!(outside["template"]["name"], "watchpost_alert");
        assert_eq!(outside["template"]["language"]["code"], "de");
        let components = outside["template"]["components"].as_array().unwrap();
        assert_eq!(components[0]["parameters"][0]["image"]["id"], "m1");
        let texts: Vec<&str> =
            components[1]["parameters"].as_array().unwrap().iter().map(|p| p["text"].as_str().unwrap()).collect();
        assert_eq!(texts.len(), 4);
        assert!(texts[0].starts_with("MEDIUM Person — Test camera"), "{texts:?}");
        assert!(texts.iter().all(|t| !t.contains('\n')), "template parameters hold no new lines: {texts:?}");
        assert_eq!(texts[3], "http://nas:8080/events");
    }

    #[test]
    fn webhook_messages_are_read_from_meta_s_envelope() {
        let payload = json!({
            "object": "whatsapp_business_account",
            "entry": [{ "id": "1", "changes": [{ "field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": { "display_phone_number": "4930123456", "phone_number_id": "111" },
                "contacts": [{ "profile": { "name": "Anna" }, "wa_id": "4915112345678" }],
                "messages": [
                    { "from": "4915112345678", "id": "wamid.1", "timestamp": "1763850000", "type": "text", "text": { "body": " WP-123456 " } },
                    { "from": "4915112345678", "id": "wamid.2", "timestamp": "1763850001", "type": "image", "image": { "id": "x" } },
                ],
            }}]}],
        });
        let message = |text: &str, id: &str, sent_ms| InboundText {
            from: "4915112345678".into(),
            text: text.into(),
            id: id.into(),
            sent_ms,
        };
        assert_eq!(
            inbound_texts(&payload),
            [message("WP-123456", "wamid.1", 1_763_850_000_000), message("", "wamid.2", 1_763_850_001_000)]
        );
        assert!(inbound_texts(&json!({ "entry": "nonsense" })).is_empty());
    }

    #[test]
    fn a_message_is_acted_on_once_and_only_while_fresh() {
        let guard = ReplayGuard::default();
        let now = 1_763_850_000_000;
        let message =
            |id: &str, sent_ms| InboundText { from: "49151".into(), text: "disarm".into(), id: id.into(), sent_ms };
        assert!(guard.admit(&message("wamid.1", now - 1000), now).is_ok());
        assert!(guard.admit(&message("wamid.1", now - 1000), now + 5000).is_err(), "the same message again");
        assert!(guard.admit(&message("wamid.2", now - MESSAGE_MAX_AGE_MS - 1), now).is_err(), "too old");
        assert!(guard.admit(&message("wamid.3", now + MESSAGE_MAX_AGE_MS + 1), now).is_err(), "from the future");
        assert!(guard.admit(&message("", now), now).is_err(), "no id");
        assert!(guard.admit(&message("wamid.4", now), now).is_ok());
        let later = now + MESSAGE_MAX_AGE_MS + 2000;
        assert!(guard.admit(&message("wamid.1", now - 1000), later).is_err(), "forgotten ids are refused by age");
        assert!(guard.admit(&message("wamid.5", later), later).is_ok());
        assert_eq!(guard.seen.lock().unwrap().len(), 1, "old ids are forgotten");
    }
}
