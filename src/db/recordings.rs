//! Queries for recorded video: segments by camera and time, what the recovery pass and the
//! retention sweep need, and the figures of the Storage page.

use super::Db;
use super::entities::{alert_delivery, event, recording_segment, stationary_object};
use crate::error::Result;
use sea_orm::sea_query::{Expr, ExprTrait, Func, OnConflict, SimpleExpr};
use sea_orm::{ColumnTrait, EntityTrait, FromQueryResult, QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait};

/// No file is longer than this (`segment_secs` is at most 60 s, plus a group of pictures): a lower
/// bound on the start of the files that overlap a span, so a query reads only the index range
/// near it instead of every older row of the camera.
pub const LONGEST_SEGMENT_MS: i64 = 10 * 60 * 1000;

/// A segment file just closed (or found on disk by the recovery pass).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSegment {
    pub camera_id: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub bytes: i64,
    pub path: String,
    pub codec: String,
    pub width: i32,
    pub height: i32,
}

/// One camera's recordings in total.
#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct RecordingUsage {
    pub camera_id: String,
    pub segments: i64,
    pub bytes: i64,
    pub oldest_ms: i64,
    pub newest_ms: i64,
}

impl Db {
    /// Indexes a segment; a path already indexed is updated (the recovery pass may meet a file
    /// the recorder indexed a moment before).
    pub async fn add_segment(&self, segment: &NewSegment) -> Result<()> {
        let model = recording_segment::ActiveModel {
            id: Default::default(),
            camera_id: Set(segment.camera_id.clone()),
            start_ms: Set(segment.start_ms),
            end_ms: Set(segment.end_ms),
            bytes: Set(segment.bytes),
            path: Set(segment.path.clone()),
            codec: Set(segment.codec.clone()),
            width: Set(segment.width),
            height: Set(segment.height),
        };
        recording_segment::Entity::insert(model)
            .on_conflict(
                OnConflict::column(recording_segment::Column::Path)
                    .update_columns([
                        recording_segment::Column::StartMs,
                        recording_segment::Column::EndMs,
                        recording_segment::Column::Bytes,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&self.conn)
            .await?;
        Ok(())
    }

    /// A camera's segments that overlap `[from_ms, to_ms)`, oldest first.
    pub async fn segments_between(
        &self,
        camera: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<recording_segment::Model>> {
        Ok(recording_segment::Entity::find()
            .filter(recording_segment::Column::CameraId.eq(camera))
            .filter(recording_segment::Column::StartMs.gte(from_ms.saturating_sub(LONGEST_SEGMENT_MS)))
            .filter(recording_segment::Column::StartMs.lt(to_ms))
            .filter(recording_segment::Column::EndMs.gt(from_ms))
            .order_by_asc(recording_segment::Column::StartMs)
            .all(&self.conn)
            .await?)
    }

    /// Only the `(start_ms, end_ms)` of [`Db::segments_between`]: what a timeline draws.
    pub async fn segment_times(&self, camera: &str, from_ms: i64, to_ms: i64) -> Result<Vec<(i64, i64)>> {
        Ok(recording_segment::Entity::find()
            .select_only()
            .column(recording_segment::Column::StartMs)
            .column(recording_segment::Column::EndMs)
            .filter(recording_segment::Column::CameraId.eq(camera))
            .filter(recording_segment::Column::StartMs.gte(from_ms.saturating_sub(LONGEST_SEGMENT_MS)))
            .filter(recording_segment::Column::StartMs.lt(to_ms))
            .filter(recording_segment::Column::EndMs.gt(from_ms))
            .order_by_asc(recording_segment::Column::StartMs)
            .into_tuple()
            .all(&self.conn)
            .await?)
    }

    /// Every indexed path with its id, for the recovery pass.
    pub async fn segment_paths(&self) -> Result<Vec<(i64, String)>> {
        Ok(recording_segment::Entity::find()
            .select_only()
            .column(recording_segment::Column::Id)
            .column(recording_segment::Column::Path)
            .into_tuple()
            .all(&self.conn)
            .await?)
    }

    /// The oldest segments (of every camera), `limit` at most, starting before `before_ms`.
    pub async fn oldest_segments(&self, before_ms: i64, limit: u64) -> Result<Vec<recording_segment::Model>> {
        Ok(recording_segment::Entity::find()
            .filter(recording_segment::Column::StartMs.lt(before_ms))
            .order_by_asc(recording_segment::Column::StartMs)
            .limit(limit)
            .all(&self.conn)
            .await?)
    }

    pub async fn delete_segments(&self, ids: &[i64]) -> Result<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        let result = recording_segment::Entity::delete_many()
            .filter(recording_segment::Column::Id.is_in(ids.iter().copied()))
            .exec(&self.conn)
            .await?;
        Ok(result.rows_affected)
    }

    /// Segment count, bytes and span per camera.
    pub async fn recording_usage(&self) -> Result<Vec<RecordingUsage>> {
        Ok(recording_segment::Entity::find()
            .select_only()
            .column(recording_segment::Column::CameraId)
            .column_as(SimpleExpr::from(Func::count(Expr::col(recording_segment::Column::Id))), "segments")
            .column_as(
                SimpleExpr::from(Func::sum(Expr::col(recording_segment::Column::Bytes))).cast_as("BIGINT"),
                "bytes",
            )
            .column_as(SimpleExpr::from(Func::min(Expr::col(recording_segment::Column::StartMs))), "oldest_ms")
            .column_as(SimpleExpr::from(Func::max(Expr::col(recording_segment::Column::EndMs))), "newest_ms")
            .group_by(recording_segment::Column::CameraId)
            .order_by_asc(recording_segment::Column::CameraId)
            .into_model::<RecordingUsage>()
            .all(&self.conn)
            .await?)
    }

    /// Per camera, the bytes of footage with an event in it (the rest is plain footage).
    pub async fn event_footage_bytes(&self) -> Result<Vec<(String, i64)>> {
        use sea_orm::{ConnectionTrait, Statement};
        let sql = "SELECT s.camera_id, CAST(SUM(s.bytes) AS BIGINT) FROM recording_segments s \
                   WHERE EXISTS (SELECT 1 FROM events e WHERE e.camera_id = s.camera_id \
                   AND e.start_ms < s.end_ms AND COALESCE(e.end_ms, s.end_ms) > s.start_ms) \
                   GROUP BY s.camera_id";
        let rows = self.conn.query_all_raw(Statement::from_string(self.conn.get_database_backend(), sql)).await?;
        rows.iter().map(|row| Ok((row.try_get_by_index(0)?, row.try_get_by_index(1)?))).collect()
    }

    /// A camera's events that ended before `before_ms`, oldest first, `limit` at most: their ids and
    /// snapshots. Open events are never among them.
    pub async fn ended_events_before(
        &self,
        camera: &str,
        before_ms: i64,
        limit: u64,
    ) -> Result<Vec<(i64, Option<String>)>> {
        Ok(event::Entity::find()
            .select_only()
            .column(event::Column::Id)
            .column(event::Column::Snapshot)
            .filter(event::Column::CameraId.eq(camera))
            .filter(event::Column::EndMs.lt(before_ms))
            .order_by_asc(event::Column::StartMs)
            .limit(limit)
            .into_tuple()
            .all(&self.conn)
            .await?)
    }

    /// Deletes events with their alert deliveries (and a held stationary object), in one
    /// transaction; search forgets them with their rows.
    pub async fn delete_events(&self, ids: &[i64]) -> Result<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        let txn = self.conn.begin().await?;
        alert_delivery::Entity::delete_many()
            .filter(alert_delivery::Column::EventId.is_in(ids.iter().copied()))
            .exec(&txn)
            .await?;
        stationary_object::Entity::delete_many()
            .filter(stationary_object::Column::EventId.is_in(ids.iter().copied()))
            .exec(&txn)
            .await?;
        let deleted =
            event::Entity::delete_many().filter(event::Column::Id.is_in(ids.iter().copied())).exec(&txn).await?;
        txn.commit().await?;
        Ok(deleted.rows_affected)
    }

    /// The spans `(start_ms, end_ms)` of a camera's events that overlap `[from_ms, to_ms)`; an
    /// event still open ends at `open_end_ms`.
    pub async fn event_spans(
        &self,
        camera: &str,
        from_ms: i64,
        to_ms: i64,
        open_end_ms: i64,
    ) -> Result<Vec<(i64, i64)>> {
        let rows: Vec<(i64, Option<i64>)> = event::Entity::find()
            .select_only()
            .column(event::Column::StartMs)
            .column(event::Column::EndMs)
            .filter(event::Column::CameraId.eq(camera))
            .filter(event::Column::StartMs.lt(to_ms))
            .filter(event::Column::EndMs.is_null().or(event::Column::EndMs.gt(from_ms)))
            .order_by_asc(event::Column::StartMs)
            .into_tuple()
            .all(&self.conn)
            .await?;
        Ok(rows.into_iter().map(|(start, end)| (start, end.unwrap_or(open_end_ms))).collect())
    }
}
