//! Typed configuration: what a user can set, its defaults, and one `validate()`.
//!
//! The file is TOML; every key has a default (see `examples/config/full.toml` and
//! `docs/config.md`), unknown keys are errors, and [`load`] layers `${VAR}` substitution and
//! `WATCHPOST__SECTION__KEY` environment overrides on top of the file.

mod load;
mod secret;

pub use load::{DEFAULT_CONFIG_PATHS, Environment, load, parse};
pub use secret::{Secret, join_credentials, redact_text, redact_url, split_credentials, with_credentials};

use crate::detect::motion::MotionConfig;
use crate::detect::{DetectorConfig, PROVIDERS};
use crate::geometry::{Polygon, check_polygon, point_in_polygon};
use crate::model::Severity;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// The whole configuration, after loading and before validation.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub ffmpeg: FfmpegConfig,
    pub auth: AuthConfig,
    pub detector: DetectorConfig,
    pub mqtt: MqttConfig,
    pub telegram: TelegramConfig,
    pub whatsapp: WhatsAppConfig,
    pub email: EmailConfig,
    pub discovery: DiscoveryConfig,
    pub describe: DescribeConfig,
    pub cameras: Vec<CameraConfig>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address and port the web UI and API listen on.
    pub bind: String,
    /// The address users reach the UI at (used in links sent elsewhere); empty = derived from bind.
    pub base_url: String,
    /// Reverse proxies (addresses or CIDR ranges) whose `X-Forwarded-For` and `X-Forwarded-Proto`
    /// headers are believed. From anyone else those headers are ignored.
    pub trusted_proxies: Vec<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self { bind: "127.0.0.1:8080".into(), base_url: String::new(), trusted_proxies: Vec::new() }
    }
}

impl ServerConfig {
    /// Whether `ip` is one of `trusted_proxies` (an exact address or inside a CIDR range).
    pub fn is_trusted_proxy(&self, ip: std::net::IpAddr) -> bool {
        self.trusted_proxies.iter().filter_map(|entry| parse_cidr(entry)).any(|(net, len)| cidr_contains(net, len, ip))
    }
}

/// `10.0.0.0/8`, `192.168.1.5` (a /32) or `fd00::/8`.
fn parse_cidr(entry: &str) -> Option<(std::net::IpAddr, u8)> {
    let (addr, len) = match entry.trim().split_once('/') {
        Some((addr, len)) => (addr.parse::<std::net::IpAddr>().ok()?, Some(len.parse::<u8>().ok()?)),
        None => (entry.trim().parse::<std::net::IpAddr>().ok()?, None),
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = len.unwrap_or(max);
    (len <= max).then_some((addr, len))
}

fn cidr_contains(net: std::net::IpAddr, len: u8, ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    let ip = match (net, ip) {
        (IpAddr::V4(_), IpAddr::V6(v6)) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(IpAddr::V6(v6)),
        _ => ip,
    };
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => {
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - u32::from(len)) };
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) => {
            let mask = if len == 0 { 0 } else { u128::MAX << (128 - u32::from(len)) };
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

/// Finding cameras on the LAN.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DiscoveryConfig {
    /// Interfaces to probe from, by name (`eth0`) or IPv4 address; empty = every interface that is
    /// up, not loopback, and can send multicast.
    pub interfaces: Vec<String>,
    /// Seconds a scan waits for answers.
    pub probe_secs: u32,
    /// Minutes between background scans; 0 = only when asked ("Scan now", `watchpost discover`).
    pub interval_minutes: u32,
    /// Seconds between mDNS looks for ESP32/ESPHome nodes, which keep the nodes' last-seen times
    /// current; 0 = nodes are looked for only by "Scan now" and `watchpost discover`.
    pub node_scan_secs: u32,
    /// A node unseen for this long (no mDNS answer, no message on its event stream) is offline.
    pub node_offline_secs: u32,
}

impl Default for DiscoveryConfig {
    fn default() -> Self {
        Self { interfaces: Vec::new(), probe_secs: 3, interval_minutes: 5, node_scan_secs: 60, node_offline_secs: 180 }
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

/// What picture the model is sent.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum DescribeImage {
    /// The whole snapshot.
    #[default]
    Frame,
    /// The object, cut out with a margin.
    Crop,
    /// Both: the crop first, then the frame for context.
    Both,
}

/// AI descriptions of object events by a vision-language model.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DescribeConfig {
    pub provider: DescribeProvider,
    /// The API's base address; empty = the provider's public one
    /// (`https://api.openai.com/v1`, `https://generativelanguage.googleapis.com/v1beta`).
    /// Ollama: `http://HOST:11434/v1`; llama.cpp / LM Studio / vLLM: `http://HOST:PORT/v1`.
    pub base_url: String,
    /// The model's name at the provider (`gpt-4o-mini`, `llava`, `gemini-2.0-flash`, …).
    pub model: String,
    /// Sent as a bearer token (OpenAI-compatible) or `x-goog-api-key` (Gemini); local servers
    /// usually need none. A secret: `${VLM_API_KEY}` or `/run/secrets`.
    pub api_key: Option<Secret>,
    /// Seconds one request may take.
    pub timeout_secs: u32,
    /// Requests at the same time.
    pub concurrency: u32,
    /// Requests per hour at most (0 = no limit); events over it keep the description written
    /// without AI, and are counted.
    pub max_per_hour: u32,
    /// Further tries after a 429, a 5xx or a timeout, with back-off.
    pub retries: u32,
    pub image: DescribeImage,
    /// Describe again when the event ends, with its final best snapshot.
    pub describe_at_end: bool,
    /// What "normal" is at this site, given to the model with every request.
    pub site_context: String,
    /// The request; placeholders `{camera}`, `{label}`, `{zones}`, `{time}`, `{weekday}`.
    pub prompt: String,
    /// A different request per label (`person = "…"`), with the same placeholders.
    pub label_prompts: std::collections::BTreeMap<String, String>,
    /// The model's threat level raises the event's severity: 1 → warning, 2 → critical.
    pub raise_severity: bool,
    /// Seconds an alert waits for the model's description before it goes without it (the
    /// description then follows as an update). Only where a model describes the camera.
    pub alert_wait_secs: u32,
}

