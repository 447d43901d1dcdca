//! Entry points for the fuzz targets in `fuzz/` (cargo-fuzz, libFuzzer): each hands arbitrary
//! bytes to one reader of input that someone else writes (a device on the LAN, a Bot API or
//! Meta's webhook, a browser's form, the user's config file), the way Watchpost reads it. They
//! must never panic. Built only for fuzzing (`--cfg fuzzing`) and for the unit test below, which
//! replays the committed corpus and every crash once found (`fuzz/regressions/`), so a fixed crash
//! stays fixed in the normal test run.

/// A reader of untrusted bytes.
pub type Reader = fn(&[u8]);

/// The readers, by the fuzz target's name.
pub const TARGETS: [(&str, Reader); 8] = [
    ("wsd", wsd),
    ("onvif_soap", onvif_soap),
    ("mdns_txt", mdns_txt),
    ("esphome_sse", esphome_sse),
    ("config", config),
    ("telegram_update", telegram_update),
    ("whatsapp_webhook", whatsapp_webhook),
    ("forms", forms),
];

/// A WS-Discovery Hello, Bye or ProbeMatches datagram.
pub fn wsd(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for found in crate::discovery::wsd::parse(&text) {
        for key in ["name", "hardware", "location"] {
            let _ = found.scope(key);
        }
    }
}

/// An ONVIF device's SOAP answer, read with the paths the session reads.
pub fn onvif_soap(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Some(answer) = crate::discovery::onvif::Node::parse(&text) else { return };
    for path in [
        &["GetDeviceInformationResponse", "Manufacturer"][..],
        &["Media", "XAddr"],
        &["GetProfilesResponse"],
        &["VideoEncoderConfiguration", "Resolution", "Width"],
        &["MediaUri", "Uri"],
        &["Fault", "Reason", "Text"],
    ] {
        if let Some(node) = answer.find(path) {
            let _ = (node.attribute("token"), node.all_text());
        }
    }
}

/// A node's mDNS TXT record (raw RDATA), under the service type Watchpost browses that the first
/// byte picks.
pub fn mdns_txt(data: &[u8]) {
    let Some((&first, txt)) = data.split_first() else { return };
    let kinds = ["_esphomelib._tcp.local.", "_watchpost-node._tcp.local.", "_http._tcp.local."];
    let no_properties: Option<std::collections::HashMap<String, String>> = None;
    let kind = kinds[usize::from(first) % kinds.len()];
    let Ok(info) = mdns_sd::ServiceInfo::new(kind, "node", "node.local.", "", 80, no_properties) else { return };
    let mut service = info.as_resolved_service();
    service.txt_properties = mdns_sd::TxtProperties::from(txt);
    if let Some(node) = crate::discovery::mdns::node_from(&service) {
        let mut nodes = std::collections::BTreeMap::new();
        crate::discovery::mdns::merge(&mut nodes, node.clone());
        crate::discovery::mdns::merge(&mut nodes, node);
    }
}

/// An ESPHome node's Server-Sent Events stream, in chunks cut where the input says.
pub fn esphome_sse(data: &[u8]) {
    let mut parser = crate::discovery::nodes::SseParser::default();
    for chunk in data.split(|b| *b == 0) {
        match parser.feed(chunk) {
            Ok(messages) => {
                for (_, data) in messages {
                    let _ = crate::discovery::nodes::SensorState::parse(&data);
                }
            }
            Err(_) => return,
        }
    }
}

/// The config file, parsed and checked.
pub fn config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let env = crate::config::Environment {
        vars: vec![("WATCHPOST_FUZZ".into(), "x".into())],
        secrets_dir: "/nonexistent".into(),
    };
    if let Ok(config) = crate::config::parse(&text, &env) {
        let _ = config.validate();
    }
}

/// A Telegram `getUpdates` answer's update, and the command or button it carries.
pub fn telegram_update(data: &[u8]) {
    use teloxide_core::types::{Update, UpdateKind};
    let Ok(update) = serde_json::from_slice::<Update>(data) else { return };
    let words = match &update.kind {
        UpdateKind::Message(message) => message.text().unwrap_or_default().to_string(),
        UpdateKind::CallbackQuery(query) => query.data.clone().unwrap_or_default().replace(':', " "),
        _ => return,
    };
    if let Some((_, arguments)) = crate::bridges::telegram::commands::parse_command(&format!("/{words}")) {
        for argument in arguments {
            let _ = crate::bridges::telegram::commands::parse_duration(&argument);
        }
    }
}

/// A WhatsApp Cloud API webhook delivery: its signature header checked, its messages read.
pub fn whatsapp_webhook(data: &[u8]) {
    let (signature, body) = match data.iter().position(|b| *b == b'\n') {
        Some(end) => (String::from_utf8_lossy(&data[..end]).into_owned(), &data[end + 1..]),
        None => (String::new(), data),
    };
    let _ = crate::bridges::whatsapp::verify_signature("app-secret", body, &signature);
    if let Ok(payload) = serde_json::from_slice::<serde_json::Value>(body) {
        for message in crate::bridges::whatsapp::inbound_texts(&payload) {
            let _ = crate::bridges::whatsapp::normalize_number(&message.from);
        }
    }
}

/// A posted form: the events filters, and a camera's settings form turned into a camera.
pub fn forms(data: &[u8]) {
    use crate::web::forms::{CameraForm, EventsQuery, form_fields};
    let fields = form_fields(data);
    let _ = EventsQuery::from_fields(&fields).to_filter(50);
    let values: serde_json::Map<String, serde_json::Value> =
        fields.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.concat()))).collect();
    if let Ok(form) = serde_json::from_value::<CameraForm>(serde_json::Value::Object(values)) {
        let _ = form.to_config(None);
    }
}

#[cfg(test)]
mod tests {
    use super::TARGETS;
    use std::path::Path;

    /// Every committed corpus input and every crash once found goes through its reader again.
    #[test]
    fn the_corpus_and_past_crashes_read_without_panicking() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
        let mut inputs = 0;
        for (name, read) in TARGETS {
            for dir in [root.join("corpus").join(name), root.join("regressions").join(name)] {
                let Ok(entries) = std::fs::read_dir(&dir) else { continue };
                for entry in entries.flatten() {
                    let data = std::fs::read(entry.path()).unwrap();
                    read(&data);
                    inputs += 1;
                }
            }
            assert!(root.join("corpus").join(name).is_dir(), "fuzz/corpus/{name} holds the target's seeds");
        }
        assert!(inputs >= TARGETS.len(), "only {inputs} corpus inputs");
    }
}
