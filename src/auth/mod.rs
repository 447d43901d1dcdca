//! Who is asking and what they may do: accounts with argon2id passwords, browser sessions with
//! CSRF tokens, rate-limited sign-in, API tokens (JWT) with re-issue and key rotation, the audit
//! log, and the vault that seals device credentials.
//!
//! The web layer calls [`Auth`] to turn a cookie or a bearer token into an [`Identity`]; the CLI
//! calls it for headless set-up. Keys live in `<data-dir>/keys/`, readable by the owner only.

mod limiter;
mod password;
mod secrets;
mod tokens;
pub mod vault;

use crate::checks::{Checks, ConfigIssue};
use crate::clock::SharedClock;
use crate::db::entities::{api_token, session, user};
use crate::db::{Db, NewAudit, NewUser};
use crate::error::{Error, ErrorKind, Result};
use crate::model::CameraScope;
use crate::model::Role;
use limiter::LoginLimiter;
pub use password::MIN_LENGTH as MIN_PASSWORD_LENGTH;
pub use secrets::{constant_time_eq, hex, random_bytes, random_token};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
pub use tokens::KeyInfo;
use tokens::{Claims, Keyring};
pub use vault::Vault;

/// Sign-in sessions and API tokens.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// A browser session ends after this many hours without a request.
    pub session_idle_hours: u32,
    /// A browser session ends this many days after sign-in, however active.
    pub session_max_days: u32,
    /// Lifetime of a new API token unless its creator picks another.
    pub token_ttl_days: u32,
    /// How long a re-issued token's predecessor, and tokens signed with a rotated-out key, keep working.
    pub token_grace_hours: u32,
    /// Serve `/metrics` without a token (for a Prometheus on a trusted network).
    pub metrics_public: bool,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            session_idle_hours: 168,
            session_max_days: 30,
            token_ttl_days: 90,
            token_grace_hours: 24,
            metrics_public: false,
        }
    }
}

impl AuthConfig {
    /// Problems with these settings; keys are relative to the section.
    pub fn validate(&self) -> Vec<ConfigIssue> {
        let mut checks = Checks::default();
        checks.range("session_idle_hours", self.session_idle_hours, 1..=8760, "");
        checks.range("session_max_days", self.session_max_days, 1..=365, "");
        checks.range("token_ttl_days", self.token_ttl_days, 1..=3650, "");
        checks.range("token_grace_hours", self.token_grace_hours, 0..=720, "");
        if u64::from(self.session_idle_hours) > u64::from(self.session_max_days) * 24 {
            checks
                .push("session_idle_hours", "is longer than auth.session_max_days; lower it or raise session_max_days");
        }
        checks.into_issues()
    }
}

/// A role from input, or an error that says which roles there are.
pub fn parse_role(text: &str) -> Result<Role> {
    Role::parse(text).ok_or_else(|| Error::invalid(format!("role {text:?} is not admin or viewer")))
}

/// How a request proved who it is.
#[derive(Debug, Clone)]
pub enum AuthMethod {
    /// A browser session: `id` is the stored hash, `csrf` the token its forms must carry.
    Session { id: String, csrf: String },
    /// An API token, by its id.
    Token { id: String },
}

/// The signed-in user behind a request.
#[derive(Debug, Clone)]
pub struct Identity {
    pub user_id: i64,
    pub name: String,
    pub role: Role,
    pub cameras: CameraScope,
    pub method: AuthMethod,
}

impl Identity {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    pub fn can_see(&self, camera_id: &str) -> bool {
        self.cameras.allows(camera_id)
    }

    /// The camera limit as an event filter: `None` = every camera.
    pub fn allowed_cameras(&self) -> Option<Vec<String>> {
        match &self.cameras {
            CameraScope::All => None,
            CameraScope::Only(list) => Some(list.clone()),
        }
    }

    /// The CSRF token of a browser session (empty for API tokens, which need none).
    pub fn csrf(&self) -> &str {
        match &self.method {
            AuthMethod::Session { csrf, .. } => csrf,
            AuthMethod::Token { .. } => "",
        }
    }

