//! Follows objects from one detection pass to the next, so that one person walking through a
//! crowd is one object (and later one event), and a car parked all night stays one object.
//!
//! Each track carries a Kalman filter over its box (centre, width and height, each with its
//! speed; constant velocity, time steps in real seconds), so a walker hidden for a moment is
//! looked for where they should be by now. Association follows ByteTrack: strong detections
//! (above their label's `min_score`) are matched first to every track by overlap with the
//! predicted box (or the last one, for objects that stop); weak detections then only keep
//! already-followed tracks alive (an occluded or briefly blurred person); a track unseen for a
//! while is matched again by predicted position and size. Labels the model confuses (a van seen
//! as `car` then `truck`) are one object: association works across a label group and the track's
//! label is the score-weighted vote of its detections.
//!
//! A track is *confirmed* once it has been seen [`CONFIRM_HITS`] times strongly and the median of
//! its recent scores reaches the label's threshold (Frigate's rule). It is *lost* once it has been
//! looked for and missed for `lost_ms` (and at least twice): an event ends only then. A track whose
//! centre stays within a small radius for [`STATIONARY_MS`] becomes *stationary*; it keeps its id
//! (and its event), is lost only after [`STATIONARY_LOST_MS`] (a parked car hidden by passers-by
//! is not gone) and moves on from there when it moves again. A track confirmed just after another
//! was lost from sight, where that one should be and moving its way, is that object again; one
//! whose predicted centre has left the frame is gone. Time spent not looking (a stream that
//! reconnects) does not count against a track, nor towards its standing still: a person seen at a
//! spot before the picture went and there again after it may have left and come back.

use super::{Detection, iou};
use std::collections::VecDeque;

/// Strong sightings a track needs before it can be confirmed.
pub const CONFIRM_HITS: u32 = 3;
/// How long a track's centre must stay still (within a tenth of its size) to be stationary.
pub const STATIONARY_MS: i64 = 10_000;
/// A stationary object is lost only once unseen (while looked for) this long, or `lost_ms` if
/// longer: a parked car hidden by people walking past is not gone. Its event still ends at its
/// last sighting.
pub const STATIONARY_LOST_MS: i64 = 30_000;
/// A detection smaller than this share of a stationary object's box at rest, inside it, is the
/// object seen in part (hidden behind someone): it keeps the object alive but does not move it.
const PART_OF_STATIONARY: f32 = 0.85;
/// Sightings in a row away from its place after which a stationary object moves on.
const RESTLESS_SIGHTINGS: u32 = 3;
/// Sightings while still needed as well, so one detection after a long gap is not "still".
const STATIONARY_HITS: u32 = 3;
/// Passes that must miss a track before it can be lost (a tentative one goes after this many).
const MIN_MISSES: u32 = 2;
/// Recent scores kept for the median.
const SCORE_HISTORY: usize = 10;
/// Least overlap between a track's (predicted or last) box and a strong detection.
const MATCH_IOU: f32 = 0.3;
/// Least overlap for a weak detection: it only keeps a track alive, so it must sit where it is.
const WEAK_MATCH_IOU: f32 = 0.5;
/// Squared Mahalanobis distance of the centre within which a track unseen for a while may be
/// picked up again although the boxes do not overlap (χ² with 2 degrees of freedom, 95 %).
const REACQUIRE_GATE: f32 = 5.99;
/// Squared Mahalanobis distance of the centre beyond which even an overlapping box is not the
/// track's (χ² with 2 degrees of freedom, 99.9 %): a walker leaving at the edge where another comes
/// in a little higher up is not followed onto the newcomer.
const MATCH_GATE: f32 = 13.8;
/// For that gate, a detection's centre may wander this fraction of the box's width and height
/// (half an occluded person is found around the half that shows).
const GATE_STD: f32 = 0.1;
/// A reacquired box may differ in width and height from the prediction by at most this factor.
const REACQUIRE_SIZE_RATIO: f32 = 1.5;
/// A lost track and a new one are joined when the new one is within this many box heights of
/// where the lost one should be.
const REJOIN_DISTANCE: f32 = 0.5;
/// Below this speed (box heights per second) an object's direction means nothing.
const REJOIN_STILL_SPEED: f32 = 0.2;
/// Measurement noise: the detector's box edges wobble by about this fraction of the box height.
const MEASUREMENT_STD: f32 = 0.05;
/// Process noise: how fast an object may change speed, in box heights per second squared.
const ACCELERATION_STD: f32 = 1.0;
/// Uncertainty of the speed of a new track, in box heights per second.
const INITIAL_SPEED_STD: f32 = 2.0;

/// One coordinate of a box (centre x, centre y, width or height) with its speed: a constant
/// velocity Kalman filter. The four coordinates move independently, so four 2×2 filters are
/// exactly the 8-dimensional filter with a block-diagonal covariance.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Axis {
    value: f32,
    speed: f32,
    /// Covariance of (value, speed).
    p: [[f32; 2]; 2],
}

impl Axis {
    fn new(value: f32, value_std: f32, speed_std: f32) -> Self {
        Self { value, speed: 0.0, p: [[value_std * value_std, 0.0], [0.0, speed_std * speed_std]] }
    }

    /// Moves on by `dt` seconds; `accel_std` is the process noise (white acceleration).
    fn predict(&mut self, dt: f32, accel_std: f32) {
        self.value += self.speed * dt;
        let [[a, b], [_, d]] = self.p;
        let q = accel_std * accel_std;
        let (dt2, dt3, dt4) = (dt * dt, dt * dt * dt, dt * dt * dt * dt);
        let (p00, p01, p11) = (a + 2.0 * dt * b + dt2 * d + q * dt4 / 4.0, b + dt * d + q * dt3 / 2.0, d + q * dt2);
        self.p = [[p00, p01], [p01, p11]];
    }

