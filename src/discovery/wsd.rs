//! WS-Discovery for ONVIF cameras: the Probe Watchpost multicasts to 239.255.255.250:3702, and a
//! liberal reader for what cameras answer (ProbeMatches, Hello, Bye).
//!
//! Real replies are sloppy: some lack the `ProbeMatches` wrapper, some put spaces inside scope URIs,
//! many list several XAddrs (IPv4 and IPv6). The reader takes whatever is there, keeps only
//! complete matches (an endpoint and at least one http(s) XAddr), and never fails on bad input: a
//! broken packet yields the matches completed before the break, or none.

use quick_xml::Reader;
use quick_xml::events::Event;
use serde::Serialize;

/// The WS-Discovery multicast group and port.
pub const GROUP: std::net::Ipv4Addr = std::net::Ipv4Addr::new(239, 255, 255, 250);
pub const PORT: u16 = 3702;

/// The device types Watchpost probes for (one Probe each: a Probe listing both would match only
/// devices that declare both).
pub const PROBE_TYPES: [&str; 2] = ["dn:NetworkVideoTransmitter", "tds:Device"];

/// A Probe for `device_type` with `message_id` (`urn:uuid:…`).
pub fn probe(device_type: &str, message_id: &str) -> String {
    format!(
        concat!(
            r#"<?xml version="1.0" encoding="UTF-8"?>"#,
            r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" "#,
            r#"xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" "#,
            r#"xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" "#,
            r#"xmlns:dn="http://www.onvif.org/ver10/network/wsdl" "#,
            r#"xmlns:tds="http://www.onvif.org/ver10/device/wsdl">"#,
            r#"<s:Header><a:MessageID>{id}</a:MessageID>"#,
            r#"<a:To s:mustUnderstand="true">urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To>"#,
            r#"<a:Action s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</a:Action>"#,
            r#"</s:Header><s:Body><d:Probe><d:Types>{types}</d:Types></d:Probe></s:Body></s:Envelope>"#
        ),
        id = message_id,
        types = device_type
    )
}

/// What kind of message a match came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Announcement {
    /// An answer to a Probe (or a Resolve).
    Match,
    /// The device joined the network.
    Hello,
    /// The device is leaving.
    Bye,
}

/// One device as a WS-Discovery message describes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeMatch {
    pub kind: Announcement,
    /// The endpoint reference (`urn:uuid:…`), stable across address changes: the de-duplication key.
    pub endpoint: String,
    pub types: Vec<String>,
    pub scopes: Vec<String>,
    /// Device service addresses, in the device's order.
    pub xaddrs: Vec<String>,
}

impl ProbeMatch {
    /// A scope's value: `onvif://www.onvif.org/name/Front%20door` → `Front door` for `name`.
    /// Several `location` scopes (`location/city/Berlin`) are joined with ", ".
    pub fn scope(&self, key: &str) -> Option<String> {
        let prefix = format!("onvif://www.onvif.org/{key}/");
        let values: Vec<String> = self
            .scopes
            .iter()
            .filter_map(|scope| {
                let rest = scope
                    .get(..prefix.len())
                    .filter(|p| p.eq_ignore_ascii_case(&prefix))
                    .map(|_| &scope[prefix.len()..])?;
                let decoded = percent_decode(rest);
                // `location/country/germany`: keep the value, not the sub-key.
                let value = match key {
                    "location" => decoded.rsplit('/').next().unwrap_or_default().to_string(),
                    _ => decoded,
                };
                let value = value.trim().to_string();
                (!value.is_empty()).then_some(value)
            })
            .collect();
        (!values.is_empty()).then(|| values.join(", "))
    }
}

