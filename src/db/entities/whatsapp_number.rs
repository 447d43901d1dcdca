//! A phone number that asked for WhatsApp alerts (see `bridges::whatsapp`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "whatsapp_numbers")]
pub struct Model {
    /// Digits with the country code, no `+` (`4915112345678`), as WhatsApp names senders.
    #[sea_orm(primary_key, auto_increment = false)]
    pub number: String,
    /// `pending` until the code arrives from the number, then `verified`.
    pub status: String,
    /// The one-time code the person sends.
    pub code: String,
    pub created_ms: i64,
    pub verified_ms: Option<i64>,
    /// When the person last wrote: free-form messages are allowed for 24 hours after.
    pub last_inbound_ms: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
