//! Pages about people and access: first-run set-up, sign-in and sign-out, the user's own account
//! (password, sessions, API tokens), and the administrator's settings (users, all tokens and the
//! signing key, the audit log).

use super::access::{audit, cookie, origin_of, removal};
use super::forms::{field, form_fields};
use super::guard::{FORM_COOKIE, SESSION_COOKIE};
use super::respond::{PageResult, html, ok, redirect, same_site_path};
use super::view::{Me, format_ago, format_time};
use crate::app::state::AppState;
use crate::auth::{Identity, IssuedToken, MIN_PASSWORD_LENGTH, parse_duration_ms, random_token};
use crate::db::entities::{api_token, user};
use crate::error::{Error, ErrorKind};
use crate::model::Role;
use actix_web::cookie::SameSite;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use std::collections::HashMap;

/// The sign-in form's CSRF token: the one its cookie already holds, or a new one.
fn form_token(req: &HttpRequest) -> (String, bool) {
    match req.cookie(FORM_COOKIE) {
        Some(c) if c.value().len() >= 32 => (c.value().to_string(), false),
        _ => (random_token(), true),
    }
}

/// Renders an anonymous form page and sets its CSRF cookie when new.
fn anonymous_page(
    req: &HttpRequest,
    state: &AppState,
    status: StatusCode,
    render: impl FnOnce(Me) -> Result<String, askama::Error>,
) -> HttpResponse {
    let (token, fresh) = form_token(req);
    let mut response = html(status, render(Me::anonymous(token.clone())));
    if fresh {
        let _ = response.add_cookie(&cookie(req, state, FORM_COOKIE, token, SameSite::Strict));
    }
    response
}

/// Only paths on this site are followed after sign-in (no open redirect); anything else goes home.
fn safe_next(next: &str) -> String {
    same_site_path(next).unwrap_or_else(|| "/".into())
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    nav: &'static str,
    me: Me,
    name: String,
    next: String,
    error: String,
}

#[derive(Deserialize, Default)]
pub(super) struct LoginQuery {
    #[serde(default)]
    next: String,
}

pub(super) async fn login_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<LoginQuery>,
) -> PageResult {
    if state.auth.needs_setup().await? {
        return Ok(redirect("/setup"));
    }
    let next = safe_next(&query.next);
    if let Some(cookie) = req.cookie(SESSION_COOKIE)
        && state.auth.session(cookie.value()).await?.is_some()
    {
        return Ok(redirect(&next));
    }
    Ok(anonymous_page(&req, &state, StatusCode::OK, |me| {
        LoginPage { nav: "", me, name: String::new(), next, error: String::new() }.render()
    }))
}

#[derive(Deserialize)]
pub(super) struct LoginForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

pub(super) async fn login(state: web::Data<AppState>, req: HttpRequest, form: web::Form<LoginForm>) -> PageResult {
    let origin = origin_of(&req, &state);
    match state.auth.login(&form.name, &form.password, &origin).await {
        Ok(session) => Ok(signed_in(&req, &state, session.token, &safe_next(&form.next))),
        Err(err)
            if matches!(err.kind, ErrorKind::Unauthenticated | ErrorKind::Forbidden | ErrorKind::TooManyRequests) =>
        {
            let status = super::respond::status_for(err.kind);
            Ok(anonymous_page(&req, &state, status, |me| {
                LoginPage {
                    nav: "",
                    me,
                    name: form.name.clone(),
                    next: safe_next(&form.next),
                    error: err.message.clone(),
                }
                .render()
            }))
        }
        Err(err) => Err(err.into()),
    }
}

/// Sets the session cookie and goes on to `next`.
fn signed_in(req: &HttpRequest, state: &AppState, token: String, next: &str) -> HttpResponse {
    let mut response = redirect(next);
    let _ = response.add_cookie(&cookie(req, state, SESSION_COOKIE, token, SameSite::Lax));
    let _ = response.add_removal_cookie(&removal(req, state, FORM_COOKIE));
    response
}

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage {
    nav: &'static str,
    me: Me,
    name: String,
    error: String,
    min_length: usize,
}

