//! Wiring and ordered shutdown: opens storage, loads the cameras (config file, database, demo),
//! binds the web server, starts the bridges, then the camera pipelines. On a stop signal it shuts
//! down in order: web server first (no new requests), then cameras (open events ended, ffmpeg
//! killed), then the bridges (which still queue what the cameras said while stopping), then pending
//! writes, then the database.

pub mod state;

use crate::auth::{Auth, Vault};
use crate::bridges::{BridgeContext, Bridges};
use crate::bus::EventBus;
use crate::camera::settings::CameraConfig;
use crate::camera::{CameraManager, CameraSource, Controls, PipelineContext};
use crate::clock::SharedClock;
use crate::config::Config;
use crate::db::Db;
use crate::detect::worker::DetectorWorker;
use crate::error::{Error, Result};
use crate::media::MediaStore;
use crate::recording::retention::Sweeper;
use crate::recording::{Recordings, SpaceLimits};
use crate::supervise::{CancellationToken, TaskTracker};
use crate::web;
pub use state::{AppState, DetectorState};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What `watchpost serve` was asked to do.
#[derive(Clone)]
pub struct ServeOptions {
    pub config: Config,
    /// The file `config` came from, if any (a backup includes it).
    pub config_file: Option<PathBuf>,
    pub data_dir: PathBuf,
    /// Add the `demo` camera fed by a clip built from the bundled photograph.
    pub demo: bool,
    /// The clock sessions, tokens and alert decisions go by ([`crate::clock::system`] but in tests).
    pub clock: SharedClock,
}

/// A started Watchpost; [`RunningApp::shutdown`] stops it in order.
pub struct RunningApp {
    pub addr: SocketAddr,
    pub state: AppState,
    server: actix_web::dev::ServerHandle,
    server_task: tokio::task::JoinHandle<std::io::Result<()>>,
    cancel: CancellationToken,
    tasks: TaskTracker,
    /// The shared detector's thread, stopped after the cameras.
    detector: Option<DetectorWorker>,
}