/// The request asked of the model by default.
pub const DEFAULT_DESCRIBE_PROMPT: &str = "This is a snapshot from the security camera \"{camera}\" at {time} on a {weekday}. \
The detector saw a {label} (zones: {zones}). Describe what the {label} is doing in one or two sentences, \
noting anything a home owner would want to know (what they carry, where they go).";

impl Default for DescribeConfig {
    fn default() -> Self {
        Self {
            provider: DescribeProvider::None,
            base_url: String::new(),
            model: String::new(),
            api_key: None,
            timeout_secs: 30,
            concurrency: 2,
            max_per_hour: 60,
            retries: 2,
            image: DescribeImage::Frame,
            describe_at_end: false,
            site_context: String::new(),
            prompt: DEFAULT_DESCRIBE_PROMPT.into(),
            label_prompts: Default::default(),
            raise_severity: true,
            alert_wait_secs: 5,
        }
    }
}

impl DescribeConfig {
    /// How long a camera's alerts wait for a model's description: `alert_wait_secs` where a
    /// model describes the camera's events, else nothing to wait for.
    pub fn alert_wait(&self, camera: &CameraDescribe) -> std::time::Duration {
        let describes = camera.enabled && self.for_camera(camera).provider != DescribeProvider::None;
        std::time::Duration::from_secs(if describes { self.alert_wait_secs.into() } else { 0 })
    }

    /// These settings with a camera's overrides applied.
    pub fn for_camera(&self, camera: &CameraDescribe) -> DescribeConfig {
        let mut config = self.clone();
        if let Some(provider) = camera.provider
            && provider != self.provider
        {
            config.provider = provider;
            config.base_url = String::new();
            config.api_key = None;
        }
        if let Some(base_url) = &camera.base_url {
            config.base_url = base_url.clone();
        }
        if camera.api_key.is_some() {
            config.api_key = camera.api_key.clone();
        }
        if let Some(model) = &camera.model {
            config.model = model.clone();
        }
        config
    }

    /// The base address in use: the configured one, else the provider's public one.
    pub fn base_url(&self) -> String {
        let url = match (self.base_url.trim(), self.provider) {
            ("", DescribeProvider::Openai) => "https://api.openai.com/v1",
            ("", DescribeProvider::Gemini) => "https://generativelanguage.googleapis.com/v1beta",
            (url, _) => url,
        };
        url.trim_end_matches('/').to_string()
    }

    /// Problems with these settings; keys are relative to the section.
    pub fn validate(&self) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        let mut push = |key: &str, message: String| issues.push(ConfigIssue { key: key.into(), message });
        if self.provider != DescribeProvider::None {
            if self.model.trim().is_empty() {
                push(
                    "model",
                    "is needed with a provider; e.g. \"gpt-4o-mini\", \"llava\" or \"gemini-2.0-flash\"".into(),
                );
            }
            let base = self.base_url();
            if url::Url::parse(&base).map(|u| !matches!(u.scheme(), "http" | "https")).unwrap_or(true) {
                push("base_url", format!("{base:?} is not an http(s) address; e.g. \"http://192.168.1.5:11434/v1\""));
            }
        }
        if !(1..=600).contains(&self.timeout_secs) {
            push("timeout_secs", format!("{} is out of range; use 1–600", self.timeout_secs));
        }
        if !(1..=16).contains(&self.concurrency) {
            push("concurrency", format!("{} is out of range; use 1–16", self.concurrency));
        }
        if self.retries > 10 {
            push("retries", format!("{} is out of range; use 0–10", self.retries));
        }
        if self.alert_wait_secs > 60 {
            push(
                "alert_wait_secs",
                format!("{} is out of range; use 0–60 (an alert should not wait longer)", self.alert_wait_secs),
            );
        }
        for (key, prompt) in std::iter::once(("prompt".to_string(), &self.prompt))
            .chain(self.label_prompts.iter().map(|(label, p)| (format!("label_prompts.{label}"), p)))
        {
            if prompt.trim().is_empty() {
                push(&key, "is empty; write the request, or remove the key for the default".into());
            }
        }
        issues
    }
}

/// The MQTT broker Home Assistant uses; Watchpost announces its cameras there by MQTT discovery.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MqttConfig {
    /// The broker's host name or address; empty = MQTT off (it can then be set on the
    /// Integrations page instead).
    pub host: String,
    pub port: u16,
    pub username: String,
    pub password: Option<Secret>,
    /// Connect with TLS (rustls); the broker's certificate is checked against `ca_file`, or the
    /// system's certificate store when that is empty.
    pub tls: bool,
    /// A PEM file with the certificate authority that signed the broker's certificate.
    pub ca_file: Option<PathBuf>,
    /// The MQTT client id; two Watchposts on one broker need different ones.
    pub client_id: String,
    /// Every Watchpost topic starts with this (`watchpost/<camera>/motion`).
    pub base_topic: String,
    /// Home Assistant's discovery prefix (its MQTT integration's setting).
    pub discovery_prefix: String,
    /// Seconds between camera pictures sent for Home Assistant's camera entity (also sent on every
    /// event); 0 = only on events.
    pub picture_interval_secs: u32,
    /// Messages kept while the broker is unreachable; beyond this the oldest are dropped (and counted).
    pub outbox_max_messages: u32,
    /// Messages older than this many hours are dropped instead of delivered late.
    pub outbox_max_age_hours: u32,
}

impl Default for MqttConfig {
    fn default() -> Self {
        Self {
            host: String::new(),
            port: 1883,
            username: String::new(),
            password: None,
            tls: false,
            ca_file: None,
            client_id: "watchpost".into(),
            base_topic: "watchpost".into(),
            discovery_prefix: "homeassistant".into(),
            picture_interval_secs: 10,
            outbox_max_messages: 10_000,
            outbox_max_age_hours: 24,
        }
    }
}

impl MqttConfig {
    pub fn enabled(&self) -> bool {
        !self.host.trim().is_empty()
    }

