//! A small SMTP server on 127.0.0.1 (RFC 5321, optional AUTH PLAIN/LOGIN), plain, with STARTTLS
//! or with TLS from the start, under a certificate of a test CA made with the openssl command: it
//! keeps every message it accepts, with its envelope, and can answer the next transactions with a
//! temporary failure (451) so retries can be tested against a real SMTP conversation. It refuses
//! what real servers refuse: a transaction out of order (RCPT before MAIL, DATA before RCPT),
//! MAIL before signing in, and, when it offers STARTTLS, AUTH or MAIL before the upgrade. Messages
//! are read as MIME ([`Mail::parts`]) so tests look at the structure, not at substrings.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    /// The message as sent (headers and MIME body), dot-unstuffed.
    pub data: String,
    /// `user` when the client authenticated.
    pub user: Option<String>,
    /// Whether the message came over TLS.
    pub encrypted: bool,
}

/// A leaf of a MIME message: its headers (names lower case) and its decoded body.
#[derive(Debug, Clone)]
pub struct Part {
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The content types of the multiparts it sits in, outermost first.
    pub within: Vec<String>,
}

impl Part {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The MIME type alone (`text/html`), lower case.
    pub fn mime_type(&self) -> String {
        self.header("content-type").unwrap_or("text/plain").split(';').next().unwrap().trim().to_ascii_lowercase()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Mail {
    /// The top-level headers (names lower case, folded lines joined).
    pub fn headers(&self) -> Vec<(String, String)> {
        split_message(self.data.as_bytes()).0
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers().into_iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// Every leaf part, decoded (base64, quoted-printable), in order.
    pub fn parts(&self) -> Vec<Part> {
        let (headers, body) = split_message(self.data.as_bytes());
        let mut leaves = Vec::new();
        collect_parts(headers, body, &mut Vec::new(), &mut leaves);
        leaves
    }
}

/// How the server speaks: plain, offering STARTTLS (and requiring it before AUTH and MAIL), or
/// TLS from the first byte (port 465 style).
#[derive(Clone)]
pub enum Security {
    Plain,
    StartTls(Arc<rustls::ServerConfig>),
    Implicit(Arc<rustls::ServerConfig>),
}

/// A CA and a certificate for 127.0.0.1 in a temporary folder: `ca.pem` for the client, and the
/// server's TLS configuration.
pub struct TestCa {
    pub dir: tempfile::TempDir,
    pub server: Arc<rustls::ServerConfig>,
}

impl TestCa {
    pub fn new() -> Self {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let dir = tempfile::tempdir().unwrap();
        super::mqtt::make_certificates(dir.path());
        let certificates = CertificateDer::pem_file_iter(dir.path().join("server.pem"))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_file(dir.path().join("server.key")).unwrap();
        let server = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certificates, key)
            .unwrap();
        Self { dir, server: Arc::new(server) }
    }

    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }
}

#[derive(Default)]
struct State {
    mails: Vec<Mail>,
    /// Transactions still to refuse with 451.
    refuse: u32,
    refused: u32,
    /// Commands refused as out of order or not allowed yet (5xx), as `VERB: reply`.
    rejected: Vec<String>,
}

pub struct FakeSmtp {
    pub port: u16,
    state: Arc<Mutex<State>>,
}

impl FakeSmtp {
    /// `login`: the user name and password it accepts (and then requires).
    pub fn start(login: Option<(&str, &str)>) -> Self {
        Self::start_with(login, Security::Plain)
    }

    pub fn start_with(login: Option<(&str, &str)>, security: Security) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state: Arc<Mutex<State>> = Arc::default();
        let login = login.map(|(u, p)| (u.to_string(), p.to_string()));
        std::thread::spawn({
            let state = state.clone();
            move || {
                for stream in listener.incoming().flatten() {
                    let (state, login, security) = (state.clone(), login.clone(), security.clone());
                    std::thread::spawn(move || {
                        let _ = session(stream, &state, login.as_ref(), &security);
                    });
                }
            }
        });
        Self { port, state }
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.state.lock().unwrap().mails.clone()
    }

    /// The next `count` transactions get `451` at MAIL FROM.
    pub fn refuse_next(&self, count: u32) {
        self.state.lock().unwrap().refuse = count;
    }

    pub fn refused(&self) -> u32 {
        self.state.lock().unwrap().refused
    }

    pub fn rejected(&self) -> Vec<String> {
        self.state.lock().unwrap().rejected.clone()
    }
}

trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

fn tls(stream: Box<dyn Stream>, config: &Arc<rustls::ServerConfig>) -> std::io::Result<Box<dyn Stream>> {
    let connection = rustls::ServerConnection::new(config.clone()).map_err(std::io::Error::other)?;
    Ok(Box::new(rustls::StreamOwned::new(connection, stream)))
}

