//! A small ONVIF client over SOAP 1.2 (reqwest + quick-xml): what adopting a camera needs.
//!
//! WS-UsernameToken with PasswordDigest (SHA-1 of nonce, creation time and password), the creation
//! time corrected by the camera's clock (`GetSystemDateAndTime`, which needs no sign-in), then
//! `GetDeviceInformation`, `GetCapabilities` (for the media service), `GetProfiles`,
//! `GetStreamUri` (RTSP) and `GetSnapshotUri`. Failures come back as [`OnvifError`]s whose message
//! says what to do.

use base64::Engine;
use quick_xml::Reader;
use quick_xml::events::Event;
use serde::Serialize;
use sha1::{Digest, Sha1};
use std::time::Duration;

/// Why talking to a camera failed, in words, and of what kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnvifError {
    pub kind: OnvifErrorKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnvifErrorKind {
    Unreachable,
    WrongCredentials,
    NotOnvif,
    NoUsableProfile,
}

impl std::fmt::Display for OnvifError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

fn fail(kind: OnvifErrorKind, message: impl Into<String>) -> OnvifError {
    OnvifError { kind, message: message.into() }
}

/// What the camera says about itself.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DeviceInformation {
    pub manufacturer: String,
    pub model: String,
    pub firmware: String,
    pub serial: String,
    pub hardware_id: String,
}

/// One media profile: a stream the camera offers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Profile {
    pub token: String,
    pub name: String,
    /// `H264`, `H265`, `JPEG`, … as the camera names it.
    pub encoding: String,
    pub width: u32,
    pub height: u32,
    pub fps: Option<u32>,
    /// The video source (an NVR has one per channel).
    pub source: String,
}

impl Profile {
    /// Whether Watchpost can use the stream (H.264 or H.265).
    pub fn usable(&self) -> bool {
        matches!(self.encoding.to_ascii_uppercase().as_str(), "H264" | "H265" | "HEVC")
    }
}

/// A camera's device service, signed in.
pub struct OnvifClient {
    http: reqwest::Client,
    device_url: String,
    username: String,
    password: String,
    /// Camera clock minus ours, in seconds, for the token's creation time.
    clock_offset_s: i64,
    media_url: Option<String>,
}

const DEVICE_NS: &str = "http://www.onvif.org/ver10/device/wsdl";
const MEDIA_NS: &str = "http://www.onvif.org/ver10/media/wsdl";
const SCHEMA_NS: &str = "http://www.onvif.org/ver10/schema";

