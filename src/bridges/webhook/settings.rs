//! The `[[webhooks]]` list: addresses that get every alert as signed JSON.

use crate::checks::{Checks, ConfigIssue};
use crate::secret::Secret;
use serde::{Deserialize, Serialize};

/// One receiver of alerts as JSON, signed with its own secret.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Where alerts are POSTed.
    pub url: String,
    /// The HMAC-SHA256 key of the `X-Watchpost-Signature` header (16 characters at least).
    pub secret: Secret,
}

/// An alert not delivered within this many hours is given up (and shown as failed).
pub const GIVE_UP_HOURS: u32 = 24;

/// The shortest secret accepted: shorter ones can be guessed.
const MIN_SECRET: usize = 16;

/// Checks every `[[webhooks]]` entry; keys come back as `webhooks[i].key`.
pub fn validate_all(webhooks: &[WebhookConfig]) -> Vec<ConfigIssue> {
    let mut checks = Checks::default();
    let mut seen = std::collections::HashSet::new();
    for (index, hook) in webhooks.iter().enumerate() {
        let key = |name: &str| format!("webhooks[{index}].{name}");
        let url = hook.url.trim();
        if url::Url::parse(url).ok().filter(|u| matches!(u.scheme(), "http" | "https")).is_none() {
            checks.push(key("url"), format!("{url:?} is not an http(s) URL"));
        } else if !seen.insert(url) {
            checks.push(key("url"), format!("{url:?} is listed twice; each receiver once"));
        }
        if hook.secret.expose().chars().count() < MIN_SECRET {
            checks.push(
                key("secret"),
                format!("is shorter than {MIN_SECRET} characters; use a long random one (openssl rand -hex 32)"),
            );
        }
    }
    checks.into_issues()
}
