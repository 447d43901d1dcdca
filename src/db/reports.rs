//! Queries for reports: the camera outages their uptime comes from, the events of a period, and
//! the reports made with their deliveries.

use super::Db;
use super::entities::{camera_outage, event, report, report_delivery};
use crate::error::Result;
use crate::model::{Channel, DeliveryStatus};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait};

/// A report to record, with where it is to be sent.
#[derive(Debug, Clone)]
pub struct NewReport {
    pub name: String,
    pub period: String,
    pub from_ms: i64,
    pub to_ms: i64,
    pub timezone: String,
    pub cameras: Vec<String>,
    pub created_ms: i64,
    pub path: String,
    pub bytes: i64,
    pub pages: i32,
    pub events: i64,
    pub requested_by: Option<String>,
    pub send_to: Vec<super::Recipient>,
}

impl Db {
    /// Camera `camera` stopped sending pictures at `now_ms`: opens an outage unless one is open.
    pub async fn camera_went_out(&self, camera: &str, now_ms: i64, reason: Option<&str>) -> Result<()> {
        let open = camera_outage::Entity::find()
            .filter(camera_outage::Column::CameraId.eq(camera))
            .filter(camera_outage::Column::EndMs.is_null())
            .one(&self.conn)
            .await?;
        if open.is_none() {
            self.insert_row(camera_outage::ActiveModel {
                camera_id: Set(camera.to_string()),
                start_ms: Set(now_ms),
                end_ms: Set(None),
                reason: Set(reason.map(str::to_string)),
                ..Default::default()
            })
            .await?;
        }
        Ok(())
    }

    /// Camera `camera` sends pictures again (or was switched off): its open outage ends at `now_ms`.
    pub async fn camera_came_back(&self, camera: &str, now_ms: i64) -> Result<()> {
        camera_outage::Entity::update_many()
            .col_expr(camera_outage::Column::EndMs, Expr::value(now_ms))
            .filter(camera_outage::Column::CameraId.eq(camera))
            .filter(camera_outage::Column::EndMs.is_null())
            .exec(&self.conn)
            .await?;
        Ok(())
    }

    /// Forgets a camera's outages (with the rest of its history).
    pub async fn forget_camera_outages(&self, camera: &str) -> Result<()> {
        camera_outage::Entity::delete_many()
            .filter(camera_outage::Column::CameraId.eq(camera))
            .exec(&self.conn)
            .await?;
        Ok(())
    }

    /// The outages that overlap `[from_ms, to_ms)`, oldest first.
    pub async fn outages_between(&self, from_ms: i64, to_ms: i64) -> Result<Vec<camera_outage::Model>> {
        Ok(camera_outage::Entity::find()
            .filter(camera_outage::Column::StartMs.lt(to_ms))
            .filter(camera_outage::Column::EndMs.is_null().or(camera_outage::Column::EndMs.gt(from_ms)))
            .order_by_asc(camera_outage::Column::StartMs)
            .all(&self.conn)
            .await?)
    }

    /// Every event that started in `[from_ms, to_ms)` on `cameras` (all when empty), oldest first,
    /// without the text search reads.
    pub async fn events_between(&self, from_ms: i64, to_ms: i64, cameras: &[String]) -> Result<Vec<event::Model>> {
        let mut query =
            event::Entity::find().filter(event::Column::StartMs.gte(from_ms)).filter(event::Column::StartMs.lt(to_ms));
        if !cameras.is_empty() {
            query = query.filter(event::Column::CameraId.is_in(cameras.iter().map(String::as_str)));
        }
        let mut events = query.order_by_asc(event::Column::StartMs).all(&self.conn).await?;
        for event in &mut events {
            event.search_text = None;
        }
        Ok(events)
    }

