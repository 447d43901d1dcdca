//! One channel's delivery of one alert to one recipient, and the outbox row it is sent from.

use crate::model::{Channel, DeliveryStatus};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "alert_deliveries")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The event that alerted.
    pub event_id: i64,
    pub channel: Channel,
    /// A Telegram chat id, the e-mail addresses, or `home-assistant`.
    pub recipient: String,
    pub status: DeliveryStatus,
    pub attempts: i32,
    /// When to try next, while pending.
    pub next_try_ms: i64,
    pub last_error: Option<String>,
    pub created_ms: i64,
    pub sent_ms: Option<i64>,
    /// What the far side calls the message (a Telegram message id), to edit it later.
    pub remote_ref: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
