//! Which events alert, and how severely, by a camera's `[cameras.alerts]` policy: the labels, the
//! least score, the zones, severity rules by label, zone and time of day, and a cool-down per
//! camera and label. One alert per event (a tracked object), decided when it starts: updates never
//! alert again. The camera's alerts switch, its mute and home/away are checked by the caller.

use crate::config::{AlertPolicy, CameraConfig, Severity, parse_clock};
use crate::events::EventSummary;
use chrono::Timelike;
use std::collections::HashMap;

/// Whether `event` alerts under its camera's policy, and how severely. Motion-only events
/// alert at `low`, unless the policy asks for zones (they have none).
pub fn decide(event: &EventSummary, camera: Option<&CameraConfig>) -> Option<Severity> {
    let default = AlertPolicy::default();
    let policy = camera.map(|c| &c.alerts).unwrap_or(&default);
    let in_zone = |zone: &String| event.zones.contains(zone);
    if !policy.zones.is_empty() && !policy.zones.iter().any(in_zone) {
        return None;
    }
    let Some(label) = event.label.as_deref().filter(|_| event.kind == "object") else {
        return Some(Severity::Low);
    };
    if !policy.labels.is_empty() && !policy.labels.iter().any(|l| l == label) {
        return None;
    }
    if event.score < f64::from(policy.min_score) {
        return None;
    }
    let local =
        chrono::DateTime::from_timestamp_millis(event.start_ms).unwrap_or_default().with_timezone(&chrono::Local);
    let minute = local.hour() * 60 + local.minute();
    let matching = policy.rules.iter().find(|rule| {
        rule.label.as_deref().is_none_or(|l| l == label)
            && rule.zone.as_ref().is_none_or(in_zone)
            && match (rule.from.as_deref().and_then(parse_clock), rule.to.as_deref().and_then(parse_clock)) {
                (Some(from), Some(to)) => within(minute, from, to),
                _ => true,
            }
    });
    Some(matching.map_or(policy.severity, |rule| rule.severity))
}

/// Whether `minute` (after midnight) is in `[from, to)`; a range may cross midnight.
fn within(minute: u32, from: u32, to: u32) -> bool {
    if from <= to { (from..to).contains(&minute) } else { minute >= from || minute < to }
}

/// When each camera and label last alerted.
#[derive(Debug, Default)]
pub struct Cooldowns {
    last_ms: HashMap<(String, String), i64>,
}

impl Cooldowns {
    /// Whether `event` may alert now, given its camera's cool-down; counts it if so.
    pub fn allow(&mut self, event: &EventSummary, cooldown_secs: u32, now_ms: i64) -> bool {
        let key = (event.camera.clone(), event.label.clone().unwrap_or_else(|| "motion".into()));
        let cooling = self.last_ms.get(&key).is_some_and(|last| now_ms - last < i64::from(cooldown_secs) * 1000);
        if !cooling {
            self.last_ms.insert(key, now_ms);
        }
        !cooling
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SeverityRule;

    fn event(label: Option<&str>, score: f64, zones: &[&str], local: (u32, u32)) -> EventSummary {
        let today = chrono::Local::now().date_naive();
        let start =
            today.and_hms_opt(local.0, local.1, 0).unwrap().and_local_timezone(chrono::Local).earliest().unwrap();
        EventSummary {
            id: 1,
            camera: "garden".into(),
            kind: if label.is_some() { "object" } else { "motion" }.into(),
            label: label.map(str::to_string),
            score,
            start_ms: start.timestamp_millis(),
            end_ms: None,
            snapshot: None,
            zones: zones.iter().map(|z| z.to_string()).collect(),
            description: None,
            title: None,
        }
    }

    fn camera(policy: AlertPolicy) -> CameraConfig {
        let mut camera = CameraConfig::new("garden", "Garden", "/x.mp4");
        camera.alerts = policy;
        camera
    }

    #[test]
    fn labels_scores_and_zones_filter_and_rules_set_the_severity() {
        let night = SeverityRule {
            label: Some("person".into()),
            zone: None,
            from: Some("22:00".into()),
            to: Some("06:00".into()),
            severity: Severity::High,
        };
        let lawn =
            SeverityRule { label: None, zone: Some("lawn".into()), from: None, to: None, severity: Severity::Low };
        let policy = AlertPolicy {
            labels: vec!["person".into(), "car".into()],
            min_score: 0.6,
            zones: vec![],
            rules: vec![night, lawn],
            ..Default::default()
        };
        let camera = camera(policy);
        let decide = |e: EventSummary| decide(&e, Some(&camera));
        assert_eq!(decide(event(Some("person"), 0.9, &[], (23, 30))), Some(Severity::High), "night, across midnight");
        assert_eq!(decide(event(Some("person"), 0.9, &[], (5, 59))), Some(Severity::High));
        assert_eq!(decide(event(Some("person"), 0.9, &[], (6, 0))), Some(Severity::Medium), "the range ends at 06:00");
        assert_eq!(decide(event(Some("person"), 0.9, &["lawn"], (12, 0))), Some(Severity::Low), "by zone");
        assert_eq!(
            decide(event(Some("car"), 0.9, &[], (23, 0))),
            Some(Severity::Medium),
            "the night rule is for people"
        );
        assert_eq!(decide(event(Some("dog"), 0.9, &[], (12, 0))), None, "not an alerting label");
        assert_eq!(decide(event(Some("person"), 0.5, &[], (12, 0))), None, "below the least score");
        assert_eq!(decide(event(None, 0.1, &[], (12, 0))), Some(Severity::Low), "motion alerts low");
        let zoned = self::camera(AlertPolicy { zones: vec!["drive".into()], ..Default::default() });
        assert_eq!(super::decide(&event(Some("person"), 0.9, &["lawn"], (12, 0)), Some(&zoned)), None);
        assert_eq!(
            super::decide(&event(Some("person"), 0.9, &["drive"], (12, 0)), Some(&zoned)),
            Some(Severity::Medium)
        );
        assert_eq!(super::decide(&event(None, 0.1, &[], (12, 0)), Some(&zoned)), None, "motion has no zones");
        assert_eq!(
            super::decide(&event(Some("cat"), 0.1, &[], (12, 0)), None),
            Some(Severity::Medium),
            "no camera: defaults"
        );
    }

    #[test]
    fn a_label_cools_down_per_camera() {
        let mut cooldowns = Cooldowns::default();
        let person = event(Some("person"), 0.9, &[], (12, 0));
        let car = event(Some("car"), 0.9, &[], (12, 0));
        assert!(cooldowns.allow(&person, 60, 0));
        assert!(!cooldowns.allow(&person, 60, 59_999));
        assert!(cooldowns.allow(&car, 60, 59_999), "another label is not cooling down");
        assert!(cooldowns.allow(&person, 60, 60_000));
        assert!(cooldowns.allow(&person, 0, 60_001), "no cool-down");
    }
}
