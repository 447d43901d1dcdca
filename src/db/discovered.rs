//! Queries for the discovery inbox.

use super::Db;
use super::entities::discovered_device;
use crate::error::Result;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

impl Db {
    /// Records a sighting: a new device starts as `new`; a known one gets its facts and last-seen
    /// time refreshed and keeps its status, and the make and model read from it at adoption when
    /// its announcement has none.
    pub async fn record_discovered(&self, device: discovered_device::Model) -> Result<()> {
        let model = discovered_device::ActiveModel {
            id: Set(device.id),
            kind: Set(device.kind),
            name: Set(device.name),
            manufacturer: Set(device.manufacturer),
            model: Set(device.model),
            address: Set(device.address),
            xaddrs: Set(device.xaddrs),
            status: Set(device.status),
            camera_id: Set(device.camera_id),
            first_seen_ms: Set(device.first_seen_ms),
            last_seen_ms: Set(device.last_seen_ms),
        };
        discovered_device::Entity::insert(model)
            .on_conflict(
                OnConflict::column(discovered_device::Column::Id)
                    .update_columns([
                        discovered_device::Column::Name,
                        discovered_device::Column::Address,
                        discovered_device::Column::Xaddrs,
                        discovered_device::Column::LastSeenMs,
                    ])
                    .values([
                        (
                            discovered_device::Column::Manufacturer,
                            Expr::cust("COALESCE(excluded.manufacturer, discovered_devices.manufacturer)"),
                        ),
                        (
                            discovered_device::Column::Model,
                            Expr::cust("COALESCE(excluded.model, discovered_devices.model)"),
                        ),
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&self.conn)
            .await?;
        Ok(())
    }

    /// Every device found, most recently seen first.
    pub async fn list_discovered(&self) -> Result<Vec<discovered_device::Model>> {
        Ok(discovered_device::Entity::find()
            .order_by_desc(discovered_device::Column::LastSeenMs)
            .order_by_asc(discovered_device::Column::Id)
            .all(&self.conn)
            .await?)
    }

    pub async fn get_discovered(&self, id: &str) -> Result<Option<discovered_device::Model>> {
        Ok(discovered_device::Entity::find_by_id(id.to_string()).one(&self.conn).await?)
    }

    /// The make and model the device told about itself (ONVIF GetDeviceInformation) once signed
    /// in to; empty ones leave what is stored.
    pub async fn set_discovered_make(&self, id: &str, manufacturer: &str, model: &str) -> Result<()> {
        if manufacturer.is_empty() && model.is_empty() {
            return Ok(());
        }
        let mut update = discovered_device::Entity::update_many().filter(discovered_device::Column::Id.eq(id));
        for (column, value) in
            [(discovered_device::Column::Manufacturer, manufacturer), (discovered_device::Column::Model, model)]
        {
            if !value.is_empty() {
                update = update.col_expr(column, Expr::value(value));
            }
        }
        update.exec(&self.conn).await?;
        Ok(())
    }

    pub async fn set_discovered_status(&self, id: &str, status: &str, camera_id: Option<&str>) -> Result<bool> {
        let result = discovered_device::Entity::update_many()
            .col_expr(discovered_device::Column::Status, Expr::value(status))
            .col_expr(discovered_device::Column::CameraId, Expr::value(camera_id.map(str::to_string)))
            .filter(discovered_device::Column::Id.eq(id))
            .exec(&self.conn)
            .await?;
        Ok(result.rows_affected > 0)
    }
}
