//! `GET /api/openapi.json`: an OpenAPI 3.1 description of the JSON API, built from the route table
//! ([`super::routes`]) so that a route cannot be missing from it, with a summary, the query
//! parameters and the request body of each operation from [`describe`]. Tools such as Swagger UI,
//! Home Assistant's REST integrations or a generated client read it.

use super::{Access, RouteSpec};
use actix_web::HttpResponse;
use actix_web::http::Method;
use serde_json::{Map, Value, json};

/// What the description says of one operation.
pub(super) struct Operation {
    pub summary: &'static str,
    /// Query parameters: name, meaning.
    pub query: &'static [(&'static str, &'static str)],
    /// The media type answered on success, when not JSON.
    pub produces: Option<&'static str>,
    /// Takes the camera fields as a JSON object (the camera API).
    pub camera_body: bool,
}

const fn op(summary: &'static str) -> Operation {
    Operation { summary, query: &[], produces: None, camera_body: false }
}

const EVENT_FILTERS: &[(&str, &str)] = &[
    ("camera", "a camera id"),
    ("kind", "object, motion or sensor"),
    ("label", "an object label, e.g. person"),
    ("zone", "a zone name"),
    ("date", "a day, YYYY-MM-DD, in the server's time zone"),
    ("before", "only events with a smaller id (the next page)"),
    ("limit", "at most this many (50 unless given)"),
    ("q", "words to search for in titles, descriptions and labels"),
    ("severity", "low, medium or high"),
    ("status", "new, viewed or resolved"),
    ("alerts", "alerted: only events that alerted"),
    ("tag", "a tag"),
    ("from", "only events from this moment: YYYY-MM-DD, RFC 3339 or ms since 1970"),
    ("to", "only events before this moment, likewise"),
];

/// The export's parameters: the event filters, less paging, and whether clips go in.
const EXPORT_QUERY: &[(&str, &str)] = &[
    ("camera", "a camera id"),
    ("kind", "object, motion or sensor"),
    ("label", "an object label, e.g. person"),
    ("zone", "a zone name"),
    ("date", "a day, YYYY-MM-DD, in the server's time zone"),
    ("from", "from this moment: YYYY-MM-DD, RFC 3339 or ms since 1970"),
    ("to", "before this moment, likewise"),
    ("q", "words to search for"),
    ("severity", "low, medium or high"),
    ("status", "new, viewed or resolved"),
    ("alerts", "1: only events that alerted"),
    ("tag", "a tag"),
    ("clips", "0: leave the video clips out"),
];

