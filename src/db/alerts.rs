//! Queries for alerts: marking an event as alerted together with the deliveries it needs (one per
//! channel and recipient), and the delivery rows the channels send from, retry and give up on.

use super::Db;
use super::entities::{alert_delivery, event};
use crate::error::Result;
use crate::model::{Channel, DeliveryStatus};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait};

/// Where an alert goes: a channel and one recipient on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub channel: Channel,
    pub recipient: String,
}

impl Db {
    /// Makes event `id` an alert of `severity` (raised, never lowered) with a pending delivery to
    /// each recipient; `false` when it already alerted, so an event alerts once.
    pub async fn mark_alerted(
        &self,
        id: i64,
        severity: crate::model::Severity,
        now_ms: i64,
        recipients: &[Recipient],
    ) -> Result<bool> {
        let txn = self.conn.begin().await?;
        // A write first: SQLite takes the write lock now (waiting its busy timeout), where a read
        // first would fail with SQLITE_BUSY_SNAPSHOT if another writer came in between.
        let claimed = event::Entity::update_many()
            .col_expr(event::Column::AlertedMs, Expr::value(now_ms))
            .filter(event::Column::Id.eq(id))
            .filter(event::Column::AlertedMs.is_null())
            .exec(&txn)
            .await?;
        if claimed.rows_affected == 0 {
            return Ok(false);
        }
        let Some(stored) = event::Entity::find_by_id(id).one(&txn).await? else { return Ok(false) };
        let severity = Ord::max(stored.severity, severity);
        event::Entity::update_many()
            .col_expr(event::Column::Severity, Expr::value(severity))
            .filter(event::Column::Id.eq(id))
            .exec(&txn)
            .await?;
        for to in recipients {
            let delivery = alert_delivery::ActiveModel {
                event_id: Set(id),
                channel: Set(to.channel),
                recipient: Set(to.recipient.clone()),
                status: Set(DeliveryStatus::Pending),
                attempts: Set(0),
                next_try_ms: Set(now_ms),
                last_error: Set(None),
                created_ms: Set(now_ms),
                sent_ms: Set(None),
                remote_ref: Set(None),
                ..Default::default()
            };
            alert_delivery::Entity::insert(delivery).exec_without_returning(&txn).await?;
        }
        txn.commit().await?;
        Ok(true)
    }

    /// `channel`'s pending deliveries due by `now_ms`, oldest first.
    pub async fn due_deliveries(
        &self,
        channel: Channel,
        now_ms: i64,
        limit: u64,
    ) -> Result<Vec<alert_delivery::Model>> {
        Ok(alert_delivery::Entity::find()
            .filter(alert_delivery::Column::Channel.eq(channel))
            .filter(alert_delivery::Column::Status.eq(DeliveryStatus::Pending))
            .filter(alert_delivery::Column::NextTryMs.lte(now_ms))
            .order_by_asc(alert_delivery::Column::Id)
            .limit(limit)
            .all(&self.conn)
            .await?)
    }

    /// When `channel`'s next pending delivery is due.
    pub async fn next_delivery_ms(&self, channel: Channel) -> Result<Option<i64>> {
        Ok(alert_delivery::Entity::find()
            .select_only()
            .column_as(alert_delivery::Column::NextTryMs.min(), "next")
            .filter(alert_delivery::Column::Channel.eq(channel))
            .filter(alert_delivery::Column::Status.eq(DeliveryStatus::Pending))
            .into_tuple::<Option<i64>>()
            .one(&self.conn)
            .await?
            .flatten())
    }

    /// How many of `channel`'s deliveries are in `status`.
    pub async fn count_deliveries(&self, channel: Channel, status: DeliveryStatus) -> Result<u64> {
        Ok(alert_delivery::Entity::find()
            .filter(alert_delivery::Column::Channel.eq(channel))
            .filter(alert_delivery::Column::Status.eq(status))
            .count(&self.conn)
            .await?)
    }

