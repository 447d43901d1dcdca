//! A span in which a camera sent no pictures (offline or failing), for the reports' uptime.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "camera_outages")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub camera_id: String,
    pub start_ms: i64,
    /// `None` while the camera is still out.
    pub end_ms: Option<i64>,
    /// The first error of the outage, in words.
    pub reason: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