    fn of(user: &user::Model, method: AuthMethod) -> Result<Self> {
        Ok(Self {
            user_id: user.id,
            name: user.name.clone(),
            role: user.role,
            cameras: CameraScope::parse(&user.cameras),
            method,
        })
    }
}

/// A sign-in that worked: the cookie value to set (shown once, stored only as a hash).
pub struct NewSession {
    pub token: String,
    pub identity: Identity,
}

/// Where a request came from, for rate limits and the audit log.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// A freshly issued API token: the JWT (shown once) and what is stored about it.
pub struct IssuedToken {
    pub jwt: String,
    pub record: api_token::Model,
}

/// Writes to the last-seen columns at most this often per session or token.
const TOUCH_INTERVAL_MS: i64 = 60_000;

#[derive(Clone)]
pub struct Auth {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    config: AuthConfig,
    keyring: RwLock<Keyring>,
    vault: Arc<Vault>,
    limiter: LoginLimiter,
    has_users: AtomicBool,
    /// Serialises first-run set-up so two browsers cannot both create "the" administrator.
    setup: tokio::sync::Mutex<()>,
    /// Serialises changes of roles and of disabling, so that two administrators demoting each
    /// other at once cannot leave no active administrator.
    access_changes: tokio::sync::Mutex<()>,
    /// When sessions and tokens expire is decided by this clock.
    clock: SharedClock,
}