    /// Takes in a measured value with noise `measure_std`.
    fn correct(&mut self, measured: f32, measure_std: f32) {
        let [[a, b], [_, d]] = self.p;
        let innovation_var = a + measure_std * measure_std;
        let (k0, k1) = (a / innovation_var, b / innovation_var);
        let residual = measured - self.value;
        self.value += k0 * residual;
        self.speed += k1 * residual;
        let (p00, p01, p11) = ((1.0 - k0) * a, (1.0 - k0) * b, d - k1 * b);
        self.p = [[p00, p01], [p01, p11]];
    }
}

/// A box's motion model: centre x, centre y, width, height.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Motion {
    axes: [Axis; 4],
    /// When the state is for (milliseconds).
    at_ms: i64,
}

impl Motion {
    fn new(bbox: &[f32; 4], at_ms: i64) -> Self {
        let [cx, cy, w, h] = centre_size(bbox);
        let (value_std, speed_std) = (2.0 * MEASUREMENT_STD * h, INITIAL_SPEED_STD * h);
        Self { axes: [cx, cy, w, h].map(|v| Axis::new(v, value_std, speed_std)), at_ms }
    }

    fn height(&self) -> f32 {
        self.axes[3].value.max(1.0)
    }

    /// Moves the state to `now_ms`, extrapolating at most `horizon_ms` (an object unseen for long
    /// is not assumed to have walked on at the same pace).
    fn predict(&mut self, now_ms: i64, horizon_ms: i64) {
        let dt = ((now_ms - self.at_ms).clamp(0, horizon_ms.max(0))) as f32 / 1000.0;
        let accel = ACCELERATION_STD * self.height();
        for axis in &mut self.axes {
            axis.predict(dt, accel);
        }
        self.at_ms = self.at_ms.max(now_ms);
    }

    fn correct(&mut self, bbox: &[f32; 4]) {
        let noise = MEASUREMENT_STD * self.height();
        for (axis, measured) in self.axes.iter_mut().zip(centre_size(bbox)) {
            axis.correct(measured, noise);
        }
        // A box never shrinks to nothing, whatever the speeds say.
        self.axes[2].value = self.axes[2].value.max(1.0);
        self.axes[3].value = self.axes[3].value.max(1.0);
    }

    fn bbox(&self) -> [f32; 4] {
        let [cx, cy, w, h] = self.axes.map(|a| a.value);
        [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0]
    }

    fn stop(&mut self) {
        for axis in &mut self.axes {
            axis.speed = 0.0;
        }
    }

    /// Keeps the size as it is: a box that grew while its object came into view, or shrank while
    /// it went behind another, says nothing of its size while unseen.
    fn hold_size(&mut self) {
        self.axes[2].speed = 0.0;
        self.axes[3].speed = 0.0;
    }

    /// Squared Mahalanobis distance of a box's centre from the predicted centre, the box's centre
    /// wandering by `noise_std` of the box's width (across) and height (up and down).
    fn centre_distance(&self, bbox: &[f32; 4], noise_std: f32) -> f32 {
        let [cx, cy, _, _] = centre_size(bbox);
        let across = (noise_std * self.axes[2].value.max(1.0)).powi(2);
        let up = (noise_std * self.height()).powi(2);
        let dx = cx - self.axes[0].value;
        let dy = cy - self.axes[1].value;
        dx * dx / (self.axes[0].p[0][0] + across) + dy * dy / (self.axes[1].p[0][0] + up)
    }
}

/// How far a box's centre may wander and the object still stand still: a tenth of the box's
/// smaller side, at least 3 px.
fn still_radius(width: f32, height: f32) -> f32 {
    (width.min(height) * 0.1).max(3.0)
}

fn area(b: &[f32; 4]) -> f32 {
    (b[2] - b[0]).max(0.0) * (b[3] - b[1]).max(0.0)
}

/// The share of box `b` that lies inside box `of`.
fn inside(b: &[f32; 4], of: &[f32; 4]) -> f32 {
    area(&[b[0].max(of[0]), b[1].max(of[1]), b[2].min(of[2]), b[3].min(of[3])]) / area(b).max(1.0)
}

fn centre_size(bbox: &[f32; 4]) -> [f32; 4] {
    [(bbox[0] + bbox[2]) / 2.0, (bbox[1] + bbox[3]) / 2.0, bbox[2] - bbox[0], bbox[3] - bbox[1]]
}

/// One followed object.
#[derive(Debug, Clone, PartialEq)]
pub struct Track {
    pub id: u64,
    /// The label, by the score-weighted vote of the track's detections.
    pub class: usize,
    /// `[x1, y1, x2, y2]` in frame pixels, as last seen.
    pub bbox: [f32; 4],
    motion: Motion,
    /// Summed scores per class, for the label vote.
    votes: Vec<(usize, f32)>,
    pub scores: VecDeque<f32>,
    pub top_score: f32,
    /// Strong sightings.
    pub hits: u32,
    /// Passes that looked for it and missed it since it was last seen.
    pub misses: u32,
    pub confirmed: bool,
    pub stationary: bool,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    /// When the first of the current misses was.
    missed_since_ms: Option<i64>,
    /// Where the centre was when it last moved, since when it has stayed near it, and how often
    /// it was seen there.
    anchor: [f32; 2],
    still_since_ms: i64,
    still_hits: u32,
    /// The whole box of a stationary object, as it was when it came to rest.
    rest_box: Option<[f32; 4]>,
    /// Sightings in a row of a stationary object away from its place.
    restless: u32,
    /// The box of the last detection taken for it (a stationary object's `bbox` stays at rest).
    last_sighting: [f32; 4],
}

impl Track {
    fn new(id: u64, detection: &Detection, now_ms: i64) -> Self {
        let [cx, cy, _, _] = centre_size(&detection.bbox);
        Self {
            id,
            class: detection.class,
            bbox: detection.bbox,
            motion: Motion::new(&detection.bbox, now_ms),
            votes: vec![(detection.class, detection.score)],
            scores: VecDeque::from([detection.score]),
            top_score: detection.score,
            hits: 1,
            misses: 0,
            confirmed: false,
            stationary: false,
            first_seen_ms: now_ms,
            last_seen_ms: now_ms,
            missed_since_ms: None,
            anchor: [cx, cy],
            still_since_ms: now_ms,
            still_hits: 0,
            rest_box: None,
            restless: 0,
            last_sighting: detection.bbox,
        }
    }

