//! One camera's object following, frame by frame: where to run the detector (around motion, where
//! moving objects should be by now, the whole frame now and then), which detections the camera
//! wants (its labels and their groups, sizes, masks; strong and weak by score), and the tracker
//! they feed. The pipeline calls it for every frame; `examples/bench_tracking` calls the same
//! code over labelled scenes, so what is measured is what runs.

use super::settings::CameraConfig;
use crate::detect::tracker::{Pass, TrackUpdate, Tracker, TrackerSettings};
use crate::detect::worker::{DetectorWorker, Urgency};
use crate::detect::{Detection, NMS_IOU, Region, RelBox, nms_by, regions, to_relative};
use crate::media::Frame;
use std::sync::Arc;

/// The whole frame is looked at least this often (milliseconds of frame time), even with nothing
/// moving: parked objects are confirmed still there, or found gone. Each camera keeps its own
/// phase within the period (see [`RecheckClock`]), so cameras started together do not all ask at
/// the same instant.
const RECHECK_MS: i64 = 10_000;
/// Detections down to this score are asked for, below the labels' `min_score`: they only keep
/// objects already followed (an occluded walker) alive.
const WEAK_SCORE: f32 = 0.25;

pub struct ObjectFollower {
    tracker: Tracker,
    /// Classes whose detections the camera wants: its tracked labels and their groups.
    looked_for: Vec<usize>,
    /// The least score asked of the model.
    ask_score: f32,
    /// When the whole frame is next due.
    recheck: RecheckClock,
    /// The stream came back and no pass has been made since.
    resumed: bool,
}

impl ObjectFollower {
    /// A follower for `config`'s objects with a model that knows `labels`; labels the model lacks
    /// are reported and left out.
    pub fn new(config: &CameraConfig, labels: &[String]) -> Self {
        let objects = &config.objects;
        let tracked: Vec<usize> = objects
            .track
            .iter()
            .filter_map(|label| {
                let class = labels.iter().position(|l| l == label);
                if class.is_none() {
                    tracing::warn!(%label, "the model has no such label; it is not tracked");
                }
                class
            })
            .collect();
        let settings = TrackerSettings {
            lost_ms: (objects.lost_secs * 1000.0) as i64,
            groups: labels.iter().map(|label| objects.group_of(label)).collect(),
            tracked: tracked.clone(),
            // Frames come from ffmpeg at the detection size.
            frame: Some((config.detect.width as f32, config.detect.height as f32)),
        };
        // Labels in a group with a tracked one are looked for too: they are the same objects.
        let looked_for = (0..labels.len()).filter(|&c| tracked.iter().any(|&t| settings.same_object(c, t))).collect();
        let lowest_min_score = objects.track.iter().map(|l| objects.min_score_for(l)).fold(1.0f32, f32::min);
        Self {
            tracker: Tracker::new(settings),
            looked_for,
            ask_score: lowest_min_score.min(WEAK_SCORE),
            recheck: RecheckClock::new(&config.name),
            resumed: false,
        }
    }

    pub fn tracker(&self) -> &Tracker {
        &self.tracker
    }

    pub fn tracker_mut(&mut self) -> &mut Tracker {
        &mut self.tracker
    }

    /// The stream came back: the next frame is looked at whole, so the objects kept are found,
    /// and the time without pictures does not count as anyone standing still.
    pub fn reconnected(&mut self) {
        self.recheck.look_now();
        self.resumed = true;
    }

