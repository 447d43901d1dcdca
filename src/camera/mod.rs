//! Cameras at run time: each enabled camera has a supervised pipeline task (ffmpeg → motion →
//! events, and its video copied for live viewers; for a recording camera also its recorder), its
//! record stream when that is another URL (run while it records or someone watches it live), and
//! a [`CameraRuntime`] holding its live status, counters, latest frame and live feeds. Two doors
//! lead in: [`Cameras`] (read, for everything that looks at cameras) and [`CameraManager`] (add,
//! change, delete, start and stop); the pipeline and ffmpeg behind them are this module's own.

mod controls;
pub mod ffmpeg;
pub mod follow;
mod motion_events;
mod object_events;
mod pipeline;
mod record_stream;
pub mod settings;

pub use controls::Controls;

use crate::auth::Vault;
use crate::bus::CameraControls;
use crate::bus::EventBus;
use crate::camera::settings::{CameraConfig, FfmpegConfig};
use crate::db::Db;
use crate::detect::worker::{DetectorFigures, DetectorWorker};
use crate::error::{Error, Result};
use crate::live::{LiveFeed, LiveStream};
use crate::media::{Frame, MediaStore};
use crate::model::CameraState;
use crate::recording::Recordings;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
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

/// A camera's counters, read once: for the UI, the API and `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CameraFigures {
    /// Frames decoded by ffmpeg.
    pub frames: u64,
    /// Frames dropped because processing fell behind.
    pub frames_dropped: u64,
    /// Fragments (frames) of copied video received for recording.
    pub record_fragments: u64,
    /// Fragments dropped because the disk could not keep up.
    pub record_dropped: u64,
    /// ffmpeg restarts after a failure or stall.
    pub restarts: u64,
    pub motion_events: u64,
    pub object_events: u64,
}

/// Everything the UI needs to know about one running (or stopped) camera.
pub struct CameraRuntime {
    pub config: CameraConfig,
    pub source: CameraSource,
    status: Mutex<CameraStatus>,
    latest: Mutex<Option<Arc<Frame>>>,
    jpeg_cache: Mutex<Option<(u64, Arc<Vec<u8>>)>>,
    counters: Arc<ffmpeg::FrameCounters>,
    /// The sequence number of the latest frame, for live MJPEG viewers waiting for the next one.
    latest_seq: tokio::sync::watch::Sender<u64>,
    /// Where each stream's copied video goes.
    copies: StreamCopies,
    /// Cancelled when the camera stops or Watchpost shuts down: live responses end.
    live_over: CancellationToken,
    restarts: AtomicU64,
    motion_events: AtomicU64,
    object_events: AtomicU64,
    switches: Controls,
}

impl CameraRuntime {
    fn new(config: CameraConfig, source: CameraSource, switches: Controls, copies: StreamCopies) -> Self {
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
            latest_seq: tokio::sync::watch::Sender::new(0),
            copies,
            live_over: CancellationToken::new(),
            restarts: AtomicU64::new(0),
            motion_events: AtomicU64::new(0),
            object_events: AtomicU64::new(0),
            switches,
        }
    }

    /// What the camera's pipeline counted since this runtime started.
    pub fn figures(&self) -> CameraFigures {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let recorded = self.copies.recorded();
        CameraFigures {
            frames: load(&self.counters.frames),
            frames_dropped: load(&self.counters.dropped),
            record_fragments: recorded.map_or(0, |sink| load(&sink.counters.fragments)),
            record_dropped: recorded.map_or(0, |sink| load(&sink.counters.dropped)),
            restarts: load(&self.restarts),
            motion_events: load(&self.motion_events),
            object_events: load(&self.object_events),
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
        let seq = frame.seq;
        let old = self.latest.lock().expect("latest lock").replace(frame);
        self.latest_seq.send_replace(seq);
        old
    }

    /// Changes whenever a new latest frame is stored.
    pub fn latest_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.latest_seq.subscribe()
    }

    /// Cancelled when the camera stops or Watchpost shuts down: a live response ends then.
    pub fn live_over(&self) -> CancellationToken {
        self.live_over.clone()
    }

    /// Ends every live response of this camera (its feeds take no new viewer after this).
    fn end_live(&self) {
        self.copies.close();
        self.live_over.cancel();
    }

    /// A stream's live feed: `None` when the browser cannot be given it (an MJPEG camera whose
    /// stream is not copied; it is watched as MJPEG instead).
    pub fn live(&self, stream: LiveStream) -> Option<Arc<LiveFeed>> {
        let sink = match stream {
            LiveStream::Main => self.copies.main.as_ref(),
            LiveStream::Sub => self.copies.sub.as_ref(),
        };
        sink.map(|sink| sink.feed.clone())
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
    pub detector: Option<DetectorWorker>,
    pub controls: Controls,
    /// Where recorded video goes.
    pub recordings: Recordings,
}

