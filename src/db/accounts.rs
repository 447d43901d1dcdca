//! Queries for users, sessions, API tokens and the audit log.

use super::Db;
use super::entities::{api_token, audit_entry, push_subscription, session, user};
use crate::error::{Error, Result};
use crate::model::Role;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait};

/// A user about to be created; the password is already hashed.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub name: String,
    pub role: Role,
    pub password_hash: String,
    pub cameras: Vec<String>,
}

/// One audit log line before it is stored.
#[derive(Debug, Clone, Default)]
pub struct NewAudit {
    pub actor: Option<String>,
    pub ip: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub ok: bool,
    pub detail: Option<String>,
}

/// Refuses to take away the last active administrator: `id` is one, and there must be another.
async fn only_admin_check(txn: &sea_orm::DatabaseTransaction, id: i64) -> Result<()> {
    let others = user::Entity::find()
        .filter(user::Column::Role.eq(Role::Admin))
        .filter(user::Column::Disabled.eq(false))
        .filter(user::Column::Id.ne(id))
        .count(txn)
        .await?;
    if others == 0 {
        return Err(Error::conflict(
            "This is the only active administrator; make someone else an administrator first.",
        ));
    }
    Ok(())
}

impl Db {
    /// Runs a change to users, sessions or tokens, then forgets the sign-ins read lately
    /// (`sign_ins`), whether the change was written or not, and also when the change is dropped
    /// part way (its request cancelled after the database took it).
    async fn changing_sign_ins<T>(&self, change: impl std::future::Future<Output = Result<T>>) -> Result<T> {
        let _forget_when_done = self.sign_ins.forget_when_dropped();
        change.await
    }

    pub async fn count_users(&self) -> Result<u64> {
        Ok(user::Entity::find().count(&self.conn).await?)
    }

    pub async fn insert_user(&self, new: &NewUser, now_ms: i64) -> Result<i64> {
        if self.user_by_name(&new.name).await?.is_some() {
            return Err(Error::conflict(format!("there is already a user {:?}", new.name)));
        }
        let model = user::ActiveModel {
            name: Set(new.name.clone()),
            role: Set(new.role),
            password_hash: Set(new.password_hash.clone()),
            cameras: Set(super::json(&new.cameras)),
            disabled: Set(false),
            created_ms: Set(now_ms),
            password_changed_ms: Set(now_ms),
            last_login_ms: Set(None),
            ..Default::default()
        };
        self.insert_row(model).await
    }

    pub async fn user_by_name(&self, name: &str) -> Result<Option<user::Model>> {
        Ok(user::Entity::find().filter(user::Column::Name.eq(name)).one(&self.conn).await?)
    }

    pub async fn user_by_id(&self, id: i64) -> Result<Option<user::Model>> {
        Ok(user::Entity::find_by_id(id).one(&self.conn).await?)
    }

    pub async fn list_users(&self) -> Result<Vec<user::Model>> {
        Ok(user::Entity::find().order_by_asc(user::Column::Name).all(&self.conn).await?)
    }

    pub async fn set_user_password(&self, id: i64, password_hash: &str, now_ms: i64) -> Result<()> {
        self.changing_sign_ins(async {
            user::Entity::update_many()
                .col_expr(user::Column::PasswordHash, Expr::value(password_hash))
                .col_expr(user::Column::PasswordChangedMs, Expr::value(now_ms))
                .filter(user::Column::Id.eq(id))
                .exec(&self.conn)
                .await?;
            Ok(())
        })
        .await
    }

    /// Changes what an admin can change about a user (role, camera limits, disabled) in one
    /// transaction with the rule that one active administrator must remain: refused (conflict)
    /// when the change would leave none. Disabling also ends the user's sessions and revokes its
    /// API tokens at `now_ms`.
    pub async fn change_user_access(
        &self,
        id: i64,
        role: Role,
        cameras: &[String],
        disabled: bool,
        now_ms: i64,
    ) -> Result<()> {
        self.changing_sign_ins(async {
            let txn = self.conn.begin().await?;
            let before = user::Entity::find_by_id(id)
                .one(&txn)
                .await?
                .ok_or_else(|| Error::not_found(format!("There is no user {id}.")))?;
            if before.role == Role::Admin && !before.disabled && (role != Role::Admin || disabled) {
                only_admin_check(&txn, id).await?;
            }
            user::Entity::update_many()
                .col_expr(user::Column::Role, Expr::value(role))
                .col_expr(user::Column::Cameras, Expr::value(super::json(&cameras)))
                .col_expr(user::Column::Disabled, Expr::value(disabled))
                .filter(user::Column::Id.eq(id))
                .exec(&txn)
                .await?;
            if disabled && !before.disabled {
                session::Entity::delete_many().filter(session::Column::UserId.eq(id)).exec(&txn).await?;
                api_token::Entity::update_many()
                    .col_expr(api_token::Column::RevokedMs, Expr::value(now_ms))
                    .filter(api_token::Column::UserId.eq(id))
                    .filter(api_token::Column::RevokedMs.is_null())
                    .exec(&txn)
                    .await?;
            }
            txn.commit().await?;
            Ok(())
        })
        .await
    }

