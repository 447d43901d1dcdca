//! Which events alert, and how severely, by a camera's `[cameras.alerts]` policy: the labels, the
//! least score, the zones, severity rules by label, zone and time of day, weekly quiet times, and a
//! cool-down per camera and label. Times of day are the camera's IANA time zone's wall-clock times,
//! so daylight-saving changes move nothing. One alert per event (a tracked object), decided when it
//! starts: updates never alert again. The camera's alerts switch, its mute and home/away are
//! checked by the caller.

use crate::bus::EventSummary;
use crate::camera::settings::{AlertPolicy, CameraConfig, TimeZone, Weekday};
use crate::checks::Parsed;
use crate::model::Severity;
use chrono::{Datelike, Timelike};
use std::collections::HashMap;

/// The wall-clock time at `utc_ms` in the policy's time zone (the server's when none): the
/// weekday (0 = Monday) and the minute after midnight.
fn local_time(policy: &AlertPolicy, utc_ms: i64) -> (usize, u32) {
    let utc = chrono::DateTime::from_timestamp_millis(utc_ms).unwrap_or_default();
    let (weekday, hour, minute) = match policy.zone().0 {
        Some(zone) => {
            let local = utc.with_timezone(&zone);
            (local.weekday(), local.hour(), local.minute())
        }
        None => {
            let local = utc.with_timezone(&chrono::Local);
            (local.weekday(), local.hour(), local.minute())
        }
    };
    (weekday.num_days_from_monday() as usize, hour * 60 + minute)
}

/// `utc_ms` as the time zone's wall-clock date and time (`2026-11-22 22:14:03 CET`); the server's
/// zone when none is set.
pub fn format_local(timezone: TimeZone, utc_ms: i64) -> String {
    let utc = chrono::DateTime::from_timestamp_millis(utc_ms).unwrap_or_default();
    match timezone.0 {
        Some(zone) => utc.with_timezone(&zone).format("%Y-%m-%d %H:%M:%S %Z").to_string(),
        None => utc.with_timezone(&chrono::Local).format("%Y-%m-%d %H:%M:%S").to_string(),
    }
}

/// A wall-clock `YYYY-MM-DDTHH:MM` (what a browser's date-and-time field sends) in the time zone
/// (the server's when none is set) as milliseconds since the epoch; a time the clocks skip is
/// taken an hour later, a repeated one the first time.
pub fn parse_local(timezone: TimeZone, text: &str) -> Option<i64> {
    let naive = chrono::NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%dT%H:%M")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%dT%H:%M:%S"))
        .ok()?;
    let pick = |naive: chrono::NaiveDateTime| -> Option<i64> {
        match timezone.0 {
            Some(zone) => naive.and_local_timezone(zone).earliest().map(|t| t.timestamp_millis()),
            None => naive.and_local_timezone(chrono::Local).earliest().map(|t| t.timestamp_millis()),
        }
    };
    pick(naive).or_else(|| pick(naive + chrono::Duration::hours(1)))
}

/// Whether the camera is in one of its weekly quiet times at `utc_ms`.
pub fn quiet_at(policy: &AlertPolicy, utc_ms: i64) -> bool {
    let (day, minute) = local_time(policy, utc_ms);
    let yesterday = (day + 6) % 7;
    policy.quiet.iter().any(|quiet| {
        let on = |d: usize| quiet.days.is_empty() || quiet.days.iter().any(|q| q.get() == Some(&Weekday::ALL[d]));
        let (Some(from), Some(to)) = (quiet.from.get(), quiet.to.get()) else { return false };
        let (from, to) = (from.minutes(), to.minutes());
        if from <= to {
            on(day) && (from..to).contains(&minute)
        } else {
            // Across midnight: the evening of a listed day, or the morning after one.
            (on(day) && minute >= from) || (on(yesterday) && minute < to)
        }
    })
}

