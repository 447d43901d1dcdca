//! Bridges carry what happens in Watchpost to other systems (Home Assistant over MQTT, Telegram,
//! WhatsApp, e-mail, push notifications, ntfy, webhooks) and bring their commands back.
//!
//! Each bridge reads only its own config section, subscribes to the event bus, keeps a
//! [`BridgeHealth`] that the Integrations page and `/metrics` show, and stops when its
//! cancellation token fires. [`REGISTRY`] is the one ordered list of them: they start in that
//! order and stop in reverse. The alerts task ([`crate::alerts::Alerter`]), which feeds them,
//! starts before the first and stops before the last.

pub mod delivery;
pub mod email;
pub mod mqtt;
pub mod ntfy;
pub mod outbox;
pub mod push;
pub mod telegram;
pub mod webhook;
pub mod whatsapp;

use crate::auth::Vault;
use crate::bus::EventBus;
use crate::camera::Cameras;
use crate::config::{Config, ServerConfig};
use crate::db::Db;
use crate::media::MediaStore;
use crate::model::Channel;
use crate::supervise::CancellationToken;
use futures_util::future::BoxFuture;
use serde::Serialize;
use std::sync::{Arc, Mutex};

/// How a bridge's link to the far side stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkState {
    Connecting,
    Connected,
    Disconnected,
}

impl LinkState {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkState::Connecting => "connecting",
            LinkState::Connected => "connected",
            LinkState::Disconnected => "disconnected",
        }
    }
}

/// What a bridge reports about itself, for people (Integrations page) and Prometheus.
#[derive(Debug, Clone, Serialize)]
pub struct BridgeHealth {
    pub name: &'static str,
    /// Where it connects to, without credentials (`mqtt://broker.lan:1883`).
    pub target: String,
    pub state: LinkState,
    /// The last failure, in words a user can act on.
    pub last_error: Option<String>,
    /// When `state` last changed (ms since the epoch).
    pub since_ms: i64,
    /// When the next connection attempt is due, while disconnected.
    pub retry_at_ms: Option<i64>,
    pub connects: u64,
    /// Messages delivered (acknowledged by the far side).
    pub delivered: u64,
    /// Messages waiting in the outbox.
    pub pending: u64,
    /// Messages the outbox dropped because they were too old or too many.
    pub dropped: u64,
    pub last_drop_ms: Option<i64>,
}

impl BridgeHealth {
    pub fn new(channel: Channel, target: String) -> Self {
        Self {
            name: channel.as_str(),
            target,
            state: LinkState::Connecting,
            last_error: None,
            since_ms: chrono::Utc::now().timestamp_millis(),
            retry_at_ms: None,
            connects: 0,
            delivered: 0,
            pending: 0,
            dropped: 0,
            last_drop_ms: None,
        }
    }
}

/// A bridge's health, shared between its tasks and the readers.
#[derive(Debug, Clone)]
pub struct HealthCell(Arc<Mutex<BridgeHealth>>);

impl HealthCell {
    pub fn new(health: BridgeHealth) -> Self {
        Self(Arc::new(Mutex::new(health)))
    }

    pub fn get(&self) -> BridgeHealth {
        self.0.lock().expect("health lock").clone()
    }

    pub fn update(&self, change: impl FnOnce(&mut BridgeHealth)) {
        change(&mut self.0.lock().expect("health lock"));
    }

    /// A bridge that cannot start (its settings cannot be used): logs why, shows it, and idles
    /// until `cancel`, so the rest of Watchpost runs on.
    pub async fn fail_until_cancelled(&self, reason: String, cancel: &CancellationToken) {
        tracing::error!("{reason}");
        self.set_state(LinkState::Disconnected, Some(reason));
        cancel.cancelled().await;
    }

    /// Records a new link state (and when it began); a connection clears the last error.
    pub fn set_state(&self, state: LinkState, error: Option<String>) {
        self.update(|h| {
            if h.state != state {
                h.since_ms = chrono::Utc::now().timestamp_millis();
            }
            h.state = state;
            if state == LinkState::Connected {
                h.connects += 1;
                h.retry_at_ms = None;
                h.last_error = None;
            }
            if error.is_some() {
                h.last_error = error;
            }
        });
    }
}

/// One bridge: it runs until `cancel` fires, reconnecting as needed, and reports its health.
pub trait Bridge: Send + Sync {
    fn channel(&self) -> Channel;
    fn health(&self) -> BridgeHealth;
    /// The bridge's task. It subscribes to the bus before returning, so it hears everything said
    /// after `run` is called, even before the task is first polled.
    fn run(self: Arc<Self>, cancel: CancellationToken) -> BoxFuture<'static, ()>;
    /// Sends `alert` straight away (not through the outbox) to every recipient, for "Send test
    /// alert"; what happened in words. `None`: this bridge has no test alert.
    fn send_test(&self, alert: crate::alerts::AlertView) -> Option<BoxFuture<'static, Result<String, String>>> {
        let _ = alert;
        None
    }
    /// Sends `alert` straight away to `recipient` alone (one device, from its owner's page).
    fn send_test_to(
        &self,
        alert: crate::alerts::AlertView,
        recipient: String,
    ) -> Option<BoxFuture<'static, Result<String, String>>> {
        let _ = (alert, recipient);
        None
    }
}

