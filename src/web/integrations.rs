//! The Integrations page (MQTT / Home Assistant settings, connection state, "test connection",
//! an example automation; the alert channels (Telegram, WhatsApp, e-mail, push notifications,
//! ntfy, webhooks) with "Send test alert"; who
//! describes events and the site context they are given), its JSON twin `/api/integrations`, and
//! the camera switches form.

use super::access::audit;
use super::access::visible_camera;
use super::forms::{field, form_fields};
use super::respond::{PageResult, html, ok, redirect, same_site_path};
use super::view::{Me, format_ago, format_time};
use crate::app::state::AppState;
use crate::auth::Identity;
use crate::bridges::mqtt::settings::MqttConfig;
use crate::bridges::mqtt::{saved, target, test_connection};
use crate::bridges::{BridgeHealth, LinkState};
use crate::camera::CameraRuntime;
use crate::error::Error;
use crate::model::{Channel, DeliveryStatus};
use crate::secret::Secret;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use std::collections::HashMap;

#[derive(Template)]
#[template(path = "integrations.html")]
struct IntegrationsPage {
    nav: &'static str,
    me: Me,
    mqtt: MqttConfig,
    /// The settings come from the config file and cannot be changed here.
    from_file: bool,
    has_password: bool,
    health: Option<HealthView>,
    /// Telegram, WhatsApp and e-mail: set up or not, and how they do.
    channels: Vec<ChannelView>,
    /// WhatsApp is set up: numbers can be added.
    whatsapp_on: bool,
    whatsapp_numbers: Vec<NumberView>,
    notice: String,
    error: String,
    example: String,
    /// Who writes event descriptions (`rules` or `<provider>:<model>`).
    describer: String,
    site_context: String,
    /// `[describe] site_context` is set in the config file: shown, not editable.
    site_context_from_file: bool,
}

/// An alert channel as the page shows it.
struct ChannelView {
    name: &'static str,
    title: &'static str,
    /// Where it sends (chat ids, addresses); empty when it is off.
    recipients: String,
    health: Option<HealthView>,
    /// Alerts given up on, ever.
    failed: u64,
    /// How to turn it on, when it is off.
    how_to: &'static str,
}

/// A WhatsApp number on the page: verified, or waiting for its code (shown with the `wa.me` link
/// that sends it).
struct NumberView {
    number: String,
    verified: bool,
    code: String,
    link: String,
    /// The code is too old; the person should be added again.
    expired: bool,
    since: String,
}

/// A bridge's health as the page shows it.
struct HealthView {
    target: String,
    state: &'static str,
    state_text: String,
    last_error: String,
    retry_text: String,
    pending: u64,
    delivered: u64,
    connects: u64,
    drop_warning: String,
}

impl HealthView {
    fn of(health: &BridgeHealth, config: &crate::config::Config) -> Self {
        let mqtt = &config.mqtt;
        let since = format_ago(health.since_ms);
        let state_text = match health.state {
            LinkState::Connected => format!("Connected since {since}"),
            LinkState::Connecting => "Connecting…".into(),
            LinkState::Disconnected => format!("Not connected (since {since})"),
        };
        let retry_text = match health.retry_at_ms {
            Some(at) if health.state != LinkState::Connected => {
                let wait = (at - chrono::Utc::now().timestamp_millis()).max(0) / 1000;
                let most = if health.name == Channel::Mqtt.as_str() { "30 s" } else { "10 minutes" };
                format!("Next attempt in {wait} s; attempts back off up to {most} apart.")
            }
            _ => String::new(),
        };
        let give_up_hours = match Channel::parse(health.name) {
            Some(Channel::Telegram) => config.telegram.give_up_hours,
            Some(Channel::Whatsapp) => config.whatsapp.give_up_hours,
            Some(Channel::Push) => config.push.give_up_hours,
            Some(Channel::Ntfy) => config.ntfy.give_up_hours,
            Some(Channel::Webhook) => crate::bridges::webhook::settings::GIVE_UP_HOURS,
            _ => config.email.give_up_hours,
        };
        let drop_warning = match health.last_drop_ms {
            Some(at) if health.dropped > 0 && health.name != Channel::Mqtt.as_str() => format!(
                "{} alert(s) were given up after {give_up_hours} h without delivery (last at {}); each event's page says why.",
                health.dropped,
                format_time(at),
            ),
            Some(at) if health.dropped > 0 => format!(
                "{} undelivered messages were dropped (last at {}): more than {} were waiting, or they were older than {} h. \
                 Home Assistant missed them.",
                health.dropped,
                format_time(at),
                mqtt.outbox_max_messages,
                mqtt.outbox_max_age_hours
            ),
            _ => String::new(),
        };
        Self {
            target: health.target.clone(),
            state: health.state.as_str(),
            state_text,
            last_error: health.last_error.clone().unwrap_or_default(),
            retry_text,
            pending: health.pending,
            delivered: health.delivered,
            connects: health.connects,
            drop_warning,
        }
    }
}

