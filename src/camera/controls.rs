//! Switches a user flips at run time, per camera: object detection on/off, alerts on/off,
//! recording on/off, and alerts muted until a time; and one for the whole place: armed (away: alerts go out) or
//! disarmed (home: they do not). They are changed from the UI and from Home Assistant (MQTT
//! commands), take effect at the next frame, survive restarts (stored as settings), and every
//! change is told to the bus so the other side shows it at once.

use crate::bus::{BusMessage, CameraControls, EventBus};
use crate::db::Db;
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

/// Every camera's switches, read on the hot path without touching the database.
#[derive(Clone)]
pub struct Controls {
    db: Db,
    bus: EventBus,
    cameras: Arc<RwLock<HashMap<String, CameraControls>>>,
    armed: Arc<AtomicBool>,
}

const KEY_PREFIX: &str = "camera-controls:";
/// The setting that holds whether alerts are armed (`true`, away) or not (`false`, home).
const ARMED_KEY: &str = "alerts-armed";

impl Controls {
    /// Loads the saved switches of every camera.
    pub async fn load(db: Db, bus: EventBus) -> Result<Self> {
        let mut cameras = HashMap::new();
        for (key, value) in db.settings_with_prefix(KEY_PREFIX).await? {
            let camera = key.trim_start_matches(KEY_PREFIX).to_string();
            match serde_json::from_str::<CameraControls>(&value) {
                Ok(controls) => {
                    cameras.insert(camera, controls);
                }
                Err(err) => {
                    tracing::warn!(%camera, error = %err, "saved camera switches cannot be read; using the defaults")
                }
            }
        }
        let armed = match db.setting(ARMED_KEY).await? {
            Some(saved) => serde_json::from_str(&saved).unwrap_or(true),
            None => true,
        };
        Ok(Self { db, bus, cameras: Arc::new(RwLock::new(cameras)), armed: Arc::new(AtomicBool::new(armed)) })
    }

    /// Whether alerts go out at all (away), or everyone is home (disarmed).
    pub fn armed(&self) -> bool {
        self.armed.load(Ordering::Relaxed)
    }

    /// Arms (away) or disarms (home), saves it and tells the bus (an echo even when unchanged).
    pub async fn set_armed(&self, armed: bool) -> Result<()> {
        if self.armed() != armed {
            self.db.put_setting(ARMED_KEY, if armed { "true" } else { "false" }).await?;
            self.armed.store(armed, Ordering::Relaxed);
            tracing::info!(armed, "alerts {}", if armed { "armed: away" } else { "disarmed: home" });
        }
        self.bus.publish(BusMessage::Armed { armed });
        Ok(())
    }

    pub fn get(&self, camera: &str) -> CameraControls {
        self.cameras.read().expect("controls lock").get(camera).copied().unwrap_or_default()
    }

    /// Applies `change`, saves the result and tells the bus; returns the new switches.
    pub async fn change(&self, camera: &str, change: impl FnOnce(&mut CameraControls)) -> Result<CameraControls> {
        let before = self.get(camera);
        let mut after = before;
        change(&mut after);
        if after != before {
            let text = serde_json::to_string(&after)
                .map_err(|e| Error::internal("cannot encode camera switches").with_source(e))?;
            self.db.put_setting(&format!("{KEY_PREFIX}{camera}"), &text).await?;
            self.cameras.write().expect("controls lock").insert(camera.to_string(), after);
            tracing::info!(%camera, detect = after.detect, alerts = after.alerts, record = after.record, mute_until_ms = ?after.mute_until_ms, "camera switches changed");
        }
        // Told even when unchanged: whoever asked gets its echo.
        self.bus.publish(BusMessage::Controls { camera: camera.to_string(), controls: after });
        Ok(after)
    }

    /// Drops a deleted camera's switches, so a new camera with its id starts with the defaults.
    pub async fn forget(&self, camera: &str) -> Result<()> {
        self.db.delete_setting(&format!("{KEY_PREFIX}{camera}")).await?;
        self.cameras.write().expect("controls lock").remove(camera);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alerts_are_active_only_when_on_and_not_muted() {
        let now = 1_000_000;
        assert!(CameraControls::default().alerts_active(now));
        let off = CameraControls { alerts: false, ..Default::default() };
        assert!(!off.alerts_active(now));
        let muted = CameraControls { mute_until_ms: Some(now + 1), ..Default::default() };
        assert!(!muted.alerts_active(now));
        assert!(muted.alerts_active(now + 1), "the mute ends at its time");
    }
}