    /// Deletes account `id` with its sessions and API tokens, in one transaction; its audit
    /// entries stay, naming it `tombstone` instead. Refuses the only active administrator.
    pub async fn delete_user(&self, id: i64, tombstone: &str) -> Result<user::Model> {
        self.changing_sign_ins(async {
            let txn = self.conn.begin().await?;
            let user = user::Entity::find_by_id(id)
                .one(&txn)
                .await?
                .ok_or_else(|| Error::not_found(format!("There is no user {id}.")))?;
            if user.role == Role::Admin && !user.disabled {
                only_admin_check(&txn, id).await?;
            }
            session::Entity::delete_many().filter(session::Column::UserId.eq(id)).exec(&txn).await?;
            api_token::Entity::delete_many().filter(api_token::Column::UserId.eq(id)).exec(&txn).await?;
            push_subscription::Entity::delete_many()
                .filter(push_subscription::Column::UserId.eq(id))
                .exec(&txn)
                .await?;
            user::Entity::delete_by_id(id).exec(&txn).await?;
            for column in [audit_entry::Column::Actor, audit_entry::Column::Target] {
                audit_entry::Entity::update_many()
                    .col_expr(column, Expr::value(tombstone))
                    .filter(column.eq(user.name.as_str()))
                    .exec(&txn)
                    .await?;
            }
            txn.commit().await?;
            Ok(user)
        })
        .await
    }

    /// The audit entries by or about `name`, newest first.
    pub async fn audit_of(&self, name: &str) -> Result<Vec<audit_entry::Model>> {
        Ok(audit_entry::Entity::find()
            .filter(audit_entry::Column::Actor.eq(name).or(audit_entry::Column::Target.eq(name)))
            .order_by_desc(audit_entry::Column::Id)
            .all(&self.conn)
            .await?)
    }

    pub async fn touch_user_login(&self, id: i64, now_ms: i64) -> Result<()> {
        self.changing_sign_ins(async {
            user::Entity::update_many()
                .col_expr(user::Column::LastLoginMs, Expr::value(now_ms))
                .filter(user::Column::Id.eq(id))
                .exec(&self.conn)
                .await?;
            Ok(())
        })
        .await
    }

    pub async fn insert_session(&self, record: session::Model) -> Result<()> {
        let model: session::ActiveModel = record.into();
        session::Entity::insert(model).exec_without_returning(&self.conn).await?;
        Ok(())
    }

    /// A session and its user (absent when the account is gone), in one query: every page a
    /// browser asks for is checked this way.
    /// Answered from memory for a moment (`sign_ins`).
    pub async fn get_session_with_user(&self, id: &str) -> Result<Option<(session::Model, Option<user::Model>)>> {
        let read = async {
            Ok(session::Entity::find_by_id(id.to_string()).find_also_related(user::Entity).one(&self.conn).await?)
        };
        self.sign_ins.sessions.get_or_read(id, read).await
    }

    pub async fn touch_session(&self, id: &str, now_ms: i64) -> Result<()> {
        self.changing_sign_ins(async {
            session::Entity::update_many()
                .col_expr(session::Column::LastSeenMs, Expr::value(now_ms))
                .filter(session::Column::Id.eq(id))
                .exec(&self.conn)
                .await?;
            Ok(())
        })
        .await
    }

    pub async fn delete_session(&self, id: &str) -> Result<()> {
        self.changing_sign_ins(async {
            session::Entity::delete_by_id(id.to_string()).exec(&self.conn).await?;
            Ok(())
        })
        .await
    }

    /// Signs a user out everywhere, optionally keeping one session (the one asking).
    pub async fn delete_user_sessions(&self, user_id: i64, keep: Option<&str>) -> Result<u64> {
        self.changing_sign_ins(async {
            let mut query = session::Entity::delete_many().filter(session::Column::UserId.eq(user_id));
            if let Some(keep) = keep {
                query = query.filter(session::Column::Id.ne(keep));
            }
            Ok(query.exec(&self.conn).await?.rows_affected)
        })
        .await
    }

