//! ntfy (ntfy.sh or a self-hosted server): each alert is published to the `[ntfy] topic_url`
//! with the snapshot attached, a title, the description, a priority from the severity, tags, and
//! a click that opens the event; from the alerts outbox ([`super::delivery`]), so a server that is
//! down gets it later, once.
//!
//! ntfy reads its fields from headers. Text that is not plain ASCII on one line goes as an RFC 2047
//! encoded word (`=?UTF-8?B?…?=`), which ntfy decodes.

pub mod settings;

use super::delivery::{self, AlertSender, SendFailure};
use super::{Bridge, BridgeContext, BridgeHealth, HealthCell};
use crate::alerts::AlertView;
use crate::config::Config;
use crate::model::{Channel, Severity};
use crate::supervise::CancellationToken;
use base64::Engine;
use futures_util::future::BoxFuture;
use settings::NtfyConfig;
use std::sync::Arc;
use std::time::Duration;

/// Characters of the description a message carries.
const MESSAGE_LIMIT: usize = 1000;

pub struct NtfyBridge {
    config: NtfyConfig,
    context: BridgeContext,
    health: HealthCell,
}

impl NtfyBridge {
    /// The ntfy bridge when `[ntfy] topic_url` is set.
    pub fn from_config(config: &Config, context: &BridgeContext) -> Option<Arc<dyn Bridge>> {
        let config = config.ntfy.clone();
        if !config.enabled() {
            return None;
        }
        let health = HealthCell::new(BridgeHealth::new(Channel::Ntfy, topic_shown(&config.topic_url)));
        Some(Arc::new(Self { config, context: context.clone(), health }))
    }
}

impl Bridge for NtfyBridge {
    fn channel(&self) -> Channel {
        Channel::Ntfy
    }

    fn health(&self) -> BridgeHealth {
        self.health.get()
    }

    fn run(self: Arc<Self>, cancel: CancellationToken) -> BoxFuture<'static, ()> {
        let bus = self.context.bus.subscribe();
        let sender = NtfySender::new(&self.config).map(|s| Arc::new(s) as Arc<dyn AlertSender>);
        let (context, health) = (self.context.clone(), self.health.clone());
        Box::pin(delivery::serve_per_request(sender, context, health, self.config.give_up_hours, bus, cancel))
    }

    fn send_test(&self, alert: AlertView) -> Option<BoxFuture<'static, Result<String, String>>> {
        let config = self.config.clone();
        Some(Box::pin(async move {
            let sender = NtfySender::new(&config)?;
            let topic = config.topic_url.trim().to_string();
            delivery::send_test_to_each(&sender, &alert, std::slice::from_ref(&topic), "ntfy topic", topic_shown).await
        }))
    }
}

struct NtfySender {
    client: reqwest::Client,
    token: Option<String>,
}

