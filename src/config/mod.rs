//! The configuration file as a whole: loading (TOML, `${VAR}` substitution, `/run/secrets`,
//! `WATCHPOST__SECTION__KEY` overrides), the sections that belong to no one part (`[server]`,
//! `[storage]`), and the one [`Config::validate`] that asks every section to check itself.
//!
//! Each other section is defined, with its defaults and its checks, beside the code that uses
//! it: `[cameras]` and `[ffmpeg]` in `camera::settings`, `[detector]` in `detect`, `[describe]`
//! in `describe::settings`, `[auth]` in `auth`, `[discovery]` in `discovery`, and each bridge's
//! in its bridge. Every key has a default (see `examples/config/full.toml` and `docs/config.md`)
//! and unknown keys are errors.

mod load;

pub use load::{DEFAULT_CONFIG_PATHS, Environment, load, parse};

use crate::auth::AuthConfig;
use crate::bridges::email::settings::EmailConfig;
use crate::bridges::mqtt::settings::MqttConfig;
use crate::bridges::ntfy::settings::NtfyConfig;
use crate::bridges::push::settings::PushConfig;
use crate::bridges::telegram::settings::TelegramConfig;
use crate::bridges::webhook::settings::WebhookConfig;
use crate::bridges::whatsapp::settings::WhatsAppConfig;
use crate::camera::settings::{CameraConfig, FfmpegConfig};
use crate::checks::Checks;
use crate::checks::ConfigIssue;
use crate::describe::settings::DescribeConfig;
use crate::detect::DetectorConfig;
use crate::discovery::DiscoveryConfig;
use crate::reports::settings::ReportConfig;
use crate::secret::Secret;
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
    pub push: PushConfig,
    pub ntfy: NtfyConfig,
    /// `[[webhooks]]`: addresses that get every alert as signed JSON.
    pub webhooks: Vec<WebhookConfig>,
    pub discovery: DiscoveryConfig,
    pub describe: DescribeConfig,
    pub cameras: Vec<CameraConfig>,
    /// `[[reports]]`: daily and weekly PDF reports.
    pub reports: Vec<ReportConfig>,
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

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// `sqlite://FILE` or `postgres://USER:PASS@HOST/DB`; empty = `sqlite://<data-dir>/watchpost.db`.
    pub database_url: Option<Secret>,
    /// Where snapshots are written; empty = `<data-dir>/media`.
    pub media_dir: Option<PathBuf>,
    /// Where recordings are written; empty = `<data-dir>/recordings`.
    pub recordings_dir: Option<PathBuf>,
    /// The most recordings may take, in GB (10⁹ bytes); the oldest go first beyond it. 0 = no cap.
    pub max_size_gb: f64,
    /// Space always left free on the recordings' disk, in GB: the oldest recordings go first to
    /// keep it.
    pub min_free_gb: f64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self { database_url: None, media_dir: None, recordings_dir: None, max_size_gb: 0.0, min_free_gb: 1.0 }
    }
}

impl StorageConfig {
    pub fn database_url(&self, data_dir: &Path) -> String {
        match &self.database_url {
            Some(url) if !url.expose().is_empty() => url.expose().to_string(),
            _ => format!("sqlite://{}/watchpost.db?mode=rwc", data_dir.display()),
        }
    }

    /// Whether the database (SQLite), the media and the recordings all live in the data
    /// directory at their default places (what a restore from the Settings page can replace).
    pub fn default_layout(&self) -> bool {
        self.database_url.as_ref().is_none_or(|url| url.expose().is_empty())
            && self.media_dir.is_none()
            && self.recordings_dir.is_none()
    }