pub(super) async fn setup_page(state: web::Data<AppState>, req: HttpRequest) -> PageResult {
    if !state.auth.needs_setup().await? {
        return Ok(redirect("/login"));
    }
    Ok(anonymous_page(&req, &state, StatusCode::OK, |me| {
        SetupPage { nav: "", me, name: "admin".into(), error: String::new(), min_length: MIN_PASSWORD_LENGTH }.render()
    }))
}

#[derive(Deserialize)]
pub(super) struct SetupForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
}

pub(super) async fn setup(state: web::Data<AppState>, req: HttpRequest, form: web::Form<SetupForm>) -> PageResult {
    if !state.auth.needs_setup().await? {
        return Ok(redirect("/login"));
    }
    let origin = origin_of(&req, &state);
    let result = if form.password != form.confirm {
        Err(Error::invalid("The two passwords are not the same."))
    } else {
        state.auth.create_first_admin(&form.name, &form.password, &origin).await
    };
    match result {
        Ok(session) => {
            let next = super::guide::after_first_admin(&state).await?;
            Ok(signed_in(&req, &state, session.token, next))
        }
        Err(err) if err.kind == ErrorKind::Invalid => {
            Ok(anonymous_page(&req, &state, StatusCode::UNPROCESSABLE_ENTITY, |me| {
                SetupPage {
                    nav: "",
                    me,
                    name: form.name.clone(),
                    error: err.message.clone(),
                    min_length: MIN_PASSWORD_LENGTH,
                }
                .render()
            }))
        }
        Err(err) => Err(err.into()),
    }
}

pub(super) async fn logout(state: web::Data<AppState>, me: Identity, req: HttpRequest) -> PageResult {
    state.auth.logout(&me, &origin_of(&req, &state)).await?;
    let mut response = redirect("/login");
    let _ = response.add_removal_cookie(&removal(&req, &state, SESSION_COOKIE));
    Ok(response)
}

/// An API token as listed.
pub(super) struct TokenView {
    id: String,
    name: String,
    owner: String,
    created: String,
    expires: String,
    last_used: String,
    state: &'static str,
    state_text: String,
    active: bool,
}

impl TokenView {
    /// The token as it stands at `now` (the clock its expiry is judged by).
    fn of(token: &api_token::Model, owner: &str, now: i64) -> Self {
        let (state, state_text) = if let Some(at) = token.revoked_ms {
            ("revoked", format!("revoked {}", format_ago(at)))
        } else if let Some(until) = token.grace_until_ms {
            if until > now {
                ("grace", format!("re-issued; works until {}", format_time(until)))
            } else {
                ("replaced", "re-issued".to_string())
            }
        } else if token.expires_ms <= now {
            ("expired", "expired".to_string())
        } else {
            ("active", "active".to_string())
        };
        Self {
            id: token.id.clone(),
            name: token.name.clone(),
            owner: owner.to_string(),
            created: format_time(token.created_ms),
            expires: format_time(token.expires_ms),
            last_used: token.last_used_ms.map(format_ago).unwrap_or_else(|| "never".into()),
            state,
            state_text,
            active: state == "active",
        }
    }
}

pub(super) struct SessionView {
    current: bool,
    started: String,
    last_seen: String,
    ip: String,
    browser: String,
}

/// A token shown once, right after it was made.
pub(super) struct FreshToken {
    name: String,
    jwt: String,
    expires: String,
}

impl FreshToken {
    fn of(issued: &IssuedToken) -> Self {
        Self {
            name: issued.record.name.clone(),
            jwt: issued.jwt.clone(),
            expires: format_time(issued.record.expires_ms),
        }
    }
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    nav: &'static str,
    me: Me,
    role: &'static str,
    notice: String,
    error: String,
    fresh: Option<FreshToken>,
    sessions: Vec<SessionView>,
    tokens: Vec<TokenView>,
    default_ttl_days: u32,
    min_length: usize,
    /// `[push] enabled`: the notifications section is shown.
    push_enabled: bool,
    /// The key browsers subscribe with.
    push_key: String,
    /// The devices that get this user's notifications.
    devices: Vec<DeviceRow>,
}

