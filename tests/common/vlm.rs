//! A fake vision-language model API over real HTTP on 127.0.0.1: it records every request (path,
//! headers, JSON body) and answers from a script (status, body, delay, Retry-After), so tests can
//! check what Watchpost really sent and drive its retry, time-out and budget paths. It speaks
//! whatever API the scripted bodies are in: OpenAI chat completions or Gemini generateContent.

use std::collections::{HashMap, VecDeque};
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub delay: Duration,
    pub retry_after: Option<u64>,
}

impl Reply {
    pub fn ok(body: serde_json::Value) -> Self {
        Self { status: 200, body: body.to_string(), delay: Duration::ZERO, retry_after: None }
    }

    pub fn status(status: u16) -> Self {
        Self { status, body: format!("{{\"error\":{{\"code\":{status}}}}}"), delay: Duration::ZERO, retry_after: None }
    }

    /// An OpenAI chat completion whose message is `content`.
    pub fn openai(content: &str) -> Self {
        Self::ok(serde_json::json!({
            "id": "chatcmpl-1", "object": "chat.completion", "model": "test",
            "choices": [{ "index": 0, "finish_reason": "stop", "message": { "role": "assistant", "content": content } }],
        }))
    }

    /// A Gemini answer whose text is `text`.
    pub fn gemini(text: &str) -> Self {
        Self::ok(serde_json::json!({
            "candidates": [{ "content": { "role": "model", "parts": [{ "text": text }] }, "finishReason": "STOP" }],
        }))
    }
}

#[derive(Debug, Clone)]
pub struct Request {
    pub path: String,
    /// Lowercase names.
    pub headers: HashMap<String, String>,
    pub body: serde_json::Value,
}

pub struct FakeModel {
    pub port: u16,
    pub requests: Arc<Mutex<Vec<Request>>>,
    script: Arc<Mutex<VecDeque<Reply>>>,
}

impl FakeModel {
    /// Answers from `script` in order, then with `otherwise` for ever.
    pub fn start(script: Vec<Reply>, otherwise: Reply) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests: Arc<Mutex<Vec<Request>>> = Arc::default();
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        std::thread::spawn({
            let (requests, script) = (requests.clone(), script.clone());
            move || {
                for stream in listener.incoming().flatten() {
                    let (requests, script, otherwise) = (requests.clone(), script.clone(), otherwise.clone());
                    std::thread::spawn(move || serve(stream, &requests, &script, &otherwise));
                }
            }
        });
        Self { port, requests, script }
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    pub fn unanswered_script(&self) -> usize {
        self.script.lock().unwrap().len()
    }
}

fn serve(
    mut stream: std::net::TcpStream,
    requests: &Mutex<Vec<Request>>,
    script: &Mutex<VecDeque<Reply>>,
    otherwise: &Reply,
) {
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut data = Vec::new();
    let mut buffer = [0u8; 65_536];
    let (head, body) = loop {
        let Ok(n) = stream.read(&mut buffer) else { return };
        if n == 0 {
            return;
        }
        data.extend_from_slice(&buffer[..n]);
        let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
        let head = String::from_utf8_lossy(&data[..end]).into_owned();
        let length: usize = head
            .lines()
            .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
            .unwrap_or(0);
        if data.len() >= end + 4 + length {
            break (head, data[end + 4..end + 4 + length].to_vec());
        }
    };
    let mut lines = head.lines();
    let path = lines.next().and_then(|l| l.split_whitespace().nth(1)).unwrap_or_default().to_string();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    let body = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    requests.lock().unwrap().push(Request { path, headers, body });
    let reply = script.lock().unwrap().pop_front().unwrap_or_else(|| otherwise.clone());
    std::thread::sleep(reply.delay);
    let retry = reply.retry_after.map(|s| format!("Retry-After: {s}\r\n")).unwrap_or_default();
    let response = format!(
        "HTTP/1.1 {} Fake\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{retry}Connection: close\r\n\r\n{}",
        reply.status,
        reply.body.len(),
        reply.body
    );
    let _ = stream.write_all(response.as_bytes());
}