/// The summary and parameters of a route of the API; `None` for one not described yet (the
/// test of this module fails then).
pub(super) fn describe(method: &Method, path: &str) -> Option<Operation> {
    let get = *method == Method::GET;
    Some(match (method.as_str(), path) {
        ("GET", "/api/health") => op("Whether the server and its database answer: {\"status\":\"ok\"}, or 503"),
        ("GET", "/metrics") => Operation { produces: Some("text/plain"), ..op("Prometheus metrics") },
        ("GET", "/api/cameras") => op("Every camera the caller may see, with its live status"),
        ("POST", "/api/cameras") => Operation {
            camera_body: true,
            ..op("Add a camera from the camera form's fields; 201, or 422/409 with the fields named")
        },
        ("GET", "/api/cameras/{id}") => op("One camera with its live status"),
        ("PATCH", "/api/cameras/{id}") => Operation {
            camera_body: true,
            ..op("Change the fields given and the switches (detect, alerts, record, mute_until)")
        },
        ("DELETE", "/api/cameras/{id}") => op("Remove a camera added in the UI or API; its events are kept. 204"),
        ("GET", "/api/cameras/{id}/latest.jpg") => {
            Operation { produces: Some("image/jpeg"), ..op("The camera's latest picture") }
        }
        ("GET", "/api/cameras/{id}/live.mp4") => Operation {
            produces: Some("video/mp4"),
            query: &[("stream", "main (full resolution, the default) or sub (the detect stream)")],
            ..op("Live video as fragmented MP4 (H.264/H.265 as the camera sends it)")
        },
        ("GET", "/api/cameras/{id}/live.mjpeg") => {
            Operation { produces: Some("multipart/x-mixed-replace"), ..op("Live pictures as MJPEG") }
        }
        ("GET", "/api/cameras/{id}/recordings") => Operation {
            query: &[("from", "start, RFC 3339 or ms since 1970"), ("to", "end, likewise")],
            ..op("The recorded spans and events of a camera in a time range")
        },
        ("GET", "/api/cameras/{id}/export.mp4") => Operation {
            produces: Some("video/mp4"),
            query: &[
                ("from", "start, RFC 3339 or ms since 1970"),
                ("to", "end, at most 24 hours after from"),
                ("download", "1: as a download with a file name"),
            ],
            ..op("A span of recorded video as one MP4 (HTTP Range supported)")
        },
        ("GET", "/api/storage") => op("What recordings take per camera, free space, limits and deletions"),
        ("GET", "/api/events") => {
            Operation { query: EVENT_FILTERS, ..op("Events, newest first, filtered; next_before pages on") }
        }
        ("GET", "/api/events/{id}") => op("One event with its alert and deliveries"),
        ("GET", "/api/events/{id}/snapshot.jpg") => Operation {
            produces: Some("image/jpeg"),
            query: &[("boxes", "1: the copy with boxes and labels drawn in")],
            ..op("An event's snapshot")
        },
        ("GET", "/api/events/{id}/clip.mp4") => {
            Operation { produces: Some("video/mp4"), ..op("An event's video, from the recordings") }
        }
        ("DELETE", "/api/events/{id}") => {
            op("Delete an event with its snapshots and the footage no other event needs (admin); what went")
        }
        ("POST", "/api/events/delete") => {
            op("Delete events (admin). JSON body: ids, or the filters of GET /api/events (with from/to); \
             without \"confirm\": true only the count (matched) is answered")
        }
        ("GET", "/api/export.zip") => Operation {
            produces: Some("application/zip"),
            query: EXPORT_QUERY,
            ..op("The selected events as a ZIP (events.json, snapshots, clips), streamed; see docs/export.md")
        },
        ("GET", "/api/reports") => op("The reports made, newest first, with their deliveries and PDF links"),
        ("GET", "/api/reports/{file}") => {
            Operation { produces: Some("application/pdf"), ..op("A report's PDF: /api/reports/<id>.pdf") }
        }
        ("GET", "/api/integrations") => op("The alert channels' state, waiting and given-up alerts"),
        ("GET", "/api/push") => op("Whether push notifications are on, the VAPID public key, and your devices"),
        ("POST", "/api/push/subscriptions") => {
            op("Turns notifications on for a device: {\"name\", \"subscription\": PushSubscription.toJSON()}")
        }
        ("DELETE", "/api/push/subscriptions/{id}") => op("Turns notifications off for one of your devices"),
        ("GET" | "POST", "/api/whatsapp/webhook") => op(if get {
            "Meta's webhook verification (hub.challenge)"
        } else {
            "Meta's WhatsApp deliveries, signed with [whatsapp] app_secret"
        }),
        ("GET", "/api/discovery") => op("The last network scan and the ONVIF devices found"),
        ("GET", "/api/nodes") => op("ESP32/ESPHome nodes and their newest sensor events"),
        ("GET", "/api/openapi.json") => op("This description"),
        _ => return None,
    })
}

/// The routes the description covers: the JSON API and the metrics.
pub(super) fn is_api(path: &str) -> bool {
    path.starts_with("/api/") || path == "/metrics"
}

/// The document, from the route table.
pub(super) fn document(routes: &[RouteSpec]) -> Value {
    let mut paths = Map::new();
    for route in routes.iter().filter(|r| is_api(r.path)) {
        let Some(operation) = describe(&route.method, route.path) else { continue };
        let entry = paths.entry(route.path.to_string()).or_insert_with(|| json!({}));
        entry[route.method.as_str().to_ascii_lowercase()] = operation_json(route, &operation);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Watchpost API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Send an API token (created on the account page or with `watchpost token create`) as \
                `Authorization: Bearer <token>`. Viewers see only the cameras shared with them; routes marked \
                admin need an administrator's token.",
        },
        "components": {
            "securitySchemes": { "token": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT" } },
            "schemas": { "Error": error_schema(), "CameraFields": camera_fields_schema() },
        },
        "security": [{ "token": [] }],
        "paths": paths,
    })
}

