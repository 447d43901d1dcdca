//! The add/edit camera form: what the browser posts, how it becomes a [`CameraConfig`], and the
//! per-field messages shown next to the inputs when it does not.

use crate::camera::settings::{
    AlertPolicy, CameraConfig, ClockTime, DetectConfig, ObjectsConfig, QuietTime, SeverityRule, Weekday, ZoneConfig,
};
use crate::checks::Parsed;
use crate::db::EventFilter;
use crate::detect::motion::MotionConfig;
use crate::error::Error;
use crate::geometry::Polygon;
use crate::model::Severity;
use crate::model::{EventKind, EventStatus};
use crate::recording::settings::{RecordConfig, RecordMode};
use crate::secret::{join_credentials, split_credentials, with_credentials};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// The camera form's fields, as the browser sends them; the JSON API (`camera_api`) fills the same
/// fields, so both are checked by [`CameraForm::to_config`].
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct CameraForm {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub name: String,
    /// The stream URL without user name and password.
    #[serde(default)]
    pub url: String,
    /// Typed user name and password; both empty keeps the saved ones.
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: String,
    /// Ticked to remove the saved user name and password.
    pub forget_credentials: Option<String>,
    pub enabled: Option<String>,
    #[serde(default)]
    pub width: String,
    #[serde(default)]
    pub height: String,
    #[serde(default)]
    pub fps: String,
    #[serde(default)]
    pub threshold: String,
    #[serde(default)]
    pub contour_area: String,
    #[serde(default)]
    pub start_frames: String,
    #[serde(default)]
    pub quiet_secs: String,
    /// One polygon per line, points as `x,y` pairs separated by spaces, relative 0–1.
    #[serde(default)]
    pub mask: String,
    /// Labels to track, separated by commas or spaces.
    #[serde(default)]
    pub track: String,
    /// Object masks, like `mask`.
    #[serde(default)]
    pub object_mask: String,
    /// One zone per line: `name: x,y x,y x,y`.
    #[serde(default)]
    pub zones: String,
    /// Zones an object must enter to make an event, separated by commas.
    #[serde(default)]
    pub require_zones: String,
    /// `[cameras.alerts]`: labels that alert, separated by commas.
    #[serde(default)]
    pub alert_labels: String,
    /// Least score, 0–1.
    #[serde(default)]
    pub alert_min_score: String,
    #[serde(default)]
    pub alert_zones: String,
    /// `low`, `medium` or `high`.
    #[serde(default)]
    pub alert_severity: String,
    #[serde(default)]
    pub alert_cooldown: String,
    #[serde(default)]
    pub alert_timezone: String,
    /// One quiet time per line: `mon,tue 08:00-17:00`, or just the times for every day.
    #[serde(default)]
    pub alert_quiet: String,
    /// One rule per line: `high label=person zone=garden time=22:00-06:00`.
    #[serde(default)]
    pub alert_rules: String,
    /// `[cameras.record]`: `off`, `events` or `continuous`.
    #[serde(default)]
    pub record_mode: String,
    /// The record stream without user name and password (the camera's are used); empty = `url`.
    #[serde(default)]
    pub record_url: String,
    #[serde(default)]
    pub record_pre_roll: String,
    #[serde(default)]
    pub record_post_roll: String,
    #[serde(default)]
    pub record_continuous_days: String,
    #[serde(default)]
    pub record_event_days: String,
}

fn format_polygons(polygons: &[Polygon]) -> String {
    polygons.iter().map(|p| format_points(p)).collect::<Vec<_>>().join("\n")
}

fn format_points(polygon: &[[f32; 2]]) -> String {
    polygon.iter().map(|[x, y]| format!("{x},{y}")).collect::<Vec<_>>().join(" ")
}

fn split_names(text: &str) -> Vec<String> {
    text.split([',', ' ']).map(|l| l.trim().to_lowercase()).filter(|l| !l.is_empty()).collect()
}

/// Field name → message, shown inline.
pub type FieldErrors = BTreeMap<String, String>;

