//! Queries for the nodes registry and the nodes' sensor events.

use super::Db;
use super::entities::{node, node_event};
use crate::error::Result;
use crate::model::Node;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

/// Node events older than this are deleted as new ones arrive.
const KEEP_EVENTS_MS: i64 = 30 * 24 * 3600 * 1000;

impl Db {
    /// Records that `found` answered at `now_ms`: a new node is added; a known one gets its facts
    /// and last-seen time refreshed and keeps its first-seen time and camera. Returns whether the
    /// node is new.
    pub async fn record_node(&self, found: &Node, now_ms: i64) -> Result<bool> {
        let id = found.key();
        let known = node::Entity::find_by_id(id.clone()).one(&self.conn).await?;
        let info = serde_json::to_string(found).ok();
        let address = found.address.map(|a| a.to_string());
        match known {
            Some(known) => {
                let mut model: node::ActiveModel = known.into();
                model.name = Set(found.name.clone());
                model.kind = Set(found.kind.to_string());
                model.mac = Set(found.mac.clone());
                model.firmware = Set(found.firmware.clone());
                model.address = Set(address);
                model.info = Set(info);
                model.last_seen_ms = Set(Some(now_ms));
                node::Entity::update(model).exec(&self.conn).await?;
                Ok(false)
            }
            None => {
                let model = node::ActiveModel {
                    id: Set(id),
                    name: Set(found.name.clone()),
                    kind: Set(found.kind.to_string()),
                    mac: Set(found.mac.clone()),
                    firmware: Set(found.firmware.clone()),
                    address: Set(address),
                    last_seen_ms: Set(Some(now_ms)),
                    created_ms: Set(now_ms),
                    info: Set(info),
                    camera_id: Set(None),
                };
                node::Entity::insert(model).exec_without_returning(&self.conn).await?;
                Ok(true)
            }
        }
    }

    /// The node was heard from (on its event stream) at `now_ms`.
    pub async fn touch_node(&self, id: &str, now_ms: i64) -> Result<()> {
        node::Entity::update_many()
            .col_expr(node::Column::LastSeenMs, Expr::value(now_ms))
            .filter(node::Column::Id.eq(id))
            .exec(&self.conn)
            .await?;
        Ok(())
    }

    /// Every node, by name.
    pub async fn list_nodes(&self) -> Result<Vec<node::Model>> {
        Ok(node::Entity::find().order_by_asc(node::Column::Name).order_by_asc(node::Column::Id).all(&self.conn).await?)
    }

    pub async fn get_node(&self, id: &str) -> Result<Option<node::Model>> {
        Ok(node::Entity::find_by_id(id.to_string()).one(&self.conn).await?)
    }

    pub async fn set_node_camera(&self, id: &str, camera_id: Option<&str>) -> Result<()> {
        node::Entity::update_many()
            .col_expr(node::Column::CameraId, Expr::value(camera_id.map(str::to_string)))
            .filter(node::Column::Id.eq(id))
            .exec(&self.conn)
            .await?;
        Ok(())
    }

    /// Stores a sensor change (and forgets changes older than 30 days); returns it with its id.
    pub async fn add_node_event(&self, mut event: node_event::Model) -> Result<node_event::Model> {
        let model = node_event::ActiveModel {
            id: Default::default(),
            node_id: Set(event.node_id.clone()),
            sensor: Set(event.sensor.clone()),
            name: Set(event.name.clone()),
            kind: Set(event.kind.clone()),
            active: Set(event.active),
            at_ms: Set(event.at_ms),
        };
        event.id = node_event::Entity::insert(model).exec(&self.conn).await?.last_insert_id;
        node_event::Entity::delete_many()
            .filter(node_event::Column::AtMs.lt(event.at_ms - KEEP_EVENTS_MS))
            .exec(&self.conn)
            .await?;
        Ok(event)
    }

    /// The newest sensor changes, of one node or of all, newest first.
    pub async fn node_events(&self, node_id: Option<&str>, limit: u64) -> Result<Vec<node_event::Model>> {
        let mut query = node_event::Entity::find();
        if let Some(node_id) = node_id {
            query = query.filter(node_event::Column::NodeId.eq(node_id));
        }
        Ok(query
            .order_by_desc(node_event::Column::AtMs)
            .order_by_desc(node_event::Column::Id)
            .limit(limit)
            .all(&self.conn)
            .await?)
    }

    /// The last recorded state of one sensor, if it ever changed.
    pub async fn last_sensor_state(&self, node_id: &str, sensor: &str) -> Result<Option<bool>> {
        Ok(node_event::Entity::find()
            .filter(node_event::Column::NodeId.eq(node_id))
            .filter(node_event::Column::Sensor.eq(sensor))
            .order_by_desc(node_event::Column::Id)
            .one(&self.conn)
            .await?
            .map(|e| e.active))
    }
}
