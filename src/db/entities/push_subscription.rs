//! A browser or installed app that turned on push notifications (see `bridges::push`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "push_subscriptions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Whose device it is: it gets the alerts of the cameras this user may see.
    pub user_id: i64,
    /// What the user calls the device ("Anna's phone").
    pub name: String,
    /// The push service's address for this device (unique per device and browser).
    pub endpoint: String,
    /// The browser's P-256 public key and authentication secret (base64url).
    pub p256dh: String,
    pub auth: String,
    pub created_ms: i64,
    /// When a message last reached the push service.
    pub last_sent_ms: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
