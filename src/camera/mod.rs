//! Cameras at run time: each enabled camera has a supervised pipeline task (ffmpeg → motion →
//! events) and a [`CameraRuntime`] holding its live status, counters and latest frame for the UI.
//! [`CameraManager`] starts, replaces and stops them.

mod controls;
pub mod ffmpeg;
mod pipeline;

pub use controls::Controls;

use crate::auth::Vault;
use crate::bus::CameraControls;
use crate::bus::EventBus;
use crate::config::{CameraConfig, FfmpegConfig};
use crate::db::Db;
use crate::error::Result;
use crate::media::{Frame, MediaStore};
use crate::model::CameraState;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, RwLock};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Where a camera's settings come from, which decides whether the UI may edit it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CameraSource {
    /// The config file (and `--demo`); shown read-only in the UI.
    Config,
    /// Added in the UI or API and stored in the database.
    Ui,
}

impl CameraSource {
    pub fn as_str(self) -> &'static str {
        match self {
            CameraSource::Config => "config",
            CameraSource::Ui => "ui",
        }
    }
}

/// A camera's live status as shown in the UI and API.
#[derive(Debug, Clone, Serialize)]
pub struct CameraStatus {
    pub state: CameraState,
    pub last_error: Option<String>,
    pub fps: f32,
    pub last_frame_ms: Option<i64>,
    pub motion: bool,
    /// Objects followed right now (confirmed tracks), as of the last detection pass.
    pub objects: Vec<LiveObject>,
}

/// An object a camera is following, for the live view.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LiveObject {
    pub label: String,
    pub score: f32,
    /// Relative `[x, y, width, height]`.
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
    pub stationary: bool,
}

/// Everything the UI needs to know about one running (or stopped) camera.
pub struct CameraRuntime {
    pub config: CameraConfig,
    pub source: CameraSource,
    status: Mutex<CameraStatus>,
    latest: Mutex<Option<Arc<Frame>>>,
    jpeg_cache: Mutex<Option<(u64, Arc<Vec<u8>>)>>,
    pub counters: Arc<ffmpeg::FrameCounters>,
    pub restarts: AtomicU64,
    pub motion_events: AtomicU64,
    pub object_events: AtomicU64,
    switches: Controls,
}

impl CameraRuntime {
    fn new(config: CameraConfig, source: CameraSource, switches: Controls) -> Self {
        let state = if config.enabled { CameraState::Starting } else { CameraState::Disabled };
        Self {
            config,
            source,
            status: Mutex::new(CameraStatus {
                state,
                last_error: None,
                fps: 0.0,
                last_frame_ms: None,
                motion: false,
                objects: Vec::new(),
            }),
            latest: Mutex::new(None),
            jpeg_cache: Mutex::new(None),
            counters: Arc::default(),
            restarts: AtomicU64::new(0),
            motion_events: AtomicU64::new(0),
            object_events: AtomicU64::new(0),
            switches,
        }
    }

    /// The camera's switches (detection, alerts, mute) as they are now.
    pub fn controls(&self) -> CameraControls {
        self.switches.get(&self.config.id)
    }

    pub fn id(&self) -> &str {
        &self.config.id
    }

    pub fn status(&self) -> CameraStatus {
        self.status.lock().expect("status lock").clone()
    }

    fn update_status(&self, change: impl FnOnce(&mut CameraStatus)) {
        change(&mut self.status.lock().expect("status lock"));
    }

    /// Stores `frame` as the latest picture and hands back the one it replaces, for reuse.
    fn set_latest(&self, frame: Arc<Frame>) -> Option<Arc<Frame>> {
        self.latest.lock().expect("latest lock").replace(frame)
    }

    pub fn latest_frame(&self) -> Option<Arc<Frame>> {
        self.latest.lock().expect("latest lock").clone()
    }

    /// The latest picture as JPEG, encoded at most once per frame however many viewers ask.
    pub async fn latest_jpeg(&self) -> Result<Option<Arc<Vec<u8>>>> {
        let Some(frame) = self.latest_frame() else { return Ok(None) };
        if let Some((seq, jpeg)) = self.jpeg_cache.lock().expect("jpeg lock").as_ref()
            && *seq == frame.seq
        {
            return Ok(Some(jpeg.clone()));
        }
        let seq = frame.seq;
        let jpeg = tokio::task::spawn_blocking(move || frame.to_jpeg(80))
            .await
            .map_err(|e| crate::Error::internal("JPEG encoder failed").with_source(e))??;
        let jpeg = Arc::new(jpeg);
        *self.jpeg_cache.lock().expect("jpeg lock") = Some((seq, jpeg.clone()));
        Ok(Some(jpeg))
    }
}

/// What every camera pipeline shares.
#[derive(Clone)]
pub struct PipelineContext {
    pub db: Db,
    pub media: MediaStore,
    pub bus: EventBus,
    pub ffmpeg: FfmpegConfig,
    pub tasks: TaskTracker,
    /// The shared object detector; `None` when detection is off or could not start.
    pub detector: Option<crate::detect::worker::DetectorWorker>,
    pub controls: Controls,
}