impl CameraForm {
    /// The form pre-filled from an existing camera (or defaults for a new one).
    pub fn from_config(camera: &CameraConfig) -> Self {
        let m = &camera.motion;
        Self {
            id: camera.id.clone(),
            name: camera.name.clone(),
            // Saved credentials never go back to the browser; empty fields keep them (`to_config`).
            url: split_credentials(&camera.url).0,
            username: String::new(),
            password: String::new(),
            forget_credentials: None,
            enabled: camera.enabled.then(|| "on".into()),
            width: camera.detect.width.to_string(),
            height: camera.detect.height.to_string(),
            fps: camera.detect.fps.to_string(),
            threshold: m.threshold.to_string(),
            contour_area: m.contour_area.to_string(),
            start_frames: m.start_frames.to_string(),
            quiet_secs: m.quiet_secs.to_string(),
            mask: format_polygons(&m.mask),
            track: camera.objects.track.join(", "),
            object_mask: format_polygons(&camera.objects.mask),
            zones: camera
                .zones
                .iter()
                .map(|z| format!("{}: {}", z.name, format_points(&z.polygon)))
                .collect::<Vec<_>>()
                .join("\n"),
            require_zones: camera.objects.require_zones.join(", "),
            alert_labels: camera.alerts.labels.join(", "),
            alert_min_score: camera.alerts.min_score.to_string(),
            alert_zones: camera.alerts.zones.join(", "),
            alert_severity: camera.alerts.severity.as_str().into(),
            alert_cooldown: camera.alerts.cooldown_secs.to_string(),
            alert_timezone: camera.alerts.timezone.text().to_string(),
            alert_quiet: camera.alerts.quiet.iter().map(format_quiet).collect::<Vec<_>>().join("\n"),
            alert_rules: camera.alerts.rules.iter().map(format_rule).collect::<Vec<_>>().join("\n"),
            record_mode: camera.record.mode.as_str().into(),
            record_url: camera.record.own_url().map(|u| split_credentials(u).0).unwrap_or_default(),
            record_pre_roll: camera.record.pre_roll_secs.to_string(),
            record_post_roll: camera.record.post_roll_secs.to_string(),
            record_continuous_days: camera.record.continuous_days.to_string(),
            record_event_days: camera.record.event_days.to_string(),
        }
    }

    pub fn blank() -> Self {
        let mut form = Self::from_config(&CameraConfig::new("", "", ""));
        form.enabled = Some("on".into());
        form
    }