impl OnvifClient {
    /// Reads the camera's clock (no sign-in needed), so the signed requests that follow are on time.
    pub async fn connect(device_url: &str, username: &str, password: &str) -> Result<Self, OnvifError> {
        let http = crate::http::client_builder()
            .timeout(Duration::from_secs(8))
            .connect_timeout(Duration::from_secs(4))
            .build()
            .map_err(|e| fail(OnvifErrorKind::Unreachable, format!("cannot make an HTTP client: {e}")))?;
        let mut client = Self {
            http,
            device_url: device_url.to_string(),
            username: username.to_string(),
            password: password.to_string(),
            clock_offset_s: 0,
            media_url: None,
        };
        let body = format!(r#"<tds:GetSystemDateAndTime xmlns:tds="{DEVICE_NS}"/>"#);
        let answer = client.call(&client.device_url.clone(), &body, false).await?;
        if let Some(utc) = answer.find(&["UTCDateTime"]) {
            let number = |path: &[&str]| utc.find(path).and_then(|n| n.text.trim().parse::<u32>().ok());
            let date = chrono::NaiveDate::from_ymd_opt(
                number(&["Date", "Year"]).unwrap_or(0) as i32,
                number(&["Date", "Month"]).unwrap_or(0),
                number(&["Date", "Day"]).unwrap_or(0),
            );
            let time = chrono::NaiveTime::from_hms_opt(
                number(&["Time", "Hour"]).unwrap_or(99),
                number(&["Time", "Minute"]).unwrap_or(0),
                number(&["Time", "Second"]).unwrap_or(0),
            );
            if let (Some(date), Some(time)) = (date, time) {
                client.clock_offset_s = date.and_time(time).and_utc().timestamp() - chrono::Utc::now().timestamp();
            }
        }
        Ok(client)
    }

    /// Seconds the camera's clock is ahead of ours (negative: behind).
    pub fn clock_offset_s(&self) -> i64 {
        self.clock_offset_s
    }

    pub async fn device_information(&mut self) -> Result<DeviceInformation, OnvifError> {
        let body = format!(r#"<tds:GetDeviceInformation xmlns:tds="{DEVICE_NS}"/>"#);
        let answer = self.call(&self.device_url.clone(), &body, true).await?;
        let info = answer
            .find(&["GetDeviceInformationResponse"])
            .ok_or_else(|| fail(OnvifErrorKind::NotOnvif, "the camera's answer has no device information"))?;
        let text = |name: &str| info.find(&[name]).map(|n| n.text.trim().to_string()).unwrap_or_default();
        Ok(DeviceInformation {
            manufacturer: text("Manufacturer"),
            model: text("Model"),
            firmware: text("FirmwareVersion"),
            serial: text("SerialNumber"),
            hardware_id: text("HardwareId"),
        })
    }

    /// The media service's address (from `GetCapabilities`), or the device service's as a fallback.
    async fn media_url(&mut self) -> Result<String, OnvifError> {
        if let Some(url) = &self.media_url {
            return Ok(url.clone());
        }
        let body = format!(
            r#"<tds:GetCapabilities xmlns:tds="{DEVICE_NS}"><tds:Category>Media</tds:Category></tds:GetCapabilities>"#
        );
        let answer = self.call(&self.device_url.clone(), &body, true).await?;
        let url = answer
            .find(&["Media", "XAddr"])
            .map(|n| n.text.trim().to_string())
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| self.device_url.clone());
        self.media_url = Some(url.clone());
        Ok(url)
    }

    /// Every media profile, in the camera's order.
    pub async fn profiles(&mut self) -> Result<Vec<Profile>, OnvifError> {
        let media = self.media_url().await?;
        let body = format!(r#"<trt:GetProfiles xmlns:trt="{MEDIA_NS}"/>"#);
        let answer = self.call(&media, &body, true).await?;
        let response = answer
            .find(&["GetProfilesResponse"])
            .ok_or_else(|| fail(OnvifErrorKind::NotOnvif, "the camera's answer lists no media profiles"))?;
        Ok(response
            .children
            .iter()
            .filter(|n| n.name == "Profiles")
            .map(|p| {
                let encoder = p.find(&["VideoEncoderConfiguration"]);
                let text = |node: Option<&Node>, path: &[&str]| {
                    node.and_then(|n| n.find(path)).map(|n| n.text.trim().to_string()).unwrap_or_default()
                };
                let number = |path: &[&str]| text(encoder, path).parse::<u32>().ok();
                Profile {
                    token: p.attribute("token").unwrap_or_default().to_string(),
                    name: text(Some(p), &["Name"]),
                    encoding: text(encoder, &["Encoding"]),
                    width: number(&["Resolution", "Width"]).unwrap_or(0),
                    height: number(&["Resolution", "Height"]).unwrap_or(0),
                    fps: number(&["RateControl", "FrameRateLimit"]),
                    source: text(p.find(&["VideoSourceConfiguration"]), &["SourceToken"]),
                }
            })
            .filter(|p| !p.token.is_empty())
            .collect())
    }

    /// The RTSP address of a profile's stream (over TCP, as Watchpost reads it).
    pub async fn stream_uri(&mut self, profile: &str) -> Result<String, OnvifError> {
        let media = self.media_url().await?;
        let body = format!(
            concat!(
                r#"<trt:GetStreamUri xmlns:trt="{media}" xmlns:tt="{schema}"><trt:StreamSetup>"#,
                r#"<tt:Stream>RTP-Unicast</tt:Stream><tt:Transport><tt:Protocol>RTSP</tt:Protocol></tt:Transport>"#,
                r#"</trt:StreamSetup><trt:ProfileToken>{profile}</trt:ProfileToken></trt:GetStreamUri>"#
            ),
            media = MEDIA_NS,
            schema = SCHEMA_NS,
            profile = xml_escape(profile)
        );
        let answer = self.call(&media, &body, true).await?;
        answer
            .find(&["MediaUri", "Uri"])
            .map(|n| n.text.trim().to_string())
            .filter(|u| u.starts_with("rtsp://") || u.starts_with("rtsps://"))
            .ok_or_else(|| {
                fail(OnvifErrorKind::NotOnvif, format!("the camera gave no RTSP address for profile {profile}"))
            })
    }

    /// The address of a profile's still picture, when the camera has one.
    pub async fn snapshot_uri(&mut self, profile: &str) -> Result<Option<String>, OnvifError> {
        let media = self.media_url().await?;
        let body = format!(
            r#"<trt:GetSnapshotUri xmlns:trt="{MEDIA_NS}"><trt:ProfileToken>{}</trt:ProfileToken></trt:GetSnapshotUri>"#,
            xml_escape(profile)
        );
        match self.call(&media, &body, true).await {
            Ok(answer) => {
                Ok(answer.find(&["MediaUri", "Uri"]).map(|n| n.text.trim().to_string()).filter(|u| !u.is_empty()))
            }
            // Many cameras have no snapshot service: not an error for adoption.
            Err(err) if err.kind == OnvifErrorKind::NotOnvif => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Posts one SOAP request (signed when `signed`) and returns the parsed answer, or the reason.
    async fn call(&self, url: &str, body: &str, signed: bool) -> Result<Node, OnvifError> {
        let header = if signed { self.security_header() } else { String::new() };
        let envelope = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header>{header}</s:Header><s:Body>{body}</s:Body></s:Envelope>"#
        );
        let response = self
            .http
            .post(url)
            .header("Content-Type", "application/soap+xml; charset=utf-8")
            .body(envelope)
            .send()
            .await
            .map_err(|e| {
                let what = if e.is_timeout() { "did not answer in time" } else { "cannot be reached" };
                fail(
                    OnvifErrorKind::Unreachable,
                    format!("The camera at {url} {what}; check its address and that it is on."),
                )
            })?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let parsed = Node::parse(&text);
        let fault = parsed.as_ref().and_then(|n| n.find(&["Fault"])).map(|f| f.all_text());
        let refused = status == reqwest::StatusCode::UNAUTHORIZED
            || fault.as_deref().is_some_and(|f| f.contains("NotAuthorized") || f.contains("FailedAuthentication"));
        if refused {
            return Err(fail(OnvifErrorKind::WrongCredentials, "The camera refused the user name or password."));
        }
        match (parsed, fault) {
            (Some(node), None) if node.find(&["Body"]).is_some() => Ok(node),
            (Some(_), Some(fault)) => Err(fail(
                OnvifErrorKind::NotOnvif,
                format!("The camera could not do that: {}", fault.split_whitespace().collect::<Vec<_>>().join(" ")),
            )),
            _ => Err(fail(
                OnvifErrorKind::NotOnvif,
                format!("{url} did not answer like an ONVIF device (HTTP {}); check the address.", status.as_u16()),
            )),
        }
    }

    /// WS-UsernameToken with a PasswordDigest; empty when there is no user name.
    fn security_header(&self) -> String {
        if self.username.is_empty() {
            return String::new();
        }
        let mut nonce = [0u8; 16];
        let _ = getrandom::fill(&mut nonce);
        let created = (chrono::Utc::now() + chrono::Duration::seconds(self.clock_offset_s))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let digest = password_digest(&nonce, &created, &self.password);
        let b64 = base64::engine::general_purpose::STANDARD;
        format!(
            concat!(
                r#"<Security s:mustUnderstand="1" xmlns="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd">"#,
                r#"<UsernameToken><Username>{user}</Username>"#,
                r#"<Password Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest">{digest}</Password>"#,
                r#"<Nonce EncodingType="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary">{nonce}</Nonce>"#,
                r#"<Created xmlns="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd">{created}</Created>"#,
                r#"</UsernameToken></Security>"#
            ),
            user = xml_escape(&self.username),
            digest = digest,
            nonce = b64.encode(nonce),
            created = created
        )
    }
}

/// Base64(SHA-1(nonce ‖ created ‖ password)), as WS-Security's UsernameToken profile defines it.
pub fn password_digest(nonce: &[u8], created: &str, password: &str) -> String {
    let mut hash = Sha1::new();
    hash.update(nonce);
    hash.update(created.as_bytes());
    hash.update(password.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(hash.finalize())
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// An XML element reduced to what SOAP answers need: local name, attributes, text, children.
#[derive(Debug, Clone, Default)]
pub struct Node {
    pub name: String,
    pub attributes: Vec<(String, String)>,
    pub text: String,
    pub children: Vec<Node>,
}

impl Node {
    /// The document's root element; `None` for anything that is not well-formed XML.
    pub fn parse(xml: &str) -> Option<Node> {
        let mut reader = Reader::from_str(xml);
        let mut stack: Vec<Node> = vec![Node::default()];
        loop {
            match reader.read_event().ok()? {
                Event::Start(start) => stack.push(Node::open(&start)),
                Event::Empty(start) => {
                    let node = Node::open(&start);
                    stack.last_mut()?.children.push(node);
                }
                Event::End(_) => {
                    let node = stack.pop()?;
                    stack.last_mut()?.children.push(node);
                }
                Event::Text(text) => stack.last_mut()?.text.push_str(&text.xml10_content()),
                Event::GeneralRef(reference) => {
                    let resolved = super::wsd::resolve_reference(&reference).unwrap_or_default();
                    stack.last_mut()?.text.push_str(&resolved);
                }
                Event::CData(data) => stack.last_mut()?.text.push_str(&data.xml10_content()),
                Event::Eof => break,
                _ => {}
            }
        }
        // Unclosed elements mean a cut or broken document.
        if stack.len() != 1 {
            return None;
        }
        stack.pop()?.children.into_iter().next()
    }

    fn open(start: &quick_xml::events::BytesStart<'_>) -> Node {
        let attributes = start
            .attributes()
            .flatten()
            .map(|a| {
                let key = a.key.local_name().as_ref().to_string();
                let value =
                    a.normalized_value(quick_xml::XmlVersion::Implicit1_0).map(|v| v.into_owned()).unwrap_or_default();
                (key, value)
            })
            .collect();
        Node { name: start.local_name().as_ref().to_string(), attributes, text: String::new(), children: Vec::new() }
    }

    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The first element, at any depth below this one, whose local names end with `path`.
    pub fn find(&self, path: &[&str]) -> Option<&Node> {
        let (first, rest) = path.split_first()?;
        for child in &self.children {
            if child.name == *first {
                if rest.is_empty() {
                    return Some(child);
                }
                if let Some(found) = child.find_direct(rest) {
                    return Some(found);
                }
            }
            if let Some(found) = child.find(path) {
                return Some(found);
            }
        }
        None
    }

    /// `path` exactly, child by child.
    fn find_direct(&self, path: &[&str]) -> Option<&Node> {
        let (first, rest) = path.split_first()?;
        let child = self.children.iter().find(|c| c.name == *first)?;
        if rest.is_empty() { Some(child) } else { child.find_direct(rest) }
    }

    /// All text below this element, in order.
    pub fn all_text(&self) -> String {
        let mut out = self.text.clone();
        for child in &self.children {
            out.push(' ');
            out.push_str(&child.all_text());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_matches_the_ws_security_example() {
        // The UsernameToken profile's worked example values.
        let nonce = base64::engine::general_purpose::STANDARD.decode("LKqI6G/AikKCQrN0zqZFlg==").unwrap();
        assert_eq!(password_digest(&nonce, "2010-09-16T07:50:45Z", "userpassword"), "tuOSpGlFlIXsozq4HFNeeGeFLEI=");
    }

    #[test]
    fn nodes_find_nested_paths_and_reject_broken_xml() {
        let node = Node::parse("<a><b><c x='1'>one</c></b><d><c>two</c></d></a>").unwrap();
        assert_eq!(node.find(&["c"]).unwrap().text, "one");
        assert_eq!(node.find(&["d", "c"]).unwrap().text, "two");
        assert_eq!(node.find(&["b", "c"]).unwrap().attribute("x"), Some("1"));
        assert!(Node::parse("<a><b>").is_none());
        assert!(Node::parse("not xml at all").is_none());
    }
}
