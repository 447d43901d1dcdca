//! A message waiting for a bridge to deliver it (see `bridges::outbox`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "outbox_messages")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The bridge that delivers it (`mqtt`).
    pub channel: String,
    pub topic: String,
    pub payload: Vec<u8>,
    pub retain: bool,
    /// Add `"id": <id>` to the JSON object payload when sending, so receivers can drop repeats.
    pub stamp_id: bool,
    pub created_ms: i64,
    /// The alert delivery this message carries, marked sent when the far side acknowledges it.
    pub delivery_id: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
