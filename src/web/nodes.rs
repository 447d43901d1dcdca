//! The Nodes page: ESP32/ESPHome nodes by MAC address (firmware, address, board, last seen,
//! online), their sensors' recent changes, and adopting a camera node's MJPEG stream as a camera.

use super::discovery::start_adopted_camera;
use super::forms::{field, form_fields};
use super::respond::{PageResult, html, ok};
use super::view::{Me, format_ago, format_time};
use crate::app::state::AppState;
use crate::auth::Identity;
use crate::camera::settings::CameraConfig;
use crate::db::entities::{node, node_event};
use crate::discovery::nodes::is_online;
use crate::error::Error;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use std::time::Duration;

/// What mDNS said about a node beyond the registry's columns.
fn info(row: &node::Model) -> serde_json::Value {
    row.info.as_deref().map_or(serde_json::Value::Null, |i| {
        crate::db::stored_json_or_logged(i, format_args!("node {}'s details", row.id))
    })
}

fn text(info: &serde_json::Value, key: &str) -> String {
    info.get(key).and_then(|v| v.as_str()).unwrap_or_default().to_string()
}

/// `aabbccddeeff` → `aa:bb:cc:dd:ee:ff`.
fn mac_text(mac: &str) -> String {
    mac.as_bytes().chunks(2).map(|pair| String::from_utf8_lossy(pair).into_owned()).collect::<Vec<_>>().join(":")
}

/// The stream a camera node announced, or where ESPHome's camera web server usually serves it.
fn suggested_stream(row: &node::Model) -> String {
    let info = info(row);
    let Some(address) = row.address.as_deref() else { return String::new() };
    match (text(&info, "stream"), info.get("port").and_then(|p| p.as_u64())) {
        (stream, Some(port)) if !stream.is_empty() => format!("http://{address}:{port}{stream}"),
        _ if row.kind == "esphome" => format!("http://{address}:8080/"),
        _ => String::new(),
    }
}

struct NodeView {
    key: String,
    name: String,
    kind: String,
    mac: String,
    firmware: String,
    address: String,
    board: String,
    seen: String,
    online: bool,
    camera_id: String,
    is_camera: bool,
}

impl NodeView {
    fn of(row: &node::Model, online: bool) -> Self {
        let info = info(row);
        let board = [text(&info, "board"), text(&info, "platform")].into_iter().filter(|s| !s.is_empty());
        Self {
            key: url::form_urlencoded::byte_serialize(row.id.as_bytes()).collect::<String>().replace('+', "%20"),
            name: row.name.clone(),
            kind: match row.kind.as_str() {
                "esphome" => "ESPHome".into(),
                "watchpost-node" => format!("Watchpost {}", text(&info, "role")),
                _ => "ESP32 web server".into(),
            },
            mac: row.mac.as_deref().map(mac_text).unwrap_or_else(|| "—".into()),
            firmware: row.firmware.clone().unwrap_or_else(|| "—".into()),
            address: row.address.clone().unwrap_or_else(|| "—".into()),
            board: board.collect::<Vec<_>>().join(" · "),
            seen: row.last_seen_ms.map(format_ago).unwrap_or_else(|| "never".into()),
            online,
            camera_id: row.camera_id.clone().unwrap_or_default(),
            is_camera: text(&info, "role") == "camera",
        }
    }
}

struct EventView {
    node: String,
    name: String,
    kind: String,
    what: &'static str,
    at: String,
    ago: String,
}

impl EventView {
    fn of(event: &node_event::Model, nodes: &[node::Model]) -> Self {
        let node = nodes.iter().find(|n| n.id == event.node_id).map(|n| n.name.clone()).unwrap_or_default();
        let what = match (event.kind.as_str(), event.active) {
            ("motion", true) => "motion",
            ("motion", false) => "clear",
            ("door" | "window", true) => "opened",
            ("door" | "window", false) => "closed",
            (_, true) => "on",
            (_, false) => "off",
        };
        Self {
            node,
            name: event.name.clone(),
            kind: event.kind.clone(),
            what,
            at: format_time(event.at_ms),
            ago: format_ago(event.at_ms),
        }
    }
}

