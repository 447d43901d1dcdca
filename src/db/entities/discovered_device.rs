//! A device found on the LAN (an ONVIF camera now) and what the user decided: new, adopted (with
//! the camera it became) or ignored.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "discovered_devices")]
pub struct Model {
    /// The WS-Discovery endpoint reference.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub kind: String,
    pub name: Option<String>,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub address: String,
    /// JSON list of device service URLs.
    pub xaddrs: String,
    pub status: String,
    pub camera_id: Option<String>,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