/// Starts everything and returns once the web server listens.
pub async fn start(options: ServeOptions) -> Result<RunningApp> {
    let ServeOptions { config, config_file, data_dir, demo, clock } = options;
    make_private(&data_dir).map_err(|e| {
        Error::unavailable(format!(
            "cannot create the data directory {}: {e}; choose another with --data-dir",
            data_dir.display()
        ))
    })?;
    let data_dir = data_dir.canonicalize().unwrap_or(data_dir);
    // A restore asked for on the Settings page, before anything opens the database.
    match crate::backup::apply_pending(&data_dir, &chrono::Utc::now().format("%Y%m%d-%H%M%S").to_string()) {
        Ok(Some(aside)) => tracing::warn!(
            kept = %aside.display(),
            "restored the backup asked for on the Settings page; what the data directory held before is kept"
        ),
        Ok(None) => {}
        Err(err) => {
            tracing::error!(error = %err, "the restore asked for on the Settings page failed; the data is as it was")
        }
    }
    let media = MediaStore::open(&config.storage.media_dir(&data_dir))?;
    let db = Db::connect(&config.storage.database_url(&data_dir)).await?;
    let auth = Auth::open(db.clone(), &data_dir, config.auth.clone(), clock.clone()).await?;
    let closed = db.close_open_events(chrono::Utc::now().timestamp_millis()).await?;
    if closed > 0 {
        tracing::info!(events = closed, "closed events left open by the previous run");
    }

    let mut file_cameras = config.cameras.clone();
    if demo {
        // Named after the way it is built: a clip built by an older version is left alone.
        let clip = data_dir.join("demo").join("demo-camera.mp4");
        let ffmpeg = config.ffmpeg.path.clone();
        let plan = crate::demo::ClipPlan::DEMO;
        let clip = tokio::task::spawn_blocking(move || crate::demo::ensure_clip(&ffmpeg, &clip, &plan))
            .await
            .map_err(|e| Error::internal("demo clip builder failed").with_source(e))??;
        if file_cameras.iter().any(|c| c.id == "demo") {
            tracing::warn!("the config file already has a camera \"demo\"; --demo uses that one");
        } else {
            file_cameras.push(crate::demo::demo_camera(&clip));
        }
    }
    let ui_cameras = sync_cameras(&db, &auth.vault(), &file_cameras).await?;

    let (detector_worker, detector) = start_detector(&config.detector).await;
    let cancel = CancellationToken::new();
    let tasks = TaskTracker::new();
    let bus = EventBus::default();
    let controls = Controls::load(db.clone(), bus.clone()).await?;
    let recordings = Recordings::new(
        config.storage.recordings_dir(&data_dir),
        db.clone(),
        SpaceLimits::from_gb(config.storage.max_size_gb, config.storage.min_free_gb),
    );
    let context = PipelineContext {
        recordings: recordings.clone(),
        db: db.clone(),
        media: media.clone(),
        bus: bus.clone(),
        ffmpeg: config.ffmpeg.clone(),
        tasks: tasks.clone(),
        detector: detector_worker.clone(),
        controls,
    };
    let camera_manager = CameraManager::new(context, auth.vault(), cancel.clone());
    let cameras = camera_manager.cameras();

    let push_keys = Arc::new(crate::bridges::push::webpush::PushKeys::open(&data_dir.join("keys").join("vapid.key"))?);
    let bridge_context = BridgeContext {
        db: db.clone(),
        bus: bus.clone(),
        cameras: cameras.clone(),
        media: media.clone(),
        vault: auth.vault(),
        clock: clock.clone(),
        ui_url: String::new(),
        describe: config.describe.clone(),
        reports_dir: crate::reports::reports_dir(&data_dir),
        push_keys: push_keys.clone(),
    };
    // Bridges stop after the cameras (see `shutdown`), so they do not hang off the cameras' token.
    let channels = bridge_config(&config, &db, &auth.vault()).await;
    let schedules = config
        .reports
        .iter()
        .map(|schedule| (schedule.clone(), crate::bridges::report_recipients(&channels, &schedule.send_to)))
        .collect();
    let bridges = Bridges::new(channels, bridge_context, CancellationToken::new());
    let inbox = crate::discovery::inbox::Inbox::new(db.clone(), config.discovery.clone());
    // Subscribed to the bus before any camera starts.
    let describer = crate::describe::Describer::new(
        config.describe.clone(),
        config.ffmpeg.path.clone(),
        crate::describe::load_site_context(&config.describe, &db).await,
        (db.clone(), media.clone(), bus.clone()),
        cameras.clone(),
        tasks.clone(),
    );
    let reports = crate::reports::Reports::new(
        db.clone(),
        media.clone(),
        bus.clone(),
        &data_dir,
        schedules,
        describer.summariser(),
    );
    let turns = Arc::new(web::turns::Turns::new(db.connections(), web::turns::Turns::MAX_HOLD));
    let state = AppState {
        data_dir: data_dir.clone(),
        config_file,
        reports,
        recordings: recordings.clone(),
        inbox,
        describer: describer.info(),
        db,
        auth,
        detector,
        cameras,
        camera_manager,
        bridges,
        media,
        bus,
        config: Arc::new(config.clone()),
        started: Instant::now(),
        whatsapp_replays: Default::default(),
        push_keys,
        turns,
    };
    let bind = config.server.bind.clone();
    let app_state = state.clone();
    let server = actix_web::HttpServer::new(move || {
        actix_web::App::new()
            .configure(web::configure(app_state.clone()))
            .wrap(actix_web::middleware::from_fn(web::guard))
            .wrap(web::security_headers())
            .wrap(actix_web::middleware::Logger::new("%r %s %Dms").log_target("watchpost::http"))
    })
    .workers(2)
    .disable_signals()
    .shutdown_timeout(5)
    .bind(&bind)
    .map_err(|e| {
        Error::unavailable(format!("cannot listen on {bind}: {e}; set [server] bind or --bind to a free address"))
    })?;
    let addr = server.addrs().first().copied().ok_or_else(|| Error::internal("server has no address"))?;
    let server = server.run();
    let handle = server.handle();
    let server_task = tokio::spawn(server);
    tracing::info!("web UI at http://{addr}");
    // Files and index agree before anything records.
    match crate::recording::recovery::run(&recordings).await {
        Ok(report) if report == Default::default() => {}
        Ok(report) => tracing::info!(
            indexed = report.indexed,
            salvaged = report.salvaged,
            dropped = report.dropped,
            rows_removed = report.rows_removed,
            "recordings recovered after an unclean stop"
        ),
        Err(err) => tracing::error!(error = %err, "the recordings' recovery pass failed; going on"),
    }
    // Bridges before cameras, so they hear the cameras' first events (the MQTT bridge announces the
    // cameras once they are all loaded: `finish_loading`).
    state.bridges.start_all(crate::bridges::ui_url(&config.server, addr)).await;
    let known: Vec<String> = file_cameras.iter().chain(&ui_cameras).map(|c| c.id.clone()).collect();
    if let Err(err) = state.db.release_objects_of_other_cameras(&known).await {
        tracing::warn!(error = %err, "cannot end the events of stationary objects of removed cameras");
    }
    for camera in file_cameras {
        state.camera_manager.put(camera, CameraSource::Config).await;
    }
    for camera in ui_cameras {
        state.camera_manager.put(camera, CameraSource::Ui).await;
    }
    state.camera_manager.finish_loading();
    tasks.spawn(describer.run(cancel.clone()));
    tasks.spawn(state.reports.clone().run(cancel.clone()));
    let sweeper = Sweeper::new(recordings.clone(), state.media.clone());
    tasks.spawn(sweep_recordings(sweeper, state.cameras.clone(), cancel.clone()));
    let sensors = crate::sensors::SensorEvents::new(
        state.db.clone(),
        state.bus.clone(),
        state.cameras.clone(),
        state.media.clone(),
    );
    tasks.spawn(sensors.run(cancel.clone()));
    tasks.spawn(state.inbox.clone().run_background(cancel.clone()));
    let nodes =
        crate::discovery::nodes::NodeWatcher::new(state.db.clone(), state.bus.clone(), config.discovery.clone());
    tasks.spawn(nodes.run(cancel.clone()));
    if let Ok(true) = state.auth.needs_setup().await {
        tracing::warn!(
            "no account exists yet: open http://{addr}/setup to create the administrator, or run `watchpost user add NAME --role admin`"
        );
    }
    Ok(RunningApp { addr, state, server: handle, server_task, cancel, tasks, detector: detector_worker })
}

