//! Home Assistant over MQTT: cameras announced by discovery, live state, commands, availability,
//! and every message that must not be lost delivered from the outbox.
//!
//! Two tasks. The *link* owns rumqttc's event loop: it polls it, reconnects with back-off and
//! forwards what happens as [`LinkEvent`]s. The *core* turns bus messages into outbox rows and
//! direct publications, answers commands, and sends the outbox in order, up to [`WINDOW`] messages
//! ahead of their acknowledgements: a message leaves the outbox only when the broker's PUBACK for
//! it arrives (QoS 1), so after a reconnect delivery resumes from the oldest unacknowledged
//! message, in order (the broker keeps a client's QoS 1 messages in order). Only outbox messages use
//! QoS 1, which is how an acknowledgement is matched to its message; discovery, pictures and hub
//! readings are QoS 0 and sent again after every reconnect.

mod connect;
pub mod discovery;
pub mod saved;
pub mod settings;
pub mod topics;

pub use connect::{target, test_connection};

use super::outbox::{Outbox, stamped_payload};
use super::{Bridge, BridgeContext, BridgeHealth, HealthCell, LinkState};
use crate::bridges::mqtt::settings::MqttConfig;
use crate::bus::CameraControls;
use crate::bus::{BusMessage, EventSummary};
use crate::config::Config;
use crate::db::entities::outbox_message::Model as OutboxRow;
use crate::model::CameraState;
use crate::model::DescribedBy;
use crate::supervise::{Backoff, CancellationToken, sleep_or_cancel};
use discovery::{CameraInfo, slug};
use futures_util::future::BoxFuture;
use rumqttc::{AsyncClient, Event, EventLoop, Outgoing, Packet, QoS};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc};
use topics::Topics;

/// The outbox channel name of this bridge.
const CHANNEL: &str = "mqtt";
/// This bridge's channel in `alert_deliveries`.
const ALERT_CHANNEL: crate::model::Channel = crate::model::Channel::Mqtt;
/// Where the config topics announced last are kept, to clear those no longer wanted.
const ANNOUNCED_KEY: &str = "mqtt-announced";
/// The longest a connection waits, at start, for the cameras to be loaded before announcing.
const LOADING_WAIT: Duration = Duration::from_secs(10);
/// An outbox message not acknowledged within this is sent again.
const ACK_TIMEOUT: Duration = Duration::from_secs(15);
/// Outbox messages sent ahead of their acknowledgements. One at a time, an alert queued behind an
/// event's other messages (the event, the camera's last event, its counts) waited a round trip and
/// a database write for each: 45 ms of the alert latency (docs/performance.md).
const WINDOW: usize = 16;
/// Outbox rows read from the database at a time.
const BATCH: u64 = 64;
/// How often hub readings (inference time, cameras online) are refreshed.
const HUB_INTERVAL: Duration = Duration::from_secs(10);

pub struct MqttBridge {
    config: MqttConfig,
    context: BridgeContext,
    health: HealthCell,
}

impl MqttBridge {
    /// The MQTT bridge when `[mqtt] host` is set (from the file or the Integrations page).
    pub fn from_config(config: &Config, context: &BridgeContext) -> Option<Arc<dyn Bridge>> {
        let config = config.mqtt.clone();
        if !config.enabled() {
            return None;
        }
        let health = HealthCell::new(BridgeHealth::new(crate::model::Channel::Mqtt, target(&config)));
        Some(Arc::new(Self { config, context: context.clone(), health }))
    }
}

impl Bridge for MqttBridge {
    fn channel(&self) -> crate::model::Channel {
        crate::model::Channel::Mqtt
    }

    fn health(&self) -> BridgeHealth {
        self.health.get()
    }

    fn run(self: Arc<Self>, cancel: CancellationToken) -> BoxFuture<'static, ()> {
        // Subscribed now, not when the task first runs: nothing said in between is missed.
        let bus = self.context.bus.subscribe();
        Box::pin(async move { self.serve(bus, cancel).await })
    }
}

/// What the link task reports to the core.
#[derive(Debug)]
enum LinkEvent {
    Connected,
    /// The event loop wrote a QoS 1 publication with this packet id.
    Sent(u16),
    /// The broker acknowledged packet id.
    Acked(u16),
    Message {
        topic: String,
        payload: Vec<u8>,
    },
    Down(String),
}

