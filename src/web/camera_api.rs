//! The JSON API for cameras: `POST /api/cameras`, `PATCH /api/cameras/{id}` and
//! `DELETE /api/cameras/{id}` (administrators, usually with an API token), for scripts and Home
//! Assistant. A request body is laid over the camera form's fields (those of the camera being
//! changed, or a new camera's defaults) and goes through the same check
//! ([`CameraForm::to_config`]) and the same camera manager calls as the HTML forms, so the rules
//! and the messages, each naming its field, are the same. The switches (`detect`, `alerts`,
//! `record`, `mute_until`) go through the camera page's code ([`change_switches`]).

use super::access::{audit, visible_camera};
use super::forms::{CameraForm, FieldErrors};
use super::integrations::{SwitchChange, change_switches, mute_until_local};
use super::respond::ApiError;
use super::view::CameraView;
use crate::app::state::AppState;
use crate::auth::Identity;
use crate::camera::CameraRuntime;
use crate::error::{Error, ErrorKind};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use serde_json::{Map, Value};

/// Form fields that are checkboxes: `true` ticks them.
const CHECKBOXES: [&str; 2] = ["enabled", "forget_credentials"];
/// Form fields with one item per line (polygons, zones, quiet times, rules); a JSON list of
/// strings is joined with line breaks, other lists with commas.
const LINE_FIELDS: [&str; 5] = ["mask", "object_mask", "zones", "alert_quiet", "alert_rules"];

/// Why a request was refused: fields with what is wrong with each, or another error (answered
/// as every API error is).
#[derive(Debug)]
pub(super) enum Refused {
    Fields(StatusCode, FieldErrors),
    Other(ApiError),
}

impl From<Error> for Refused {
    fn from(err: Error) -> Self {
        Self::Other(ApiError(err))
    }
}

impl From<FieldErrors> for Refused {
    fn from(errors: FieldErrors) -> Self {
        Self::Fields(StatusCode::UNPROCESSABLE_ENTITY, errors)
    }
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Fields(_, errors) => write!(f, "{}", summary(errors)),
            Self::Other(err) => err.fmt(f),
        }
    }
}

impl ResponseError for Refused {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Fields(status, _) => *status,
            Self::Other(err) => err.status_code(),
        }
    }

    /// `{"error": "url: …; fps: …", "fields": {"url": "…", "fps": "…"}}`: the form's inline
    /// messages as JSON.
    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Fields(status, errors) => {
                HttpResponse::build(*status).json(serde_json::json!({ "error": summary(errors), "fields": errors }))
            }
            Self::Other(err) => err.error_response(),
        }
    }
}

fn summary(errors: &FieldErrors) -> String {
    errors.iter().map(|(field, message)| format!("{field}: {message}")).collect::<Vec<_>>().join("; ")
}

type Answer = Result<HttpResponse, Refused>;

/// `POST /api/cameras`: a new camera from a JSON object (`id` and `url` at least); 201 with the
/// camera as `GET /api/cameras/{id}` shows it.
pub(super) async fn create(state: web::Data<AppState>, me: Identity, req: HttpRequest, body: web::Bytes) -> Answer {
    let mut body = json_object(&body)?;
    let switches = Switches::take(&mut body)?;
    let camera = over_form(CameraForm::blank(), body)?.to_config(None)?;
    let id = camera.id.clone();
    match state.camera_manager.create(camera).await {
        Err(err) if err.kind == ErrorKind::Conflict => {
            return Err(Refused::Fields(StatusCode::CONFLICT, FieldErrors::from([("id".to_string(), err.message)])));
        }
        result => result?,
    }
    audit(&state, &me, &req, "camera.create", Some(&id), "api").await;
    let runtime = known(&state, &id)?;
    if let Some(switches) = switches {
        change_switches(&state, &me, &req, &runtime, switches.for_camera(&runtime)?).await?;
    }
    Ok(HttpResponse::Created().insert_header(("Location", format!("/api/cameras/{id}"))).json(CameraView::of(&runtime)))
}

/// `PATCH /api/cameras/{id}`: the fields given change, the others stay. Settings need a camera
/// added in the UI or API (config-file cameras are read-only); the switches work on every camera.
pub(super) async fn update(
    state: web::Data<AppState>,
    me: Identity,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Bytes,
) -> Answer {
    let mut body = json_object(&body)?;
    let switches = Switches::take(&mut body)?;
    let mut runtime = visible_camera(&state, &me, &id)?;
    if !body.is_empty() {
        let editable = state.camera_manager.editable(&id)?;
        let form = over_form(CameraForm::from_config(&editable.config), body)?;
        if form.id != *id {
            let message = format!("a camera's id cannot change (it is {:?}); add a new camera instead", id.as_str());
            return Err(FieldErrors::from([("id".to_string(), message)]).into());
        }
        let camera = form.to_config(Some(&editable.config))?;
        state.camera_manager.update(&id, camera).await?;
        audit(&state, &me, &req, "camera.update", Some(&id), "api").await;
        runtime = known(&state, &id)?;
    }
    if let Some(switches) = switches {
        change_switches(&state, &me, &req, &runtime, switches.for_camera(&runtime)?).await?;
    }
    Ok(HttpResponse::Ok().json(CameraView::of(&runtime)))
}

