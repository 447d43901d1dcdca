//! Queries for WhatsApp opt-ins: numbers waiting for their code, verified numbers, when each last
//! wrote.

use super::Db;
use super::entities::whatsapp_number;
use crate::error::Result;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

impl Db {
    /// Starts (or starts again) the opt-in of `number` with `code`.
    pub async fn whatsapp_pending(&self, number: &str, code: &str, now_ms: i64) -> Result<()> {
        let model = whatsapp_number::ActiveModel {
            number: Set(number.to_string()),
            status: Set("pending".into()),
            code: Set(code.to_string()),
            created_ms: Set(now_ms),
            verified_ms: Set(None),
            last_inbound_ms: Set(None),
        };
        whatsapp_number::Entity::insert(model)
            .on_conflict(
                OnConflict::column(whatsapp_number::Column::Number)
                    .update_columns([
                        whatsapp_number::Column::Status,
                        whatsapp_number::Column::Code,
                        whatsapp_number::Column::CreatedMs,
                        whatsapp_number::Column::VerifiedMs,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&self.conn)
            .await?;
        Ok(())
    }

    pub async fn whatsapp_numbers(&self) -> Result<Vec<whatsapp_number::Model>> {
        Ok(whatsapp_number::Entity::find().order_by_asc(whatsapp_number::Column::CreatedMs).all(&self.conn).await?)
    }

    pub async fn whatsapp_number(&self, number: &str) -> Result<Option<whatsapp_number::Model>> {
        Ok(whatsapp_number::Entity::find_by_id(number.to_string()).one(&self.conn).await?)
    }

    /// `number` wrote at `now_ms`; a pending number whose code was issued after `codes_since_ms`
    /// and matches `code` becomes verified. Whether it did.
    pub async fn whatsapp_inbound(
        &self,
        number: &str,
        code: Option<&str>,
        now_ms: i64,
        codes_since_ms: i64,
    ) -> Result<bool> {
        whatsapp_number::Entity::update_many()
            .col_expr(whatsapp_number::Column::LastInboundMs, Expr::value(now_ms))
            .filter(whatsapp_number::Column::Number.eq(number))
            .exec(&self.conn)
            .await?;
        let Some(code) = code else { return Ok(false) };
        let verified = whatsapp_number::Entity::update_many()
            .col_expr(whatsapp_number::Column::Status, Expr::value("verified"))
            .col_expr(whatsapp_number::Column::VerifiedMs, Expr::value(now_ms))
            .filter(whatsapp_number::Column::Number.eq(number))
            .filter(whatsapp_number::Column::Status.eq("pending"))
            .filter(whatsapp_number::Column::Code.eq(code))
            .filter(whatsapp_number::Column::CreatedMs.gte(codes_since_ms))
            .exec(&self.conn)
            .await?;
        Ok(verified.rows_affected > 0)
    }

    pub async fn whatsapp_remove(&self, number: &str) -> Result<bool> {
        let result = whatsapp_number::Entity::delete_by_id(number.to_string()).exec(&self.conn).await?;
        Ok(result.rows_affected > 0)
    }
}