impl Auth {
    /// Opens (or creates) the key files under `<data_dir>/keys/`; `clock` decides when sessions
    /// and tokens expire.
    pub async fn open(db: Db, data_dir: &Path, config: AuthConfig, clock: SharedClock) -> Result<Self> {
        let keys = data_dir.join("keys");
        let vault = Arc::new(Vault::open(&keys.join("credentials.key"))?);
        let keyring = Keyring::open(&keys.join("api-signing.json"), clock.now_ms())?;
        let has_users = db.count_users().await? > 0;
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                config,
                keyring: RwLock::new(keyring),
                vault,
                limiter: LoginLimiter::default(),
                has_users: AtomicBool::new(has_users),
                setup: tokio::sync::Mutex::new(()),
                access_changes: tokio::sync::Mutex::new(()),
                clock,
            }),
        })
    }

    /// Now, by the clock that decides when sessions and tokens expire.
    pub fn now_ms(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    /// Changes an account's role, camera limit and disabled flag. One change at a time, each in
    /// one transaction with the rule that an active administrator remains (two administrators
    /// demoting each other at once leave one); disabling ends the account's sessions and tokens.
    pub async fn change_access(&self, user_id: i64, role: Role, cameras: &[String], disabled: bool) -> Result<()> {
        let _one_change = self.inner.access_changes.lock().await;
        self.db().change_user_access(user_id, role, cameras, disabled, self.now_ms()).await
    }

    /// Deletes account `id`: its sessions and tokens go, its audit entries name it
    /// "`name` (deleted YYYY-MM-DD)". Returns the tombstone.
    pub async fn delete_user(&self, id: i64) -> Result<String> {
        let _one_change = self.inner.access_changes.lock().await;
        let user =
            self.db().user_by_id(id).await?.ok_or_else(|| Error::not_found(format!("There is no user {id}.")))?;
        let day = chrono::DateTime::from_timestamp_millis(self.now_ms()).unwrap_or_default().format("%Y-%m-%d");
        let tombstone = format!("{} (deleted {day})", user.name);
        self.db().delete_user(id, &tombstone).await?;
        Ok(tombstone)
    }

    pub fn vault(&self) -> Arc<Vault> {
        self.inner.vault.clone()
    }

    pub fn config(&self) -> &AuthConfig {
        &self.inner.config
    }

    fn db(&self) -> &Db {
        &self.inner.db
    }

    /// True until the first account exists: the UI then shows only the set-up page.
    pub async fn needs_setup(&self) -> Result<bool> {
        if self.inner.has_users.load(Ordering::Relaxed) {
            return Ok(false);
        }
        let has = self.db().count_users().await? > 0;
        self.inner.has_users.store(has, Ordering::Relaxed);
        Ok(!has)
    }

    pub async fn audit(&self, entry: NewAudit) {
        if let Err(err) = self.db().insert_audit(&entry, self.now_ms()).await {
            tracing::error!(error = %err, action = %entry.action, "cannot write the audit log");
        }
    }

    /// Creates an account; names are 1–64 letters, digits, `.`, `_`, `-` or `@`.
    pub async fn create_user(&self, name: &str, role: Role, password: &str, cameras: &[String]) -> Result<i64> {
        let name = name.trim();
        check_user_name(name)?;
        password::check_rules(password)?;
        let hash = password::hash(password).await?;
        let new = NewUser { name: name.into(), role, password_hash: hash, cameras: cameras.to_vec() };
        let id = self.db().insert_user(&new, self.now_ms()).await?;
        self.inner.has_users.store(true, Ordering::Relaxed);
        Ok(id)
    }

    /// Creates the first administrator; refused once any account exists (the set-up page is gone).
    pub async fn create_first_admin(&self, name: &str, password: &str, origin: &Origin) -> Result<NewSession> {
        let _only_one = self.inner.setup.lock().await;
        if !self.needs_setup().await? {
            return Err(Error::conflict("An administrator already exists; sign in instead."));
        }
        self.create_user(name, Role::Admin, password, &[]).await?;
        self.audit(NewAudit {
            actor: Some(name.trim().into()),
            ip: origin.ip.clone(),
            action: "user.create".into(),
            target: Some(name.trim().into()),
            ok: true,
            detail: Some("first administrator, from the set-up page".into()),
        })
        .await;
        self.login(name, password, origin).await
    }

    /// Checks a password and opens a session, within the rate limits.
    pub async fn login(&self, name: &str, password: &str, origin: &Origin) -> Result<NewSession> {
        let name = name.trim();
        let ip_key = format!("ip:{}", origin.ip.as_deref().unwrap_or("unknown"));
        let user_key = format!("user:{}", name.to_lowercase());
        let keys = [ip_key, user_key.clone()];
        let audit = |ok: bool, detail: &str| NewAudit {
            actor: Some(name.into()),
            ip: origin.ip.clone(),
            action: "auth.login".into(),
            target: None,
            ok,
            detail: (!detail.is_empty()).then(|| detail.to_string()),
        };
        // Counted before the slow password check, so parallel attempts cannot outrun the limit.
        let attempt = match self.inner.limiter.reserve(&keys) {
            Ok(attempt) => attempt,
            Err(wait) => {
                self.audit(audit(false, "refused: too many failed attempts")).await;
                return Err(Error::new(
                    ErrorKind::TooManyRequests,
                    format!("Too many failed sign-ins. Wait {} seconds and try again.", wait.as_secs().max(1)),
                ));
            }
        };
        let user = self.db().user_by_name(name).await?;
        let password_ok = password::verify(password, user.as_ref().map(|u| u.password_hash.as_str())).await;
        let user = match user {
            Some(user) if password_ok && !user.disabled => user,
            Some(user) if password_ok && user.disabled => {
                self.inner.limiter.release(attempt, &user_key);
                self.audit(audit(false, "account disabled")).await;
                return Err(Error::forbidden("This account is disabled. Ask an administrator."));
            }
            _ => {
                // The attempt stays counted as a failure.
                self.audit(audit(false, "wrong user name or password")).await;
                return Err(Error::unauthenticated("Wrong user name or password."));
            }
        };
        self.inner.limiter.release(attempt, &user_key);
        let now = self.now_ms();
        let (idle_cutoff, created_cutoff) = self.session_cutoffs(now);
        self.db().delete_expired_sessions(idle_cutoff, created_cutoff).await?;
        let token = random_token();
        let record = session::Model {
            id: secrets::sha256_hex(&token),
            user_id: user.id,
            csrf: random_token(),
            created_ms: now,
            last_seen_ms: now,
            ip: origin.ip.clone(),
            user_agent: origin.user_agent.as_ref().map(|ua| ua.chars().take(300).collect()),
        };
        self.db().insert_session(record.clone()).await?;
        self.db().touch_user_login(user.id, now).await?;
        self.audit(audit(true, "")).await;
        let identity = Identity::of(&user, AuthMethod::Session { id: record.id, csrf: record.csrf })?;
        Ok(NewSession { token, identity })
    }

    fn session_cutoffs(&self, now: i64) -> (i64, i64) {
        let c = &self.inner.config;
        (now - i64::from(c.session_idle_hours) * 3_600_000, now - i64::from(c.session_max_days) * 86_400_000)
    }

    /// The identity behind a session cookie, or `None` when it is unknown, expired or its user is
    /// disabled.
    pub async fn session(&self, token: &str) -> Result<Option<Identity>> {
        let id = secrets::sha256_hex(token);
        let Some((session, user)) = self.db().get_session_with_user(&id).await? else { return Ok(None) };
        let now = self.now_ms();
        let (idle_cutoff, created_cutoff) = self.session_cutoffs(now);
        if session.last_seen_ms < idle_cutoff || session.created_ms < created_cutoff {
            self.db().delete_session(&id).await?;
            return Ok(None);
        }
        let Some(user) = user.filter(|u| !u.disabled) else {
            self.db().delete_session(&id).await?;
            return Ok(None);
        };
        if now - session.last_seen_ms > TOUCH_INTERVAL_MS {
            self.db().touch_session(&id, now).await?;
        }
        Identity::of(&user, AuthMethod::Session { id, csrf: session.csrf }).map(Some)
    }

    pub async fn logout(&self, identity: &Identity, origin: &Origin) -> Result<()> {
        if let AuthMethod::Session { id, .. } = &identity.method {
            self.db().delete_session(id).await?;
        }
        self.audit(self.entry(identity, origin, "auth.logout", None, "")).await;
        Ok(())
    }

    /// Ends every session of this user but the one asking.
    pub async fn logout_elsewhere(&self, identity: &Identity, origin: &Origin) -> Result<u64> {
        let keep = match &identity.method {
            AuthMethod::Session { id, .. } => Some(id.as_str()),
            AuthMethod::Token { .. } => None,
        };
        let ended = self.db().delete_user_sessions(identity.user_id, keep).await?;
        self.audit(self.entry(identity, origin, "auth.logout_everywhere", None, &format!("{ended} other session(s)")))
            .await;
        Ok(ended)
    }

    /// Changes the user's own password after checking the current one; other sessions end.
    pub async fn change_password(&self, identity: &Identity, current: &str, new: &str, origin: &Origin) -> Result<()> {
        let user = self
            .db()
            .user_by_id(identity.user_id)
            .await?
            .ok_or_else(|| Error::unauthenticated("This account no longer exists."))?;
        if !password::verify(current, Some(&user.password_hash)).await {
            self.audit(self.entry(identity, origin, "user.password", Some(&user.name), "wrong current password")).await;
            return Err(Error::invalid("The current password is not right."));
        }
        self.set_password(&user.name, new).await?;
        if let AuthMethod::Session { id, .. } = &identity.method {
            self.db().delete_user_sessions(user.id, Some(id)).await?;
        }
        self.audit(self.entry(identity, origin, "user.password", Some(&user.name), "")).await;
        Ok(())
    }

    /// Deletes the signed-in user's own account once they give their password again.
    pub async fn delete_own_account(&self, identity: &Identity, password: &str, origin: &Origin) -> Result<String> {
        let user = self
            .db()
            .user_by_id(identity.user_id)
            .await?
            .ok_or_else(|| Error::unauthenticated("This account no longer exists."))?;
        if !password::verify(password, Some(&user.password_hash)).await {
            self.audit(self.entry(identity, origin, "user.delete", Some(&user.name), "wrong password")).await;
            return Err(Error::invalid("The password is not right."));
        }
        let tombstone = self.delete_user(user.id).await?;
        let mut entry = self.entry(identity, origin, "user.delete", Some(&tombstone), "their own account");
        entry.actor = Some(tombstone.clone());
        self.audit(entry).await;
        Ok(tombstone)
    }

    /// Sets a password without knowing the old one (admins, the CLI).
    pub async fn set_password(&self, name: &str, new: &str) -> Result<()> {
        password::check_rules(new)?;
        let user = self
            .db()
            .user_by_name(name)
            .await?
            .ok_or_else(|| Error::not_found(format!("there is no user {name:?}")))?;
        let hash = password::hash(new).await?;
        self.db().set_user_password(user.id, &hash, self.now_ms()).await
    }

    /// An audit entry for something `identity` did.
    pub fn entry(
        &self,
        identity: &Identity,
        origin: &Origin,
        action: &str,
        target: Option<&str>,
        detail: &str,
    ) -> NewAudit {
        NewAudit {
            actor: Some(identity.name.clone()),
            ip: origin.ip.clone(),
            action: action.into(),
            target: target.map(str::to_string),
            ok: true,
            detail: (!detail.is_empty()).then(|| detail.to_string()),
        }
    }

    /// Issues a token for a user; `ttl_days` defaults to `[auth] token_ttl_days`.
    pub async fn create_token(&self, user_id: i64, name: &str, ttl_ms: Option<i64>) -> Result<IssuedToken> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 80 {
            return Err(Error::invalid("Give the token a name of 1–80 characters, e.g. \"home-assistant\"."));
        }
        let ttl_ms = ttl_ms.unwrap_or(i64::from(self.inner.config.token_ttl_days) * 86_400_000);
        if !(60_000..=3650 * 86_400_000).contains(&ttl_ms) {
            return Err(Error::invalid("A token lives from 1 minute to 3650 days."));
        }
        self.issue(user_id, name, ttl_ms, None).await
    }

    async fn issue(&self, user_id: i64, name: &str, ttl_ms: i64, replaces: Option<String>) -> Result<IssuedToken> {
        let now = self.now_ms();
        let record = api_token::Model {
            id: secrets::random_id(),
            user_id,
            name: name.into(),
            created_ms: now,
            expires_ms: now + ttl_ms,
            revoked_ms: None,
            grace_until_ms: None,
            replaces,
            last_used_ms: None,
        };
        let claims =
            Claims { sub: user_id.to_string(), jti: record.id.clone(), iat: now / 1000, exp: record.expires_ms / 1000 };
        let jwt = self.keyring().sign(&claims)?;
        self.db().insert_token(record.clone()).await?;
        Ok(IssuedToken { jwt, record })
    }

    /// Issues a successor with the same name and lifetime; the old token works for
    /// `[auth] token_grace_hours` more, then stops.
    pub async fn reissue_token(&self, id: &str) -> Result<IssuedToken> {
        let old = self.db().get_token(id).await?.ok_or_else(|| Error::not_found(format!("there is no token {id}")))?;
        let now = self.now_ms();
        if old.revoked_ms.is_some() || old.grace_until_ms.is_some() || old.expires_ms <= now {
            return Err(Error::conflict("Only a token that is still valid can be re-issued; create a new one."));
        }
        let issued = self.issue(old.user_id, &old.name, old.expires_ms - old.created_ms, Some(old.id.clone())).await?;
        self.db().set_token_grace(&old.id, now + self.grace_ms()).await?;
        Ok(issued)
    }

    pub async fn revoke_token(&self, id: &str) -> Result<bool> {
        self.db().revoke_token(id, self.now_ms()).await
    }

    pub async fn get_token(&self, id: &str) -> Result<Option<api_token::Model>> {
        self.db().get_token(id).await
    }

    fn grace_ms(&self) -> i64 {
        i64::from(self.inner.config.token_grace_hours) * 3_600_000
    }

    /// The identity behind an `Authorization: Bearer` token.
    pub async fn verify_token(&self, jwt: &str) -> Result<Identity> {
        let now = self.now_ms();
        let claims = self.keyring().verify(jwt, now, self.grace_ms())?;
        let refused = |why: &str| Error::unauthenticated(format!("API token refused: {why}"));
        let (record, owner) =
            self.db().get_token_with_user(&claims.jti).await?.ok_or_else(|| refused("it is not known here"))?;
        if record.revoked_ms.is_some() {
            return Err(refused("it was revoked"));
        }
        if record.grace_until_ms.is_some_and(|until| now >= until) {
            return Err(refused("it was re-issued and its grace period is over; use the new token"));
        }
        if record.expires_ms <= now {
            return Err(refused("it has expired"));
        }
        if claims.sub != record.user_id.to_string() {
            return Err(refused("its signature is not valid"));
        }
        let user = owner.filter(|u| !u.disabled).ok_or_else(|| refused("its owner is disabled"))?;
        if record.last_used_ms.is_none_or(|t| now - t > TOUCH_INTERVAL_MS) {
            self.db().touch_token(&record.id, now).await?;
        }
        Identity::of(&user, AuthMethod::Token { id: record.id })
    }

    /// Makes a new signing key current; tokens signed with the old one work for the grace period.
    /// Keys another process added to the file meanwhile are kept.
    pub fn rotate_signing_key(&self) -> Result<()> {
        self.inner.keyring.write().unwrap_or_else(|e| e.into_inner()).rotate(self.now_ms(), self.grace_ms())
    }

    pub fn signing_keys(&self) -> Vec<KeyInfo> {
        self.keyring().keys()
    }

    /// The signing keys as the key file now holds them: read again when another process (the
    /// `token rotate-key` command) changed the file.
    fn keyring(&self) -> std::sync::RwLockReadGuard<'_, Keyring> {
        let ring = self.inner.keyring.read().unwrap_or_else(|e| e.into_inner());
        if !ring.is_stale() {
            return ring;
        }
        drop(ring);
        let mut ring = self.inner.keyring.write().unwrap_or_else(|e| e.into_inner());
        if ring.is_stale()
            && let Err(err) = ring.reload()
        {
            tracing::error!(error = %err, "cannot read the API signing keys again; using the ones in memory");
        }
        drop(ring);
        self.inner.keyring.read().unwrap_or_else(|e| e.into_inner())
    }
}

