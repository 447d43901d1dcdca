//! View models shared by pages and the API: cameras and events as the UI shows them (times
//! formatted, URLs without passwords, boxes parsed from their JSON columns).

use crate::camera::CameraRuntime;
use crate::db::entities::event;
use crate::db::stored_json_or_logged;
use crate::detect::RelBox;
use crate::model::DescribedBy;
use crate::model::{Channel, DeliveryStatus, EventKind, EventStatus};
use crate::secret::redact_url;
use serde::Serialize;

/// `2026-11-22 14:03:07` in the server's local time zone.
pub fn format_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.with_timezone(&chrono::Local).format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

/// `4 s`, `2 min 5 s`, `1 h 3 min`.
pub fn format_duration(ms: i64) -> String {
    let s = (ms.max(0) + 500) / 1000;
    match s {
        0..60 => format!("{s} s"),
        60..3600 if s % 60 == 0 => format!("{} min", s / 60),
        60..3600 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

/// "5 s ago", "3 min ago", or the time when longer.
pub fn format_ago(ms: i64) -> String {
    let age = chrono::Utc::now().timestamp_millis() - ms;
    if age < 60_000 {
        format!("{} s ago", (age / 1000).max(0))
    } else if age < 3_600_000 {
        format!("{} min ago", age / 60_000)
    } else {
        format_time(ms)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CameraView {
    pub id: String,
    pub name: String,
    pub source: &'static str,
    pub enabled: bool,
    /// The source URL with any user name and password replaced by `***`.
    pub url: String,
    pub width: u32,
    pub height: u32,
    pub fps_setting: u32,
    pub state: &'static str,
    pub last_error: Option<String>,
    pub fps: f32,
    pub last_frame_ms: Option<i64>,
    pub motion: bool,
    /// Objects followed right now.
    pub objects: Vec<crate::camera::LiveObject>,
    pub restarts: u64,
    pub frames: u64,
    pub frames_dropped: u64,
    pub motion_events: u64,
    pub object_events: u64,
    /// Detection, alerts and mute switches.
    pub controls: crate::bus::CameraControls,
    /// The camera's time zone for alerts (`alerts.timezone`); empty = the server's.
    pub timezone: String,
    /// `off`, `events` or `continuous`.
    pub recording: &'static str,
    /// The stream recorded, with any user name and password replaced by `***`.
    pub record_url: Option<String>,
    /// Fragments (frames) of copied video received for recording, and those dropped because the
    /// disk could not keep up.
    pub record_fragments: u64,
    pub record_dropped: u64,
    /// Whether the camera has a main stream apart from the detect stream (the live view offers
    /// both).
    pub main_stream: bool,
}

impl CameraView {
    pub fn of(camera: &CameraRuntime) -> Self {
        let (status, figures) = (camera.status(), camera.figures());
        Self {
            id: camera.config.id.clone(),
            name: camera.config.display_name().to_string(),
            source: camera.source.as_str(),
            enabled: camera.config.enabled,
            url: redact_url(&camera.config.url),
            width: camera.config.detect.width,
            height: camera.config.detect.height,
            fps_setting: camera.config.detect.fps,
            state: status.state.as_str(),
            last_error: status.last_error,
            fps: status.fps,
            last_frame_ms: status.last_frame_ms,
            motion: status.motion,
            objects: status.objects,
            restarts: figures.restarts,
            frames: figures.frames,
            frames_dropped: figures.frames_dropped,
            motion_events: figures.motion_events,
            object_events: figures.object_events,
            controls: camera.controls(),
            timezone: camera.config.alerts.timezone.text().to_string(),
            recording: camera.config.record.mode.as_str(),
            record_url: camera.config.record.enabled().then(|| redact_url(&camera.config.record_url())),
            main_stream: !camera.config.records_detect_stream(),
            record_fragments: figures.record_fragments,
            record_dropped: figures.record_dropped,
        }
    }

    /// "until 22:15" while alerts are muted, else empty.
    pub fn muted_text(&self) -> String {
        match self.controls.mute_until_ms {
            Some(until) if until > chrono::Utc::now().timestamp_millis() => format!("until {}", format_time(until)),
            _ => String::new(),
        }
    }

    pub fn last_frame_text(&self) -> String {
        self.last_frame_ms.map(format_ago).unwrap_or_else(|| "never".into())
    }

    pub fn fps_text(&self) -> String {
        format!("{:.1}", self.fps)
    }

    pub fn editable(&self) -> bool {
        self.source == "ui"
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct EventView {
    pub id: i64,
    pub camera: String,
    pub kind: String,
    pub label: Option<String>,
    pub score: f64,
    /// `[x1, y1, x2, y2]` in pixels of the analysed frame (`frame`); `null` when its size is unknown.
    #[serde(rename = "box")]
    pub box_pixels: Option<[u32; 4]>,
    /// The same box as fractions of the picture: `[x, y, width, height]`.
    #[serde(rename = "box_relative")]
    pub bbox: Option<RelBox>,
    /// The analysed frame's `[width, height]`.
    pub frame: Option<[u32; 2]>,
    pub boxes: Vec<RelBox>,
    pub zones: Vec<String>,
    pub start: String,
    pub end: Option<String>,
    pub start_ms: i64,
    pub end_ms: Option<i64>,
    pub snapshot_url: Option<String>,
    /// The snapshot with the box and label drawn in (object events).
    pub snapshot_boxes_url: Option<String>,
    pub severity: String,
    pub status: String,
    pub tags: Vec<String>,
    pub description: Option<String>,
    /// The describer's short title.
    #[serde(rename = "title")]
    pub ai_title: Option<String>,
    /// 0 normal, 1 worth a look, 2 a threat; from a model only.
    pub threat_level: Option<i32>,
    /// `rules` (written from the detections, without AI) or `<provider>:<model>`.
    pub described_by: Option<String>,
    /// How long the model took, in milliseconds.
    pub describe_ms: Option<i64>,
    /// An object that stopped moving (a parked car); always false for motion events.
    pub stationary: bool,
    /// `[seconds since the start, score]` while an object was tracked; empty for motion events.
    pub score_history: Vec<[f32; 2]>,
    /// When the event alerted (RFC 3339); `null` when it did not.
    pub alerted: Option<String>,
    /// The alert's status and deliveries (on a single event's view, when it alerted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert: Option<AlertInfo>,
}

/// An alert's progress: `new`, `delivered` (to at least one channel), `viewed` or `resolved`, and
/// each delivery.
#[derive(Debug, Clone, Serialize)]
pub struct AlertInfo {
    pub status: String,
    pub deliveries: Vec<DeliveryView>,
}

/// One channel's delivery of an alert to one recipient.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryView {
    pub channel: String,
    pub recipient: String,
    /// `pending`, `queued`, `sent` or `failed`.
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub sent: Option<String>,
    /// While pending: when the next try is due.
    pub next_try: Option<String>,
}

impl AlertInfo {
    pub fn of(event: &event::Model, deliveries: &[crate::db::entities::alert_delivery::Model]) -> Self {
        let delivered = deliveries.iter().any(|d| d.status == DeliveryStatus::Sent);
        let status = match event.status {
            EventStatus::Viewed | EventStatus::Resolved => event.status.as_str().into(),
            EventStatus::New if delivered => "delivered".into(),
            EventStatus::New => "new".into(),
        };
        let deliveries = deliveries
            .iter()
            .map(|d| DeliveryView {
                channel: d.channel.as_str().into(),
                recipient: shown_recipient(d.channel, &d.recipient),
                status: d.status.as_str().into(),
                attempts: d.attempts,
                last_error: d.last_error.clone(),
                sent: d.sent_ms.map(rfc3339),
                next_try: (d.status == DeliveryStatus::Pending).then(|| rfc3339(d.next_try_ms)),
            })
            .collect();
        Self { status, deliveries }
    }
}

/// A delivery's recipient as anyone who may see the event may see it: an ntfy server without its
/// topic (the topic's name is its password), a webhook without its query string (where some
/// receivers take a key), a device by its number.
fn shown_recipient(channel: Channel, recipient: &str) -> String {
    match channel {
        Channel::Ntfy => crate::bridges::ntfy::topic_shown(recipient),
        Channel::Webhook => crate::bridges::webhook::shown(recipient),
        Channel::Push => format!("device {recipient}"),
        _ => recipient.to_string(),
    }
}

impl DeliveryView {
    pub fn channel_name(&self) -> &str {
        match Channel::parse(&self.channel) {
            Some(channel) => channel.title(),
            None => &self.channel,
        }
    }

    pub fn sent_text(&self) -> String {
        self.sent
            .as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map_or_else(String::new, |t| format_time(t.timestamp_millis()))
    }
}

impl EventView {
    pub fn of(model: &event::Model) -> Self {
        let id = model.id;
        let boxes: Vec<RelBox> = stored_json_or_logged(&model.boxes, format_args!("event {id}'s boxes"));
        let bbox: Option<RelBox> = serde_json::from_str(&model.bbox).ok().filter(|b: &RelBox| b[2] > 0.0 && b[3] > 0.0);
        let frame = model.frame_width.zip(model.frame_height).map(|(w, h)| [w.max(0) as u32, h.max(0) as u32]);
        Self {
            id: model.id,
            camera: model.camera_id.clone(),
            kind: model.kind.as_str().into(),
            label: model.label.clone(),
            score: model.score,
            box_pixels: bbox.zip(frame).map(|(b, [w, h])| {
                let (w, h) = (w as f32, h as f32);
                [
                    (b[0] * w).round() as u32,
                    (b[1] * h).round() as u32,
                    ((b[0] + b[2]) * w).round() as u32,
                    ((b[1] + b[3]) * h).round() as u32,
                ]
            }),
            bbox,
            frame,
            boxes,
            zones: stored_json_or_logged(&model.zones, format_args!("event {id}'s zones")),
            start: rfc3339(model.start_ms),
            end: model.end_ms.map(rfc3339),
            start_ms: model.start_ms,
            end_ms: model.end_ms,
            snapshot_url: model.snapshot.as_ref().map(|_| format!("/api/events/{}/snapshot.jpg", model.id)),
            snapshot_boxes_url: (model.kind == EventKind::Object && model.snapshot.is_some())
                .then(|| format!("/api/events/{}/snapshot.jpg?boxes=1", model.id)),
            severity: model.severity.as_str().into(),
            status: model.status.as_str().into(),
            tags: stored_json_or_logged(&model.tags, format_args!("event {id}'s tags")),
            description: model.description.clone(),
            ai_title: model.title.clone(),
            threat_level: model.threat_level,
            described_by: model.described_by.clone(),
            describe_ms: model.describe_ms,
            stationary: model.stationary,
            score_history: model
                .score_history
                .as_deref()
                .map_or_else(Vec::new, |h| stored_json_or_logged(h, format_args!("event {id}'s score history"))),
            alerted: model.alerted_ms.map(rfc3339),
            alert: None,
        }
    }

    /// The view with its alert's deliveries, for a single event.
    pub async fn with_alert(model: &event::Model, db: &crate::db::Db) -> crate::error::Result<Self> {
        let mut view = Self::of(model);
        if model.alerted_ms.is_some() {
            view.alert = Some(AlertInfo::of(model, &db.deliveries_of(model.id).await?));
        }
        Ok(view)
    }

    /// Whether the description was written without AI (from the detections).
    pub fn described_without_ai(&self) -> bool {
        self.described_by.as_deref().is_some_and(|by| DescribedBy::from_stored(by).is_rules())
    }

    pub fn threat_text(&self) -> &'static str {
        match self.threat_level {
            Some(2) => "threat",
            Some(1) => "worth a look",
            Some(_) => "normal",
            None => "",
        }
    }

    pub fn title(&self) -> String {
        match &self.label {
            Some(label) => capitalize(label),
            None => capitalize(&self.kind),
        }
    }

    pub fn start_text(&self) -> String {
        format_time(self.start_ms)
    }

    pub fn duration_text(&self) -> String {
        match self.end_ms {
            Some(end) => format_duration(end - self.start_ms),
            None => "ongoing".into(),
        }
    }

    pub fn score_text(&self) -> String {
        format!("{:.0} %", self.score * 100.0)
    }

    /// Boxes as SVG rectangles in a 0–1 viewBox: `(x, y, w, h)` strings.
    /// Boxes in a `width`×`height` drawing (the frame's own proportions, so labels are not
    /// stretched), each with its label and the spot for it (above the box, or inside at the top).
    pub fn drawn_boxes(&self, width: u32, height: u32) -> Vec<DrawnBox> {
        let (w, h) = (width as f32, height as f32);
        let label = self.label.clone().map(|l| format!("{l} {:.0}%", self.score * 100.0)).unwrap_or_default();
        self.boxes
            .iter()
            .map(|b| {
                let (x, y) = (b[0] * w, b[1] * h);
                let label_y = if y > h * 0.06 { y - h * 0.015 } else { y + h * 0.05 };
                DrawnBox {
                    x: format!("{x:.1}"),
                    y: format!("{y:.1}"),
                    width: format!("{:.1}", b[2] * w),
                    height: format!("{:.1}", b[3] * h),
                    label: label.clone(),
                    label_x: format!("{:.1}", x + w * 0.005),
                    label_y: format!("{label_y:.1}"),
                }
            })
            .collect()
    }
}

/// A box as the event page draws it.
pub struct DrawnBox {
    pub x: String,
    pub y: String,
    pub width: String,
    pub height: String,
    pub label: String,
    pub label_x: String,
    pub label_y: String,
}

/// A zone outline as the event and camera pages draw it.
pub struct DrawnZone {
    pub name: String,
    /// SVG `points` in the drawing's units.
    pub points: String,
    pub label_x: String,
    pub label_y: String,
}

impl DrawnZone {
    pub fn of(zone: &crate::camera::settings::ZoneConfig, width: u32, height: u32) -> Self {
        let (w, h) = (width as f32, height as f32);
        let points =
            zone.polygon.iter().map(|[x, y]| format!("{:.1},{:.1}", x * w, y * h)).collect::<Vec<_>>().join(" ");
        let top = zone.polygon.iter().min_by(|a, b| a[1].total_cmp(&b[1])).copied().unwrap_or([0.0, 0.0]);
        Self {
            name: zone.name.clone(),
            points,
            label_x: format!("{:.1}", top[0] * w + w * 0.005),
            label_y: format!("{:.1}", top[1] * h + h * 0.05),
        }
    }
}

pub(super) fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map(|t| t.to_rfc3339()).unwrap_or_default()
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(format_duration(4_200), "4 s");
        assert_eq!(format_duration(125_000), "2 min 5 s");
        assert_eq!(format_duration(180_000), "3 min");
        assert_eq!(format_duration(3_780_000), "1 h 3 min");
    }
}

/// The signed-in user as the page header and forms need it.
#[derive(Debug, Clone, Default)]
pub struct Me {
    /// Empty on the sign-in and set-up pages: the header then shows no navigation.
    pub name: String,
    pub admin: bool,
    /// The value of every form's hidden `csrf` field.
    pub csrf: String,
}

impl Me {
    pub fn of(identity: &crate::auth::Identity) -> Self {
        Self { name: identity.name.clone(), admin: identity.is_admin(), csrf: identity.csrf().to_string() }
    }

    /// Nobody signed in; `csrf` is the sign-in form's token.
    pub fn anonymous(csrf: String) -> Self {
        Self { name: String::new(), admin: false, csrf }
    }
}

/// Alert channels by the names people know, joined for a sentence ("Home Assistant and
/// Telegram"); empty for none.
/// A device as the API and the account page show it (never its endpoint or keys).
#[derive(Debug, serde::Serialize)]
pub struct DeviceView {
    pub id: i64,
    pub name: String,
    /// The push service it is reached through (`https://fcm.googleapis.com`).
    pub service: String,
    pub created_ms: i64,
    pub last_sent_ms: Option<i64>,
}

impl DeviceView {
    fn of(row: crate::db::entities::push_subscription::Model) -> Self {
        let service = url::Url::parse(&row.endpoint).map(|u| u.origin().ascii_serialization()).unwrap_or_default();
        Self { id: row.id, name: row.name, service, created_ms: row.created_ms, last_sent_ms: row.last_sent_ms }
    }
}

/// `user_id`'s devices.
pub async fn devices_of(state: &crate::app::state::AppState, user_id: i64) -> crate::error::Result<Vec<DeviceView>> {
    Ok(state.db.push_subscriptions_of(user_id).await?.into_iter().map(DeviceView::of).collect())
}

/// The alert channels that reach someone: those set up, less push notifications while no device
/// has turned them on.
pub async fn channels_in_use(state: &crate::app::state::AppState) -> Vec<Channel> {
    let mut running = state.bridges.channels().await;
    if running.contains(&Channel::Push) && state.db.push_subscriptions().await.map_or(true, |d| d.is_empty()) {
        running.retain(|c| *c != Channel::Push);
    }
    running
}

pub fn channels_in_words(channels: &[crate::model::Channel]) -> String {
    let names: Vec<&str> = channels.iter().map(|channel| channel.title()).collect();
    match names.split_last() {
        None => String::new(),
        Some((last, [])) => last.to_string(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}