    /// Problems with these settings; keys are relative to the section (`port`).
    pub fn validate(&self) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        let mut push = |key: &str, message: String| issues.push(ConfigIssue { key: key.into(), message });
        if self.host.contains(['/', ' ', ':']) && self.host.parse::<std::net::Ipv6Addr>().is_err() {
            push(
                "host",
                format!("{:?} is not a host name or address; use e.g. \"192.168.1.10\" or \"mqtt.lan\"", self.host),
            );
        }
        if self.port == 0 {
            push("port", "0 is not a port; the usual MQTT port is 1883 (8883 with TLS)".into());
        }
        if self.client_id.is_empty() || self.client_id.len() > 64 || self.client_id.contains(['+', '#', '/']) {
            push("client_id", "must be 1–64 characters without +, # or /; e.g. \"watchpost\"".into());
        }
        for (key, topic) in [("base_topic", &self.base_topic), ("discovery_prefix", &self.discovery_prefix)] {
            if topic.is_empty() || topic.contains(['+', '#']) || topic.starts_with('/') || topic.ends_with('/') {
                push(
                    key,
                    format!("{topic:?} must be a topic without +, # or a leading or trailing /; e.g. \"watchpost\""),
                );
            }
        }
        if self.ca_file.is_some() && !self.tls {
            push("ca_file", "is set but tls is false; set tls = true or remove ca_file".into());
        }
        if self.picture_interval_secs > 3600 {
            push("picture_interval_secs", format!("{} is out of range; use 0–3600", self.picture_interval_secs));
        }
        if !(100..=1_000_000).contains(&self.outbox_max_messages) {
            push("outbox_max_messages", format!("{} is out of range; use 100–1000000", self.outbox_max_messages));
        }
        if !(1..=720).contains(&self.outbox_max_age_hours) {
            push("outbox_max_age_hours", format!("{} is out of range; use 1–720", self.outbox_max_age_hours));
        }
        issues
    }
}

/// A Telegram bot that sends alerts to listed chats and answers their commands.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TelegramConfig {
    /// The token @BotFather gave (`123456:ABC…`); empty = Telegram off.
    pub bot_token: Option<Secret>,
    /// Chats that get alerts and may command the bot (a person's id, or a group's negative id).
    pub chat_ids: Vec<i64>,
    /// The Bot API server: Telegram's, or a self-hosted `telegram-bot-api`.
    pub api_url: String,
    /// An alert not delivered within this many hours is given up (and shown as failed).
    pub give_up_hours: u32,
}

impl Default for TelegramConfig {
    fn default() -> Self {
        Self { bot_token: None, chat_ids: Vec::new(), api_url: "https://api.telegram.org".into(), give_up_hours: 24 }
    }
}

impl TelegramConfig {
    pub fn enabled(&self) -> bool {
        self.bot_token.as_ref().is_some_and(|t| !t.expose().trim().is_empty())
    }

    pub fn validate(&self) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        let mut push = |key: &str, message: String| issues.push(ConfigIssue { key: key.into(), message });
        if let Some(token) = self.bot_token.as_ref().filter(|_| self.enabled()) {
            let token = token.expose().trim();
            let well_formed = token.split_once(':').is_some_and(|(id, rest)| {
                !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) && !rest.is_empty() && !rest.contains(' ')
            });
            if !well_formed {
                push("bot_token", "is not a bot token; @BotFather's look like \"123456789:AAE…\"".into());
            }
            if self.chat_ids.is_empty() {
                push(
                    "chat_ids",
                    "is empty, so no one gets alerts; add your chat's id (send /start to the bot: it answers with the id)"
                        .into(),
                );
            }
        }
        if !self.api_url.starts_with("http://") && !self.api_url.starts_with("https://")
            || url::Url::parse(&self.api_url).is_err()
        {
            push(
                "api_url",
                format!("{:?} is not an http(s) URL; the default is \"https://api.telegram.org\"", self.api_url),
            );
        }
        if !(1..=720).contains(&self.give_up_hours) {
            push("give_up_hours", format!("{} is out of range; use 1–720", self.give_up_hours));
        }
        issues
    }
}

/// WhatsApp alerts through Meta's WhatsApp Cloud API, to numbers that opted in.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WhatsAppConfig {
    /// The Graph API server.
    pub api_url: String,
    pub api_version: String,
    /// The sending number's id in the Cloud API (not the number itself); empty = WhatsApp off.
    pub phone_number_id: String,
    /// The business number people write to, with its country code (`+4930123456`), for the
    /// `wa.me` opt-in link.
    pub business_number: String,
    /// A system user's access token with `whatsapp_business_messaging`.
    pub token: Option<Secret>,
    /// The Meta app's secret: webhook deliveries are signed with it (`X-Hub-Signature-256`).
    pub app_secret: Option<Secret>,
    /// What Meta sends when the webhook is set up; any string you choose.
    pub verify_token: Option<Secret>,
    /// The approved message template used outside the 24-hour window after the person last wrote.
    pub template: String,
    pub template_language: String,
    /// An alert not delivered within this many hours is given up (and shown as failed).
    pub give_up_hours: u32,
}

impl Default for WhatsAppConfig {
    fn default() -> Self {
        Self {
            api_url: "https://graph.facebook.com".into(),
            api_version: "v21.0".into(),
            phone_number_id: String::new(),
            business_number: String::new(),
            token: None,
            app_secret: None,
            verify_token: None,
            template: "watchpost_alert".into(),
            template_language: "en".into(),
            give_up_hours: 24,
        }
    }
}

impl WhatsAppConfig {
    pub fn enabled(&self) -> bool {
        !self.phone_number_id.trim().is_empty()
    }

    pub fn validate(&self) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        let mut push = |key: &str, message: String| issues.push(ConfigIssue { key: key.into(), message });
        if !self.enabled() {
            return issues;
        }
        let set = |secret: &Option<Secret>| secret.as_ref().is_some_and(|s| !s.expose().trim().is_empty());
        if !self.phone_number_id.chars().all(|c| c.is_ascii_digit()) {
            push(
                "phone_number_id",
                format!(
                    "{:?} is not a phone number id; copy the digits from the app's WhatsApp → API Setup page",
                    self.phone_number_id
                ),
            );
        }
        if !set(&self.token) {
            push("token", "is needed to send; use a system user's token (\"${WHATSAPP_TOKEN}\")".into());
        }
        if !set(&self.app_secret) {
            push(
                "app_secret",
                "is needed to check the webhook's signatures; copy it from the app's Settings → Basic".into(),
            );
        }
        if !set(&self.verify_token) {
            push(
                "verify_token",
                "is needed to set up the webhook; choose any string and enter it in Meta's webhook settings too".into(),
            );
        }
        let digits = self.business_number.trim_start_matches('+');
        if !self.business_number.is_empty() && (digits.len() < 8 || !digits.chars().all(|c| c.is_ascii_digit())) {
            push(
                "business_number",
                format!(
                    "{:?} is not a phone number; write it with its country code, e.g. \"+4930123456\"",
                    self.business_number
                ),
            );
        }
        if !self.api_url.starts_with("http://") && !self.api_url.starts_with("https://") {
            push(
                "api_url",
                format!("{:?} is not an http(s) URL; the default is \"https://graph.facebook.com\"", self.api_url),
            );
        }
        if !self.api_version.starts_with('v') {
            push("api_version", format!("{:?} is not a Graph API version; e.g. \"v21.0\"", self.api_version));
        }
        if self.template.trim().is_empty() {
            push("template", "is empty; name the approved template (integrations/whatsapp/ has one to submit)".into());
        }
        if !(1..=720).contains(&self.give_up_hours) {
            push("give_up_hours", format!("{} is out of range; use 1–720", self.give_up_hours));
        }
        issues
    }
}