fn check_user_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.chars().count() <= 64
        && name.chars().all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "{name:?} is not a valid user name; use 1–64 letters, digits, '.', '_', '-' or '@'"
        )))
    }
}

/// Parses a lifetime such as `30d`, `12h`, `90m` or `2w` into milliseconds.
pub fn parse_duration_ms(text: &str) -> Result<i64> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: i64 = number.parse().map_err(|_| Error::invalid(format!("{text:?} is not a duration like 30d")))?;
    let unit_ms = match unit {
        "m" => 60_000,
        "h" => 3_600_000,
        "d" | "" => 86_400_000,
        "w" => 7 * 86_400_000,
        _ => return Err(Error::invalid(format!("{text:?}: use m, h, d or w, e.g. 30d"))),
    };
    number.checked_mul(unit_ms).ok_or_else(|| Error::invalid(format!("{text:?} is too long")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration_ms("30d").unwrap(), 30 * 86_400_000);
        assert_eq!(parse_duration_ms("12h").unwrap(), 12 * 3_600_000);
        assert_eq!(parse_duration_ms("2w").unwrap(), 14 * 86_400_000);
        assert!(parse_duration_ms("soon").is_err());
        assert!(parse_duration_ms("3y").is_err());
    }

    #[test]
    fn a_camera_list_that_cannot_be_read_shows_no_camera() {
        assert_eq!(CameraScope::parse("[]"), CameraScope::All);
        assert_eq!(CameraScope::parse(r#"["door"]"#), CameraScope::Only(vec!["door".into()]));
        for damaged in ["", "door", "{\"a\":1}", "[1]"] {
            assert_eq!(CameraScope::parse(damaged), CameraScope::Only(Vec::new()), "{damaged:?}");
        }
    }

    #[test]
    fn user_names_are_checked() {
        assert!(check_user_name("anna.b@home").is_ok());
        assert!(check_user_name("").is_err());
        assert!(check_user_name("a b").is_err());
        assert!(check_user_name("<script>").is_err());
    }
}
