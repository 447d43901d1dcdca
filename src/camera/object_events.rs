//! Turns confirmed tracks into object events: an event starts when the tracker has confirmed an
//! object and it is in a required zone (if the camera requires one); the snapshot of that frame is
//! written first, then the row. While the object is tracked the recorder keeps the frame where it
//! scored best and the zones its bottom centre entered; when it is lost, the best frame replaces the
//! snapshot and the row gets the end, the top score, the box, the zones and the stationary flag.

use super::motion_events::{close_event, save_snapshot};
use crate::annotate::annotate;
use crate::bus::{BusMessage, EventBus, EventSummary};
use crate::camera::settings::{CameraConfig, ZoneConfig};
use crate::db::{Db, EventUpdate, NewEvent};
use crate::detect::tracker::{Track, TrackUpdate, Tracker};
use crate::detect::{RelBox, to_relative};
use crate::media::{Frame, MediaStore};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use tokio_util::task::TaskTracker;

pub struct ObjectEventRecorder {
    camera: String,
    db: Db,
    media: MediaStore,
    bus: EventBus,
    tasks: TaskTracker,
    zones: Vec<ZoneConfig>,
    require_zones: Vec<String>,
    /// Open events by track id.
    active: HashMap<u64, ActiveObject>,
    /// The last snapshot write failure, for the camera's status; cleared on success.
    pub snapshot_error: Option<String>,
}

struct ActiveObject {
    id: i64,
    label: String,
    start_ms: i64,
    best_score: f32,
    /// Relative `[x, y, width, height]` of the box in the best frame.
    best_box: [f32; 4],
    best_frame: Option<Arc<Frame>>,
    snapshot: Option<String>,
    zones: BTreeSet<String>,
    /// The object stood still at some point (a parked car stays marked after it drives off).
    stationary: bool,
    /// `[seconds since the start, score]`, at most one point per second.
    scores: Vec<[f32; 2]>,
}

/// Score history points kept per event (one per second: about an hour).
const MAX_SCORE_POINTS: usize = 3600;

impl ObjectEventRecorder {
    pub fn new(camera: &CameraConfig, db: Db, media: MediaStore, bus: EventBus, tasks: TaskTracker) -> Self {
        Self {
            camera: camera.id.clone(),
            db,
            media,
            bus,
            tasks,
            zones: camera.zones.clone(),
            require_zones: camera.objects.require_zones.clone(),
            active: HashMap::new(),
            snapshot_error: None,
        }
    }

    /// The zones the bottom centre of a pixel box is in.
    fn zones_at(&self, bbox: &[f32; 4], frame: &Frame) -> BTreeSet<String> {
        let foot = [(bbox[0] + bbox[2]) / 2.0 / frame.width as f32, bbox[3] / frame.height as f32];
        self.zones.iter().filter(|z| z.contains(foot)).map(|z| z.name.clone()).collect()
    }

    /// Feeds the result of one tracker pass over `frame`; returns how many events started.
    pub async fn on_pass(
        &mut self,
        frame: &Arc<Frame>,
        tracker: &Tracker,
        update: TrackUpdate,
        labels: &[String],
    ) -> usize {
        let mut started = 0;
        for track in tracker.tracks().iter().filter(|t| t.confirmed && t.misses == 0) {
            let inside = self.zones_at(&track.bbox, frame);
            if let Some(active) = self.active.get_mut(&track.id) {
                active.zones.extend(inside);
                active.stationary |= track.stationary;
                let at = (frame.time_ms - active.start_ms) as f32 / 1000.0;
                let latest = track.scores.back().copied().unwrap_or(0.0);
                if active.scores.last().is_none_or(|p| at - p[0] >= 1.0) && active.scores.len() < MAX_SCORE_POINTS {
                    active.scores.push([at, latest]);
                }
                continue;
            }
            let allowed = self.require_zones.is_empty() || self.require_zones.iter().any(|z| inside.contains(z));
            if allowed && self.start(frame, track, labels, inside).await {
                started += 1;
            }
        }
        for (track_id, active) in self.active.iter_mut() {
            let Some(track) = tracker.get(*track_id) else { continue };
            let latest = track.scores.back().copied().unwrap_or(0.0);
            if latest > active.best_score && track.hits > 0 && track.misses == 0 {
                active.best_score = latest;
                active.best_box = to_relative(&track.bbox, frame.width, frame.height);
                active.best_frame = Some(frame.clone());
            }
        }
        for lost in update.lost {
            self.finish(&lost, frame.time_ms).await;
        }
        started
    }

