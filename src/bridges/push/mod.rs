//! Push notifications to phones and browsers (Web Push, RFC 8030): each device that turned
//! notifications on from its account page holds a subscription (an endpoint at its browser
//! vendor's push service and its keys). An alert goes to every device whose owner may see the
//! camera, through the alerts outbox ([`super::delivery`]): encrypted for that device
//! ([`webpush::encrypt`]), signed for the push service ([`webpush::PushKeys::authorization`]).
//! A 404 or 410 means the device is gone: its subscription is removed.
//!
//! The message carries what the service worker (`web/static/sw.js`) shows: the headline, time
//! and description, the event's page, and a token ([`webpush::PushKeys::action_token`]) with which
//! it fetches the snapshot and, from the notification's buttons, resolves the event or mutes the
//! camera for an hour, without a session (a phone's may have ended long ago).

pub mod settings;
pub mod webpush;

use super::delivery::{self, AlertSender, SendFailure};
use super::{Bridge, BridgeContext, BridgeHealth, HealthCell};
use crate::alerts::AlertView;
use crate::config::Config;
use crate::db::Db;
use crate::model::{Channel, Severity};
use crate::supervise::CancellationToken;
use futures_util::future::BoxFuture;
use settings::PushConfig;
use std::sync::Arc;
use std::time::Duration;
use webpush::{PushKeys, SubscriptionKeys};

/// How long a notification's action token works: its buttons still act a week later.
pub const ACTION_TOKEN_SECS: i64 = 7 * 24 * 3600;
/// Characters of the description a notification carries (phones show two to four lines).
const BODY_LIMIT: usize = 600;

pub struct PushBridge {
    config: PushConfig,
    context: BridgeContext,
    health: HealthCell,
}

impl PushBridge {
    /// The push bridge unless `[push] enabled = false`.
    pub fn from_config(config: &Config, context: &BridgeContext) -> Option<Arc<dyn Bridge>> {
        let config = config.push.clone();
        if !config.enabled {
            return None;
        }
        let health = HealthCell::new(BridgeHealth::new(Channel::Push, "the devices' push services".into()));
        Some(Arc::new(Self { config, context: context.clone(), health }))
    }

    fn sender(&self) -> Result<PushSender, String> {
        let client = crate::http::client_builder()
            .timeout(Duration::from_secs(u64::from(self.config.timeout_secs)))
            .build()
            .map_err(|err| format!("cannot set up the HTTP client for Web Push: {err}"))?;
        Ok(PushSender {
            client,
            db: self.context.db.clone(),
            keys: self.context.push_keys.clone(),
            subject: self.config.subject_for(&self.context.ui_url),
            ttl_secs: u64::from(self.config.ttl_hours) * 3600,
        })
    }
}

impl Bridge for PushBridge {
    fn channel(&self) -> Channel {
        Channel::Push
    }

    fn health(&self) -> BridgeHealth {
        self.health.get()
    }

    fn run(self: Arc<Self>, cancel: CancellationToken) -> BoxFuture<'static, ()> {
        let bus = self.context.bus.subscribe();
        let sender = self.sender().map(|s| Arc::new(s) as Arc<dyn AlertSender>);
        let (context, health) = (self.context.clone(), self.health.clone());
        // Each device has its own push service: nothing to connect to ahead of time.
        Box::pin(delivery::serve_per_request(sender, context, health, self.config.give_up_hours, bus, cancel))
    }

    fn send_test(&self, alert: AlertView) -> Option<BoxFuture<'static, Result<String, String>>> {
        let sender = self.sender();
        let db = self.context.db.clone();
        Some(Box::pin(async move {
            let sender = sender?;
            let devices = db.push_subscriptions().await.map_err(|err| err.to_string())?;
            if devices.is_empty() {
                return Err("No device has turned notifications on yet: open your account page on the phone and press \"Turn on notifications\".".into());
            }
            let ids: Vec<String> = devices.iter().map(|d| d.id.to_string()).collect();
            let names: std::collections::HashMap<String, String> =
                devices.into_iter().map(|d| (d.id.to_string(), d.name)).collect();
            delivery::send_test_to_each(&sender, &alert, &ids, "device(s)", |id| {
                names.get(id).cloned().unwrap_or_else(|| id.to_string())
            })
            .await
        }))
    }

    fn send_test_to(&self, alert: AlertView, recipient: String) -> Option<BoxFuture<'static, Result<String, String>>> {
        let sender = self.sender();
        Some(Box::pin(async move {
            let sender = sender?;
            match sender.send(&alert, &recipient).await {
                Ok(_) => Ok("Test notification sent.".into()),
                Err(failure) => Err(format!("Test notification not sent: {}", failure.reason)),
            }
        }))
    }
}

