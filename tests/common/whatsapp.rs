//! A fake WhatsApp Cloud API over real HTTP on 127.0.0.1: `GET /<version>/<phone id>` (the
//! number), `POST …/media` (multipart upload, answers a media id) and `…/messages` (JSON, answers
//! a message id), with the bearer token checked and Graph-style errors; scripted failures (a 500,
//! a 429 with Retry-After) for the next POSTs. It also signs webhook bodies as Meta does, for tests
//! to post to Watchpost.
//!
//! It is as strict as the Graph API where Watchpost could go wrong: a message needs
//! `messaging_product`, `to` and a known `type`; an image must be a media id uploaded here (as a
//! JPEG, with `messaging_product` and its MIME type); a text or image may go only to a number that
//! wrote within 24 hours (the customer-service window, told by [`FakeWhatsApp::user_writes`]),
//! anything else needs the approved template, checked against `integrations/whatsapp/template.json`
//! (name, language, an image header, as many body parameters as its text has). The real API
//! reports a message outside the window later through the webhook (error 131047); the fake refuses
//! it at once with that code, which a test can see. Refusals are kept in [`FakeWhatsApp::rejected`].

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
    /// When each number last wrote to the business number, in ms.
    last_wrote: std::collections::HashMap<String, i64>,
    /// Graph error messages of requests the real API refuses.
    rejected: Vec<String>,
}

/// How long after a person wrote free-form messages may reach them.
const WINDOW_MS: i64 = 24 * 3_600_000;

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

    pub fn rejected(&self) -> Vec<String> {
        self.state.lock().unwrap().rejected.clone()
    }

    /// `from` writes `text` to the business number now: the webhook delivery to post to Watchpost,
    /// and the start of the number's 24-hour window here.
    pub fn user_writes(&self, from: &str, text: &str) -> String {
        self.user_wrote(from, chrono::Utc::now().timestamp_millis());
        inbound_message(from, text)
    }

    /// `from` last wrote at `at_ms` (its window is counted from then).
    pub fn user_wrote(&self, from: &str, at_ms: i64) {
        self.state.lock().unwrap().last_wrote.insert(from.to_string(), at_ms);
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
/// id of its own (as Meta sends each message). [`FakeWhatsApp::user_writes`] also opens the
/// number's window at the fake.
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
    let refuse = |state: &mut State, code: u32, message: &str| {
        state.rejected.push(message.to_string());
        graph_error(400, code, message)
    };
    if request.path == media {
        let content_type = request.header("content-type").unwrap_or_default();
        let parts = multipart(content_type, &request.body);
        let Some(file) = parts.iter().find(|p| p.name == "file" && p.file_name.is_some()) else {
            return refuse(&mut state, 100, "The parameter file is required.");
        };
        let fields: Vec<(String, String)> = parts
            .iter()
            .filter(|p| p.file_name.is_none())
            .map(|p| (p.name.clone(), String::from_utf8_lossy(&p.data).into_owned()))
            .collect();
        let field = |name: &str| fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
        if field("messaging_product") != Some("whatsapp") {
            return refuse(&mut state, 100, "The parameter messaging_product is required.");
        }
        if field("type") != Some("image/jpeg") || !file.data.starts_with(&[0xFF, 0xD8, 0xFF]) {
            return refuse(&mut state, 131053, "Media upload error: the file is not of the type given");
        }
        state.uploads.push(Upload { jpeg: file.data.clone(), fields });
        let id = format!("media-{}", state.uploads.len());
        return (200, String::new(), serde_json::json!({ "id": id }).to_string());
    }
    let Ok(message) = serde_json::from_slice::<serde_json::Value>(&request.body) else {
        return refuse(&mut state, 100, "Invalid JSON.");
    };
    if let Err((code, why)) = check_message(&message, &state) {
        return refuse(&mut state, code, &why);
    }
    let to = message["to"].as_str().unwrap_or_default().to_string();
    state.messages.push(message);
    let id = format!("wamid.out{}", state.messages.len());
    let body = serde_json::json!({ "messaging_product": "whatsapp", "contacts": [{ "input": to, "wa_id": to }], "messages": [{ "id": id }] });
    (200, String::new(), body.to_string())
}

