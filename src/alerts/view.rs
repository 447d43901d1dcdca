//! An alert as the channels show it: the stored event with its camera's name, severity, the
//! model's title and description (or the sentence from the detections), a link, and the snapshot
//! with the boxes drawn in. Read from the database when a delivery is sent, so a retry hours later
//! carries the description that arrived meanwhile.

use crate::bus::EventSummary;
use crate::camera::Cameras;
use crate::db::Db;
use crate::error::Result;
use crate::media::MediaStore;
use crate::model::DescribedBy;
use crate::model::Severity;

#[derive(Debug, Clone)]
pub struct AlertView {
    pub event: EventSummary,
    pub camera_name: String,
    pub severity: Severity,
    /// The event's time on the camera's clock (`alerts.timezone`).
    pub local_time: String,
    pub title: Option<String>,
    /// The model's description, or the sentence from the detections.
    pub description: String,
    /// Who wrote the description: `rules` or `<provider>:<model>`.
    pub described_by: String,
    /// The event's page in the UI.
    pub url: String,
    /// The event's clip on its page, when the camera records video.
    pub clip_url: Option<String>,
    /// The snapshot JPEG, with the boxes drawn in when that copy exists.
    pub snapshot: Option<Vec<u8>>,
}

impl AlertView {
    /// Event `event_id` as an alert; `None` when it is gone.
    pub async fn load(
        db: &Db,
        cameras: &Cameras,
        media: &MediaStore,
        ui_url: &str,
        event_id: i64,
    ) -> Result<Option<Self>> {
        let Some(model) = db.get_event(event_id).await? else { return Ok(None) };
        let event = EventSummary::from_model(&model);
        let camera = cameras.get(&event.camera);
        let camera_name = camera.as_ref().map_or(event.camera.clone(), |c| c.config.display_name().to_string());
        let timezone = camera.as_ref().map(|c| c.config.alerts.zone()).unwrap_or_default();
        let description = match &model.description {
            Some(text) if !text.is_empty() => text.clone(),
            _ => crate::describe::text::from_detections(
                event.label.as_deref(),
                &event.zones,
                &camera_name,
                event.start_ms,
                event.end_ms,
            ),
        };
        let snapshot = match &event.snapshot {
            Some(snapshot) => {
                let drawn = media.resolve(&MediaStore::annotated_path(snapshot));
                let plain = media.resolve(snapshot);
                let mut bytes = None;
                for path in [drawn, plain].into_iter().flatten() {
                    if let Ok(read) = tokio::fs::read(&path).await {
                        bytes = Some(read);
                        break;
                    }
                }
                bytes
            }
            None => None,
        };
        Ok(Some(Self {
            camera_name,
            severity: model.severity,
            local_time: super::policy::format_local(timezone, event.start_ms),
            title: model.title.clone().filter(|t| !t.is_empty()),
            description,
            described_by: model.described_by.clone().unwrap_or_else(|| DescribedBy::Rules.as_str().into()),
            url: format!("{}/events/{}", ui_url.trim_end_matches('/'), event.id),
            clip_url: camera
                .as_ref()
                .filter(|c| c.config.record.enabled())
                .map(|_| format!("{}/events/{}#clip", ui_url.trim_end_matches('/'), event.id)),
            snapshot,
            event,
        }))
    }

    /// A made-up alert with the demo photograph, for "Send test alert".
    pub fn test(ui_url: &str) -> Self {
        let now_ms = chrono::Utc::now().timestamp_millis();
        Self {
            event: EventSummary {
                id: 0,
                camera: "test".into(),
                kind: crate::model::EventKind::Object,
                label: Some("person".into()),
                score: 0.9,
                start_ms: now_ms,
                end_ms: None,
                snapshot: None,
                zones: Vec::new(),
                description: None,
                title: None,
            },
            camera_name: "Test camera".into(),
            severity: Severity::Medium,
            local_time: super::policy::format_local(Default::default(), now_ms),
            title: Some("Test alert".into()),
            description: "This is a test alert from Watchpost: real alerts look like this, with the event's snapshot."
                .into(),
            described_by: DescribedBy::Rules.as_str().into(),
            url: format!("{}/events", ui_url.trim_end_matches('/')),
            clip_url: None,
            snapshot: Some(crate::demo::PHOTO.to_vec()),
        }
    }