/// E-mail alerts over SMTP.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EmailConfig {
    /// The mail server; empty = e-mail off.
    pub smtp_host: String,
    pub smtp_port: u16,
    /// Upgrade the connection with STARTTLS (port 587). With `false` the port must speak TLS from
    /// the start (465) unless `tls = false` too.
    pub starttls: bool,
    /// Use TLS at all; `false` only for a relay on this machine or the LAN.
    pub tls: bool,
    /// Check the server's certificate against this CA (PEM) instead of Mozilla's roots: a mail
    /// server with a certificate of its own CA.
    pub ca_file: Option<PathBuf>,
    pub username: String,
    pub password: Option<Secret>,
    /// The sender (`Watchpost <cameras@example.com>`).
    pub from: String,
    /// The recipients.
    pub to: Vec<String>,
    /// An alert not delivered within this many hours is given up (and shown as failed).
    pub give_up_hours: u32,
    /// Seconds to wait for the server.
    pub timeout_secs: u32,
}

impl Default for EmailConfig {
    fn default() -> Self {
        Self {
            smtp_host: String::new(),
            smtp_port: 587,
            starttls: true,
            tls: true,
            ca_file: None,
            username: String::new(),
            password: None,
            from: String::new(),
            to: Vec::new(),
            give_up_hours: 24,
            timeout_secs: 30,
        }
    }
}

impl EmailConfig {
    pub fn enabled(&self) -> bool {
        !self.smtp_host.trim().is_empty()
    }

    pub fn validate(&self) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        let mut push = |key: &str, message: String| issues.push(ConfigIssue { key: key.into(), message });
        if !self.enabled() {
            return issues;
        }
        if self.smtp_port == 0 {
            push("smtp_port", "0 is not a port; use 587 (STARTTLS), 465 (TLS) or 25".into());
        }
        let mailbox = |text: &str| {
            let address = text.rsplit_once('<').map_or(text, |(_, rest)| rest.trim_end_matches('>'));
            address.split_once('@').is_some_and(|(user, host)| !user.trim().is_empty() && host.contains('.'))
        };
        if !mailbox(&self.from) {
            push("from", format!("{:?} is not an address; use e.g. \"Watchpost <cameras@example.com>\"", self.from));
        }
        if self.to.is_empty() {
            push("to", "is empty; list who gets alerts, e.g. [\"me@example.com\"]".into());
        }
        for (index, to) in self.to.iter().enumerate() {
            if !mailbox(to) {
                push(&format!("to[{index}]"), format!("{to:?} is not an e-mail address"));
            }
        }
        if !self.tls && self.starttls {
            push("starttls", "needs tls = true; set tls = true, or starttls = false for a plain relay".into());
        }
        if self.ca_file.is_some() && !self.tls {
            push("ca_file", "is set but tls is false; set tls = true or remove ca_file".into());
        }
        if !(1..=720).contains(&self.give_up_hours) {
            push("give_up_hours", format!("{} is out of range; use 1–720", self.give_up_hours));
        }
        if !(1..=300).contains(&self.timeout_secs) {
            push("timeout_secs", format!("{} is out of range; use 1–300", self.timeout_secs));
        }
        issues
    }
}

/// Sign-in sessions and API tokens.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// A browser session ends after this many hours without a request.
    pub session_idle_hours: u32,
    /// A browser session ends this many days after sign-in, however active.
    pub session_max_days: u32,
    /// Lifetime of a new API token unless its creator picks another.
    pub token_ttl_days: u32,
    /// How long a re-issued token's predecessor, and tokens signed with a rotated-out key, keep working.
    pub token_grace_hours: u32,
    /// Serve `/metrics` without a token (for a Prometheus on a trusted network).
    pub metrics_public: bool,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            session_idle_hours: 168,
            session_max_days: 30,
            token_ttl_days: 90,
            token_grace_hours: 24,
            metrics_public: false,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// `sqlite://FILE` or `postgres://USER:PASS@HOST/DB`; empty = `sqlite://<data-dir>/watchpost.db`.
    pub database_url: Option<Secret>,
    /// Where snapshots are written; empty = `<data-dir>/media`.
    pub media_dir: Option<PathBuf>,
}

impl StorageConfig {
    pub fn database_url(&self, data_dir: &Path) -> String {
        match &self.database_url {
            Some(url) if !url.expose().is_empty() => url.expose().to_string(),
            _ => format!("sqlite://{}/watchpost.db?mode=rwc", data_dir.display()),
        }
    }

    pub fn media_dir(&self, data_dir: &Path) -> PathBuf {
        self.media_dir.clone().unwrap_or_else(|| data_dir.join("media"))
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FfmpegConfig {
    /// The ffmpeg binary: a name on PATH or an absolute path.
    pub path: String,
    /// Hardware decoding for every camera unless a camera sets its own.
    pub hwaccel: HwAccel,
    /// Seconds without a frame after which ffmpeg is considered stalled and restarted.
    pub stall_timeout_secs: u64,
    /// Longest wait between restarts of a failing camera (the wait doubles from 1 s up to this).
    pub max_retry_delay_secs: u64,
}

impl Default for FfmpegConfig {
    fn default() -> Self {
        Self { path: "ffmpeg".into(), hwaccel: HwAccel::None, stall_timeout_secs: 20, max_retry_delay_secs: 60 }
    }
}

/// Hardware-decode presets; the argument table lives in `camera::ffmpeg`.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum HwAccel {
    #[default]
    None,
    Vaapi,
    Qsv,
    Cuda,
    V4l2m2m,
}

impl HwAccel {
    pub fn name(self) -> &'static str {
        match self {
            HwAccel::None => "none",
            HwAccel::Vaapi => "vaapi",
            HwAccel::Qsv => "qsv",
            HwAccel::Cuda => "cuda",
            HwAccel::V4l2m2m => "v4l2m2m",
        }
    }
}

