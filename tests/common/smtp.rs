//! A small SMTP server on 127.0.0.1 (RFC 5321, plain text, optional AUTH PLAIN/LOGIN): it keeps
//! every message it accepts, with its envelope, and can answer the next transactions with a
//! temporary failure (451) so retries can be tested against a real SMTP conversation.

use std::io::{BufRead, BufReader, Write};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    /// The message as sent (headers and MIME body), dot-unstuffed.
    pub data: String,
    /// `user` when the client authenticated.
    pub user: Option<String>,
}

#[derive(Default)]
struct State {
    mails: Vec<Mail>,
    /// Transactions still to refuse with 451.
    refuse: u32,
    refused: u32,
}

pub struct FakeSmtp {
    pub port: u16,
    state: Arc<Mutex<State>>,
}

impl FakeSmtp {
    /// `login`: the user name and password it accepts (and then requires).
    pub fn start(login: Option<(&str, &str)>) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state: Arc<Mutex<State>> = Arc::default();
        let login = login.map(|(u, p)| (u.to_string(), p.to_string()));
        std::thread::spawn({
            let state = state.clone();
            move || {
                for stream in listener.incoming().flatten() {
                    let (state, login) = (state.clone(), login.clone());
                    std::thread::spawn(move || {
                        let _ = session(stream, &state, login.as_ref());
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
}

fn session(stream: std::net::TcpStream, state: &Mutex<State>, login: Option<&(String, String)>) -> std::io::Result<()> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let mut say = |text: &str| writer.write_all(format!("{text}\r\n").as_bytes());
    say("220 fake.smtp ESMTP ready")?;
    let (mut from, mut to, mut user) = (String::new(), Vec::new(), None::<String>);
    let mut line = String::new();
    let mut read = |line: &mut String| -> std::io::Result<bool> {
        line.clear();
        Ok(reader.read_line(line)? > 0)
    };
    while read(&mut line)? {
        let command = line.trim_end().to_string();
        let verb = command.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" | "HELO" => say("250-fake.smtp\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 AUTH PLAIN LOGIN")?,
            "AUTH" => {
                let mut words = command.split_whitespace().skip(1);
                let mechanism = words.next().unwrap_or("").to_ascii_uppercase();
                let (name, password) = if mechanism == "PLAIN" {
                    let encoded = match words.next() {
                        Some(e) => e.to_string(),
                        None => {
                            say("334 ")?;
                            read(&mut line)?;
                            line.trim().to_string()
                        }
                    };
                    let decoded = b64.decode(encoded).unwrap_or_default();
                    let fields: Vec<String> =
                        decoded.split(|b| *b == 0).map(|f| String::from_utf8_lossy(f).into_owned()).collect();
                    (fields.get(1).cloned().unwrap_or_default(), fields.get(2).cloned().unwrap_or_default())
                } else {
                    say("334 VXNlcm5hbWU6")?;
                    read(&mut line)?;
                    let name = String::from_utf8_lossy(&b64.decode(line.trim()).unwrap_or_default()).into_owned();
                    say("334 UGFzc3dvcmQ6")?;
                    read(&mut line)?;
                    (name, String::from_utf8_lossy(&b64.decode(line.trim()).unwrap_or_default()).into_owned())
                };
                if login.is_some_and(|(u, p)| *u == name && *p == password) {
                    user = Some(name);
                    say("235 2.7.0 Authentication successful")?;
                } else {
                    say("535 5.7.8 Authentication credentials invalid")?;
                }
            }
            "MAIL" => {
                let mut state = state.lock().unwrap();
                if login.is_some() && user.is_none() {
                    say("530 5.7.0 Authentication required")?;
                } else if state.refuse > 0 {
                    state.refuse -= 1;
                    state.refused += 1;
                    say("451 4.3.0 Try again later")?;
                } else {
                    from = address(&command);
                    to.clear();
                    say("250 2.1.0 OK")?;
                }
            }
            "RCPT" => {
                to.push(address(&command));
                say("250 2.1.5 OK")?;
            }
            "DATA" => {
                say("354 End data with <CR><LF>.<CR><LF>")?;
                let mut data = String::new();
                loop {
                    if !read(&mut line)? {
                        return Ok(());
                    }
                    if line == ".\r\n" || line == ".\n" {
                        break;
                    }
                    data.push_str(line.strip_prefix('.').unwrap_or(&line));
                }
                let mail = Mail { from: from.clone(), to: to.clone(), data, user: user.clone() };
                state.lock().unwrap().mails.push(mail);
                say("250 2.0.0 OK queued")?;
            }
            "RSET" => {
                to.clear();
                say("250 2.0.0 OK")?;
            }
            "NOOP" => say("250 2.0.0 OK")?,
            "QUIT" => {
                say("221 2.0.0 Bye")?;
                return Ok(());
            }
            _ => say("502 5.5.2 Command not recognised")?,
        }
    }
    Ok(())
}

/// The address inside `MAIL FROM:<a@b>` or `RCPT TO:<a@b>`.
fn address(command: &str) -> String {
    command.split('<').nth(1).and_then(|rest| rest.split('>').next()).unwrap_or("").to_string()
}