    /// Where the object should be at `time_ms` (a coming frame), `[x1, y1, x2, y2]`, extrapolating
    /// at most `horizon_ms` past its state.
    pub fn predicted_at(&self, time_ms: i64, horizon_ms: i64) -> [f32; 4] {
        let mut ahead = self.motion;
        ahead.predict(time_ms, horizon_ms);
        ahead.bbox()
    }

    /// Where the model thinks the object is as of the last pass.
    fn estimate(&self) -> [f32; 4] {
        self.motion.bbox()
    }

    pub fn median_score(&self) -> f32 {
        let mut sorted: Vec<f32> = self.scores.iter().copied().collect();
        sorted.sort_by(f32::total_cmp);
        sorted.get(sorted.len() / 2).copied().unwrap_or(0.0)
    }

    /// Takes in a sighting at `now_ms`; a `strong` one also counts towards confirmation and the
    /// label vote.
    fn seen(&mut self, detection: &Detection, strong: bool, now_ms: i64) {
        self.last_seen_ms = now_ms;
        self.last_sighting = detection.bbox;
        self.misses = 0;
        self.missed_since_ms = None;
        if strong {
            self.scores.push_back(detection.score);
            if self.scores.len() > SCORE_HISTORY {
                self.scores.pop_front();
            }
            self.top_score = self.top_score.max(detection.score);
            self.hits += 1;
            match self.votes.iter_mut().find(|(class, _)| *class == detection.class) {
                Some((_, sum)) => *sum += detection.score,
                None => self.votes.push((detection.class, detection.score)),
            }
        }
        let [cx, cy, w, h] = centre_size(&detection.bbox);
        if let Some(rest) = self.rest_box {
            // A stationary object seen only in part (someone walks in front of the parked car),
            // or in one box with whoever walks past, is still there, where it was: that box does
            // not move it. Nor do a few odd boxes: it moves on only when seen away from its
            // place several times in a row.
            let part = area(&detection.bbox) < PART_OF_STATIONARY * area(&rest) && inside(&detection.bbox, &rest) > 0.8;
            let merged =
                area(&detection.bbox) * PART_OF_STATIONARY > area(&rest) && inside(&rest, &detection.bbox) > 0.8;
            let [rx, ry, rw, rh] = centre_size(&rest);
            let away = (cx - rx).hypot(cy - ry) > still_radius(w.min(rw), h.min(rh));
            self.restless = if away && !part && !merged { self.restless + 1 } else { 0 };
            if part || merged || (away && self.restless < RESTLESS_SIGHTINGS) {
                self.bbox = rest;
                return;
            }
            self.motion.correct(&detection.bbox);
            self.bbox = detection.bbox;
            if !away {
                // Its own box again, give or take the detector's wobble: still at rest.
                self.motion.stop();
                return;
            }
            // On the move again: its motion is learnt afresh from here.
            self.motion = Motion::new(&detection.bbox, now_ms);
            self.stationary = false;
            self.rest_box = None;
            self.restless = 0;
            self.anchor = [cx, cy];
            self.still_since_ms = now_ms;
            self.still_hits = 0;
            return;
        }
        self.motion.correct(&detection.bbox);
        self.bbox = detection.bbox;
        if (cx - self.anchor[0]).hypot(cy - self.anchor[1]) > still_radius(w, h) {
            self.anchor = [cx, cy];
            self.still_since_ms = now_ms;
            self.still_hits = 0;
        } else {
            self.still_hits += 1;
            if self.still_hits >= STATIONARY_HITS && now_ms - self.still_since_ms >= STATIONARY_MS {
                self.stationary = true;
                self.rest_box = Some(self.bbox);
                self.motion.stop();
            }
        }
    }
}

/// The per-label bar a track must clear.
pub trait Thresholds {
    /// Median score a track of `class` needs to be confirmed.
    fn threshold(&self, class: usize) -> f32;
}

impl<F: Fn(usize) -> f32> Thresholds for F {
    fn threshold(&self, class: usize) -> f32 {
        self(class)
    }
}

/// How a camera's tracker behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackerSettings {
    /// How long a followed object may go unseen (while looked for) before it is lost.
    pub lost_ms: i64,
    /// The label group of each class (`None`: alone): classes in one group are one object.
    pub groups: Vec<Option<usize>>,
    /// The classes the camera tracks (empty: all). The label vote prefers them over the other
    /// labels of their group, which are only looked for: a camera tracking `car` calls a van
    /// seen now and then as `truck` a car.
    pub tracked: Vec<usize>,
    /// The frame's width and height in pixels, when known: an object whose predicted centre has
    /// left the picture is gone (it is not followed onto someone coming in where it went out).
    pub frame: Option<(f32, f32)>,
}

impl Default for TrackerSettings {
    fn default() -> Self {
        Self { lost_ms: 3_000, groups: Vec::new(), tracked: Vec::new(), frame: None }
    }
}

impl TrackerSettings {
    /// Whether a box's centre lies outside the frame.
    fn outside(&self, bbox: &[f32; 4]) -> bool {
        let [x, y, _, _] = centre_size(bbox);
        self.frame.is_some_and(|(w, h)| x < 0.0 || y < 0.0 || x > w || y > h)
    }

    /// The label of a track from its summed scores per class: the best tracked class, or the best
    /// class when none of them is tracked.
    fn vote(&self, votes: &[(usize, f32)], current: usize) -> usize {
        let best = |tracked_only: bool| {
            votes
                .iter()
                .filter(|(class, _)| !tracked_only || self.tracked.contains(class))
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .map(|v| v.0)
        };
        best(!self.tracked.is_empty()).or_else(|| best(false)).unwrap_or(current)
    }