/// What bridges may use.
#[derive(Clone)]
pub struct BridgeContext {
    pub db: Db,
    pub bus: EventBus,
    pub cameras: Cameras,
    pub media: MediaStore,
    pub vault: Arc<Vault>,
    /// Decides mutes, cool-downs, retries and giving up.
    pub clock: crate::clock::SharedClock,
    /// The web UI's address as other systems should link to it.
    pub ui_url: String,
    /// How alerts wait for descriptions (`[describe] alert_wait_secs`).
    pub describe: crate::describe::settings::DescribeConfig,
    /// Where the reports to send are kept.
    pub reports_dir: std::path::PathBuf,
    /// The VAPID key that Web Push messages are signed with.
    pub push_keys: Arc<push::webpush::PushKeys>,
}

/// Builds a bridge from its own config section; `None` when it is not configured.
type Constructor = fn(&Config, &BridgeContext) -> Option<Arc<dyn Bridge>>;

/// Every bridge, in start order.
pub const REGISTRY: [(Channel, Constructor); 7] = [
    (Channel::Mqtt, mqtt::MqttBridge::from_config),
    (Channel::Telegram, telegram::TelegramBridge::from_config),
    (Channel::Whatsapp, whatsapp::WhatsAppBridge::from_config),
    (Channel::Email, email::EmailBridge::from_config),
    (Channel::Push, push::PushBridge::from_config),
    (Channel::Ntfy, ntfy::NtfyBridge::from_config),
    (Channel::Webhook, webhook::WebhookBridge::from_config),
];

struct Running {
    channel: Channel,
    bridge: Arc<dyn Bridge>,
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

/// The running bridges, in registry order, and the settings they run with.
#[derive(Clone)]
pub struct Bridges {
    running: Arc<tokio::sync::Mutex<Vec<Running>>>,
    config: Arc<std::sync::RwLock<Arc<Config>>>,
    context: Arc<std::sync::RwLock<BridgeContext>>,
    shutdown: CancellationToken,
    alerter: Arc<tokio::sync::Mutex<Option<RunningAlerter>>>,
}

/// The alerts task's cancellation and its task.
type RunningAlerter = (CancellationToken, tokio::task::JoinHandle<()>);

impl Bridges {
    /// Nothing runs until [`Bridges::start_all`].
    pub fn new(config: Config, context: BridgeContext, shutdown: CancellationToken) -> Self {
        Self {
            running: Arc::default(),
            config: Arc::new(std::sync::RwLock::new(Arc::new(config))),
            context: Arc::new(std::sync::RwLock::new(context)),
            shutdown,
            alerter: Arc::default(),
        }
    }

    /// Starts every configured bridge, in registry order, once the UI's address is known.
    pub async fn start_all(&self, ui_url: String) {
        self.context.write().expect("bridge context lock").ui_url = ui_url;
        let (config, context) = (self.config(), self.context());
        let settings = self.config.clone();
        let alerter = crate::alerts::Alerter::new(
            context.db.clone(),
            context.bus.clone(),
            context.cameras.clone(),
            context.describe.clone(),
            Arc::new(move || settings.read().expect("bridge config lock").clone()),
            context.clock.clone(),
        );
        let cancel = self.shutdown.child_token();
        let task = tokio::spawn(alerter.run(cancel.clone()));
        *self.alerter.lock().await = Some((cancel, task));
        for (_, construct) in REGISTRY {
            if let Some(bridge) = construct(&config, &context) {
                self.launch(bridge).await;
            }
        }
    }

    fn context(&self) -> BridgeContext {
        self.context.read().expect("bridge context lock").clone()
    }

    /// Starts `bridge`, replacing (after stopping) the one running on its channel.
    async fn launch(&self, bridge: Arc<dyn Bridge>) {
        let channel = bridge.channel();
        let mut running = self.running.lock().await;
        if let Some(index) = running.iter().position(|r| r.channel == channel) {
            stop(running.remove(index)).await;
        }
        let cancel = self.shutdown.child_token();
        let span = tracing::info_span!("bridge", name = channel.as_str());
        let task = tokio::spawn(tracing::Instrument::instrument(bridge.clone().run(cancel.clone()), span));
        tracing::info!(bridge = %channel, target = %bridge.health().target, "bridge started");
        let order = |c: Channel| REGISTRY.iter().position(|(r, _)| *r == c).unwrap_or(usize::MAX);
        let at = running.iter().position(|r| order(r.channel) > order(channel)).unwrap_or(running.len());
        running.insert(at, Running { channel, bridge, cancel, task });
    }