/// Every complete device description in `xml`.
pub fn parse(xml: &str) -> Vec<ProbeMatch> {
    // Text is kept as it is (not trimmed): white space next to an entity (`Garage &amp; Garden`)
    // belongs to the value. Fields are split on white space when a match is finished.
    let mut reader = Reader::from_str(xml);
    let mut matches = Vec::new();
    let mut current: Option<Partial> = None;
    let mut path: Vec<String> = Vec::new();
    loop {
        let event = match reader.read_event() {
            Ok(event) => event,
            // Broken XML: keep what was complete, drop the half-read device.
            Err(_) => return matches,
        };
        match event {
            Event::Start(start) => {
                let name = start.local_name().as_ref().to_string();
                if let Some(kind) = message_kind(&name) {
                    if let Some(done) = current.take().and_then(Partial::finish) {
                        matches.push(done);
                    }
                    current = Some(Partial::new(kind));
                }
                path.push(name);
            }
            Event::End(_) => {
                if let Some(name) = path.pop()
                    && message_kind(&name).is_some()
                    && let Some(done) = current.take().and_then(Partial::finish)
                {
                    matches.push(done);
                }
            }
            Event::Text(text) => {
                let Some(field) = path.last() else { continue };
                let text = text.xml10_content();
                let in_reference = path.iter().any(|p| p == "EndpointReference");
                let partial = current.get_or_insert_with(|| Partial::new(Announcement::Match));
                partial.append(field, in_reference, &text);
            }
            Event::GeneralRef(reference) => {
                let Some(field) = path.last() else { continue };
                let Some(resolved) = resolve_reference(&reference) else { continue };
                let in_reference = path.iter().any(|p| p == "EndpointReference");
                let partial = current.get_or_insert_with(|| Partial::new(Announcement::Match));
                partial.append(field, in_reference, &resolved);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    // A reply without the wrapper ends here, if it ended properly (a cut packet leaves elements
    // open, and its last value may be cut too).
    if path.is_empty()
        && let Some(done) = current.and_then(Partial::finish)
    {
        matches.push(done);
    }
    matches
}

/// The text an entity or character reference stands for (`&amp;` → `&`, `&#233;` → `é`); `None`
/// for an entity XML does not predefine.
pub(super) fn resolve_reference(reference: &quick_xml::events::BytesRef<'_>) -> Option<String> {
    if let Ok(Some(c)) = reference.resolve_char_ref() {
        return Some(c.to_string());
    }
    let text = match reference.xml10_content().as_ref() {
        "amp" => "&",
        "lt" => "<",
        "gt" => ">",
        "quot" => "\"",
        "apos" => "'",
        _ => return None,
    };
    Some(text.to_string())
}

fn message_kind(element: &str) -> Option<Announcement> {
    match element {
        "ProbeMatch" | "ResolveMatch" => Some(Announcement::Match),
        "Hello" => Some(Announcement::Hello),
        "Bye" => Some(Announcement::Bye),
        _ => None,
    }
}

/// A device being read; text of one element may come in pieces (around entity references).
struct Partial {
    kind: Announcement,
    endpoint: String,
    types: String,
    scopes: String,
    xaddrs: String,
}

impl Partial {
    fn new(kind: Announcement) -> Self {
        Self { kind, endpoint: String::new(), types: String::new(), scopes: String::new(), xaddrs: String::new() }
    }

    fn target(&mut self, field: &str, in_reference: bool) -> Option<&mut String> {
        match field {
            "Address" if in_reference => Some(&mut self.endpoint),
            "Types" => Some(&mut self.types),
            "Scopes" => Some(&mut self.scopes),
            "XAddrs" => Some(&mut self.xaddrs),
            _ => None,
        }
    }

    /// Text or a resolved entity reference, as it comes.
    fn append(&mut self, field: &str, in_reference: bool, text: &str) {
        if let Some(target) = self.target(field, in_reference) {
            target.push_str(text);
        }
    }

    fn finish(self) -> Option<ProbeMatch> {
        let xaddrs: Vec<String> = self
            .xaddrs
            .split_whitespace()
            .filter(|x| url::Url::parse(x).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some()))
            .map(str::to_string)
            .collect();
        let endpoint = self.endpoint.trim().to_string();
        // A Bye names only the endpoint; anything else needs an address to be of use.
        let complete = !endpoint.is_empty() && (self.kind == Announcement::Bye || !xaddrs.is_empty());
        complete.then(|| ProbeMatch {
            kind: self.kind,
            endpoint,
            types: self.types.split_whitespace().map(str::to_string).collect(),
            scopes: split_scopes(&self.scopes),
            xaddrs,
        })
    }
}

/// Scope URIs are separated by white space, but some cameras put spaces inside a URI
/// (`onvif://www.onvif.org/name/Front door`): a piece that does not start a URI belongs to the one
/// before it.
fn split_scopes(text: &str) -> Vec<String> {
    let mut scopes: Vec<String> = Vec::new();
    for piece in text.split_whitespace() {
        match scopes.last_mut() {
            Some(last) if !piece.contains("://") && !piece.starts_with("urn:") => {
                last.push(' ');
                last.push_str(piece);
            }
            _ => scopes.push(piece.to_string()),
        }
    }
    scopes
}

/// `%20` → space; invalid escapes are kept as they are.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = text.get(i + 1..i + 3)
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_is_soap_the_reader_itself_accepts_as_xml() {
        let message = probe("dn:NetworkVideoTransmitter", "urn:uuid:1");
        let mut reader = Reader::from_str(&message);
        loop {
            match reader.read_event() {
                Ok(Event::Eof) => break,
                Ok(_) => {}
                Err(err) => panic!("not XML: {err}"),
            }
        }
        assert!(message.contains("<d:Types>dn:NetworkVideoTransmitter</d:Types>"));
        assert!(parse(&message).is_empty(), "a Probe describes no device");
    }

    #[test]
    fn scopes_with_spaces_stay_whole_and_decode() {
        let scopes = split_scopes(
            "onvif://www.onvif.org/name/Front door onvif://www.onvif.org/location/city/K%C3%B6ln onvif://www.onvif.org/hardware/DS-2CD2143",
        );
        assert_eq!(scopes.len(), 3, "{scopes:?}");
        let found = ProbeMatch {
            kind: Announcement::Match,
            endpoint: "urn:uuid:x".into(),
            types: vec![],
            scopes,
            xaddrs: vec![],
        };
        assert_eq!(found.scope("name").as_deref(), Some("Front door"));
        assert_eq!(found.scope("location").as_deref(), Some("Köln"));
        assert_eq!(found.scope("hardware").as_deref(), Some("DS-2CD2143"));
        assert_eq!(found.scope("mfr"), None);
        assert_eq!(percent_decode("100%"), "100%");
    }
}