/// Sends one alert to one subscribed device.
pub struct PushSender {
    client: reqwest::Client,
    db: Db,
    keys: Arc<PushKeys>,
    subject: String,
    ttl_secs: u64,
}

impl PushSender {
    /// Alert `alert` for subscription `subscription_id`, as the service worker reads it.
    pub fn payload(&self, alert: &AlertView, subscription_id: i64, now_s: i64) -> serde_json::Value {
        let id = alert.event.id;
        let token = self.keys.action_token(subscription_id, id, now_s + ACTION_TOKEN_SECS);
        serde_json::json!({
            "type": "alert",
            "event": id,
            "camera": alert.event.camera,
            "camera_name": alert.camera_name,
            "severity": alert.severity.as_str(),
            "title": format!("{} {}", alert.severity_mark(), alert.headline()),
            "body": alert.summary(BODY_LIMIT),
            "start_ms": alert.event.start_ms,
            // Relative: the service worker opens it on the origin it was installed from.
            "url": if id > 0 { format!("/events/{id}") } else { "/events".to_string() },
            "image": alert.snapshot.as_ref().map(|_| format!("/push/events/{id}/snapshot.jpg")),
            "token": token,
            // The test alert has no event to act on.
            "actions": id > 0,
        })
    }
}

fn urgency(severity: Severity) -> &'static str {
    match severity {
        Severity::High => "high",
        Severity::Medium => "normal",
        Severity::Low => "low",
    }
}

impl AlertSender for PushSender {
    fn channel(&self) -> Channel {
        Channel::Push
    }

    fn send<'a>(
        &'a self,
        alert: &'a AlertView,
        recipient: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, SendFailure>> {
        Box::pin(async move {
            let permanent = |reason: String| SendFailure { reason, retry_after: None, permanent: true };
            let id: i64 = recipient.parse().map_err(|_| permanent(format!("{recipient:?} is not a device")))?;
            let device = match self.db.push_subscription(id).await {
                Ok(Some(device)) => device,
                Ok(None) => return Err(permanent("the device turned notifications off".into())),
                Err(err) => return Err(SendFailure::retry(format!("cannot read the device's subscription: {err}"))),
            };
            let endpoint = url::Url::parse(&device.endpoint)
                .map_err(|_| permanent(format!("the subscription of {:?} has no valid endpoint", device.name)))?;
            let keys = SubscriptionKeys::parse(&device.p256dh, &device.auth)
                .map_err(|reason| permanent(format!("the subscription of {:?}: {reason}", device.name)))?;
            let now_s = chrono::Utc::now().timestamp();
            let payload = self.payload(alert, id, now_s).to_string();
            let body = webpush::encrypt(payload.as_bytes(), &keys).map_err(|err| permanent(err.to_string()))?;
            let response = self
                .client
                .post(endpoint.clone())
                .header("TTL", self.ttl_secs.to_string())
                .header("Urgency", urgency(alert.severity))
                .header(reqwest::header::CONTENT_ENCODING, "aes128gcm")
                .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                .header(reqwest::header::AUTHORIZATION, self.keys.authorization(&endpoint, &self.subject, now_s))
                .body(body)
                .send()
                .await
                // Without the URL: the endpoint is the device's address, not for logs or pages.
                .map_err(|err| {
                    let err = err.without_url();
                    SendFailure::retry(format!("the push service {} cannot be reached: {err}", origin(&endpoint)))
                })?;
            let status = response.status();
            if status.is_success() {
                let _ = self.db.push_subscription_sent(id, chrono::Utc::now().timestamp_millis()).await;
                let location = response.headers().get(reqwest::header::LOCATION).and_then(|v| v.to_str().ok());
                return Ok(location.map(str::to_string));
            }
            let retry_after = crate::http::retry_after(&response);
            let said = response.text().await.unwrap_or_default();
            let said = said.trim().chars().take(200).collect::<String>();
            let reason = format!("the push service {} answered {status}: {said}", origin(&endpoint));
            match status.as_u16() {
                404 | 410 => {
                    let _ = self.db.remove_push_subscription(id, None).await;
                    tracing::info!(device = %device.name, "a device is no longer subscribed; its subscription is removed");
                    Err(permanent(format!("{:?} is no longer subscribed ({status}); removed", device.name)))
                }
                413 => Err(permanent(reason)),
                429 => Err(SendFailure { reason, retry_after, permanent: false }),
                _ => Err(SendFailure::retry(reason)),
            }
        })
    }
}

fn origin(endpoint: &url::Url) -> String {
    endpoint.origin().ascii_serialization()
}