/// One camera, from the config file or saved from the UI (same shape in both).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CameraConfig {
    /// Short slug used in URLs, topics and file names: lowercase letters, digits, `-` and `_`.
    pub id: String,
    /// Display name; defaults to the id.
    #[serde(default)]
    pub name: String,
    /// `rtsp://…`, `rtsps://…`, `http(s)://…` (MJPEG) or a local video file (looped in real time).
    pub url: String,
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Overrides `[ffmpeg] hwaccel` for this camera.
    #[serde(default)]
    pub hwaccel: Option<HwAccel>,
    #[serde(default)]
    pub detect: DetectConfig,
    #[serde(default)]
    pub motion: MotionConfig,
    #[serde(default)]
    pub objects: ObjectsConfig,
    /// Named areas; an event records the zones its object entered.
    #[serde(default)]
    pub zones: Vec<ZoneConfig>,
    /// This camera's overrides of `[describe]`.
    #[serde(default)]
    pub describe: CameraDescribe,
    /// Which of this camera's events alert, and how severely.
    #[serde(default)]
    pub alerts: AlertPolicy,
}

/// Which of a camera's events alert (besides its alerts switch, its mute and home/away).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AlertPolicy {
    /// Labels that alert; empty = every label the camera tracks.
    pub labels: Vec<String>,
    /// Least score (0–1) an object needs to alert; 0 = any object event.
    pub min_score: f32,
    /// Only objects in one of these zones when their event starts alert; empty = anywhere.
    pub zones: Vec<String>,
    /// The severity when no rule matches. Motion-only events are always `low`.
    pub severity: Severity,
    /// Rules that set the severity by label, zone and time of day; the first that matches wins.
    pub rules: Vec<SeverityRule>,
    /// Seconds after an alert before the same label on this camera alerts again.
    pub cooldown_secs: u32,
    /// The camera's IANA time zone (`Europe/Berlin`) for rules and quiet times; empty = the
    /// server's.
    pub timezone: String,
    /// Weekly quiet times: no alerts from this camera then.
    pub quiet: Vec<QuietTime>,
}

impl Default for AlertPolicy {
    fn default() -> Self {
        Self {
            labels: Vec::new(),
            min_score: 0.0,
            zones: Vec::new(),
            severity: Severity::Medium,
            rules: Vec::new(),
            cooldown_secs: 60,
            timezone: String::new(),
            quiet: Vec::new(),
        }
    }
}

/// `{ days = ["mon", "tue"], from = "08:00", to = "17:00" }`: quiet on those days between those
/// times of the camera's time zone. A range that crosses midnight belongs to the day it starts.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct QuietTime {
    /// `mon` … `sun`; empty = every day.
    #[serde(default)]
    pub days: Vec<String>,
    pub from: String,
    pub to: String,
}

/// The weekday names quiet times use, Monday first.
pub const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// `{ label = "person", zone = "garden", from = "22:00", to = "06:00", severity = "high" }`: every
/// key but `severity` optional; a time range may cross midnight (server's local time).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SeverityRule {
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub zone: Option<String>,
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub to: Option<String>,
    pub severity: Severity,
}

/// `"HH:MM"` as minutes after midnight.
pub fn parse_clock(text: &str) -> Option<u32> {
    let (hours, minutes) = text.trim().split_once(':')?;
    let (hours, minutes): (u32, u32) = (hours.parse().ok()?, minutes.parse().ok()?);
    (hours < 24 && minutes < 60 && text.trim().len() == 5).then_some(hours * 60 + minutes)
}

/// A camera's overrides of `[describe]`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CameraDescribe {
    /// Send this camera's events to the model (when a provider is set).
    pub enabled: bool,
    /// Another provider for this camera (a local model for one camera, a hosted one for
    /// another); its `base_url` and `api_key` then start empty unless set here too.
    pub provider: Option<DescribeProvider>,
    pub base_url: Option<String>,
    pub api_key: Option<Secret>,
    /// Another model.
    pub model: Option<String>,
    /// Another request for this camera (placeholders as `[describe] prompt`).
    pub prompt: Option<String>,
}

impl Default for CameraDescribe {
    fn default() -> Self {
        Self { enabled: true, provider: None, base_url: None, api_key: None, model: None, prompt: None }
    }
}

impl CameraDescribe {
    /// Whether it changes which model describes the camera's events.
    pub fn overrides_model(&self) -> bool {
        self.provider.is_some() || self.base_url.is_some() || self.api_key.is_some() || self.model.is_some()
    }
}

/// A named area of the picture (driveway, garden, porch).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ZoneConfig {
    pub name: String,
    /// Relative `[x, y]` points from `0,0` (top left) to `1,1` (bottom right).
    pub polygon: Polygon,
}

impl ZoneConfig {
    /// Whether a relative point (an object's bottom centre) is inside.
    pub fn contains(&self, point: [f32; 2]) -> bool {
        point_in_polygon(point, &self.polygon)
    }
}

fn default_true() -> bool {
    true
}

impl CameraConfig {
    /// A camera with every other setting at its default.
    pub fn new(id: impl Into<String>, name: impl Into<String>, url: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            url: url.into(),
            enabled: true,
            hwaccel: None,
            detect: DetectConfig::default(),
            motion: MotionConfig::default(),
            objects: ObjectsConfig::default(),
            zones: Vec::new(),
            describe: CameraDescribe::default(),
            alerts: AlertPolicy::default(),
        }
    }

    pub fn display_name(&self) -> &str {
        if self.name.is_empty() { &self.id } else { &self.name }
    }
}

/// The size and rate ffmpeg decodes to; everything downstream works on these frames.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DetectConfig {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
}

impl Default for DetectConfig {
    fn default() -> Self {
        Self { width: 640, height: 360, fps: 5 }
    }
}