    /// Records a report and a pending delivery to each of its recipients, in one transaction.
    pub async fn insert_report(&self, new: NewReport) -> Result<report::Model> {
        let txn = self.conn.begin().await?;
        let row = report::ActiveModel {
            name: Set(new.name),
            period: Set(new.period),
            from_ms: Set(new.from_ms),
            to_ms: Set(new.to_ms),
            timezone: Set(new.timezone),
            cameras: Set(serde_json::to_string(&new.cameras).unwrap_or_else(|_| "[]".into())),
            created_ms: Set(new.created_ms),
            path: Set(new.path),
            bytes: Set(new.bytes),
            pages: Set(new.pages),
            events: Set(new.events),
            requested_by: Set(new.requested_by),
            ..Default::default()
        };
        // `Insert::exec`, not `ActiveModel::insert`: see `Db::insert_row`.
        let id = report::Entity::insert(row).exec(&txn).await?.last_insert_id;
        let stored = report::Entity::find_by_id(id)
            .one(&txn)
            .await?
            .ok_or_else(|| crate::error::Error::internal("the report just stored cannot be read back"))?;
        for to in &new.send_to {
            let delivery = report_delivery::ActiveModel {
                report_id: Set(stored.id),
                channel: Set(to.channel),
                recipient: Set(to.recipient.clone()),
                status: Set(DeliveryStatus::Pending),
                attempts: Set(0),
                next_try_ms: Set(new.created_ms),
                last_error: Set(None),
                created_ms: Set(new.created_ms),
                sent_ms: Set(None),
                ..Default::default()
            };
            report_delivery::Entity::insert(delivery).exec_without_returning(&txn).await?;
        }
        txn.commit().await?;
        Ok(stored)
    }

    /// The newest reports first, `limit` at most.
    pub async fn list_reports(&self, limit: u64) -> Result<Vec<report::Model>> {
        Ok(report::Entity::find().order_by_desc(report::Column::Id).limit(limit).all(&self.conn).await?)
    }

    pub async fn get_report(&self, id: i64) -> Result<Option<report::Model>> {
        Ok(report::Entity::find_by_id(id).one(&self.conn).await?)
    }

    /// Whether the schedule `name` already made its report of the period starting at `from_ms`.
    pub async fn report_made(&self, name: &str, from_ms: i64) -> Result<bool> {
        Ok(report::Entity::find()
            .filter(report::Column::Name.eq(name))
            .filter(report::Column::FromMs.eq(from_ms))
            .filter(report::Column::RequestedBy.is_null())
            .one(&self.conn)
            .await?
            .is_some())
    }

    /// `channel`'s pending report deliveries due by `now_ms`, oldest first.
    pub async fn due_report_deliveries(
        &self,
        channel: Channel,
        now_ms: i64,
        limit: u64,
    ) -> Result<Vec<report_delivery::Model>> {
        Ok(report_delivery::Entity::find()
            .filter(report_delivery::Column::Channel.eq(channel))
            .filter(report_delivery::Column::Status.eq(DeliveryStatus::Pending))
            .filter(report_delivery::Column::NextTryMs.lte(now_ms))
            .order_by_asc(report_delivery::Column::Id)
            .limit(limit)
            .all(&self.conn)
            .await?)
    }

    /// When `channel`'s next pending report delivery is due.
    pub async fn next_report_delivery_ms(&self, channel: Channel) -> Result<Option<i64>> {
        Ok(report_delivery::Entity::find()
            .select_only()
            .column_as(report_delivery::Column::NextTryMs.min(), "next")
            .filter(report_delivery::Column::Channel.eq(channel))
            .filter(report_delivery::Column::Status.eq(DeliveryStatus::Pending))
            .into_tuple::<Option<i64>>()
            .one(&self.conn)
            .await?
            .flatten())
    }

    /// Every delivery of report `id`, in the order they were made.
    pub async fn report_deliveries_of(&self, id: i64) -> Result<Vec<report_delivery::Model>> {
        Ok(report_delivery::Entity::find()
            .filter(report_delivery::Column::ReportId.eq(id))
            .order_by_asc(report_delivery::Column::Id)
            .all(&self.conn)
            .await?)
    }

    /// Records how a report delivery's try went: sent, to try again at `next_try_ms`, or given up.
    pub async fn report_delivery_tried(
        &self,
        id: i64,
        status: DeliveryStatus,
        now_ms: i64,
        next_try_ms: i64,
        error: Option<&str>,
    ) -> Result<()> {
        let mut query = report_delivery::Entity::update_many()
            .col_expr(report_delivery::Column::Status, Expr::value(status))
            .col_expr(report_delivery::Column::Attempts, Expr::col(report_delivery::Column::Attempts).add(1))
            .col_expr(report_delivery::Column::NextTryMs, Expr::value(next_try_ms));
        if status == DeliveryStatus::Sent {
            query = query.col_expr(report_delivery::Column::SentMs, Expr::value(now_ms));
        }
        if let Some(error) = error {
            query = query.col_expr(report_delivery::Column::LastError, Expr::value(error.to_string()));
        }
        query.filter(report_delivery::Column::Id.eq(id)).exec(&self.conn).await?;
        Ok(())
    }
}