    /// Every delivery of event `id`'s alert, in the order they were made.
    pub async fn deliveries_of(&self, event_id: i64) -> Result<Vec<alert_delivery::Model>> {
        Ok(alert_delivery::Entity::find()
            .filter(alert_delivery::Column::EventId.eq(event_id))
            .order_by_asc(alert_delivery::Column::Id)
            .all(&self.conn)
            .await?)
    }

    /// The far side has it; `remote_ref` names it there.
    pub async fn delivery_sent(&self, id: i64, now_ms: i64, remote_ref: Option<String>) -> Result<()> {
        self.set_delivery(id, DeliveryStatus::Sent, |q| {
            q.col_expr(alert_delivery::Column::SentMs, Expr::value(now_ms))
                .col_expr(alert_delivery::Column::RemoteRef, Expr::value(remote_ref))
                .col_expr(alert_delivery::Column::Attempts, Expr::col(alert_delivery::Column::Attempts).add(1))
        })
        .await
    }

    /// Handed to a queue that delivers it (the MQTT outbox).
    pub async fn delivery_queued(&self, id: i64) -> Result<()> {
        self.set_delivery(id, DeliveryStatus::Queued, |q| q).await
    }

    /// A failed try; the next one at `next_try_ms`.
    pub async fn delivery_retry(&self, id: i64, next_try_ms: i64, error: &str) -> Result<()> {
        let error = error.to_string();
        self.set_delivery(id, DeliveryStatus::Pending, |q| {
            q.col_expr(alert_delivery::Column::NextTryMs, Expr::value(next_try_ms))
                .col_expr(alert_delivery::Column::LastError, Expr::value(error))
                .col_expr(alert_delivery::Column::Attempts, Expr::col(alert_delivery::Column::Attempts).add(1))
        })
        .await
    }

    /// Given up: it stays in the log with why.
    pub async fn delivery_failed(&self, id: i64, error: &str) -> Result<()> {
        let error = error.to_string();
        self.set_delivery(id, DeliveryStatus::Failed, |q| {
            q.col_expr(alert_delivery::Column::LastError, Expr::value(error))
        })
        .await
    }

    async fn set_delivery(
        &self,
        id: i64,
        status: DeliveryStatus,
        more: impl FnOnce(sea_orm::UpdateMany<alert_delivery::Entity>) -> sea_orm::UpdateMany<alert_delivery::Entity>,
    ) -> Result<()> {
        let query = alert_delivery::Entity::update_many()
            .col_expr(alert_delivery::Column::Status, Expr::value(status))
            .filter(alert_delivery::Column::Id.eq(id));
        more(query).exec(&self.conn).await?;
        Ok(())
    }

    /// Replaces event `id`'s tags; whether it exists.
    pub async fn set_event_tags(&self, id: i64, tags: &[String]) -> Result<bool> {
        let result = event::Entity::update_many()
            .col_expr(event::Column::Tags, Expr::value(serde_json::to_string(tags).unwrap_or_else(|_| "[]".into())))
            .filter(event::Column::Id.eq(id))
            .exec(&self.conn)
            .await?;
        Ok(result.rows_affected > 0)
    }

    /// Sets `status` on the events among `ids` (within `allowed_cameras` when given); how many.
    pub async fn set_events_status(
        &self,
        ids: &[i64],
        status: crate::model::EventStatus,
        allowed_cameras: Option<&[String]>,
    ) -> Result<u64> {
        let mut query = event::Entity::update_many()
            .col_expr(event::Column::Status, Expr::value(status))
            .filter(event::Column::Id.is_in(ids.iter().copied()));
        if let Some(allowed) = allowed_cameras {
            query = query.filter(event::Column::CameraId.is_in(allowed.iter().map(String::as_str)));
        }
        Ok(query.exec(&self.conn).await?.rows_affected)
    }
}
