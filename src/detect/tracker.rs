//! Follows objects from one detection pass to the next, so that one person walking through the
//! garden is one object (and later one event), and a car parked all night stays one object.
//!
//! Association is greedy by IoU between each track's predicted box (constant velocity) and the new
//! boxes of the same class. A track is *confirmed* once it has been seen [`CONFIRM_HITS`] times and
//! the median of its recent scores reaches the label's threshold (Frigate's rule: every detection
//! must pass `min_score`, the median must pass `threshold`). It is *lost* after
//! [`MAX_MISSES`] passes without a match. A track whose centre stays within a small radius for
//! [`STATIONARY_PASSES`] passes becomes *stationary*; it keeps its id (and its event) and moves on
//! from there when it moves again.

use super::{Detection, iou};
use std::collections::VecDeque;

/// Passes a track must be seen before it can be confirmed.
pub const CONFIRM_HITS: u32 = 3;
/// Passes without a match after which a track is dropped.
pub const MAX_MISSES: u32 = 5;
/// Passes with the centre nearly still after which a track is stationary.
pub const STATIONARY_PASSES: u32 = 25;
/// Recent scores kept for the median.
const SCORE_HISTORY: usize = 10;
/// Least overlap between the predicted and a new box to be the same object.
const MATCH_IOU: f32 = 0.3;

/// One followed object.
#[derive(Debug, Clone, PartialEq)]
pub struct Track {
    pub id: u64,
    pub class: usize,
    /// `[x1, y1, x2, y2]` in frame pixels, as last seen.
    pub bbox: [f32; 4],
    /// Centre movement per pass.
    velocity: [f32; 2],
    pub scores: VecDeque<f32>,
    pub top_score: f32,
    pub hits: u32,
    pub misses: u32,
    pub confirmed: bool,
    pub stationary: bool,
    /// Where the centre was when it last moved, and for how many passes it has stayed near it.
    anchor: [f32; 2],
    still_passes: u32,
}

impl Track {
    fn centre(bbox: &[f32; 4]) -> [f32; 2] {
        [(bbox[0] + bbox[2]) / 2.0, (bbox[1] + bbox[3]) / 2.0]
    }

    fn predicted(&self) -> [f32; 4] {
        let [dx, dy] = self.velocity;
        [self.bbox[0] + dx, self.bbox[1] + dy, self.bbox[2] + dx, self.bbox[3] + dy]
    }

