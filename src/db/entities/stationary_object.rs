//! An object standing still (a parked car) whose event stays open while Watchpost or its camera
//! restarts, so that seeing it again continues the event instead of alerting anew.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "stationary_objects")]
pub struct Model {
    /// The object's open event.
    #[sea_orm(primary_key, auto_increment = false)]
    pub event_id: i64,
    pub camera_id: String,
    /// The label the object had (the model's label name).
    pub label: String,
    /// Its latest detection score.
    pub score: f64,
    /// Relative `[x1, y1, x2, y2]` (0–1) where it was last seen, as JSON.
    pub bbox: String,
    pub last_seen_ms: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