    /// Builds and validates the camera; `previous` supplies the saved credentials the form left empty.
    pub fn to_config(&self, previous: Option<&CameraConfig>) -> Result<CameraConfig, FieldErrors> {
        let mut errors = FieldErrors::new();
        let mut number = |field: &str, raw: &str| -> u32 {
            match raw.trim().parse::<u32>() {
                Ok(v) => v,
                Err(_) => {
                    errors.insert(field.into(), format!("{:?} is not a whole number", raw.trim()));
                    0
                }
            }
        };
        let width = number("width", &self.width);
        let height = number("height", &self.height);
        let fps = number("fps", &self.fps);
        let threshold = number("threshold", &self.threshold);
        let contour_area = number("contour_area", &self.contour_area);
        let start_frames = number("start_frames", &self.start_frames);
        let quiet_secs = number("quiet_secs", &self.quiet_secs);
        // Empty alert fields take the defaults (a form from before they existed, or left blank).
        let defaults = AlertPolicy::default();
        let cooldown_secs = match self.alert_cooldown.trim() {
            "" => defaults.cooldown_secs,
            raw => number("alert_cooldown", raw),
        };
        // Empty recording fields keep the previous (or default) values.
        let kept_record = previous.map(|p| p.record.clone()).unwrap_or_default();
        let mut record_number = |field: &str, raw: &str, kept: u32| match raw.trim() {
            "" => kept,
            raw => number(field, raw),
        };
        let record = RecordConfig {
            pre_roll_secs: record_number("record_pre_roll", &self.record_pre_roll, kept_record.pre_roll_secs),
            post_roll_secs: record_number("record_post_roll", &self.record_post_roll, kept_record.post_roll_secs),
            continuous_days: record_number(
                "record_continuous_days",
                &self.record_continuous_days,
                kept_record.continuous_days,
            ),
            event_days: record_number("record_event_days", &self.record_event_days, kept_record.event_days),
            mode: match self.record_mode.trim() {
                "" => kept_record.mode,
                "off" => RecordMode::Off,
                "events" => RecordMode::Events,
                "continuous" => RecordMode::Continuous,
                other => {
                    errors.insert("record_mode".into(), format!("{other:?} is not off, events or continuous"));
                    kept_record.mode
                }
            },
            url: Some(self.record_url.trim().to_string()).filter(|u| !u.is_empty()),
            ..kept_record
        };
        if record.url.as_deref().is_some_and(|u| split_credentials(u).1.is_some()) {
            errors.insert(
                "record_url".into(),
                "leave the user name and password out: the record stream uses the camera's".into(),
            );
        }
        let mask = match parse_mask(&self.mask) {
            Ok(mask) => mask,
            Err(message) => {
                errors.insert("mask".into(), message);
                Vec::new()
            }
        };
        let object_mask = match parse_mask(&self.object_mask) {
            Ok(mask) => mask,
            Err(message) => {
                errors.insert("object_mask".into(), message);
                Vec::new()
            }
        };
        let zones = match parse_zones(&self.zones) {
            Ok(zones) => zones,
            Err(message) => {
                errors.insert("zones".into(), message);
                Vec::new()
            }
        };
        let min_score = match self.alert_min_score.trim().parse::<f32>() {
            Ok(score) => score,
            Err(_) if self.alert_min_score.trim().is_empty() => defaults.min_score,
            Err(_) => {
                errors.insert(
                    "alert_min_score".into(),
                    format!("{:?} is not a number; use 0–1, e.g. 0.6", self.alert_min_score.trim()),
                );
                0.0
            }
        };
        let severity = match self.alert_severity.trim() {
            "" => defaults.severity,
            word => Severity::parse(word).unwrap_or_else(|| {
                errors.insert("alert_severity".into(), "choose low, medium or high".into());
                defaults.severity
            }),
        };
        let quiet = parse_lines(&self.alert_quiet, parse_quiet).unwrap_or_else(|message| {
            errors.insert("alert_quiet".into(), message);
            Vec::new()
        });
        let rules = parse_lines(&self.alert_rules, parse_rule).unwrap_or_else(|message| {
            errors.insert("alert_rules".into(), message);
            Vec::new()
        });
        let timezone = Parsed::new(self.alert_timezone.trim());
        let alerts = AlertPolicy {
            labels: split_names(&self.alert_labels),
            min_score,
            zones: split_names(&self.alert_zones),
            severity,
            rules,
            cooldown_secs,
            timezone,
            quiet,
        };
        let url = self.url_with_credentials(previous.map(|p| p.url.as_str()));
        let camera = CameraConfig {
            id: self.id.trim().to_string(),
            name: self.name.trim().to_string(),
            url,
            enabled: self.enabled.is_some(),
            hwaccel: previous.and_then(|p| p.hwaccel),
            detect: DetectConfig { width, height, fps },
            motion: MotionConfig {
                threshold: threshold.min(255) as u8,
                contour_area,
                start_frames,
                quiet_secs,
                mask,
                ..previous.map(|p| p.motion.clone()).unwrap_or_default()
            },
            objects: ObjectsConfig {
                track: split_names(&self.track),
                mask: object_mask,
                require_zones: split_names(&self.require_zones),
                ..previous.map(|p| p.objects.clone()).unwrap_or_default()
            },
            zones,
            // Kept from the previous settings: the form does not edit it.
            describe: previous.map(|p| p.describe.clone()).unwrap_or_default(),
            alerts,
            record,
        };
        if threshold > 255 {
            errors.insert("threshold".into(), format!("{threshold} is too high; use 1–255"));
        }
        for issue in camera.validate() {
            let field = match issue.key.as_str() {
                "detect.width" => "width",
                "detect.height" => "height",
                "detect.fps" => "fps",
                "motion.threshold" => "threshold",
                "motion.start_frames" => "start_frames",
                "motion.quiet_secs" => "quiet_secs",
                key if key.starts_with("motion.mask") => "mask",
                key if key.starts_with("objects.mask") => "object_mask",
                key if key.starts_with("objects.require_zones") => "require_zones",
                key if key.starts_with("objects.") => "track",
                key if key.starts_with("zones") => "zones",
                key if key.starts_with("alerts.labels") => "alert_labels",
                key if key.starts_with("alerts.min_score") => "alert_min_score",
                key if key.starts_with("alerts.zones") => "alert_zones",
                key if key.starts_with("alerts.cooldown") => "alert_cooldown",
                key if key.starts_with("alerts.timezone") => "alert_timezone",
                key if key.starts_with("alerts.quiet") => "alert_quiet",
                key if key.starts_with("alerts.rules") => "alert_rules",
                "record.url" => "record_url",
                "record.pre_roll_secs" => "record_pre_roll",
                "record.post_roll_secs" => "record_post_roll",
                "record.continuous_days" => "record_continuous_days",
                "record.event_days" => "record_event_days",
                key if key.starts_with("motion.") => "contour_area",
                key => key,
            };
            // A quiet time or rule is a line of its textarea: name the line, as the parser does.
            let line = ["alerts.quiet[", "alerts.rules["]
                .iter()
                .find_map(|prefix| issue.key.strip_prefix(prefix)?.split(']').next()?.parse::<usize>().ok());
            let message = match line {
                Some(index) => format!("line {}: {}", index + 1, issue.message),
                None => issue.message,
            };
            errors.entry(field.to_string()).or_insert(message);
        }
        if errors.is_empty() { Ok(camera) } else { Err(errors) }
    }
}

