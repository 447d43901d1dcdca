//! Alerts: which events deserve a person's attention, kept with their severity and status, and
//! handed to every alert channel (Home Assistant, Telegram, WhatsApp, e-mail, push notifications,
//! ntfy, webhooks) through one persisted outbox.
//!
//! The [`Alerter`] is one task on the event bus. When an event starts it checks home/away, the
//! camera's alerts switch and mute, and the camera's policy ([`policy::decide`], cool-downs). Where
//! a model describes the camera's events it holds the alert up to `[describe] alert_wait_secs` for
//! the description. Then it marks the event alerted and writes one delivery row per channel and
//! recipient in the same transaction (`alert_deliveries`), and says [`BusMessage::Alert`]. Each
//! channel sends its rows ([`crate::bridges::delivery`]), so an alert made while a channel is down
//! or restarting is sent when it is back, and never twice to the same recipient.

pub mod policy;
pub mod view;

use crate::bus::{BusMessage, EventBus, EventSummary};
use crate::camera::Cameras;
use crate::camera::settings::AlertPolicy;
use crate::clock::SharedClock;
use crate::config::Config;
use crate::db::{Db, Recipient};
use crate::describe::settings::DescribeConfig;
use crate::model::Channel;
use crate::model::Severity;
use crate::supervise::CancellationToken;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

use policy::{Cooldowns, decide};
pub use view::AlertView;

/// Home/away in words, as the bots say it.
pub fn armed_text(armed: bool) -> &'static str {
    if armed { "Armed: alerts are on (away)." } else { "Disarmed: alerts are paused (home)." }
}

/// Where an alert of `camera` goes under `config`: Home Assistant when MQTT is set, one recipient
/// per Telegram chat and per verified WhatsApp number, the e-mail list as one, each subscribed
/// device whose owner may see the camera, the ntfy topic, and each webhook.
async fn recipients(config: &Config, db: &Db, camera: &str) -> Vec<Recipient> {
    let mut all = Vec::new();
    if config.mqtt.enabled() {
        all.push(Recipient { channel: Channel::Mqtt, recipient: "home-assistant".into() });
    }
    if config.telegram.enabled() {
        for chat in &config.telegram.chat_ids {
            all.push(Recipient { channel: Channel::Telegram, recipient: chat.to_string() });
        }
    }
    if config.whatsapp.enabled() {
        match db.whatsapp_numbers().await {
            Ok(numbers) => all.extend(
                numbers
                    .into_iter()
                    .filter(|n| n.status == "verified")
                    .map(|n| Recipient { channel: Channel::Whatsapp, recipient: n.number }),
            ),
            Err(err) => tracing::warn!(error = %err, "cannot read the WhatsApp numbers; this alert skips WhatsApp"),
        }
    }
    if config.email.enabled() {
        all.push(Recipient { channel: Channel::Email, recipient: config.email.to.join(", ") });
    }
    if config.push.enabled {
        match db.push_subscriptions_for_camera(camera).await {
            Ok(devices) => all
                .extend(devices.into_iter().map(|d| Recipient { channel: Channel::Push, recipient: d.id.to_string() })),
            Err(err) => tracing::warn!(error = %err, "cannot read the push subscriptions; this alert skips them"),
        }
    }
    if config.ntfy.enabled() {
        all.push(Recipient { channel: Channel::Ntfy, recipient: config.ntfy.topic_url.trim().to_string() });
    }
    for hook in &config.webhooks {
        all.push(Recipient { channel: Channel::Webhook, recipient: hook.url.trim().to_string() });
    }
    all
}

/// The alerts task; see the module's description.
pub struct Alerter {
    db: Db,
    bus: EventBus,
    cameras: Cameras,
    describe: DescribeConfig,
    /// The settings now in force (MQTT can be changed from the UI), for the recipients.
    config: Arc<dyn Fn() -> Arc<Config> + Send + Sync>,
    /// Alerts waiting for their event's description, by event id, with when to stop waiting.
    waiting: HashMap<i64, (EventSummary, Severity, Instant)>,
    cooldowns: Cooldowns,
    /// Decides mutes and cool-downs.
    clock: SharedClock,
}