/// Whether `event` alerts under its camera's policy, and how severely. Motion-only events
/// alert at `low`, unless the policy asks for zones (they have none); events from a linked node
/// sensor at the policy's `severity`, outside quiet times.
pub fn decide(event: &EventSummary, camera: Option<&CameraConfig>) -> Option<Severity> {
    let default = AlertPolicy::default();
    let policy = camera.map(|c| &c.alerts).unwrap_or(&default);
    if event.kind == crate::model::EventKind::Sensor {
        // A node's PIR or door sensor linked to the camera: no labels, scores or zones to judge.
        return (!quiet_at(policy, event.start_ms)).then_some(policy.severity);
    }
    let in_zone = |zone: &String| event.zones.contains(zone);
    if !policy.zones.is_empty() && !policy.zones.iter().any(in_zone) {
        return None;
    }
    if quiet_at(policy, event.start_ms) {
        return None;
    }
    let Some(label) = event.label.as_deref().filter(|_| event.kind == crate::model::EventKind::Object) else {
        return Some(Severity::Low);
    };
    if !policy.labels.is_empty() && !policy.labels.iter().any(|l| l == label) {
        return None;
    }
    if event.score < f64::from(policy.min_score) {
        return None;
    }
    let (_, minute) = local_time(policy, event.start_ms);
    let matching = policy.rules.iter().find(|rule| {
        rule.label.as_deref().is_none_or(|l| l == label)
            && rule.zone.as_ref().is_none_or(in_zone)
            && match (rule.from.as_ref().and_then(Parsed::get), rule.to.as_ref().and_then(Parsed::get)) {
                (Some(from), Some(to)) => within(minute, from.minutes(), to.minutes()),
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
    use crate::camera::settings::ClockTime;

    fn clock(text: &str) -> Parsed<ClockTime> {
        let clock = Parsed::new(text);
        assert!(clock.get().is_some(), "{text}");
        clock
    }
    use crate::camera::settings::SeverityRule;

    fn event(label: Option<&str>, score: f64, zones: &[&str], local: (u32, u32)) -> EventSummary {
        let today = chrono::Local::now().date_naive();
        let naive = today.and_hms_opt(local.0, local.1, 0).unwrap();
        // In a daylight-saving gap the time does not exist today; read it as UTC then.
        let start = naive.and_local_timezone(chrono::Local).earliest().unwrap_or_else(|| naive.and_utc().into());
        EventSummary {
            id: 1,
            camera: "garden".into(),
            kind: if label.is_some() { crate::model::EventKind::Object } else { crate::model::EventKind::Motion },
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

    #[test]
    fn a_date_and_time_from_the_browser_is_read_on_the_camera_s_clock() {
        let at = |zone: &str, text| {
            parse_local(zone.parse().unwrap(), text)
                .map(|ms| chrono::DateTime::from_timestamp_millis(ms).unwrap().to_rfc3339())
        };
        assert_eq!(at("Europe/Berlin", "2026-11-30T07:00").as_deref(), Some("2026-11-30T06:00:00+00:00"));
        assert_eq!(at("America/New_York", "2026-07-01T07:00").as_deref(), Some("2026-07-01T11:00:00+00:00"));
        // 02:30 does not exist in Berlin on 29 March 2026: an hour later.
        assert_eq!(at("Europe/Berlin", "2026-03-29T02:30").as_deref(), Some("2026-03-29T01:30:00+00:00"));
        assert_eq!(at("Europe/Berlin", "next monday"), None);
    }

    #[test]
    fn a_linked_sensor_alerts_at_the_policy_severity_outside_quiet_times() {
        let quiet = crate::camera::settings::QuietTime { days: vec![], from: clock("08:00"), to: clock("17:00") };
        let policy = AlertPolicy {
            labels: vec!["car".into()],
            zones: vec!["drive".into()],
            min_score: 0.9,
            severity: Severity::High,
            quiet: vec![quiet],
            ..Default::default()
        };
        let camera = camera(policy);
        let sensor =
            |local| EventSummary { kind: crate::model::EventKind::Sensor, ..event(Some("Back door"), 1.0, &[], local) };
        assert_eq!(decide(&sensor((20, 0)), Some(&camera)), Some(Severity::High), "labels and zones are for objects");
        assert_eq!(decide(&sensor((9, 0)), Some(&camera)), None, "quiet time");
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
            from: Some(clock("22:00")),
            to: Some(clock("06:00")),
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

    /// Milliseconds of a UTC time written `2026-03-29T03:30:00Z`.
    fn utc(text: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(text).unwrap().timestamp_millis()
    }

    fn quiet(timezone: &str, days: &[&str], from: &str, to: &str) -> AlertPolicy {
        AlertPolicy {
            timezone: Parsed::new(timezone),
            quiet: vec![crate::camera::settings::QuietTime {
                days: days.iter().map(|d| Parsed::new(d)).collect(),
                from: clock(from),
                to: clock(to),
            }],
            ..Default::default()
        }
    }

    #[test]
    fn quiet_times_follow_the_wall_clock_across_daylight_saving_changes() {
        // Berlin moves from UTC+1 to UTC+2 at 01:00 UTC on Sunday 2026-03-29, and back at 01:00 UTC
        // on Sunday 2026-10-25. Quiet 00:00-06:00 on Sundays stays 00:00-06:00 on the wall clock.
        let sunday_night = quiet("Europe/Berlin", &["sun"], "00:00", "06:00");
        assert!(quiet_at(&sunday_night, utc("2026-03-29T03:30:00Z")), "05:30 CEST");
        assert!(
            !quiet_at(&sunday_night, utc("2026-03-29T04:30:00Z")),
            "06:30 CEST, though only 05:30 by the winter offset"
        );
        assert!(quiet_at(&sunday_night, utc("2026-10-25T04:30:00Z")), "05:30 CET after the change back");
        assert!(!quiet_at(&sunday_night, utc("2026-10-25T05:00:00Z")), "06:00 CET");
        assert!(
            quiet_at(&sunday_night, utc("2026-03-28T23:30:00Z")),
            "00:30 Sunday in Berlin is still Saturday in UTC"
        );
    }

    #[test]
    fn the_same_instant_is_a_different_time_in_two_zones() {
        // 2026-07-01T12:00Z is 08:00 in New York and 21:00 in Tokyo, a Wednesday in both.
        let at = utc("2026-07-01T12:00:00Z");
        let working_hours = |zone| quiet(zone, &["mon", "tue", "wed", "thu", "fri"], "07:00", "18:00");
        assert!(quiet_at(&working_hours("America/New_York"), at));
        assert!(!quiet_at(&working_hours("Asia/Tokyo"), at));
    }

    #[test]
    fn a_quiet_night_crossing_midnight_belongs_to_the_day_it_starts() {
        let friday_night = quiet("Europe/London", &["fri"], "22:00", "06:00");
        assert!(quiet_at(&friday_night, utc("2026-07-03T21:30:00Z")), "Friday 22:30 BST");
        assert!(quiet_at(&friday_night, utc("2026-07-04T02:00:00Z")), "Saturday 03:00, the morning after Friday");
        assert!(!quiet_at(&friday_night, utc("2026-07-04T21:30:00Z")), "Saturday 22:30: Saturday is not listed");
        assert!(!quiet_at(&friday_night, utc("2026-07-05T02:00:00Z")), "Sunday 03:00");
        assert!(!quiet_at(&friday_night, utc("2026-07-03T20:00:00Z")), "Friday 21:00");
    }

    #[test]
    fn quiet_times_and_rules_use_the_cameras_time_zone() {
        let mut policy = quiet("Asia/Tokyo", &[], "09:00", "10:00");
        policy.rules = vec![SeverityRule {
            label: None,
            zone: None,
            from: Some(clock("21:00")),
            to: Some(clock("22:00")),
            severity: Severity::High,
        }];
        let camera = camera(policy);
        let mut event = event(Some("person"), 0.9, &[], (12, 0));
        event.start_ms = utc("2026-07-01T12:30:00Z"); // 21:30 in Tokyo
        assert_eq!(decide(&event, Some(&camera)), Some(Severity::High));
        event.start_ms = utc("2026-07-01T00:30:00Z"); // 09:30 in Tokyo: quiet
        assert_eq!(decide(&event, Some(&camera)), None);
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