/// What the object detector looks for on this camera.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ObjectsConfig {
    /// Labels that make events (from the model's labels, e.g. `person`, `car`, `dog`).
    pub track: Vec<String>,
    /// Least score (0–1) for a single detection to count at all.
    pub min_score: f32,
    /// Median of an object's recent scores (0–1) needed before it becomes an event.
    pub threshold: f32,
    /// Areas where objects are ignored: a detection whose box's bottom centre lies inside is dropped.
    pub mask: Vec<Polygon>,
    /// Only objects that enter one of these zones make events; empty = anywhere.
    pub require_zones: Vec<String>,
    /// Per-label settings that override the ones above, e.g. `[cameras.objects.filters.car]`.
    pub filters: std::collections::BTreeMap<String, ObjectFilter>,
}

/// Settings for one label.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ObjectFilter {
    /// Overrides `objects.min_score` for this label.
    pub min_score: Option<f32>,
    /// Overrides `objects.threshold` for this label.
    pub threshold: Option<f32>,
    /// Smallest box, as a fraction of the picture's area (0–1).
    pub min_area: f32,
    /// Largest box, as a fraction of the picture's area (0–1).
    pub max_area: f32,
}

impl Default for ObjectFilter {
    fn default() -> Self {
        Self { min_score: None, threshold: None, min_area: 0.0, max_area: 1.0 }
    }
}

impl ObjectsConfig {
    /// The least score a detection of `label` needs.
    pub fn min_score_for(&self, label: &str) -> f32 {
        self.filters.get(label).and_then(|f| f.min_score).unwrap_or(self.min_score)
    }

    /// The median score a track of `label` needs.
    pub fn threshold_for(&self, label: &str) -> f32 {
        self.filters.get(label).and_then(|f| f.threshold).unwrap_or(self.threshold)
    }

    /// Whether a box covering `area` (fraction of the picture) is a plausible `label`.
    pub fn area_allowed(&self, label: &str, area: f32) -> bool {
        self.filters.get(label).is_none_or(|f| (f.min_area..=f.max_area).contains(&area))
    }
}

impl Default for ObjectsConfig {
    fn default() -> Self {
        Self {
            track: vec!["person".into()],
            min_score: 0.5,
            threshold: 0.7,
            mask: Vec::new(),
            require_zones: Vec::new(),
            filters: Default::default(),
        }
    }
}

/// One problem found by [`Config::validate`]: the key, and a sentence saying what is wrong and allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    pub key: String,
    pub message: String,
}

impl std::fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

impl Config {
    /// Checks every value; returns all problems at once, each naming its key.
    pub fn validate(&self) -> Result<(), Vec<ConfigIssue>> {
        let mut issues = Vec::new();
        let mut push = |key: String, message: String| issues.push(ConfigIssue { key, message });

        if self.server.bind.parse::<std::net::SocketAddr>().is_err() {
            push(
                "server.bind".into(),
                format!(
                    "{:?} is not an address and port; use e.g. \"127.0.0.1:8080\" or \"0.0.0.0:8080\"",
                    self.server.bind
                ),
            );
        }
        if !self.server.base_url.is_empty() {
            match url::Url::parse(&self.server.base_url) {
                Ok(u) if u.scheme() == "http" || u.scheme() == "https" => {}
                _ => push(
                    "server.base_url".into(),
                    format!("{:?} is not an http(s) URL; use e.g. \"http://nas.local:8080\"", self.server.base_url),
                ),
            }
        }
        for (index, entry) in self.server.trusted_proxies.iter().enumerate() {
            if parse_cidr(entry).is_none() {
                push(
                    format!("server.trusted_proxies[{index}]"),
                    format!("{entry:?} is not an address or range; use e.g. \"172.17.0.1\" or \"10.0.0.0/8\""),
                );
            }
        }
        let d = &self.detector;
        if !(1..=64).contains(&d.threads) {
            push("detector.threads".into(), format!("{} is out of range; use 1–64", d.threads));
        }
        for (index, provider) in d.providers.iter().enumerate() {
            if !PROVIDERS.contains(&provider.as_str()) {
                push(
                    format!("detector.providers[{index}]"),
                    format!("{provider:?} is not known; use one of {}", PROVIDERS.join(", ")),
                );
            }
        }
        if d.model.as_os_str().is_empty() {
            push("detector.model".into(), "is empty; use e.g. \"models/yolox_nano.onnx\"".into());
        }
        let a = &self.auth;
        for (key, value, range) in [
            ("auth.session_idle_hours", a.session_idle_hours, 1..=8760),
            ("auth.session_max_days", a.session_max_days, 1..=365),
            ("auth.token_ttl_days", a.token_ttl_days, 1..=3650),
            ("auth.token_grace_hours", a.token_grace_hours, 0..=720),
        ] {
            if !range.contains(&value) {
                push(key.into(), format!("{value} is out of range; use {}–{}", range.start(), range.end()));
            }
        }
        if u64::from(a.session_idle_hours) > u64::from(a.session_max_days) * 24 {
            push(
                "auth.session_idle_hours".into(),
                "is longer than auth.session_max_days; lower it or raise session_max_days".into(),
            );
        }
        if let Some(url) = &self.storage.database_url {
            let url = url.expose();
            if !(url.is_empty()
                || url.starts_with("sqlite:")
                || url.starts_with("postgres://")
                || url.starts_with("postgresql://"))
            {
                push(
                    "storage.database_url".into(),
                    "must start with sqlite:// or postgres:// (e.g. \"sqlite:///data/watchpost.db\")".into(),
                );
            }
        }
        if self.ffmpeg.path.trim().is_empty() {
            push("ffmpeg.path".into(), "is empty; use \"ffmpeg\" or the full path to the binary".into());
        }
        if self.ffmpeg.stall_timeout_secs < 2 || self.ffmpeg.stall_timeout_secs > 600 {
            push(
                "ffmpeg.stall_timeout_secs".into(),
                format!("{} is out of range; use 2–600 seconds", self.ffmpeg.stall_timeout_secs),
            );
        }
        if self.ffmpeg.max_retry_delay_secs == 0 || self.ffmpeg.max_retry_delay_secs > 3600 {
            push(
                "ffmpeg.max_retry_delay_secs".into(),
                format!("{} is out of range; use 1–3600 seconds", self.ffmpeg.max_retry_delay_secs),
            );
        }

        if !(1..=60).contains(&self.discovery.probe_secs) {
            push(
                "discovery.probe_secs".into(),
                format!("{} is out of range; use 1–60 seconds", self.discovery.probe_secs),
            );
        }
        if self.discovery.interval_minutes > 10_080 {
            push(
                "discovery.interval_minutes".into(),
                format!("{} is out of range; use 0 (off) to 10080 (a week)", self.discovery.interval_minutes),
            );
        }
        let discovery = &self.discovery;
        if discovery.node_scan_secs > 3600 {
            push(
                "discovery.node_scan_secs".into(),
                format!("{} is out of range; use 0 (off) to 3600 seconds", discovery.node_scan_secs),
            );
        } else if discovery.node_scan_secs > 0
            && discovery.node_offline_secs <= discovery.node_scan_secs + discovery.probe_secs
        {
            push(
                "discovery.node_offline_secs".into(),
                format!(
                    "{} is too short: a node would look offline between two looks; use more than node_scan_secs + probe_secs ({} s)",
                    discovery.node_offline_secs,
                    discovery.node_scan_secs + discovery.probe_secs
                ),
            );
        }
        for issue in self.mqtt.validate() {
            push(format!("mqtt.{}", issue.key), issue.message);
        }
        for issue in self.telegram.validate() {
            push(format!("telegram.{}", issue.key), issue.message);
        }
        for issue in self.whatsapp.validate() {
            push(format!("whatsapp.{}", issue.key), issue.message);
        }
        for issue in self.email.validate() {
            push(format!("email.{}", issue.key), issue.message);
        }
        for issue in self.describe.validate() {
            push(format!("describe.{}", issue.key), issue.message);
        }
        for (index, camera) in self.cameras.iter().enumerate() {
            if camera.describe.overrides_model() {
                // Only what the camera changes; the rest is reported under [describe] already.
                for issue in self.describe.for_camera(&camera.describe).validate() {
                    if matches!(issue.key.as_str(), "provider" | "base_url" | "api_key" | "model") {
                        push(format!("cameras[{index}].describe.{}", issue.key), issue.message);
                    }
                }
            }
        }

        let mut seen = HashSet::new();
        for (index, camera) in self.cameras.iter().enumerate() {
            let prefix = format!("cameras[{index}]");
            if !seen.insert(camera.id.as_str()) {
                push(
                    format!("{prefix}.id"),
                    format!("{:?} is used by another camera; every camera needs its own id", camera.id),
                );
            }
            for issue in camera.validate() {
                push(format!("{prefix}.{}", issue.key), issue.message);
            }
        }
        if issues.is_empty() { Ok(()) } else { Err(issues) }
    }
}