#[derive(Template)]
#[template(path = "nodes.html")]
struct NodesPage {
    nav: &'static str,
    me: Me,
    nodes: Vec<NodeView>,
    events: Vec<EventView>,
    /// Cameras a node's sensors can be linked to.
    cameras: Vec<String>,
    offline_after: String,
    /// Empty when nodes are looked for only on request.
    scan_every: String,
}

pub(super) async fn nodes_page(state: web::Data<AppState>, me: Identity) -> PageResult {
    let now = chrono::Utc::now().timestamp_millis();
    let config = &state.config.discovery;
    let rows = state.db.list_nodes().await?;
    let events = state.db.node_events(None, 30).await?;
    ok(NodesPage {
        nav: "nodes",
        me: Me::of(&me),
        nodes: rows.iter().map(|r| NodeView::of(r, is_online(r.last_seen_ms, now, config))).collect(),
        events: events.iter().map(|e| EventView::of(e, &rows)).collect(),
        cameras: state.cameras.list().iter().map(|c| c.id().to_string()).collect(),
        offline_after: super::view::format_duration(i64::from(config.node_offline_secs) * 1000),
        scan_every: match config.node_scan_secs {
            0 => String::new(),
            secs => super::view::format_duration(i64::from(secs) * 1000),
        },
    }
    .render())
}

pub(super) async fn nodes_api(state: web::Data<AppState>) -> Result<HttpResponse, super::respond::ApiError> {
    let now = chrono::Utc::now().timestamp_millis();
    let config = &state.config.discovery;
    let nodes: Vec<serde_json::Value> = state
        .db
        .list_nodes()
        .await?
        .iter()
        .map(|n| {
            let info = info(n);
            serde_json::json!({
                "id": n.id, "name": n.name, "kind": n.kind, "mac": n.mac, "firmware": n.firmware,
                "address": n.address, "port": info.get("port"), "web_port": info.get("web_port"),
                "board": info.get("board"), "platform": info.get("platform"), "role": info.get("role"),
                "stream": info.get("stream"), "snapshot": info.get("snapshot"),
                "first_seen_ms": n.created_ms, "last_seen_ms": n.last_seen_ms,
                "online": is_online(n.last_seen_ms, now, config), "camera": n.camera_id,
            })
        })
        .collect();
    let events = state.db.node_events(None, 100).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "nodes": nodes, "events": events })))
}

async fn find_node(state: &AppState, id: &str) -> Result<node::Model, Error> {
    state.db.get_node(id).await?.ok_or_else(|| Error::not_found("That node is not in the nodes list."))
}

#[derive(Template)]
#[template(path = "adopt_node.html")]
struct AdoptNodePage {
    nav: &'static str,
    me: Me,
    node: NodeView,
    id: String,
    name: String,
    url: String,
    error: String,
}

/// `POST /nodes/{id}/link` (`camera`, empty to unlink): the node's sensors make events, and so
/// alerts, on that camera.
pub(super) async fn link(
    state: web::Data<AppState>,
    me: Identity,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Bytes,
) -> PageResult {
    let row = find_node(&state, &id).await?;
    let fields = form_fields(&body);
    let camera = field(&fields, "camera").trim();
    if !camera.is_empty() && state.cameras.get(camera).is_none() {
        return Err(Error::invalid(format!("There is no camera {camera:?}.")).into());
    }
    let camera = (!camera.is_empty()).then_some(camera);
    state.db.set_node_camera(&row.id, camera).await?;
    super::access::audit(&state, &me, &req, "node.link", Some(&row.id), camera.unwrap_or("unlinked")).await;
    Ok(super::respond::redirect("/nodes"))
}