    /// Runs the detector where it is worth it on `frame` (`motion`: what moved, relative boxes)
    /// and feeds the tracker. `None` when nothing was looked at (nothing moves, nothing is due) or
    /// the detector dropped or put off a request: nothing was learnt.
    pub async fn look(
        &mut self,
        worker: &DetectorWorker,
        frame: &Arc<Frame>,
        motion: &[RelBox],
        config: &CameraConfig,
    ) -> Option<TrackUpdate> {
        let now = frame.time_ms;
        if std::mem::take(&mut self.resumed) {
            self.tracker.looking_resumed(now);
        }
        let whole = self.recheck.due(now);
        let mut look_at: Vec<RelBox> = motion.to_vec();
        // Where moving objects should be now, and where they were last seen.
        let horizon = self.tracker.settings().lost_ms;
        look_at.extend(self.tracker.tracks().iter().filter(|t| !t.stationary).map(|t| {
            let (p, b) = (t.predicted_at(now, horizon), t.bbox);
            let both = [p[0].min(b[0]), p[1].min(b[1]), p[2].max(b[2]), p[3].max(b[3])];
            clip_relative(to_relative(&both, frame.width, frame.height))
        }));
        let regions = regions::plan(frame.width, frame.height, worker.input_size(), &look_at, whole);
        // Nothing moves and nothing moving is followed: only the routine look, which can wait.
        let urgency = if look_at.is_empty() { Urgency::Recheck } else { Urgency::Moving };
        let found = detect_regions(worker, frame, &regions, self.ask_score, urgency).await?;
        // A full look that was dropped or put off is tried again on the next frame.
        if whole {
            self.recheck.looked(now);
        }
        let labels = worker.labels();
        let objects = &config.objects;
        // One box per object, also across the labels of a group (a van as car and truck).
        let found = nms_by(found, NMS_IOU, |a, b| self.tracker.settings().same_object(a, b));
        let (strong, weak): (Vec<Detection>, Vec<Detection>) = found
            .into_iter()
            .filter(|d| wanted(d, frame, config, &self.looked_for, labels))
            .partition(|d| d.score >= objects.min_score_for(&labels[d.class]));
        let thresholds = |class: usize| objects.threshold_for(&labels[class]);
        let searched: Vec<[f32; 4]> =
            regions.iter().map(|r| [r.x as f32, r.y as f32, (r.x + r.width) as f32, (r.y + r.height) as f32]).collect();
        let pass = Pass { time_ms: now, strong: &strong, weak: &weak, searched: Some(&searched) };
        Some(self.tracker.update(pass, &thresholds))
    }
}

/// When a camera's whole frame is due: on its first frame (and the first after a reconnection),
/// then once in every [`RECHECK_MS`] slot of frame time. The slots are shifted by a phase taken
/// from the camera's name, so many cameras spread their looks over the period instead of asking
/// the shared detector together, and a look put off for a few frames does not shift the next.
struct RecheckClock {
    phase_ms: i64,
    /// Frame time of the last whole look; `None`: the next frame is looked at whole.
    last_ms: Option<i64>,
}

impl RecheckClock {
    fn new(camera: &str) -> Self {
        // FNV-1a: a stable spread of the names, the same on every start.
        let hash =
            camera.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
        Self { phase_ms: (hash % RECHECK_MS as u64) as i64, last_ms: None }
    }

    fn due(&self, now_ms: i64) -> bool {
        let slot = |t: i64| (t + self.phase_ms).div_euclid(RECHECK_MS);
        // A clock set back lands in another slot too: looked at again.
        self.last_ms.is_none_or(|at| slot(at) != slot(now_ms))
    }

    fn looked(&mut self, now_ms: i64) {
        self.last_ms = Some(now_ms);
    }

    fn look_now(&mut self) {
        self.last_ms = None;
    }
}

/// Whether the camera wants a detection: a label it looks for, within the label's size limits, and
/// not standing in an object mask (judged by the box's bottom centre). Scores are judged after:
/// weak detections are wanted too.
fn wanted(
    detection: &Detection,
    frame: &Frame,
    config: &CameraConfig,
    looked_for: &[usize],
    labels: &[String],
) -> bool {
    if !looked_for.contains(&detection.class) {
        return false;
    }
    let label = &labels[detection.class];
    let objects = &config.objects;
    let [x1, y1, x2, y2] = detection.bbox;
    let (w, h) = (frame.width as f32, frame.height as f32);
    let area = (x2 - x1) * (y2 - y1) / (w * h);
    let foot = [(x1 + x2) / 2.0 / w, y2 / h];
    objects.area_allowed(label, area)
        && !objects.mask.iter().any(|polygon| crate::geometry::point_in_polygon(foot, polygon))
}