/// A Home Assistant automation that uses what Watchpost announces, for the first camera.
fn example_automation(state: &AppState, mqtt: &MqttConfig) -> String {
    let camera = state.cameras.list().first().map(|c| c.id().to_string()).unwrap_or_else(|| "driveway".into());
    format!(
        "alias: Person on {camera} at night\n\
         triggers:\n  - trigger: mqtt\n    topic: {base}/{camera}/alert\n\
         conditions:\n  - condition: sun\n    after: sunset\n    before: sunrise\n\
         actions:\n  - action: notify.notify\n    data:\n      title: \"{{{{ trigger.payload_json.event.description }}}}\"\n      \
         message: \"{{{{ trigger.payload_json.event.url }}}}\"\n      data:\n        image: \"/api/image_proxy/image.{camera}_person_snapshot\"\n",
        base = mqtt.base_topic
    )
}

pub(super) async fn render(
    state: &AppState,
    me: &Identity,
    status: StatusCode,
    form: Option<MqttConfig>,
    notice: String,
    error: String,
) -> PageResult {
    let running = state.bridges.config();
    let from_file = state.config.mqtt.enabled();
    let mqtt = form.unwrap_or_else(|| running.mqtt.clone());
    let all_health = state.bridges.health().await;
    let health = all_health.iter().find(|h| h.name == Channel::Mqtt.as_str()).cloned();
    let numbers = state.db.whatsapp_numbers().await?;
    let devices = state.db.push_subscriptions().await?;
    let owners = devices.iter().map(|d| d.user_id).collect::<std::collections::HashSet<_>>().len();
    let mut channels = Vec::new();
    for (channel, recipients, how_to) in [
        (
            Channel::Telegram,
            running.telegram.chat_ids.iter().map(i64::to_string).collect::<Vec<_>>().join(", "),
            "Create a bot with @BotFather and set [telegram] bot_token and chat_ids in the config file (integrations/telegram/).",
        ),
        (
            Channel::Whatsapp,
            numbers
                .iter()
                .filter(|n| n.status == "verified")
                .map(|n| format!("+{}", n.number))
                .collect::<Vec<_>>()
                .join(", "),
            "Set [whatsapp] phone_number_id, token, app_secret and verify_token in the config file (integrations/whatsapp/ walks through Meta's set-up).",
        ),
        (
            Channel::Email,
            running.email.to.join(", "),
            "Set [email] smtp_host, from and to in the config file (integrations/email/).",
        ),
        (
            Channel::Push,
            match devices.len() {
                0 => "nobody yet: each person turns them on for a phone or computer on their account page (over HTTPS)"
                    .into(),
                n => format!("{n} device(s) of {owners} user(s); each person turns them on on their account page"),
            },
            "Turned off with [push] enabled = false in the config file (docs/push.md).",
        ),
        (
            Channel::Ntfy,
            if running.ntfy.enabled() {
                crate::bridges::ntfy::topic_shown(&running.ntfy.topic_url)
            } else {
                String::new()
            },
            "Set [ntfy] topic_url (and token for a protected topic) in the config file (docs/push.md).",
        ),
        (
            Channel::Webhook,
            running.webhooks.iter().map(|h| crate::bridges::webhook::shown(&h.url)).collect::<Vec<_>>().join(", "),
            "Add [[webhooks]] with url and secret to the config file; each alert is POSTed as signed JSON (docs/push.md).",
        ),
    ] {
        let (name, title) = (channel.as_str(), channel.title());
        let health = all_health.iter().find(|h| h.name == name).map(|h| HealthView::of(h, &running));
        let failed = state.db.count_deliveries(channel, DeliveryStatus::Failed).await.unwrap_or(0);
        channels.push(ChannelView { name, title, recipients, health, failed, how_to });
    }
    let now_ms = chrono::Utc::now().timestamp_millis();
    let business = running.whatsapp.business_number.trim_start_matches('+').to_string();
    let whatsapp_numbers = numbers
        .into_iter()
        .map(|n| NumberView {
            verified: n.status == "verified",
            link: if business.is_empty() {
                String::new()
            } else {
                format!(
                    "https://wa.me/{business}?{}",
                    url::form_urlencoded::Serializer::new(String::new()).append_pair("text", &n.code).finish()
                )
            },
            expired: n.status != "verified" && now_ms - n.created_ms > crate::bridges::whatsapp::CODE_VALID_MS,
            since: format_time(n.verified_ms.unwrap_or(n.created_ms)),
            code: n.code,
            number: n.number,
        })
        .collect();
    let page = IntegrationsPage {
        channels,
        whatsapp_on: running.whatsapp.enabled(),
        whatsapp_numbers,
        nav: "settings",
        me: Me::of(me),
        has_password: running.mqtt.password.as_ref().is_some_and(|p| !p.expose().is_empty()),
        health: health.as_ref().map(|h| HealthView::of(h, &running)),
        example: example_automation(state, &mqtt),
        mqtt,
        from_file,
        notice,
        error,
        describer: state.describer.by.clone(),
        site_context: state.describer.site_context.read().expect("site context lock").clone(),
        site_context_from_file: !state.config.describe.site_context.trim().is_empty(),
    };
    if status == StatusCode::OK { ok(page.render()) } else { Ok(html(status, page.render())) }
}

