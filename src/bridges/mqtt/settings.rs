//! The `[mqtt]` section: the broker Home Assistant uses, and how Watchpost talks to it.

use crate::checks::{Checks, ConfigIssue};
use crate::secret::Secret;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

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
        let mut checks = Checks::default();
        if self.host.contains(['/', ' ', ':']) && self.host.parse::<std::net::Ipv6Addr>().is_err() {
            checks.push(
                "host",
                format!("{:?} is not a host name or address; use e.g. \"192.168.1.10\" or \"mqtt.lan\"", self.host),
            );
        }
        if self.port == 0 {
            checks.push("port", "0 is not a port; the usual MQTT port is 1883 (8883 with TLS)");
        }
        if self.client_id.is_empty() || self.client_id.len() > 64 || self.client_id.contains(['+', '#', '/']) {
            checks.push("client_id", "must be 1–64 characters without +, # or /; e.g. \"watchpost\"");
        }
        for (key, topic) in [("base_topic", &self.base_topic), ("discovery_prefix", &self.discovery_prefix)] {
            if topic.is_empty() || topic.contains(['+', '#']) || topic.starts_with('/') || topic.ends_with('/') {
                checks.push(
                    key,
                    format!("{topic:?} must be a topic without +, # or a leading or trailing /; e.g. \"watchpost\""),
                );
            }
        }
        if self.ca_file.is_some() && !self.tls {
            checks.push("ca_file", "is set but tls is false; set tls = true or remove ca_file");
        }
        checks.range("picture_interval_secs", self.picture_interval_secs, 0..=3600, "");
        checks.range("outbox_max_messages", self.outbox_max_messages, 100..=1_000_000, "");
        checks.range("outbox_max_age_hours", self.outbox_max_age_hours, 1..=720, "");
        checks.into_issues()
    }
}
