//! Webhooks: each alert is POSTed as JSON to every `[[webhooks]]` address, signed so that the
//! receiver can tell it came from this Watchpost and was not changed or replayed:
//!
//! - `X-Watchpost-Timestamp`: seconds since the epoch when it was sent;
//! - `X-Watchpost-Signature`: `sha256=` and the hex HMAC-SHA256, under the webhook's secret, of
//!   the timestamp, a `.`, and the body exactly as received.
//!
//! Sent from the alerts outbox ([`super::delivery`]): a receiver that is down gets the alert later
//! (with a new timestamp and signature), once; `X-Watchpost-Event` lets it drop a repeat.

pub mod settings;

use super::delivery::{self, AlertSender, SendFailure};
use super::{Bridge, BridgeContext, BridgeHealth, HealthCell};
use crate::alerts::AlertView;
use crate::config::Config;
use crate::model::Channel;
use crate::supervise::CancellationToken;
use futures_util::future::BoxFuture;
use hmac::{Hmac, Mac};
use settings::WebhookConfig;
use sha2::Sha256;
use std::sync::Arc;
use std::time::Duration;

pub const TIMESTAMP_HEADER: &str = "X-Watchpost-Timestamp";
pub const SIGNATURE_HEADER: &str = "X-Watchpost-Signature";
pub const EVENT_HEADER: &str = "X-Watchpost-Event";

pub struct WebhookBridge {
    hooks: Vec<WebhookConfig>,
    context: BridgeContext,
    health: HealthCell,
}

impl WebhookBridge {
    /// The webhook bridge when `[[webhooks]]` lists at least one.
    pub fn from_config(config: &Config, context: &BridgeContext) -> Option<Arc<dyn Bridge>> {
        if config.webhooks.is_empty() {
            return None;
        }
        let target = match config.webhooks.len() {
            1 => shown(&config.webhooks[0].url),
            n => format!("{n} addresses"),
        };
        let health = HealthCell::new(BridgeHealth::new(Channel::Webhook, target));
        Some(Arc::new(Self { hooks: config.webhooks.clone(), context: context.clone(), health }))
    }
}

impl Bridge for WebhookBridge {
    fn channel(&self) -> Channel {
        Channel::Webhook
    }

    fn health(&self) -> BridgeHealth {
        self.health.get()
    }

    fn run(self: Arc<Self>, cancel: CancellationToken) -> BoxFuture<'static, ()> {
        let bus = self.context.bus.subscribe();
        let sender = WebhookSender::new(&self.hooks).map(|s| Arc::new(s) as Arc<dyn AlertSender>);
        let (context, health) = (self.context.clone(), self.health.clone());
        Box::pin(delivery::serve_per_request(sender, context, health, settings::GIVE_UP_HOURS, bus, cancel))
    }

    fn send_test(&self, alert: AlertView) -> Option<BoxFuture<'static, Result<String, String>>> {
        let hooks = self.hooks.clone();
        Some(Box::pin(async move {
            let sender = WebhookSender::new(&hooks)?;
            let urls: Vec<String> = hooks.iter().map(|h| h.url.trim().to_string()).collect();
            delivery::send_test_to_each(&sender, &alert, &urls, "webhook(s)", shown).await
        }))
    }
}

/// A webhook's address as logs and pages show it: scheme, host and path, never a query (where
/// some receivers take a key).
pub fn shown(url: &str) -> String {
    match url::Url::parse(url.trim()) {
        Ok(url) => format!("{}{}", url.origin().ascii_serialization(), url.path()),
        Err(_) => "a webhook".into(),
    }
}

/// `sha256=<hex>`: the signature of `body` sent at `timestamp` under `secret`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", crate::auth::hex(&mac.finalize().into_bytes()))
}

/// The JSON body of `alert`.
pub fn body(alert: &AlertView, sent_ms: i64) -> serde_json::Value {
    let event = &alert.event;
    let base = alert.url.rsplit_once("/events").map_or("", |(base, _)| base);
    serde_json::json!({
        "type": "alert",
        "sent_ms": sent_ms,
        "event": {
            "id": event.id,
            "camera": event.camera,
            "camera_name": alert.camera_name,
            "kind": event.kind.as_str(),
            "label": event.label,
            "score": event.score,
            "zones": event.zones,
            "start_ms": event.start_ms,
            "end_ms": event.end_ms,
            "local_time": alert.local_time,
            "severity": alert.severity.as_str(),
            "title": alert.title,
            "description": alert.description,
            "described_by": alert.described_by,
            "url": alert.url,
            "clip_url": alert.clip_url,
            "snapshot_url": event.snapshot.as_ref().map(|_| format!("{base}/api/events/{}/snapshot.jpg", event.id)),
        },
    })
}

struct WebhookSender {
    client: reqwest::Client,
    /// Each address's secret.
    secrets: std::collections::HashMap<String, String>,
}

impl WebhookSender {
    fn new(hooks: &[WebhookConfig]) -> Result<Self, String> {
        let client = crate::http::client_builder()
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("Watchpost/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| format!("cannot set up the HTTP client for webhooks: {err}"))?;
        let secrets = hooks.iter().map(|h| (h.url.trim().to_string(), h.secret.expose().to_string())).collect();
        Ok(Self { client, secrets })
    }
}

impl AlertSender for WebhookSender {
    fn channel(&self) -> Channel {
        Channel::Webhook
    }

    fn send<'a>(
        &'a self,
        alert: &'a AlertView,
        recipient: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, SendFailure>> {
        Box::pin(async move {
            let Some(secret) = self.secrets.get(recipient) else {
                return Err(SendFailure {
                    reason: format!("{} is no longer in [[webhooks]]", shown(recipient)),
                    retry_after: None,
                    permanent: true,
                });
            };
            let now = chrono::Utc::now();
            let body = body(alert, now.timestamp_millis()).to_string().into_bytes();
            let response = self
                .client
                .post(recipient)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(TIMESTAMP_HEADER, now.timestamp().to_string())
                .header(SIGNATURE_HEADER, signature(secret, now.timestamp(), &body))
                .header(EVENT_HEADER, alert.event.id.to_string())
                .body(body)
                .send()
                .await
                .map_err(|err| {
                    SendFailure::retry(format!("{} cannot be reached: {}", shown(recipient), err.without_url()))
                })?;
            let status = response.status();
            if status.is_success() {
                return Ok(None);
            }
            let retry_after = crate::http::retry_after(&response);
            let reason = format!("{} answered {status}", shown(recipient));
            Err(match status.as_u16() {
                429 => SendFailure { reason, retry_after, permanent: false },
                410 => SendFailure { reason, retry_after: None, permanent: true },
                _ => SendFailure::retry(reason),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_covers_timestamp_and_body() {
        // Worked with: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac 'a-long-enough-secret'
        assert_eq!(
            signature("a-long-enough-secret", 1_700_000_000, br#"{"a":1}"#),
            "sha256=0d4a1d9b316bc892d55406462a88e913cbb4b4c151974aa374503f58d0bbdfbe"
        );
    }
}