pub(super) async fn integrations_page(
    state: web::Data<AppState>,
    me: Identity,
    query: web::Query<HashMap<String, String>>,
) -> PageResult {
    let notice = match query.get("done").map(String::as_str) {
        Some("saved") => "Saved. Watchpost connects with the new settings now.",
        Some("off") => "MQTT is off.",
        Some("context") => "Saved. The next description uses it.",
        Some("whatsapp-added") => "Number added. It gets alerts once its code arrives from WhatsApp.",
        Some("whatsapp-removed") => "Number removed: it gets no more alerts.",
        _ => "",
    };
    render(&state, &me, StatusCode::OK, None, notice.into(), String::new()).await
}

/// The form's settings, and what is wrong with them (if anything); a blank password keeps the one
/// saved before.
fn mqtt_from_form(fields: &HashMap<String, Vec<String>>, running: &MqttConfig) -> (MqttConfig, Option<String>) {
    let defaults = MqttConfig::default();
    let text = |key: &str, default: &str| {
        let value = field(fields, key).trim();
        if value.is_empty() { default.to_string() } else { value.to_string() }
    };
    let password = match field(fields, "password") {
        "" if field(fields, "clear_password") == "on" => None,
        "" => running.password.clone(),
        typed => Some(Secret::new(typed)),
    };
    let port_text = text("port", "1883");
    let mut settings = MqttConfig {
        host: field(fields, "host").trim().to_string(),
        port: port_text.parse().unwrap_or(0),
        username: field(fields, "username").trim().to_string(),
        password,
        tls: field(fields, "tls") == "on",
        ca_file: Some(field(fields, "ca_file").trim()).filter(|p| !p.is_empty()).map(Into::into),
        client_id: text("client_id", &defaults.client_id),
        base_topic: text("base_topic", &defaults.base_topic),
        discovery_prefix: text("discovery_prefix", &defaults.discovery_prefix),
        ..running.clone()
    };
    if settings.username.is_empty() {
        settings.password = None;
    }
    let mut problems: Vec<String> = settings.validate().iter().map(|i| format!("{}: {}", i.key, i.message)).collect();
    if port_text.parse::<u16>().is_err() {
        problems.retain(|p| !p.starts_with("port"));
        problems.push(format!("port: {port_text:?} is not a port number; the usual one is 1883"));
    }
    let problem = (!problems.is_empty()).then(|| problems.join(" "));
    (settings, problem)
}

