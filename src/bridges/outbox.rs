//! The outbox: messages that must not be lost (events, alerts, state changes) are written to the
//! database before a bridge tries to send them, and removed only when the far side has
//! acknowledged them. After a restart or a reconnect they go out in the order they were written.
//! The queue is bounded by count and age; what it drops is counted, logged and shown.

use super::HealthCell;
use crate::db::entities::outbox_message::Model as OutboxRow;
use crate::db::{Db, NewOutboxMessage};
use crate::error::Result;
use std::sync::Arc;
use tokio::sync::Notify;

pub struct Outbox {
    db: Db,
    channel: &'static str,
    max_messages: u64,
    max_age_ms: i64,
    notify: Arc<Notify>,
    health: HealthCell,
}

impl Outbox {
    /// Opens `channel`'s queue; what an earlier run left in it is still there.
    pub async fn open(
        db: Db,
        channel: &'static str,
        max_messages: u32,
        max_age_hours: u32,
        health: HealthCell,
    ) -> Result<Self> {
        let outbox = Self {
            db,
            channel,
            max_messages: u64::from(max_messages),
            max_age_ms: i64::from(max_age_hours) * 3_600_000,
            notify: Arc::new(Notify::new()),
            health,
        };
        outbox.trim().await?;
        let pending = outbox.db.outbox_len(channel).await?;
        if pending > 0 {
            tracing::info!(pending, "messages from before are waiting to be delivered");
        }
        outbox.health.update(|h| h.pending = pending);
        Ok(outbox)
    }

    /// Stores a message for delivery. `stamp_id` adds `"id"` (the message's outbox id) to a JSON
    /// object payload when it is sent, so receivers can drop a repeat.
    /// `delivery_id` names the alert delivery it carries, if any.
    pub async fn push(
        &self,
        topic: String,
        payload: Vec<u8>,
        retain: bool,
        stamp_id: bool,
        delivery_id: Option<i64>,
    ) -> Result<()> {
        let created_ms = chrono::Utc::now().timestamp_millis();
        let message = NewOutboxMessage {
            channel: self.channel.into(),
            topic,
            payload,
            retain,
            stamp_id,
            created_ms,
            delivery_id,
        };
        let id = self.db.push_outbox(message).await?;
        tracing::debug!(message = id, delivery = delivery_id, "stored in the outbox");
        let mut pending = 0;
        self.health.update(|h| {
            h.pending += 1;
            pending = h.pending;
        });
        if pending > self.max_messages {
            self.trim().await?;
        }
        self.notify.notify_one();
        Ok(())
    }

    /// Drops messages beyond the size limit (oldest first) and those past the age limit.
    pub async fn trim(&self) -> Result<u64> {
        let cutoff = chrono::Utc::now().timestamp_millis() - self.max_age_ms;
        let dropped = self.db.trim_outbox(self.channel, self.max_messages, cutoff).await?;
        if dropped > 0 {
            let pending = self.db.outbox_len(self.channel).await?;
            tracing::warn!(
                dropped,
                pending,
                "undelivered messages dropped: more than {} waiting, or older than {} h",
                self.max_messages,
                self.max_age_ms / 3_600_000
            );
            self.health.update(|h| {
                h.dropped += dropped;
                h.last_drop_ms = Some(chrono::Utc::now().timestamp_millis());
                h.pending = pending;
            });
        }
        Ok(dropped)
    }

    /// Up to `limit` messages after id `after`, oldest first.
    pub async fn batch(&self, after: i64, limit: u64) -> Result<Vec<OutboxRow>> {
        self.db.outbox_batch(self.channel, after, limit).await
    }

    /// The far side has message `id`: it leaves the queue.
    pub async fn delivered(&self, id: i64) -> Result<()> {
        self.db.remove_outbox(id).await?;
        self.health.update(|h| {
            h.pending = h.pending.saturating_sub(1);
            h.delivered += 1;
        });
        Ok(())
    }

    /// Forgets the waiting messages for `topics` (those of a camera that is gone: sent after its
    /// retained topics were cleared, they would bring the stale state back).
    pub async fn forget_topics(&self, topics: &[String]) -> Result<()> {
        let forgotten = self.db.remove_outbox_topics(self.channel, topics).await?;
        if forgotten > 0 {
            tracing::debug!(forgotten, "waiting messages of removed entities forgotten");
            self.health.update(|h| h.pending = h.pending.saturating_sub(forgotten));
        }
        Ok(())
    }

    /// Resolves when something was pushed since the last call.
    pub async fn notified(&self) {
        self.notify.notified().await
    }
}

/// The payload as sent: a JSON object gets `"id"` first when the row asks for it.
pub fn stamped_payload(row: &OutboxRow) -> Vec<u8> {
    if !row.stamp_id {
        return row.payload.clone();
    }
    match serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&row.payload) {
        Ok(object) => {
            let mut stamped = serde_json::Map::new();
            stamped.insert("id".into(), row.id.into());
            stamped.extend(object.into_iter().filter(|(key, _)| key != "id"));
            serde_json::to_vec(&stamped).unwrap_or_else(|_| row.payload.clone())
        }
        Err(_) => row.payload.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(payload: &str, stamp_id: bool) -> OutboxRow {
        OutboxRow {
            id: 42,
            channel: "mqtt".into(),
            topic: "t".into(),
            payload: payload.as_bytes().to_vec(),
            retain: false,
            stamp_id,
            created_ms: 0,
            delivery_id: None,
        }
    }

    #[test]
    fn json_objects_carry_their_outbox_id() {
        let sent = stamped_payload(&row(r#"{"type":"new","event":{"id":7}}"#, true));
        let value: serde_json::Value = serde_json::from_slice(&sent).unwrap();
        assert_eq!(value["id"], 42);
        assert_eq!(value["event"]["id"], 7, "the inner event keeps its own id");
        assert_eq!(stamped_payload(&row("ON", true)), b"ON", "plain payloads are sent as they are");
        assert_eq!(stamped_payload(&row(r#"{"a":1}"#, false)), br#"{"a":1}"#);
    }
}
