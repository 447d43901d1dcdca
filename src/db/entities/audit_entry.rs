//! One line of the audit log: who did what, from where, and whether it worked.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub at_ms: i64,
    /// The user name, or `None` for the system and for failed sign-ins of unknown names.
    pub actor: Option<String>,
    pub ip: Option<String>,
    /// A dotted verb, e.g. `auth.login`, `user.create`, `camera.delete`.
    pub action: String,
    pub target: Option<String>,
    pub ok: bool,
    pub detail: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