fn session(
    stream: std::net::TcpStream,
    state: &Mutex<State>,
    login: Option<&(String, String)>,
    security: &Security,
) -> std::io::Result<()> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut encrypted = matches!(security, Security::Implicit(_));
    let stream: Box<dyn Stream> = match security {
        Security::Implicit(config) => tls(Box::new(stream), config)?,
        _ => Box::new(stream),
    };
    let mut reader = BufReader::new(stream);
    let say = |reader: &mut BufReader<Box<dyn Stream>>, text: &str| {
        let stream = reader.get_mut();
        stream.write_all(format!("{text}\r\n").as_bytes())?;
        stream.flush()
    };
    let refuse = |reader: &mut BufReader<Box<dyn Stream>>, verb: &str, text: &str| {
        state.lock().unwrap().rejected.push(format!("{verb}: {text}"));
        say(reader, text)
    };
    let read = |reader: &mut BufReader<Box<dyn Stream>>, line: &mut String| -> std::io::Result<bool> {
        line.clear();
        Ok(reader.read_line(line)? > 0)
    };
    say(&mut reader, "220 fake.smtp ESMTP ready")?;
    let (mut from, mut to, mut user) = (None::<String>, Vec::new(), None::<String>);
    let mut line = String::new();
    while read(&mut reader, &mut line)? {
        let command = line.trim_end().to_string();
        let verb = command.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
        let must_upgrade = matches!(security, Security::StartTls(_)) && !encrypted;
        match verb.as_str() {
            "EHLO" | "HELO" => {
                let starttls = if must_upgrade { "250-STARTTLS\r\n" } else { "" };
                say(
                    &mut reader,
                    &format!("250-fake.smtp\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n{starttls}250 AUTH PLAIN LOGIN"),
                )?
            }
            "STARTTLS" => match security {
                Security::StartTls(config) if !encrypted => {
                    say(&mut reader, "220 2.0.0 Ready to start TLS")?;
                    reader = BufReader::new(tls(reader.into_inner(), config)?);
                    encrypted = true;
                    (from, to, user) = (None, Vec::new(), None);
                }
                _ => refuse(&mut reader, &verb, "503 5.5.1 TLS is not offered here or already on")?,
            },
            "AUTH" | "MAIL" if must_upgrade => {
                refuse(&mut reader, &verb, "530 5.7.0 Must issue a STARTTLS command first")?
            }
            "AUTH" => {
                let mut words = command.split_whitespace().skip(1);
                let mechanism = words.next().unwrap_or("").to_ascii_uppercase();
                let (name, password) = if mechanism == "PLAIN" {
                    let encoded = match words.next() {
                        Some(e) => e.to_string(),
                        None => {
                            say(&mut reader, "334 ")?;
                            read(&mut reader, &mut line)?;
                            line.trim().to_string()
                        }
                    };
                    let decoded = b64.decode(encoded).unwrap_or_default();
                    let fields: Vec<String> =
                        decoded.split(|b| *b == 0).map(|f| String::from_utf8_lossy(f).into_owned()).collect();
                    (fields.get(1).cloned().unwrap_or_default(), fields.get(2).cloned().unwrap_or_default())
                } else {
                    say(&mut reader, "334 VXNlcm5hbWU6")?;
                    read(&mut reader, &mut line)?;
                    let name = String::from_utf8_lossy(&b64.decode(line.trim()).unwrap_or_default()).into_owned();
                    say(&mut reader, "334 UGFzc3dvcmQ6")?;
                    read(&mut reader, &mut line)?;
                    (name, String::from_utf8_lossy(&b64.decode(line.trim()).unwrap_or_default()).into_owned())
                };
                if login.is_some_and(|(u, p)| *u == name && *p == password) {
                    user = Some(name);
                    say(&mut reader, "235 2.7.0 Authentication successful")?;
                } else {
                    say(&mut reader, "535 5.7.8 Authentication credentials invalid")?;
                }
            }
            "MAIL" => {
                if login.is_some() && user.is_none() {
                    refuse(&mut reader, &verb, "530 5.7.0 Authentication required")?;
                    continue;
                }
                let refused_now = {
                    let mut state = state.lock().unwrap();
                    let refused_now = state.refuse > 0;
                    if refused_now {
                        state.refuse -= 1;
                        state.refused += 1;
                    }
                    refused_now
                };
                if refused_now {
                    say(&mut reader, "451 4.3.0 Try again later")?;
                } else {
                    from = Some(address(&command));
                    to.clear();
                    say(&mut reader, "250 2.1.0 OK")?;
                }
            }
            "RCPT" if from.is_none() => refuse(&mut reader, &verb, "503 5.5.1 Error: need MAIL command")?,
            "RCPT" => {
                to.push(address(&command));
                say(&mut reader, "250 2.1.5 OK")?;
            }
            "DATA" if to.is_empty() => refuse(&mut reader, &verb, "503 5.5.1 Error: need RCPT command")?,
            "DATA" => {
                say(&mut reader, "354 End data with <CR><LF>.<CR><LF>")?;
                let mut data = String::new();
                loop {
                    if !read(&mut reader, &mut line)? {
                        return Ok(());
                    }
                    if line == ".\r\n" || line == ".\n" {
                        break;
                    }
                    data.push_str(line.strip_prefix('.').unwrap_or(&line));
                }
                let mail = Mail {
                    from: from.take().unwrap_or_default(),
                    to: std::mem::take(&mut to),
                    data,
                    user: user.clone(),
                    encrypted,
                };
                state.lock().unwrap().mails.push(mail);
                say(&mut reader, "250 2.0.0 OK queued")?;
            }
            "RSET" => {
                (from, to) = (None, Vec::new());
                say(&mut reader, "250 2.0.0 OK")?;
            }
            "NOOP" => say(&mut reader, "250 2.0.0 OK")?,
            "QUIT" => {
                say(&mut reader, "221 2.0.0 Bye")?;
                return Ok(());
            }
            _ => say(&mut reader, "502 5.5.2 Command not recognised")?,
        }
    }
    Ok(())
}

