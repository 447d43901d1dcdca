//! The retention sweep, every minute: deletes recordings by the cameras' rules and keeps the disk
//! from filling.
//!
//! 1. `events` mode: footage that is older than the pre-roll buffer and overlaps no event (widened
//!    by pre- and post-roll) goes. Only the last [`FIRST_LOOK_BACK_MS`] are judged after a start,
//!    so switching a camera from continuous to events keeps its older footage for the age rules.
//! 2. By age: footage with no event in it after `continuous_days`, all of it after `event_days`;
//!    for a camera that records, its events (with their snapshots) after `event_days` too. The
//!    events of cameras that do not record are kept, as they always were.
//! 3. For space: while recordings take more than `max_size_gb`, or the disk has less than
//!    `min_free_gb` free, the oldest go, footage without events before event clips.
//!
//! Every deletion is logged with its reason and counted for `/metrics`. A camera no longer in the
//! settings keeps its footage under the default rules.

use super::Recordings;
use crate::db::entities::recording_segment;
use crate::error::Result;
use crate::media::MediaStore;
use crate::recording::settings::{RecordConfig, RecordMode};
use std::collections::HashMap;
use std::sync::atomic::Ordering;

const DAY_MS: i64 = 86_400_000;
/// Footage of `events` mode waits this long past its end before it is judged: an event may still
/// start within the pre-roll, and one that just ended still needs its post-roll.
const JUDGE_AFTER_MS: i64 = 60_000;
/// How far back `events` mode judges footage the first time after a start.
const FIRST_LOOK_BACK_MS: i64 = 3_600_000;
/// Events deleted per camera per sweep (the rest go in the next minutes).
const EVENT_BATCH: u64 = 500;
/// Segments looked at per round of the space rule.
const SPACE_BATCH: u64 = 200;

/// What one sweep deleted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepReport {
    pub without_event: u64,
    pub by_age: u64,
    pub for_space: u64,
    pub bytes: u64,
    /// Events (with their snapshots) past `event_days`.
    pub events: u64,
}

/// The sweep with what it remembers between rounds: how far each camera's `events`-mode footage
/// has been judged already.
pub struct Sweeper {
    store: Recordings,
    /// Where the snapshots of expired events are.
    media: MediaStore,
    /// Each camera's rules as of this sweep (cameras change in the UI between sweeps).
    rules: HashMap<String, RecordConfig>,
    judged_until_ms: HashMap<String, i64>,
}

impl Sweeper {
    pub fn new(store: Recordings, media: MediaStore) -> Self {
        Self { store, media, rules: HashMap::new(), judged_until_ms: HashMap::new() }
    }

    fn rules_of(&self, camera: &str) -> RecordConfig {
        self.rules.get(camera).cloned().unwrap_or_default()
    }

    /// One round under the cameras' current `rules`.
    pub async fn sweep(&mut self, now_ms: i64, rules: HashMap<String, RecordConfig>) -> Result<SweepReport> {
        self.rules = rules;
        let mut report = SweepReport::default();
        let recording: Vec<(String, RecordConfig)> =
            self.rules.iter().filter(|(_, r)| r.enabled()).map(|(c, r)| (c.clone(), r.clone())).collect();
        for (camera, rules) in recording {
            self.expire_events(&camera, &rules, now_ms, &mut report).await?;
        }
        // One pass over the index per sweep: the cameras with footage and the bytes it takes (less
        // what the rules below delete, for the space rule).
        let usage = self.store.db().recording_usage().await?;
        let total: u64 = usage.iter().map(|u| u.bytes.max(0) as u64).sum();
        for camera in usage.into_iter().map(|u| u.camera_id) {
            let rules = self.rules_of(&camera);
            if rules.mode == RecordMode::Events {
                self.judge_event_footage(&camera, &rules, now_ms, &mut report).await?;
            }
            self.by_age(&camera, &rules, now_ms, &mut report).await?;
        }
        self.for_space(total.saturating_sub(report.bytes), now_ms, &mut report).await?;
        if report != SweepReport::default() {
            tracing::info!(
                without_event = report.without_event,
                by_age = report.by_age,
                for_space = report.for_space,
                events = report.events,
                mb = report.bytes / 1_000_000,
                "recordings deleted"
            );
        }
        count(&self.store, &report);
        Ok(report)
    }

    async fn judge_event_footage(
        &mut self,
        camera: &str,
        rules: &RecordConfig,
        now_ms: i64,
        report: &mut SweepReport,
    ) -> Result<()> {
        let from = self.judged_until_ms.get(camera).copied().unwrap_or(now_ms - FIRST_LOOK_BACK_MS);
        let until = now_ms - JUDGE_AFTER_MS - i64::from(rules.pre_roll_secs) * 1000;
        if until <= from {
            return Ok(());
        }
        let segments = self.store.segments(camera, from, until).await?;
        let judged: Vec<recording_segment::Model> = segments.into_iter().filter(|s| s.end_ms <= until).collect();
        let windows = self.event_windows(camera, rules, &judged, now_ms).await?;
        let unwanted: Vec<_> = judged.into_iter().filter(|s| !overlaps_any(s, &windows)).collect();
        report.without_event += self.delete(&unwanted, report).await?;
        self.judged_until_ms.insert(camera.to_string(), until);
        Ok(())
    }