impl CameraForm {
    /// The URL to connect to: credentials pasted into the URL win, then the typed user name (with
    /// the typed or else the saved password), then the saved ones unless "forget" is ticked.
    fn url_with_credentials(&self, previous_url: Option<&str>) -> String {
        let typed = self.url.trim();
        let (clean, pasted) = split_credentials(typed);
        if pasted.is_some() {
            return typed.to_string();
        }
        let saved = previous_url.and_then(|p| url::Url::parse(p).ok());
        let username = self.username.trim();
        if !username.is_empty() {
            let password = match (&self.password, &saved) {
                (typed, _) if !typed.is_empty() => typed.clone(),
                (_, Some(saved)) => saved.password().unwrap_or_default().to_string(),
                _ => String::new(),
            };
            return with_credentials(&clean, username, &password);
        }
        if self.forget_credentials.is_some() {
            return clean;
        }
        join_credentials(&clean, previous_url.and_then(|p| split_credentials(p).1).as_deref())
    }
}

/// Each non-empty line through `parse`; the first mistake is named by its line.
fn parse_lines<T>(text: &str, parse: fn(&str) -> Result<T, String>) -> Result<Vec<T>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| parse(line.trim()).map_err(|why| format!("line {}: {why}", index + 1)))
        .collect()
}

/// `HH:MM-HH:MM` as its two ends.
fn parse_range(text: &str) -> Result<(Parsed<ClockTime>, Parsed<ClockTime>), String> {
    let (from, to) =
        text.split_once('-').ok_or_else(|| format!("{text:?} is not a time range; write it like 22:00-06:00"))?;
    let (from, to) = (Parsed::new(from.trim()), Parsed::new(to.trim()));
    match from.problem().or(to.problem()) {
        Some(problem) => Err(problem.to_string()),
        None => Ok((from, to)),
    }
}