fn operation_json(route: &RouteSpec, operation: &Operation) -> Value {
    let mut parameters: Vec<Value> = Vec::new();
    if route.path.contains("{id}") {
        let integer = route.path.starts_with("/api/events/");
        parameters.push(json!({
            "name": "id", "in": "path", "required": true,
            "schema": { "type": if integer { "integer" } else { "string" } },
        }));
    }
    for (name, meaning) in operation.query {
        parameters.push(json!({ "name": name, "in": "query", "required": false, "description": meaning, "schema": { "type": "string" } }));
    }
    let success = match operation.produces {
        Some(media) => json!({ "description": "OK", "content": { media: {} } }),
        None => json!({ "description": "OK", "content": { "application/json": {} } }),
    };
    let code = match (route.method.as_str(), operation.camera_body) {
        ("POST", true) => "201",
        ("DELETE", _) => "204",
        _ => "200",
    };
    let mut responses = Map::new();
    responses.insert(code.into(), if code == "204" { json!({ "description": "Done" }) } else { success });
    let error = json!({ "description": "Refused", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } });
    responses.insert("default".into(), error);
    let mut value = json!({
        "summary": operation.summary,
        "parameters": parameters,
        "responses": responses,
    });
    match route.access {
        Access::Public | Access::Signed => value["security"] = json!([]),
        Access::Admin => value["description"] = json!("Administrators only."),
        Access::Viewer | Access::Metrics => {}
    }
    if operation.camera_body {
        value["requestBody"] = json!({
            "required": true,
            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/CameraFields" } } },
        });
    }
    value
}

fn error_schema() -> Value {
    json!({
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": { "type": "string", "description": "what is wrong, in words" },
            "fields": { "type": "object", "additionalProperties": { "type": "string" }, "description": "field name → what is wrong with it" },
        },
    })
}

/// The camera form's fields as the camera API takes them (README's API table explains each).
fn camera_fields_schema() -> Value {
    let text = json!({ "type": ["string", "number", "array", "null"], "items": { "type": "string" } });
    let mut properties = Map::new();
    if let Ok(Value::Object(form)) = serde_json::to_value(super::forms::CameraForm::default()) {
        for name in form.keys() {
            properties.insert(name.clone(), text.clone());
        }
    }
    for name in ["enabled", "forget_credentials", "detect", "alerts", "record"] {
        properties.insert(name.to_string(), json!({ "type": "boolean" }));
    }
    properties.insert(
        "mute_until".into(),
        json!({ "type": ["null", "integer", "string"], "description": "null unmutes; ms since 1970; or a local time like 2026-11-30T07:00" }),
    );
    json!({ "type": "object", "additionalProperties": false, "properties": properties })
}

/// `GET /api/openapi.json`.
pub(super) async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(document(&super::routes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_api_route_in_the_route_table_is_described() {
        let routes = super::super::routes();
        let document = document(&routes);
        for route in routes.iter().filter(|r| is_api(r.path)) {
            let method = route.method.as_str().to_ascii_lowercase();
            let operation = &document["paths"][route.path][&method];
            assert!(
                operation["summary"].as_str().is_some_and(|s| !s.is_empty()),
                "{method} {} is not described",
                route.path
            );
        }
        let camera = &document["paths"]["/api/cameras"]["post"];
        assert_eq!(
            camera["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/CameraFields"
        );
        let fields = &document["components"]["schemas"]["CameraFields"]["properties"];
        assert!(fields["url"].is_object() && fields["fps"].is_object() && fields["detect"]["type"] == "boolean");
        assert_eq!(document["paths"]["/api/health"]["get"]["security"], json!([]), "health needs no token");
    }
}
