//! A string that must never reach a log, a page or an API response in clear.
//!
//! `Debug`, `Display` and `Serialize` all print `***`; the value is read only through
//! [`Secret::expose`], which makes every use greppable.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The clear value; call only where it is handed to the thing that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("***")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

/// Replaces the user name and password of a URL (`rtsp://user:pass@host/…`) with `***` for logs,
/// pages and API answers; other text is returned as it is. A URL that does not parse (a port out
/// of range, a stray space) is masked by [`redact_text`]'s pattern instead.
pub fn redact_url(raw: &str) -> String {
    match split_credentials(raw) {
        (clean, Some(_)) => clean.replacen("://", "://***@", 1),
        (clean, None) if url::Url::parse(raw).is_ok() => clean,
        _ => redact_text(raw),
    }
}

/// Masks what could be a user name and password after each `://` in free text (ffmpeg's log
/// lines, a URL that does not parse): everything up to the last `@` before the next space or
/// quote becomes `***`. It masks too much rather than too little: a password may hold `/`, `?`
/// or `:`, and a path with an `@` loses its start.
pub fn redact_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("://") {
        let (head, tail) = rest.split_at(pos + 3);
        out.push_str(head);
        let token_end = tail.find(|c: char| c.is_whitespace() || c == '\'' || c == '"').unwrap_or(tail.len());
        match tail[..token_end].rfind('@') {
            Some(at) => {
                out.push_str("***");
                rest = &tail[at..];
            }
            None => rest = tail,
        }
    }
    out.push_str(rest);
    out
}

/// Splits `scheme://user:pass@host/…` into the URL without them and the `user:pass` part (kept
/// percent-encoded as in the URL). Text that is not such a URL has no credentials.
pub fn split_credentials(raw: &str) -> (String, Option<String>) {
    match url::Url::parse(raw) {
        Ok(mut parsed) if parsed.has_host() && (!parsed.username().is_empty() || parsed.password().is_some()) => {
            let userinfo = match parsed.password() {
                Some(password) => format!("{}:{password}", parsed.username()),
                None => parsed.username().to_string(),
            };
            // Both only fail for URLs without a host, excluded above.
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            (parsed.to_string(), Some(userinfo))
        }
        _ => (raw.to_string(), None),
    }
}

/// Puts a `user:pass` part (as returned by [`split_credentials`]) back into a URL.
pub fn join_credentials(clean: &str, userinfo: Option<&str>) -> String {
    let Some(userinfo) = userinfo.filter(|u| !u.is_empty()) else { return clean.to_string() };
    match url::Url::parse(clean) {
        Ok(parsed) if parsed.has_host() => {
            let (scheme, rest) = clean.split_once("://").unwrap_or((parsed.scheme(), ""));
            format!("{scheme}://{userinfo}@{rest}")
        }
        _ => clean.to_string(),
    }
}

/// A URL with the given (plain-text) user name and password, percent-encoded as needed.
pub fn with_credentials(clean: &str, username: &str, password: &str) -> String {
    match url::Url::parse(clean) {
        Ok(mut parsed) if parsed.has_host() && !username.is_empty() => {
            let _ = parsed.set_username(username);
            let _ = parsed.set_password((!password.is_empty()).then_some(password));
            parsed.to_string()
        }
        _ => clean.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints_its_value() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret} {secret:?}"), "*** ***");
        assert_eq!(serde_json::to_string(&secret).unwrap(), "\"***\"");
        assert_eq!(secret.expose(), "hunter2");
    }

    #[test]
    fn url_passwords_are_redacted() {
        assert_eq!(redact_url("rtsp://admin:hunter2@10.0.0.5:554/s1"), "rtsp://***@10.0.0.5:554/s1");
        assert_eq!(redact_url("rtsp://admin@10.0.0.5/s1"), "rtsp://***@10.0.0.5/s1");
        assert_eq!(redact_url("rtsp://10.0.0.5/s1"), "rtsp://10.0.0.5/s1");
        assert_eq!(redact_url("/media/clip.mp4"), "/media/clip.mp4");
        assert_eq!(redact_url("rtsp://user:pa55word@host:99999/x"), "rtsp://***@host:99999/x", "a bad port");
        assert_eq!(redact_url("rtsp://user:pa/55?w#rd@host:99999/x"), "rtsp://***@host:99999/x");
        assert_eq!(redact_url("rtsp://us er:pa55word@host/x"), "rtsp://***@host/x", "a space");
    }

    #[test]
    fn text_is_masked_by_pattern() {
        assert_eq!(
            redact_text("Input #0, rtsp, from 'rtsp://a:secret@h/s': and http://b:x/y@h2 too"),
            "Input #0, rtsp, from 'rtsp://***@h/s': and http://***@h2 too"
        );
        assert_eq!(redact_text("tcp://127.0.0.1:554?timeout=1 failed"), "tcp://127.0.0.1:554?timeout=1 failed");
        assert_eq!(redact_text("no urls here: a@b"), "no urls here: a@b");
    }

    #[test]
    fn credentials_split_and_join_back() {
        let url = "rtsp://admin:p%40ss@10.0.0.5:554/s1?x=1";
        let (clean, userinfo) = split_credentials(url);
        assert_eq!(clean, "rtsp://10.0.0.5:554/s1?x=1");
        assert_eq!(userinfo.as_deref(), Some("admin:p%40ss"));
        assert_eq!(join_credentials(&clean, userinfo.as_deref()), url);
        assert_eq!(split_credentials("/media/clip.mp4"), ("/media/clip.mp4".to_string(), None));
        assert_eq!(with_credentials(&clean, "ad min", "p@ss"), "rtsp://ad%20min:p%40ss@10.0.0.5:554/s1?x=1");
        assert_eq!(with_credentials(&clean, "", "ignored"), clean);
    }
}