    pub fn median_score(&self) -> f32 {
        let mut sorted: Vec<f32> = self.scores.iter().copied().collect();
        sorted.sort_by(f32::total_cmp);
        sorted.get(sorted.len() / 2).copied().unwrap_or(0.0)
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

#[derive(Debug, Default)]
pub struct Tracker {
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
    pub fn tracks(&self) -> &[Track] {
        &self.tracks
    }

    pub fn get(&self, id: u64) -> Option<&Track> {
        self.tracks.iter().find(|t| t.id == id)
    }

    /// Feeds the detections of one pass over the whole frame.
    pub fn update(&mut self, detections: &[Detection], thresholds: &impl Thresholds) -> TrackUpdate {
        self.update_in(detections, thresholds, None)
    }

    /// Feeds the detections of one pass over `searched` (pixel `[x1, y1, x2, y2]` areas; `None` =
    /// the whole frame). Only tracks whose centre lies in a searched area can miss: a parked car
    /// outside the crops looked at this time is not forgotten.
    pub fn update_in(
        &mut self,
        detections: &[Detection],
        thresholds: &impl Thresholds,
        searched: Option<&[[f32; 4]]>,
    ) -> TrackUpdate {
        let mut update = TrackUpdate::default();
        let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
        for (t, track) in self.tracks.iter().enumerate() {
            let predicted = track.predicted();
            for (d, detection) in detections.iter().enumerate() {
                if detection.class != track.class {
                    continue;
                }
                // Also try the last box: a stopping object is better matched where it was.
                let overlap = iou(&predicted, &detection.bbox).max(iou(&track.bbox, &detection.bbox));
                if overlap >= MATCH_IOU {
                    pairs.push((overlap, t, d));
                }
            }
        }
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut track_matched = vec![false; self.tracks.len()];
        let mut detection_used = vec![false; detections.len()];
        for (_, t, d) in pairs {
            if track_matched[t] || detection_used[d] {
                continue;
            }
            track_matched[t] = true;
            detection_used[d] = true;
            let track = &mut self.tracks[t];
            let detection = &detections[d];
            let (old, new) = (Track::centre(&track.bbox), Track::centre(&detection.bbox));
            let step = [new[0] - old[0], new[1] - old[1]];
            track.velocity = [0.5 * track.velocity[0] + 0.5 * step[0], 0.5 * track.velocity[1] + 0.5 * step[1]];
            track.bbox = detection.bbox;
            track.scores.push_back(detection.score);
            if track.scores.len() > SCORE_HISTORY {
                track.scores.pop_front();
            }
            track.top_score = track.top_score.max(detection.score);
            track.hits += 1;
            track.misses = 0;
            // Still means the centre stays within a tenth of the box's smaller side (at least 3 px).
            let size = (detection.bbox[2] - detection.bbox[0]).min(detection.bbox[3] - detection.bbox[1]);
            let radius = (size * 0.1).max(3.0);
            let moved = ((new[0] - track.anchor[0]).powi(2) + (new[1] - track.anchor[1]).powi(2)).sqrt();
            if moved > radius {
                track.anchor = new;
                track.still_passes = 0;
                track.stationary = false;
            } else {
                track.still_passes += 1;
                if track.still_passes >= STATIONARY_PASSES {
                    track.stationary = true;
                    track.velocity = [0.0, 0.0];
                }
            }
            if !track.confirmed
                && track.hits >= CONFIRM_HITS
                && track.median_score() >= thresholds.threshold(track.class)
            {
                track.confirmed = true;
                update.confirmed.push(track.id);
            }
        }
        for (t, track) in self.tracks.iter_mut().enumerate() {
            let [cx, cy] = Track::centre(&track.bbox);
            let looked_at = searched
                .is_none_or(|areas| areas.iter().any(|a| (a[0]..=a[2]).contains(&cx) && (a[1]..=a[3]).contains(&cy)));
            if !track_matched[t] && looked_at {
                track.misses += 1;
            }
        }
        let (kept, lost): (Vec<Track>, Vec<Track>) =
            std::mem::take(&mut self.tracks).into_iter().partition(|t| t.misses <= MAX_MISSES);
        self.tracks = kept;
        update.lost = lost.into_iter().filter(|t| t.confirmed).collect();
        for (d, detection) in detections.iter().enumerate() {
            if detection_used[d] {
                continue;
            }
            self.next_id += 1;
            let centre = Track::centre(&detection.bbox);
            self.tracks.push(Track {
                id: self.next_id,
                class: detection.class,
                bbox: detection.bbox,
                velocity: [0.0, 0.0],
                scores: VecDeque::from([detection.score]),
                top_score: detection.score,
                hits: 1,
                misses: 0,
                confirmed: false,
                stationary: false,
                anchor: centre,
                still_passes: 0,
            });
        }
        update
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

    fn det(class: usize, score: f32, x: f32, y: f32) -> Detection {
        Detection { class, score, bbox: [x, y, x + 40.0, y + 100.0] }
    }

    fn bar(_: usize) -> f32 {
        0.7
    }

    #[test]
    fn a_walking_person_is_one_confirmed_track() {
        let mut tracker = Tracker::default();
        let mut confirmed = Vec::new();
        for step in 0..20 {
            let update = tracker.update(&[det(PERSON, 0.8, 10.0 + step as f32 * 8.0, 50.0)], &bar);
            confirmed.extend(update.confirmed);
            assert!(update.lost.is_empty());
        }
        assert_eq!(confirmed, vec![1], "confirmed once, on the third pass");
        assert_eq!(tracker.tracks().len(), 1);
        assert!(!tracker.tracks()[0].stationary, "a walking person is not stationary");
        // Gone: lost after MAX_MISSES + 1 empty passes, reported once.
        let mut lost = Vec::new();
        for _ in 0..=MAX_MISSES {
            lost.extend(tracker.update(&[], &bar).lost);
        }
        assert_eq!(lost.iter().map(|t| t.id).collect::<Vec<_>>(), vec![1]);
        assert!(tracker.tracks().is_empty());
    }

    #[test]
    fn low_median_scores_are_never_confirmed() {
        let mut tracker = Tracker::default();
        for score in [0.9, 0.5, 0.55, 0.6, 0.5] {
            assert!(tracker.update(&[det(PERSON, score, 10.0, 10.0)], &bar).confirmed.is_empty());
        }
        assert!(!tracker.tracks()[0].confirmed, "one good score among poor ones is not enough");
    }

    #[test]
    fn crossing_objects_keep_their_ids() {
        let mut tracker = Tracker::default();
        // Two people walk towards each other along the same line and pass.
        for step in 0..16 {
            let x = step as f32 * 12.0;
            tracker.update(&[det(PERSON, 0.85, x, 50.0), det(PERSON, 0.8, 180.0 - x, 58.0)], &bar);
        }
        let ids: Vec<(u64, f32)> = tracker.tracks().iter().map(|t| (t.id, t.bbox[0])).collect();
        assert_eq!(ids.len(), 2, "{ids:?}");
        // Track 1 started on the left and must now be on the right, and the other way round.
        let first = tracker.get(1).unwrap().bbox[0];
        let second = tracker.get(2).unwrap().bbox[0];
        assert!(first > second, "ids swapped: {ids:?}");
    }

    #[test]
    fn a_parked_car_turns_stationary_and_keeps_its_id_when_it_leaves() {
        let mut tracker = Tracker::default();
        let mut confirmed = Vec::new();
        for pass in 0..40 {
            // Detector jitter of a pixel or two around a fixed spot.
            let jitter = (pass % 3) as f32 - 1.0;
            confirmed.extend(tracker.update(&[det(CAR, 0.9, 200.0 + jitter, 120.0 - jitter)], &bar).confirmed);
        }
        assert_eq!(confirmed, vec![1]);
        assert!(tracker.get(1).unwrap().stationary);
        // It drives away: same track, no longer stationary, no new confirmation.
        for step in 1..10 {
            let update = tracker.update(&[det(CAR, 0.9, 200.0 + step as f32 * 15.0, 120.0)], &bar);
            assert!(update.confirmed.is_empty() && update.lost.is_empty());
        }
        assert!(!tracker.get(1).unwrap().stationary);
        assert_eq!(tracker.tracks().len(), 1);
    }

    #[test]
    fn objects_outside_the_searched_crops_are_kept() {
        let mut tracker = Tracker::default();
        for _ in 0..5 {
            tracker.update(&[det(CAR, 0.9, 500.0, 100.0)], &bar);
        }
        // Twenty passes over a crop on the left only: the car on the right is not missed.
        let left = [[0.0, 0.0, 300.0, 300.0]];
        for _ in 0..20 {
            assert!(tracker.update_in(&[], &bar, Some(&left)).lost.is_empty());
        }
        assert_eq!(tracker.tracks().len(), 1);
        // A pass over the whole frame without it does count.
        for _ in 0..=MAX_MISSES {
            tracker.update_in(&[], &bar, None);
        }
        assert!(tracker.tracks().is_empty());
    }

    #[test]
    fn a_missed_pass_or_two_does_not_split_an_object() {
        let mut tracker = Tracker::default();
        for pass in 0..12 {
            let detections =
                if pass % 4 == 3 { vec![] } else { vec![det(PERSON, 0.8, 10.0 + pass as f32 * 5.0, 40.0)] };
            tracker.update(&detections, &bar);
        }
        assert_eq!(tracker.tracks().len(), 1);
        assert_eq!(tracker.tracks()[0].id, 1);
    }
}
