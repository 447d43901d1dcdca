//! A camera's saved settings and its last known status (kept across restarts).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "cameras")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub name: String,
    /// `config` (from the config file, read-only in the UI) or `ui` (added in the UI or API).
    pub source: String,
    /// The `CameraConfig` as JSON, its URL without user name and password.
    pub settings: String,
    /// The URL's `user:password`, sealed with the credential key (see `auth::vault`).
    pub credentials: Option<String>,
    pub status: String,
    pub last_error: Option<String>,
    pub last_frame_ms: Option<i64>,
    pub updated_ms: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