/// Fragments waiting for the recorder (a frame each: about 20 s at 25 fps, some 10 MB at 4 Mbit/s);
/// beyond this the reader drops them, so a slow disk never holds up ffmpeg.
const RECORD_QUEUE: usize = 512;

/// Where a camera's streams are copied: the detect stream (`sub`) and the record stream (`main`),
/// one and the same when both read one URL (one connection).
struct StreamCopies {
    sub: Option<ffmpeg::CopySink>,
    main: Option<ffmpeg::CopySink>,
}

impl StreamCopies {
    /// `recorder` takes the record stream's fragments while the camera records. The detect stream
    /// is copied unless it is plain HTTP (an MJPEG camera: nothing a browser could play as video)
    /// and not recorded.
    fn new(
        config: &CameraConfig,
        recorder: Option<tokio::sync::mpsc::Sender<crate::recording::StreamFragment>>,
    ) -> Self {
        let sink = |recorder| ffmpeg::CopySink { feed: LiveFeed::new(), recorder, counters: Arc::default() };
        let detect_is_http = ffmpeg::is_http(&config.url);
        if config.records_detect_stream() {
            let copied = recorder.is_some() || !detect_is_http;
            let shared = copied.then(|| sink(recorder));
            Self { sub: shared.clone(), main: shared }
        } else {
            Self { sub: (!detect_is_http).then(|| sink(None)), main: Some(sink(recorder)) }
        }
    }

    /// The copy the recorder takes, when the camera records.
    fn recorded(&self) -> Option<&ffmpeg::CopySink> {
        [&self.main, &self.sub].into_iter().flatten().find(|sink| sink.recorder.is_some())
    }

    /// The camera stopped: its live viewers' responses end.
    fn close(&self) {
        [&self.main, &self.sub].into_iter().flatten().for_each(|sink| sink.feed.close());
    }
}

struct CameraEntry {
    runtime: Arc<CameraRuntime>,
    cancel: CancellationToken,
    /// The pipeline and, while it records, the recorder and the record stream.
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

type Registry = Arc<RwLock<BTreeMap<String, CameraEntry>>>;

/// The read-only door into the cameras: the one way bridges, alerts, the describer, sensor events
/// and pages see cameras (their settings, live status, latest picture), flip their run-time
/// switches, and read the shared detector's figures. It cannot add, change or stop a camera;
/// that is [`CameraManager`]'s.
#[derive(Clone)]
pub struct Cameras {
    registry: Registry,
    controls: Controls,
    detector: Option<DetectorWorker>,
    /// Set once the cameras of the config file and the database have all been put in at start:
    /// before that, the list is not the installation's (Home Assistant's entities wait for it).
    loaded: Arc<std::sync::atomic::AtomicBool>,
}

impl Cameras {
    /// Whether every camera known at start is in the list.
    pub fn loaded(&self) -> bool {
        self.loaded.load(std::sync::atomic::Ordering::Acquire)
    }

    pub fn get(&self, id: &str) -> Option<Arc<CameraRuntime>> {
        self.registry.read().expect("cameras lock").get(id).map(|e| e.runtime.clone())
    }

    /// Every camera, by id.
    pub fn list(&self) -> Vec<Arc<CameraRuntime>> {
        self.registry.read().expect("cameras lock").values().map(|e| e.runtime.clone()).collect()
    }

    /// How many cameras send pictures now.
    pub fn online_count(&self) -> usize {
        self.registry
            .read()
            .expect("cameras lock")
            .values()
            .filter(|e| e.runtime.status().state == CameraState::Online)
            .count()
    }

