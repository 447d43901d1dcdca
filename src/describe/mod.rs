//! Descriptions of object events. Every object event first gets a sentence written from its
//! detections (marked as written without AI), so search and alerts work offline; with a
//! `[describe] provider`, the event's snapshot then goes to a vision-language model whose title,
//! description and threat level replace it, and an `EventUpdated` goes out on the bus.
//!
//! Requests run at most `concurrency` at a time, each within `timeout_secs`, retried with back-off
//! on 429, 5xx and time-outs (honouring `Retry-After`), and within a budget of `max_per_hour`
//! (events over it keep the sentence from the detections and are counted).

pub mod providers;
pub mod settings;
pub mod text;

use crate::bus::{BusMessage, EventBus, EventSummary};
use crate::camera::Cameras;
use crate::camera::settings::CameraConfig;
use crate::db::{Db, Description};
use crate::describe::settings::{DescribeConfig, DescribeImage};
use crate::media::MediaStore;
use crate::model::DescribedBy;
use crate::supervise::{Backoff, CancellationToken, sleep_or_cancel};
use providers::{CallError, VisionModel};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, broadcast};
use tokio_util::task::TaskTracker;

/// Counters for `/metrics` and the System page.
#[derive(Debug, Default)]
pub struct DescribeStats {
    /// Events sent to the model.
    pub requests: AtomicU64,
    pub described: AtomicU64,
    /// Events the model did not describe after every retry.
    pub failed: AtomicU64,
    /// Events not sent because the hourly budget was spent.
    pub skipped_budget: AtomicU64,
    /// How long the last successful description took, in milliseconds.
    pub last_ms: AtomicU64,
}

/// What is normal at the site, sent with every request: `[describe] site_context` when the file
/// sets it, else what was saved on the Integrations page (setting [`SITE_CONTEXT_SETTING`]).
pub type SiteContext = Arc<std::sync::RwLock<String>>;

/// The setting that holds the site context saved in the UI (a JSON string).
pub const SITE_CONTEXT_SETTING: &str = "describe-site-context";

/// The site context to start with: the file's, else the one saved in the UI.
pub async fn load_site_context(config: &DescribeConfig, db: &Db) -> String {
    if !config.site_context.trim().is_empty() {
        return config.site_context.clone();
    }
    match db.setting(SITE_CONTEXT_SETTING).await {
        Ok(Some(saved)) => crate::db::stored_json_or_logged(&saved, "the site context saved in the UI"),
        _ => String::new(),
    }
}

/// The hourly request budget (`[describe] max_per_hour`) per provider, shared by event
/// descriptions and report summaries.
#[derive(Clone, Default)]
pub struct Budget {
    max_per_hour: u32,
    /// When each request of the last hour was made, per provider (kind and address).
    sent: Arc<Mutex<HashMap<String, VecDeque<Instant>>>>,
}

impl Budget {
    /// Whether the budget of the provider at `key` allows one more request now (and counts it if so).
    pub fn take(&self, key: &str) -> bool {
        if self.max_per_hour == 0 {
            return true;
        }
        let mut budget = self.sent.lock().expect("budget lock");
        let sent = budget.entry(key.to_string()).or_default();
        while sent.front().is_some_and(|t| t.elapsed() > Duration::from_secs(3600)) {
            sent.pop_front();
        }
        if sent.len() >= self.max_per_hour as usize {
            return false;
        }
        sent.push_back(Instant::now());
        true
    }
}

/// Asks the configured model, in words only, to sum up a period from the events' descriptions
/// (a report's paragraph), within the same budget as the descriptions.
#[derive(Clone)]
pub struct Summariser {
    config: DescribeConfig,
    client: reqwest::Client,
    budget: Budget,
    stats: Arc<DescribeStats>,
}

impl Summariser {
    /// `<provider>:<model>`, for the report to say who wrote the paragraph.
    pub fn by(&self) -> String {
        providers::from_config(&self.config).map_or_else(String::new, |p| format!("{}:{}", p.kind(), self.config.model))
    }

