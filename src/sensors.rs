//! Events from node sensors: a PIR, door or window sensor of an ESP32/ESPHome node linked to a
//! camera (on the Nodes page) makes an event on that camera when it turns on — kind `sensor`, the
//! sensor's name as its label, the camera's picture of that moment as its snapshot — which ends
//! when the sensor turns off. Like any event it can alert, under the camera's switches and quiet
//! times (see `alerts::policy`).

use crate::bus::{BusMessage, EventBus, EventSummary};
use crate::camera::Cameras;
use crate::db::{Db, EventUpdate, NewEvent};
use crate::media::MediaStore;
use crate::supervise::CancellationToken;
use std::collections::HashMap;
use tokio::sync::broadcast;

/// An event a sensor holds open: its id and what the bus was told.
struct Open {
    summary: EventSummary,
}

pub struct SensorEvents {
    db: Db,
    bus: EventBus,
    cameras: Cameras,
    media: MediaStore,
    /// By node id and sensor id.
    open: HashMap<(String, String), Open>,
}

impl SensorEvents {
    pub fn new(db: Db, bus: EventBus, cameras: Cameras, media: MediaStore) -> Self {
        Self { db, bus, cameras, media, open: HashMap::new() }
    }

    /// Runs until `cancel`; subscribes before returning. Events still open at the end are ended.
    pub fn run(mut self, cancel: CancellationToken) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut bus = self.bus.subscribe();
        async move {
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    message = bus.recv() => match message {
                        Ok(BusMessage::NodeSensor { event, .. }) => self.on_sensor(event).await,
                        Ok(_) => {}
                        Err(broadcast::error::RecvError::Lagged(missed)) => {
                            tracing::warn!(missed, "sensor events fell behind the event bus");
                        }
                        Err(broadcast::error::RecvError::Closed) => break,
                    },
                }
            }
            let now_ms = chrono::Utc::now().timestamp_millis();
            for (_, open) in std::mem::take(&mut self.open) {
                self.end(open, now_ms).await;
            }
        }
    }

    async fn on_sensor(&mut self, change: crate::db::entities::node_event::Model) {
        let key = (change.node_id.clone(), change.sensor.clone());
        if !change.active {
            if let Some(open) = self.open.remove(&key) {
                self.end(open, change.at_ms).await;
            }
            return;
        }
        if self.open.contains_key(&key) {
            return;
        }
        let camera = match self.db.get_node(&change.node_id).await {
            Ok(Some(node)) => node.camera_id,
            Ok(None) => None,
            Err(err) => {
                tracing::warn!(error = %err, "cannot read the sensor's node");
                None
            }
        };
        let Some(camera) = camera.filter(|id| self.cameras.get(id).is_some()) else { return };
        let snapshot = self.snapshot(&camera, change.at_ms).await;
        let new = NewEvent {
            camera_id: camera.clone(),
            kind: crate::model::EventKind::Sensor,
            label: Some(change.name.clone()),
            score: 1.0,
            bbox: [0.0; 4],
            boxes: Vec::new(),
            start_ms: change.at_ms,
            snapshot: snapshot.clone(),
            severity: crate::model::Severity::Low,
            zones: Vec::new(),
            frame: (0, 0),
        };
        let id = match self.db.insert_event(&new).await {
            Ok(id) => id,
            Err(err) => {
                tracing::warn!(error = %err, sensor = %change.name, "cannot store a sensor event");
                return;
            }
        };
        tracing::info!(event = id, %camera, sensor = %change.name, "sensor event started");
        let summary = EventSummary {
            id,
            camera,
            kind: crate::model::EventKind::Sensor,
            label: Some(change.name),
            score: 1.0,
            start_ms: change.at_ms,
            end_ms: None,
            snapshot,
            zones: Vec::new(),
            description: None,
            title: None,
        };
        self.bus.publish(BusMessage::EventStarted(summary.clone()));
        self.open.insert(key, Open { summary });
    }

    /// The camera's latest picture saved as the event's snapshot, when it has one.
    async fn snapshot(&self, camera: &str, at_ms: i64) -> Option<String> {
        let jpeg = self.cameras.latest_jpeg(camera).await.ok()??;
        let path = MediaStore::snapshot_path(camera, at_ms).replace(".jpg", "-sensor.jpg");
        let (media, relative) = (self.media.clone(), path.clone());
        let written = tokio::task::spawn_blocking(move || media.write_atomic(&relative, &jpeg)).await;
        match written {
            Ok(Ok(())) => Some(path),
            _ => {
                tracing::warn!(%camera, "cannot save the sensor event's snapshot");
                None
            }
        }
    }

    async fn end(&self, open: Open, end_ms: i64) {
        let mut summary = open.summary;
        summary.end_ms = Some(end_ms.max(summary.start_ms));
        let update = EventUpdate {
            score: 1.0,
            bbox: [0.0; 4],
            boxes: Vec::new(),
            end_ms: summary.end_ms,
            snapshot: None,
            stationary: false,
            zones: None,
            score_history: None,
            label: None,
        };
        if let Err(err) = self.db.update_event(summary.id, &update).await {
            tracing::warn!(error = %err, event = summary.id, "cannot end a sensor event");
        }
        self.bus.publish(BusMessage::EventEnded(summary));
    }
}
