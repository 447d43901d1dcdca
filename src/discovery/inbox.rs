//! The discovery inbox: scans (in the background every `[discovery] interval_minutes`, or when
//! asked) and cameras' Hello announcements (heard in between) record what answered in the
//! database (cameras here, nodes in the nodes registry), where the user adopts or ignores it; and the adoptions in progress between "here are the
//! credentials" and "make this stream a camera".

use super::onvif::Profile;
use crate::db::Db;
use crate::db::entities::discovered_device;
use crate::discovery::DiscoveryConfig;
use crate::secret::Secret;
use crate::supervise::CancellationToken;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How a scan is going, for the Discovery page.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ScanState {
    pub running_since_ms: Option<i64>,
    pub last_finished_ms: Option<i64>,
    /// What the last scan found: ONVIF cameras, and ESP32/ESPHome nodes.
    pub last_cameras: usize,
    pub last_nodes: usize,
    pub last_error: Option<String>,
}

/// A camera whose credentials were accepted, waiting for the user to pick a stream.
#[derive(Debug, Clone)]
pub struct PendingAdoption {
    pub device_id: String,
    pub username: String,
    pub password: Secret,
    pub manufacturer: String,
    pub model: String,
    /// Usable profiles and their RTSP addresses (without credentials).
    pub streams: Vec<(Profile, String)>,
    created: Instant,
}

/// Adoptions not finished within this are forgotten (their credentials with them).
const PENDING_FOR: Duration = Duration::from_secs(15 * 60);

#[derive(Clone)]
pub struct Inbox {
    db: Db,
    config: DiscoveryConfig,
    state: Arc<Mutex<ScanState>>,
    pending: Arc<Mutex<HashMap<String, PendingAdoption>>>,
}

impl Inbox {
    pub fn new(db: Db, config: DiscoveryConfig) -> Self {
        Self { db, config, state: Arc::default(), pending: Arc::default() }
    }

    pub fn state(&self) -> ScanState {
        self.state.lock().expect("scan state lock").clone()
    }

    /// Starts a scan unless one is running; returns whether it started.
    pub fn scan_now(&self) -> bool {
        {
            let mut state = self.state.lock().expect("scan state lock");
            if state.running_since_ms.is_some() {
                return false;
            }
            state.running_since_ms = Some(chrono::Utc::now().timestamp_millis());
        }
        let inbox = self.clone();
        tokio::spawn(async move { inbox.scan().await });
        true
    }

    async fn scan(&self) {
        let (config, wait) = (self.config.clone(), Duration::from_secs(self.config.probe_secs.into()));
        let result = tokio::task::spawn_blocking(move || super::scan(&config, wait)).await;
        let now = chrono::Utc::now().timestamp_millis();
        let outcome = match result {
            Ok(found) => {
                let nodes = found.nodes.unwrap_or_else(|err| {
                    tracing::warn!("cannot look for nodes: {}", err.message);
                    Vec::new()
                });
                super::nodes::record_nodes(&self.db, &nodes).await;
                match found.cameras {
                    Ok(devices) => {
                        let (cameras, nodes) = (devices.len(), nodes.len());
                        for device in devices {
                            self.record(device, now).await;
                        }
                        tracing::info!(cameras, nodes, "discovery scan finished");
                        Ok((cameras, nodes))
                    }
                    Err(err) => Err(err.message),
                }
            }
            Err(_) => Err("the scan failed; see the log".to_string()),
        };
        let mut state = self.state.lock().expect("scan state lock");
        state.running_since_ms = None;
        state.last_finished_ms = Some(now);
        match outcome {
            Ok((cameras, nodes)) => {
                (state.last_cameras, state.last_nodes) = (cameras, nodes);
                state.last_error = None;
            }
            Err(message) => {
                tracing::warn!("discovery scan failed: {message}");
                state.last_error = Some(message);
            }
        }
    }

    async fn record(&self, device: super::OnvifDevice, now: i64) {
        let row = discovered_device::Model {
            id: device.endpoint.clone(),
            kind: "onvif".into(),
            name: device.name,
            manufacturer: device.manufacturer,
            model: device.model,
            address: device.address.to_string(),
            xaddrs: serde_json::to_string(&device.xaddrs).unwrap_or_else(|_| "[]".into()),
            status: "new".into(),
            camera_id: None,
            first_seen_ms: now,
            last_seen_ms: now,
        };
        if let Err(err) = self.db.record_discovered(row).await {
            tracing::warn!(error = %err, "cannot record a discovered device");
        }
    }

    /// Scans every `interval_minutes` and records the cameras that announce themselves (Hello)
    /// in between, until `cancel`; nothing when the interval is 0.
    pub async fn run_background(self, cancel: CancellationToken) {
        let minutes = self.config.interval_minutes;
        if minutes == 0 {
            return;
        }
        let (sender, mut heard) = tokio::sync::mpsc::channel(64);
        let (interfaces, stop) = (self.config.interfaces.clone(), cancel.clone());
        let listener = tokio::task::spawn_blocking(move || {
            let result =
                super::listen_for_announcements(&interfaces, &stop, |device| sender.blocking_send(device).is_ok());
            if let Err(err) = result {
                tracing::warn!("{}; cameras are found by scans only", err.message);
            }
        });
        let every = Duration::from_secs(u64::from(minutes) * 60);
        let mut next_scan = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(next_scan) => {
                    self.scan_now();
                    next_scan += every;
                }
                Some(device) = heard.recv() => self.record(device, chrono::Utc::now().timestamp_millis()).await,
                _ = cancel.cancelled() => break,
            }
        }
        let _ = listener.await;
    }

    /// Keeps an adoption in progress; returns its key.
    pub fn hold(&self, adoption: PendingAdoption) -> String {
        let key = crate::auth::random_token();
        let mut pending = self.pending.lock().expect("pending lock");
        pending.retain(|_, p| p.created.elapsed() < PENDING_FOR);
        pending.insert(key.clone(), adoption);
        key
    }

    pub fn pending(&self, key: &str) -> Option<PendingAdoption> {
        let pending = self.pending.lock().expect("pending lock");
        pending.get(key).filter(|p| p.created.elapsed() < PENDING_FOR).cloned()
    }

    pub fn finish(&self, key: &str) {
        self.pending.lock().expect("pending lock").remove(key);
    }
}

impl PendingAdoption {
    pub fn new(
        device_id: String,
        username: String,
        password: Secret,
        info: (String, String),
        streams: Vec<(Profile, String)>,
    ) -> Self {
        Self { device_id, username, password, manufacturer: info.0, model: info.1, streams, created: Instant::now() }
    }
}
