//! A fake ONVIF camera's WS-Discovery side: it joins 239.255.255.250:3702 on its interface and
//! answers every Probe for a type it has with a ProbeMatches (the vendor fixture it is given, its
//! addresses replaced by its own), unicast to the sender, as real cameras do.

use std::net::{Ipv4Addr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

pub struct FakeCamera {
    stop: Arc<AtomicBool>,
    pub probes_answered: Arc<AtomicUsize>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeCamera {
    /// Starts answering inside network namespace `namespace` on `address`; `reply` is a fixture
    /// whose `192.168.1.64` stands for the camera's own address.
    pub fn start_in(namespace: &str, address: Ipv4Addr, reply: &str) -> Self {
        Self::spawn(Some(namespace.to_string()), address, reply)
    }

    /// Starts answering on `address` in this process's namespace.
    pub fn start(address: Ipv4Addr, reply: &str) -> Self {
        Self::spawn(None, address, reply)
    }

    fn spawn(namespace: Option<String>, address: Ipv4Addr, reply: &str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicUsize::new(0));
        let reply = reply.replace("192.168.1.64", &address.to_string());
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn({
            let (stop, answered) = (stop.clone(), answered.clone());
            move || {
                if let Some(namespace) = namespace {
                    super::netns::enter(&namespace);
                }
                let socket = UdpSocket::bind(("0.0.0.0", 3702)).expect("bind 3702 in the camera's namespace");
                socket.join_multicast_v4(&Ipv4Addr::new(239, 255, 255, 250), &address).expect("join the group");
                socket.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
                ready_tx.send(()).unwrap();
                let mut buffer = vec![0u8; 65_536];
                while !stop.load(Ordering::Relaxed) {
                    let Ok((length, from)) = socket.recv_from(&mut buffer) else { continue };
                    let probe = String::from_utf8_lossy(&buffer[..length]);
                    let wanted = probe.contains("NetworkVideoTransmitter") || probe.contains("tds:Device");
                    if probe.contains("Probe>") && wanted {
                        socket.send_to(reply.as_bytes(), from).unwrap();
                        answered.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        });
        ready_rx.recv_timeout(Duration::from_secs(5)).expect("the fake camera started");
        Self { stop, probes_answered: answered, thread: Some(thread) }
    }
}

impl Drop for FakeCamera {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A fake ONVIF camera's device and media services over real HTTP on 127.0.0.1, answering with
/// the vendor fixtures. It checks the WS-UsernameToken digest against its password and the token's
/// creation time against its own clock, which runs `clock_skew_s` ahead of the machine's: a client
/// that does not correct for the camera's clock is refused, as real cameras refuse it.
///
/// It is as strict as a camera: a POST must be `application/soap+xml` (else 415), the operation
/// is the first element of the SOAP body and must belong to the service at the request's path
/// (device operations at `/onvif/device_service`, media ones at `/onvif/Media`, the address its
/// GetCapabilities gives; else an ActionNotSupported fault), and the digest is computed here from
/// the WS-Security formula, not with Watchpost's function.
pub struct FakeSoapCamera {
    pub port: u16,
    pub host: Ipv4Addr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

pub struct SoapSettings {
    pub username: String,
    pub password: String,
    pub clock_skew_s: i64,
    /// The GetProfiles answer to give (a fixture file name).
    pub profiles: String,
    /// What GetStreamUri answers; none = the fixture's own `rtsp://<host>:554/…` address.
    pub stream_uri: Option<String>,
    /// Answer every request with an HTML page instead (not an ONVIF device).
    pub html: bool,
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/onvif").join(name))
        .unwrap()
}

/// `<tag>value</tag>` anywhere in `xml`, ignoring the namespace prefix.
fn element(xml: &str, tag: &str) -> Option<String> {
    let at = xml.find(&format!(":{tag}>")).or_else(|| xml.find(&format!("<{tag}>")))?;
    let rest = &xml[at..];
    let start = rest.find('>')? + 1;
    let rest = &rest[start..];
    // Skip nested attributes (`<Password Type="…">`) by taking text up to the next tag.
    Some(rest[..rest.find('<')?].to_string())
}

fn element_with_attributes(xml: &str, tag: &str) -> Option<String> {
    let at = xml.find(&format!("<{tag} ")).or_else(|| xml.find(&format!(":{tag} ")))?;
    let rest = &xml[at..];
    let rest = &rest[rest.find('>')? + 1..];
    Some(rest[..rest.find('<')?].to_string())
}

impl FakeSoapCamera {
    /// On 127.0.0.1 in this namespace.
    pub fn start(settings: SoapSettings) -> Self {
        Self::start_on(Ipv4Addr::LOCALHOST, 0, settings)
    }

    /// On `host:port` (0 = a free port) in this namespace.
    pub fn start_on(host: Ipv4Addr, port: u16, settings: SoapSettings) -> Self {
        let listener = std::net::TcpListener::bind((host, port)).unwrap();
        Self::serve_on(listener, host, settings)
    }

    /// On `host` inside network namespace `namespace`.
    pub fn start_in(namespace: &str, host: Ipv4Addr, settings: SoapSettings) -> Self {
        let namespace = namespace.to_string();
        // A socket stays in the namespace it was made in, whichever thread uses it later.
        let listener = std::thread::spawn(move || {
            super::netns::enter(&namespace);
            std::net::TcpListener::bind((host, 0)).unwrap()
        })
        .join()
        .unwrap();
        Self::serve_on(listener, host, settings)
    }

    fn serve_on(listener: std::net::TcpListener, host: Ipv4Addr, settings: SoapSettings) -> Self {
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::spawn({
            let stop = stop.clone();
            move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => serve(stream, &settings, host, port),
                        Err(_) => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
            }
        });
        Self { port, host, stop, thread: Some(thread) }
    }

    pub fn device_url(&self) -> String {
        format!("http://{}:{}/onvif/device_service", self.host, self.port)
    }
}

impl Drop for FakeSoapCamera {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The operation a SOAP request asks for: the local name of the first element in its Body.
fn operation(body: &str) -> Option<String> {
    let start = body.find(":Body").or_else(|| body.find("<Body"))?;
    let after_body = &body[start..];
    let inside = &after_body[after_body.find('>')? + 1..];
    let element = inside.trim_start().strip_prefix('<')?;
    let name: String = element.chars().take_while(|c| !c.is_whitespace() && *c != '>' && *c != '/').collect();
    Some(name.rsplit(':').next()?.to_string())
}

fn serve(mut stream: std::net::TcpStream, settings: &SoapSettings, host: Ipv4Addr, port: u16) {
    use std::io::{Read, Write};
    stream.set_nonblocking(false).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut request = Vec::new();
    let mut buffer = [0u8; 8192];
    let (head, body) = loop {
        let Ok(n) = stream.read(&mut buffer) else { return };
        if n == 0 {
            return;
        }
        request.extend_from_slice(&buffer[..n]);
        let text = String::from_utf8_lossy(&request).into_owned();
        let Some(head_end) = text.find("\r\n\r\n") else { continue };
        let length: usize = text[..head_end]
            .lines()
            .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0)))
            .unwrap_or(0);
        if request.len() >= head_end + 4 + length {
            let body = String::from_utf8_lossy(&request[head_end + 4..head_end + 4 + length]).into_owned();
            break (text[..head_end].to_string(), body);
        }
    };
    let camera_now = chrono::Utc::now() + chrono::Duration::seconds(settings.clock_skew_s);
    let request_line = head.lines().next().unwrap_or_default().to_string();
    let path = request_line.split_whitespace().nth(1).unwrap_or_default().to_string();
    let soap = head.lines().any(|l| {
        l.to_ascii_lowercase()
            .strip_prefix("content-type:")
            .is_some_and(|v| v.trim().starts_with("application/soap+xml"))
    });
    let operation = operation(&body).unwrap_or_default();
    let service = match operation.as_str() {
        "GetSystemDateAndTime" | "GetDeviceInformation" | "GetCapabilities" => "/onvif/device_service",
        "GetProfiles" | "GetStreamUri" => "/onvif/Media",
        _ => "",
    };
    let (status, content_type, answer) = if settings.html {
        ("200 OK", "text/html", "<html><body><h1>Router login</h1></body></html>".to_string())
    } else if !request_line.starts_with("POST ") {
        ("405 Method Not Allowed", "text/plain", "POST a SOAP envelope".to_string())
    } else if !soap {
        ("415 Unsupported Media Type", "text/plain", "Content-Type must be application/soap+xml".to_string())
    } else if service.is_empty() || service != path {
        ("400 Bad Request", "application/soap+xml", fixture("fault_action_not_supported.xml"))
    } else if operation == "GetSystemDateAndTime" {
        let answer = fixture("get_system_date_and_time.xml")
            .replace("{{YEAR}}", &camera_now.format("%Y").to_string())
            .replace("{{MONTH}}", &camera_now.format("%-m").to_string())
            .replace("{{DAY}}", &camera_now.format("%-d").to_string())
            .replace("{{HOUR}}", &camera_now.format("%-H").to_string())
            .replace("{{MINUTE}}", &camera_now.format("%-M").to_string())
            .replace("{{SECOND}}", &camera_now.format("%-S").to_string());
        ("200 OK", "application/soap+xml", answer)
    } else if !authorised(&body, settings, camera_now) {
        ("400 Bad Request", "application/soap+xml", fixture("hikvision_fault_not_authorized.xml"))
    } else if operation == "GetDeviceInformation" {
        ("200 OK", "application/soap+xml", fixture("hikvision_get_device_information.xml"))
    } else if operation == "GetCapabilities" {
        let answer = fixture("hikvision_get_capabilities.xml").replace("{{ADDR}}", &format!("{host}:{port}"));
        ("200 OK", "application/soap+xml", answer)
    } else if operation == "GetProfiles" {
        ("200 OK", "application/soap+xml", fixture(&settings.profiles))
    } else if operation == "GetStreamUri" {
        let profile = element(&body, "ProfileToken").unwrap_or_default();
        let channel = if profile.ends_with('2') { "102" } else { "101" };
        let mut answer = fixture("hikvision_get_stream_uri.xml")
            .replace("{{HOST}}", &host.to_string())
            .replace("{{CHANNEL}}", channel)
            .replace("{{PROFILE}}", &profile);
        if let Some(uri) = &settings.stream_uri {
            let (start, end) = (answer.find("<tt:Uri>").unwrap() + 8, answer.find("</tt:Uri>").unwrap());
            answer.replace_range(start..end, &uri.replace('&', "&amp;").replace('<', "&lt;"));
        }
        ("200 OK", "application/soap+xml", answer)
    } else {
        ("400 Bad Request", "application/soap+xml", fixture("fault_action_not_supported.xml"))
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
        answer.len()
    );
    let _ = stream.write_all(response.as_bytes());
}

/// The UsernameToken is for our user, its digest matches our password, and it was created within
/// five minutes of our (skewed) clock.
fn authorised(body: &str, settings: &SoapSettings, camera_now: chrono::DateTime<chrono::Utc>) -> bool {
    use base64::Engine;
    let (Some(user), Some(digest), Some(nonce), Some(created)) = (
        element(body, "Username"),
        element_with_attributes(body, "Password"),
        element_with_attributes(body, "Nonce"),
        element_with_attributes(body, "Created"),
    ) else {
        return false;
    };
    let Ok(nonce) = base64::engine::general_purpose::STANDARD.decode(nonce.trim()) else { return false };
    let Ok(when) = chrono::DateTime::parse_from_rfc3339(created.trim()) else { return false };
    let on_time = (when.timestamp() - camera_now.timestamp()).abs() <= 300;
    user == settings.username
        && digest.trim() == ws_security_digest(&nonce, created.trim(), &settings.password)
        && on_time
}

/// WS-Security UsernameToken Profile 1.0: Base64(SHA-1(nonce + created + password)), written
/// here from the specification rather than taken from Watchpost.
pub fn ws_security_digest(nonce: &[u8], created: &str, password: &str) -> String {
    use base64::Engine;
    use sha1::Digest;
    let mut joined = nonce.to_vec();
    joined.extend_from_slice(created.as_bytes());
    joined.extend_from_slice(password.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(sha1::Sha1::digest(&joined))
}