/// A device with notifications on, as the account page lists it.
struct DeviceRow {
    id: i64,
    name: String,
    service: String,
    since: String,
    last_sent: String,
}

#[derive(Deserialize, Default)]
pub(super) struct NoticeQuery {
    #[serde(default)]
    done: String,
}

fn notice_text(done: &str) -> String {
    match done {
        "password" => "Your password was changed. Your other sessions were signed out.",
        "sessions" => "Your other sessions were signed out.",
        "revoked" => "The token was revoked; it no longer works.",
        "created" => "The user was created.",
        "saved" => "The changes were saved.",
        "reset" => "The password was set and the user's sessions were signed out.",
        "deleted" => {
            "The user was deleted; their sessions and tokens are gone, and the audit log names them as deleted."
        }
        "push-removed" => "That device gets no more notifications.",
        "push-on" => "Notifications are on for this device. Send a test to see one.",
        "rotated" => {
            "A new signing key is in use. Tokens signed with the old key work for the grace period; re-issue them."
        }
        _ => "",
    }
    .to_string()
}

pub(super) async fn account_page_for(
    state: &AppState,
    me: &Identity,
    status: StatusCode,
    notice: String,
    error: String,
    fresh: Option<FreshToken>,
) -> PageResult {
    let current_session = match &me.method {
        crate::auth::AuthMethod::Session { id, .. } => id.clone(),
        crate::auth::AuthMethod::Token { .. } => String::new(),
    };
    let sessions = state
        .db
        .list_user_sessions(me.user_id)
        .await?
        .into_iter()
        .map(|s| SessionView {
            current: s.id == current_session,
            started: format_time(s.created_ms),
            last_seen: format_ago(s.last_seen_ms),
            ip: s.ip.unwrap_or_default(),
            browser: describe_browser(s.user_agent.as_deref().unwrap_or("")),
        })
        .collect();
    let tokens = state
        .db
        .list_tokens(Some(me.user_id))
        .await?
        .iter()
        .map(|t| TokenView::of(t, &me.name, state.auth.now_ms()))
        .collect();
    let devices = super::view::devices_of(state, me.user_id)
        .await?
        .into_iter()
        .map(|d| DeviceRow {
            id: d.id,
            name: d.name,
            service: d.service,
            since: format_time(d.created_ms),
            last_sent: d.last_sent_ms.map(format_ago).unwrap_or_else(|| "never".into()),
        })
        .collect();
    Ok(html(
        status,
        AccountPage {
            nav: "account",
            me: Me::of(me),
            role: me.role.as_str(),
            notice,
            error,
            fresh,
            sessions,
            tokens,
            default_ttl_days: state.auth.config().token_ttl_days,
            min_length: MIN_PASSWORD_LENGTH,
            push_enabled: state.config.push.enabled,
            push_key: state.push_keys.public_key().to_string(),
            devices,
        }
        .render(),
    ))
}

/// "Firefox on Linux" from a user agent, good enough to recognise one's own devices.
fn describe_browser(agent: &str) -> String {
    let browser = ["Edg/", "Firefox/", "Chrome/", "Safari/", "curl/", "HeadlessChrome/"]
        .iter()
        .rev()
        .find(|b| agent.contains(*b))
        .map(|b| match *b {
            "Edg/" => "Edge",
            "Firefox/" => "Firefox",
            "Chrome/" => "Chrome",
            "HeadlessChrome/" => "Headless Chrome",
            "Safari/" => "Safari",
            _ => "curl",
        });
    let system = ["Android", "iPhone", "iPad", "Windows", "Mac OS X", "Linux"]
        .iter()
        .find(|s| agent.contains(*s))
        .map(|s| if *s == "Mac OS X" { "macOS" } else { s });
    match (browser, system) {
        (Some(b), Some(s)) => format!("{b} on {s}"),
        (Some(b), None) => b.to_string(),
        (None, Some(s)) => s.to_string(),
        (None, None) => "unknown browser".into(),
    }
}