/// `mon,tue,wed 08:00-17:00`, or `08:00-17:00` for every day.
fn parse_quiet(line: &str) -> Result<QuietTime, String> {
    let (days, range) = match line.rsplit_once(' ') {
        Some((days, range)) => (days, range),
        None => ("", line),
    };
    let (from, to) = parse_range(range)?;
    let days: Vec<Parsed<Weekday>> = split_names(days).iter().map(|day| Parsed::new(day)).collect();
    if let Some(problem) = days.iter().find_map(Parsed::problem) {
        return Err(problem.to_string());
    }
    Ok(QuietTime { days, from, to })
}

fn format_quiet(quiet: &QuietTime) -> String {
    let range = format!("{}-{}", quiet.from, quiet.to);
    if quiet.days.is_empty() {
        range
    } else {
        format!("{} {range}", quiet.days.iter().map(Parsed::text).collect::<Vec<_>>().join(","))
    }
}

/// `high label=person zone=garden time=22:00-06:00`: the severity, then any of the conditions.
fn parse_rule(line: &str) -> Result<SeverityRule, String> {
    let mut words = line.split_whitespace();
    let first = words.next().unwrap_or_default();
    let severity = Severity::parse(first)
        .ok_or_else(|| format!("start with the severity (low, medium or high), not {first:?}"))?;
    let mut rule = SeverityRule { label: None, zone: None, from: None, to: None, severity };
    for word in words {
        match word.split_once('=') {
            Some(("label", label)) => rule.label = Some(label.to_lowercase()),
            Some(("zone", zone)) => rule.zone = Some(zone.to_lowercase()),
            Some(("time", range)) => {
                let (from, to) = parse_range(range)?;
                rule.from = Some(from);
                rule.to = Some(to);
            }
            _ => return Err(format!("{word:?} is not label=…, zone=… or time=HH:MM-HH:MM")),
        }
    }
    Ok(rule)
}

fn format_rule(rule: &SeverityRule) -> String {
    let mut words = vec![rule.severity.as_str().to_string()];
    if let Some(label) = &rule.label {
        words.push(format!("label={label}"));
    }
    if let Some(zone) = &rule.zone {
        words.push(format!("zone={zone}"));
    }
    if let (Some(from), Some(to)) = (&rule.from, &rule.to) {
        words.push(format!("time={from}-{to}"));
    }
    words.join(" ")
}

/// `name: x,y x,y x,y`, one zone per line.
fn parse_zones(text: &str) -> Result<Vec<ZoneConfig>, String> {
    let mut zones = Vec::new();
    for (line_no, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let (name, points) =
            line.split_once(':').ok_or_else(|| format!("line {}: write the zone as name: x,y x,y x,y", line_no + 1))?;
        let polygon = parse_mask(points)
            .map_err(|why| format!("line {}: {}", line_no + 1, why.trim_start_matches("line 1: ")))?
            .into_iter()
            .next()
            .unwrap_or_default();
        zones.push(ZoneConfig { name: name.trim().to_lowercase(), polygon });
    }
    Ok(zones)
}

fn parse_mask(text: &str) -> Result<Vec<Polygon>, String> {
    let mut polygons = Vec::new();
    for (line_no, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let mut polygon = Polygon::new();
        for pair in line.split_whitespace() {
            let point = pair
                .split_once(',')
                .and_then(|(x, y)| Some([x.trim().parse::<f32>().ok()?, y.trim().parse::<f32>().ok()?]))
                .ok_or_else(|| {
                    format!("line {}: {pair:?} is not a point; write x,y pairs like 0.1,0.2", line_no + 1)
                })?;
            polygon.push(point);
        }
        polygons.push(polygon);
    }
    Ok(polygons)
}

/// The fields of a form body, repeated keys (checkbox lists) kept.
pub fn form_fields(body: &[u8]) -> HashMap<String, Vec<String>> {
    let mut fields: HashMap<String, Vec<String>> = HashMap::new();
    for (key, value) in url::form_urlencoded::parse(body).into_owned() {
        fields.entry(key).or_default().push(value);
    }
    fields
}

