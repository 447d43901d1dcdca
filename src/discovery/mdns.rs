//! ESP32 and ESPHome nodes over mDNS (mdns-sd): `_esphomelib._tcp` (ESPHome's native API),
//! `_watchpost._tcp` (Watchpost's own firmware) and `_http._tcp` from ESP boards with a web server.
//!
//! TXT records come from small devices and anyone on the LAN: every value is checked and bounded
//! (a MAC must be 12 hex digits, text is cut to a sane length), and a record that names nothing
//! usable makes no node.

use crate::model::Node;
use mdns_sd::{IfKind, ResolvedService, ServiceDaemon, ServiceEvent};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

pub const ESPHOME: &str = "_esphomelib._tcp.local.";
pub const WATCHPOST_NODE: &str = "_watchpost._tcp.local.";
pub const HTTP: &str = "_http._tcp.local.";

/// Longest text kept from a TXT value.
const MAX_TEXT: usize = 64;

/// `aa:bb:cc:dd:ee:ff`, `AABBCCDDEEFF` → `aabbccddeeff`; anything else is no MAC.
pub fn normalise_mac(raw: &str) -> Option<String> {
    let hex: String = raw.chars().filter(|c| *c != ':' && *c != '-').collect();
    (hex.len() == 12 && hex.chars().all(|c| c.is_ascii_hexdigit())).then(|| hex.to_ascii_lowercase())
}

/// Text from a device, fit to show: control characters dropped, trimmed, at most 64 characters;
/// `None` when nothing is left.
pub(super) fn bounded(value: Option<&str>) -> Option<String> {
    let printable: String = value?.chars().filter(|c| !c.is_control()).collect();
    let clean: String = printable.trim().chars().take(MAX_TEXT).collect();
    (!clean.is_empty()).then_some(clean)
}

/// A path for an HTTP request on the node: starts with `/`, no spaces, bounded.
fn path(value: Option<&str>) -> Option<String> {
    bounded(value).filter(|p| p.starts_with('/') && !p.contains(char::is_whitespace))
}

/// What a resolved service says about a node, or `None` when it is not one.
pub fn node_from(service: &ResolvedService) -> Option<Node> {
    let txt = |key: &str| service.get_property_val_str(key);
    let instance = service.get_fullname().split('.').next().unwrap_or_default();
    let host = bounded(Some(service.get_hostname().trim_end_matches('.'))).unwrap_or_default();
    let address = service.get_addresses_v4().into_iter().min().map(IpAddr::V4);
    let kind = match service.ty_domain.as_str() {
        ESPHOME => "esphome",
        WATCHPOST_NODE => "watchpost-node",
        // Any web server for now: it may belong to an ESPHome node; see `browse_nodes`.
        HTTP => "esp32",
        _ => return None,
    };
    let name = bounded(txt("friendly_name")).or_else(|| bounded(Some(instance)))?;
    let role = match kind {
        "watchpost-node" => Some(bounded(txt("kind")).filter(|k| k == "camera" || k == "sensor")?),
        _ => None,
    };
    Some(Node {
        kind,
        name,
        host,
        address,
        port: service.get_port(),
        mac: txt("mac").and_then(normalise_mac),
        firmware: bounded(txt("version").or_else(|| txt("fw"))),
        platform: bounded(txt("platform")),
        board: bounded(txt("board")),
        stream: if role.as_deref() == Some("camera") { path(txt("stream")) } else { None },
        snapshot: if role.as_deref() == Some("camera") { path(txt("snapshot")) } else { None },
        web_port: match kind {
            "esphome" => None,
            _ => Some(service.get_port()),
        },
        role,
    })
}

/// Adds what `found` says to the nodes known so far: one entry per node (by MAC, else host); a
/// board's plain web server folds into its ESPHome or Watchpost record as its `web_port`.
pub fn merge(nodes: &mut BTreeMap<String, Node>, found: Node) {
    // A web server record carries no MAC: match it by host name.
    let known_key = nodes.iter().find(|(_, n)| n.host == found.host).map(|(key, _)| key.clone());
    let key = if found.kind == "esp32" { known_key.unwrap_or_else(|| found.key()) } else { found.key() };
    if found.kind != "esp32" {
        // The web server may have arrived first, under the host name.
        if let Some(web) = nodes.get(&found.host).filter(|n| n.kind == "esp32").map(|n| n.web_port) {
            nodes.remove(&found.host);
            let mut found = found;
            found.web_port = found.web_port.or(web);
            nodes.insert(key, found);
            return;
        }
    }
    match nodes.get_mut(&key) {
        Some(known) if found.kind == "esp32" => known.web_port = known.web_port.or(found.web_port),
        Some(known) if known.kind != "esp32" => {}
        _ => {
            nodes.insert(key, found);
        }
    }
}

