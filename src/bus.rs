//! The in-process event bus: the one seam the cameras tell everything else through (the UI,
//! Home Assistant, alerts, the describer). It is a tokio broadcast of typed [`BusMessage`]s; a slow
//! subscriber misses messages (and is told how many) rather than slowing the cameras down. Only
//! plain data travels on it, so it sits below both the producers and the consumers.

use crate::db::entities::{event, node_event};
use crate::model::{CameraState, EventKind};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tokio::sync::broadcast;

/// Everything that happens, as it happens.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BusMessage {
    CameraStatus {
        camera: String,
        state: CameraState,
        error: Option<String>,
    },
    /// Motion started or stopped (after the camera's `motion.quiet_secs` without any).
    Motion {
        camera: String,
        active: bool,
    },
    /// How many objects of each tracked label the camera follows now (every tracked label, zeros
    /// included); sent when a count changes.
    Objects {
        camera: String,
        counts: BTreeMap<String, u32>,
    },
    /// A camera's switches, after a change (or a request to change them).
    Controls {
        camera: String,
        controls: CameraControls,
    },
    /// Alerts were armed (away) or disarmed (home), or someone asked.
    Armed {
        armed: bool,
    },
    /// A camera was added, edited or deleted.
    CamerasChanged,
    /// A binary sensor on an ESP32/ESPHome node (PIR, door, window) changed.
    NodeSensor {
        node_name: String,
        event: node_event::Model,
    },
    EventStarted(EventSummary),
    EventUpdated(EventSummary),
    EventEnded(EventSummary),
    /// Event `event_id` alerted: its deliveries wait in `alert_deliveries`.
    Alert {
        event_id: i64,
    },
    /// Report `report_id` was made: its deliveries wait in `report_deliveries`.
    Report {
        report_id: i64,
    },
}

/// The facts about an event that subscribers need without a database read.
#[derive(Debug, Clone, Serialize)]
pub struct EventSummary {
    pub id: i64,
    pub camera: String,
    pub kind: EventKind,
    pub label: Option<String>,
    pub score: f64,
    pub start_ms: i64,
    pub end_ms: Option<i64>,
    pub snapshot: Option<String>,
    /// Zones the object entered (empty for motion events).
    pub zones: Vec<String>,
    /// The model's description and title, on the `EventUpdated` that brings them.
    pub description: Option<String>,
    pub title: Option<String>,
}

impl EventSummary {
    /// The summary of a stored event.
    pub fn from_model(model: &event::Model) -> Self {
        Self {
            id: model.id,
            camera: model.camera_id.clone(),
            kind: model.kind,
            label: model.label.clone(),
            score: model.score,
            start_ms: model.start_ms,
            end_ms: model.end_ms,
            snapshot: model.snapshot.clone(),
            zones: crate::db::stored_json_or_logged(&model.zones, format_args!("event {}'s zones", model.id)),
            description: model.description.clone(),
            title: model.title.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct EventBus {
    sender: broadcast::Sender<BusMessage>,
}

impl EventBus {
    pub fn new(capacity: usize) -> Self {
        Self { sender: broadcast::channel(capacity).0 }
    }

    pub fn publish(&self, message: BusMessage) {
        // No subscribers is normal (nothing listening yet); the message is simply not needed.
        let _ = self.sender.send(message);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<BusMessage> {
        self.sender.subscribe()
    }
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new(1024)
    }
}

/// One camera's switches; the default is everything on and nothing muted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CameraControls {
    /// Run the object detector on this camera.
    pub detect: bool,
    /// Send alerts about this camera's events.
    pub alerts: bool,
    /// Keep recording (when the camera's settings record at all).
    pub record: bool,
    /// No alerts before this time (milliseconds since the epoch).
    pub mute_until_ms: Option<i64>,
}

impl Default for CameraControls {
    fn default() -> Self {
        Self { detect: true, alerts: true, record: true, mute_until_ms: None }
    }
}

impl CameraControls {
    /// Whether an event at `now_ms` may alert: alerts on and not muted.
    pub fn alerts_active(&self, now_ms: i64) -> bool {
        self.alerts && self.mute_until_ms.is_none_or(|until| now_ms >= until)
    }
}