    /// A camera's latest picture as JPEG; `None` when there is no such camera or no picture yet.
    pub async fn latest_jpeg(&self, id: &str) -> Result<Option<Arc<Vec<u8>>>> {
        match self.get(id) {
            Some(camera) => camera.latest_jpeg().await,
            None => Ok(None),
        }
    }

    /// The run-time switches (detection, alerts, mute, armed).
    pub fn controls(&self) -> &Controls {
        &self.controls
    }

    /// Whether the object detector runs (cameras then report objects, not only motion).
    pub fn detecting(&self) -> bool {
        self.detector.is_some()
    }

    /// The shared detector's figures since start; `None` while no detector runs.
    pub fn detector_figures(&self) -> Option<DetectorFigures> {
        self.detector.as_ref().map(DetectorWorker::figures)
    }
}

/// The write door: adds, changes, deletes and adopts cameras, one change at a time. Each change
/// checks the id, seals the URL's credentials, stores the settings and (re)starts the pipeline,
/// so the pages that add cameras by hand, by ONVIF adoption and from an ESP32 node share one path.
#[derive(Clone)]
pub struct CameraManager {
    cameras: Cameras,
    /// One change (add, replace, delete) at a time: two saves of one camera at once must not
    /// both start a pipeline and lose track of one, nor two adoptions take one id.
    changes: Arc<tokio::sync::Mutex<()>>,
    context: PipelineContext,
    vault: Arc<Vault>,
    shutdown: CancellationToken,
}

impl CameraManager {
    pub fn new(context: PipelineContext, vault: Arc<Vault>, shutdown: CancellationToken) -> Self {
        let cameras = Cameras {
            registry: Arc::default(),
            controls: context.controls.clone(),
            detector: context.detector.clone(),
            loaded: Arc::default(),
        };
        Self { cameras, changes: Arc::default(), context, vault, shutdown }
    }

    /// Says that every camera known at start has been put in, and tells the bus.
    pub fn finish_loading(&self) {
        self.cameras.loaded.store(true, std::sync::atomic::Ordering::Release);
        self.context.bus.publish(crate::bus::BusMessage::CamerasChanged);
    }

    /// The read-only door to the same cameras.
    pub fn cameras(&self) -> Cameras {
        self.cameras.clone()
    }

    /// Starts (or restarts) a camera whose settings are already stored or come from the config
    /// file, without storing anything.
    pub async fn put(&self, config: CameraConfig, source: CameraSource) {
        let _one_change = self.changes.lock().await;
        self.start(config, source).await;
    }

    /// Adds a camera from the UI or API (by hand or adopted): refused when its id is taken or its
    /// settings are not valid; otherwise stored (credentials sealed) and started.
    pub async fn create(&self, camera: CameraConfig) -> Result<()> {
        let _one_change = self.changes.lock().await;
        if self.cameras.get(&camera.id).is_some() {
            return Err(Error::conflict(format!(
                "{:?} is already used by another camera; choose another id",
                camera.id
            )));
        }
        self.store_and_start(camera).await
    }

    /// Replaces the settings of a camera added in the UI (config-file cameras are read-only).
    pub async fn update(&self, id: &str, camera: CameraConfig) -> Result<()> {
        let _one_change = self.changes.lock().await;
        self.editable(id)?;
        if camera.id != id {
            return Err(Error::invalid(format!("a camera's id cannot change (from {id:?} to {:?})", camera.id)));
        }
        self.store_and_start(camera).await
    }

    /// Stops and deletes a camera added in the UI, its switches included; its events are kept.
    pub async fn delete(&self, id: &str) -> Result<()> {
        let _one_change = self.changes.lock().await;
        self.editable(id)?;
        self.context.db.delete_camera(id).await?;
        self.stop(id).await;
        // Nobody will look for its parked objects again: their events end at their last sighting.
        self.context.db.release_camera_objects(id).await?;
        self.context.controls.forget(id).await?;
        self.context.bus.publish(crate::bus::BusMessage::CamerasChanged);
        Ok(())
    }

    /// The camera if it exists and may be changed from the UI.
    pub fn editable(&self, id: &str) -> Result<Arc<CameraRuntime>> {
        let runtime = self.cameras.get(id).ok_or_else(|| Error::not_found(format!("There is no camera {id:?}.")))?;
        if runtime.source != CameraSource::Ui {
            return Err(Error::conflict(format!(
                "Camera {id:?} is defined in the config file; change it there and restart Watchpost."
            )));
        }
        Ok(runtime)
    }