impl MqttBridge {
    async fn serve(self: Arc<Self>, mut bus: broadcast::Receiver<BusMessage>, cancel: CancellationToken) {
        let options = match connect::options(&self.config, &self.config.client_id) {
            Ok(options) => options,
            Err(message) => return self.health.fail_until_cancelled(message, &cancel).await,
        };
        let outbox = match Outbox::open(
            self.context.db.clone(),
            CHANNEL,
            self.config.outbox_max_messages,
            self.config.outbox_max_age_hours,
            self.health.clone(),
        )
        .await
        {
            Ok(outbox) => outbox,
            Err(err) => {
                let reason = format!("The MQTT outbox cannot be opened: {}", err.message);
                return self.health.fail_until_cancelled(reason, &cancel).await;
            }
        };
        let (client, mut eventloop) = AsyncClient::new(options, 512);
        eventloop.network_options.set_connection_timeout(connect::CONNECT_TIMEOUT_SECS);
        let (link_tx, mut link_rx) = mpsc::unbounded_channel();
        let link_stop = CancellationToken::new();
        let link =
            tokio::spawn(run_link(eventloop, link_tx, self.health.clone(), self.config.clone(), link_stop.clone()));
        let mut core = Core::new(&self, client, outbox);
        // Alerts made while this bridge was not running.
        core.queue_alerts().await;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => {
                    // What the cameras said while stopping (events ending) still goes in the outbox.
                    while let Ok(message) = bus.try_recv() {
                        core.on_bus(message).await;
                    }
                    break;
                }
                event = link_rx.recv() => match event {
                    Some(event) => core.on_link(event).await,
                    None => break,
                },
                message = bus.recv() => match message {
                    Ok(message) => core.on_bus(message).await,
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "the MQTT bridge fell behind the event bus; some updates were skipped");
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                _ = core.outbox.notified() => core.send_next().await,
                _ = tick.tick() => core.on_tick().await,
            }
        }
        // A clean goodbye: `offline` now (the last will only fires on a lost connection).
        if core.connected {
            let _ = core.client.try_publish(core.topics.status(), QoS::AtMostOnce, true, "offline");
            let _ = core.client.try_disconnect();
            if tokio::time::timeout(Duration::from_secs(2), link_rx_closed(&mut link_rx)).await.is_err() {
                tracing::debug!("the broker did not see the disconnect in time");
            }
        }
        link_stop.cancel();
        let _ = link.await;
        tracing::info!("MQTT bridge stopped");
    }
}

/// Resolves when the link task has ended (its channel closes).
async fn link_rx_closed(link_rx: &mut mpsc::UnboundedReceiver<LinkEvent>) {
    while link_rx.recv().await.is_some() {}
}

/// Polls the event loop for ever: forwards what matters, waits with back-off after a failure
/// (rumqttc reconnects on the next poll), and ends after a clean disconnect or on `stop`.
async fn run_link(
    mut eventloop: EventLoop,
    events: mpsc::UnboundedSender<LinkEvent>,
    health: HealthCell,
    config: MqttConfig,
    stop: CancellationToken,
) {
    let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
    loop {
        let polled = tokio::select! {
            _ = stop.cancelled() => break,
            polled = eventloop.poll() => polled,
        };
        let forward = match polled {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                backoff.reset();
                Some(LinkEvent::Connected)
            }
            Ok(Event::Incoming(Packet::PubAck(ack))) => Some(LinkEvent::Acked(ack.pkid)),
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                Some(LinkEvent::Message { topic: publish.topic, payload: publish.payload.to_vec() })
            }
            Ok(Event::Outgoing(Outgoing::Publish(pkid))) if pkid != 0 => Some(LinkEvent::Sent(pkid)),
            Ok(Event::Outgoing(Outgoing::Disconnect)) => break,
            Ok(_) => None,
            Err(error) => {
                let message = connect::describe(&error, &config);
                let delay = backoff.next_delay();
                health.update(|h| {
                    h.retry_at_ms = Some(chrono::Utc::now().timestamp_millis() + delay.as_millis() as i64);
                });
                tracing::warn!(reason = %message, retry_in_s = delay.as_secs(), "MQTT broker unreachable");
                if events.send(LinkEvent::Down(message)).is_err() || !sleep_or_cancel(delay, &stop).await {
                    break;
                }
                health.set_state(LinkState::Connecting, None);
                None
            }
        };
        if let Some(event) = forward
            && events.send(event).is_err()
        {
            break;
        }
    }
}