/// A relative box cut to the frame (a predicted box may run off its edge).
fn clip_relative(b: RelBox) -> RelBox {
    let (x1, y1) = (b[0].clamp(0.0, 1.0), b[1].clamp(0.0, 1.0));
    let (x2, y2) = ((b[0] + b[2]).clamp(0.0, 1.0), (b[1] + b[3]).clamp(0.0, 1.0));
    [x1, y1, x2 - x1, y2 - y1]
}

/// Runs the model on every region and gathers the finds (the caller merges those of overlapping
/// crops). `None` when a request was dropped or put off (a partial look must not count as "not
/// there") or there was nothing to look at.
async fn detect_regions(
    worker: &DetectorWorker,
    frame: &Arc<Frame>,
    regions: &[Region],
    min_score: f32,
    urgency: Urgency,
) -> Option<Vec<Detection>> {
    if regions.is_empty() {
        return None;
    }
    let mut found = Vec::new();
    for region in regions {
        found.extend(worker.detect(frame.clone(), *region, min_score, urgency).await?);
    }
    Some(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_whole_frame_is_looked_at_first_then_once_per_period() {
        let mut clock = RecheckClock::new("porch");
        let start = 1_780_000_000_000;
        assert!(clock.due(start), "the first frame is looked at whole");
        clock.looked(start);
        let mut looks = vec![start];
        // Five minutes of frames at 5 fps.
        for now in (start..start + 300_000).step_by(200) {
            if clock.due(now) {
                clock.looked(now);
                looks.push(now);
            }
        }
        assert!(looks.windows(2).all(|w| w[1] - w[0] <= RECHECK_MS), "never longer than the period: {looks:?}");
        assert!(looks.windows(2).skip(1).all(|w| w[1] - w[0] >= RECHECK_MS - 200), "and not more often: {looks:?}");
        assert_eq!(looks.len(), 31, "the first look and one in each of the 30 periods");

        clock.look_now();
        assert!(clock.due(looks[looks.len() - 1] + 200), "after a reconnection the next frame is looked at whole");
        clock.looked(start + 400_000);
        assert!(clock.due(start + 100_000), "a clock set back is looked at again");
    }

    #[test]
    fn a_put_off_look_does_not_shift_the_next() {
        let mut clock = RecheckClock::new("drive");
        let start = 1_780_000_000_000;
        clock.looked(start);
        let first_due = (start..).step_by(200).find(|&t| clock.due(t)).unwrap();
        // Put off for a second (the detector was busy), then done.
        clock.looked(first_due + 1_000);
        let next_due = (first_due + 1_000..).step_by(200).find(|&t| clock.due(t)).unwrap();
        assert_eq!(next_due - first_due, RECHECK_MS);
    }

    #[test]
    fn cameras_started_together_spread_their_looks_over_the_period() {
        let phases: Vec<i64> = (0..24).map(|n| RecheckClock::new(&format!("camera {n}")).phase_ms).collect();
        // The detector's queue holds 8: no second of the period gets that many looks.
        let busiest_second = (0..RECHECK_MS)
            .step_by(100)
            .map(|from| phases.iter().filter(|&&p| ((p - from).rem_euclid(RECHECK_MS)) < 1_000).count())
            .max()
            .unwrap();
        assert!(busiest_second < 8, "{busiest_second} of 24 looks fall in one second: {phases:?}");
        assert_ne!(RecheckClock::new("porch").phase_ms, RecheckClock::new("drive").phase_ms);
        assert_eq!(RecheckClock::new("porch").phase_ms, RecheckClock::new("porch").phase_ms, "the same on every start");
    }
}
