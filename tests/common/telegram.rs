//! A fake Telegram Bot API over real HTTP on 127.0.0.1: `/bot<token>/<method>` with JSON or
//! multipart bodies as the real one takes them, answers in its `{"ok": …}` envelope, long-polled
//! `getUpdates` fed by the test (messages and button presses; method names case-insensitive, as
//! there), and scripted failures (a 500, a 429 with `retry_after`) for the sending methods.
//! Everything sent is recorded. It is as strict as the real API where Watchpost could go wrong: a
//! call the real one refuses (no `chat_id`, an empty or too long text or caption, a photo that is
//! not an image, `reply_markup` that is not an inline keyboard, `callback_data` over 64 bytes) is
//! answered with the same 400 and description, and kept in [`FakeTelegram::rejected`].

use super::http_wire::{multipart, read_request};
use std::collections::VecDeque;
use std::io::Write;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// What the bot sent.
#[derive(Debug, Clone)]
pub struct Sent {
    pub method: String,
    pub chat_id: i64,
    /// The message's text or the photo's caption.
    pub text: String,
    /// The photo's or the document's bytes.
    pub photo: Option<Vec<u8>>,
    pub reply_markup: Option<serde_json::Value>,
    /// Other fields (`message_id` of an edit, `callback_query_id`, …).
    pub fields: serde_json::Map<String, serde_json::Value>,
    /// When the request had arrived (Unix milliseconds), for the latency benchmark.
    pub at_ms: i64,
}

/// A scripted answer to the next sending call.
#[derive(Debug, Clone, Copy)]
pub enum Failure {
    ServerError,
    TooManyRequests { retry_after: u32 },
}

#[derive(Default)]
struct State {
    updates: Vec<serde_json::Value>,
    next_update: u64,
    next_message: i64,
    sent: Vec<Sent>,
    failures: VecDeque<Failure>,
    /// Sending calls answered with a failure.
    refused: u32,
    /// The descriptions of requests refused as the real API refuses them (400).
    rejected: Vec<String>,
}

pub struct FakeTelegram {
    pub port: u16,
    pub token: String,
    state: Arc<(Mutex<State>, Condvar)>,
}

