//! Turns per-frame motion into motion events: an event starts when motion lasts `start_frames`
//! frames and ends after `quiet_secs` without motion. It is stored at once with a snapshot of the
//! frame that started it; the snapshot is replaced by the frame with the most motion when the event
//! ends. Database and disk failures are logged and retried; they never stop the camera.

use crate::bus::{BusMessage, EventBus, EventSummary};
use crate::db::{Db, EventUpdate, NewEvent};
use crate::detect::motion::MotionConfig;
use crate::detect::{RelBox, union_box};
use crate::media::{Frame, MediaStore};
use crate::supervise::Backoff;
use std::time::{Duration, Instant};
use tokio_util::task::TaskTracker;

/// A better frame must cover this much more area to replace the snapshot.
const BETTER_SNAPSHOT_FACTOR: f32 = 1.2;
const SNAPSHOT_QUALITY: u8 = 85;
/// How long an event's end is retried before it is left to the next start.
const CLOSE_RETRY_FOR: Duration = Duration::from_secs(600);
const MAX_CLOSE_DELAY: Duration = Duration::from_secs(30);

/// Encodes and writes `frame` to `path` (atomically); the error is in words for the camera's status.
pub(super) async fn save_snapshot(media: &MediaStore, path: &str, frame: &Frame) -> Result<(), String> {
    let media = media.clone();
    let frame = frame.clone();
    let target = path.to_string();
    let result = tokio::task::spawn_blocking(move || {
        let jpeg = frame.to_jpeg(SNAPSHOT_QUALITY)?;
        media.write_atomic(&target, &jpeg)
    })
    .await;
    match result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => {
            tracing::warn!(error = %err, path, "cannot write the event snapshot");
            Err(format!("Snapshots cannot be saved: {err}"))
        }
        Err(join) => {
            tracing::error!(error = %join, "snapshot encoder failed");
            Err("Snapshots cannot be saved: the encoder failed.".into())
        }
    }
}