/// An outbox message waiting for its acknowledgement.
struct Awaiting {
    id: i64,
    /// The alert delivery the message completes, marked sent on the acknowledgement.
    delivery_id: Option<i64>,
    /// Learnt from the event loop once the publication is written.
    pkid: Option<u16>,
    since: Instant,
}

/// What was last published about a camera, to re-send after a reconnect.
#[derive(Default, Clone)]
struct CameraLive {
    motion: bool,
    counts: BTreeMap<String, u32>,
}

struct Core {
    config: MqttConfig,
    context: BridgeContext,
    health: HealthCell,
    topics: Topics,
    client: AsyncClient,
    outbox: Outbox,
    connected: bool,
    /// Sent and not yet acknowledged, oldest first.
    awaiting: VecDeque<Awaiting>,
    queue: VecDeque<OutboxRow>,
    /// The highest outbox id read into `queue`.
    read_up_to: i64,
    live: HashMap<String, CameraLive>,
    last_picture: HashMap<String, Instant>,
    last_hub: Option<Instant>,
    last_trim: Instant,
}

impl Core {
    fn new(bridge: &MqttBridge, client: AsyncClient, outbox: Outbox) -> Self {
        Self {
            topics: Topics::new(&bridge.config.base_topic, &bridge.config.discovery_prefix),
            config: bridge.config.clone(),
            context: bridge.context.clone(),
            health: bridge.health.clone(),
            client,
            outbox,
            connected: false,
            awaiting: VecDeque::new(),
            queue: VecDeque::new(),
            read_up_to: 0,
            live: HashMap::new(),
            last_picture: HashMap::new(),
            last_hub: None,
            last_trim: Instant::now(),
        }
    }

    async fn on_link(&mut self, event: LinkEvent) {
        match event {
            LinkEvent::Connected => {
                tracing::info!(broker = %target(&self.config), "connected to the MQTT broker");
                self.health.set_state(LinkState::Connected, None);
                self.connected = true;
                self.restart_delivery();
                self.on_connected().await;
                self.send_next().await;
            }
            LinkEvent::Down(message) => {
                self.connected = false;
                self.restart_delivery();
                self.health.set_state(LinkState::Disconnected, Some(message));
            }
            LinkEvent::Sent(pkid) => {
                // The event loop writes QoS 1 publications in the order they were handed over.
                if let Some(awaiting) = self.awaiting.iter_mut().find(|a| a.pkid.is_none()) {
                    tracing::debug!(message = awaiting.id, pkid, "outbox message written to the broker");
                    awaiting.pkid = Some(pkid);
                }
            }
            LinkEvent::Acked(pkid) => {
                let Some(at) = self.awaiting.iter().position(|a| a.pkid == Some(pkid)) else { return };
                let Some(Awaiting { id, delivery_id, .. }) = self.awaiting.remove(at) else { return };
                tracing::debug!(message = id, pkid, "outbox message acknowledged by the broker");
                if let Err(err) = self.outbox.delivered(id).await {
                    tracing::warn!(error = %err, "cannot remove a delivered message from the outbox; it may be sent again");
                }
                if let Some(delivery) = delivery_id {
                    let now_ms = chrono::Utc::now().timestamp_millis();
                    if let Err(err) = self.context.db.delivery_sent(delivery, now_ms, Some(id.to_string())).await {
                        tracing::warn!(error = %err, "cannot record the alert's delivery to Home Assistant");
                    }
                }
                self.send_next().await;
            }
            LinkEvent::Message { topic, payload } => self.on_message(&topic, &payload).await,
        }
    }

    /// Delivery starts again from the oldest message still in the outbox.
    fn restart_delivery(&mut self) {
        self.awaiting.clear();
        self.queue.clear();
        self.read_up_to = 0;
    }