/// A daemon browsing only on `interfaces` (names or addresses), or on every interface but
/// loopback when the list is empty.
fn daemon_on(interfaces: &[String]) -> crate::Result<ServiceDaemon> {
    let cannot = |e: mdns_sd::Error| crate::Error::unavailable(format!("cannot start mDNS browsing: {e}"));
    let daemon = ServiceDaemon::new().map_err(cannot)?;
    daemon.disable_interface(vec![IfKind::LoopbackV4, IfKind::LoopbackV6]).map_err(cannot)?;
    if !interfaces.is_empty() {
        daemon.disable_interface(IfKind::All).map_err(cannot)?;
        let chosen: Vec<IfKind> = interfaces
            .iter()
            .map(|i| match i.parse::<IpAddr>() {
                Ok(address) => IfKind::Addr(address),
                Err(_) => IfKind::Name(i.clone()),
            })
            .collect();
        daemon.enable_interface(chosen).map_err(cannot)?;
    }
    Ok(daemon)
}

/// Browses the node service types on `interfaces` (as `[discovery] interfaces`) for `wait`; one
/// entry per node (see [`merge`]).
pub fn browse_nodes(interfaces: &[String], wait: Duration) -> crate::Result<Vec<Node>> {
    let daemon = daemon_on(interfaces)?;
    let receivers: Vec<_> = [ESPHOME, WATCHPOST_NODE, HTTP].iter().filter_map(|ty| daemon.browse(ty).ok()).collect();
    let mut nodes: BTreeMap<String, Node> = BTreeMap::new();
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        for receiver in &receivers {
            while let Ok(event) = receiver.recv_timeout(Duration::from_millis(20)) {
                let ServiceEvent::ServiceResolved(service) = event else { continue };
                if let Some(node) = node_from(&service) {
                    merge(&mut nodes, node);
                }
            }
        }
    }
    let _ = daemon.shutdown();
    // A web server on its own is a node only on an ESP board: a printer or a NAS has one too.
    Ok(nodes.into_values().filter(|n| n.kind != "esp32" || n.host.to_ascii_lowercase().starts_with("esp")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_and_text_are_checked() {
        assert_eq!(normalise_mac("24:6F:28:AB:CD:EF").as_deref(), Some("246f28abcdef"));
        assert_eq!(normalise_mac("246f28abcdef").as_deref(), Some("246f28abcdef"));
        assert_eq!(normalise_mac("zz:zz"), None);
        assert_eq!(normalise_mac("246f28abcdef00"), None);
        assert_eq!(bounded(Some(&"x".repeat(500))).map(|s| s.len()), Some(MAX_TEXT));
        assert_eq!(bounded(Some("  \u{7}  ")), None);
        assert_eq!(bounded(Some("\u{1} \u{1}")), None, "whitespace left between control characters is nothing");
        assert_eq!(path(Some("/stream")).as_deref(), Some("/stream"));
        assert_eq!(path(Some("http://evil/")), None);
    }

    fn node(kind: &'static str, host: &str, mac: Option<&str>, web_port: Option<u16>) -> Node {
        Node {
            kind,
            name: host.into(),
            host: host.into(),
            address: None,
            port: 6053,
            mac: mac.map(str::to_string),
            firmware: None,
            platform: None,
            board: None,
            role: None,
            stream: None,
            snapshot: None,
            web_port,
        }
    }

    #[test]
    fn a_web_server_folds_into_its_node_whichever_comes_first() {
        for web_first in [false, true] {
            let mut nodes = BTreeMap::new();
            let esphome = node("esphome", "esp-a.local", Some("246f28abcdef"), None);
            let web = node("esp32", "esp-a.local", None, Some(80));
            let (first, second) = if web_first { (web, esphome) } else { (esphome, web) };
            merge(&mut nodes, first);
            merge(&mut nodes, second);
            merge(&mut nodes, node("esp32", "esp-b.local", None, Some(8080)));
            let summary: Vec<_> = nodes.iter().map(|(k, n)| (k.as_str(), n.kind, n.web_port)).collect();
            assert_eq!(summary, [("246f28abcdef", "esphome", Some(80)), ("esp-b.local", "esp32", Some(8080))]);
        }
    }
}
