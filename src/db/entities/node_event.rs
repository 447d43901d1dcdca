//! A change of one of a node's binary sensors (PIR, door, window), as its event stream told it.

use sea_orm::entity::prelude::*;
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "node_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub node_id: String,
    /// The node's own id for the sensor (`binary_sensor-garage_motion`).
    pub sensor: String,
    pub name: String,
    /// `motion`, `door`, `window` or `binary`.
    pub kind: String,
    pub active: bool,
    pub at_ms: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