    /// Announces itself and every camera, subscribes to commands, and sends the current state.
    /// At start it first waits (a moment, [`LOADING_WAIT`] at most) for the cameras known at start
    /// to be loaded: a broker that answered sooner would otherwise see every camera removed (its
    /// retained states cleared) and added again.
    async fn on_connected(&mut self) {
        let waiting_since = Instant::now();
        while !self.context.cameras.loaded() && waiting_since.elapsed() < LOADING_WAIT {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let subscriptions = [self.topics.command_filter(), self.topics.home_assistant_status()];
        for topic in subscriptions {
            if let Err(err) = self.client.try_subscribe(topic, QoS::AtLeastOnce) {
                tracing::warn!(error = %err, "cannot subscribe");
            }
        }
        self.publish_direct(self.topics.status(), "online", true);
        self.publish_direct(self.topics.hub("version"), crate::VERSION, true);
        self.announce().await;
        self.publish_current_state();
        self.last_hub = None;
        self.last_picture.clear();
    }

    /// Sends every discovery config, and an empty retained config for each entity announced before
    /// that no longer exists (its camera was deleted, or a label is no longer tracked).
    async fn announce(&mut self) {
        if !self.connected {
            return;
        }
        let cameras = self.camera_infos();
        let announcements = discovery::announcements(&self.topics, &self.context.ui_url, &cameras);
        let now: BTreeSet<String> = announcements.iter().map(|a| a.topic.clone()).collect();
        let before: BTreeSet<String> = match self.context.db.setting(ANNOUNCED_KEY).await {
            Ok(Some(text)) => {
                crate::db::stored_json_or_logged(&text, "the list of entities announced to Home Assistant")
            }
            _ => BTreeSet::new(),
        };
        // The retained state of what is gone goes too, so nothing stale is left on the broker; its
        // messages still waiting in the outbox (from before a restart) are forgotten first, or
        // they would bring that state back after the clearing.
        let gone: Vec<&String> = before.difference(&now).collect();
        let cleared: Vec<String> = gone
            .iter()
            .filter_map(|topic| discovery::parse_config_topic(&self.topics, topic))
            .flat_map(|(camera, object)| {
                discovery::retained_leaves(object).into_iter().map(|leaf| self.topics.camera(camera, &leaf))
            })
            .collect();
        if let Err(err) = self.outbox.forget_topics(&cleared).await {
            tracing::warn!(error = %err, "cannot forget the waiting messages of removed entities");
        }
        for topic in gone {
            self.publish_direct(topic.clone(), Vec::new(), true);
        }
        for topic in cleared {
            self.publish_direct(topic, Vec::new(), true);
        }
        for announcement in announcements {
            let payload = serde_json::to_vec(&announcement.payload).unwrap_or_default();
            self.publish_direct(announcement.topic, payload, true);
        }
        if before != now {
            let text = serde_json::to_string(&now).unwrap_or_default();
            if let Err(err) = self.context.db.put_setting(ANNOUNCED_KEY, &text).await {
                tracing::warn!(error = %err, "cannot record the announced entities");
            }
        }
        tracing::debug!(entities = now.len(), removed = before.difference(&now).count(), "discovery sent");
    }

    fn camera_infos(&self) -> Vec<CameraInfo> {
        let detecting = self.context.cameras.detecting();
        self.context
            .cameras
            .list()
            .iter()
            .map(|runtime| {
                let config = &runtime.config;
                let url = config.url.to_ascii_lowercase();
                let model = if url.starts_with("rtsp") {
                    "RTSP camera"
                } else if url.starts_with("http") {
                    "MJPEG camera"
                } else {
                    "Video file"
                };
                CameraInfo {
                    id: config.id.clone(),
                    name: config.display_name().to_string(),
                    labels: if detecting { config.objects.track.clone() } else { Vec::new() },
                    model: model.into(),
                    records: config.record.enabled(),
                }
            })
            .collect()
    }

    /// Retained state as it is now, for Home Assistant after it (or the link) restarts.
    fn publish_current_state(&mut self) {
        let controls = self.context.cameras.controls().clone();
        self.publish_direct(self.topics.hub("armed/state"), on_off(controls.armed()), true);
        for runtime in self.context.cameras.list() {
            let id = runtime.id().to_string();
            let status = runtime.status();
            self.publish_direct(self.topics.camera(&id, "status"), status.state.as_str(), true);
            let live = self.live.get(&id).cloned().unwrap_or_else(|| CameraLive {
                motion: status.motion,
                counts: runtime.config.objects.track.iter().map(|l| (l.clone(), 0)).collect(),
            });
            self.publish_direct(self.topics.camera(&id, "motion"), on_off(live.motion), true);
            if self.context.cameras.detecting() {
                for label in &runtime.config.objects.track {
                    let count = live.counts.get(label).copied().unwrap_or(0);
                    self.publish_direct(self.topics.camera(&id, &slug(label)), count.to_string(), true);
                }
            }
            for (topic, payload) in self.control_states(&id, &controls.get(&id)) {
                self.publish_direct(topic, payload, true);
            }
        }
    }

    fn control_states(&self, camera: &str, controls: &CameraControls) -> [(String, String); 4] {
        let mute = controls
            .mute_until_ms
            .and_then(chrono::DateTime::from_timestamp_millis)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default();
        [
            (self.topics.camera(camera, "detect/state"), on_off(controls.detect).into()),
            (self.topics.camera(camera, "alerts/state"), on_off(controls.alerts).into()),
            (self.topics.camera(camera, "record/state"), on_off(controls.record).into()),
            (self.topics.camera(camera, "mute_until/state"), mute),
        ]
    }

    /// QoS 0, not kept: for what is re-sent anyway (discovery, pictures, readings).
    fn publish_direct(&self, topic: String, payload: impl Into<Vec<u8>>, retain: bool) {
        if !self.connected {
            return;
        }
        if let Err(err) = self.client.try_publish(topic, QoS::AtMostOnce, retain, payload) {
            tracing::debug!(error = %err, "publication skipped");
        }
    }

    /// Through the outbox: kept until the broker has it.
    async fn publish_kept(&self, topic: String, payload: impl Into<Vec<u8>>, retain: bool, stamp_id: bool) {
        if let Err(err) = self.outbox.push(topic, payload.into(), retain, stamp_id, None).await {
            tracing::error!(error = %err, "cannot store a message in the outbox; it is lost");
        }
    }

    /// Sends the oldest undelivered messages until [`WINDOW`] wait for their acknowledgements.
    async fn send_next(&mut self) {
        while self.connected && self.awaiting.len() < WINDOW {
            if self.queue.is_empty() {
                match self.outbox.batch(self.read_up_to, BATCH).await {
                    Ok(rows) => {
                        if let Some(last) = rows.last() {
                            self.read_up_to = last.id;
                        }
                        self.queue.extend(rows);
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "cannot read the outbox; trying again shortly");
                        return;
                    }
                }
            }
            let Some(row) = self.queue.pop_front() else { return };
            match self.client.try_publish(row.topic.clone(), QoS::AtLeastOnce, row.retain, stamped_payload(&row)) {
                Ok(()) => {
                    tracing::debug!(message = row.id, delivery = row.delivery_id, "outbox message handed to the link");
                    self.awaiting.push_back(Awaiting {
                        id: row.id,
                        delivery_id: row.delivery_id,
                        pkid: None,
                        since: Instant::now(),
                    })
                }
                Err(err) => {
                    tracing::debug!(error = %err, "outbox message not handed over; trying again");
                    self.queue.push_front(row);
                    return;
                }
            }
        }
    }