impl RunningApp {
    /// Stops in order: live views, web server, cameras (ending events, killing ffmpeg), pending writes,
    /// database.
    pub async fn shutdown(self) {
        tracing::info!("shutting down");
        self.state.camera_manager.end_live_views();
        self.server.stop(true).await;
        let _ = self.server_task.await;
        self.cancel.cancel();
        self.state.camera_manager.stop_all().await;
        self.state.bridges.stop_all().await;
        if let Some(worker) = self.detector.clone() {
            let _ = tokio::task::spawn_blocking(move || worker.stop()).await;
        }
        self.tasks.close();
        if tokio::time::timeout(Duration::from_secs(10), self.tasks.wait()).await.is_err() {
            tracing::warn!("some pending writes did not finish within 10 s");
        }
        self.state.db.clone().close().await;
        tracing::info!("stopped");
    }
}

/// The settings the bridges start with: the config file's, with MQTT settings saved on the
/// Integrations page filling in when the file has no `[mqtt] host`.
/// How often the retention sweep runs.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// The retention sweep, under the cameras' current rules, until shutdown.
async fn sweep_recordings(mut sweeper: Sweeper, cameras: crate::camera::Cameras, cancel: CancellationToken) {
    let mut ticker = tokio::time::interval(SWEEP_EVERY);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let rules = cameras.list().iter().map(|c| (c.id().to_string(), c.config.record.clone())).collect();
        if let Err(err) = sweeper.sweep(chrono::Utc::now().timestamp_millis(), rules).await {
            tracing::warn!(error = %err, "the recordings' retention sweep failed; it runs again in a minute");
        }
    }
}

async fn bridge_config(config: &Config, db: &Db, vault: &Vault) -> Config {
    let mut config = config.clone();
    if !config.mqtt.enabled() {
        match crate::bridges::mqtt::saved::load(db, vault).await {
            Ok(Some(saved)) => config.mqtt = saved,
            Ok(None) => {}
            Err(err) => tracing::error!(error = %err, "MQTT stays off"),
        }
    }
    config
}

/// Loads the object detector and starts its worker; on failure cameras run with motion only and
/// the reason is kept for the UI and `/metrics`.
async fn start_detector(config: &crate::detect::DetectorConfig) -> (Option<DetectorWorker>, DetectorState) {
    let off = |error: String| (None, DetectorState { summary: String::new(), error: Some(error) });
    if !config.enabled {
        tracing::info!("object detection is off ([detector] enabled = false)");
        return off("Object detection is turned off ([detector] enabled = false).".into());
    }
    let settings = config.clone();
    let loaded = tokio::task::spawn_blocking(move || crate::detect::onnx::OnnxDetector::load(&settings)).await;
    match loaded {
        Ok(Ok(detector)) => {
            let (width, height) = crate::detect::Detector::input_size(&detector);
            tracing::info!(
                model = %config.model.display(),
                input = format!("{width}x{height}"),
                providers = %detector.providers.join(","),
                "object detection on"
            );
            let summary = format!(
                "{}, {width}×{height}, {} thread(s), {}",
                config.model.display(),
                config.threads,
                detector.providers.join(", ")
            );
            (Some(DetectorWorker::start(Arc::new(detector))), DetectorState { summary, error: None })
        }
        Ok(Err(err)) => {
            tracing::error!("object detection is off: {}", err.message);
            off(err.message)
        }
        Err(join) => {
            tracing::error!(error = %join, "the detector failed to load");
            off("The detector failed to load; see the log.".into())
        }
    }
}