    /// Deletes a recording camera's events older than `event_days`, snapshots first.
    async fn expire_events(
        &self,
        camera: &str,
        rules: &RecordConfig,
        now_ms: i64,
        report: &mut SweepReport,
    ) -> Result<()> {
        let before = now_ms - i64::from(rules.event_days) * DAY_MS;
        let expired = self.store.db().ended_events_before(camera, before, EVENT_BATCH).await?;
        for snapshot in expired.iter().filter_map(|(_, snapshot)| snapshot.as_deref()) {
            self.media.remove_snapshot(snapshot).await;
        }
        let ids: Vec<i64> = expired.iter().map(|(id, _)| *id).collect();
        report.events += self.store.db().delete_events(&ids).await?;
        Ok(())
    }

    async fn by_age(&self, camera: &str, rules: &RecordConfig, now_ms: i64, report: &mut SweepReport) -> Result<()> {
        let plain_limit = now_ms - i64::from(rules.continuous_days) * DAY_MS;
        let event_limit = now_ms - i64::from(rules.event_days) * DAY_MS;
        let old: Vec<recording_segment::Model> = self
            .store
            .segments(camera, i64::MIN / 2, plain_limit.max(event_limit))
            .await?
            .into_iter()
            .filter(|s| s.end_ms <= plain_limit.max(event_limit))
            .collect();
        let windows = self.event_windows(camera, rules, &old, now_ms).await?;
        let expired: Vec<_> = old
            .into_iter()
            .filter(|s| {
                let limit = if overlaps_any(s, &windows) { event_limit } else { plain_limit };
                s.end_ms <= limit
            })
            .collect();
        report.by_age += self.delete(&expired, report).await?;
        Ok(())
    }

    /// `total` is what recordings take now, in bytes.
    async fn for_space(&self, mut total: u64, now_ms: i64, report: &mut SweepReport) -> Result<()> {
        let limits = self.store.limits();
        let mut free = self.store.free_bytes();
        let over = |total: u64, free: Option<u64>| {
            (limits.max_bytes > 0 && total > limits.max_bytes) || free.is_some_and(|f| f < limits.min_free_bytes)
        };
        // Footage without events goes first; event clips only when that is not enough.
        for keep_events in [true, false] {
            let mut before_ms = now_ms;
            while over(total, free) {
                let oldest = self.store.db().oldest_segments(before_ms, SPACE_BATCH).await?;
                let Some(last) = oldest.last() else { break };
                before_ms = last.start_ms;
                let mut batch = Vec::new();
                for segment in oldest {
                    let rules = self.rules_of(&segment.camera_id);
                    let windows =
                        self.event_windows(&segment.camera_id, &rules, std::slice::from_ref(&segment), now_ms).await?;
                    if keep_events && overlaps_any(&segment, &windows) {
                        continue;
                    }
                    let bytes = segment.bytes.max(0) as u64;
                    batch.push(segment);
                    total = total.saturating_sub(bytes);
                    free = free.map(|f| f + bytes);
                    if !over(total, free) {
                        break;
                    }
                }
                report.for_space += self.delete(&batch, report).await?;
                // The file system's own figure, now that files are gone.
                free = self.store.free_bytes().map(|f| f.max(free.unwrap_or(0)));
            }
        }
        if over(total, free) {
            tracing::warn!(
                free_mb = free.unwrap_or(0) / 1_000_000,
                "the recordings' disk is still short of space with no recording left to delete"
            );
        }
        Ok(())
    }

    /// The events of `camera` near `segments`, as wall-clock windows widened by pre- and post-roll.
    async fn event_windows(
        &self,
        camera: &str,
        rules: &RecordConfig,
        segments: &[recording_segment::Model],
        now_ms: i64,
    ) -> Result<Vec<(i64, i64)>> {
        let (Some(first), Some(last)) =
            (segments.iter().map(|s| s.start_ms).min(), segments.iter().map(|s| s.end_ms).max())
        else {
            return Ok(Vec::new());
        };
        let (pre, post) = (i64::from(rules.pre_roll_secs) * 1000, i64::from(rules.post_roll_secs) * 1000);
        let spans = self.store.db().event_spans(camera, first - post, last + pre, now_ms).await?;
        Ok(spans.into_iter().map(|(start, end)| (start - pre, end + post)).collect())
    }

    /// Deletes files, then their rows; returns how many.
    async fn delete(&self, segments: &[recording_segment::Model], report: &mut SweepReport) -> Result<u64> {
        let (count, bytes) = self.store.remove(segments).await?;
        report.bytes += bytes;
        Ok(count)
    }
}

fn overlaps_any(segment: &recording_segment::Model, windows: &[(i64, i64)]) -> bool {
    windows.iter().any(|&(start, end)| segment.start_ms < end && segment.end_ms > start)
}

/// Adds a sweep's counts to the figures.
fn count(store: &Recordings, report: &SweepReport) {
    let figures = &store.figures;
    figures.deleted_without_event.fetch_add(report.without_event, Ordering::Relaxed);
    figures.deleted_by_age.fetch_add(report.by_age, Ordering::Relaxed);
    figures.deleted_for_space.fetch_add(report.for_space, Ordering::Relaxed);
}
