//! ESP32 and ESPHome nodes over mDNS (mdns-sd): `_esphomelib._tcp` (ESPHome's native API),
//! `_watchpost._tcp` (Watchpost's own firmware) and `_http._tcp` from ESP boards with a web server.
//!
//! TXT records come from small devices and anyone on the LAN: every value is checked and bounded
//! (a MAC must be 12 hex digits, text is cut to a sane length), and a record that names nothing
//! usable makes no node.

use mdns_sd::{ResolvedService, ServiceDaemon, ServiceEvent};
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

pub const ESPHOME: &str = "_esphomelib._tcp.local.";
pub const WATCHPOST_NODE: &str = "_watchpost._tcp.local.";
pub const HTTP: &str = "_http._tcp.local.";

/// Longest text kept from a TXT value.
const MAX_TEXT: usize = 64;

/// An ESP32-class device found on the LAN.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Node {
    /// `esphome`, `watchpost-node` or `esp32` (a board with only a web server).
    pub kind: &'static str,
    pub name: String,
    pub host: String,
    pub address: Option<IpAddr>,
    pub port: u16,
    /// 12 lowercase hex digits, when the node gave a valid one.
    pub mac: Option<String>,
    pub firmware: Option<String>,
    pub platform: Option<String>,
    pub board: Option<String>,
    /// For Watchpost nodes: `camera` or `sensor`.
    pub role: Option<String>,
    /// For Watchpost camera nodes: the MJPEG stream and snapshot paths.
    pub stream: Option<String>,
    pub snapshot: Option<String>,
}

/// `aa:bb:cc:dd:ee:ff`, `AABBCCDDEEFF` → `aabbccddeeff`; anything else is no MAC.
pub fn normalise_mac(raw: &str) -> Option<String> {
    let hex: String = raw.chars().filter(|c| *c != ':' && *c != '-').collect();
    (hex.len() == 12 && hex.chars().all(|c| c.is_ascii_hexdigit())).then(|| hex.to_ascii_lowercase())
}

fn bounded(value: Option<&str>) -> Option<String> {
    let value = value?.trim();
    let clean: String = value.chars().filter(|c| !c.is_control()).take(MAX_TEXT).collect();
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
        // Only ESP boards: a printer or a NAS also announces a web server.
        HTTP if host.to_ascii_lowercase().starts_with("esp") => "esp32",
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
        role,
    })
}

/// Browses the node service types for `wait`; one entry per node (by MAC, else by host), an
/// ESPHome node's web server folded into it.
pub fn browse_nodes(wait: Duration) -> crate::Result<Vec<Node>> {
    let daemon =
        ServiceDaemon::new().map_err(|e| crate::Error::unavailable(format!("cannot start mDNS browsing: {e}")))?;
    let receivers: Vec<_> = [ESPHOME, WATCHPOST_NODE, HTTP].iter().filter_map(|ty| daemon.browse(ty).ok()).collect();
    let mut nodes: BTreeMap<String, Node> = BTreeMap::new();
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        for receiver in &receivers {
            while let Ok(event) = receiver.recv_timeout(Duration::from_millis(20)) {
                let ServiceEvent::ServiceResolved(service) = event else { continue };
                let Some(node) = node_from(&service) else { continue };
                let key = node.mac.clone().unwrap_or_else(|| node.host.clone());
                match nodes.get(&key) {
                    // The ESPHome record says more than the same board's web server.
                    Some(known) if known.kind != "esp32" => {}
                    _ => {
                        nodes.insert(key, node);
                    }
                }
            }
        }
    }
    let _ = daemon.shutdown();
    Ok(nodes.into_values().collect())
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
        assert_eq!(path(Some("/stream")).as_deref(), Some("/stream"));
        assert_eq!(path(Some("http://evil/")), None);
    }
}