    async fn on_tick(&mut self) {
        if let Some(oldest) = self.awaiting.front()
            && oldest.since.elapsed() > ACK_TIMEOUT
        {
            tracing::warn!(message = oldest.id, "no acknowledgement from the broker; sending again");
            self.restart_delivery();
        }
        self.send_next().await;
        if self.last_trim.elapsed() > Duration::from_secs(60) {
            self.last_trim = Instant::now();
            if let Err(err) = self.outbox.trim().await {
                tracing::warn!(error = %err, "cannot trim the outbox");
            }
        }
        if !self.connected {
            return;
        }
        if self.last_hub.is_none_or(|at| at.elapsed() >= HUB_INTERVAL) {
            self.last_hub = Some(Instant::now());
            self.publish_hub();
        }
        let interval = Duration::from_secs(u64::from(self.config.picture_interval_secs));
        if !interval.is_zero() {
            for runtime in self.context.cameras.list() {
                let due = self.last_picture.get(runtime.id()).is_none_or(|at| at.elapsed() >= interval);
                if due && runtime.status().state == CameraState::Online {
                    self.send_picture(runtime.id()).await;
                }
            }
        }
    }

    fn publish_hub(&self) {
        let online = self.context.cameras.online_count();
        self.publish_direct(self.topics.hub("cameras_online"), online.to_string(), true);
        if let Some(ms) = self.context.cameras.detector_figures().and_then(|f| f.ms_per_run()) {
            self.publish_direct(self.topics.hub("inference_ms"), format!("{ms:.1}"), true);
        }
    }