    /// One line: what, where (`Person in path — Driveway`).
    pub fn headline(&self) -> String {
        let what = match &self.event.label {
            Some(label) => capitalised(label),
            None => "Motion".into(),
        };
        let zones =
            if self.event.zones.is_empty() { String::new() } else { format!(" in {}", self.event.zones.join(", ")) };
        format!("{what}{zones} — {}", self.camera_name)
    }

    /// The plain-text message: severity and headline, time, the title and description, the
    /// links; at most `limit` characters (the description is cut, never a link).
    pub fn text(&self, limit: usize) -> String {
        let head = format!("{} {}\n{}\n", self.severity_mark(), self.headline(), self.local_time);
        let tail = match &self.clip_url {
            Some(clip) => format!("\n{}\nClip: {clip}", self.url),
            None => format!("\n{}", self.url),
        };
        let mut body = match &self.title {
            Some(title) => format!("{title}\n{}\n", self.description),
            None => format!("{}\n", self.description),
        };
        let room = limit.saturating_sub(head.chars().count() + tail.chars().count());
        if body.chars().count() > room {
            body = body.chars().take(room.saturating_sub(2)).collect::<String>() + "…\n";
        }
        format!("{head}{body}{tail}")
    }

    /// The time, the title and the description on two lines, for a notification's body; at most
    /// `limit` characters (cut with `…`).
    pub fn summary(&self, limit: usize) -> String {
        let text = match &self.title {
            Some(title) => format!("{}\n{title}. {}", self.local_time, self.description),
            None => format!("{}\n{}", self.local_time, self.description),
        };
        if text.chars().count() > limit {
            text.chars().take(limit.saturating_sub(1)).collect::<String>() + "…"
        } else {
            text
        }
    }

    /// `HIGH`, `MEDIUM` or `LOW`, marked for a quick glance.
    pub fn severity_mark(&self) -> &'static str {
        match self.severity {
            Severity::High => "🔴 HIGH",
            Severity::Medium => "🟠 MEDIUM",
            Severity::Low => "🟡 LOW",
        }
    }
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(description: &str) -> AlertView {
        AlertView {
            event: EventSummary {
                id: 7,
                camera: "drive".into(),
                kind: crate::model::EventKind::Object,
                label: Some("person".into()),
                score: 0.9,
                start_ms: 0,
                end_ms: None,
                snapshot: None,
                zones: vec!["path".into()],
                description: None,
                title: None,
            },
            camera_name: "Driveway".into(),
            severity: Severity::High,
            local_time: "2026-11-22 22:14:03 CET".into(),
            title: Some("Person at the door".into()),
            description: description.into(),
            described_by: "openai:m".into(),
            url: "http://nas:8080/events/7".into(),
            clip_url: None,
            snapshot: None,
        }
    }

    #[test]
    fn the_summary_gives_time_title_and_description_within_its_limit() {
        let short = view("A man tries the handle.").summary(100);
        assert_eq!(short, "2026-11-22 22:14:03 CET\nPerson at the door. A man tries the handle.");
        let cut = view(&"word ".repeat(100)).summary(60);
        assert_eq!(cut.chars().count(), 60);
        assert!(cut.ends_with('…'));
        let untitled = AlertView { title: None, ..view("Motion.") };
        assert_eq!(untitled.summary(100), "2026-11-22 22:14:03 CET\nMotion.");
    }

    #[test]
    fn the_text_names_what_where_and_when_and_keeps_the_link_when_cut() {
        let text = view("A man in a dark coat tries the handle.").text(1024);
        assert_eq!(
            text,
            "🔴 HIGH Person in path — Driveway\n2026-11-22 22:14:03 CET\nPerson at the door\n\
             A man in a dark coat tries the handle.\n\nhttp://nas:8080/events/7"
        );
        let long = view(&"word ".repeat(400)).text(200);
        assert!(long.chars().count() <= 200, "{}", long.chars().count());
        assert!(long.ends_with("http://nas:8080/events/7") && long.contains('…'));
        let recorded =
            AlertView { clip_url: Some("http://nas:8080/events/7#clip".into()), ..view(&"word ".repeat(400)) };
        let text = recorded.text(200);
        assert!(text.chars().count() <= 200 && text.ends_with("\nClip: http://nas:8080/events/7#clip"), "{text}");
    }
}
