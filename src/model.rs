//! The domain's vocabulary: the small closed sets of words that events, alerts, cameras and
//! accounts are described with, as types. Stored as the same lowercase strings as always (the
//! database enums below are sea-orm string enums, so no schema changes), parsed strictly where
//! they come from input, and named once here instead of spelled as strings across the crate.
//! A leaf: it names nothing else in the crate.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// How bad an alert is.
#[derive(
    Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, PartialOrd, Ord, Default, EnumIter, DeriveActiveEnum,
)]
#[serde(rename_all = "lowercase")]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)", rename_all = "lowercase")]
pub enum Severity {
    Low,
    #[default]
    Medium,
    High,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }

    /// A severity from input (config, form, query). Stored rows are read by the database enum;
    /// the words before 0.2 (`info`/`warning`/`critical`) were rewritten by migration 10.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "low" => Some(Severity::Low),
            "medium" => Some(Severity::Medium),
            "high" => Some(Severity::High),
            _ => None,
        }
    }
}

/// What made an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, EnumIter, DeriveActiveEnum)]
#[serde(rename_all = "lowercase")]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)", rename_all = "lowercase")]
pub enum EventKind {
    /// Motion alone (no object detector, or motion events asked for).
    Motion,
    /// A tracked object (`label` says which).
    Object,
    /// A node's binary sensor (PIR, door, window); `label` is the sensor.
    Sensor,
}

/// Where a user stands with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, EnumIter, DeriveActiveEnum)]
#[serde(rename_all = "lowercase")]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)", rename_all = "lowercase")]
pub enum EventStatus {
    New,
    Viewed,
    Resolved,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Motion => "motion",
            Self::Object => "object",
            Self::Sensor => "sensor",
        }
    }

    /// A kind from input (a filter); `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Motion, Self::Object, Self::Sensor].into_iter().find(|k| k.as_str() == text)
    }
}

impl EventStatus {
    /// A status from input (form, query, API); `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "new" => Some(Self::New),
            "viewed" => Some(Self::Viewed),
            "resolved" => Some(Self::Resolved),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Viewed => "viewed",
            Self::Resolved => "resolved",
        }
    }
}

/// The channels an alert is delivered on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, EnumIter, DeriveActiveEnum)]
#[serde(rename_all = "lowercase")]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)", rename_all = "lowercase")]
pub enum Channel {
    /// Home Assistant, through the MQTT broker.
    Mqtt,
    Telegram,
    Whatsapp,
    Email,
    /// Web Push to the browsers and installed apps that subscribed.
    Push,
    Ntfy,
    /// Signed JSON to `[[webhooks]]` addresses.
    Webhook,
}

impl Channel {
    pub const ALL: [Self; 7] =
        [Self::Mqtt, Self::Telegram, Self::Whatsapp, Self::Email, Self::Push, Self::Ntfy, Self::Webhook];

    /// The name used in config sections, the database, metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mqtt => "mqtt",
            Self::Telegram => "telegram",
            Self::Whatsapp => "whatsapp",
            Self::Email => "email",
            Self::Push => "push",
            Self::Ntfy => "ntfy",
            Self::Webhook => "webhook",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == text)
    }

    /// The name people know it by.
    pub fn title(self) -> &'static str {
        match self {
            Self::Mqtt => "Home Assistant",
            Self::Telegram => "Telegram",
            Self::Whatsapp => "WhatsApp",
            Self::Email => "E-mail",
            Self::Push => "Push notifications",
            Self::Ntfy => "ntfy",
            Self::Webhook => "Webhooks",
        }
    }
}

impl std::fmt::Display for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How far one alert delivery got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, EnumIter, DeriveActiveEnum)]
#[serde(rename_all = "lowercase")]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)", rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Waiting for its channel (first try or a retry).
    Pending,
    /// Handed to the MQTT outbox, which delivers it when the broker is up.
    Queued,
    Sent,
    /// Given up on.
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Queued => "queued",
            Self::Sent => "sent",
            Self::Failed => "failed",
        }
    }
}

/// Who wrote an event's title and description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DescribedBy {
    /// Written from the detections (no model, or the model failed).
    Rules,
    /// A vision-language model: `<provider>:<model>`.
    Model(String),
}