    /// The camera's latest picture, for Home Assistant's camera entity.
    async fn send_picture(&mut self, camera: &str) {
        self.last_picture.insert(camera.to_string(), Instant::now());
        match self.context.cameras.latest_jpeg(camera).await {
            Ok(Some(jpeg)) => self.publish_direct(self.topics.camera(camera, "picture"), jpeg.as_slice(), true),
            Ok(None) => {}
            Err(err) => tracing::debug!(error = %err, "no picture to send"),
        }
    }

    async fn on_bus(&mut self, message: BusMessage) {
        match message {
            BusMessage::CameraStatus { camera, state, .. } => {
                self.publish_kept(self.topics.camera(&camera, "status"), state.as_str(), true, false).await;
            }
            BusMessage::Motion { camera, active } => {
                self.live.entry(camera.clone()).or_default().motion = active;
                self.publish_kept(self.topics.camera(&camera, "motion"), on_off(active), true, false).await;
            }
            BusMessage::Objects { camera, counts } => {
                let live = self.live.entry(camera.clone()).or_default();
                let changed: Vec<(String, u32)> = counts
                    .iter()
                    .filter(|(label, count)| live.counts.get(*label).copied().unwrap_or(0) != **count)
                    .map(|(label, count)| (label.clone(), *count))
                    .collect();
                live.counts = counts;
                for (label, count) in changed {
                    self.publish_kept(self.topics.camera(&camera, &slug(&label)), count.to_string(), true, false).await;
                }
            }
            BusMessage::Controls { camera, controls } => {
                for (topic, payload) in self.control_states(&camera, &controls) {
                    self.publish_kept(topic, payload, true, false).await;
                }
            }
            BusMessage::Armed { armed } => {
                self.publish_kept(self.topics.hub("armed/state"), on_off(armed), true, false).await;
            }
            BusMessage::CamerasChanged => self.announce().await,
            // Node sensors reach Home Assistant through ESPHome's own integration.
            BusMessage::NodeSensor { .. } => {}
            BusMessage::EventStarted(event) => {
                self.on_event("new", &event).await;
            }
            BusMessage::EventUpdated(event) => {
                self.on_event("update", &event).await;
            }
            BusMessage::Alert { .. } => self.queue_alerts().await,
            // Reports go by e-mail and Telegram only.
            BusMessage::Report { .. } => {}
            BusMessage::EventEnded(event) => {
                self.on_event("end", &event).await;
            }
        }
    }

    /// Publishes the event (and its snapshot and the camera's picture); returns it as sent.
    async fn on_event(&mut self, kind: &str, event: &EventSummary) -> serde_json::Value {
        let described = self.event_json(event);
        let message = json!({ "type": kind, "event": described });
        self.publish_kept(self.topics.events(), message.to_string(), false, true).await;
        self.publish_kept(self.topics.camera(&event.camera, "last_event"), described.to_string(), true, false).await;
        self.publish_description(event, &described).await;
        if let (Some(label), Some(snapshot), "object") = (&event.label, &event.snapshot, event.kind.as_str()) {
            // The copy with the box drawn in, as a notification would show it.
            let drawn = crate::media::MediaStore::annotated_path(snapshot);
            let file = self.context.media.resolve(&drawn).or_else(|| self.context.media.resolve(snapshot));
            let bytes = match file {
                Some(file) => tokio::fs::read(file).await.ok(),
                None => None,
            };
            if let Some(bytes) = bytes {
                let topic = self.topics.camera(&event.camera, &format!("{}/snapshot", slug(label)));
                self.publish_direct(topic, bytes, true);
            }
        }
        if kind != "update" {
            self.send_picture(&event.camera).await;
        }
        described
    }

