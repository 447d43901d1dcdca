//! The nodes registry kept current, and the nodes' sensors followed.
//!
//! Every `[discovery] node_scan_secs` an mDNS look records the nodes that answer (last seen now);
//! a node unseen for `node_offline_secs` is offline. For each ESPHome node with a web server (and
//! each Watchpost sensor node) a follower reads its `/events` Server-Sent Events stream, which
//! also counts as seeing the node, and turns binary-sensor changes (PIR, door, window) into node
//! events: stored, and published on the bus for alerts and the UI.

use super::mdns::browse_nodes;
use crate::bus::{BusMessage, EventBus};
use crate::db::Db;
use crate::db::entities::node_event;
use crate::discovery::DiscoveryConfig;
use crate::model::Node;
use crate::supervise::{Backoff, CancellationToken, sleep_or_cancel};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Records what a scan found; logs the nodes seen for the first time.
pub async fn record_nodes(db: &Db, nodes: &[Node]) {
    let now = chrono::Utc::now().timestamp_millis();
    for node in nodes {
        match db.record_node(node, now).await {
            Ok(true) => tracing::info!(node = %node.key(), name = %node.name, kind = node.kind, "new node found"),
            Ok(false) => {}
            Err(err) => tracing::warn!(error = %err, "cannot record a node"),
        }
    }
}

/// Whether a node last seen at `last_seen_ms` counts as online at `now_ms`.
pub fn is_online(last_seen_ms: Option<i64>, now_ms: i64, config: &DiscoveryConfig) -> bool {
    last_seen_ms.is_some_and(|seen| now_ms - seen < i64::from(config.node_offline_secs) * 1000)
}

/// The event stream of a node, when it has one to follow.
pub fn events_url(node: &Node) -> Option<String> {
    let follows = node.kind == "esphome" || node.role.as_deref() == Some("sensor");
    let address = node.address?;
    follows.then_some(())?;
    Some(format!("http://{address}:{}/events", node.web_port?))
}

pub struct NodeWatcher {
    db: Db,
    bus: EventBus,
    config: DiscoveryConfig,
    /// Node id → the stream followed and the token that stops its follower.
    followers: HashMap<String, (String, CancellationToken)>,
}

impl NodeWatcher {
    pub fn new(db: Db, bus: EventBus, config: DiscoveryConfig) -> Self {
        Self { db, bus, config, followers: HashMap::new() }
    }

    /// Looks for nodes every `node_scan_secs` until `cancel`; nothing when that is 0.
    pub async fn run(mut self, cancel: CancellationToken) {
        let every = Duration::from_secs(self.config.node_scan_secs.into());
        if every.is_zero() {
            return;
        }
        loop {
            let (interfaces, wait) =
                (self.config.interfaces.clone(), Duration::from_secs(self.config.probe_secs.into()));
            match tokio::task::spawn_blocking(move || browse_nodes(&interfaces, wait)).await {
                Ok(Ok(nodes)) => {
                    record_nodes(&self.db, &nodes).await;
                    self.follow(&nodes, &cancel);
                }
                Ok(Err(err)) => tracing::warn!("cannot look for nodes: {}", err.message),
                Err(_) => tracing::warn!("the mDNS look for nodes failed"),
            }
            if !sleep_or_cancel(every, &cancel).await {
                break;
            }
        }
    }

    /// Starts a follower for each node with an event stream, or moves it when the node's address
    /// changed. Followers of nodes that stopped answering keep retrying with back-off.
    fn follow(&mut self, nodes: &[Node], cancel: &CancellationToken) {
        for node in nodes {
            let Some(url) = events_url(node) else { continue };
            let id = node.key();
            if self.followers.get(&id).is_some_and(|(followed, _)| *followed == url) {
                continue;
            }
            if let Some((_, old)) = self.followers.remove(&id) {
                old.cancel();
            }
            let token = cancel.child_token();
            let follower = Follower {
                db: self.db.clone(),
                bus: self.bus.clone(),
                node_id: id.clone(),
                node_name: node.name.clone(),
                url: url.clone(),
                known: HashMap::new(),
                last_touch: None,
            };
            tokio::spawn(follower.run(token.clone()));
            self.followers.insert(id, (url, token));
        }
    }
}

