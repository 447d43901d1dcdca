//! A person who signs in to the web UI: name, role, argon2id password hash, camera limits.

use crate::model::Role;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub name: String,
    /// `admin` or `viewer`.
    pub role: Role,
    /// PHC string (`$argon2id$v=19$…`).
    pub password_hash: String,
    /// JSON list of camera ids this user may see; `[]` means every camera.
    pub cameras: String,
    pub disabled: bool,
    pub created_ms: i64,
    pub password_changed_ms: i64,
    pub last_login_ms: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