    /// Writes the clean snapshot and, beside it, the copy with the box and label drawn.
    async fn save_both(&mut self, path: &str, frame: &Frame, bbox: RelBox, label: &str, score: f32) -> bool {
        let saved = save_snapshot(&self.media, path, frame).await;
        let ok = saved.is_ok();
        self.snapshot_error = saved.err();
        if ok {
            let drawn = annotate(frame, &[(bbox, format!("{label} {:.0}%", score * 100.0))]);
            if let Err(err) = save_snapshot(&self.media, &MediaStore::annotated_path(path), &drawn).await {
                self.snapshot_error = Some(err);
            }
        }
        ok
    }

    async fn start(&mut self, frame: &Arc<Frame>, track: &Track, labels: &[String], zones: BTreeSet<String>) -> bool {
        let label = labels.get(track.class).cloned().unwrap_or_else(|| format!("class {}", track.class));
        let path = MediaStore::snapshot_path(&self.camera, frame.time_ms);
        let bbox = to_relative(&track.bbox, frame.width, frame.height);
        let score = track.scores.back().copied().unwrap_or(track.top_score);
        let snapshot = self.save_both(&path, frame, bbox, &label, score).await.then_some(path);
        let new = NewEvent {
            camera_id: self.camera.clone(),
            kind: crate::model::EventKind::Object,
            label: Some(label.clone()),
            score: f64::from(track.top_score),
            bbox,
            boxes: vec![bbox],
            start_ms: frame.time_ms,
            snapshot: snapshot.clone(),
            severity: crate::model::Severity::Low,
            zones: zones.iter().cloned().collect(),
            frame: (frame.width, frame.height),
        };
        let id = match self.db.insert_event(&new).await {
            Ok(id) => id,
            Err(err) => {
                tracing::warn!(error = %err, %label, "cannot store an object event");
                if let Some(path) = &snapshot {
                    for orphan in [path.clone(), MediaStore::annotated_path(path)] {
                        if let Some(file) = self.media.resolve(&orphan) {
                            let _ = std::fs::remove_file(file);
                        }
                    }
                }
                return false;
            }
        };
        tracing::info!(event = id, %label, score = format!("{:.2}", track.top_score), "object event started");
        self.active.insert(
            track.id,
            ActiveObject {
                id,
                label: label.clone(),
                start_ms: frame.time_ms,
                best_score: score,
                best_box: bbox,
                best_frame: None,
                snapshot: snapshot.clone(),
                zones,
                stationary: track.stationary,
                scores: vec![[0.0, score]],
            },
        );
        if let Some(active) = self.active.get(&track.id) {
            self.bus.publish(BusMessage::EventStarted(self.summary(active, None, track.top_score, snapshot)));
        }
        true
    }

    async fn finish(&mut self, track: &Track, end_ms: i64) {
        let Some(active) = self.active.remove(&track.id) else { return };
        let path = active.snapshot.clone().unwrap_or_else(|| MediaStore::snapshot_path(&self.camera, active.start_ms));
        let mut snapshot = active.snapshot.clone();
        if let Some(best) = &active.best_frame
            && self.save_both(&path, best, active.best_box, &active.label, active.best_score).await
        {
            snapshot = Some(path);
        }
        let end_ms = end_ms.max(active.start_ms);
        let update = EventUpdate {
            score: f64::from(track.top_score),
            bbox: active.best_box,
            boxes: vec![active.best_box],
            end_ms: Some(end_ms),
            snapshot: snapshot.clone(),
            stationary: active.stationary || track.stationary,
            zones: Some(active.zones.iter().cloned().collect()),
            score_history: Some(active.scores.clone()),
        };
        close_event(&self.db, &self.tasks, active.id, update);
        tracing::info!(event = active.id, label = %active.label, seconds = (end_ms - active.start_ms) / 1000, "object event ended");
        self.bus.publish(BusMessage::EventEnded(self.summary(&active, Some(end_ms), track.top_score, snapshot)));
    }

    /// Ends every open event (the camera stopped or reconnects).
    pub async fn finish_all(&mut self, tracker: &mut Tracker, end_ms: i64) {
        for track in tracker.clear() {
            self.finish(&track, end_ms).await;
        }
    }

    fn summary(
        &self,
        active: &ActiveObject,
        end_ms: Option<i64>,
        score: f32,
        snapshot: Option<String>,
    ) -> EventSummary {
        EventSummary {
            id: active.id,
            camera: self.camera.clone(),
            kind: crate::model::EventKind::Object,
            label: Some(active.label.clone()),
            score: f64::from(score),
            start_ms: active.start_ms,
            end_ms,
            snapshot,
            zones: active.zones.iter().cloned().collect(),
            description: None,
            title: None,
        }
    }
}