/// A quiet stream is dropped and reopened after this (ESPHome pings every few seconds).
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Last-seen times are written at most this often per node.
const TOUCH_EVERY: Duration = Duration::from_secs(5);

struct Follower {
    db: Db,
    bus: EventBus,
    node_id: String,
    node_name: String,
    url: String,
    /// Each sensor's state as last heard.
    known: HashMap<String, bool>,
    last_touch: Option<Instant>,
}

impl Follower {
    async fn run(mut self, cancel: CancellationToken) {
        let client = match crate::http::client_builder().connect_timeout(Duration::from_secs(5)).build() {
            Ok(client) => client,
            Err(err) => {
                tracing::warn!(error = %err, "cannot make an HTTP client for node events");
                return;
            }
        };
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        loop {
            let started = Instant::now();
            let result = tokio::select! {
                result = self.stream_once(&client) => result,
                _ = cancel.cancelled() => return,
            };
            if let Err(reason) = result {
                tracing::debug!(node = %self.node_id, url = %self.url, "node event stream: {reason}");
            }
            // A stream that stayed up a while was healthy: start the back-off again.
            if started.elapsed() > Duration::from_secs(30) {
                backoff.reset();
            }
            if !sleep_or_cancel(backoff.next_delay(), &cancel).await {
                return;
            }
        }
    }

    /// Reads the stream until it ends or fails.
    async fn stream_once(&mut self, client: &reqwest::Client) -> Result<(), String> {
        let mut response = client
            .get(&self.url)
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .send()
            .await
            .map_err(|e| format!("cannot connect: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("answered {}", response.status()));
        }
        tracing::info!(node = %self.node_id, url = %self.url, "following the node's sensors");
        let mut parser = SseParser::default();
        loop {
            let chunk = match tokio::time::timeout(IDLE_TIMEOUT, response.chunk()).await {
                Err(_) => return Err("no message for a minute".into()),
                Ok(Err(err)) => return Err(format!("read failed: {err}")),
                Ok(Ok(None)) => return Err("the node closed the stream".into()),
                Ok(Ok(Some(chunk))) => chunk,
            };
            let messages = parser.feed(&chunk).map_err(str::to_string)?;
            if messages.is_empty() {
                continue;
            }
            self.touch().await;
            for (event, data) in messages {
                if event == "state"
                    && let Some(change) = SensorState::parse(&data)
                {
                    self.handle(change).await;
                }
            }
        }
    }

    async fn touch(&mut self) {
        if self.last_touch.is_some_and(|t| t.elapsed() < TOUCH_EVERY) {
            return;
        }
        self.last_touch = Some(Instant::now());
        if let Err(err) = self.db.touch_node(&self.node_id, chrono::Utc::now().timestamp_millis()).await {
            tracing::warn!(error = %err, "cannot record that a node was seen");
        }
    }

    /// Records a sensor's state when it differs from the last one known.
    async fn handle(&mut self, state: SensorState) {
        let before = match self.known.get(&state.sensor) {
            Some(known) => *known,
            // After a restart: what was stored last (a sensor never seen active counts as off).
            None => self.db.last_sensor_state(&self.node_id, &state.sensor).await.ok().flatten().unwrap_or(false),
        };
        self.known.insert(state.sensor.clone(), state.active);
        if before == state.active {
            return;
        }
        let event = node_event::Model {
            id: 0,
            node_id: self.node_id.clone(),
            sensor: state.sensor,
            name: state.name,
            kind: state.kind.to_string(),
            active: state.active,
            at_ms: chrono::Utc::now().timestamp_millis(),
        };
        match self.db.add_node_event(event).await {
            Ok(event) => {
                tracing::info!(node = %self.node_id, sensor = %event.sensor, active = event.active, "node sensor changed");
                self.bus.publish(BusMessage::NodeSensor { node_name: self.node_name.clone(), event });
            }
            Err(err) => tracing::warn!(error = %err, "cannot store a node event"),
        }
    }
}

/// Longest SSE line or message kept; a node sending more is cut off and reconnected.
const MAX_MESSAGE: usize = 16 * 1024;

/// Splits a Server-Sent Events byte stream into `(event, data)` messages.
#[derive(Default)]
pub(crate) struct SseParser {
    pending: Vec<u8>,
    event: String,
    data: String,
}

impl SseParser {
    pub(crate) fn feed(&mut self, bytes: &[u8]) -> Result<Vec<(String, String)>, &'static str> {
        self.pending.extend_from_slice(bytes);
        let mut messages = Vec::new();
        while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                if !self.data.is_empty() || !self.event.is_empty() {
                    let event =
                        if self.event.is_empty() { "message".to_string() } else { std::mem::take(&mut self.event) };
                    messages.push((event, std::mem::take(&mut self.data)));
                }
                continue;
            }
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "event" => self.event = value.to_string(),
                "data" => {
                    if !self.data.is_empty() {
                        self.data.push('\n');
                    }
                    self.data.push_str(value);
                }
                _ => {} // comments (`: …`), `id`, `retry`
            }
            if self.data.len() + self.event.len() > MAX_MESSAGE {
                return Err("a message was too long");
            }
        }
        if self.pending.len() > MAX_MESSAGE {
            return Err("a line was too long");
        }
        Ok(messages)
    }
}

