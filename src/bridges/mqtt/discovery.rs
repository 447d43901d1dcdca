//! Home Assistant MQTT discovery: the retained config messages that make every camera a device
//! with its entities, and the Watchpost hub a device of its own. Per-component topics
//! (`<prefix>/<component>/<node>/<object>/config`) work on every Home Assistant release.
//!
//! Pure functions of the cameras and settings, so the payloads can be checked without a broker.

use super::topics::Topics;
use serde_json::{Value, json};

/// One entity's discovery message.
#[derive(Debug, Clone, PartialEq)]
pub struct Announcement {
    pub topic: String,
    pub payload: Value,
}

/// What discovery needs to know about a camera.
#[derive(Debug, Clone)]
pub struct CameraInfo {
    pub id: String,
    pub name: String,
    /// Labels the camera tracks (each gets occupancy, count and snapshot entities).
    pub labels: Vec<String>,
    /// Where the camera comes from (`RTSP camera`, `MJPEG camera`, `Video file`).
    pub model: String,
    /// Whether its settings record video (it then gets a recording switch).
    pub records: bool,
}

/// Severity levels an alert event can carry.
pub const SEVERITIES: [&str; 3] = ["low", "medium", "high"];

/// Labels become topic and id parts: lowercase, spaces as `_`, nothing else but `[a-z0-9_-]`.
pub fn slug(label: &str) -> String {
    label
        .trim()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c.to_ascii_lowercase() } else { '_' })
        .collect()
}

fn origin() -> Value {
    json!({
        "name": "Watchpost",
        "sw_version": crate::VERSION,
        "support_url": "https://github.com/watchpost/watchpost",
    })
}

/// Every entity of every camera plus the hub, in a stable order.
pub fn announcements(topics: &Topics, ui_url: &str, cameras: &[CameraInfo]) -> Vec<Announcement> {
    let mut all = hub(topics, ui_url);
    for camera in cameras {
        all.extend(camera_entities(topics, ui_url, camera));
    }
    all
}

struct Entity<'a> {
    component: &'static str,
    object: String,
    name: String,
    fields: Value,
    device: &'a Value,
    node: &'a str,
}

fn build(topics: &Topics, entity: Entity<'_>) -> Announcement {
    let mut payload = json!({
        "name": entity.name,
        "unique_id": format!("{}:{}", entity.node, entity.object),
        "device": entity.device,
        "origin": origin(),
        "availability_topic": topics.status(),
        "payload_available": "online",
        "payload_not_available": "offline",
    });
    if let (Some(target), Value::Object(fields)) = (payload.as_object_mut(), entity.fields) {
        target.extend(fields);
    }
    Announcement { topic: topics.discovery(entity.component, entity.node, &entity.object), payload }
}

fn hub(topics: &Topics, ui_url: &str) -> Vec<Announcement> {
    let node = "watchpost";
    let device = json!({
        "identifiers": [node],
        "name": "Watchpost",
        "manufacturer": "Watchpost",
        "model": "Watchpost hub",
        "sw_version": crate::VERSION,
        "configuration_url": ui_url,
    });
    let sensor = |object: &str, name: &str, topic: String, extra: Value| {
        let mut fields = json!({ "state_topic": topic, "entity_category": "diagnostic" });
        if let (Some(target), Value::Object(extra)) = (fields.as_object_mut(), extra) {
            target.extend(extra);
        }
        build(
            topics,
            Entity { component: "sensor", object: object.into(), name: name.into(), fields, device: &device, node },
        )
    };
    vec![
        // The status sensor reads the availability topic itself, so it shows "offline" too.
        Announcement {
            topic: topics.discovery("sensor", node, "status"),
            payload: json!({
                "name": "Status",
                "unique_id": format!("{node}:status"),
                "device": device,
                "origin": origin(),
                "state_topic": topics.status(),
                "entity_category": "diagnostic",
            }),
        },
        sensor("version", "Version", topics.hub("version"), json!({})),
        sensor(
            "inference_ms",
            "Detector inference time",
            topics.hub("inference_ms"),
            json!({ "unit_of_measurement": "ms", "state_class": "measurement", "device_class": "duration" }),
        ),
        sensor(
            "cameras_online",
            "Cameras online",
            topics.hub("cameras_online"),
            json!({ "state_class": "measurement" }),
        ),
        build(
            topics,
            Entity {
                component: "switch",
                object: "armed".into(),
                name: "Alerts armed (away)".into(),
                fields: json!({
                    "command_topic": topics.hub("armed/set"),
                    "state_topic": topics.hub("armed/state"),
                    "icon": "mdi:shield-home",
                }),
                device: &device,
                node,
            },
        ),
    ]
}

