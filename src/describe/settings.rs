//! The `[describe]` section: which vision-language model describes events, how, and within what
//! budget, and how a camera's own `describe` settings change it.

use crate::camera::settings::CameraDescribe;
use crate::checks::{Checks, ConfigIssue};
use crate::model::DescribeProvider;
use crate::secret::Secret;
use serde::{Deserialize, Serialize};

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
        let mut checks = Checks::default();
        if self.provider != DescribeProvider::None {
            if self.model.trim().is_empty() {
                checks.push(
                    "model",
                    "is needed with a provider; e.g. \"gpt-4o-mini\", \"llava\" or \"gemini-2.0-flash\"",
                );
            }
            let base = self.base_url();
            if url::Url::parse(&base).map(|u| !matches!(u.scheme(), "http" | "https")).unwrap_or(true) {
                checks.push(
                    "base_url",
                    format!("{base:?} is not an http(s) address; e.g. \"http://192.168.1.5:11434/v1\""),
                );
            }
        }
        checks.range("timeout_secs", self.timeout_secs, 1..=600, "");
        checks.range("concurrency", self.concurrency, 1..=16, "");
        checks.range("retries", self.retries, 0..=10, "");
        checks.range("alert_wait_secs", self.alert_wait_secs, 0..=60, " (an alert should not wait longer)");
        for (key, prompt) in std::iter::once(("prompt".to_string(), &self.prompt))
            .chain(self.label_prompts.iter().map(|(label, p)| (format!("label_prompts.{label}"), p)))
        {
            if prompt.trim().is_empty() {
                checks.push(&key, "is empty; write the request, or remove the key for the default");
            }
        }
        checks.into_issues()
    }
}