impl DescribedBy {
    const RULES: &'static str = "rules";

    /// The stored word: `rules` or `<provider>:<model>`.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Rules => Self::RULES,
            Self::Model(name) => name,
        }
    }

    pub fn from_stored(text: &str) -> Self {
        if text == Self::RULES { Self::Rules } else { Self::Model(text.to_string()) }
    }

    pub fn is_rules(&self) -> bool {
        matches!(self, Self::Rules)
    }
}

/// Which vision-language model writes event descriptions.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum DescribeProvider {
    /// No model: a description written from the detections, marked as such.
    #[default]
    None,
    /// OpenAI-compatible chat completions with image parts: OpenAI, Ollama, llama.cpp server,
    /// LM Studio, vLLM, DeepSeek.
    Openai,
    /// Google Gemini `generateContent` with inline image data.
    Gemini,
}

/// What an account may do. Viewers watch and mark events; admins also change settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, EnumIter, DeriveActiveEnum)]
#[serde(rename_all = "lowercase")]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)", rename_all = "lowercase")]
pub enum Role {
    Admin,
    Viewer,
}

impl Role {
    /// A role from input (a form, the command line); `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "admin" => Some(Role::Admin),
            "viewer" => Some(Role::Viewer),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Viewer => "viewer",
        }
    }
}

/// Where a camera's stream stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CameraState {
    Disabled,
    Starting,
    Online,
    Offline,
    Error,
}

impl CameraState {
    pub fn as_str(self) -> &'static str {
        match self {
            CameraState::Disabled => "disabled",
            CameraState::Starting => "starting",
            CameraState::Online => "online",
            CameraState::Offline => "offline",
            CameraState::Error => "error",
        }
    }
}

/// The cameras a user may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CameraScope {
    All,
    /// These only; none when the stored list could not be read (fail closed).
    Only(Vec<String>),
}

impl CameraScope {
    /// The stored form: a JSON list, where an empty list means every camera. A list that cannot
    /// be read gives no camera at all, never every camera.
    pub fn parse(stored: &str) -> Self {
        match serde_json::from_str::<Vec<String>>(stored) {
            Ok(list) if list.is_empty() => CameraScope::All,
            Ok(list) => CameraScope::Only(list),
            Err(err) => {
                tracing::error!(
                    error = %err,
                    "an account's camera list cannot be read; it sees no camera until an administrator saves its cameras again"
                );
                CameraScope::Only(Vec::new())
            }
        }
    }

    /// Whether camera `camera_id` is within the limit.
    pub fn allows(&self, camera_id: &str) -> bool {
        match self {
            CameraScope::All => true,
            CameraScope::Only(list) => list.iter().any(|c| c == camera_id),
        }
    }

    /// In words for lists of accounts: `all`, `none` or the camera ids.
    pub fn describe(&self) -> String {
        match self {
            CameraScope::All => "all".into(),
            CameraScope::Only(list) if list.is_empty() => "none".into(),
            CameraScope::Only(list) => list.join(", "),
        }
    }
}

/// An ESP32 or ESPHome node as it announces itself over mDNS.
//-class device found on the LAN.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Node {
    /// `esphome`, `watchpost-node` or `esp32` (a board with only a web server).
    pub kind: &'static str,
    pub name: String,
    pub host: String,
    pub address: Option<IpAddr>,
    pub port: u16,
    /// 12 lowercase hex digits, when the node gave a valid one.
    pub mac: Option<String>,
    pub firmware: Option<String>,
    pub platform: Option<String>,
    pub board: Option<String>,
    /// For Watchpost nodes: `camera` or `sensor`.
    pub role: Option<String>,
    /// For Watchpost camera nodes: the MJPEG stream and snapshot paths.
    pub stream: Option<String>,
    pub snapshot: Option<String>,
    /// The port of the node's web server (ESPHome's `web_server`, with its `/events` stream),
    /// when the node announces one.
    pub web_port: Option<u16>,
}

impl Node {
    /// The registry's key: the MAC address, else the host name.
    pub fn key(&self) -> String {
        self.mac.clone().unwrap_or_else(|| self.host.clone())
    }
}
