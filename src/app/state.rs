//! What every request handler can reach: the services the composition root ([`super::start`])
//! builds at start. Kept in its own leaf of `app` so that the web layer can name it without
//! naming the code that starts everything.

use crate::auth::Auth;
use crate::bus::EventBus;
use crate::camera::{CameraManager, Cameras};
use crate::config::Config;
use crate::db::Db;
use crate::media::MediaStore;
use std::sync::Arc;
use std::time::Instant;

/// The object detector as the UI and `/metrics` see it.
#[derive(Clone, Default)]
pub struct DetectorState {
    /// What runs: model, input size, providers, threads.
    pub summary: String,
    /// Why detection is off, in words.
    pub error: Option<String>,
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub auth: Auth,
    pub detector: DetectorState,
    /// The cameras as everything but their settings pages sees them.
    pub cameras: Cameras,
    /// Adds, changes and deletes cameras.
    pub camera_manager: CameraManager,
    pub bridges: crate::bridges::Bridges,
    /// Devices found on the LAN and adoptions in progress.
    pub inbox: crate::discovery::inbox::Inbox,
    pub describer: crate::describe::DescriberInfo,
    pub media: MediaStore,
    /// Daily and weekly PDF reports: made, kept, scheduled.
    pub reports: crate::reports::Reports,
    /// Recorded video: segments, clips, space.
    pub recordings: crate::recording::Recordings,
    pub bus: EventBus,
    pub config: Arc<Config>,
    /// The file the config came from, if any.
    pub config_file: Option<std::path::PathBuf>,
    /// Where the database, keys, media and reports live by default.
    pub data_dir: std::path::PathBuf,
    pub started: Instant,
    /// WhatsApp webhook messages already acted on.
    pub whatsapp_replays: Arc<crate::bridges::whatsapp::ReplayGuard>,
    /// The Web Push key: its public half for browsers, the action tokens of notifications.
    pub push_keys: Arc<crate::bridges::push::webpush::PushKeys>,
    /// Signed-in requests wait for one of these, in the order they came (one per database connection).
    pub turns: Arc<crate::web::turns::Turns>,
}