    /// Whether detections of `a` and `b` may be the same object.
    pub fn same_object(&self, a: usize, b: usize) -> bool {
        a == b || matches!((self.groups.get(a), self.groups.get(b)), (Some(Some(x)), Some(Some(y))) if x == y)
    }
}

/// One detection pass.
#[derive(Debug, Clone, Copy)]
pub struct Pass<'a> {
    /// When the frame was taken (milliseconds).
    pub time_ms: i64,
    /// Detections that passed their label's `min_score`: they start, confirm and move tracks.
    pub strong: &'a [Detection],
    /// Weaker detections: they only keep followed tracks alive (ByteTrack's second round).
    pub weak: &'a [Detection],
    /// Pixel `[x1, y1, x2, y2]` areas the detector looked at; `None` = the whole frame. Only
    /// tracks whose centre lies in a searched area can miss: a parked car outside the crops looked
    /// at this time is not forgotten.
    pub searched: Option<&'a [[f32; 4]]>,
}

#[derive(Debug, Default)]
pub struct Tracker {
    settings: TrackerSettings,
    tracks: Vec<Track>,
    next_id: u64,
}

/// What one pass changed.
#[derive(Debug, Default, PartialEq)]
pub struct TrackUpdate {
    /// Tracks confirmed in this pass.
    pub confirmed: Vec<u64>,
    /// Confirmed tracks that were lost in this pass, as they were last.
    pub lost: Vec<Track>,
}

impl Tracker {
    pub fn new(settings: TrackerSettings) -> Self {
        Self { settings, tracks: Vec::new(), next_id: 0 }
    }

    pub fn tracks(&self) -> &[Track] {
        &self.tracks
    }

    pub fn settings(&self) -> &TrackerSettings {
        &self.settings
    }

    pub fn get(&self, id: u64) -> Option<&Track> {
        self.tracks.iter().find(|t| t.id == id)
    }

    /// How well `detection` fits `track` (higher is better), or `None` when it cannot be it.
    fn fit(&self, track: &Track, detection: &Detection, least_iou: f32) -> Option<f32> {
        if !self.settings.same_object(track.class, detection.class) {
            return None;
        }
        let predicted = track.estimate();
        if self.settings.outside(&predicted) {
            return None;
        }
        let mut overlap = iou(&predicted, &detection.bbox);
        // Seen last time: also try the last box, a stopping object is better matched where it
        // was. Not once unseen: another object coming in where it went out is not it.
        if track.misses == 0 {
            overlap = overlap.max(iou(&track.bbox, &detection.bbox)).max(iou(&track.last_sighting, &detection.bbox));
        }
        if overlap >= least_iou {
            // (A stationary object has no motion to judge by; it moves off by overlapping steps.)
            let plausible = track.stationary || track.motion.centre_distance(&detection.bbox, GATE_STD) < MATCH_GATE;
            return plausible.then_some(overlap);
        }
        // Unseen for a while: near where it should be (within the uncertainty of the motion
        // model, and within its own width) and of about its size is enough.
        if track.misses > 0 && least_iou <= MATCH_IOU {
            let distance = track.motion.centre_distance(&detection.bbox, MEASUREMENT_STD);
            let [px, py, pw, ph] = centre_size(&predicted);
            let [x, y, w, h] = centre_size(&detection.bbox);
            let ratio = |a: f32, b: f32| a.max(b) / a.min(b).max(1.0);
            if distance < REACQUIRE_GATE
                && (px - x).hypot(py - y) <= pw
                && ratio(pw, w) <= REACQUIRE_SIZE_RATIO
                && ratio(ph, h) <= REACQUIRE_SIZE_RATIO
            {
                // Below any overlap match, nearer is better.
                return Some(0.1 * (1.0 - distance / REACQUIRE_GATE));
            }
        }
        None
    }

    /// Greedy best-first assignment between `tracks` (indices) and `detections` (indices).
    fn assign(
        &self,
        tracks: &[usize],
        detections: &[Detection],
        free: &[usize],
        least_iou: f32,
    ) -> Vec<(usize, usize)> {
        let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
        for &t in tracks {
            for &d in free {
                if let Some(fit) = self.fit(&self.tracks[t], &detections[d], least_iou) {
                    pairs.push((fit, t, d));
                }
            }
        }
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
        let (mut used_tracks, mut used_detections) = (Vec::new(), Vec::new());
        let mut matched = Vec::new();
        for (_, t, d) in pairs {
            if used_tracks.contains(&t) || used_detections.contains(&d) {
                continue;
            }
            used_tracks.push(t);
            used_detections.push(d);
            matched.push((t, d));
        }
        matched
    }