pub fn field<'a>(fields: &'a HashMap<String, Vec<String>>, key: &str) -> &'a str {
    fields.get(key).and_then(|v| v.first()).map(String::as_str).unwrap_or("")
}

/// Filters shared by `/api/events` and the events page.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct EventsQuery {
    pub camera: Option<String>,
    pub kind: Option<String>,
    pub label: Option<String>,
    pub zone: Option<String>,
    /// A day, `YYYY-MM-DD`, in the server's time zone.
    pub date: Option<String>,
    pub before: Option<i64>,
    pub limit: Option<u64>,
    /// Words to search for (titles, descriptions, labels, camera and zone names).
    pub q: Option<String>,
    /// `low`, `medium` or `high`.
    pub severity: Option<String>,
    /// `new`, `viewed` or `resolved`.
    pub status: Option<String>,
    /// `1`/`true`/`on`: only events that alerted.
    pub alerts: Option<String>,
    /// Events carrying this tag.
    pub tag: Option<String>,
    /// Events from this moment on: `YYYY-MM-DD` (the server's midnight), RFC 3339, or ms.
    pub from: Option<String>,
    /// Events before this moment, written as `from`.
    pub to: Option<String>,
    /// The events page after a deletion: how many went.
    pub deleted: Option<u64>,
}

/// A moment in a query, as [`crate::calendar::parse_moment`] reads it, or an error naming `key`.
pub fn parse_moment(key: &str, text: &str) -> Result<i64, Error> {
    crate::calendar::parse_moment(text).ok_or_else(|| {
        Error::invalid(format!(
            "{key} {text:?} is not a time; use YYYY-MM-DD, 2026-11-30T08:00:00+01:00 or milliseconds"
        ))
    })
}