pub(super) async fn save_mqtt(
    state: web::Data<AppState>,
    me: Identity,
    req: HttpRequest,
    body: web::Bytes,
) -> PageResult {
    if state.config.mqtt.enabled() {
        return Err(Error::conflict("MQTT is set in the config file ([mqtt]); change it there.").into());
    }
    let fields = form_fields(&body);
    let running = state.bridges.config();
    let (settings, problem) = mqtt_from_form(&fields, &running.mqtt);
    if let Some(problem) = problem {
        return render(&state, &me, StatusCode::UNPROCESSABLE_ENTITY, Some(settings), String::new(), problem).await;
    }
    saved::save(&state.db, &state.auth.vault(), &settings).await?;
    let detail = if settings.enabled() { target(&settings) } else { "off".into() };
    audit(&state, &me, &req, "mqtt.save", None, &detail).await;
    let enabled = settings.enabled();
    let mut config = (*running).clone();
    config.mqtt = settings;
    state.bridges.reconfigure(Channel::Mqtt, config).await;
    Ok(redirect(if enabled { "/settings/integrations?done=saved" } else { "/settings/integrations?done=off" }))
}

pub(super) async fn test_mqtt(state: web::Data<AppState>, me: Identity, body: web::Bytes) -> PageResult {
    let fields = form_fields(&body);
    let running = state.bridges.config();
    let settings = if state.config.mqtt.enabled() {
        running.mqtt.clone()
    } else {
        let (settings, problem) = mqtt_from_form(&fields, &running.mqtt);
        if let Some(problem) = problem {
            return render(&state, &me, StatusCode::UNPROCESSABLE_ENTITY, Some(settings), String::new(), problem).await;
        }
        settings
    };
    if !settings.enabled() {
        let problem = "Enter the broker's host first.".to_string();
        return render(&state, &me, StatusCode::UNPROCESSABLE_ENTITY, Some(settings), String::new(), problem).await;
    }
    let form = (!state.config.mqtt.enabled()).then(|| settings.clone());
    match test_connection(&settings).await {
        Ok(line) => {
            render(&state, &me, StatusCode::OK, form, format!("Test passed: {line} Not saved yet."), String::new())
                .await
        }
        Err(reason) => render(&state, &me, StatusCode::OK, form, String::new(), format!("Test failed: {reason}")).await,
    }
}

/// `POST /settings/integrations/test-alert` (`channel`): a made-up alert with the demo photograph,
/// sent now to every recipient of that channel; the page says what happened.
pub(super) async fn send_test_alert(
    state: web::Data<AppState>,
    me: Identity,
    req: HttpRequest,
    body: web::Bytes,
) -> PageResult {
    let fields = form_fields(&body);
    let name = field(&fields, "channel");
    let channel = Channel::parse(name).filter(|c| *c != Channel::Mqtt).ok_or_else(|| {
        Error::invalid(format!("channel {name:?} is not telegram, whatsapp, email, push, ntfy or webhook"))
    })?;
    let result = state.bridges.send_test(channel).await;
    let outcome = if result.is_ok() { "sent" } else { "failed" };
    audit(&state, &me, &req, "integrations.test_alert", Some(channel.as_str()), outcome).await;
    match result {
        Ok(line) => render(&state, &me, StatusCode::OK, None, line, String::new()).await,
        Err(reason) => render(&state, &me, StatusCode::OK, None, String::new(), reason).await,
    }
}

pub(super) async fn integrations_api(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "bridges": state.bridges.health().await }))
}

/// `POST /cameras/{id}/controls`: the switches on the camera page.
pub(super) async fn set_controls(
    state: web::Data<AppState>,
    me: Identity,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Bytes,
) -> PageResult {
    let camera = visible_camera(&state, &me, &id)?;
    let fields = form_fields(&body);
    let mute = field(&fields, "mute_minutes").trim().to_string();
    let until_text = field(&fields, "mute_until").trim();
    let mute_until = match mute.as_str() {
        _ if !until_text.is_empty() => Some(Some(mute_until_local(&camera, until_text)?)),
        "" | "keep" => None,
        "0" => Some(None),
        minutes => {
            let minutes: i64 =
                minutes.parse().map_err(|_| Error::invalid(format!("{minutes:?} is not a number of minutes")))?;
            Some(Some(chrono::Utc::now().timestamp_millis() + minutes.clamp(1, 60 * 24 * 30) * 60_000))
        }
    };
    let change = SwitchChange {
        detect: Some(field(&fields, "detect") == "on"),
        alerts: Some(field(&fields, "alerts") == "on"),
        // The recording switch is on the form only for a camera that records.
        record: (field(&fields, "record_switch") == "1").then(|| field(&fields, "record") == "on"),
        mute_until,
    };
    change_switches(&state, &me, &req, &camera, change).await?;
    Ok(redirect(&format!("/cameras/{}", camera.id())))
}