    /// Feeds one detection pass.
    pub fn update(&mut self, pass: Pass<'_>, thresholds: &impl Thresholds) -> TrackUpdate {
        let now = pass.time_ms;
        let horizon = self.settings.lost_ms;
        for track in &mut self.tracks {
            if track.stationary {
                // Standing still: no speed, and no growing doubt about where it is.
                track.motion.at_ms = track.motion.at_ms.max(now);
            } else {
                track.motion.predict(now, horizon);
            }
        }
        // Round one: strong detections against every track, best fits first.
        let every_track: Vec<usize> = (0..self.tracks.len()).collect();
        let all_strong: Vec<usize> = (0..pass.strong.len()).collect();
        let first = self.assign(&every_track, pass.strong, &all_strong, MATCH_IOU);
        let mut track_matched = vec![false; self.tracks.len()];
        let mut strong_used = vec![false; pass.strong.len()];
        for &(t, d) in &first {
            track_matched[t] = true;
            strong_used[d] = true;
            let track = &mut self.tracks[t];
            track.seen(&pass.strong[d], true, now);
            track.class = self.settings.vote(&track.votes, track.class);
        }
        // Round two: weak detections keep followed (confirmed, not yet lost) tracks alive.
        let followed: Vec<usize> =
            (0..self.tracks.len()).filter(|&t| !track_matched[t] && self.tracks[t].confirmed).collect();
        let all_weak: Vec<usize> = (0..pass.weak.len()).collect();
        for (t, d) in self.assign(&followed, pass.weak, &all_weak, WEAK_MATCH_IOU) {
            track_matched[t] = true;
            self.tracks[t].seen(&pass.weak[d], false, now);
        }
        let mut update = TrackUpdate::default();
        for &(t, _) in &first {
            let track = &mut self.tracks[t];
            if !track.confirmed
                && track.hits >= CONFIRM_HITS
                && track.median_score() >= thresholds.threshold(track.class)
            {
                track.confirmed = true;
                update.confirmed.push(track.id);
            }
        }
        for (t, track) in self.tracks.iter_mut().enumerate() {
            if track_matched[t] {
                continue;
            }
            let [cx, cy, _, _] = centre_size(&track.bbox);
            let looked_at = pass
                .searched
                .is_none_or(|areas| areas.iter().any(|a| (a[0]..=a[2]).contains(&cx) && (a[1]..=a[3]).contains(&cy)));
            if looked_at {
                track.misses += 1;
                track.missed_since_ms.get_or_insert(now);
                track.motion.hold_size();
            }
        }
        let lost_ms = self.settings.lost_ms;
        let (kept, lost): (Vec<Track>, Vec<Track>) = std::mem::take(&mut self.tracks).into_iter().partition(|t| {
            if t.confirmed && t.misses > 0 && self.settings.outside(&t.estimate()) {
                // Walked out of the picture.
                false
            } else if t.confirmed {
                // Something standing still does not go in a moment: it is more likely hidden
                // behind someone walking past.
                let lost_after = if t.stationary { lost_ms.max(STATIONARY_LOST_MS) } else { lost_ms };
                t.misses < MIN_MISSES || t.missed_since_ms.is_none_or(|since| now - since < lost_after)
            } else {
                t.misses < MIN_MISSES
            }
        });
        self.tracks = kept;
        update.lost = lost.into_iter().filter(|t| t.confirmed).collect();
        update.confirmed.retain(|&id| !self.rejoin(id));
        for (d, detection) in pass.strong.iter().enumerate() {
            if !strong_used[d] && !self.fragment_of_stationary(detection) {
                self.next_id += 1;
                let mut track = Track::new(self.next_id, detection, now);
                track.class = self.settings.vote(&track.votes, track.class);
                self.tracks.push(track);
            }
        }
        update
    }

    /// Whether a detection lies within the resting place of a stationary object of its label
    /// group: a piece of it seen around someone in front, not a new object.
    fn fragment_of_stationary(&self, detection: &Detection) -> bool {
        self.tracks.iter().any(|t| {
            t.rest_box.is_some_and(|rest| {
                self.settings.same_object(t.class, detection.class) && inside(&detection.bbox, &rest) > 0.8
            })
        })
    }

    /// A track just confirmed that is an object followed before, lost from sight a moment ago
    /// (the detector missed it for a few passes behind another walker), joins that object: the old
    /// track takes over the new one's sightings and keeps its id (and its event). The old track
    /// must have been unseen since before the new one began, be predicted near it, of about its
    /// height, and move the same way. Returns whether `id` joined another track.
    fn rejoin(&mut self, id: u64) -> bool {
        let Some(new_index) = self.tracks.iter().position(|t| t.id == id) else { return false };
        let newer = &self.tracks[new_index];
        let [x, y, _, h] = centre_size(&newer.bbox);
        let [vx, vy] = [newer.motion.axes[0].speed, newer.motion.axes[1].speed];
        let candidate = self
            .tracks
            .iter()
            .enumerate()
            .filter(|(_, old)| {
                old.confirmed
                    && old.misses > 0
                    && old.last_seen_ms <= newer.first_seen_ms
                    && self.settings.same_object(old.class, newer.class)
            })
            .filter_map(|(index, old)| {
                let [ox, oy, _, oh] = centre_size(&old.estimate());
                let distance = (ox - x).hypot(oy - y);
                let [ovx, ovy] = [old.motion.axes[0].speed, old.motion.axes[1].speed];
                let moving = |a: f32, b: f32| a.hypot(b) > REJOIN_STILL_SPEED * h;
                let same_way = !moving(vx, vy) || !moving(ovx, ovy) || vx * ovx + vy * ovy > 0.0;
                let similar = oh.max(h) / oh.min(h).max(1.0) <= REACQUIRE_SIZE_RATIO;
                (distance <= oh.max(h) * REJOIN_DISTANCE && similar && same_way).then_some((distance, index))
            })
            .min_by(|a, b| a.0.total_cmp(&b.0));
        let Some((_, old_index)) = candidate else { return false };
        let newer = self.tracks.remove(new_index);
        let old_index = if old_index > new_index { old_index - 1 } else { old_index };
        let old = &mut self.tracks[old_index];
        old.bbox = newer.bbox;
        old.motion = newer.motion;
        old.scores.extend(newer.scores);
        while old.scores.len() > SCORE_HISTORY {
            old.scores.pop_front();
        }
        old.top_score = old.top_score.max(newer.top_score);
        old.hits += newer.hits;
        old.misses = 0;
        old.missed_since_ms = None;
        old.last_seen_ms = newer.last_seen_ms;
        old.anchor = newer.anchor;
        old.still_since_ms = newer.still_since_ms;
        old.still_hits = newer.still_hits;
        old.stationary = newer.stationary;
        old.rest_box = newer.rest_box;
        old.last_sighting = newer.last_sighting;
        for (class, score) in newer.votes {
            match old.votes.iter_mut().find(|(c, _)| *c == class) {
                Some((_, sum)) => *sum += score,
                None => old.votes.push((class, score)),
            }
        }
        old.class = self.settings.vote(&old.votes, old.class);
        true
    }