/// Opens the database and the account keys without starting anything (for the `user` and `token`
/// commands).
pub async fn open_accounts(config: &Config, data_dir: &std::path::Path) -> Result<(Db, Auth)> {
    make_private(data_dir)
        .map_err(|e| Error::unavailable(format!("cannot create the data directory {}: {e}", data_dir.display())))?;
    let db = Db::connect(&config.storage.database_url(data_dir)).await?;
    let auth = Auth::open(db.clone(), data_dir, config.auth.clone(), crate::clock::system()).await?;
    Ok((db, auth))
}

/// Keeps what Watchpost writes to the account it runs as: from here on, files it (and ffmpeg)
/// creates are 0600 and folders 0700 (umask 077), and the data directory is created 0700. An
/// existing data directory, its `keys/` and the files directly in it (the SQLite database) are
/// made private too, which closes what an older version left readable: snapshots, the database
/// with its password hashes and audit log, and the keys. docs/security.md says how to share the
/// media read-only with another account.
fn make_private(data_dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    // SAFETY: umask only sets this process's file-creation mask; it cannot fail.
    unsafe {
        libc::umask(0o077);
    }
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(data_dir)?;
    // Not fatal: a directory owned by another account (a NAS share writable by a group) cannot
    // be changed, and Watchpost still works in it.
    let restrict = |path: &Path, mode: u32| {
        if let Err(err) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)) {
            tracing::warn!(path = %path.display(), error = %err, "cannot make this private (mode {mode:o})");
        }
    };
    restrict(data_dir, 0o700);
    for entry in std::fs::read_dir(data_dir)?.flatten() {
        let Ok(kind) = entry.file_type() else { continue };
        if kind.is_file() {
            restrict(&entry.path(), 0o600);
        } else if kind.is_dir() && entry.file_name() == "keys" {
            restrict(&entry.path(), 0o700);
        }
    }
    Ok(())
}

/// Runs until SIGINT/SIGTERM, then shuts down; a second signal exits at once.
pub async fn serve(options: ServeOptions) -> Result<()> {
    let app = start(options).await?;
    wait_for_signal().await;
    tokio::spawn(async {
        wait_for_signal().await;
        eprintln!("second signal: exiting now");
        std::process::exit(130);
    });
    app.shutdown().await;
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

/// Records config-file cameras in the database (the file wins over a UI camera with the same id),
/// forgets config cameras removed from the file, and returns the UI cameras to start.
async fn sync_cameras(db: &Db, vault: &Vault, file_cameras: &[CameraConfig]) -> Result<Vec<CameraConfig>> {
    let stored = db.list_cameras().await?;
    let file_ids: HashSet<&str> = file_cameras.iter().map(|c| c.id.as_str()).collect();
    for camera in file_cameras {
        if stored.iter().any(|row| row.id == camera.id && row.source == CameraSource::Ui.as_str()) {
            tracing::warn!(camera = %camera.id, "the config file defines a camera with the id of a UI camera; the config file wins");
        }
        crate::camera::store_camera(db, vault, camera, CameraSource::Config).await?;
    }
    let mut ui_cameras = Vec::new();
    for row in stored {
        if file_ids.contains(row.id.as_str()) {
            continue;
        }
        if row.source == CameraSource::Config.as_str() {
            db.delete_camera(&row.id).await?;
            continue;
        }
        match crate::camera::load_camera(&row, vault) {
            Ok(camera) if camera.validate().is_empty() => {
                if row.credentials.is_none() && crate::secret::split_credentials(&camera.url).1.is_some() {
                    // Saved by a version that kept credentials in clear text: seal them now.
                    crate::camera::store_camera(db, vault, &camera, CameraSource::Ui).await?;
                    tracing::info!(camera = %row.id, "sealed the camera's saved credentials");
                }
                ui_cameras.push(camera)
            }
            Ok(camera) => {
                tracing::error!(camera = %row.id, issues = ?camera.validate(), "stored camera is invalid; not started")
            }
            Err(err) => tracing::error!(camera = %row.id, error = %err, "stored camera cannot be read; not started"),
        }
    }
    Ok(ui_cameras)
}
