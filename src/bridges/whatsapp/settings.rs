//! The `[whatsapp]` section: the WhatsApp Cloud API number, app and webhook settings.

use crate::checks::{Checks, ConfigIssue};
use crate::secret::Secret;
use serde::{Deserialize, Serialize};

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
        let mut checks = Checks::default();
        if !self.enabled() {
            return checks.into_issues();
        }
        let set = |secret: &Option<Secret>| secret.as_ref().is_some_and(|s| !s.expose().trim().is_empty());
        if !self.phone_number_id.chars().all(|c| c.is_ascii_digit()) {
            checks.push(
                "phone_number_id",
                format!(
                    "{:?} is not a phone number id; copy the digits from the app's WhatsApp → API Setup page",
                    self.phone_number_id
                ),
            );
        }
        if !set(&self.token) {
            checks.push("token", "is needed to send; use a system user's token (\"${WHATSAPP_TOKEN}\")");
        }
        if !set(&self.app_secret) {
            checks.push(
                "app_secret",
                "is needed to check the webhook's signatures; copy it from the app's Settings → Basic",
            );
        }
        if !set(&self.verify_token) {
            checks.push(
                "verify_token",
                "is needed to set up the webhook; choose any string and enter it in Meta's webhook settings too",
            );
        }
        let digits = self.business_number.trim_start_matches('+');
        if !self.business_number.is_empty() && (digits.len() < 8 || !digits.chars().all(|c| c.is_ascii_digit())) {
            checks.push(
                "business_number",
                format!(
                    "{:?} is not a phone number; write it with its country code, e.g. \"+4930123456\"",
                    self.business_number
                ),
            );
        }
        if !self.api_url.starts_with("http://") && !self.api_url.starts_with("https://") {
            checks.push(
                "api_url",
                format!("{:?} is not an http(s) URL; the default is \"https://graph.facebook.com\"", self.api_url),
            );
        }
        if !self.api_version.starts_with('v') {
            checks.push("api_version", format!("{:?} is not a Graph API version; e.g. \"v21.0\"", self.api_version));
        }
        if self.template.trim().is_empty() {
            checks.push("template", "is empty; name the approved template (integrations/whatsapp/ has one to submit)");
        }
        checks.range("give_up_hours", self.give_up_hours, 1..=720, "");
        checks.into_issues()
    }
}