struct CameraEntry {
    runtime: Arc<CameraRuntime>,
    cancel: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// Starts, replaces and stops camera pipelines; the UI reads cameras through it.
#[derive(Clone)]
pub struct CameraManager {
    cameras: Arc<RwLock<BTreeMap<String, CameraEntry>>>,
    /// One change (add, replace, delete) at a time: two saves of one camera at once must not
    /// both start a pipeline and lose track of one.
    changes: Arc<tokio::sync::Mutex<()>>,
    context: PipelineContext,
    shutdown: CancellationToken,
}

impl CameraManager {
    pub fn new(context: PipelineContext, shutdown: CancellationToken) -> Self {
        Self { cameras: Arc::default(), changes: Arc::default(), context, shutdown }
    }

    /// Adds (or replaces) a camera and starts its pipeline if it is enabled.
    pub async fn put(&self, config: CameraConfig, source: CameraSource) {
        let _one_change = self.changes.lock().await;
        self.stop(&config.id).await;
        let runtime = Arc::new(CameraRuntime::new(config, source, self.context.controls.clone()));
        let cancel = self.shutdown.child_token();
        let task = runtime.config.enabled.then(|| {
            let span = tracing::info_span!("camera", id = %runtime.config.id);
            self.context.tasks.spawn(tracing::Instrument::instrument(
                pipeline::run(runtime.clone(), self.context.clone(), cancel.clone()),
                span,
            ))
        });
        let id = runtime.config.id.clone();
        self.cameras.write().expect("cameras lock").insert(id, CameraEntry { runtime, cancel, task });
        self.context.bus.publish(crate::bus::BusMessage::CamerasChanged);
    }

    /// Stops and forgets a deleted camera, its switches included.
    pub async fn delete(&self, id: &str) -> Result<()> {
        let _one_change = self.changes.lock().await;
        self.stop(id).await;
        self.context.controls.forget(id).await?;
        self.context.bus.publish(crate::bus::BusMessage::CamerasChanged);
        Ok(())
    }

    pub fn controls(&self) -> &Controls {
        &self.context.controls
    }

    /// Stops a camera's pipeline (its ffmpeg is gone when this returns) and forgets it; the
    /// caller holds `changes`.
    async fn stop(&self, id: &str) -> bool {
        let entry = self.cameras.write().expect("cameras lock").remove(id);
        let Some(mut entry) = entry else { return false };
        entry.cancel.cancel();
        if let Some(task) = entry.task.take() {
            let _ = task.await;
        }
        true
    }

    pub fn get(&self, id: &str) -> Option<Arc<CameraRuntime>> {
        self.cameras.read().expect("cameras lock").get(id).map(|e| e.runtime.clone())
    }

    pub fn list(&self) -> Vec<Arc<CameraRuntime>> {
        self.cameras.read().expect("cameras lock").values().map(|e| e.runtime.clone()).collect()
    }

    /// Stops every camera and waits for all of them.
    pub async fn stop_all(&self) {
        let _one_change = self.changes.lock().await;
        // Cancel all first so the cameras stop in parallel, then wait for each.
        let ids: Vec<String> = {
            let cameras = self.cameras.read().expect("cameras lock");
            cameras.values().for_each(|entry| entry.cancel.cancel());
            cameras.keys().cloned().collect()
        };
        for id in ids {
            self.stop(&id).await;
        }
    }
}

/// Saves a camera's settings under `source`; a new row starts as `starting`, an existing one keeps
/// its last known status. The URL's user name and password are sealed by `vault` and stored apart
/// from the settings, so the database never holds them in clear text.
pub async fn store_camera(db: &Db, vault: &Vault, camera: &CameraConfig, source: CameraSource) -> Result<()> {
    let (clean_url, userinfo) = crate::config::split_credentials(&camera.url);
    let credentials = userinfo.map(|u| vault.seal(&u)).transpose()?;
    let stored = CameraConfig { url: clean_url, ..camera.clone() };
    let settings = serde_json::to_string(&stored)
        .map_err(|e| crate::Error::internal("cannot encode camera settings").with_source(e))?;
    db.upsert_camera(crate::db::entities::camera::Model {
        id: camera.id.clone(),
        name: camera.display_name().to_string(),
        source: source.as_str().into(),
        settings,
        credentials,
        status: CameraState::Starting.as_str().into(),
        last_error: None,
        last_frame_ms: None,
        updated_ms: chrono::Utc::now().timestamp_millis(),
    })
    .await
}

/// A stored camera with its credentials unsealed, ready to start.
pub fn load_camera(row: &crate::db::entities::camera::Model, vault: &Vault) -> Result<CameraConfig> {
    let mut camera: CameraConfig = serde_json::from_str(&row.settings)
        .map_err(|e| crate::Error::invalid(format!("stored camera {:?} cannot be read", row.id)).with_source(e))?;
    let (clean_url, legacy_userinfo) = crate::config::split_credentials(&camera.url);
    let userinfo = match &row.credentials {
        Some(sealed) => match vault.open_sealed(sealed) {
            Ok(userinfo) => Some(userinfo),
            Err(err) => {
                // Start without them: the camera shows as refusing the sign-in, and its form lets
                // the user enter the password again. Nothing else about the camera is lost.
                tracing::error!(camera = %row.id, error = %err, "saved camera credentials cannot be decrypted");
                None
            }
        },
        None => legacy_userinfo,
    };
    camera.url = crate::config::join_credentials(&clean_url, userinfo.as_deref());
    Ok(camera)
}