    /// A few sentences about `period` ("Monday 30 November") from `lines` (one per event: time,
    /// camera, title, description); `None` when the budget is spent or the model does not answer.
    pub async fn summarise(&self, period: &str, lines: &[String]) -> Option<String> {
        let provider = providers::from_config(&self.config)?;
        if lines.is_empty() {
            return None;
        }
        if !self.budget.take(&format!("{}:{}", provider.kind(), self.config.base_url())) {
            self.stats.skipped_budget.fetch_add(1, Ordering::Relaxed);
            tracing::info!("description budget spent; the report goes without its summary");
            return None;
        }
        let system = "You write the summary paragraph of a home security camera report for the people who live \
                      there. Plain words, no lists, no markdown, at most four sentences.";
        let prompt = format!(
            "Summarise {period} from these camera events (time, camera, what was seen). Say what was usual and \
             point out anything worth a look.\n\n{}",
            lines.join("\n")
        );
        let timeout = Duration::from_secs(u64::from(self.config.timeout_secs));
        match providers::call(&*provider, &self.client, &self.config.model, system, &prompt, &[], timeout).await {
            Ok(text) => Some(text.trim().to_string()).filter(|t| !t.is_empty()),
            Err(err) => {
                tracing::warn!(error = ?err, "the model gave no summary for the report; it goes without one");
                None
            }
        }
    }
}

/// Who writes descriptions, for the System and Integrations pages.
#[derive(Debug, Clone)]
pub struct DescriberInfo {
    /// `rules` when no model is configured, else `<provider>:<model>`.
    pub by: String,
    pub max_per_hour: u32,
    pub stats: Arc<DescribeStats>,
    pub site_context: SiteContext,
}

pub struct Describer {
    db: Db,
    media: MediaStore,
    bus: EventBus,
    cameras: Cameras,
    config: DescribeConfig,
    ffmpeg: String,
    client: reqwest::Client,
    slots: Arc<Semaphore>,
    budget: Budget,
    stats: Arc<DescribeStats>,
    site_context: SiteContext,
    tasks: TaskTracker,
    events: broadcast::Receiver<BusMessage>,
}

impl Describer {
    /// Subscribes to the bus at once, so no event between this and `run` is missed.
    pub fn new(
        config: DescribeConfig,
        ffmpeg: String,
        site_context: String,
        (db, media, bus): (Db, MediaStore, EventBus),
        cameras: Cameras,
        tasks: TaskTracker,
    ) -> Self {
        Self {
            events: bus.subscribe(),
            db,
            media,
            bus,
            cameras,
            ffmpeg,
            client: crate::http::client_builder().connect_timeout(Duration::from_secs(10)).build().unwrap_or_default(),
            slots: Arc::new(Semaphore::new(config.concurrency.max(1) as usize)),
            budget: Budget { max_per_hour: config.max_per_hour, sent: Arc::default() },
            stats: Arc::default(),
            site_context: Arc::new(std::sync::RwLock::new(site_context)),
            tasks,
            config,
        }
    }

    /// The report summariser, when `[describe]` names a model.
    pub fn summariser(&self) -> Option<Summariser> {
        providers::from_config(&self.config)?;
        Some(Summariser {
            config: self.config.clone(),
            client: self.client.clone(),
            budget: self.budget.clone(),
            stats: self.stats.clone(),
        })
    }

    pub fn info(&self) -> DescriberInfo {
        let by = match providers::from_config(&self.config) {
            Some(provider) => format!("{}:{}", provider.kind(), self.config.model),
            None => DescribedBy::Rules.as_str().into(),
        };
        DescriberInfo {
            by,
            max_per_hour: self.config.max_per_hour,
            stats: self.stats.clone(),
            site_context: self.site_context.clone(),
        }
    }