    /// Removes sessions idle since before `idle_cutoff_ms` or created before `created_cutoff_ms`.
    pub async fn delete_expired_sessions(&self, idle_cutoff_ms: i64, created_cutoff_ms: i64) -> Result<u64> {
        self.changing_sign_ins(async {
            let result = session::Entity::delete_many()
                .filter(
                    session::Column::LastSeenMs.lt(idle_cutoff_ms).or(session::Column::CreatedMs.lt(created_cutoff_ms)),
                )
                .exec(&self.conn)
                .await?;
            Ok(result.rows_affected)
        })
        .await
    }

    pub async fn list_user_sessions(&self, user_id: i64) -> Result<Vec<session::Model>> {
        Ok(session::Entity::find()
            .filter(session::Column::UserId.eq(user_id))
            .order_by_desc(session::Column::LastSeenMs)
            .all(&self.conn)
            .await?)
    }

    pub async fn insert_token(&self, record: api_token::Model) -> Result<()> {
        let model: api_token::ActiveModel = record.into();
        api_token::Entity::insert(model).exec_without_returning(&self.conn).await?;
        Ok(())
    }

    pub async fn get_token(&self, id: &str) -> Result<Option<api_token::Model>> {
        Ok(api_token::Entity::find_by_id(id.to_string()).one(&self.conn).await?)
    }

    /// A token and its owner (absent when the account is gone), in one query: every API request
    /// is checked this way.
    /// Answered from memory for a moment (`sign_ins`).
    pub async fn get_token_with_user(&self, id: &str) -> Result<Option<(api_token::Model, Option<user::Model>)>> {
        let read = async {
            Ok(api_token::Entity::find_by_id(id.to_string()).find_also_related(user::Entity).one(&self.conn).await?)
        };
        self.sign_ins.tokens.get_or_read(id, read).await
    }

    /// Tokens, newest first; of one user or of everyone.
    pub async fn list_tokens(&self, user_id: Option<i64>) -> Result<Vec<api_token::Model>> {
        let mut query = api_token::Entity::find();
        if let Some(user_id) = user_id {
            query = query.filter(api_token::Column::UserId.eq(user_id));
        }
        Ok(query.order_by_desc(api_token::Column::CreatedMs).all(&self.conn).await?)
    }

    pub async fn revoke_token(&self, id: &str, now_ms: i64) -> Result<bool> {
        self.changing_sign_ins(async {
            let result = api_token::Entity::update_many()
                .col_expr(api_token::Column::RevokedMs, Expr::value(now_ms))
                .filter(api_token::Column::Id.eq(id))
                .filter(api_token::Column::RevokedMs.is_null())
                .exec(&self.conn)
                .await?;
            Ok(result.rows_affected > 0)
        })
        .await
    }

    /// Marks a token as replaced: it works until `until_ms`.
    pub async fn set_token_grace(&self, id: &str, until_ms: i64) -> Result<()> {
        self.changing_sign_ins(async {
            api_token::Entity::update_many()
                .col_expr(api_token::Column::GraceUntilMs, Expr::value(until_ms))
                .filter(api_token::Column::Id.eq(id))
                .exec(&self.conn)
                .await?;
            Ok(())
        })
        .await
    }

    pub async fn touch_token(&self, id: &str, now_ms: i64) -> Result<()> {
        self.changing_sign_ins(async {
            api_token::Entity::update_many()
                .col_expr(api_token::Column::LastUsedMs, Expr::value(now_ms))
                .filter(api_token::Column::Id.eq(id))
                .exec(&self.conn)
                .await?;
            Ok(())
        })
        .await
    }

    pub async fn insert_audit(&self, entry: &NewAudit, now_ms: i64) -> Result<()> {
        let model = audit_entry::ActiveModel {
            at_ms: Set(now_ms),
            actor: Set(entry.actor.clone()),
            ip: Set(entry.ip.clone()),
            action: Set(entry.action.clone()),
            target: Set(entry.target.clone()),
            ok: Set(entry.ok),
            detail: Set(entry.detail.clone()),
            ..Default::default()
        };
        self.insert_row(model).await?;
        Ok(())
    }

    /// Audit lines newest first; `before` is an id for paging.
    pub async fn list_audit(&self, before: Option<i64>, limit: u64) -> Result<Vec<audit_entry::Model>> {
        let mut query = audit_entry::Entity::find();
        if let Some(before) = before {
            query = query.filter(audit_entry::Column::Id.lt(before));
        }
        Ok(query.order_by_desc(audit_entry::Column::Id).limit(limit.clamp(1, 500)).all(&self.conn).await?)
    }
}