/// Why the Graph API would refuse this `/messages` body: its error code and message.
fn check_message(message: &serde_json::Value, state: &State) -> Result<(), (u32, String)> {
    let invalid = |why: &str| Err((100, format!("(#100) Invalid parameter: {why}")));
    if message["messaging_product"] != "whatsapp" {
        return Err((100, "The parameter messaging_product is required.".into()));
    }
    let to = message["to"].as_str().unwrap_or_default();
    if to.is_empty() || !to.chars().all(|c| c.is_ascii_digit()) {
        return invalid("to must be a phone number");
    }
    let uploaded = |id: &serde_json::Value| {
        id.as_str()
            .and_then(|id| id.strip_prefix("media-")?.parse::<usize>().ok())
            .is_some_and(|n| (1..=state.uploads.len()).contains(&n))
    };
    let in_window = state.last_wrote.get(to).is_some_and(|at| chrono::Utc::now().timestamp_millis() - at < WINDOW_MS);
    let outside_window = || {
        Err((131047, "Re-engagement message: more than 24 hours have passed since the recipient last replied".into()))
    };
    match message["type"].as_str() {
        Some("text") => {
            let body = message["text"]["body"].as_str().unwrap_or_default();
            if body.trim().is_empty() || body.chars().count() > 4096 {
                return invalid("text.body must be 1 to 4096 characters");
            }
            if !in_window {
                return outside_window();
            }
        }
        Some("image") => {
            if !uploaded(&message["image"]["id"]) {
                return Err((131053, "Media upload error: unknown media id".into()));
            }
            if message["image"]["caption"].as_str().is_some_and(|c| c.chars().count() > 1024) {
                return invalid("image.caption is longer than 1024 characters");
            }
            if !in_window {
                return outside_window();
            }
        }
        Some("template") => check_template(&message["template"], &uploaded)?,
        _ => return invalid("type must be text, image or template"),
    }
    Ok(())
}

/// The template message against the template submitted for approval.
fn check_template(
    template: &serde_json::Value,
    uploaded: &dyn Fn(&serde_json::Value) -> bool,
) -> Result<(), (u32, String)> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("integrations/whatsapp/template.json");
    let approved: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    if template["name"] != approved["name"] || template["language"]["code"] != approved["language"] {
        return Err((132001, "Template name does not exist in the translation".into()));
    }
    let body_text = approved["components"].as_array().unwrap().iter().find(|c| c["type"] == "BODY").unwrap()["text"]
        .as_str()
        .unwrap()
        .to_string();
    let wanted = (1..).take_while(|n| body_text.contains(&format!("{{{{{n}}}}}"))).count();
    let components = template["components"].as_array().cloned().unwrap_or_default();
    let of_type = |kind: &str| components.iter().find(|c| c["type"] == kind).cloned();
    let header_image = of_type("header").and_then(|h| h["parameters"][0]["image"]["id"].as_str().map(str::to_string));
    if !header_image.is_some_and(|id| uploaded(&serde_json::Value::String(id))) {
        return Err((132012, "Parameter format does not match format in the created template: header image".into()));
    }
    let parameters = of_type("body").and_then(|b| b["parameters"].as_array().cloned()).unwrap_or_default();
    if parameters.len() != wanted {
        return Err((132000, format!("Number of parameters does not match the expected number of params ({wanted})")));
    }
    if parameters
        .iter()
        .any(|p| p["text"].as_str().is_none_or(|t| t.trim().is_empty() || t.contains('\n') || t.chars().count() > 1024))
    {
        return Err((132018, "There was an issue with the parameters in your template".into()));
    }
    Ok(())
}