    /// Runs the bridge of `channel` with new settings (saved from the UI): restarted, or stopped
    /// when the new settings turn it off.
    pub async fn reconfigure(&self, channel: Channel, config: Config) {
        let config = Arc::new(config);
        *self.config.write().expect("bridge config lock") = config.clone();
        let Some((channel, construct)) = REGISTRY.into_iter().find(|(c, _)| *c == channel) else { return };
        match construct(&config, &self.context()) {
            Some(bridge) => self.launch(bridge).await,
            None => {
                let mut running = self.running.lock().await;
                if let Some(index) = running.iter().position(|r| r.channel == channel) {
                    stop(running.remove(index)).await;
                    tracing::info!(bridge = %channel, "bridge turned off");
                }
            }
        }
    }

    /// The settings the bridges run with now.
    pub fn config(&self) -> Arc<Config> {
        self.config.read().expect("bridge config lock").clone()
    }

    /// "Send test alert" on `channel`: what happened, or why it did not work.
    pub async fn send_test(&self, channel: Channel) -> Result<String, String> {
        let bridge = {
            let running = self.running.lock().await;
            running.iter().find(|r| r.channel == channel).map(|r| r.bridge.clone())
        };
        let name = channel.as_str();
        let Some(bridge) = bridge else { return Err(format!("{name} is not set up.")) };
        let alert = crate::alerts::AlertView::test(&self.context().ui_url);
        match bridge.send_test(alert) {
            Some(sending) => sending.await,
            None => Err(format!("{name} has no test alert.")),
        }
    }

    /// "Send test" to one recipient of `channel` (a device on its owner's account page).
    pub async fn send_test_to(&self, channel: Channel, recipient: &str) -> Result<String, String> {
        let bridge = {
            let running = self.running.lock().await;
            running.iter().find(|r| r.channel == channel).map(|r| r.bridge.clone())
        };
        let name = channel.title();
        let Some(bridge) = bridge else { return Err(format!("{name} are off.")) };
        let alert = crate::alerts::AlertView::test(&self.context().ui_url);
        match bridge.send_test_to(alert, recipient.to_string()) {
            Some(sending) => sending.await,
            None => Err(format!("{name} have no test for one recipient.")),
        }
    }

    /// The alert channels set up (their bridge runs), in registry order.
    pub async fn channels(&self) -> Vec<Channel> {
        self.running.lock().await.iter().map(|r| r.channel).collect()
    }

    pub async fn health(&self) -> Vec<BridgeHealth> {
        self.running.lock().await.iter().map(|r| r.bridge.health()).collect()
    }

    /// Stops the alerts task (alerts still waiting for a description are made), then every
    /// bridge, last started first.
    pub async fn stop_all(&self) {
        if let Some((cancel, task)) = self.alerter.lock().await.take() {
            cancel.cancel();
            let _ = task.await;
        }
        let mut running = self.running.lock().await;
        while let Some(entry) = running.pop() {
            stop(entry).await;
        }
    }
}

async fn stop(entry: Running) {
    entry.cancel.cancel();
    if tokio::time::timeout(std::time::Duration::from_secs(10), entry.task).await.is_err() {
        tracing::warn!(bridge = %entry.channel, "bridge did not stop within 10 s");
    }
}

/// The address other systems should use to link to the UI: `[server] base_url`, else the bind
/// address (a wildcard bind replaced by this machine's host name).
pub fn ui_url(server: &ServerConfig, bound: std::net::SocketAddr) -> String {
    if !server.base_url.is_empty() {
        return server.base_url.trim_end_matches('/').to_string();
    }
    if bound.ip().is_unspecified() {
        let host = std::fs::read_to_string("/etc/hostname")
            .ok()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".into());
        format!("http://{host}:{}", bound.port())
    } else {
        format!("http://{bound}")
    }
}

/// Where a report goes: the recipients of the channels on `send_to` that are set up (e-mail to the
/// `[email] to` list as one, Telegram to each chat); a channel named but not set up is skipped
/// with a warning.
pub fn report_recipients(config: &Config, send_to: &[Channel]) -> Vec<crate::db::Recipient> {
    use crate::db::Recipient;
    let mut all = Vec::new();
    for channel in send_to {
        match channel {
            Channel::Email if config.email.enabled() => {
                all.push(Recipient { channel: Channel::Email, recipient: config.email.to.join(", ") })
            }
            Channel::Telegram if config.telegram.enabled() => all.extend(
                config
                    .telegram
                    .chat_ids
                    .iter()
                    .map(|chat| Recipient { channel: Channel::Telegram, recipient: chat.to_string() }),
            ),
            other => {
                tracing::warn!(channel = %other, "a report is to be sent by a channel that is not set up; skipped")
            }
        }
    }
    all
}
