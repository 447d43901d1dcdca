//! The `[push]` section: Web Push to the browsers and installed apps that turned notifications on.

use crate::checks::{Checks, ConfigIssue};
use serde::{Deserialize, Serialize};

/// Web Push (RFC 8030) with this server's own VAPID key; each device subscribes itself from its
/// account page.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PushConfig {
    /// Offer notifications on the account page and send alerts to subscribed devices.
    pub enabled: bool,
    /// Who runs this server, for the push services (`mailto:you@example.com` or an https URL;
    /// Apple's refuses a made-up one). Empty = `[server] base_url` when it is https, else a
    /// placeholder that Google's and Mozilla's services accept.
    pub subject: String,
    /// An alert not delivered within this many hours is given up (and shown as failed).
    pub give_up_hours: u32,
    /// How long a push service keeps an alert for a phone that is off (the `TTL` header).
    pub ttl_hours: u32,
    /// Seconds to wait for a push service.
    pub timeout_secs: u32,
}

impl Default for PushConfig {
    fn default() -> Self {
        Self { enabled: true, subject: String::new(), give_up_hours: 24, ttl_hours: 24, timeout_secs: 30 }
    }
}

/// The subject used when none is set and the UI has no https address.
const PLACEHOLDER_SUBJECT: &str = "mailto:watchpost@example.invalid";

impl PushConfig {
    /// The VAPID `sub` claim: `subject`, else the UI's https address, else a placeholder.
    pub fn subject_for(&self, ui_url: &str) -> String {
        if !self.subject.trim().is_empty() {
            self.subject.trim().to_string()
        } else if ui_url.starts_with("https://") {
            ui_url.to_string()
        } else {
            PLACEHOLDER_SUBJECT.into()
        }
    }

    pub fn validate(&self) -> Vec<ConfigIssue> {
        let mut checks = Checks::default();
        let subject = self.subject.trim();
        if !subject.is_empty() && !subject.starts_with("mailto:") && !subject.starts_with("https://") {
            checks.push(
                "subject",
                format!("{subject:?} is neither a mailto: nor an https: address; use e.g. \"mailto:you@example.com\""),
            );
        }
        checks.range("give_up_hours", self.give_up_hours, 1..=720, "");
        checks.range("ttl_hours", self.ttl_hours, 1..=672, "");
        checks.range("timeout_secs", self.timeout_secs, 1..=300, "");
        checks.into_issues()
    }
}
