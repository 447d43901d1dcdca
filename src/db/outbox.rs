//! Queries for the outbox (messages kept until a bridge has delivered them) and for run-time
//! settings (key → JSON text).

use super::Db;
use super::entities::{outbox_message, setting};
use crate::error::Result;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set};

/// A message to put in the outbox.
#[derive(Debug, Clone)]
pub struct NewOutboxMessage {
    pub channel: String,
    pub topic: String,
    pub payload: Vec<u8>,
    pub retain: bool,
    pub stamp_id: bool,
    pub created_ms: i64,
    /// The alert delivery it carries.
    pub delivery_id: Option<i64>,
}

impl Db {
    pub async fn push_outbox(&self, message: NewOutboxMessage) -> Result<i64> {
        let model = outbox_message::ActiveModel {
            channel: Set(message.channel),
            topic: Set(message.topic),
            payload: Set(message.payload),
            retain: Set(message.retain),
            stamp_id: Set(message.stamp_id),
            created_ms: Set(message.created_ms),
            delivery_id: Set(message.delivery_id),
            ..Default::default()
        };
        self.insert_row(model).await
    }

    /// The oldest `limit` messages of `channel` with an id above `after`, oldest first.
    pub async fn outbox_batch(&self, channel: &str, after: i64, limit: u64) -> Result<Vec<outbox_message::Model>> {
        Ok(outbox_message::Entity::find()
            .filter(outbox_message::Column::Channel.eq(channel))
            .filter(outbox_message::Column::Id.gt(after))
            .order_by_asc(outbox_message::Column::Id)
            .limit(limit)
            .all(&self.conn)
            .await?)
    }

    pub async fn remove_outbox(&self, id: i64) -> Result<()> {
        outbox_message::Entity::delete_by_id(id).exec(&self.conn).await?;
        Ok(())
    }

    /// Deletes `channel`'s waiting messages for `topics`; returns how many went.
    pub async fn remove_outbox_topics(&self, channel: &str, topics: &[String]) -> Result<u64> {
        if topics.is_empty() {
            return Ok(0);
        }
        let deleted = outbox_message::Entity::delete_many()
            .filter(outbox_message::Column::Channel.eq(channel))
            .filter(outbox_message::Column::Topic.is_in(topics.iter().map(String::as_str)))
            .exec(&self.conn)
            .await?;
        Ok(deleted.rows_affected)
    }

    pub async fn outbox_len(&self, channel: &str) -> Result<u64> {
        Ok(outbox_message::Entity::find().filter(outbox_message::Column::Channel.eq(channel)).count(&self.conn).await?)
    }

    /// Deletes the oldest messages of `channel` beyond `keep`, and those created before
    /// `older_than_ms`; returns how many went.
    pub async fn trim_outbox(&self, channel: &str, keep: u64, older_than_ms: i64) -> Result<u64> {
        let mut removed = outbox_message::Entity::delete_many()
            .filter(outbox_message::Column::Channel.eq(channel))
            .filter(outbox_message::Column::CreatedMs.lt(older_than_ms))
            .exec(&self.conn)
            .await?
            .rows_affected;
        let len = self.outbox_len(channel).await?;
        if len > keep {
            // The id of the newest message that must go: everything up to it is deleted.
            let cut = outbox_message::Entity::find()
                .select_only()
                .column(outbox_message::Column::Id)
                .filter(outbox_message::Column::Channel.eq(channel))
                .order_by_asc(outbox_message::Column::Id)
                .offset(len - keep - 1)
                .limit(1)
                .into_tuple::<i64>()
                .one(&self.conn)
                .await?;
            if let Some(cut) = cut {
                removed += outbox_message::Entity::delete_many()
                    .filter(outbox_message::Column::Channel.eq(channel))
                    .filter(outbox_message::Column::Id.lte(cut))
                    .exec(&self.conn)
                    .await?
                    .rows_affected;
            }
        }
        Ok(removed)
    }

    /// A run-time setting's JSON text, if it was ever saved.
    pub async fn setting(&self, key: &str) -> Result<Option<String>> {
        Ok(setting::Entity::find_by_id(key.to_string()).one(&self.conn).await?.map(|row| row.value))
    }

    pub async fn put_setting(&self, key: &str, value: &str) -> Result<()> {
        let model = setting::ActiveModel {
            key: Set(key.to_string()),
            value: Set(value.to_string()),
            updated_ms: Set(chrono::Utc::now().timestamp_millis()),
        };
        setting::Entity::insert(model)
            .on_conflict(
                OnConflict::column(setting::Column::Key)
                    .update_columns([setting::Column::Value, setting::Column::UpdatedMs])
                    .to_owned(),
            )
            .exec_without_returning(&self.conn)
            .await?;
        Ok(())
    }

    /// Every setting whose key starts with `prefix`, as `(key, value)`.
    pub async fn settings_with_prefix(&self, prefix: &str) -> Result<Vec<(String, String)>> {
        Ok(setting::Entity::find()
            .filter(setting::Column::Key.starts_with(prefix))
            .all(&self.conn)
            .await?
            .into_iter()
            .map(|row| (row.key, row.value))
            .collect())
    }

    pub async fn delete_setting(&self, key: &str) -> Result<()> {
        setting::Entity::delete_by_id(key.to_string()).exec(&self.conn).await?;
        Ok(())
    }
}