    pub async fn run(mut self, cancel: CancellationToken) {
        loop {
            let message = tokio::select! {
                message = self.events.recv() => message,
                _ = cancel.cancelled() => break,
            };
            match message {
                Ok(BusMessage::EventStarted(event)) if event.kind == crate::model::EventKind::Object => {
                    self.started(event, &cancel).await
                }
                Ok(BusMessage::EventEnded(event)) if event.kind == crate::model::EventKind::Object => {
                    self.ended(event, &cancel).await
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "the describer fell behind; some events keep no description")
                }
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    }

    fn camera(&self, id: &str) -> Option<CameraConfig> {
        self.cameras.get(id).map(|c| c.config.clone())
    }

    fn rules(&self, event: &EventSummary, camera: Option<&CameraConfig>) -> String {
        let name = camera.map(|c| c.display_name()).unwrap_or(&event.camera);
        text::from_detections(event.label.as_deref(), &event.zones, name, event.start_ms, event.end_ms)
    }

    async fn started(&mut self, event: EventSummary, cancel: &CancellationToken) {
        let camera = self.camera(&event.camera);
        let written = Description {
            title: None,
            text: self.rules(&event, camera.as_ref()),
            threat_level: None,
            by: DescribedBy::Rules.as_str().into(),
            took_ms: None,
        };
        if let Err(err) = self.db.set_event_description(event.id, &written).await {
            tracing::warn!(event = event.id, error = %err, "cannot store an event's description");
        }
        self.ask(event, camera, cancel);
    }

    async fn ended(&mut self, event: EventSummary, cancel: &CancellationToken) {
        let camera = self.camera(&event.camera);
        let text = self.rules(&event, camera.as_ref());
        if let Err(err) = self.db.replace_rules_description(event.id, &text).await {
            tracing::warn!(event = event.id, error = %err, "cannot store an event's description");
        }
        if self.config.describe_at_end {
            self.ask(event, camera, cancel);
        }
    }

    /// Sends the event to the camera's model in the background, when it has one and wants it.
    fn ask(&self, event: EventSummary, camera: Option<CameraConfig>, cancel: &CancellationToken) {
        let Some(camera) = camera else { return };
        if !camera.describe.enabled || event.snapshot.is_none() {
            return;
        }
        let config = self.config.for_camera(&camera.describe);
        let Some(provider) = providers::from_config(&config) else { return };
        if !self.budget.take(&format!("{}:{}", provider.kind(), config.base_url())) {
            self.stats.skipped_budget.fetch_add(1, Ordering::Relaxed);
            tracing::info!(
                event = event.id,
                per_hour = self.config.max_per_hour,
                "description budget spent; kept the one without AI"
            );
            return;
        }
        let job = Job {
            db: self.db.clone(),
            media: self.media.clone(),
            bus: self.bus.clone(),
            config,
            ffmpeg: self.ffmpeg.clone(),
            provider: Arc::from(provider),
            client: self.client.clone(),
            slots: self.slots.clone(),
            stats: self.stats.clone(),
            site_context: self.site_context.read().expect("site context lock").clone(),
            camera,
            event,
        };
        self.tasks.spawn(job.run(cancel.clone()));
    }
}

/// One event to describe, with its camera's settings.
struct Job {
    db: Db,
    media: MediaStore,
    bus: EventBus,
    config: DescribeConfig,
    ffmpeg: String,
    provider: Arc<dyn VisionModel>,
    client: reqwest::Client,
    slots: Arc<Semaphore>,
    stats: Arc<DescribeStats>,
    site_context: String,
    camera: CameraConfig,
    event: EventSummary,
}

impl Job {
    async fn run(self, cancel: CancellationToken) {
        let Ok(_slot) = self.slots.clone().acquire_owned().await else { return };
        let id = self.event.id;
        let Some(images) = self.images().await else {
            tracing::warn!(event = id, "cannot read the event's snapshot to describe it");
            return;
        };
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        let label = self.event.label.clone().unwrap_or_else(|| "object".into());
        let template = self
            .camera
            .describe
            .prompt
            .as_ref()
            .or_else(|| self.config.label_prompts.get(&label))
            .unwrap_or(&self.config.prompt);
        let facts = text::Facts {
            camera: self.camera.display_name(),
            label: &label,
            zones: &self.event.zones,
            start_ms: self.event.start_ms,
        };
        let prompt = text::fill(template, &facts);
        let system = text::system_text(&self.site_context);
        let model = self.config.model.clone();
        let timeout = Duration::from_secs(self.config.timeout_secs.into());
        let started = Instant::now();
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        let mut attempt = 0;
        let answer = loop {
            let call = providers::call(&*self.provider, &self.client, &model, &system, &prompt, &images, timeout);
            let result = tokio::select! {
                result = call => result,
                _ = cancel.cancelled() => return,
            };
            match result {
                Ok(answer) => break Ok(answer),
                Err(CallError::Fail(reason)) => break Err(reason),
                Err(CallError::Retry { reason, after }) if attempt < self.config.retries => {
                    attempt += 1;
                    let wait = after.unwrap_or_else(|| backoff.next_delay()).min(Duration::from_secs(300));
                    tracing::info!(
                        event = id,
                        attempt,
                        wait_s = wait.as_secs(),
                        "describing failed ({reason}); trying again"
                    );
                    if !sleep_or_cancel(wait, &cancel).await {
                        return;
                    }
                }
                Err(CallError::Retry { reason, .. }) => break Err(reason),
            }
        };
        let by = format!("{}:{model}", self.provider.kind());
        let took_ms = started.elapsed().as_millis() as i64;
        let description = match answer {
            Ok(answer) => text::read_answer(&answer, by, took_ms),
            Err(reason) => {
                self.stats.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    event = id,
                    "the model did not describe the event: {reason}; kept the description without AI"
                );
                return;
            }
        };
        let Some(description) = description else {
            self.stats.failed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(event = id, "the model answered with nothing; kept the description without AI");
            return;
        };
        if let Err(err) = self.db.set_event_description(id, &description).await {
            tracing::warn!(event = id, error = %err, "cannot store the model's description");
            return;
        }
        let raised = match description.threat_level {
            Some(2) => Some(crate::model::Severity::High),
            Some(1) => Some(crate::model::Severity::Medium),
            _ => None,
        };
        if let Some(severity) = raised.filter(|_| self.config.raise_severity)
            && let Err(err) = self.db.raise_event_severity(id, severity).await
        {
            tracing::warn!(event = id, error = %err, "cannot raise the event's severity");
        }
        self.stats.described.fetch_add(1, Ordering::Relaxed);
        self.stats.last_ms.store(took_ms as u64, Ordering::Relaxed);
        tracing::info!(event = id, took_ms, by = %description.by, "event described");
        let mut event = self.event;
        event.description = Some(description.text);
        event.title = description.title;
        self.bus.publish(BusMessage::EventUpdated(event));
    }