pub(super) async fn account_page(
    state: web::Data<AppState>,
    me: Identity,
    query: web::Query<NoticeQuery>,
) -> PageResult {
    account_page_for(&state, &me, StatusCode::OK, notice_text(&query.done), String::new(), None).await
}

#[derive(Deserialize)]
pub(super) struct PasswordForm {
    #[serde(default)]
    current: String,
    #[serde(default)]
    new: String,
    #[serde(default)]
    confirm: String,
}

pub(super) async fn change_password(
    state: web::Data<AppState>,
    me: Identity,
    req: HttpRequest,
    form: web::Form<PasswordForm>,
) -> PageResult {
    let result = if form.new != form.confirm {
        Err(Error::invalid("The two new passwords are not the same."))
    } else {
        state.auth.change_password(&me, &form.current, &form.new, &origin_of(&req, &state)).await
    };
    match result {
        Ok(()) => Ok(redirect("/account?done=password")),
        Err(err) if err.kind == ErrorKind::Invalid => {
            account_page_for(&state, &me, StatusCode::UNPROCESSABLE_ENTITY, String::new(), err.message, None).await
        }
        Err(err) => Err(err.into()),
    }
}

pub(super) async fn end_other_sessions(state: web::Data<AppState>, me: Identity, req: HttpRequest) -> PageResult {
    state.auth.logout_elsewhere(&me, &origin_of(&req, &state)).await?;
    Ok(redirect("/account?done=sessions"))
}

#[derive(Deserialize)]
pub(super) struct TokenForm {
    #[serde(default)]
    name: String,
    /// `30d`, `12h`…; empty = the configured default.
    #[serde(default)]
    ttl: String,
}

pub(super) async fn create_token(
    state: web::Data<AppState>,
    me: Identity,
    req: HttpRequest,
    form: web::Form<TokenForm>,
) -> PageResult {
    let ttl = match form.ttl.trim() {
        "" => Ok(None),
        text => parse_duration_ms(text).map(Some),
    };
    let issued = match ttl {
        Ok(ttl) => state.auth.create_token(me.user_id, &form.name, ttl).await,
        Err(err) => Err(err),
    };
    match issued {
        Ok(issued) => {
            audit(&state, &me, &req, "token.create", Some(&issued.record.name), &issued.record.id).await;
            account_page_for(&state, &me, StatusCode::OK, String::new(), String::new(), Some(FreshToken::of(&issued)))
                .await
        }
        Err(err) if err.kind == ErrorKind::Invalid => {
            account_page_for(&state, &me, StatusCode::UNPROCESSABLE_ENTITY, String::new(), err.message, None).await
        }
        Err(err) => Err(err.into()),
    }
}

/// The token, if this user owns it or is an administrator.
async fn own_token(state: &AppState, me: &Identity, id: &str) -> Result<api_token::Model, Error> {
    state
        .auth
        .get_token(id)
        .await?
        .filter(|t| t.user_id == me.user_id || me.is_admin())
        .ok_or_else(|| Error::not_found(format!("There is no token {id}.")))
}

pub(super) async fn reissue_token(
    state: web::Data<AppState>,
    me: Identity,
    req: HttpRequest,
    id: web::Path<String>,
) -> PageResult {
    let old = own_token(&state, &me, &id).await?;
    let issued = state.auth.reissue_token(&old.id).await?;
    let detail = format!("{} replaces {}", issued.record.id, old.id);
    audit(&state, &me, &req, "token.reissue", Some(&old.name), &detail).await;
    let hours = state.auth.config().token_grace_hours;
    let notice = format!("The old token keeps working for {hours} hours, then only the new one does.");
    account_page_for(&state, &me, StatusCode::OK, notice, String::new(), Some(FreshToken::of(&issued))).await
}