/// A binary sensor's state from an ESPHome `state` message:
/// `{"id":"binary_sensor-garage_motion","name":"Garage motion","state":"ON","value":true}`.
#[derive(Debug, PartialEq)]
pub(crate) struct SensorState {
    sensor: String,
    name: String,
    kind: &'static str,
    active: bool,
}

impl SensorState {
    pub(crate) fn parse(data: &str) -> Option<Self> {
        let message: serde_json::Value = serde_json::from_str(data).ok()?;
        let sensor = message.get("id")?.as_str()?;
        let object = sensor.strip_prefix("binary_sensor-")?;
        if object.trim().is_empty() || sensor.len() > 128 || sensor.chars().any(char::is_control) {
            return None;
        }
        let active =
            match (message.get("value").and_then(|v| v.as_bool()), message.get("state").and_then(|s| s.as_str())) {
                (Some(value), _) => value,
                (None, Some(state)) => state.eq_ignore_ascii_case("on"),
                (None, None) => return None,
            };
        // The node's name for the sensor, else its id in words.
        let name = super::mdns::bounded(message.get("name").and_then(|n| n.as_str()))
            .or_else(|| super::mdns::bounded(Some(&object.replace('_', " "))))
            .unwrap_or_else(|| object.chars().take(64).collect());
        let words = format!("{object} {name}").to_ascii_lowercase();
        let kind = if ["motion", "pir", "presence", "occupancy", "movement"].iter().any(|w| words.contains(w)) {
            "motion"
        } else if ["door", "gate"].iter().any(|w| words.contains(w)) {
            "door"
        } else if words.contains("window") {
            "window"
        } else {
            "binary"
        };
        Some(Self { sensor: sensor.to_string(), name, kind, active })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_messages_are_split_whatever_the_chunks() {
        let stream = b"retry: 30000\nid: 1\nevent: ping\ndata: {\"title\":\"x\"}\n\n: comment\r\nevent: state\r\ndata: {\"id\":\"binary_sensor-pir\",\r\ndata: \"value\":true}\r\n\r\n";
        for size in [1, 3, 7, stream.len()] {
            let mut parser = SseParser::default();
            let mut messages = Vec::new();
            for chunk in stream.chunks(size) {
                messages.extend(parser.feed(chunk).unwrap());
            }
            assert_eq!(
                messages,
                [
                    ("ping".to_string(), "{\"title\":\"x\"}".to_string()),
                    ("state".to_string(), "{\"id\":\"binary_sensor-pir\",\n\"value\":true}".to_string())
                ]
            );
        }
    }

    #[test]
    fn endless_lines_and_messages_are_refused() {
        let mut parser = SseParser::default();
        assert!(parser.feed(&vec![b'x'; MAX_MESSAGE + 1]).is_err());
        let mut parser = SseParser::default();
        let line = format!("data: {}\n", "y".repeat(1000));
        let result = (0..20).try_for_each(|_| parser.feed(line.as_bytes()).map(drop));
        assert!(result.is_err());
    }

    #[test]
    fn binary_sensor_states_are_read_and_classified() {
        let parse = |s: &str| SensorState::parse(s).map(|s| (s.sensor, s.name, s.kind, s.active));
        assert_eq!(
            parse(r#"{"id":"binary_sensor-garage_pir","value":true,"state":"ON"}"#),
            Some(("binary_sensor-garage_pir".into(), "garage pir".into(), "motion", true))
        );
        assert_eq!(
            parse(r#"{"id":"binary_sensor-front","name":"Front Door","state":"OFF"}"#),
            Some(("binary_sensor-front".into(), "Front Door".into(), "door", false))
        );
        assert_eq!(parse(r#"{"id":"binary_sensor-w","name":"Window","value":false}"#).unwrap().2, "window");
        assert_eq!(parse(r#"{"id":"binary_sensor-leak","value":true}"#).unwrap().2, "binary");
        // Not binary sensors, or not readable: nothing.
        for junk in [
            r#"{"id":"sensor-temperature","value":21.5,"state":"21.5 °C"}"#,
            r#"{"id":"binary_sensor-","value":true}"#,
            r#"{"id":"binary_sensor-x"}"#,
            r#"{"id":42}"#,
            "not json",
            "",
        ] {
            assert_eq!(parse(junk), None, "{junk}");
        }
    }

    #[test]
    fn mangled_streams_never_panic_and_only_make_whole_sensor_states() {
        let valid = b"event: ping\ndata: {\"title\":\"n\"}\n\nevent: state\ndata: {\"id\":\"binary_sensor-door\",\"name\":\"Door\",\"value\":true,\"state\":\"ON\"}\n\n";
        // A small xorshift generator: the same cases on every run.
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..3000 {
            let mut bytes = valid.repeat(2);
            for _ in 0..(next() % 6) {
                let at = (next() as usize) % bytes.len();
                match next() % 3 {
                    0 => bytes[at] = next() as u8,
                    1 => bytes.insert(at, next() as u8),
                    _ => drop(bytes.remove(at)),
                }
            }
            let mut parser = SseParser::default();
            let mut rest = &bytes[..];
            while !rest.is_empty() {
                let size = 1 + (next() as usize) % 40;
                let (chunk, tail) = rest.split_at(size.min(rest.len()));
                rest = tail;
                let Ok(messages) = parser.feed(chunk) else { break };
                for (_, data) in messages {
                    if let Some(state) = SensorState::parse(&data) {
                        assert!(state.sensor.starts_with("binary_sensor-") && state.sensor.len() > 14, "{state:?}");
                        assert!(!state.name.trim().is_empty() && state.name.chars().count() <= 64, "{state:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn online_means_seen_within_the_offline_time() {
        let config = DiscoveryConfig { node_offline_secs: 10, ..Default::default() };
        assert!(is_online(Some(1_000), 10_999, &config));
        assert!(!is_online(Some(1_000), 11_000, &config));
        assert!(!is_online(None, 0, &config));
    }
}