impl Alerter {
    pub fn new(
        db: Db,
        bus: EventBus,
        cameras: Cameras,
        describe: DescribeConfig,
        config: Arc<dyn Fn() -> Arc<Config> + Send + Sync>,
        clock: SharedClock,
    ) -> Self {
        Self { db, bus, cameras, describe, config, waiting: HashMap::new(), cooldowns: Cooldowns::default(), clock }
    }

    /// Runs until `cancel`; then alerts still waiting for a description are made without it.
    /// Subscribes before returning, so nothing said after this call is missed.
    pub fn run(mut self, cancel: CancellationToken) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut bus = self.bus.subscribe();
        async move {
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    message = bus.recv() => match message {
                        Ok(message) => self.on_bus(message).await,
                        Err(broadcast::error::RecvError::Lagged(missed)) => {
                            tracing::warn!(missed, "the alerts task fell behind the event bus; some events may not alert");
                        }
                        Err(broadcast::error::RecvError::Closed) => break,
                    },
                    _ = tick.tick(), if !self.waiting.is_empty() => self.release_due(false).await,
                }
            }
            while let Ok(message) = bus.try_recv() {
                self.on_bus(message).await;
            }
            self.release_due(true).await;
            tracing::debug!("alerts task stopped");
        }
    }

    async fn on_bus(&mut self, message: BusMessage) {
        match message {
            BusMessage::EventStarted(event) => self.consider(event).await,
            BusMessage::EventUpdated(event) if event.description.is_some() => self.release(event.id).await,
            _ => {}
        }
    }

    /// Whether `event` alerts (see [`policy::decide`]); held for its description or made now.
    async fn consider(&mut self, event: EventSummary) {
        let controls = self.cameras.controls();
        let now_ms = self.clock.now_ms();
        if !controls.armed() {
            tracing::debug!(event = event.id, "no alert: alerts are disarmed (home)");
            return;
        }
        if !controls.get(&event.camera).alerts_active(now_ms) {
            tracing::debug!(event = event.id, camera = %event.camera, "no alert: the camera's alerts are off or muted");
            return;
        }
        let camera = self.cameras.get(&event.camera).map(|c| c.config.clone());
        let Some(severity) = decide(&event, camera.as_ref()) else { return };
        let cooldown = camera.as_ref().map_or(AlertPolicy::default().cooldown_secs, |c| c.alerts.cooldown_secs);
        if !self.cooldowns.allow(&event, cooldown, now_ms) {
            tracing::debug!(event = event.id, camera = %event.camera, "no alert: the label is cooling down");
            return;
        }
        let wait = match &camera {
            Some(camera) if event.kind == crate::model::EventKind::Object => self.describe.alert_wait(&camera.describe),
            _ => Duration::ZERO,
        };
        if wait.is_zero() {
            self.make(&event, severity).await;
        } else {
            self.waiting.insert(event.id, (event, severity, Instant::now() + wait));
        }
    }

    /// An alert held for its description is made now.
    async fn release(&mut self, id: i64) {
        if let Some((event, severity, _)) = self.waiting.remove(&id) {
            self.make(&event, severity).await;
        }
    }

    /// Makes the held alerts whose wait is over (all of them when `all`, at shutdown).
    async fn release_due(&mut self, all: bool) {
        let now = Instant::now();
        let mut due: Vec<i64> =
            self.waiting.iter().filter(|(_, (_, _, until))| all || *until <= now).map(|(id, _)| *id).collect();
        due.sort_unstable();
        for id in due {
            self.release(id).await;
        }
    }

    /// Stores the alert with its deliveries and tells the channels.
    async fn make(&self, event: &EventSummary, severity: Severity) {
        let event_id = event.id;
        let now_ms = self.clock.now_ms();
        let to = recipients(&(self.config)(), &self.db, &event.camera).await;
        match self.db.mark_alerted(event_id, severity, now_ms, &to).await {
            Ok(true) => {
                tracing::info!(event = event_id, severity = severity.as_str(), channels = to.len(), "alert");
                self.bus.publish(BusMessage::Alert { event_id });
            }
            Ok(false) => tracing::debug!(event = event_id, "no alert: the event alerted already or is gone"),
            Err(err) => tracing::error!(event = event_id, error = %err, "cannot store an alert; it is lost"),
        }
    }
}