    /// The SQLite database's file, from the URL; `None` for PostgreSQL.
    pub fn sqlite_file(&self, data_dir: &Path) -> Option<PathBuf> {
        let url = self.database_url(data_dir);
        let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
        let path = rest.split('?').next().unwrap_or(rest);
        (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
    }

    pub fn media_dir(&self, data_dir: &Path) -> PathBuf {
        self.media_dir.clone().unwrap_or_else(|| data_dir.join("media"))
    }

    pub fn recordings_dir(&self, data_dir: &Path) -> PathBuf {
        self.recordings_dir.clone().unwrap_or_else(|| data_dir.join("recordings"))
    }
}

impl Config {
    /// Checks every value; returns all problems at once, each naming its key.
    pub fn validate(&self) -> Result<(), Vec<ConfigIssue>> {
        let mut checks = Checks::default();

        if self.server.bind.parse::<std::net::SocketAddr>().is_err() {
            checks.push(
                "server.bind",
                format!(
                    "{:?} is not an address and port; use e.g. \"127.0.0.1:8080\" or \"0.0.0.0:8080\"",
                    self.server.bind
                ),
            );
        }
        if !self.server.base_url.is_empty() {
            match url::Url::parse(&self.server.base_url) {
                Ok(u) if u.scheme() == "http" || u.scheme() == "https" => {}
                _ => checks.push(
                    "server.base_url",
                    format!("{:?} is not an http(s) URL; use e.g. \"http://nas.local:8080\"", self.server.base_url),
                ),
            }
        }
        for (index, entry) in self.server.trusted_proxies.iter().enumerate() {
            if parse_cidr(entry).is_none() {
                checks.push(
                    format!("server.trusted_proxies[{index}]"),
                    format!("{entry:?} is not an address or range; use e.g. \"172.17.0.1\" or \"10.0.0.0/8\""),
                );
            }
        }
        if let Some(url) = &self.storage.database_url {
            let url = url.expose();
            if !(url.is_empty()
                || url.starts_with("sqlite:")
                || url.starts_with("postgres://")
                || url.starts_with("postgresql://"))
            {
                checks.push(
                    "storage.database_url",
                    "must start with sqlite:// or postgres:// (e.g. \"sqlite:///data/watchpost.db\")",
                );
            }
        }
        checks.range("storage.max_size_gb", self.storage.max_size_gb, 0.0..=1_000_000.0, " GB (0 = no cap)");
        checks.range("storage.min_free_gb", self.storage.min_free_gb, 0.0..=100_000.0, " GB");
        checks.nested("detector", self.detector.validate());
        checks.nested("auth", self.auth.validate());
        checks.nested("ffmpeg", self.ffmpeg.validate());
        checks.nested("discovery", self.discovery.validate());
        checks.nested("mqtt", self.mqtt.validate());
        checks.nested("telegram", self.telegram.validate());
        checks.nested("whatsapp", self.whatsapp.validate());
        checks.nested("email", self.email.validate());
        checks.nested("push", self.push.validate());
        checks.nested("ntfy", self.ntfy.validate());
        for issue in crate::bridges::webhook::settings::validate_all(&self.webhooks) {
            checks.push(issue.key, issue.message);
        }
        checks.nested("describe", self.describe.validate());
        for issue in crate::reports::settings::validate_all(&self.reports) {
            checks.push(issue.key, issue.message);
        }
        let mut seen = HashSet::new();
        for (index, camera) in self.cameras.iter().enumerate() {
            let prefix = format!("cameras[{index}]");
            if !seen.insert(camera.id.as_str()) {
                checks.push(
                    format!("{prefix}.id"),
                    format!("{:?} is used by another camera; every camera needs its own id", camera.id),
                );
            }
            checks.nested(&prefix, camera.validate());
            if camera.describe.overrides_model() {
                // Only what the camera changes; the rest is reported under [describe] already.
                let changed = self
                    .describe
                    .for_camera(&camera.describe)
                    .validate()
                    .into_iter()
                    .filter(|issue| matches!(issue.key.as_str(), "provider" | "base_url" | "api_key" | "model"));
                checks.nested(&format!("{prefix}.describe"), changed.collect());
            }
        }
        let issues = checks.into_issues();
        if issues.is_empty() { Ok(()) } else { Err(issues) }
    }
}
