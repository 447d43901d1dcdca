//! Turns confirmed tracks into object events: an event starts when the tracker has confirmed an
//! object and it is in a required zone (if the camera requires one); the snapshot of that frame is
//! written first, then the row. While the object is tracked the recorder keeps the frame where it
//! scored best and the zones its bottom centre entered; when it is lost, the best frame replaces the
//! snapshot and the row gets the end (the last sighting), the top score, the box, the zones, the
//! voted label and the stationary flag.
//!
//! An object that stands still (a parked car) is *held*: kept in the database with its open
//! event. When the camera or Watchpost stops, held events stay open; when the camera starts again,
//! held objects go back into the tracker, so seeing the car again continues its event (no new
//! event, no second alert) and not finding it ends the event at its last sighting.

use super::motion_events::{close_event, save_snapshot};
use crate::annotate::annotate;
use crate::bus::{BusMessage, EventBus, EventSummary};
use crate::camera::settings::{CameraConfig, ZoneConfig};
use crate::db::{Db, EventUpdate, HeldObject, NewEvent};
use crate::detect::tracker::{Track, TrackUpdate, Tracker};
use crate::detect::{Detection, RelBox, to_relative};
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
    /// Whether the objects held from before have been put back into the tracker.
    restored: bool,
}

/// A held object's row is refreshed this often while it stays, so a crash loses little of its
/// last sighting.
const HOLD_REFRESH_MS: i64 = 60_000;

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
    /// When the object was last written to the held objects (it stands still); `None`: not held.
    held_at_ms: Option<i64>,
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
            restored: false,
        }
    }

    /// Puts the objects held from before (stationary when the camera or Watchpost stopped) back
    /// into `tracker`, with their open events, once per recorder: on the first frame, whose size
    /// turns their stored relative boxes back into pixels.
    pub async fn restore(&mut self, tracker: &mut Tracker, frame: &Frame, labels: &[String]) {
        if std::mem::replace(&mut self.restored, true) {
            return;
        }
        let held = match self.db.held_objects(&self.camera).await {
            Ok(held) => held,
            Err(err) => {
                tracing::warn!(error = %err, "cannot read the stationary objects kept from before");
                return;
            }
        };
        for object in held {
            let event = self.db.get_event(object.event_id).await.ok().flatten().filter(|e| e.end_ms.is_none());
            let (Some(event), Some(class)) = (event, labels.iter().position(|l| *l == object.label)) else {
                // Its event was deleted or ended, or the model changed: nothing to continue.
                let _ = self.db.release_object(object.event_id).await;
                continue;
            };
            let (w, h) = (frame.width as f32, frame.height as f32);
            let [x1, y1, x2, y2] = object.bbox;
            let detection = Detection { class, score: object.score, bbox: [x1 * w, y1 * h, x2 * w, y2 * h] };
            let track_id = tracker.restore(&detection, event.start_ms, object.last_seen_ms);
            let best_box = to_relative(&detection.bbox, frame.width, frame.height);
            tracing::info!(event = event.id, label = %object.label, "stationary object from before: its event continues if it is still there");
            self.active.insert(
                track_id,
                ActiveObject {
                    id: event.id,
                    label: object.label.clone(),
                    start_ms: event.start_ms,
                    best_score: event.score as f32,
                    best_box,
                    best_frame: None,
                    snapshot: event.snapshot.clone(),
                    zones: serde_json::from_str(&event.zones).unwrap_or_default(),
                    stationary: true,
                    scores: event
                        .score_history
                        .as_deref()
                        .and_then(|h| serde_json::from_str(h).ok())
                        .unwrap_or_default(),
                    held_at_ms: Some(object.last_seen_ms),
                },
            );
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
                if let Some(label) = labels.get(track.class) {
                    active.label.clone_from(label);
                }
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
        self.hold_stationary(tracker, frame).await;
        for lost in update.lost {
            self.finish(&lost).await;
        }
        started
    }

    /// Keeps the objects that stand still (and refreshes them now and then), and forgets those
    /// that moved on.
    async fn hold_stationary(&mut self, tracker: &Tracker, frame: &Frame) {
        for (track_id, active) in self.active.iter_mut() {
            let Some(track) = tracker.get(*track_id) else { continue };
            let due = active.held_at_ms.is_none_or(|at| track.last_seen_ms - at >= HOLD_REFRESH_MS);
            if track.stationary && due {
                let object = held_object(&self.camera, active, track, frame.width, frame.height);
                match self.db.hold_object(&object).await {
                    Ok(()) => active.held_at_ms = Some(track.last_seen_ms),
                    Err(err) => tracing::warn!(error = %err, event = active.id, "cannot keep a stationary object"),
                }
            } else if !track.stationary
                && active.held_at_ms.take().is_some()
                && let Err(err) = self.db.release_object(active.id).await
            {
                tracing::warn!(error = %err, event = active.id, "cannot forget a stationary object");
            }
        }
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
                held_at_ms: None,
            },
        );
        if let Some(active) = self.active.get(&track.id) {
            self.bus.publish(BusMessage::EventStarted(self.summary(active, None, track.top_score, snapshot)));
        }
        true
    }

    /// Ends the event of a lost track at the track's last sighting.
    async fn finish(&mut self, track: &Track) {
        let Some(active) = self.active.remove(&track.id) else { return };
        if active.held_at_ms.is_some()
            && let Err(err) = self.db.release_object(active.id).await
        {
            tracing::warn!(error = %err, event = active.id, "cannot forget a stationary object");
        }
        let path = active.snapshot.clone().unwrap_or_else(|| MediaStore::snapshot_path(&self.camera, active.start_ms));
        let mut snapshot = active.snapshot.clone();
        if let Some(best) = &active.best_frame
            && self.save_both(&path, best, active.best_box, &active.label, active.best_score).await
        {
            snapshot = Some(path);
        }
        let end_ms = track.last_seen_ms.max(active.start_ms);
        let update = EventUpdate {
            score: f64::from(track.top_score),
            bbox: active.best_box,
            boxes: vec![active.best_box],
            end_ms: Some(end_ms),
            snapshot: snapshot.clone(),
            stationary: active.stationary || track.stationary,
            zones: Some(active.zones.iter().cloned().collect()),
            score_history: Some(active.scores.clone()),
            label: Some(active.label.clone()),
        };
        close_event(&self.db, &self.tasks, active.id, update);
        tracing::info!(event = active.id, label = %active.label, seconds = (end_ms - active.start_ms) / 1000, "object event ended");
        self.bus.publish(BusMessage::EventEnded(self.summary(&active, Some(end_ms), track.top_score, snapshot)));
    }

    /// Ends every open event (detection was switched off, or the stream stayed away too long),
    /// each at its object's last sighting.
    pub async fn finish_all(&mut self, tracker: &mut Tracker) {
        for track in tracker.clear() {
            self.finish(&track).await;
        }
    }

    /// The camera stops (Watchpost shuts down, or the camera restarts with new settings): the
    /// events of held objects stay open, with their last sighting kept, for the next start to
    /// continue; every other event ends.
    pub async fn stop(&mut self, tracker: &mut Tracker, frame_size: Option<(u32, u32)>) {
        for track in tracker.clear() {
            let held = self.active.get(&track.id).filter(|a| a.held_at_ms.is_some() && track.stationary);
            match (held, frame_size) {
                (Some(active), Some((width, height))) => {
                    let object = held_object(&self.camera, active, &track, width, height);
                    if let Err(err) = self.db.hold_object(&object).await {
                        tracing::warn!(error = %err, event = active.id, "cannot keep a stationary object");
                    }
                    tracing::info!(event = active.id, label = %active.label, "stationary object kept for the next start");
                    self.active.remove(&track.id);
                }
                _ => self.finish(&track).await,
            }
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

/// What is kept of a stationary object: its event, label, score, relative box and last sighting.
fn held_object(camera: &str, active: &ActiveObject, track: &Track, width: u32, height: u32) -> HeldObject {
    let (w, h) = (width as f32, height as f32);
    let [x1, y1, x2, y2] = track.bbox;
    HeldObject {
        event_id: active.id,
        camera_id: camera.to_string(),
        label: active.label.clone(),
        score: track.scores.back().copied().unwrap_or(track.top_score),
        bbox: [x1 / w, y1 / h, x2 / w, y2 / h],
        last_seen_ms: track.last_seen_ms,
    }
}
