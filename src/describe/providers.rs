//! The vision-language model APIs, behind one trait: OpenAI-compatible chat completions with
//! image parts (OpenAI, Ollama, llama.cpp server, LM Studio, vLLM, DeepSeek) and Google Gemini's
//! `generateContent` with inline image data. A provider knows its wire format; sending, time-outs
//! and telling a retryable failure from a final one are shared.

use crate::describe::settings::DescribeConfig;
use crate::model::DescribeProvider;
use crate::secret::Secret;
use base64::Engine;
use serde_json::{Value, json};
use std::time::Duration;

/// One provider's wire format.
pub trait VisionModel: Send + Sync {
    /// `openai` or `gemini`, for `described_by` and the logs.
    fn kind(&self) -> &'static str;
    /// The request asking `model` to answer `prompt` about the JPEG `images`.
    fn request(
        &self,
        client: &reqwest::Client,
        model: &str,
        system: &str,
        prompt: &str,
        images: &[Vec<u8>],
    ) -> reqwest::RequestBuilder;
    /// The answer's text in a successful response body.
    fn answer_text(&self, body: &Value) -> Option<String>;
}

fn base64(jpeg: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(jpeg)
}

fn post_json(client: &reqwest::Client, url: String, body: &Value) -> reqwest::RequestBuilder {
    client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(serde_json::to_vec(body).unwrap_or_default())
}

/// `POST {base}/chat/completions` with `image_url` parts carrying `data:image/jpeg;base64,…`.
pub struct OpenAiCompatible {
    pub base_url: String,
    pub api_key: Option<Secret>,
}

impl VisionModel for OpenAiCompatible {
    fn kind(&self) -> &'static str {
        "openai"
    }

    fn request(
        &self,
        client: &reqwest::Client,
        model: &str,
        system: &str,
        prompt: &str,
        images: &[Vec<u8>],
    ) -> reqwest::RequestBuilder {
        let mut content = vec![json!({ "type": "text", "text": prompt })];
        content.extend(images.iter().map(|jpeg| {
            json!({ "type": "image_url", "image_url": { "url": format!("data:image/jpeg;base64,{}", base64(jpeg)) } })
        }));
        let body = json!({
            "model": model,
            "messages": [
                { "role": "system", "content": system },
                { "role": "user", "content": content },
            ],
            "max_tokens": 400,
            "temperature": 0.2,
        });
        let request = post_json(client, format!("{}/chat/completions", self.base_url), &body);
        match &self.api_key {
            Some(key) => request.bearer_auth(key.expose()),
            None => request,
        }
    }

    fn answer_text(&self, body: &Value) -> Option<String> {
        body.pointer("/choices/0/message/content")?.as_str().map(str::to_string)
    }
}

/// `POST {base}/models/{model}:generateContent` with `inline_data` parts.
pub struct Gemini {
    pub base_url: String,
    pub api_key: Option<Secret>,
}

impl VisionModel for Gemini {
    fn kind(&self) -> &'static str {
        "gemini"
    }

    fn request(
        &self,
        client: &reqwest::Client,
        model: &str,
        system: &str,
        prompt: &str,
        images: &[Vec<u8>],
    ) -> reqwest::RequestBuilder {
        let mut parts = vec![json!({ "text": prompt })];
        parts.extend(
            images.iter().map(|jpeg| json!({ "inline_data": { "mime_type": "image/jpeg", "data": base64(jpeg) } })),
        );
        let body = json!({
            "systemInstruction": { "parts": [{ "text": system }] },
            "contents": [{ "role": "user", "parts": parts }],
            "generationConfig": { "temperature": 0.2, "maxOutputTokens": 400 },
        });
        let request = post_json(client, format!("{}/models/{model}:generateContent", self.base_url), &body);
        match &self.api_key {
            Some(key) => request.header("x-goog-api-key", key.expose()),
            None => request,
        }
    }

    fn answer_text(&self, body: &Value) -> Option<String> {
        let parts = body.pointer("/candidates/0/content/parts")?.as_array()?;
        let text: String = parts.iter().filter_map(|p| p.get("text").and_then(|t| t.as_str())).collect();
        (!text.is_empty()).then_some(text)
    }
}

/// The configured provider, or `None` when descriptions are written without a model.
pub fn from_config(config: &DescribeConfig) -> Option<Box<dyn VisionModel>> {
    let (base_url, api_key) = (config.base_url(), config.api_key.clone());
    match config.provider {
        DescribeProvider::None => None,
        DescribeProvider::Openai => Some(Box::new(OpenAiCompatible { base_url, api_key })),
        DescribeProvider::Gemini => Some(Box::new(Gemini { base_url, api_key })),
    }
}

/// Why a request gave no answer.
#[derive(Debug, PartialEq)]
pub enum CallError {
    /// Worth trying again (a 429, a 5xx, a time-out, no connection), after `after` if the
    /// provider said so.
    Retry { reason: String, after: Option<Duration> },
    /// Trying again will not help (a wrong key, an unknown model, an unreadable answer).
    Fail(String),
}

/// Sends one request and returns the answer's text.
pub async fn call(
    provider: &dyn VisionModel,
    client: &reqwest::Client,
    model: &str,
    system: &str,
    prompt: &str,
    images: &[Vec<u8>],
    timeout: Duration,
) -> Result<String, CallError> {
    let request = provider.request(client, model, system, prompt, images).timeout(timeout);
    let response = request.send().await.map_err(|e| CallError::Retry {
        reason: if e.is_timeout() { format!("no answer within {} s", timeout.as_secs()) } else { e.to_string() },
        after: None,
    })?;
    let status = response.status();
    let retry_after = crate::http::retry_after(&response);
    let body = tokio::time::timeout(timeout, response.bytes())
        .await
        .map_err(|_| CallError::Retry { reason: format!("no answer within {} s", timeout.as_secs()), after: None })?
        .map_err(|e| CallError::Retry { reason: e.to_string(), after: None })?;
    if status.as_u16() == 429 || status.is_server_error() {
        return Err(CallError::Retry { reason: format!("the provider answered {status}"), after: retry_after });
    }
    if !status.is_success() {
        let said: String = String::from_utf8_lossy(&body).chars().take(200).collect();
        return Err(CallError::Fail(format!("the provider answered {status}: {said}")));
    }
    let json: Value =
        serde_json::from_slice(&body).map_err(|_| CallError::Fail("the provider's answer is not JSON".into()))?;
    provider.answer_text(&json).ok_or_else(|| CallError::Fail("the provider's answer holds no text".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_found_where_each_api_puts_them() {
        let openai = OpenAiCompatible { base_url: String::new(), api_key: None };
        let body = json!({ "choices": [{ "message": { "role": "assistant", "content": "hello" } }] });
        assert_eq!(openai.answer_text(&body).as_deref(), Some("hello"));
        assert_eq!(openai.answer_text(&json!({ "error": {} })), None);
        let gemini = Gemini { base_url: String::new(), api_key: None };
        let body = json!({ "candidates": [{ "content": { "parts": [{ "text": "a " }, { "text": "b" }] } }] });
        assert_eq!(gemini.answer_text(&body).as_deref(), Some("a b"));
        assert_eq!(gemini.answer_text(&json!({ "candidates": [] })), None);
    }
}