/// The address inside `MAIL FROM:<a@b>` or `RCPT TO:<a@b>`.
fn address(command: &str) -> String {
    command.split('<').nth(1).and_then(|rest| rest.split('>').next()).unwrap_or("").to_string()
}

/// Headers (names lower case, folded lines joined) and the body after the blank line.
fn split_message(raw: &[u8]) -> (Vec<(String, String)>, Vec<u8>) {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = match text.find("\r\n\r\n") {
        Some(at) => (&text[..at], &text[at + 4..]),
        None => match text.find("\n\n") {
            Some(at) => (&text[..at], &text[at + 2..]),
            None => (&text[..], ""),
        },
    };
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = headers.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    (headers, body.as_bytes().to_vec())
}

/// A parameter of a header value (`boundary` of `multipart/related; boundary="x"`).
fn parameter(value: &str, name: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|p| {
        let (key, v) = p.split_once('=')?;
        (key.trim().eq_ignore_ascii_case(name)).then(|| v.trim().trim_matches('"').to_string())
    })
}

fn collect_parts(headers: Vec<(String, String)>, body: Vec<u8>, within: &mut Vec<String>, leaves: &mut Vec<Part>) {
    let content_type = headers.iter().find(|(n, _)| n == "content-type").map(|(_, v)| v.clone()).unwrap_or_default();
    let mime = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if mime.starts_with("multipart/") {
        let boundary = parameter(&content_type, "boundary").expect("a multipart has a boundary");
        let text = String::from_utf8_lossy(&body).into_owned();
        let delimiter = format!("--{boundary}");
        let closing = format!("--{boundary}--");
        within.push(mime);
        let mut sections = text.split(&delimiter).skip(1);
        for section in sections.by_ref() {
            if section.starts_with("--") {
                break;
            }
            let section = section.strip_prefix("\r\n").unwrap_or(section);
            let (part_headers, part_body) = split_message(section.as_bytes());
            collect_parts(part_headers, part_body, within, leaves);
        }
        assert!(text.contains(&closing), "the multipart {boundary:?} is closed");
        within.pop();
        return;
    }
    let encoding = headers
        .iter()
        .find(|(n, _)| n == "content-transfer-encoding")
        .map(|(_, v)| v.to_ascii_lowercase())
        .unwrap_or_default();
    let trimmed = {
        let mut b = body;
        while b.ends_with(b"\n") || b.ends_with(b"\r") {
            b.pop();
        }
        b
    };
    let decoded = match encoding.as_str() {
        "base64" => {
            use base64::Engine;
            let compact: Vec<u8> = trimmed.iter().copied().filter(|c| !c.is_ascii_whitespace()).collect();
            base64::engine::general_purpose::STANDARD.decode(compact).expect("valid base64")
        }
        "quoted-printable" => decode_quoted_printable(&trimmed),
        _ => trimmed,
    };
    leaves.push(Part { headers, body: decoded, within: within.clone() });
}

fn decode_quoted_printable(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'=' if input[i + 1..].starts_with(b"\r\n") => i += 3,
            b'=' if input[i + 1..].starts_with(b"\n") => i += 2,
            b'=' if i + 2 < input.len() => {
                let hex = std::str::from_utf8(&input[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(byte) => {
                        out.push(byte);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'=');
                        i += 1;
                    }
                }
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    out
}