#[derive(Deserialize)]
pub(super) struct BackForm {
    #[serde(default)]
    back: String,
}

pub(super) async fn revoke_token(
    state: web::Data<AppState>,
    me: Identity,
    req: HttpRequest,
    id: web::Path<String>,
    form: web::Form<BackForm>,
) -> PageResult {
    let token = own_token(&state, &me, &id).await?;
    state.auth.revoke_token(&token.id).await?;
    audit(&state, &me, &req, "token.revoke", Some(&token.name), &token.id).await;
    let back = if form.back == "/settings/tokens" && me.is_admin() { "/settings/tokens" } else { "/account" };
    Ok(redirect(&format!("{back}?done=revoked")))
}

/// A user as the administrator's list shows it.
pub(super) struct UserView {
    id: i64,
    name: String,
    role: String,
    cameras: String,
    disabled: bool,
    created: String,
    last_login: String,
}

impl UserView {
    fn of(user: &user::Model) -> Self {
        Self {
            id: user.id,
            name: user.name.clone(),
            role: user.role.as_str().into(),
            cameras: crate::model::CameraScope::parse(&user.cameras).describe(),
            disabled: user.disabled,
            created: format_time(user.created_ms),
            last_login: user.last_login_ms.map(format_ago).unwrap_or_else(|| "never".into()),
        }
    }
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    nav: &'static str,
    me: Me,
    notice: String,
    error: String,
    users: Vec<UserView>,
    camera_ids: Vec<String>,
    name: String,
    min_length: usize,
}

async fn users_page_for(
    state: &AppState,
    me: &Identity,
    status: StatusCode,
    notice: String,
    error: String,
    name: String,
) -> PageResult {
    let users = state.db.list_users().await?.iter().map(UserView::of).collect();
    let mut camera_ids: Vec<String> = state.cameras.list().iter().map(|c| c.id().to_string()).collect();
    camera_ids.sort();
    Ok(html(
        status,
        UsersPage {
            nav: "settings",
            me: Me::of(me),
            notice,
            error,
            users,
            camera_ids,
            name,
            min_length: MIN_PASSWORD_LENGTH,
        }
        .render(),
    ))
}

pub(super) async fn users_page(state: web::Data<AppState>, me: Identity, query: web::Query<NoticeQuery>) -> PageResult {
    users_page_for(&state, &me, StatusCode::OK, notice_text(&query.done), String::new(), String::new()).await
}

pub(super) async fn create_user(
    state: web::Data<AppState>,
    me: Identity,
    req: HttpRequest,
    body: web::Bytes,
) -> PageResult {
    let fields = form_fields(&body);
    let name = field(&fields, "name").trim().to_string();
    let cameras = fields.get("cameras").cloned().unwrap_or_default();
    let result = match crate::auth::parse_role(field(&fields, "role")) {
        Ok(role) => state.auth.create_user(&name, role, field(&fields, "password"), &cameras).await,
        Err(err) => Err(err),
    };
    match result {
        Ok(_) => {
            let detail = format!("role {}", field(&fields, "role"));
            audit(&state, &me, &req, "user.create", Some(&name), &detail).await;
            Ok(redirect("/settings/users?done=created"))
        }
        Err(err) if matches!(err.kind, ErrorKind::Invalid | ErrorKind::Conflict) => {
            users_page_for(&state, &me, StatusCode::UNPROCESSABLE_ENTITY, String::new(), err.message, name).await
        }
        Err(err) => Err(err.into()),
    }
}

#[derive(Template)]
#[template(path = "user.html")]
struct UserPage {
    nav: &'static str,
    me: Me,
    user: UserView,
    limited_to: Vec<String>,
    camera_ids: Vec<String>,
    error: String,
    min_length: usize,
}

impl UserPage {
    fn limited(&self, camera: &str) -> bool {
        self.limited_to.iter().any(|c| c == camera)
    }
}