/// `DELETE /api/cameras/{id}`: the camera stops and goes; its events are kept. 204.
pub(super) async fn delete(
    state: web::Data<AppState>,
    me: Identity,
    req: HttpRequest,
    id: web::Path<String>,
) -> Answer {
    state.camera_manager.delete(&id).await?;
    audit(&state, &me, &req, "camera.delete", Some(&id), "events kept; api").await;
    tracing::info!(camera = %id, "camera deleted through the API; its events are kept");
    Ok(HttpResponse::NoContent().finish())
}

fn known(state: &AppState, id: &str) -> Result<std::sync::Arc<CameraRuntime>, Error> {
    state.cameras.get(id).ok_or_else(|| Error::not_found(format!("There is no camera {id:?}.")))
}

fn json_object(body: &[u8]) -> Result<Map<String, Value>, Error> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => {
            Err(Error::invalid("The body must be a JSON object, like {\"id\": \"porch\", \"url\": \"rtsp://…\"}."))
        }
        Err(err) => Err(Error::invalid(format!("The body is not JSON: {err}"))),
    }
}

/// The switches in a request (`detect`, `alerts`, `record`, `mute_until`): they change without
/// restarting the camera.
struct Switches {
    detect: Option<bool>,
    alerts: Option<bool>,
    record: Option<bool>,
    /// null unmutes; a number is ms since 1970; a string a local time in the camera's zone.
    mute_until: Option<Value>,
}

impl Switches {
    /// Takes the switches out of `body`, leaving the settings; `None` when there are none.
    fn take(body: &mut Map<String, Value>) -> Result<Option<Self>, FieldErrors> {
        let mut errors = FieldErrors::new();
        let mut flag = |name: &str| match body.remove(name) {
            None => None,
            Some(Value::Bool(on)) => Some(on),
            Some(other) => {
                errors.insert(name.into(), format!("{other} is not true or false"));
                None
            }
        };
        let (detect, alerts, record) = (flag("detect"), flag("alerts"), flag("record"));
        let mute_until = body.remove("mute_until");
        if !errors.is_empty() {
            return Err(errors);
        }
        let none = detect.is_none() && alerts.is_none() && record.is_none() && mute_until.is_none();
        Ok((!none).then_some(Self { detect, alerts, record, mute_until }))
    }

    fn for_camera(self, camera: &CameraRuntime) -> Result<SwitchChange, Refused> {
        let mute_until = match self.mute_until {
            None => None,
            Some(Value::Null) => Some(None),
            Some(Value::Number(ms)) if ms.as_i64().is_some_and(|ms| ms > chrono::Utc::now().timestamp_millis()) => {
                Some(ms.as_i64())
            }
            Some(Value::String(local)) => Some(Some(
                mute_until_local(camera, &local)
                    .map_err(|err| Refused::from(FieldErrors::from([("mute_until".to_string(), err.message)])))?,
            )),
            Some(other) => {
                let message = format!(
                    "{other} is not a time ahead: use null (unmute), ms since 1970, or a local time like \"2026-11-30T07:00\""
                );
                return Err(FieldErrors::from([("mute_until".to_string(), message)]).into());
            }
        };
        Ok(SwitchChange { detect: self.detect, alerts: self.alerts, record: self.record, mute_until })
    }
}

/// Lays the JSON fields over `form`; unknown fields and values of the wrong type are refused,
/// each by name.
fn over_form(form: CameraForm, fields: Map<String, Value>) -> Result<CameraForm, Refused> {
    let Ok(Value::Object(mut merged)) = serde_json::to_value(&form) else {
        return Err(Error::internal("cannot read the camera form").into());
    };
    let mut errors = FieldErrors::new();
    for (name, value) in fields {
        if !merged.contains_key(&name) {
            errors.insert(name.clone(), format!("{name:?} is not a camera field; see the API table in README.md"));
            continue;
        }
        let checkbox = CHECKBOXES.contains(&name.as_str());
        let text = match value {
            Value::Bool(on) if checkbox => {
                if on {
                    Value::from("on")
                } else {
                    Value::Null
                }
            }
            Value::String(text) if !checkbox => Value::from(text),
            Value::Number(number) if !checkbox => Value::from(number.to_string()),
            Value::Array(items) if !checkbox && items.iter().all(Value::is_string) => {
                let items: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
                Value::from(items.join(if LINE_FIELDS.contains(&name.as_str()) { "\n" } else { ", " }))
            }
            Value::Null if !checkbox => Value::from(""),
            other => {
                let wanted = if checkbox { "true or false" } else { "a string, a number or a list of strings" };
                errors.insert(name.clone(), format!("{other} is not {wanted}"));
                continue;
            }
        };
        merged.insert(name, text);
    }
    if !errors.is_empty() {
        return Err(errors.into());
    }
    serde_json::from_value(Value::Object(merged))
        .map_err(|err| Error::internal("cannot fill the camera form").with_source(err).into())
}
