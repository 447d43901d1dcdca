//! Deleting events for good, as a user asks (one, a selection, everything a filter matches, a
//! camera's whole history): their rows (search forgets them with the rows), their alert
//! deliveries, their snapshots, and the recorded footage around them that no other event needs.
//! The retention sweep deletes by age; this is the same, on request.

use crate::db::Db;
use crate::db::entities::event;
use crate::error::Result;
use crate::media::MediaStore;
use crate::recording::Recordings;
use crate::recording::settings::RecordConfig;

/// How many events are deleted in one transaction.
const BATCH: usize = 500;

/// What a deletion removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Erased {
    pub events: u64,
    pub snapshots: u64,
    pub recordings: u64,
    pub bytes: u64,
}

/// The span of footage an event's clip shows: pre-roll before it to post-roll after it (an open
/// event ends `now_ms`).
fn footage_window(event: &event::Model, rules: &RecordConfig, now_ms: i64) -> (i64, i64) {
    let end = event.end_ms.unwrap_or(now_ms).max(event.start_ms);
    (event.start_ms - i64::from(rules.pre_roll_secs) * 1000, end + i64::from(rules.post_roll_secs) * 1000)
}

/// Deletes `events` with their snapshots and the footage around them. Footage that also shows an
/// event that stays is kept (that event's clip needs it). `rules_of` gives a camera's recording
/// rules (pre- and post-roll).
pub async fn erase_events(
    db: &Db,
    media: &MediaStore,
    recordings: &Recordings,
    events: &[event::Model],
    rules_of: impl Fn(&str) -> RecordConfig,
    now_ms: i64,
) -> Result<Erased> {
    let mut erased = Erased::default();
    for batch in events.chunks(BATCH) {
        // The footage each event's clip shows, found before the rows go.
        let mut footage = Vec::new();
        for event in batch {
            let rules = rules_of(&event.camera_id);
            let (from, to) = footage_window(event, &rules, now_ms);
            for segment in recordings.segments(&event.camera_id, from, to).await? {
                if !footage
                    .iter()
                    .any(|(s, _): &(crate::db::entities::recording_segment::Model, RecordConfig)| s.id == segment.id)
                {
                    footage.push((segment, rules.clone()));
                }
            }
        }
        let ids: Vec<i64> = batch.iter().map(|e| e.id).collect();
        erased.events += db.delete_events(&ids).await?;
        // Footage no remaining event's clip reaches goes.
        let mut unwanted = Vec::new();
        for (segment, rules) in footage {
            let (pre, post) = (i64::from(rules.pre_roll_secs) * 1000, i64::from(rules.post_roll_secs) * 1000);
            let others =
                db.event_spans(&segment.camera_id, segment.start_ms - post, segment.end_ms + pre, now_ms).await?;
            if others.is_empty() {
                unwanted.push(segment);
            }
        }
        let (count, bytes) = recordings.remove(&unwanted).await?;
        erased.recordings += count;
        erased.bytes += bytes;
        for snapshot in batch.iter().filter_map(|e| e.snapshot.as_deref()) {
            if media.remove_snapshot(snapshot).await {
                erased.snapshots += 1;
            }
        }
    }
    Ok(erased)
}

/// Deletes a camera's whole history: every event (as [`erase_events`]), all its footage, and its
/// outages. The camera itself stays.
pub async fn erase_camera_history(
    db: &Db,
    media: &MediaStore,
    recordings: &Recordings,
    camera: &str,
    rules: RecordConfig,
    now_ms: i64,
) -> Result<Erased> {
    let filter = crate::db::EventFilter { camera: Some(camera.to_string()), ..Default::default() };
    let events = db.events_matching(&filter).await?;
    let mut erased = erase_events(db, media, recordings, &events, |_| rules.clone(), now_ms).await?;
    let rest = recordings.segments(camera, i64::MIN / 2, i64::MAX / 2).await?;
    let (count, bytes) = recordings.remove(&rest).await?;
    erased.recordings += count;
    erased.bytes += bytes;
    db.forget_camera_outages(camera).await?;
    Ok(erased)
}