async fn find_user(state: &AppState, id: i64) -> Result<user::Model, Error> {
    state.db.user_by_id(id).await?.ok_or_else(|| Error::not_found(format!("There is no user {id}.")))
}

async fn user_page_for(
    state: &AppState,
    me: &Identity,
    user: &user::Model,
    status: StatusCode,
    error: String,
) -> PageResult {
    let mut camera_ids: Vec<String> = state.cameras.list().iter().map(|c| c.id().to_string()).collect();
    camera_ids.sort();
    Ok(html(
        status,
        UserPage {
            nav: "settings",
            me: Me::of(me),
            user: UserView::of(user),
            limited_to: crate::db::stored_json(
                &user.cameras,
                format_args!("the camera list of account {:?}", user.name),
            )?,
            camera_ids,
            error,
            min_length: MIN_PASSWORD_LENGTH,
        }
        .render(),
    ))
}

pub(super) async fn user_page(state: web::Data<AppState>, me: Identity, id: web::Path<i64>) -> PageResult {
    let user = find_user(&state, *id).await?;
    user_page_for(&state, &me, &user, StatusCode::OK, String::new()).await
}

pub(super) async fn update_user(
    state: web::Data<AppState>,
    me: Identity,
    req: HttpRequest,
    id: web::Path<i64>,
    body: web::Bytes,
) -> PageResult {
    let user = find_user(&state, *id).await?;
    let fields = form_fields(&body);
    let role = match crate::auth::parse_role(field(&fields, "role")) {
        Ok(role) => role,
        Err(err) => return user_page_for(&state, &me, &user, StatusCode::UNPROCESSABLE_ENTITY, err.message).await,
    };
    let disabled = fields.contains_key("disabled");
    let cameras = if role == Role::Admin { Vec::new() } else { fields.get("cameras").cloned().unwrap_or_default() };
    match state.auth.change_access(user.id, role, &cameras, disabled).await {
        Ok(()) => {}
        Err(err) if err.kind == ErrorKind::Conflict => {
            return user_page_for(&state, &me, &user, StatusCode::CONFLICT, err.message).await;
        }
        Err(err) => return Err(err.into()),
    }
    let detail = format!(
        "role {}, cameras {}, {}",
        role.as_str(),
        if cameras.is_empty() { "all".to_string() } else { cameras.join(",") },
        if disabled { "disabled" } else { "enabled" }
    );
    audit(&state, &me, &req, "user.update", Some(&user.name), &detail).await;
    Ok(redirect("/settings/users?done=saved"))
}

#[derive(Deserialize)]
pub(super) struct ResetForm {
    #[serde(default)]
    password: String,
}

pub(super) async fn reset_password(
    state: web::Data<AppState>,
    me: Identity,
    req: HttpRequest,
    id: web::Path<i64>,
    form: web::Form<ResetForm>,
) -> PageResult {
    let user = find_user(&state, *id).await?;
    if let Err(err) = state.auth.set_password(&user.name, &form.password).await {
        if err.kind == ErrorKind::Invalid {
            return user_page_for(&state, &me, &user, StatusCode::UNPROCESSABLE_ENTITY, err.message).await;
        }
        return Err(err.into());
    }
    state.db.delete_user_sessions(user.id, None).await?;
    audit(&state, &me, &req, "user.password_reset", Some(&user.name), "").await;
    Ok(redirect("/settings/users?done=reset"))
}

pub(super) struct KeyView {
    kid: String,
    created: String,
    state: String,
}

#[derive(Template)]
#[template(path = "tokens.html")]
struct TokensPage {
    nav: &'static str,
    me: Me,
    notice: String,
    tokens: Vec<TokenView>,
    keys: Vec<KeyView>,
    grace_hours: u32,
}

