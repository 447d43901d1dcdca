//! Queries for push subscriptions: one per device, owned by a user, removed by the user or when
//! the push service says the device is gone.

use super::Db;
use super::entities::{push_subscription, user};
use crate::error::Result;
use crate::model::CameraScope;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

/// A subscription as the browser hands it over.
#[derive(Debug, Clone)]
pub struct NewPushSubscription {
    pub user_id: i64,
    pub name: String,
    pub endpoint: String,
    pub p256dh: String,
    pub auth: String,
}

impl Db {
    /// Stores `new`; a device that subscribes again (same endpoint) replaces its old row, whoever
    /// owned it (the browser's push subscription is one per browser profile). Its id.
    pub async fn add_push_subscription(&self, new: NewPushSubscription, now_ms: i64) -> Result<i64> {
        push_subscription::Entity::delete_many()
            .filter(push_subscription::Column::Endpoint.eq(new.endpoint.as_str()))
            .exec(&self.conn)
            .await?;
        self.insert_row(push_subscription::ActiveModel {
            user_id: Set(new.user_id),
            name: Set(new.name),
            endpoint: Set(new.endpoint),
            p256dh: Set(new.p256dh),
            auth: Set(new.auth),
            created_ms: Set(now_ms),
            last_sent_ms: Set(None),
            ..Default::default()
        })
        .await
    }

    /// Every subscription, oldest first.
    pub async fn push_subscriptions(&self) -> Result<Vec<push_subscription::Model>> {
        Ok(push_subscription::Entity::find().order_by_asc(push_subscription::Column::Id).all(&self.conn).await?)
    }

    /// The devices whose owners may see camera `camera_id` (accounts not disabled, their camera
    /// limit allowing it), oldest first.
    pub async fn push_subscriptions_for_camera(&self, camera_id: &str) -> Result<Vec<push_subscription::Model>> {
        let allowed: std::collections::HashSet<i64> = user::Entity::find()
            .filter(user::Column::Disabled.eq(false))
            .all(&self.conn)
            .await?
            .into_iter()
            .filter(|u| CameraScope::parse(&u.cameras).allows(camera_id))
            .map(|u| u.id)
            .collect();
        let all = self.push_subscriptions().await?;
        Ok(all.into_iter().filter(|s| allowed.contains(&s.user_id)).collect())
    }

    /// `user_id`'s devices, oldest first.
    pub async fn push_subscriptions_of(&self, user_id: i64) -> Result<Vec<push_subscription::Model>> {
        Ok(push_subscription::Entity::find()
            .filter(push_subscription::Column::UserId.eq(user_id))
            .order_by_asc(push_subscription::Column::Id)
            .all(&self.conn)
            .await?)
    }

    pub async fn push_subscription(&self, id: i64) -> Result<Option<push_subscription::Model>> {
        Ok(push_subscription::Entity::find_by_id(id).one(&self.conn).await?)
    }

    /// Removes subscription `id` (only `user_id`'s, when given); whether it existed.
    pub async fn remove_push_subscription(&self, id: i64, user_id: Option<i64>) -> Result<bool> {
        let mut query = push_subscription::Entity::delete_many().filter(push_subscription::Column::Id.eq(id));
        if let Some(user_id) = user_id {
            query = query.filter(push_subscription::Column::UserId.eq(user_id));
        }
        Ok(query.exec(&self.conn).await?.rows_affected > 0)
    }

    /// The browser replaced the subscription at `old_endpoint` (it rotated its keys or its push
    /// service moved it): the device keeps its owner and name with the new endpoint and keys.
    /// Whether a device had `old_endpoint`.
    pub async fn replace_push_endpoint(
        &self,
        old_endpoint: &str,
        endpoint: &str,
        p256dh: &str,
        auth: &str,
    ) -> Result<bool> {
        let result = push_subscription::Entity::update_many()
            .col_expr(push_subscription::Column::Endpoint, Expr::value(endpoint))
            .col_expr(push_subscription::Column::P256dh, Expr::value(p256dh))
            .col_expr(push_subscription::Column::Auth, Expr::value(auth))
            .filter(push_subscription::Column::Endpoint.eq(old_endpoint))
            .exec(&self.conn)
            .await?;
        Ok(result.rows_affected > 0)
    }

    pub async fn push_subscription_sent(&self, id: i64, now_ms: i64) -> Result<()> {
        push_subscription::Entity::update_many()
            .col_expr(push_subscription::Column::LastSentMs, Expr::value(now_ms))
            .filter(push_subscription::Column::Id.eq(id))
            .exec(&self.conn)
            .await?;
        Ok(())
    }
}
