//! An ESP32 / ESPHome node found over mDNS, keyed by its MAC address (or host name when it gave
//! none): what it said about itself, when it was last seen, and the camera it became if adopted.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "nodes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub name: String,
    /// `esphome`, `watchpost-node` or `esp32`.
    pub kind: String,
    pub mac: Option<String>,
    pub firmware: Option<String>,
    pub address: Option<String>,
    pub last_seen_ms: Option<i64>,
    /// First seen.
    pub created_ms: i64,
    /// The whole mDNS record (`discovery::mdns::Node`) as JSON.
    pub info: Option<String>,
    pub camera_id: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