    /// The pictures to send, as `[describe] image` asks: the snapshot, the object cut out of it
    /// (by ffmpeg), or both. A crop that cannot be made falls back to the whole snapshot.
    async fn images(&self) -> Option<Vec<Vec<u8>>> {
        let path = self.media.resolve(self.event.snapshot.as_deref()?)?;
        let frame = tokio::fs::read(&path).await.ok()?;
        if self.config.image == DescribeImage::Frame {
            return Some(vec![frame]);
        }
        let bbox = match self.db.get_event(self.event.id).await {
            Ok(Some(row)) => serde_json::from_str::<[f32; 4]>(&row.bbox).ok(),
            _ => None,
        };
        let ffmpeg = self.ffmpeg.clone();
        let crop = match bbox {
            Some(bbox) => tokio::task::spawn_blocking(move || crop_jpeg(&ffmpeg, &path, bbox)).await.ok().flatten(),
            None => None,
        };
        Some(match (crop, self.config.image) {
            (Some(crop), DescribeImage::Both) => vec![crop, frame],
            (Some(crop), _) => vec![crop],
            (None, _) => vec![frame],
        })
    }
}

/// The object's box (`[x, y, w, h]`, relative) with a quarter of its size around it, cut out of
/// the JPEG at `path` by ffmpeg.
fn crop_jpeg(ffmpeg: &str, path: &std::path::Path, bbox: [f32; 4]) -> Option<Vec<u8>> {
    let [x, y, w, h] = bbox;
    if !(w > 0.0 && h > 0.0) {
        return None;
    }
    let (x0, y0) = ((x - w / 4.0).max(0.0), (y - h / 4.0).max(0.0));
    let (x1, y1) = ((x + w * 1.25).min(1.0), (y + h * 1.25).min(1.0));
    let filter = format!("crop=w=iw*{:.4}:h=ih*{:.4}:x=iw*{x0:.4}:y=ih*{y0:.4}", x1 - x0, y1 - y0);
    let output = std::process::Command::new(ffmpeg)
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-vf", &filter, "-frames:v", "1", "-q:v", "3", "-f", "image2", "-c:v", "mjpeg", "pipe:1"])
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    (output.status.success() && output.stdout.starts_with(&[0xff, 0xd8])).then_some(output.stdout)
}