pub(super) async fn tokens_page(
    state: web::Data<AppState>,
    me: Identity,
    query: web::Query<NoticeQuery>,
) -> PageResult {
    let users: HashMap<i64, String> = state.db.list_users().await?.into_iter().map(|u| (u.id, u.name)).collect();
    let tokens = state
        .db
        .list_tokens(None)
        .await?
        .iter()
        .map(|t| {
            TokenView::of(t, users.get(&t.user_id).map(String::as_str).unwrap_or("(deleted)"), state.auth.now_ms())
        })
        .collect();
    let grace_hours = state.auth.config().token_grace_hours;
    let keys = state
        .auth
        .signing_keys()
        .into_iter()
        .rev()
        .map(|k| KeyView {
            kid: k.kid,
            created: format_time(k.created_ms),
            state: match k.retired_ms {
                None => "current".into(),
                Some(at) => format!("retired {}", format_time(at)),
            },
        })
        .collect();
    ok(TokensPage { nav: "settings", me: Me::of(&me), notice: notice_text(&query.done), tokens, keys, grace_hours }
        .render())
}

pub(super) async fn rotate_key(state: web::Data<AppState>, me: Identity, req: HttpRequest) -> PageResult {
    state.auth.rotate_signing_key()?;
    audit(&state, &me, &req, "token.rotate_key", None, "").await;
    Ok(redirect("/settings/tokens?done=rotated"))
}

pub(super) struct AuditView {
    at: String,
    actor: String,
    ip: String,
    action: String,
    target: String,
    ok: bool,
    detail: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    nav: &'static str,
    me: Me,
    entries: Vec<AuditView>,
    next_link: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct AuditQuery {
    before: Option<i64>,
}

const AUDIT_PER_PAGE: u64 = 100;

pub(super) async fn audit_page(state: web::Data<AppState>, me: Identity, query: web::Query<AuditQuery>) -> PageResult {
    let rows = state.db.list_audit(query.before, AUDIT_PER_PAGE).await?;
    let next_link = (rows.len() as u64 == AUDIT_PER_PAGE)
        .then(|| rows.last().map(|r| format!("/settings/audit?before={}", r.id)))
        .flatten();
    let entries = rows
        .into_iter()
        .map(|r| AuditView {
            at: format_time(r.at_ms),
            actor: r.actor.unwrap_or_else(|| "—".into()),
            ip: r.ip.unwrap_or_default(),
            action: r.action,
            target: r.target.unwrap_or_default(),
            ok: r.ok,
            detail: r.detail.unwrap_or_default(),
        })
        .collect();
    ok(AuditPage { nav: "settings", me: Me::of(&me), entries, next_link }.render())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(safe_next("/events?camera=a"), "/events?camera=a");
        assert_eq!(safe_next("//evil.example/x"), "/");
        assert_eq!(safe_next("https://evil.example"), "/");
        assert_eq!(safe_next("/\\evil.example"), "/");
        for dropped_by_browsers in ["/\t/evil.example/phish", "/\n/evil.example", "/\r\n/x", "/\x0b/evil.example"] {
            assert_eq!(safe_next(dropped_by_browsers), "/", "{dropped_by_browsers:?}");
        }
        assert_eq!(safe_next("/events?q=a b"), "/events?q=a%20b", "always a valid Location header");
        assert_eq!(safe_next("/a/../b"), "/b");
        assert_eq!(safe_next(""), "/");
    }

    #[test]
    fn browsers_are_named() {
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
        assert_eq!(describe_browser(firefox), "Firefox on Linux");
        assert_eq!(describe_browser("curl/8.5.0"), "curl");
    }
}

/// `POST /settings/users/{id}/delete`: an administrator deletes an account.
pub(super) async fn delete_user(
    state: web::Data<AppState>,
    me: Identity,
    req: HttpRequest,
    id: web::Path<i64>,
) -> PageResult {
    let user = find_user(&state, *id).await?;
    let tombstone = match state.auth.delete_user(user.id).await {
        Ok(tombstone) => tombstone,
        Err(err) if err.kind == ErrorKind::Conflict => {
            return user_page_for(&state, &me, &user, StatusCode::CONFLICT, err.message).await;
        }
        Err(err) => return Err(err.into()),
    };
    audit(&state, &me, &req, "user.delete", Some(&tombstone), "sessions and tokens deleted").await;
    Ok(redirect(if user.id == me.user_id { "/login" } else { "/settings/users?done=deleted" }))
}