/// Stores an event's final state in the background, retrying while the database refuses it (a
/// lock, a full disk): from 1 s apart, doubling to 30 s, for [`CLOSE_RETRY_FOR`]. What is still
/// open then, or at shutdown, is closed when Watchpost starts next (`close_open_events`).
pub(super) fn close_event(db: &Db, tasks: &TaskTracker, id: i64, update: EventUpdate) {
    let db = db.clone();
    let shutdown = tasks.clone();
    tasks.spawn(async move {
        let started = Instant::now();
        let mut backoff = Backoff::new(Duration::from_secs(1), MAX_CLOSE_DELAY);
        for attempt in 1.. {
            let err = match db.update_event(id, &update).await {
                Ok(()) => {
                    if attempt > 1 {
                        tracing::info!(event = id, attempt, "event closed");
                    }
                    return;
                }
                Err(err) => err,
            };
            let delay = backoff.next_delay();
            if started.elapsed() + delay > CLOSE_RETRY_FOR {
                tracing::error!(error = %err, event = id, "gave up closing the event; it is closed at the next start");
                return;
            }
            tracing::warn!(error = %err, event = id, attempt, retry_in_s = delay.as_secs(), "cannot close the event yet");
            // In steps, so that a shutdown does not wait for the retry.
            let until = Instant::now() + delay;
            while Instant::now() < until {
                if shutdown.is_closed() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    });
}

pub struct MotionEventRecorder {
    camera: String,
    start_frames: u32,
    quiet_ms: i64,
    db: Db,
    media: MediaStore,
    bus: EventBus,
    tasks: TaskTracker,
    consecutive: u32,
    first_motion_ms: Option<i64>,
    active: Option<ActiveEvent>,
    /// The last snapshot write failure, for the camera's status; cleared on success.
    pub snapshot_error: Option<String>,
}

struct ActiveEvent {
    id: i64,
    start_ms: i64,
    last_motion_ms: i64,
    score: f32,
    best_coverage: f32,
    best_boxes: Vec<RelBox>,
    best_frame: Option<Frame>,
    snapshot: Option<String>,
}

impl MotionEventRecorder {
    pub fn new(
        camera: &str,
        motion: &MotionConfig,
        db: Db,
        media: MediaStore,
        bus: EventBus,
        tasks: TaskTracker,
    ) -> Self {
        Self {
            camera: camera.to_string(),
            start_frames: motion.start_frames.max(1),
            quiet_ms: i64::from(motion.quiet_secs) * 1000,
            db,
            media,
            bus,
            tasks,
            consecutive: 0,
            first_motion_ms: None,
            active: None,
            snapshot_error: None,
        }
    }

    pub fn is_active(&self) -> bool {
        self.active.is_some()
    }

    /// Feeds one frame's motion result.
    pub async fn on_frame(&mut self, frame: &Frame, boxes: &[RelBox], changed_fraction: f32) {
        let now = frame.time_ms;
        if boxes.is_empty() {
            self.consecutive = 0;
            self.first_motion_ms = None;
            if self.active.as_ref().is_some_and(|a| now - a.last_motion_ms >= self.quiet_ms) {
                self.finish(now).await;
            }
            return;
        }
        let coverage: f32 = boxes.iter().map(|b| b[2] * b[3]).sum::<f32>().min(1.0);
        if let Some(active) = &mut self.active {
            active.last_motion_ms = now;
            active.score = active.score.max(changed_fraction);
            if coverage > active.best_coverage * BETTER_SNAPSHOT_FACTOR {
                active.best_coverage = coverage;
                active.best_boxes.clear();
                active.best_boxes.extend_from_slice(boxes);
                match &mut active.best_frame {
                    Some(copy) if copy.data.len() == frame.data.len() => {
                        copy.data.copy_from_slice(&frame.data);
                        copy.time_ms = frame.time_ms;
                        copy.seq = frame.seq;
                    }
                    slot => *slot = Some(frame.clone()),
                }
            }
            return;
        }
        self.consecutive += 1;
        let first = *self.first_motion_ms.get_or_insert(now);
        if self.consecutive >= self.start_frames {
            self.start(frame, boxes, changed_fraction, coverage, first).await;
        }
    }

    async fn start(&mut self, frame: &Frame, boxes: &[RelBox], changed_fraction: f32, coverage: f32, start_ms: i64) {
        // The snapshot is on disk before the row exists, so nobody ever sees an event without it.
        let path = MediaStore::snapshot_path(&self.camera, frame.time_ms);
        let snapshot = self.write_snapshot(&path, frame).await.then_some(path);
        let new = NewEvent {
            camera_id: self.camera.clone(),
            kind: crate::model::EventKind::Motion,
            label: None,
            score: f64::from(changed_fraction),
            bbox: union_box(boxes).unwrap_or_default(),
            boxes: boxes.to_vec(),
            start_ms,
            snapshot: snapshot.clone(),
            severity: crate::model::Severity::Low,
            zones: Vec::new(),
            frame: (frame.width, frame.height),
        };
        let id = match self.db.insert_event(&new).await {
            Ok(id) => id,
            Err(err) => {
                // Keep counting: the next motion frame tries again with the same start time.
                tracing::warn!(error = %err, "cannot store a motion event yet; will retry on the next frame");
                if let Some(orphan) = snapshot.as_deref().and_then(|p| self.media.resolve(p)) {
                    let _ = std::fs::remove_file(orphan);
                }
                return;
            }
        };
        tracing::info!(event = id, "motion event started");
        self.active = Some(ActiveEvent {
            id,
            start_ms,
            last_motion_ms: frame.time_ms,
            score: changed_fraction,
            best_coverage: coverage,
            best_boxes: boxes.to_vec(),
            best_frame: None,
            snapshot: snapshot.clone(),
        });
        self.bus.publish(BusMessage::EventStarted(self.summary(
            id,
            start_ms,
            None,
            f64::from(changed_fraction),
            snapshot,
        )));
    }

    /// Ends the active event (if any) at `end_ms`: best snapshot written, row updated (with retries).
    pub async fn finish(&mut self, end_ms: i64) {
        self.consecutive = 0;
        self.first_motion_ms = None;
        let Some(active) = self.active.take() else { return };
        // The best frame replaces the first snapshot in place (atomically), or stands in for it.
        let path = active.snapshot.clone().unwrap_or_else(|| MediaStore::snapshot_path(&self.camera, active.start_ms));
        let mut snapshot = active.snapshot.clone();
        if let Some(best) = &active.best_frame
            && self.write_snapshot(&path, best).await
        {
            snapshot = Some(path);
        }
        let end_ms = end_ms.max(active.start_ms);
        let update = EventUpdate {
            score: f64::from(active.score),
            bbox: union_box(&active.best_boxes).unwrap_or_default(),
            boxes: active.best_boxes.clone(),
            end_ms: Some(end_ms),
            snapshot: snapshot.clone(),
            stationary: false,
            zones: None,
            score_history: None,
            label: None,
        };
        let id = active.id;
        close_event(&self.db, &self.tasks, id, update);
        tracing::info!(event = id, seconds = (end_ms - active.start_ms) / 1000, "motion event ended");
        self.bus.publish(BusMessage::EventEnded(self.summary(
            id,
            active.start_ms,
            Some(end_ms),
            f64::from(active.score),
            snapshot,
        )));
    }

    async fn write_snapshot(&mut self, path: &str, frame: &Frame) -> bool {
        let result = save_snapshot(&self.media, path, frame).await;
        self.snapshot_error = result.clone().err();
        result.is_ok()
    }

    fn summary(
        &self,
        id: i64,
        start_ms: i64,
        end_ms: Option<i64>,
        score: f64,
        snapshot: Option<String>,
    ) -> EventSummary {
        EventSummary {
            id,
            camera: self.camera.clone(),
            kind: crate::model::EventKind::Motion,
            label: None,
            score,
            start_ms,
            end_ms,
            snapshot,
            zones: Vec::new(),
            description: None,
            title: None,
        }
    }
}