impl FakeTelegram {
    pub fn start(token: &str) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state: Arc<(Mutex<State>, Condvar)> = Arc::default();
        state.0.lock().unwrap().next_update = 100;
        state.0.lock().unwrap().next_message = 500;
        std::thread::spawn({
            let (state, token) = (state.clone(), token.to_string());
            move || {
                for stream in listener.incoming().flatten() {
                    let (state, token) = (state.clone(), token.clone());
                    std::thread::spawn(move || serve(stream, &state, &token));
                }
            }
        });
        Self { port, token: token.into(), state }
    }

    pub fn api_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The next sending calls fail like this, in order.
    pub fn fail_next(&self, failures: &[Failure]) {
        self.state.0.lock().unwrap().failures.extend(failures);
    }

    /// Drops the scripted failures not used yet (a soak's outage is over).
    pub fn clear_failures(&self) {
        self.state.0.lock().unwrap().failures.clear();
    }

    pub fn refused(&self) -> u32 {
        self.state.0.lock().unwrap().refused
    }

    /// Requests the real Bot API would refuse, by the description it answers with.
    pub fn rejected(&self) -> Vec<String> {
        self.state.0.lock().unwrap().rejected.clone()
    }

    pub fn sent(&self) -> Vec<Sent> {
        self.state.0.lock().unwrap().sent.clone()
    }

    pub fn sent_by(&self, method: &str) -> Vec<Sent> {
        self.sent().into_iter().filter(|s| s.method == method).collect()
    }

    /// A person in `chat` writes `text` to the bot.
    pub fn user_writes(&self, chat: i64, text: &str) {
        let message = serde_json::json!({
            "message_id": 1, "date": now(), "text": text,
            "chat": { "id": chat, "type": "private", "first_name": "Tester" },
            "from": { "id": chat, "is_bot": false, "first_name": "Tester" },
        });
        self.push_update("message", message);
    }

    /// A person in `chat` presses a button carrying `data` under message `message_id`.
    pub fn user_presses(&self, chat: i64, message_id: i64, data: &str) {
        let query = serde_json::json!({
            "id": format!("cb{message_id}{}", data.len()), "chat_instance": "1", "data": data,
            "from": { "id": chat, "is_bot": false, "first_name": "Tester" },
            "message": {
                "message_id": message_id, "date": now(), "caption": "alert",
                "chat": { "id": chat, "type": "private", "first_name": "Tester" },
                "photo": [{ "file_id": "p", "file_unique_id": "u", "width": 640, "height": 360 }],
            },
        });
        self.push_update("callback_query", query);
    }

    fn push_update(&self, kind: &str, value: serde_json::Value) {
        let (lock, ready) = &*self.state;
        let mut state = lock.lock().unwrap();
        let id = state.next_update;
        state.next_update += 1;
        state.updates.push(serde_json::json!({ "update_id": id, kind: value }));
        ready.notify_all();
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn serve(mut stream: std::net::TcpStream, state: &(Mutex<State>, Condvar), token: &str) {
    while let Some(request) = read_request(&mut stream) {
        let (status, body) = answer(&request, state, token);
        let response = format!(
            "HTTP/1.1 {status} Fake\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if stream.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

/// Why the real Bot API would answer 400 to this call, in its words; `None` when it would take it.
/// Lengths are counted as Telegram counts them, in UTF-16 code units.
fn bad_request(
    method: &str,
    fields: &serde_json::Map<String, serde_json::Value>,
    photo: Option<&[u8]>,
) -> Option<String> {
    let text_of = |key: &str| fields.get(key).and_then(|v| v.as_str()).map(|t| t.encode_utf16().count());
    let has_chat =
        fields.get("chat_id").is_some_and(|v| v.as_i64().is_some() || v.as_str().is_some_and(|s| !s.is_empty()));
    let needs_chat =
        ["sendMessage", "sendPhoto", "sendDocument", "editMessageCaption", "editMessageText"].contains(&method);
    if needs_chat && !has_chat {
        return Some("Bad Request: chat_id is empty".into());
    }
    if method.starts_with("edit") && fields.get("message_id").and_then(|v| v.as_i64()).is_none() {
        return Some("Bad Request: message identifier is not specified".into());
    }
    match method {
        "sendMessage" | "editMessageText" => match fields.get("text").and_then(|v| v.as_str()) {
            None => return Some("Bad Request: message text is empty".into()),
            Some(text) if text.trim().is_empty() => return Some("Bad Request: message text is empty".into()),
            Some(_) if text_of("text") > Some(4096) => return Some("Bad Request: message is too long".into()),
            Some(_) => {}
        },
        "sendPhoto" => match photo {
            None if fields.get("photo").and_then(|v| v.as_str()).is_none() => {
                return Some("Bad Request: there is no photo in the request".into());
            }
            Some(bytes) if !bytes.starts_with(&[0xFF, 0xD8, 0xFF]) => {
                return Some("Bad Request: IMAGE_PROCESS_FAILED".into());
            }
            _ => {}
        },
        "sendDocument" if photo.is_none() && fields.get("document").and_then(|v| v.as_str()).is_none() => {
            return Some("Bad Request: there is no document in the request".into());
        }
        "answerCallbackQuery" => {
            if fields.get("callback_query_id").and_then(|v| v.as_str()).is_none_or(str::is_empty) {
                return Some(
                    "Bad Request: query is too old and response timeout expired or query ID is invalid".into(),
                );
            }
            if text_of("text") > Some(200) {
                return Some("Bad Request: MESSAGE_TOO_LONG".into());
            }
        }
        _ => {}
    }
    if matches!(method, "sendPhoto" | "sendDocument" | "editMessageCaption") && text_of("caption") > Some(1024) {
        return Some("Bad Request: message caption is too long".into());
    }
    if let Some(markup) = fields.get("reply_markup") {
        let Some(rows) = markup.get("inline_keyboard").and_then(|k| k.as_array()) else {
            return Some("Bad Request: can't parse reply keyboard markup JSON object".into());
        };
        for button in rows.iter().flat_map(|row| row.as_array().into_iter().flatten()) {
            if button["text"].as_str().is_none_or(str::is_empty) {
                return Some("Bad Request: text buttons are unallowed in the inline keyboard".into());
            }
            if let Some(data) = button.get("callback_data") {
                let length = data.as_str().map_or(0, str::len);
                if !(1..=64).contains(&length) {
                    return Some("Bad Request: BUTTON_DATA_INVALID".into());
                }
            }
        }
    }
    None
}

fn answer(request: &super::http_wire::HttpRequest, state: &(Mutex<State>, Condvar), token: &str) -> (u16, String) {
    let refuse = |status: u16, description: &str| {
        (status, serde_json::json!({ "ok": false, "error_code": status, "description": description }).to_string())
    };
    let Some(rest) = request.path.strip_prefix(&format!("/bot{token}/")) else {
        return refuse(401, "Unauthorized");
    };
    // Method names are case-insensitive (teloxide sends `SendPhoto`); recorded as documented.
    let known = [
        "getUpdates",
        "sendPhoto",
        "sendDocument",
        "sendMessage",
        "editMessageCaption",
        "editMessageText",
        "answerCallbackQuery",
        "getMe",
    ];
    let method = known.iter().find(|m| m.eq_ignore_ascii_case(rest)).map_or(rest.to_string(), |m| m.to_string());
    let content_type = request.header("content-type").unwrap_or("").to_string();
    // Fields as JSON values, from a JSON body or the form's parts (JSON in text parts decoded).
    let mut fields = serde_json::Map::new();
    let mut photo = None;
    if content_type.starts_with("multipart/form-data") {
        for part in multipart(&content_type, &request.body) {
            if part.file_name.is_some() {
                photo = Some(part.data);
                continue;
            }
            let text = String::from_utf8_lossy(&part.data).into_owned();
            let value = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
            fields.insert(part.name, value);
        }
    } else if let Ok(serde_json::Value::Object(object)) = serde_json::from_slice(&request.body) {
        fields = object;
    }
    let (lock, ready) = state;
    if method == "getUpdates" {
        let offset = fields.get("offset").and_then(|v| v.as_u64()).unwrap_or(0);
        let timeout = fields.get("timeout").and_then(|v| v.as_u64()).unwrap_or(0).min(30);
        let until = Instant::now() + Duration::from_secs(timeout);
        let mut state = lock.lock().unwrap();
        state.updates.retain(|u| u["update_id"].as_u64().unwrap() >= offset);
        while state.updates.is_empty() && Instant::now() < until {
            state = ready.wait_timeout(state, until - Instant::now()).unwrap().0;
        }
        let result = serde_json::Value::Array(state.updates.clone());
        return (200, serde_json::json!({ "ok": true, "result": result }).to_string());
    }
    let mut state = lock.lock().unwrap();
    if let Some(failure) = state.failures.pop_front() {
        state.refused += 1;
        return match failure {
            Failure::ServerError => refuse(500, "Internal Server Error"),
            Failure::TooManyRequests { retry_after } => (
                429,
                serde_json::json!({
                    "ok": false, "error_code": 429,
                    "description": format!("Too Many Requests: retry after {retry_after}"),
                    "parameters": { "retry_after": retry_after },
                })
                .to_string(),
            ),
        };
    }
    if let Some(description) = bad_request(&method, &fields, photo.as_deref()) {
        state.rejected.push(description.clone());
        return refuse(400, &description);
    }
    let chat_id = fields.get("chat_id").and_then(|v| v.as_i64().or_else(|| v.as_str()?.parse().ok())).unwrap_or(0);
    let text =
        ["text", "caption"].iter().find_map(|k| fields.get(*k)?.as_str().map(str::to_string)).unwrap_or_default();
    let reply_markup = fields.get("reply_markup").cloned();
    state.sent.push(Sent {
        method: method.clone(),
        chat_id,
        text: text.clone(),
        photo: photo.clone(),
        reply_markup,
        fields: fields.clone(),
        at_ms: chrono::Utc::now().timestamp_millis(),
    });
    let chat = serde_json::json!({ "id": chat_id, "type": "private", "first_name": "Tester" });
    let result = match method.as_str() {
        "sendPhoto" | "sendMessage" | "editMessageCaption" | "editMessageText" => {
            let message_id = match fields.get("message_id").and_then(|v| v.as_i64()) {
                Some(id) => id,
                None => {
                    state.next_message += 1;
                    state.next_message
                }
            };
            let mut message = serde_json::json!({ "message_id": message_id, "date": now(), "chat": chat });
            if method == "sendMessage" || method == "editMessageText" {
                message["text"] = text.into();
            } else {
                message["caption"] = text.into();
                message["photo"] =
                    serde_json::json!([{ "file_id": "p", "file_unique_id": "u", "width": 640, "height": 360 }]);
            }
            message
        }
        "sendDocument" => {
            state.next_message += 1;
            serde_json::json!({
                "message_id": state.next_message, "date": now(), "chat": chat, "caption": text,
                "document": { "file_id": "d", "file_unique_id": "v", "file_name": "report.pdf", "mime_type": "application/pdf" },
            })
        }
        "answerCallbackQuery" => serde_json::Value::Bool(true),
        "getMe" => {
            serde_json::json!({ "id": 1, "is_bot": true, "first_name": "Watchpost", "username": "watchpost_bot" })
        }
        _ => return refuse(404, "Not Found: method not found"),
    };
    (200, serde_json::json!({ "ok": true, "result": result }).to_string())
}
