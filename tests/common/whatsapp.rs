//! A fake WhatsApp Cloud API over real HTTP on 127.0.0.1: `GET /<version>/<phone id>` (the
//! number), `POST …/media` (multipart upload, answers a media id) and `…/messages` (JSON, answers
//! a message id), with the bearer token checked and Graph-style errors; scripted failures (a 500,
//! a 429 with Retry-After) for the next POSTs. It also signs webhook bodies as Meta does, for tests
//! to post to Watchpost.

use super::http_wire::{multipart, read_request};
use hmac::{Hmac, Mac};
use std::collections::VecDeque;
use std::io::Write;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
pub struct Upload {
    pub jpeg: Vec<u8>,
    pub fields: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy)]
pub enum Failure {
    ServerError,
    TooManyRequests { retry_after: u32 },
}

#[derive(Default)]
struct State {
    uploads: Vec<Upload>,
    messages: Vec<serde_json::Value>,
    failures: VecDeque<Failure>,
    refused: u32,
}

pub struct FakeWhatsApp {
    pub port: u16,
    state: Arc<Mutex<State>>,
}

pub const PHONE_NUMBER_ID: &str = "106540352242922";

impl FakeWhatsApp {
    pub fn start(token: &str) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state: Arc<Mutex<State>> = Arc::default();
        std::thread::spawn({
            let (state, token) = (state.clone(), token.to_string());
            move || {
                for stream in listener.incoming().flatten() {
                    let (state, token) = (state.clone(), token.clone());
                    std::thread::spawn(move || serve(stream, &state, &token));
                }
            }
        });
        Self { port, state }
    }

    pub fn api_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn fail_next(&self, failures: &[Failure]) {
        self.state.lock().unwrap().failures.extend(failures);
    }

    pub fn refused(&self) -> u32 {
        self.state.lock().unwrap().refused
    }

    pub fn uploads(&self) -> Vec<Upload> {
        self.state.lock().unwrap().uploads.clone()
    }

    pub fn messages(&self) -> Vec<serde_json::Value> {
        self.state.lock().unwrap().messages.clone()
    }
}

/// `X-Hub-Signature-256` for `body`, as Meta signs webhook deliveries with the app secret.
pub fn sign(app_secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(app_secret.as_bytes()).unwrap();
    mac.update(body);
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// A webhook delivery: `text` written by `from` to the business number just now, with a message
/// id of its own (as Meta sends each message).
pub fn inbound_message(from: &str, text: &str) -> String {
    static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let id = format!("wamid.in{}", NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    let sent = chrono::Utc::now().timestamp().to_string();
    serde_json::json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "2000", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "4930123456", "phone_number_id": PHONE_NUMBER_ID },
            "contacts": [{ "profile": { "name": "Tester" }, "wa_id": from }],
            "messages": [{ "from": from, "id": id, "timestamp": sent, "type": "text", "text": { "body": text } }],
        }}]}],
    })
    .to_string()
}

fn serve(mut stream: std::net::TcpStream, state: &Mutex<State>, token: &str) {
    while let Some(request) = read_request(&mut stream) {
        let (status, headers, body) = answer(&request, state, token);
        let response = format!(
            "HTTP/1.1 {status} Fake\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{headers}\r\n{body}",
            body.len()
        );
        if stream.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

fn graph_error(status: u16, code: u32, message: &str) -> (u16, String, String) {
    let body = serde_json::json!({ "error": { "message": message, "type": "OAuthException", "code": code, "fbtrace_id": "Abc" } });
    (status, String::new(), body.to_string())
}

fn answer(request: &super::http_wire::HttpRequest, state: &Mutex<State>, token: &str) -> (u16, String, String) {
    if request.header("authorization") != Some(&format!("Bearer {token}")) {
        return graph_error(401, 190, "Invalid OAuth access token - Cannot parse access token");
    }
    let media = format!("/v21.0/{PHONE_NUMBER_ID}/media");
    let messages = format!("/v21.0/{PHONE_NUMBER_ID}/messages");
    if request.method == "GET" && request.path == format!("/v21.0/{PHONE_NUMBER_ID}") {
        let number = serde_json::json!({
            "id": PHONE_NUMBER_ID, "display_phone_number": "+49 30 123456",
            "verified_name": "Watchpost Test", "quality_rating": "GREEN",
        });
        return (200, String::new(), number.to_string());
    }
    if request.method != "POST" || (request.path != media && request.path != messages) {
        return graph_error(400, 100, "Unsupported post request.");
    }
    let mut state = state.lock().unwrap();
    if let Some(failure) = state.failures.pop_front() {
        state.refused += 1;
        return match failure {
            Failure::ServerError => graph_error(500, 1, "An unknown error occurred"),
            Failure::TooManyRequests { retry_after } => {
                let (status, _, body) = graph_error(429, 130429, "Rate limit hit");
                (status, format!("Retry-After: {retry_after}\r\n"), body)
            }
        };
    }
    if request.path == media {
        let content_type = request.header("content-type").unwrap_or_default();
        let parts = multipart(content_type, &request.body);
        let Some(file) = parts.iter().find(|p| p.name == "file" && p.file_name.is_some()) else {
            return graph_error(400, 100, "The parameter file is required.");
        };
        let fields = parts
            .iter()
            .filter(|p| p.file_name.is_none())
            .map(|p| (p.name.clone(), String::from_utf8_lossy(&p.data).into_owned()))
            .collect();
        state.uploads.push(Upload { jpeg: file.data.clone(), fields });
        let id = format!("media-{}", state.uploads.len());
        return (200, String::new(), serde_json::json!({ "id": id }).to_string());
    }
    let Ok(message) = serde_json::from_slice::<serde_json::Value>(&request.body) else {
        return graph_error(400, 100, "Invalid JSON.");
    };
    let to = message["to"].as_str().unwrap_or_default().to_string();
    state.messages.push(message);
    let id = format!("wamid.out{}", state.messages.len());
    let body = serde_json::json!({ "messaging_product": "whatsapp", "contacts": [{ "input": to, "wa_id": to }], "messages": [{ "id": id }] });
    (200, String::new(), body.to_string())
}