/// A change to a camera's switches; `None` leaves one as it is (`mute_until: Some(None)` unmutes).
#[derive(Debug, Default)]
pub(super) struct SwitchChange {
    pub detect: Option<bool>,
    pub alerts: Option<bool>,
    pub record: Option<bool>,
    pub mute_until: Option<Option<i64>>,
}

/// "Muted until" typed as a local date and time in the camera's time zone (`2026-11-30T07:00`),
/// in ms since the epoch; it must lie ahead.
pub(super) fn mute_until_local(camera: &CameraRuntime, text: &str) -> Result<i64, Error> {
    let until = crate::alerts::policy::parse_local(camera.config.alerts.zone(), text)
        .ok_or_else(|| Error::invalid(format!("{text:?} is not a date and time, like 2026-11-30T07:00")))?;
    if until <= chrono::Utc::now().timestamp_millis() {
        return Err(Error::invalid("That time has passed: choose one in the future."));
    }
    Ok(until)
}

/// Changes a camera's switches (the camera page's form and `PATCH /api/cameras/{id}`), audited.
pub(super) async fn change_switches(
    state: &AppState,
    me: &Identity,
    req: &HttpRequest,
    camera: &CameraRuntime,
    change: SwitchChange,
) -> Result<crate::bus::CameraControls, Error> {
    let after = state
        .cameras
        .controls()
        .change(camera.id(), |c| {
            if let Some(detect) = change.detect {
                c.detect = detect;
            }
            if let Some(alerts) = change.alerts {
                c.alerts = alerts;
            }
            if let Some(record) = change.record {
                c.record = record;
            }
            if let Some(until) = change.mute_until {
                c.mute_until_ms = until;
            }
        })
        .await?;
    let detail = format!(
        "detect {}, alerts {}, record {}, muted until {:?}",
        after.detect, after.alerts, after.record, after.mute_until_ms
    );
    audit(state, me, req, "camera.controls", Some(camera.id()), &detail).await;
    Ok(after)
}

/// `POST /alerts/armed`: away (`armed=on`, alerts go out) or home (`armed=off`, they do not).
pub(super) async fn set_armed(
    state: web::Data<AppState>,
    me: Identity,
    req: HttpRequest,
    body: web::Bytes,
) -> PageResult {
    let fields = form_fields(&body);
    let armed = match field(&fields, "armed") {
        "on" => true,
        "off" => false,
        other => return Err(Error::invalid(format!("armed must be on or off, not {other:?}")).into()),
    };
    state.cameras.controls().set_armed(armed).await?;
    audit(&state, &me, &req, "alerts.armed", None, if armed { "away: armed" } else { "home: disarmed" }).await;
    // Back to the page the switch was on (the dashboard, or the setup guide).
    Ok(redirect(&same_site_path(field(&fields, "back")).unwrap_or_else(|| "/".into())))
}

/// Longest site context kept: it goes with every request to the model.
const MAX_SITE_CONTEXT: usize = 2000;

/// Saves what is normal at the site, for the model's requests (unless the config file sets it).
pub(super) async fn save_site_context(
    state: web::Data<AppState>,
    me: Identity,
    req: HttpRequest,
    body: web::Bytes,
) -> PageResult {
    if !state.config.describe.site_context.trim().is_empty() {
        return Err(Error::conflict(
            "The site context is set in the config file ([describe] site_context); change it there.",
        )
        .into());
    }
    let fields = form_fields(&body);
    let text = field(&fields, "site_context").trim().replace("\r\n", "\n");
    if text.chars().count() > MAX_SITE_CONTEXT {
        let error = format!(
            "The site context is {} characters; keep it under {MAX_SITE_CONTEXT}: it goes with every request.",
            text.chars().count()
        );
        return render(&state, &me, StatusCode::UNPROCESSABLE_ENTITY, None, String::new(), error).await;
    }
    let saved =
        serde_json::to_string(&text).map_err(|e| Error::internal("cannot save the site context").with_source(e))?;
    state.db.put_setting(crate::describe::SITE_CONTEXT_SETTING, &saved).await?;
    *state.describer.site_context.write().expect("site context lock") = text.clone();
    audit(&state, &me, &req, "describe.site_context", None, &format!("{} characters", text.chars().count())).await;
    Ok(redirect("/settings/integrations?done=context"))
}