fn camera_entities(topics: &Topics, ui_url: &str, camera: &CameraInfo) -> Vec<Announcement> {
    let node = format!("watchpost_{}", camera.id);
    let device = json!({
        "identifiers": [node],
        "name": camera.name,
        "manufacturer": "Watchpost",
        "model": camera.model,
        "sw_version": crate::VERSION,
        "configuration_url": format!("{ui_url}/cameras/{}", camera.id),
        "via_device": "watchpost",
    });
    let id = camera.id.as_str();
    let entity = |component: &'static str, object: String, name: String, fields: Value| {
        build(topics, Entity { component, object, name, fields, device: &device, node: &node })
    };
    let mut all = vec![
        entity(
            "binary_sensor",
            "motion".into(),
            "Motion".into(),
            json!({ "state_topic": topics.camera(id, "motion"), "device_class": "motion" }),
        ),
        entity(
            "sensor",
            "status".into(),
            "Status".into(),
            json!({ "state_topic": topics.camera(id, "status"), "entity_category": "diagnostic", "icon": "mdi:cctv" }),
        ),
        entity("camera", "picture".into(), "Picture".into(), json!({ "topic": topics.camera(id, "picture") })),
        entity(
            "switch",
            "detect".into(),
            "Object detection".into(),
            json!({
                "state_topic": topics.camera(id, "detect/state"),
                "command_topic": topics.camera(id, "detect/set"),
                "icon": "mdi:motion-sensor",
            }),
        ),
        entity(
            "switch",
            "alerts".into(),
            "Alerts".into(),
            json!({
                "state_topic": topics.camera(id, "alerts/state"),
                "command_topic": topics.camera(id, "alerts/set"),
                "icon": "mdi:bell",
            }),
        ),
        entity(
            "sensor",
            "mute_until".into(),
            "Alerts muted until".into(),
            json!({
                "state_topic": topics.camera(id, "mute_until/state"),
                "device_class": "timestamp",
                "value_template": "{{ value if value else None }}",
                "entity_category": "diagnostic",
            }),
        ),
        entity(
            "event",
            "alert".into(),
            "Alert".into(),
            json!({ "state_topic": topics.camera(id, "alert"), "event_types": SEVERITIES, "icon": "mdi:alarm-light" }),
        ),
        entity(
            "sensor",
            "last_event".into(),
            "Last event".into(),
            json!({
                "state_topic": topics.camera(id, "last_event"),
                "value_template": "{{ value_json.description[:255] }}",
                "json_attributes_topic": topics.camera(id, "last_event"),
                "icon": "mdi:text-box-outline",
            }),
        ),
        entity(
            "sensor",
            "description".into(),
            "Description".into(),
            json!({
                "state_topic": topics.camera(id, "description"),
                "value_template": "{{ (value_json.title or value_json.description)[:255] }}",
                "json_attributes_topic": topics.camera(id, "description"),
                "icon": "mdi:robot-outline",
            }),
        ),
    ];
    if camera.records {
        all.push(entity(
            "switch",
            "record".into(),
            "Recording".into(),
            json!({
                "state_topic": topics.camera(id, "record/state"),
                "command_topic": topics.camera(id, "record/set"),
                "icon": "mdi:record-rec",
            }),
        ));
    }
    for label in &camera.labels {
        let key = slug(label);
        let title = capitalised(label);
        all.push(entity(
            "binary_sensor",
            format!("{key}_occupancy"),
            format!("{title} occupancy"),
            json!({
                "state_topic": topics.camera(id, &key),
                "value_template": "{{ 'ON' if value | int(0) > 0 else 'OFF' }}",
                "device_class": "occupancy",
            }),
        ));
        all.push(entity(
            "sensor",
            format!("{key}_count"),
            format!("{title} count"),
            json!({ "state_topic": topics.camera(id, &key), "state_class": "measurement", "icon": "mdi:counter" }),
        ));
        all.push(entity(
            "image",
            format!("{key}_snapshot"),
            format!("{title} snapshot"),
            json!({ "image_topic": topics.camera(id, &format!("{key}/snapshot")), "content_type": "image/jpeg" }),
        ));
    }
    all
}