    /// Takes back an object remembered from before (a stationary object stored when Watchpost or
    /// the camera stopped): confirmed and stationary, seen last at `last_seen_ms`. Returns its id.
    pub fn restore(&mut self, detection: &Detection, first_seen_ms: i64, last_seen_ms: i64) -> u64 {
        self.next_id += 1;
        let mut track = Track::new(self.next_id, detection, last_seen_ms);
        track.first_seen_ms = first_seen_ms;
        track.hits = CONFIRM_HITS;
        track.confirmed = true;
        track.stationary = true;
        track.still_since_ms = first_seen_ms;
        track.still_hits = STATIONARY_HITS;
        track.rest_box = Some(detection.bbox);
        self.tracks.push(track);
        self.next_id
    }

    /// The picture went and came back (`now_ms`: the first pass since): what moved cannot have
    /// been seen standing still meanwhile, so a moving track's time at rest starts again.
    pub fn looking_resumed(&mut self, now_ms: i64) {
        for track in self.tracks.iter_mut().filter(|t| !t.stationary) {
            track.still_since_ms = now_ms;
            track.still_hits = 0;
        }
    }

    /// Ends every track (the camera stopped); returns the confirmed ones.
    pub fn clear(&mut self) -> Vec<Track> {
        std::mem::take(&mut self.tracks).into_iter().filter(|t| t.confirmed).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PERSON: usize = 0;
    const CAR: usize = 2;
    const TRUCK: usize = 7;
    /// Five passes a second.
    const STEP_MS: i64 = 200;

    fn det(class: usize, score: f32, x: f32, y: f32) -> Detection {
        Detection { class, score, bbox: [x, y, x + 40.0, y + 100.0] }
    }

    fn bar(_: usize) -> f32 {
        0.7
    }

    fn at(pass: i64) -> i64 {
        1_000_000 + pass * STEP_MS
    }

    /// Feeds strong detections over the whole frame at pass number `pass`.
    fn feed(tracker: &mut Tracker, pass: i64, strong: &[Detection]) -> TrackUpdate {
        tracker.update(Pass { time_ms: at(pass), strong, weak: &[], searched: None }, &bar)
    }

    #[test]
    fn a_walking_person_is_one_confirmed_track() {
        let mut tracker = Tracker::default();
        let mut confirmed = Vec::new();
        for step in 0..20 {
            let update = feed(&mut tracker, step, &[det(PERSON, 0.8, 10.0 + step as f32 * 8.0, 50.0)]);
            confirmed.extend(update.confirmed);
            assert!(update.lost.is_empty());
        }
        assert_eq!(confirmed, vec![1], "confirmed once, on the third pass");
        assert_eq!(tracker.tracks().len(), 1);
        assert!(!tracker.tracks()[0].stationary, "a walking person is not stationary");
        // The filter has learnt the pace: the prediction is ahead of the last box, where the next one will be.
        let track = &tracker.tracks()[0];
        let ahead = track.predicted_at(at(20), 3_000);
        assert!((ahead[0] - (track.bbox[0] + 8.0)).abs() < 2.0, "{ahead:?} vs {:?}", track.bbox);
        // Gone: lost once unseen for lost_ms (3 s at 5 passes a second), reported once, with the
        // time of the last sighting.
        let mut lost = Vec::new();
        let mut passes = 0;
        for step in 20..60 {
            passes += 1;
            lost.extend(feed(&mut tracker, step, &[]).lost);
            if !lost.is_empty() {
                break;
            }
        }
        assert_eq!(lost.iter().map(|t| t.id).collect::<Vec<_>>(), vec![1]);
        assert_eq!(passes, 16, "lost on the pass 3 s after the first miss");
        assert_eq!(lost[0].last_seen_ms, at(19));
        assert!(tracker.tracks().is_empty());
    }

    #[test]
    fn low_median_scores_are_never_confirmed() {
        let mut tracker = Tracker::default();
        for (pass, score) in [0.9, 0.5, 0.55, 0.6, 0.5].into_iter().enumerate() {
            assert!(feed(&mut tracker, pass as i64, &[det(PERSON, score, 10.0, 10.0)]).confirmed.is_empty());
        }
        assert!(!tracker.tracks()[0].confirmed, "one good score among poor ones is not enough");
    }

    #[test]
    fn crossing_objects_keep_their_ids() {
        let mut tracker = Tracker::default();
        // Two people walk towards each other along nearly the same line and pass.
        for step in 0..16 {
            let x = step as f32 * 12.0;
            feed(&mut tracker, step, &[det(PERSON, 0.85, x, 50.0), det(PERSON, 0.8, 180.0 - x, 58.0)]);
        }
        let ids: Vec<(u64, f32)> = tracker.tracks().iter().map(|t| (t.id, t.bbox[0])).collect();
        assert_eq!(ids.len(), 2, "{ids:?}");
        // Track 1 started on the left and must now be on the right, and the other way round.
        let first = tracker.get(1).unwrap().bbox[0];
        let second = tracker.get(2).unwrap().bbox[0];
        assert!(first > second, "ids swapped: {ids:?}");
    }

    #[test]
    fn a_walker_hidden_behind_another_keeps_their_id() {
        let mut tracker = Tracker::default();
        // A walks right at 10 px a pass; B stands still in the middle. From pass 10 to 17 A is
        // behind B (the detector sees only B), then A comes out on the other side.
        for step in 0..30 {
            let x = 20.0 + step as f32 * 10.0;
            let mut seen = vec![det(PERSON, 0.9, 150.0, 52.0)];
            if !(10..18).contains(&step) {
                seen.push(det(PERSON, 0.85, x, 50.0));
            }
            let update = feed(&mut tracker, step, &seen);
            assert!(update.lost.is_empty(), "pass {step}: {:?}", update.lost);
        }
        let mut ids: Vec<u64> = tracker.tracks().iter().map(|t| t.id).collect();
        ids.sort();
        assert_eq!(ids, vec![1, 2], "the walker came out as the same object");
        let walker = tracker.get(2).unwrap();
        assert!(walker.bbox[0] > 250.0, "{walker:?}");
    }

    #[test]
    fn a_weak_detection_keeps_a_followed_track_but_starts_nothing() {
        let mut tracker = Tracker::default();
        for step in 0..5 {
            feed(&mut tracker, step, &[det(PERSON, 0.85, 100.0 + step as f32 * 2.0, 50.0)]);
        }
        // Ten passes (2 s, then 3 s more) in which the person is seen only weakly (half turned,
        // in shade): the track lives on; a weak box elsewhere starts nothing.
        for step in 5..30 {
            let weak = [det(PERSON, 0.3, 100.0 + step as f32 * 2.0, 50.0), det(PERSON, 0.35, 400.0, 50.0)];
            let update = tracker.update(Pass { time_ms: at(step), strong: &[], weak: &weak, searched: None }, &bar);
            assert!(update.lost.is_empty());
        }
        assert_eq!(tracker.tracks().len(), 1);
        let track = &tracker.tracks()[0];
        assert_eq!((track.id, track.hits), (1, 5), "weak sightings do not count as strong ones");
        assert_eq!(track.last_seen_ms, at(29));
    }

    #[test]
    fn a_label_that_flips_within_its_group_stays_one_object() {
        let settings = TrackerSettings {
            groups: vec![None, None, Some(0), None, None, None, None, Some(0)],
            ..Default::default()
        };
        let mut tracker = Tracker::new(settings);
        let mut confirmed = Vec::new();
        for step in 0..12 {
            // A van: mostly `car`, every third pass `truck`, a little jitter.
            let (class, score) = if step % 3 == 2 { (TRUCK, 0.75) } else { (CAR, 0.8) };
            confirmed
                .extend(feed(&mut tracker, step, &[det(class, score, 200.0 + (step % 2) as f32, 120.0)]).confirmed);
        }
        assert_eq!(confirmed, vec![1]);
        assert_eq!(tracker.tracks().len(), 1, "{:?}", tracker.tracks());
        assert_eq!(tracker.tracks()[0].class, CAR, "the vote goes to the label seen most strongly");
        // A camera that tracks `truck` only calls the same van a truck: its own label comes first.
        let groups = vec![None, None, Some(0), None, None, None, None, Some(0)];
        let mut trucks = Tracker::new(TrackerSettings { groups, tracked: vec![TRUCK], ..Default::default() });
        for step in 0..12 {
            let (class, score) = if step % 3 == 2 { (TRUCK, 0.75) } else { (CAR, 0.8) };
            feed(&mut trucks, step, &[det(class, score, 200.0 + (step % 2) as f32, 120.0)]);
        }
        assert_eq!(trucks.tracks().iter().map(|t| t.class).collect::<Vec<_>>(), vec![TRUCK]);
        // Without the group they are two objects.
        let mut apart = Tracker::default();
        for step in 0..12 {
            let class = if step % 3 == 2 { TRUCK } else { CAR };
            feed(&mut apart, step, &[det(class, 0.8, 200.0, 120.0)]);
        }
        assert_eq!(apart.tracks().len(), 2);
    }

    #[test]
    fn a_parked_car_turns_stationary_and_keeps_its_id_when_it_leaves() {
        let mut tracker = Tracker::default();
        let mut confirmed = Vec::new();
        for pass in 0..60 {
            // Detector jitter of a pixel or two around a fixed spot.
            let jitter = (pass % 3) as f32 - 1.0;
            confirmed.extend(feed(&mut tracker, pass, &[det(CAR, 0.9, 200.0 + jitter, 120.0 - jitter)]).confirmed);
        }
        assert_eq!(confirmed, vec![1]);
        assert!(tracker.get(1).unwrap().stationary, "still for 12 s");
        // It drives away: same track, no longer stationary, no new confirmation.
        for step in 1..10 {
            let update = feed(&mut tracker, 60 + step, &[det(CAR, 0.9, 200.0 + step as f32 * 15.0, 120.0)]);
            assert!(update.confirmed.is_empty() && update.lost.is_empty());
        }
        assert!(!tracker.get(1).unwrap().stationary);
        assert_eq!(tracker.tracks().len(), 1);
    }

    #[test]
    fn time_without_pictures_does_not_count_as_standing_still() {
        // Seen at one spot for 4 s, the stream drops for 8 s, and the person is there again.
        let mut tracker = Tracker::default();
        let person = || det(PERSON, 0.9, 200.0, 120.0);
        for pass in 0..20 {
            feed(&mut tracker, pass, &[person()]);
        }
        tracker.looking_resumed(at(60));
        for pass in 60..75 {
            feed(&mut tracker, pass, &[person()]);
        }
        let track = tracker.get(1).unwrap();
        assert!(!track.stationary, "4 s at rest before the gap and 3 s after are not the 10 s that make it stationary");
        // Seen on at rest, it becomes stationary 10 s after the pictures came back.
        for pass in 75..111 {
            feed(&mut tracker, pass, &[person()]);
        }
        assert!(tracker.get(1).unwrap().stationary);
    }

    #[test]
    fn a_parked_car_hidden_in_part_by_a_passer_by_stays_one_object() {
        let mut tracker = Tracker::default();
        let car = |x1: f32, x2: f32| Detection { class: CAR, score: 0.8, bbox: [x1, 200.0, x2, 290.0] };
        for pass in 0..60 {
            feed(&mut tracker, pass, &[car(330.0, 540.0)]);
        }
        assert!(tracker.get(1).unwrap().stationary);
        // A walker crosses in front from left to right over 4 s: the detector sees the part of the
        // car left uncovered, sometimes in two pieces, sometimes one box around car and walker.
        for step in 0..20 {
            let walker_x = 300.0 + step as f32 * 14.0;
            let person = Detection { class: PERSON, score: 0.85, bbox: [walker_x, 180.0, walker_x + 48.0, 330.0] };
            let car_seen = match step % 4 {
                0 => vec![car((walker_x + 48.0).min(500.0), 540.0)],
                1 => vec![car(330.0, walker_x.max(340.0)), car((walker_x + 48.0).min(500.0), 540.0)],
                2 => vec![car(325.0, 560.0)],
                _ => vec![],
            };
            let update = feed(&mut tracker, 60 + step, &[vec![person], car_seen].concat());
            assert!(update.lost.is_empty(), "pass {step}: {:?}", update.lost);
            assert!(!update.confirmed.iter().any(|id| tracker.get(*id).is_some_and(|t| t.class == CAR)));
        }
        let cars: Vec<&Track> = tracker.tracks().iter().filter(|t| t.class == CAR).collect();
        assert_eq!(cars.len(), 1, "{cars:?}");
        assert_eq!((cars[0].id, cars[0].stationary), (1, true));
        assert!(iou(&cars[0].bbox, &[330.0, 200.0, 540.0, 290.0]) > 0.85, "still where it was: {:?}", cars[0].bbox);
    }

    /// One walker leaves at the right edge and another comes in there a moment later, on the same
    /// line; the detector's boxes are cut at the edge. Returns the ids of the tracks that saw the
    /// newcomer, and whether the leaver was reported lost.
    fn hand_over_at_the_edge(frame: Option<(f32, f32)>) -> (Vec<u64>, bool) {
        let mut tracker = Tracker::new(TrackerSettings { frame, ..Default::default() });
        let cut = |x1: f32| Detection { class: PERSON, score: 0.85, bbox: [x1, 150.0, (x1 + 48.0).min(640.0), 300.0] };
        let mut lost = false;
        let mut newcomer = Vec::new();
        for step in 0..30 {
            let mut seen = Vec::new();
            let leaver = 400.0 + step as f32 * 12.0;
            if leaver <= 624.0 {
                seen.push(cut(leaver));
            }
            let comer = 640.0 - (step as f32 - 19.0) * 12.0;
            if step >= 21 {
                seen.push(cut(comer));
            }
            let update = feed(&mut tracker, step, &seen);
            lost |= update.lost.iter().any(|t| t.id == 1);
            if step >= 21 {
                let id =
                    tracker.tracks().iter().find(|t| t.misses == 0 && (t.bbox[0] - comer).abs() < 1.0).map(|t| t.id);
                newcomer.extend(id);
            }
        }
        newcomer.dedup();
        (newcomer, lost)
    }

    #[test]
    fn a_walker_leaving_is_not_followed_onto_one_coming_in_where_they_left() {
        let (newcomer, lost) = hand_over_at_the_edge(Some((640.0, 360.0)));
        assert!(!newcomer.contains(&1), "the newcomer is a new object: {newcomer:?}");
        assert!(lost, "the walker who left is lost");
        // Without knowing where the picture ends, the leaver's object carries on as the newcomer.
        let (blind, _) = hand_over_at_the_edge(None);
        assert!(blind.contains(&1), "{blind:?}");
    }

    #[test]
    fn objects_outside_the_searched_crops_are_kept() {
        let mut tracker = Tracker::default();
        for pass in 0..5 {
            feed(&mut tracker, pass, &[det(CAR, 0.9, 500.0, 100.0)]);
        }
        // A minute of passes over a crop on the left only: the car on the right is not missed.
        let left = [[0.0, 0.0, 300.0, 300.0]];
        for pass in 5..305 {
            let update =
                tracker.update(Pass { time_ms: at(pass), strong: &[], weak: &[], searched: Some(&left) }, &bar);
            assert!(update.lost.is_empty());
        }
        assert_eq!(tracker.tracks().len(), 1);
        // Passes over the whole frame without it do count.
        for pass in 305..330 {
            feed(&mut tracker, pass, &[]);
        }
        assert!(tracker.tracks().is_empty());
    }

    #[test]
    fn time_without_passes_does_not_count_against_a_track() {
        let mut tracker = Tracker::default();
        for pass in 0..5 {
            feed(&mut tracker, pass, &[det(CAR, 0.9, 500.0, 100.0)]);
        }
        // The stream is down for a minute: no passes. The first pass after it misses the car (it
        // is not detected yet), the next finds it: still the same object.
        assert!(feed(&mut tracker, 305, &[]).lost.is_empty());
        assert!(feed(&mut tracker, 306, &[det(CAR, 0.9, 501.0, 100.0)]).lost.is_empty());
        assert_eq!(tracker.tracks().iter().map(|t| t.id).collect::<Vec<_>>(), vec![1]);
    }

    #[test]
    fn a_restored_object_is_matched_without_a_new_confirmation() {
        let mut tracker = Tracker::default();
        let id = tracker.restore(&det(CAR, 0.9, 200.0, 120.0), at(-5000), at(-10));
        assert!(tracker.get(id).unwrap().stationary && tracker.get(id).unwrap().confirmed);
        let update = feed(&mut tracker, 0, &[det(CAR, 0.88, 202.0, 121.0)]);
        assert!(update.confirmed.is_empty() && update.lost.is_empty());
        assert_eq!(tracker.tracks().len(), 1);
        // A restored object that is not there is lost after STATIONARY_LOST_MS of looking, with
        // its old last sighting.
        let mut other = Tracker::default();
        other.restore(&det(CAR, 0.9, 200.0, 120.0), at(-5000), at(-10));
        let lost: Vec<(i64, Track)> =
            (0..200).flat_map(|pass| feed(&mut other, pass, &[]).lost.into_iter().map(move |t| (pass, t))).collect();
        assert_eq!(lost.len(), 1);
        assert_eq!(lost[0].0, STATIONARY_LOST_MS / STEP_MS, "lost 30 s after the first miss");
        assert_eq!(lost[0].1.last_seen_ms, at(-10));
    }

    #[test]
    fn a_missed_pass_or_two_does_not_split_an_object() {
        let mut tracker = Tracker::default();
        for pass in 0..12 {
            let detections =
                if pass % 4 == 3 { vec![] } else { vec![det(PERSON, 0.8, 10.0 + pass as f32 * 5.0, 40.0)] };
            feed(&mut tracker, pass, &detections);
        }
        assert_eq!(tracker.tracks().len(), 1);
        assert_eq!(tracker.tracks()[0].id, 1);
    }
}