    async fn store_and_start(&self, camera: CameraConfig) -> Result<()> {
        if let Some(problems) = camera.problems_in_words() {
            return Err(Error::invalid(problems));
        }
        store_camera(&self.context.db, &self.vault, &camera, CameraSource::Ui).await?;
        self.start(camera, CameraSource::Ui).await;
        Ok(())
    }

    /// Replaces a camera's pipeline (and recorder) with one for `config`; the caller holds
    /// `changes`.
    async fn start(&self, config: CameraConfig, source: CameraSource) {
        self.stop(&config.id).await;
        let cancel = self.shutdown.child_token();
        let span = tracing::info_span!("camera", id = %config.id);
        let mut tasks = Vec::new();
        let recorder = if config.enabled && config.record.enabled() {
            let (sender, receiver) = tokio::sync::mpsc::channel(RECORD_QUEUE);
            let (controls, id) = (self.context.controls.clone(), config.id.clone());
            let recorder = crate::recording::writer::run(
                config.id.clone(),
                config.record.clone(),
                self.context.recordings.clone(),
                receiver,
                move || controls.get(&id).record,
                cancel.clone(),
            );
            tasks.push(self.context.tasks.spawn(tracing::Instrument::instrument(recorder, span.clone())));
            Some(sender)
        } else {
            None
        };
        if !config.enabled
            && let Err(err) = self.context.db.release_camera_objects(&config.id).await
        {
            tracing::warn!(error = %err, camera = %config.id, "cannot end the events of its stationary objects");
        }
        let copies = StreamCopies::new(&config, recorder);
        let runtime = Arc::new(CameraRuntime::new(config, source, self.context.controls.clone(), copies));
        if runtime.config.enabled {
            let pipeline = pipeline::run(runtime.clone(), self.context.clone(), cancel.clone());
            tasks.push(self.context.tasks.spawn(tracing::Instrument::instrument(pipeline, span.clone())));
            let config = &runtime.config;
            if let Some(sink) = runtime.copies.main.clone().filter(|_| !config.records_detect_stream()) {
                let stream = record_stream::run(runtime.clone(), sink, self.context.ffmpeg.clone(), cancel.clone());
                tasks.push(self.context.tasks.spawn(tracing::Instrument::instrument(stream, span)));
            }
        }
        let id = runtime.config.id.clone();
        self.cameras.registry.write().expect("cameras lock").insert(id, CameraEntry { runtime, cancel, tasks });
        self.context.bus.publish(crate::bus::BusMessage::CamerasChanged);
    }

    /// Stops a camera's pipeline (its ffmpeg is gone when this returns) and forgets it; the
    /// caller holds `changes`.
    async fn stop(&self, id: &str) -> bool {
        let entry = self.cameras.registry.write().expect("cameras lock").remove(id);
        let Some(mut entry) = entry else { return false };
        entry.cancel.cancel();
        for task in entry.tasks.drain(..) {
            let _ = task.await;
        }
        entry.runtime.end_live();
        true
    }

    /// Ends every camera's live responses (before the web server stops, which waits for the
    /// responses it is still sending); the cameras go on until [`CameraManager::stop_all`].
    pub fn end_live_views(&self) {
        self.cameras.list().iter().for_each(|camera| camera.end_live());
    }

    /// Stops every camera and waits for all of them.
    pub async fn stop_all(&self) {
        let _one_change = self.changes.lock().await;
        // Cancel all first so the cameras stop in parallel, then wait for each.
        let ids: Vec<String> = {
            let cameras = self.cameras.registry.read().expect("cameras lock");
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
    let (clean_url, userinfo) = crate::secret::split_credentials(&camera.url);
    let credentials = userinfo.map(|u| vault.seal(&u)).transpose()?;
    // A record stream uses the camera's user name and password; none of them is stored in clear.
    let mut stored = CameraConfig { url: clean_url, ..camera.clone() };
    stored.record.url = camera.record.own_url().map(|url| crate::secret::split_credentials(url).0);
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
    let (clean_url, legacy_userinfo) = crate::secret::split_credentials(&camera.url);
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
    camera.url = crate::secret::join_credentials(&clean_url, userinfo.as_deref());
    Ok(camera)
}