/// The camera id that names Watchpost's own device in MQTT topics (`watchpost/hub/…`).
pub const RESERVED_CAMERA_ID: &str = "hub";

impl CameraConfig {
    /// Checks one camera; keys in the result are relative to the camera (`detect.fps`).
    pub fn validate(&self) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        let mut push = |key: &str, message: String| issues.push(ConfigIssue { key: key.into(), message });

        let id_ok = !self.id.is_empty()
            && self.id.len() <= 64
            && self.id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !id_ok {
            push(
                "id",
                format!(
                    "{:?} is not a valid id; use 1–64 lowercase letters, digits, '-' or '_' (e.g. \"front-door\")",
                    self.id
                ),
            );
        } else if self.id == RESERVED_CAMERA_ID {
            push(
                "id",
                format!(
                    "{RESERVED_CAMERA_ID:?} is reserved: Home Assistant's topics for Watchpost itself use it; choose another id (e.g. \"hub-camera\")"
                ),
            );
        }
        if self.name.chars().count() > 100 {
            push("name", "is longer than 100 characters".into());
        }
        if let Err(why) = check_source_url(&self.url) {
            push("url", why);
        }
        let d = self.detect;
        if !(16..=3840).contains(&d.width) || !d.width.is_multiple_of(2) {
            push("detect.width", format!("{} is not allowed; use an even number of pixels from 16 to 3840", d.width));
        }
        if !(16..=2160).contains(&d.height) || !d.height.is_multiple_of(2) {
            push("detect.height", format!("{} is not allowed; use an even number of pixels from 16 to 2160", d.height));
        }
        if !(1..=30).contains(&d.fps) {
            push("detect.fps", format!("{} is not allowed; use 1–30 frames per second (5 is usual)", d.fps));
        }
        let m = &self.motion;
        if m.threshold == 0 {
            push("motion.threshold", "0 is not allowed; use 1–255 (25 is usual)".into());
        }
        if !(20..=d.height.max(20)).contains(&m.frame_height) || m.frame_height > 1080 {
            push(
                "motion.frame_height",
                format!(
                    "{} is not allowed; use 20 up to the detect height ({}); 100 is usual",
                    m.frame_height, d.height
                ),
            );
        }
        if !(m.frame_alpha > 0.0 && m.frame_alpha <= 1.0) {
            push(
                "motion.frame_alpha",
                format!("{} is not allowed; use a number above 0 and at most 1 (0.02 is usual)", m.frame_alpha),
            );
        }
        if !(m.lightning_threshold > 0.0 && m.lightning_threshold <= 1.0) {
            push(
                "motion.lightning_threshold",
                format!(
                    "{} is not allowed; use a fraction above 0 and at most 1 (0.8 is usual)",
                    m.lightning_threshold
                ),
            );
        }
        if !(1..=100).contains(&m.start_frames) {
            push("motion.start_frames", format!("{} is not allowed; use 1–100 frames", m.start_frames));
        }
        if !(1..=3600).contains(&m.quiet_secs) {
            push("motion.quiet_secs", format!("{} is not allowed; use 1–3600 seconds", m.quiet_secs));
        }
        let o = &self.objects;
        if !(o.min_score > 0.0 && o.min_score <= 1.0) {
            push(
                "objects.min_score",
                format!("{} is not allowed; use a score above 0 and at most 1 (0.5 is usual)", o.min_score),
            );
        }
        if !(o.threshold >= o.min_score && o.threshold <= 1.0) {
            push(
                "objects.threshold",
                format!(
                    "{} is not allowed; use a score from objects.min_score ({}) to 1 (0.7 is usual)",
                    o.threshold, o.min_score
                ),
            );
        }
        for (index, label) in o.track.iter().enumerate() {
            if label.trim().is_empty() || label.len() > 64 {
                push(&format!("objects.track[{index}]"), "is not a label; use e.g. \"person\" or \"car\"".into());
            }
        }
        for (index, polygon) in m.mask.iter().enumerate() {
            if let Err(why) = check_polygon(polygon) {
                push(&format!("motion.mask[{index}]"), why);
            }
        }
        for (label, filter) in &o.filters {
            let key = |field: &str| format!("objects.filters.{label}.{field}");
            if !o.track.contains(label) {
                push(
                    &format!("objects.filters.{label}"),
                    format!("{label:?} is not in objects.track; add it there or remove these settings"),
                );
            }
            let min = filter.min_score.unwrap_or(o.min_score);
            if let Some(v) = filter.min_score
                && !(v > 0.0 && v <= 1.0)
            {
                push(&key("min_score"), format!("{v} is not allowed; use a score above 0 and at most 1"));
            }
            if let Some(v) = filter.threshold
                && !(v >= min && v <= 1.0)
            {
                push(
                    &key("threshold"),
                    format!("{v} is not allowed; use a score from the label's min_score ({min}) to 1"),
                );
            }
            if !(0.0..=1.0).contains(&filter.min_area)
                || !(0.0..=1.0).contains(&filter.max_area)
                || filter.min_area > filter.max_area
            {
                push(
                    &key("min_area"),
                    format!(
                        "{}–{} is not allowed; use fractions of the picture with 0 ≤ min_area ≤ max_area ≤ 1",
                        filter.min_area, filter.max_area
                    ),
                );
            }
        }
        for (index, polygon) in o.mask.iter().enumerate() {
            if let Err(why) = check_polygon(polygon) {
                push(&format!("objects.mask[{index}]"), why);
            }
        }
        let mut zone_names = HashSet::new();
        for (index, zone) in self.zones.iter().enumerate() {
            let name_ok = !zone.name.is_empty()
                && zone.name.len() <= 64
                && zone.name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
            if !name_ok {
                push(
                    &format!("zones[{index}].name"),
                    format!(
                        "{:?} is not a valid zone name; use 1–64 of a-z, 0-9, - and _ (e.g. \"driveway\")",
                        zone.name
                    ),
                );
            } else if !zone_names.insert(zone.name.as_str()) {
                push(
                    &format!("zones[{index}].name"),
                    format!("{:?} is used by another zone of this camera", zone.name),
                );
            }
            if let Err(why) = check_polygon(&zone.polygon) {
                push(&format!("zones[{index}].polygon"), why);
            }
        }
        let a = &self.alerts;
        for (index, label) in a.labels.iter().enumerate() {
            if !o.track.contains(label) {
                push(
                    &format!("alerts.labels[{index}]"),
                    format!("{label:?} is not tracked by this camera; add it to objects.track or remove it"),
                );
            }
        }
        if !(0.0..=1.0).contains(&a.min_score) {
            push("alerts.min_score", format!("{} is out of range; use 0–1 (0 = any object event)", a.min_score));
        }
        let zone_known = |zone: &str| self.zones.iter().any(|z| z.name == zone);
        for (index, zone) in a.zones.iter().enumerate() {
            if !zone_known(zone) {
                push(&format!("alerts.zones[{index}]"), format!("{zone:?} is not one of this camera's zones"));
            }
        }
        for (index, rule) in a.rules.iter().enumerate() {
            if let Some(zone) = rule.zone.as_deref().filter(|z| !zone_known(z)) {
                push(&format!("alerts.rules[{index}].zone"), format!("{zone:?} is not one of this camera's zones"));
            }
            for (key, clock) in [("from", &rule.from), ("to", &rule.to)] {
                if let Some(clock) = clock.as_deref().filter(|c| parse_clock(c).is_none()) {
                    push(
                        &format!("alerts.rules[{index}].{key}"),
                        format!("{clock:?} is not a time; write it as \"22:30\""),
                    );
                }
            }
            if rule.from.is_some() != rule.to.is_some() {
                push(&format!("alerts.rules[{index}]"), "needs both from and to, or neither".into());
            }
        }
        if !a.timezone.is_empty() && a.timezone.parse::<chrono_tz::Tz>().is_err() {
            push(
                "alerts.timezone",
                format!(
                    "{:?} is not an IANA time zone; use a name like \"Europe/Berlin\" or \"America/New_York\"",
                    a.timezone
                ),
            );
        }
        for (index, quiet) in a.quiet.iter().enumerate() {
            for (key, clock) in [("from", &quiet.from), ("to", &quiet.to)] {
                if parse_clock(clock).is_none() {
                    push(
                        &format!("alerts.quiet[{index}].{key}"),
                        format!("{clock:?} is not a time; write it as \"22:30\""),
                    );
                }
            }
            for day in quiet.days.iter().filter(|d| !WEEKDAYS.contains(&d.as_str())) {
                push(
                    &format!("alerts.quiet[{index}].days"),
                    format!("{day:?} is not a day; use mon, tue, wed, thu, fri, sat, sun"),
                );
            }
        }
        if a.cooldown_secs > 86_400 {
            push("alerts.cooldown_secs", format!("{} is out of range; use 0–86400 seconds", a.cooldown_secs));
        }
        for (index, required) in o.require_zones.iter().enumerate() {
            if !self.zones.iter().any(|z| &z.name == required) {
                push(
                    &format!("objects.require_zones[{index}]"),
                    format!(
                        "{required:?} is not one of this camera's zones; add it under [[cameras.zones]] or remove it"
                    ),
                );
            }
        }
        issues
    }
}

/// Accepts the inputs ingest can read: RTSP(S), HTTP(S) MJPEG, or a local file path.
fn check_source_url(raw: &str) -> Result<(), String> {
    if raw.trim().is_empty() {
        return Err("is empty; use an rtsp://, http:// URL or a path to a video file".into());
    }
    if raw.starts_with('/') || raw.starts_with("./") || raw.starts_with("file:") {
        return Ok(());
    }
    match url::Url::parse(raw) {
        Ok(u)
            if matches!(u.scheme(), "rtsp" | "rtsps" | "http" | "https")
                && u.host_str().is_some_and(|h| !h.is_empty()) =>
        {
            Ok(())
        }
        Ok(u) => Err(format!(
            "{:?} uses the scheme {:?}; use rtsp://, rtsps://, http://, https:// or a file path",
            redact_url(raw),
            u.scheme()
        )),
        Err(err) => {
            Err(format!("{:?} is not a URL ({err}); use e.g. \"rtsp://192.168.1.20:554/stream1\"", redact_url(raw)))
        }
    }
}
