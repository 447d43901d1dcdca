//! One report's delivery to one recipient of a channel (an e-mail attachment, a Telegram
//! document), and the outbox row it is sent from.

use crate::model::{Channel, DeliveryStatus};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "report_deliveries")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub report_id: i64,
    pub channel: Channel,
    /// A Telegram chat id or the e-mail addresses.
    pub recipient: String,
    pub status: DeliveryStatus,
    pub attempts: i32,
    /// When to try next, while pending.
    pub next_try_ms: i64,
    pub last_error: Option<String>,
    pub created_ms: i64,
    pub sent_ms: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