impl NtfySender {
    fn new(config: &NtfyConfig) -> Result<Self, String> {
        let client = crate::http::client_builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|err| format!("cannot set up the HTTP client for ntfy: {err}"))?;
        let token = config.token.as_ref().map(|t| t.expose().trim().to_string()).filter(|t| !t.is_empty());
        Ok(Self { client, token })
    }

    async fn send_once(&self, alert: &AlertView, topic: &str, attach: bool) -> Result<reqwest::Response, SendFailure> {
        self.request(alert, topic, attach)
            .send()
            .await
            .map_err(|err| SendFailure::retry(format!("the ntfy server cannot be reached: {}", err.without_url())))
    }

    /// The request for `alert`, with the snapshot attached when `attach`.
    fn request(&self, alert: &AlertView, topic: &str, attach: bool) -> reqwest::RequestBuilder {
        let message = alert.summary(MESSAGE_LIMIT);
        let mut tags = vec![tag(alert.severity).to_string()];
        tags.extend(alert.event.label.clone());
        let mut request = self
            .client
            .put(topic)
            .header("Title", header_text(&alert.headline()))
            .header("Priority", priority(alert.severity))
            .header("Tags", header_text(&tags.join(",")))
            .header("Click", header_text(&alert.url));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        match alert.snapshot.as_ref().filter(|_| attach) {
            Some(jpeg) => request
                .header("Message", header_text(&message))
                .header("Filename", format!("event-{}.jpg", alert.event.id))
                .body(jpeg.clone()),
            None => request.header(reqwest::header::CONTENT_TYPE, "text/plain; charset=utf-8").body(message),
        }
    }

    /// Publishes `alert` to `topic`; a server that takes no attachment this big (413) gets the
    /// text alone.
    async fn publish(&self, alert: &AlertView, topic: &str) -> Result<Option<String>, SendFailure> {
        let mut response = self.send_once(alert, topic, true).await?;
        if response.status() == reqwest::StatusCode::PAYLOAD_TOO_LARGE && alert.snapshot.is_some() {
            tracing::info!("the ntfy server refused the snapshot; the alert goes without it");
            response = self.send_once(alert, topic, false).await?;
        }
        let status = response.status();
        if status.is_success() {
            let answer = response.bytes().await.unwrap_or_default();
            let answer: serde_json::Value = serde_json::from_slice(&answer).unwrap_or_default();
            return Ok(answer["id"].as_str().map(str::to_string));
        }
        let retry_after = crate::http::retry_after(&response);
        let said = response.text().await.unwrap_or_default();
        let said = said.trim().chars().take(200).collect::<String>();
        let reason = format!("the ntfy server answered {status}: {said}");
        Err(match status.as_u16() {
            429 => SendFailure { reason, retry_after, permanent: false },
            // A wrong token or a topic reserved by someone else can be mended meanwhile.
            401 | 403 => SendFailure::retry(format!("{reason} (check [ntfy] token)")),
            400..=499 => SendFailure { reason, retry_after: None, permanent: true },
            _ => SendFailure::retry(reason),
        })
    }
}

impl AlertSender for NtfySender {
    fn channel(&self) -> Channel {
        Channel::Ntfy
    }

    fn send<'a>(
        &'a self,
        alert: &'a AlertView,
        recipient: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, SendFailure>> {
        Box::pin(self.publish(alert, recipient))
    }
}

/// A topic's address as people see it: the server, not the topic's name (on a public server the
/// name is the password).
pub fn topic_shown(topic_url: &str) -> String {
    match url::Url::parse(topic_url.trim()) {
        Ok(url) => format!("{}/…", url.origin().ascii_serialization()),
        Err(_) => "an ntfy topic".into(),
    }
}

/// ntfy's priority: 5 (urgent) for high, 4 for medium, 3 (the default) for low.
fn priority(severity: Severity) -> &'static str {
    match severity {
        Severity::High => "5",
        Severity::Medium => "4",
        Severity::Low => "3",
    }
}

/// The emoji tag shown before the title.
fn tag(severity: Severity) -> &'static str {
    match severity {
        Severity::High => "rotating_light",
        Severity::Medium => "warning",
        Severity::Low => "information_source",
    }
}

/// `text` as a header value: as it is when it is printable ASCII on one line, else one RFC 2047
/// encoded word.
fn header_text(text: &str) -> String {
    if text.bytes().all(|b| (0x20..0x7f).contains(&b)) && !text.starts_with("=?") {
        text.to_string()
    } else {
        format!("=?UTF-8?B?{}?=", base64::engine::general_purpose::STANDARD.encode(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_text_is_plain_when_it_can_be_and_encoded_when_not() {
        assert_eq!(header_text("Person - Driveway"), "Person - Driveway");
        assert_eq!(header_text("Person — Drive"), "=?UTF-8?B?UGVyc29uIOKAlCBEcml2ZQ==?=");
        assert_eq!(header_text("two\nlines"), "=?UTF-8?B?dHdvCmxpbmVz?=");
        assert_eq!(priority(Severity::High), "5");
    }
}