/// The retained state topics (leaves under `<base>/<camera>/`) behind a camera entity, so they can
/// be cleared with the entity when its camera or label goes.
pub fn retained_leaves(object: &str) -> Vec<String> {
    match object {
        "motion" | "status" | "picture" | "last_event" | "description" => vec![object.to_string()],
        "detect" | "alerts" | "record" | "mute_until" => vec![format!("{object}/state")],
        _ => {
            if let Some(label) = object.strip_suffix("_count") {
                vec![label.to_string()]
            } else if let Some(label) = object.strip_suffix("_snapshot") {
                vec![format!("{label}/snapshot")]
            } else {
                Vec::new() // occupancy reads the count's topic; alerts are not retained
            }
        }
    }
}

/// `(camera, object)` from a camera entity's config topic.
pub fn parse_config_topic<'a>(topics: &Topics, topic: &'a str) -> Option<(&'a str, &'a str)> {
    let (node, object) = topics.parse_discovery(topic)?;
    Some((node.strip_prefix("watchpost_")?, object))
}

fn capitalised(label: &str) -> String {
    let mut chars = label.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn cameras() -> Vec<CameraInfo> {
        vec![
            CameraInfo {
                id: "drive".into(),
                name: "Driveway".into(),
                labels: vec!["person".into(), "traffic light".into()],
                model: "RTSP camera".into(),
                records: true,
            },
            CameraInfo {
                id: "yard".into(),
                name: "Yard".into(),
                labels: vec![],
                model: "Video file".into(),
                records: false,
            },
        ]
    }

    #[test]
    fn every_entity_has_a_unique_id_a_device_and_an_origin() {
        let topics = Topics::new("watchpost", "homeassistant");
        let all = announcements(&topics, "http://nas:8080", &cameras());
        let ids: HashSet<&str> = all.iter().map(|a| a.payload["unique_id"].as_str().unwrap()).collect();
        assert_eq!(ids.len(), all.len(), "unique ids are unique");
        let config_topics: HashSet<&str> = all.iter().map(|a| a.topic.as_str()).collect();
        assert_eq!(config_topics.len(), all.len());
        for a in &all {
            assert!(a.topic.starts_with("homeassistant/") && a.topic.ends_with("/config"), "{}", a.topic);
            assert!(a.payload["device"]["identifiers"][0].is_string(), "{}", a.payload);
            assert_eq!(a.payload["origin"]["name"], "Watchpost");
            assert!(a.payload["name"].is_string());
        }
        let motion =
            all.iter().find(|a| a.topic == "homeassistant/binary_sensor/watchpost_drive/motion/config").unwrap();
        assert_eq!(motion.payload["state_topic"], "watchpost/drive/motion");
        assert_eq!(motion.payload["device"]["configuration_url"], "http://nas:8080/cameras/drive");
        let count = all.iter().find(|a| a.topic.ends_with("watchpost_drive/traffic_light_count/config")).unwrap();
        assert_eq!(count.payload["state_topic"], "watchpost/drive/traffic_light", "labels are slugs in topics");
        assert!(!all.iter().any(|a| a.topic.contains("watchpost_yard/person")), "untracked labels have no entities");
    }

    #[test]
    fn the_retained_state_of_an_entity_is_among_the_topics_it_names() {
        let topics = Topics::new("watchpost", "homeassistant");
        for a in announcements(&topics, "http://nas:8080", &cameras()) {
            let Some((camera, object)) = parse_config_topic(&topics, &a.topic) else { continue };
            let named: Vec<&str> = ["state_topic", "image_topic", "topic", "json_attributes_topic"]
                .iter()
                .filter_map(|key| a.payload[*key].as_str())
                .collect();
            for leaf in retained_leaves(object) {
                let state = topics.camera(camera, &leaf);
                assert!(named.contains(&state.as_str()), "{}: {state} not in {named:?}", a.topic);
            }
        }
        assert_eq!(
            parse_config_topic(&topics, "homeassistant/sensor/watchpost_drive/person_count/config"),
            Some(("drive", "person_count"))
        );
        assert_eq!(parse_config_topic(&topics, "homeassistant/sensor/watchpost/version/config"), None);
    }
}