    /// The latest event's description, retained on `<camera>/description` for the camera's
    /// Description sensor (the title, else the text, as its state; all of it as attributes): the
    /// stored one (a model's, or the one from the detections), else `fallback`.
    async fn publish_description(&mut self, event: &EventSummary, fallback: &serde_json::Value) {
        let stored = self.context.db.get_event(event.id).await.ok().flatten().filter(|e| e.described_by.is_some());
        let message = match &stored {
            Some(stored) => json!({
                "event": event.id,
                "title": stored.title,
                "description": stored.description,
                "threat_level": stored.threat_level,
                "described_by": stored.described_by,
                "url": fallback["url"],
            }),
            None => json!({
                "event": event.id,
                "title": fallback["title"],
                "description": fallback["description"],
                "threat_level": null,
                "described_by": DescribedBy::Rules.as_str(),
                "url": fallback["url"],
            }),
        };
        self.publish_kept(self.topics.camera(&event.camera, "description"), message.to_string(), true, false).await;
    }

    /// The event as other systems see it: ids, times in RFC 3339, links, a one-line description.
    fn event_json(&self, event: &EventSummary) -> serde_json::Value {
        let time = |ms: i64| {
            chrono::DateTime::from_timestamp_millis(ms).map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        };
        let ui = &self.context.ui_url;
        let camera = self.context.cameras.get(&event.camera);
        let camera_name = camera.as_ref().map_or(event.camera.clone(), |c| c.config.display_name().to_string());
        let records = camera.is_some_and(|c| c.config.record.enabled());
        json!({
            "id": event.id,
            "camera": event.camera,
            "kind": event.kind,
            "label": event.label,
            "score": (event.score * 100.0).round() / 100.0,
            "zones": event.zones,
            "start": time(event.start_ms),
            "end": event.end_ms.and_then(time),
            "url": format!("{ui}/events/{}", event.id),
            "snapshot_url": event.snapshot.as_ref().map(|_| format!("{ui}/api/events/{}/snapshot.jpg", event.id)),
            "clip_url": records.then(|| format!("{ui}/api/events/{}/clip.mp4", event.id)),
            "title": event.title,
            "description": event.description.clone().unwrap_or_else(|| crate::describe::text::from_detections(
                event.label.as_deref(),
                &event.zones,
                &camera_name,
                event.start_ms,
                event.end_ms,
            )),
        })
    }

    /// Puts the alerts waiting for Home Assistant into the outbox: on `<camera>/alert` and on
    /// `alerts`, the second carrying the delivery, which is marked sent when the broker has it.
    async fn queue_alerts(&mut self) {
        let rows = match self.context.db.due_deliveries(ALERT_CHANNEL, i64::MAX, BATCH).await {
            Ok(rows) => rows,
            Err(err) => {
                tracing::warn!(error = %err, "cannot read the alerts waiting for Home Assistant");
                return;
            }
        };
        let oldest_ms = chrono::Utc::now().timestamp_millis() - i64::from(self.config.outbox_max_age_hours) * 3_600_000;
        for row in rows {
            if row.created_ms < oldest_ms {
                let reason =
                    format!("gave up after {} h: Home Assistant's bridge was off", self.config.outbox_max_age_hours);
                let _ = self.context.db.delivery_failed(row.id, &reason).await;
                continue;
            }
            let event = match self.context.db.get_event(row.event_id).await {
                Ok(Some(event)) => event,
                Ok(None) => {
                    let _ = self.context.db.delivery_failed(row.id, "the event was deleted before it was sent").await;
                    continue;
                }
                Err(err) => {
                    tracing::warn!(error = %err, "cannot read an alert's event");
                    return;
                }
            };
            let summary = EventSummary::from_model(&event);
            let severity = event.severity.as_str();
            let alert = json!({
                "event_type": severity,
                "severity": severity,
                "camera": summary.camera,
                "label": summary.label,
                "event": self.event_json(&summary),
            })
            .to_string();
            self.publish_kept(self.topics.camera(&summary.camera, "alert"), alert.clone(), false, true).await;
            if let Err(err) =
                self.outbox.push(self.topics.alerts(), alert.into_bytes(), false, true, Some(row.id)).await
            {
                tracing::error!(error = %err, "cannot store an alert in the outbox; trying again later");
                return;
            }
            if let Err(err) = self.context.db.delivery_queued(row.id).await {
                tracing::warn!(error = %err, "cannot record that an alert waits in the outbox");
            }
        }
    }