pub(super) async fn adopt_form(state: web::Data<AppState>, me: Identity, id: web::Path<String>) -> PageResult {
    let row = find_node(&state, &id).await?;
    let page = AdoptNodePage {
        nav: "nodes",
        me: Me::of(&me),
        node: NodeView::of(&row, false),
        id: super::discovery::suggested_id(&row.name),
        name: row.name.clone(),
        url: suggested_stream(&row),
        error: String::new(),
    };
    ok(page.render())
}

/// Opens `url` once: it must answer with an MJPEG stream or a JPEG.
async fn check_stream(url: &str) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|_| "That is not a URL; it looks like http://192.168.1.50/stream.")?;
    if parsed.scheme() != "http" {
        return Err("A node's stream is plain http://.".into());
    }
    let client = crate::http::client_builder()
        .connect_timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| format!("cannot make an HTTP client: {e}"))?;
    let response = tokio::time::timeout(Duration::from_secs(8), client.get(url).send())
        .await
        .map_err(|_| "The node did not answer within 8 s.".to_string())?
        .map_err(|e| format!("The node cannot be reached: {e}."))?;
    if !response.status().is_success() {
        return Err(format!("The node answered {} at that address.", response.status()));
    }
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if content_type.starts_with("multipart/x-mixed-replace") || content_type.starts_with("image/jpeg") {
        Ok(())
    } else {
        Err(format!(
            "The node answered with {}, not an MJPEG stream; check the stream address.",
            if content_type.is_empty() { "no content type".into() } else { content_type }
        ))
    }
}

/// Creates a camera from the node's stream, once the stream answered.
pub(super) async fn adopt(
    state: web::Data<AppState>,
    me: Identity,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Bytes,
) -> PageResult {
    let row = find_node(&state, &id).await?;
    let fields = form_fields(&body);
    let (camera_id, name, url) = (
        field(&fields, "id").trim().to_string(),
        field(&fields, "name").trim().to_string(),
        field(&fields, "url").trim().to_string(),
    );
    let again = |error: String| {
        let page = AdoptNodePage {
            nav: "nodes",
            me: Me::of(&me),
            node: NodeView::of(&row, false),
            id: camera_id.clone(),
            name: name.clone(),
            url: url.clone(),
            error,
        };
        Ok(html(StatusCode::UNPROCESSABLE_ENTITY, page.render()))
    };
    if state.cameras.get(&camera_id).is_some() {
        return again(format!("{camera_id:?} is already used by another camera; choose another id."));
    }
    let camera = CameraConfig::new(camera_id.clone(), name.clone(), url.clone());
    if let Some(problems) = camera.problems_in_words() {
        return again(problems);
    }
    if let Err(problem) = check_stream(&url).await {
        return again(format!("{problem} Nothing was created."));
    }
    let camera_id = camera.id.clone();
    let started = start_adopted_camera(&state, &me, &req, camera, "node").await?;
    state.db.set_node_camera(&row.id, Some(&camera_id)).await?;
    Ok(started)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(kind: &str, info: serde_json::Value) -> node::Model {
        node::Model {
            id: "246f28112233".into(),
            name: "Porch cam".into(),
            kind: kind.into(),
            mac: Some("246f28112233".into()),
            firmware: Some("0.3.0".into()),
            address: Some("10.0.0.9".into()),
            last_seen_ms: Some(0),
            created_ms: 0,
            info: Some(info.to_string()),
            camera_id: None,
        }
    }

    #[test]
    fn camera_nodes_suggest_their_announced_stream() {
        let camera = row("watchpost-node", serde_json::json!({"role": "camera", "port": 80, "stream": "/stream"}));
        assert_eq!(suggested_stream(&camera), "http://10.0.0.9:80/stream");
        assert_eq!(suggested_stream(&row("esphome", serde_json::json!({"port": 6053}))), "http://10.0.0.9:8080/");
        assert_eq!(suggested_stream(&row("esp32", serde_json::json!({"port": 80}))), "");
        let view = NodeView::of(&camera, true);
        assert_eq!(
            (view.mac.as_str(), view.kind.as_str(), view.is_camera),
            ("24:6f:28:11:22:33", "Watchpost camera", true)
        );
    }
}
