//! The `[ntfy]` section: a topic on an ntfy server (self-hosted or ntfy.sh) that alerts are
//! published to.

use crate::checks::{Checks, ConfigIssue};
use crate::secret::Secret;
use serde::{Deserialize, Serialize};

/// Alerts published to one ntfy topic, with the snapshot attached.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct NtfyConfig {
    /// The topic's address (`https://ntfy.sh/my-cameras-7f3a`); empty = ntfy off.
    pub topic_url: String,
    /// An access token (`tk_…`) for a protected topic.
    pub token: Option<Secret>,
    /// An alert not delivered within this many hours is given up (and shown as failed).
    #[serde(default = "default_give_up_hours")]
    pub give_up_hours: u32,
}

fn default_give_up_hours() -> u32 {
    24
}

impl NtfyConfig {
    pub fn enabled(&self) -> bool {
        !self.topic_url.trim().is_empty()
    }

    pub fn validate(&self) -> Vec<ConfigIssue> {
        let mut checks = Checks::default();
        if !self.enabled() {
            return checks.into_issues();
        }
        let url = self.topic_url.trim();
        let topic = url::Url::parse(url).ok().filter(|u| matches!(u.scheme(), "http" | "https"));
        match topic {
            None => checks.push(
                "topic_url",
                format!("{url:?} is not an http(s) URL; use the topic's address, e.g. \"https://ntfy.sh/my-cameras\""),
            ),
            Some(topic) if topic.path().trim_matches('/').is_empty() => checks.push(
                "topic_url",
                format!("{url:?} names no topic; add it to the path, e.g. \"{}my-cameras\"", topic.as_str()),
            ),
            Some(_) => {}
        }
        checks.range("give_up_hours", self.give_up_hours, 1..=720, "");
        checks.into_issues()
    }
}