    async fn on_message(&mut self, topic: &str, payload: &[u8]) {
        let text = String::from_utf8_lossy(payload).trim().to_string();
        if topic == self.topics.home_assistant_status() {
            if text == "online" {
                tracing::info!("Home Assistant (re)started; announcing the cameras again");
                self.announce().await;
                self.publish_current_state();
                self.last_picture.clear();
            }
            return;
        }
        let Some((camera, command)) = self.topics.parse_command(topic) else { return };
        if (camera, command) == ("hub", "armed") {
            match parse_switch(&text) {
                Some(armed) => {
                    tracing::info!(payload = %text, "arm/disarm from MQTT");
                    if let Err(err) = self.context.cameras.controls().set_armed(armed).await {
                        tracing::error!(error = %err, "cannot save whether alerts are armed");
                    }
                }
                None => tracing::warn!(payload = %text, "MQTT arm/disarm ignored: send ON (away) or OFF (home)"),
            }
            return;
        }
        if self.context.cameras.get(camera).is_none() {
            tracing::warn!(%camera, %command, "MQTT command for an unknown camera ignored");
            return;
        }
        let now = chrono::Utc::now();
        let change: Box<dyn FnOnce(&mut CameraControls) + Send> = match (command, parse_switch(&text)) {
            ("detect", Some(on)) => Box::new(move |c| c.detect = on),
            ("alerts", Some(on)) => Box::new(move |c| c.alerts = on),
            ("record", Some(on)) => Box::new(move |c| c.record = on),
            ("mute_until", _) => match parse_mute_until(&text, now) {
                Ok(until) => Box::new(move |c| c.mute_until_ms = until),
                Err(message) => {
                    tracing::warn!(%camera, payload = %text, "{message}");
                    return;
                }
            },
            _ => {
                tracing::warn!(%camera, %command, payload = %text, "MQTT command ignored: send ON or OFF");
                return;
            }
        };
        let camera = camera.to_string();
        tracing::info!(%camera, %command, payload = %text, "command from MQTT");
        if let Err(err) = self.context.cameras.controls().change(&camera, change).await {
            tracing::error!(error = %err, "cannot save the camera's switches");
        }
    }
}

fn on_off(on: bool) -> &'static str {
    if on { "ON" } else { "OFF" }
}

fn parse_switch(text: &str) -> Option<bool> {
    match text.to_ascii_uppercase().as_str() {
        "ON" | "TRUE" | "1" => Some(true),
        "OFF" | "FALSE" | "0" => Some(false),
        _ => None,
    }
}

/// `mute_until/set`: an RFC 3339 time, a number of minutes from now, or `OFF`/empty to unmute.
pub fn parse_mute_until(text: &str, now: chrono::DateTime<chrono::Utc>) -> Result<Option<i64>, String> {
    let text = text.trim();
    if text.is_empty() || text.eq_ignore_ascii_case("off") || text.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    if let Ok(minutes) = text.parse::<u32>() {
        return Ok((minutes > 0).then(|| now.timestamp_millis() + i64::from(minutes) * 60_000));
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| Some(t.timestamp_millis()))
        .map_err(|_| "mute_until: send minutes (\"120\"), a time (\"2026-11-23T07:00:00+01:00\") or OFF".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mute_until_takes_minutes_times_and_off() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-22T20:00:00Z").unwrap().to_utc();
        assert_eq!(parse_mute_until("90", now), Ok(Some(now.timestamp_millis() + 90 * 60_000)));
        let at = parse_mute_until("2026-11-23T07:00:00+01:00", now).unwrap().unwrap();
        assert_eq!(at, chrono::DateTime::parse_from_rfc3339("2026-11-23T06:00:00Z").unwrap().timestamp_millis());
        assert_eq!(parse_mute_until("OFF", now), Ok(None));
        assert_eq!(parse_mute_until("0", now), Ok(None));
        assert!(parse_mute_until("tomorrow", now).unwrap_err().contains("minutes"));
    }

    #[test]
    fn switches_accept_the_usual_spellings() {
        assert_eq!(parse_switch("on"), Some(true));
        assert_eq!(parse_switch("OFF"), Some(false));
        assert_eq!(parse_switch("maybe"), None);
    }
}
