//! Queries for objects standing still whose events stay open across restarts: kept when an
//! object turns stationary, dropped when its event ends, read when a camera starts.

use super::entities::{event, stationary_object};
use super::{Db, json};
use crate::error::Result;
use sea_orm::sea_query::{Expr, OnConflict, Query};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set, TransactionTrait};

/// A stationary object as it is kept.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldObject {
    pub event_id: i64,
    pub camera_id: String,
    pub label: String,
    pub score: f32,
    /// Relative `[x1, y1, x2, y2]`.
    pub bbox: [f32; 4],
    pub last_seen_ms: i64,
}

impl Db {
    /// Keeps (or refreshes) a stationary object.
    pub async fn hold_object(&self, object: &HeldObject) -> Result<()> {
        let model = stationary_object::ActiveModel {
            event_id: Set(object.event_id),
            camera_id: Set(object.camera_id.clone()),
            label: Set(object.label.clone()),
            score: Set(f64::from(object.score)),
            bbox: Set(json(&object.bbox)),
            last_seen_ms: Set(object.last_seen_ms),
        };
        stationary_object::Entity::insert(model)
            .on_conflict(
                OnConflict::column(stationary_object::Column::EventId)
                    .update_columns([
                        stationary_object::Column::Label,
                        stationary_object::Column::Score,
                        stationary_object::Column::Bbox,
                        stationary_object::Column::LastSeenMs,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&self.conn)
            .await?;
        Ok(())
    }

    /// Forgets the object of an event (it moved or its event ended).
    pub async fn release_object(&self, event_id: i64) -> Result<()> {
        stationary_object::Entity::delete_by_id(event_id).exec(&self.conn).await?;
        Ok(())
    }

    /// A camera's kept objects whose events still exist.
    pub async fn held_objects(&self, camera: &str) -> Result<Vec<HeldObject>> {
        let rows = stationary_object::Entity::find()
            .filter(stationary_object::Column::CameraId.eq(camera))
            .all(&self.conn)
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| HeldObject {
                event_id: row.event_id,
                camera_id: row.camera_id,
                label: row.label,
                score: row.score as f32,
                bbox: serde_json::from_str(&row.bbox).unwrap_or_default(),
                last_seen_ms: row.last_seen_ms,
            })
            .collect())
    }

    /// Ends the events of a camera's kept objects at their last sighting and forgets them (the
    /// camera was disabled or deleted: nobody will look for them).
    pub async fn release_camera_objects(&self, camera: &str) -> Result<()> {
        let held = self.held_objects(camera).await?;
        let txn = self.conn.begin().await?;
        for object in &held {
            event::Entity::update_many()
                .col_expr(event::Column::EndMs, Expr::value(object.last_seen_ms))
                .filter(event::Column::Id.eq(object.event_id))
                .filter(event::Column::EndMs.is_null())
                .exec(&txn)
                .await?;
        }
        stationary_object::Entity::delete_many()
            .filter(stationary_object::Column::CameraId.eq(camera))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(())
    }

    /// Ends the kept objects of every camera not in `cameras` (removed from the config file while
    /// Watchpost was down); returns how many cameras had some.
    pub async fn release_objects_of_other_cameras(&self, cameras: &[String]) -> Result<usize> {
        let rows = stationary_object::Entity::find()
            .filter(stationary_object::Column::CameraId.is_not_in(cameras.iter().map(String::as_str)))
            .all(&self.conn)
            .await?;
        let mut gone: Vec<String> = rows.into_iter().map(|row| row.camera_id).collect();
        gone.sort();
        gone.dedup();
        for camera in &gone {
            self.release_camera_objects(camera).await?;
        }
        Ok(gone.len())
    }

    /// Ends open events left by a crash, except those of kept stationary objects (their camera
    /// continues or ends them when it starts); returns how many were ended.
    pub async fn close_open_events(&self, end_ms: i64) -> Result<u64> {
        let held =
            Query::select().column(stationary_object::Column::EventId).from(stationary_object::Entity).to_owned();
        let result = event::Entity::update_many()
            .col_expr(event::Column::EndMs, Expr::col(event::Column::StartMs))
            .filter(event::Column::EndMs.is_null())
            .filter(event::Column::StartMs.lte(end_ms))
            .filter(event::Column::Id.not_in_subquery(held))
            .exec(&self.conn)
            .await?;
        Ok(result.rows_affected)
    }
}