impl EventsQuery {
    /// The filters by the names the events page's query string gives them (not paging).
    pub fn filter_fields(&self) -> [(&'static str, &Option<String>); 12] {
        [
            ("camera", &self.camera),
            ("kind", &self.kind),
            ("label", &self.label),
            ("zone", &self.zone),
            ("date", &self.date),
            ("severity", &self.severity),
            ("status", &self.status),
            ("alerts", &self.alerts),
            ("tag", &self.tag),
            ("q", &self.q),
            ("from", &self.from),
            ("to", &self.to),
        ]
    }

    /// The filters from a posted form's fields (the names of [`EventsQuery::filter_fields`]).
    pub fn from_fields(fields: &HashMap<String, Vec<String>>) -> Self {
        let value = |key: &str| fields.get(key).and_then(|v| v.first()).cloned().filter(|v| !v.is_empty());
        Self {
            camera: value("camera"),
            kind: value("kind"),
            label: value("label"),
            zone: value("zone"),
            date: value("date"),
            severity: value("severity"),
            status: value("status"),
            alerts: value("alerts"),
            tag: value("tag"),
            q: value("q"),
            from: value("from"),
            to: value("to"),
            ..Self::default()
        }
    }

    pub fn to_filter(&self, default_limit: u64) -> Result<EventFilter, Error> {
        let non_empty = |v: &Option<String>| v.as_ref().map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        let (since_ms, until_ms) = match non_empty(&self.date) {
            Some(date) => {
                let day = chrono::NaiveDate::parse_from_str(&date, "%Y-%m-%d")
                    .map_err(|_| Error::invalid(format!("date {date:?} is not a day; use YYYY-MM-DD")))?;
                let (start_ms, end_ms) = crate::calendar::day_bounds_ms(day, &chrono::Local)
                    .ok_or_else(|| Error::invalid(format!("date {date:?} is out of range")))?;
                (Some(start_ms), Some(end_ms))
            }
            None => (None, None),
        };
        let moment =
            |key: &str, value: &Option<String>| non_empty(value).map(|text| parse_moment(key, &text)).transpose();
        let (from_ms, to_ms) = (moment("from", &self.from)?, moment("to", &self.to)?);
        // A day and a range together: the part they share.
        let since_ms = [since_ms, from_ms].into_iter().flatten().max();
        let until_ms = [until_ms, to_ms].into_iter().flatten().min();
        let limit = self.limit.unwrap_or(default_limit);
        if !(1..=500).contains(&limit) {
            return Err(Error::invalid(format!("limit {limit} is out of range; use 1–500")));
        }
        let severity = non_empty(&self.severity)
            .map(|s| {
                Severity::parse(&s)
                    .ok_or_else(|| Error::invalid(format!("severity {s:?} is not one of low, medium, high")))
            })
            .transpose()?;
        let status = non_empty(&self.status)
            .map(|s| {
                EventStatus::parse(&s)
                    .ok_or_else(|| Error::invalid(format!("status {s:?} is not one of new, viewed, resolved")))
            })
            .transpose()?;
        let kind = non_empty(&self.kind)
            .map(|k| {
                EventKind::parse(&k)
                    .ok_or_else(|| Error::invalid(format!("kind {k:?} is not one of motion, object, sensor")))
            })
            .transpose()?;
        let alerts_only = match non_empty(&self.alerts).as_deref() {
            None | Some("0" | "false" | "off") => false,
            Some("1" | "true" | "on") => true,
            Some(other) => return Err(Error::invalid(format!("alerts {other:?} is not a yes or no; use 1 or 0"))),
        };
        Ok(EventFilter {
            tag: non_empty(&self.tag).map(|t| t.to_lowercase()),
            severity,
            status,
            alerts_only,
            camera: non_empty(&self.camera),
            allowed_cameras: None,
            kind,
            label: non_empty(&self.label),
            zone: non_empty(&self.zone),
            since_ms,
            until_ms,
            before: self.before,
            limit,
            query: non_empty(&self.q),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_form_becomes_a_camera() {
        let form = CameraForm {
            id: "porch".into(),
            url: "rtsp://10.0.0.9/s".into(),
            mask: "0,0 0.5,0 0.5,0.5\n".into(),
            ..CameraForm::blank()
        };
        let camera = form.to_config(None).unwrap();
        assert_eq!(camera.id, "porch");
        assert_eq!(camera.motion.mask, vec![vec![[0.0, 0.0], [0.5, 0.0], [0.5, 0.5]]]);
    }

    #[test]
    fn recording_is_edited_in_the_form_and_a_record_stream_takes_no_password() {
        let form = CameraForm {
            id: "gate".into(),
            url: "rtsp://10.0.0.9/sub".into(),
            username: "admin".into(),
            password: "pw".into(),
            record_mode: "events".into(),
            record_url: "rtsp://10.0.0.9/main".into(),
            record_pre_roll: "8".into(),
            ..CameraForm::blank()
        };
        let camera = form.to_config(None).unwrap();
        assert_eq!(
            (camera.record.mode, camera.record.pre_roll_secs, camera.record.post_roll_secs),
            (RecordMode::Events, 8, 5)
        );
        assert_eq!(camera.record_url(), "rtsp://admin:pw@10.0.0.9/main");
        let again = CameraForm::from_config(&camera);
        assert_eq!((again.record_mode.as_str(), again.record_url.as_str()), ("events", "rtsp://10.0.0.9/main"));
        let leaky = CameraForm { record_url: "rtsp://u:secret@10.0.0.9/main".into(), ..form.clone() };
        assert!(leaky.to_config(None).unwrap_err()["record_url"].contains("camera's"));
        let wrong = CameraForm { record_mode: "always".into(), record_event_days: "0".into(), ..form };
        let errors = wrong.to_config(None).unwrap_err();
        assert!(errors.contains_key("record_mode") && errors.contains_key("record_event_days"), "{errors:?}");
    }

    #[test]
    fn the_alert_policy_is_edited_as_lines_and_read_back_the_same() {
        let form = CameraForm {
            id: "garden".into(),
            url: "rtsp://10.0.0.9/s".into(),
            track: "person, car".into(),
            zones: "lawn: 0,0 1,0 1,1".into(),
            alert_labels: "person".into(),
            alert_min_score: "0.7".into(),
            alert_severity: "low".into(),
            alert_cooldown: "120".into(),
            alert_timezone: "Europe/Berlin".into(),
            alert_quiet: "mon,tue,wed,thu,fri 08:00-17:00\n\n12:00-13:00".into(),
            alert_rules: "high label=person zone=lawn time=22:00-06:00\nmedium label=car".into(),
            ..CameraForm::blank()
        };
        let camera = form.to_config(None).unwrap();
        let alerts = &camera.alerts;
        assert_eq!(
            (alerts.labels.clone(), alerts.min_score, alerts.severity),
            (vec!["person".to_string()], 0.7, Severity::Low)
        );
        let days: Vec<_> = alerts.quiet[0].days.iter().map(|d| *d.get().unwrap()).collect();
        assert_eq!(days, Weekday::ALL[..5]);
        assert_eq!((alerts.quiet[1].days.len(), alerts.quiet[1].from.to_string()), (0, "12:00".to_string()));
        assert_eq!(alerts.rules[0].zone.as_deref(), Some("lawn"));
        assert_eq!(alerts.rules[1].from, None);
        let again = CameraForm::from_config(&camera);
        assert_eq!(again.alert_quiet, "mon,tue,wed,thu,fri 08:00-17:00\n12:00-13:00");
        assert_eq!(again.alert_rules, "high label=person zone=lawn time=22:00-06:00\nmedium label=car");
        assert_eq!(again.to_config(None).unwrap().alerts, camera.alerts);

        let broken = CameraForm {
            alert_quiet: "weekdays 8-17".into(),
            alert_rules: "urgent label=person".into(),
            alert_timezone: "Mars/Olympus".into(),
            alert_labels: "boat".into(),
            ..form
        };
        let errors = broken.to_config(None).unwrap_err();
        assert!(errors["alert_rules"].contains("line 1: start with the severity"), "{errors:?}");
        assert!(errors["alert_timezone"].contains("Europe/Berlin"), "{errors:?}");
        assert!(errors["alert_labels"].contains("track"), "{errors:?}");
        assert!(errors.contains_key("alert_quiet"), "{errors:?}");
    }

    #[test]
    fn bad_fields_get_their_own_messages() {
        let form = CameraForm {
            id: "Bad Id".into(),
            url: "ftp://x".into(),
            fps: "0".into(),
            mask: "1,1 2".into(),
            ..CameraForm::blank()
        };
        let errors = form.to_config(None).unwrap_err();
        for field in ["id", "url", "fps", "mask"] {
            assert!(errors.contains_key(field), "no message for {field}: {errors:?}");
        }
    }

    #[test]
    fn empty_credential_fields_keep_the_saved_ones() {
        let stored = "rtsp://admin:s3cret@10.0.0.9/s";
        let form = |username: &str, password: &str, forget: bool| CameraForm {
            id: "porch".into(),
            url: "rtsp://10.0.0.9/s".into(),
            username: username.into(),
            password: password.into(),
            forget_credentials: forget.then(|| "on".into()),
            ..CameraForm::blank()
        };
        assert_eq!(form("", "", false).url_with_credentials(Some(stored)), stored);
        assert_eq!(form("admin", "n@w", false).url_with_credentials(Some(stored)), "rtsp://admin:n%40w@10.0.0.9/s");
        assert_eq!(form("viewer", "", false).url_with_credentials(Some(stored)), "rtsp://viewer:s3cret@10.0.0.9/s");
        assert_eq!(form("", "", true).url_with_credentials(Some(stored)), "rtsp://10.0.0.9/s");
        let pasted = CameraForm { url: "rtsp://u:p@10.0.0.9/s".into(), ..form("", "", false) };
        assert_eq!(pasted.url_with_credentials(Some(stored)), "rtsp://u:p@10.0.0.9/s");
        assert_eq!(CameraForm::from_config(&form("", "", false).to_config(None).unwrap()).username, "");
    }
}
