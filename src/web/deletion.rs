//! Deleting events on request: one (`DELETE /api/events/{id}`), everything a filter or a time
//! range matches (`POST /api/events/delete`, which only counts unless asked to `confirm`), the
//! events ticked on the events page or matching its filters (a page that asks first, with the
//! count), and a camera's whole history. Administrators only; every deletion is audited with what
//! it removed.

use super::access::{audit, visible_event};
use super::forms::{EventsQuery, form_fields};
use super::respond::{ApiError, PageResult, ok, redirect};
use super::view::Me;
use crate::app::state::AppState;
use crate::auth::Identity;
use crate::db::entities::event;
use crate::erase::{Erased, erase_camera_history, erase_events};
use crate::error::Error;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

async fn erase(state: &AppState, events: &[event::Model]) -> Result<Erased, Error> {
    let rules = |camera: &str| super::recordings::rules_of(state, camera);
    erase_events(&state.db, &state.media, &state.recordings, events, rules, now_ms()).await
}

fn erased_words(erased: &Erased) -> String {
    format!(
        "{} event(s), {} snapshot(s), {} recording file(s) ({} MB)",
        erased.events,
        erased.snapshots,
        erased.recordings,
        erased.bytes / 1_000_000
    )
}

/// `DELETE /api/events/{id}`.
pub(super) async fn delete_event(
    state: web::Data<AppState>,
    me: Identity,
    req: HttpRequest,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let event = visible_event(&state, &me, *id).await?;
    let erased = erase(&state, std::slice::from_ref(&event)).await?;
    audit(&state, &me, &req, "events.delete", Some(&format!("event {}", event.id)), &erased_words(&erased)).await;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "deleted": erased })))
}

/// What `POST /api/events/delete` takes: event ids, or the filters of `/api/events` (with
/// `from`/`to` for a range); `confirm: true` to delete, else only the count.
#[derive(serde::Deserialize)]
pub(super) struct DeleteRequest {
    #[serde(default)]
    ids: Vec<i64>,
    #[serde(flatten)]
    filter: EventsQuery,
    #[serde(default)]
    confirm: bool,
}

/// The events `ids` (when given) or `query` selects, among those `me` may see.
async fn selected(
    state: &AppState,
    me: &Identity,
    ids: &[i64],
    query: &EventsQuery,
) -> Result<Vec<event::Model>, Error> {
    let mut filter = query.to_filter(500)?;
    filter.allowed_cameras = me.allowed_cameras();
    let mut events = state.db.events_matching(&filter).await?;
    if !ids.is_empty() {
        events.retain(|e| ids.contains(&e.id));
    }
    Ok(events)
}

pub(super) async fn delete_events_api(
    state: web::Data<AppState>,
    me: Identity,
    req: HttpRequest,
    body: web::Json<DeleteRequest>,
) -> Result<HttpResponse, ApiError> {
    let events = selected(&state, &me, &body.ids, &body.filter).await?;
    if !body.confirm {
        return Ok(HttpResponse::Ok().json(serde_json::json!({ "matched": events.len(), "deleted": null })));
    }
    let erased = erase(&state, &events).await?;
    audit(
        &state,
        &me,
        &req,
        "events.delete",
        None,
        &format!("{} by filter: {}", erased_words(&erased), describe(&body.filter, &body.ids)),
    )
    .await;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "matched": events.len(), "deleted": erased })))
}

/// The selection in words, for the question and the audit log.
pub(super) fn describe(query: &EventsQuery, ids: &[i64]) -> String {
    if !ids.is_empty() {
        return format!("{} selected event(s)", ids.len());
    }
    let parts: Vec<String> = query
        .filter_fields()
        .into_iter()
        .filter_map(|(key, value)| {
            let name = match key {
                "date" => "day",
                "q" => "words",
                "alerts" => "alerts only",
                other => other,
            };
            value.as_deref().filter(|v| !v.trim().is_empty()).map(|v| format!("{name} {v}"))
        })
        .collect();
    if parts.is_empty() { "every event".into() } else { parts.join(", ") }
}