#[derive(Deserialize)]
pub(super) struct DeleteAccountForm {
    #[serde(default)]
    password: String,
}

/// `POST /account/delete`: a user deletes their own account, giving their password again.
pub(super) async fn delete_own_account(
    state: web::Data<AppState>,
    me: Identity,
    req: HttpRequest,
    form: web::Form<DeleteAccountForm>,
) -> PageResult {
    match state.auth.delete_own_account(&me, &form.password, &origin_of(&req, &state)).await {
        Ok(_) => Ok(redirect("/login")),
        Err(err) if matches!(err.kind, ErrorKind::Invalid | ErrorKind::Conflict) => {
            account_page_for(&state, &me, StatusCode::UNPROCESSABLE_ENTITY, String::new(), err.message, None).await
        }
        Err(err) => Err(err.into()),
    }
}

/// `GET /account/data.json`: what Watchpost keeps about the signed-in user: the account, its
/// sessions (sign-ins), its API tokens (never their values) and the audit entries by or about it.
pub(super) async fn my_data(
    state: web::Data<AppState>,
    me: Identity,
) -> Result<HttpResponse, super::respond::ApiError> {
    let user = state
        .db
        .user_by_id(me.user_id)
        .await?
        .ok_or_else(|| Error::unauthenticated("This account no longer exists."))?;
    let time = |ms: i64| super::view::rfc3339(ms);
    let sessions: Vec<serde_json::Value> = state
        .db
        .list_user_sessions(user.id)
        .await?
        .into_iter()
        .map(|s| serde_json::json!({ "created": time(s.created_ms), "last_seen": time(s.last_seen_ms), "ip": s.ip, "user_agent": s.user_agent }))
        .collect();
    let tokens: Vec<serde_json::Value> = state
        .db
        .list_tokens(Some(user.id))
        .await?
        .into_iter()
        .map(|t| {
            serde_json::json!({
                "id": t.id, "name": t.name, "created": time(t.created_ms), "expires": time(t.expires_ms),
                "revoked": t.revoked_ms.map(time), "last_used": t.last_used_ms.map(time),
            })
        })
        .collect();
    let audit: Vec<serde_json::Value> = state
        .db
        .audit_of(&user.name)
        .await?
        .into_iter()
        .map(|a| {
            serde_json::json!({
                "at": time(a.at_ms), "actor": a.actor, "ip": a.ip, "action": a.action, "target": a.target,
                "ok": a.ok, "detail": a.detail,
            })
        })
        .collect();
    // The push service a device is reached through, never its endpoint or keys.
    let devices: Vec<serde_json::Value> = super::view::devices_of(&state, user.id)
        .await?
        .into_iter()
        .map(|d| {
            serde_json::json!({
                "name": d.name, "push_service": d.service, "created": time(d.created_ms),
                "last_notification": d.last_sent_ms.map(time),
            })
        })
        .collect();
    let document = serde_json::json!({
        "format": "watchpost-my-data/1",
        "account": {
            "name": user.name, "role": user.role.as_str(),
            "cameras": crate::model::CameraScope::parse(&user.cameras).describe(),
            "disabled": user.disabled, "created": time(user.created_ms),
            "password_changed": time(user.password_changed_ms), "last_sign_in": user.last_login_ms.map(time),
        },
        "sessions": sessions,
        "api_tokens": tokens,
        "notification_devices": devices,
        "audit": audit,
    });
    Ok(HttpResponse::Ok()
        .insert_header(("Content-Disposition", format!("attachment; filename=\"watchpost-{}-data.json\"", user.name)))
        .insert_header(("Cache-Control", "private, no-store"))
        .json(document))
}