#[derive(Template)]
#[template(path = "events_delete.html")]
struct ConfirmPage {
    nav: &'static str,
    me: Me,
    count: usize,
    what: String,
    /// The form fields that select the same events again.
    fields: Vec<(String, String)>,
    action: String,
    back: String,
}

/// The events page's filters, or the ticked events, as a form: asked first (`confirm` absent),
/// deleted with `confirm=yes`.
pub(super) async fn delete_events_form(
    state: web::Data<AppState>,
    me: Identity,
    req: HttpRequest,
    body: web::Bytes,
) -> PageResult {
    let fields = form_fields(&body);
    let ids: Vec<i64> = fields
        .get("id")
        .into_iter()
        .flatten()
        .map(|id| id.parse().map_err(|_| Error::invalid(format!("id {id:?} is not an event number"))))
        .collect::<Result<_, _>>()?;
    let query = EventsQuery::from_fields(&fields);
    if fields.contains_key("selected") && ids.is_empty() {
        return Err(Error::invalid("No events were selected: tick the events to delete first.").into());
    }
    let events = selected(&state, &me, &ids, &query).await?;
    if super::forms::field(&fields, "confirm") != "yes" {
        let mut kept: Vec<(String, String)> = fields
            .iter()
            .filter(|(key, _)| !["csrf", "confirm", "back"].contains(&key.as_str()))
            .flat_map(|(key, values)| values.iter().map(move |v| (key.clone(), v.clone())))
            .collect();
        kept.sort();
        let page = ConfirmPage {
            nav: "events",
            me: Me::of(&me),
            count: events.len(),
            what: describe(&query, &ids),
            fields: kept,
            action: "/events/delete".into(),
            back: "/events".into(),
        };
        return ok(page.render());
    }
    let erased = erase(&state, &events).await?;
    audit(&state, &me, &req, "events.delete", None, &format!("{}: {}", erased_words(&erased), describe(&query, &ids)))
        .await;
    Ok(redirect(&format!("/events?deleted={}", erased.events)))
}

/// The events page's "Delete…": asks about everything its filters match.
pub(super) async fn confirm_delete_matching(
    state: web::Data<AppState>,
    me: Identity,
    query: web::Query<EventsQuery>,
) -> PageResult {
    let events = selected(&state, &me, &[], &query).await?;
    let q = query.into_inner();
    let fields: Vec<(String, String)> = q
        .filter_fields()
        .into_iter()
        .filter_map(|(key, value)| value.clone().filter(|v| !v.is_empty()).map(|v| (key.to_string(), v)))
        .collect();
    let page = ConfirmPage {
        nav: "events",
        me: Me::of(&me),
        count: events.len(),
        what: describe(&q, &[]),
        fields,
        action: "/events/delete".into(),
        back: "/events".into(),
    };
    ok(page.render())
}

/// A camera's "Delete history": asks first with the count, then deletes.
pub(super) async fn camera_history(
    state: web::Data<AppState>,
    me: Identity,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Bytes,
) -> PageResult {
    let camera = id.into_inner();
    // The page asks (a GET, or a form without `confirm=yes`); the form it shows deletes.
    let confirmed = form_fields(&body).get("confirm").and_then(|v| v.first()).is_some_and(|v| v == "yes");
    if !confirmed {
        let count = state.db.count_events(Some(&camera)).await? as usize;
        let page = ConfirmPage {
            nav: "dashboard",
            me: Me::of(&me),
            count,
            what: format!("camera {camera}'s whole history: every event and every recording"),
            fields: Vec::new(),
            action: format!("/cameras/{camera}/history/delete"),
            back: format!("/cameras/{camera}"),
        };
        return ok(page.render());
    }
    let rules = super::recordings::rules_of(&state, &camera);
    let erased = erase_camera_history(&state.db, &state.media, &state.recordings, &camera, rules, now_ms()).await?;
    audit(&state, &me, &req, "camera.history_delete", Some(&camera), &erased_words(&erased)).await;
    Ok(redirect(&format!("/events?deleted={}", erased.events)))
}
