//! A camera's settings, from the config file (`[[cameras]]`) or saved from the UI: its stream,
//! the size it is analysed at, motion and object settings, zones, which of its events alert and
//! how (`alerts`), and its own `describe` overrides; and the `[ffmpeg]` section all cameras share. One camera checks itself ([`CameraConfig::validate`]);
//! the pages, the config loader and adoption all use that.

use crate::checks::{Checks, ConfigIssue, Parsed};
use crate::detect::motion::MotionConfig;
use crate::geometry::{Polygon, check_polygon, point_in_polygon};
use crate::model::{DescribeProvider, Severity};
use crate::recording::settings::RecordConfig;
use crate::secret::{Secret, redact_url};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// One camera, from the config file or saved from the UI (same shape in both).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CameraConfig {
    /// Short slug used in URLs, topics and file names: lowercase letters, digits, `-` and `_`.
    pub id: String,
    /// Display name; defaults to the id.
    #[serde(default)]
    pub name: String,
    /// `rtsp://…`, `rtsps://…`, `http(s)://…` (MJPEG) or a local video file (looped in real time).
    pub url: String,
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Overrides `[ffmpeg] hwaccel` for this camera.
    #[serde(default)]
    pub hwaccel: Option<HwAccel>,
    #[serde(default)]
    pub detect: DetectConfig,
    #[serde(default)]
    pub motion: MotionConfig,
    #[serde(default)]
    pub objects: ObjectsConfig,
    /// Named areas; an event records the zones its object entered.
    #[serde(default)]
    pub zones: Vec<ZoneConfig>,
    /// This camera's overrides of `[describe]`.
    #[serde(default)]
    pub describe: CameraDescribe,
    /// Which of this camera's events alert, and how severely.
    #[serde(default)]
    pub alerts: AlertPolicy,
    /// What is recorded, from which stream, and how long it is kept.
    #[serde(default)]
    pub record: RecordConfig,
}

/// Which of a camera's events alert (besides its alerts switch, its mute and home/away).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AlertPolicy {
    /// Labels that alert; empty = every label the camera tracks.
    pub labels: Vec<String>,
    /// Least score (0–1) an object needs to alert; 0 = any object event.
    pub min_score: f32,
    /// Only objects in one of these zones when their event starts alert; empty = anywhere.
    pub zones: Vec<String>,
    /// The severity when no rule matches. Motion-only events are always `low`.
    pub severity: Severity,
    /// Rules that set the severity by label, zone and time of day; the first that matches wins.
    pub rules: Vec<SeverityRule>,
    /// Seconds after an alert before the same label on this camera alerts again.
    pub cooldown_secs: u32,
    /// The camera's IANA time zone (`Europe/Berlin`) for rules and quiet times; empty = the
    /// server's.
    pub timezone: Parsed<TimeZone>,
    /// Weekly quiet times: no alerts from this camera then.
    pub quiet: Vec<QuietTime>,
}

impl AlertPolicy {
    /// The time zone its times are in (the server's when none is set, or the set one is unknown).
    pub fn zone(&self) -> TimeZone {
        self.timezone.get().copied().unwrap_or_default()
    }
}

impl Default for AlertPolicy {
    fn default() -> Self {
        Self {
            labels: Vec::new(),
            min_score: 0.0,
            zones: Vec::new(),
            severity: Severity::Medium,
            rules: Vec::new(),
            cooldown_secs: 60,
            timezone: Parsed::default(),
            quiet: Vec::new(),
        }
    }
}

/// `{ days = ["mon", "tue"], from = "08:00", to = "17:00" }`: quiet on those days between those
/// times of the camera's time zone. A range that crosses midnight belongs to the day it starts.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct QuietTime {
    /// Empty = every day.
    #[serde(default)]
    pub days: Vec<Parsed<Weekday>>,
    pub from: Parsed<ClockTime>,
    pub to: Parsed<ClockTime>,
}

/// `{ label = "person", zone = "garden", from = "22:00", to = "06:00", severity = "high" }`: every
/// key but `severity` optional; a time range may cross midnight (server's local time).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SeverityRule {
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub zone: Option<String>,
    #[serde(default)]
    pub from: Option<Parsed<ClockTime>>,
    #[serde(default)]
    pub to: Option<Parsed<ClockTime>>,
    pub severity: Severity,
}

/// A time of day, written `"HH:MM"` in settings, as minutes after midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ClockTime(u32);

impl std::str::FromStr for ClockTime {
    type Err = String;

    /// `"HH:MM"` (exactly five characters, 00:00–23:59).
    fn from_str(text: &str) -> Result<Self, String> {
        let parsed = text.trim().split_once(':').and_then(|(hours, minutes)| {
            let (hours, minutes): (u32, u32) = (hours.parse().ok()?, minutes.parse().ok()?);
            (hours < 24 && minutes < 60 && text.trim().len() == 5).then_some(hours * 60 + minutes)
        });
        parsed.map(Self).ok_or_else(|| format!("{text:?} is not a time; write it as \"22:30\""))
    }
}

impl ClockTime {
    pub fn minutes(self) -> u32 {
        self.0
    }
}

/// A day of the week, `mon` … `sun` in settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Weekday {
    /// Monday first, as [`chrono::Weekday::num_days_from_monday`] counts.
    pub const ALL: [Weekday; 7] =
        [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri, Weekday::Sat, Weekday::Sun];

    pub fn as_str(self) -> &'static str {
        ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][self as usize]
    }
}

impl std::str::FromStr for Weekday {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|day| day.as_str() == text)
            .ok_or_else(|| format!("{text:?} is not a day; use mon, tue, wed, thu, fri, sat, sun"))
    }
}

/// A camera's IANA time zone (`Europe/Berlin`) for its alert times; empty in settings (`None`
/// here) means the server's zone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeZone(pub Option<chrono_tz::Tz>);

impl std::str::FromStr for TimeZone {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text.trim() {
            "" => Ok(Self(None)),
            name => name.parse::<chrono_tz::Tz>().map(|zone| Self(Some(zone))).map_err(|_| {
                format!("{text:?} is not an IANA time zone; use a name like \"Europe/Berlin\" or \"America/New_York\"")
            }),
        }
    }
}

/// A camera's overrides of `[describe]`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CameraDescribe {
    /// Send this camera's events to the model (when a provider is set).
    pub enabled: bool,
    /// Another provider for this camera (a local model for one camera, a hosted one for
    /// another); its `base_url` and `api_key` then start empty unless set here too.
    pub provider: Option<DescribeProvider>,
    pub base_url: Option<String>,
    pub api_key: Option<Secret>,
    /// Another model.
    pub model: Option<String>,
    /// Another request for this camera (placeholders as `[describe] prompt`).
    pub prompt: Option<String>,
}

impl Default for CameraDescribe {
    fn default() -> Self {
        Self { enabled: true, provider: None, base_url: None, api_key: None, model: None, prompt: None }
    }
}

impl CameraDescribe {
    /// Whether it changes which model describes the camera's events.
    pub fn overrides_model(&self) -> bool {
        self.provider.is_some() || self.base_url.is_some() || self.api_key.is_some() || self.model.is_some()
    }
}

/// A named area of the picture (driveway, garden, porch).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ZoneConfig {
    pub name: String,
    /// Relative `[x, y]` points from `0,0` (top left) to `1,1` (bottom right).
    pub polygon: Polygon,
}

impl ZoneConfig {
    /// Whether a relative point (an object's bottom centre) is inside.
    pub fn contains(&self, point: [f32; 2]) -> bool {
        point_in_polygon(point, &self.polygon)
    }
}

fn default_true() -> bool {
    true
}

impl CameraConfig {
    /// A camera with every other setting at its default.
    pub fn new(id: impl Into<String>, name: impl Into<String>, url: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            url: url.into(),
            enabled: true,
            hwaccel: None,
            detect: DetectConfig::default(),
            motion: MotionConfig::default(),
            objects: ObjectsConfig::default(),
            zones: Vec::new(),
            describe: CameraDescribe::default(),
            alerts: AlertPolicy::default(),
            record: RecordConfig::default(),
        }
    }

    pub fn display_name(&self) -> &str {
        if self.name.is_empty() { &self.id } else { &self.name }
    }
}

/// The size and rate ffmpeg decodes to; everything downstream works on these frames.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DetectConfig {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
}

impl Default for DetectConfig {
    fn default() -> Self {
        Self { width: 640, height: 360, fps: 5 }
    }
}

/// What the object detector looks for on this camera.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ObjectsConfig {
    /// Labels that make events (from the model's labels, e.g. `person`, `car`, `dog`).
    pub track: Vec<String>,
    /// Least score (0–1) for a single detection to count at all.
    pub min_score: f32,
    /// Median of an object's recent scores (0–1) needed before it becomes an event.
    pub threshold: f32,
    /// Areas where objects are ignored: a detection whose box's bottom centre lies inside is dropped.
    pub mask: Vec<Polygon>,
    /// Only objects that enter one of these zones make events; empty = anywhere.
    pub require_zones: Vec<String>,
    /// Per-label settings that override the ones above, e.g. `[cameras.objects.filters.car]`.
    pub filters: std::collections::BTreeMap<String, ObjectFilter>,
    /// Seconds an object may go unseen (while the detector looks for it) before its event ends:
    /// a walker hidden behind another for a moment stays one event.
    pub lost_secs: f32,
    /// Seconds the objects being followed are kept while the stream reconnects (or stalls, or a
    /// file loops): the first detections after it continue them, so nothing ends or alerts again
    /// just because frames paused. 0 ends them at once.
    pub keep_tracks_secs: u32,
    /// Labels the model confuses for one another, each group followed as one object (a van seen as
    /// `car` one moment and `truck` the next is one event, labelled by the weighted vote). A label
    /// in a group with a tracked label is looked for too. `[]` turns this off.
    pub label_groups: Vec<Vec<String>>,
}

/// Settings for one label.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ObjectFilter {
    /// Overrides `objects.min_score` for this label.
    pub min_score: Option<f32>,
    /// Overrides `objects.threshold` for this label.
    pub threshold: Option<f32>,
    /// Smallest box, as a fraction of the picture's area (0–1).
    pub min_area: f32,
    /// Largest box, as a fraction of the picture's area (0–1).
    pub max_area: f32,
}

impl Default for ObjectFilter {
    fn default() -> Self {
        Self { min_score: None, threshold: None, min_area: 0.0, max_area: 1.0 }
    }
}

impl ObjectsConfig {
    /// The least score a detection of `label` needs.
    pub fn min_score_for(&self, label: &str) -> f32 {
        self.filters.get(label).and_then(|f| f.min_score).unwrap_or(self.min_score)
    }

    /// The median score a track of `label` needs.
    pub fn threshold_for(&self, label: &str) -> f32 {
        self.filters.get(label).and_then(|f| f.threshold).unwrap_or(self.threshold)
    }

    /// The labels followed as one object with `label` (itself included), for the tracker and
    /// non-maximum suppression.
    pub fn group_of(&self, label: &str) -> Option<usize> {
        self.label_groups.iter().position(|group| group.iter().any(|l| l == label))
    }

    /// Whether a box covering `area` (fraction of the picture) is a plausible `label`.
    pub fn area_allowed(&self, label: &str, area: f32) -> bool {
        self.filters.get(label).is_none_or(|f| (f.min_area..=f.max_area).contains(&area))
    }
}

impl Default for ObjectsConfig {
    fn default() -> Self {
        Self {
            track: vec!["person".into()],
            min_score: 0.5,
            threshold: 0.7,
            mask: Vec::new(),
            require_zones: Vec::new(),
            filters: Default::default(),
            lost_secs: 3.0,
            keep_tracks_secs: 30,
            label_groups: vec![
                vec!["car".into(), "truck".into(), "bus".into(), "motorcycle".into()],
                vec!["dog".into(), "cat".into()],
            ],
        }
    }
}

/// The camera id that names Watchpost's own device in MQTT topics (`watchpost/hub/…`).
pub const RESERVED_CAMERA_ID: &str = "hub";

impl CameraConfig {
    /// The URL recorded: the record stream's own (with the camera's user name and password when
    /// it gives none), or the camera's.
    pub fn record_url(&self) -> String {
        match self.record.own_url() {
            None => self.url.clone(),
            Some(own) if crate::secret::split_credentials(own).1.is_some() => own.to_string(),
            Some(own) => crate::secret::join_credentials(own, crate::secret::split_credentials(&self.url).1.as_deref()),
        }
    }

    /// Whether recording reads the stream detection reads (then one connection serves both).
    pub fn records_detect_stream(&self) -> bool {
        self.record_url() == self.url
    }

    /// [`CameraConfig::validate`]'s problems in one sentence (`key: why` each), if there are any.
    pub fn problems_in_words(&self) -> Option<String> {
        let issues = self.validate();
        (!issues.is_empty()).then(|| issues.iter().map(ToString::to_string).collect::<Vec<_>>().join(" "))
    }

    /// Checks one camera; keys in the result are relative to the camera (`detect.fps`).
    pub fn validate(&self) -> Vec<ConfigIssue> {
        let mut checks = Checks::default();

        let id_ok = !self.id.is_empty()
            && self.id.len() <= 64
            && self.id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !id_ok {
            checks.push(
                "id",
                format!(
                    "{:?} is not a valid id; use 1–64 lowercase letters, digits, '-' or '_' (e.g. \"front-door\")",
                    self.id
                ),
            );
        } else if self.id == RESERVED_CAMERA_ID {
            checks.push(
                "id",
                format!(
                    "{RESERVED_CAMERA_ID:?} is reserved: Home Assistant's topics for Watchpost itself use it; choose another id (e.g. \"hub-camera\")"
                ),
            );
        }
        if self.name.chars().count() > 100 {
            checks.push("name", "is longer than 100 characters");
        }
        if let Err(why) = check_source_url(&self.url) {
            checks.push("url", why);
        }
        if let Some(url) = self.record.url.as_deref().filter(|url| !url.trim().is_empty())
            && let Err(why) = check_source_url(url)
        {
            checks.push("record.url", why);
        }
        checks.nested("record", self.record.validate());
        let d = self.detect;
        if !(16..=3840).contains(&d.width) || !d.width.is_multiple_of(2) {
            checks.push(
                "detect.width",
                format!("{} is not allowed; use an even number of pixels from 16 to 3840", d.width),
            );
        }
        if !(16..=2160).contains(&d.height) || !d.height.is_multiple_of(2) {
            checks.push(
                "detect.height",
                format!("{} is not allowed; use an even number of pixels from 16 to 2160", d.height),
            );
        }
        if !(1..=30).contains(&d.fps) {
            checks.push("detect.fps", format!("{} is not allowed; use 1–30 frames per second (5 is usual)", d.fps));
        }
        let m = &self.motion;
        if m.threshold == 0 {
            checks.push("motion.threshold", "0 is not allowed; use 1–255 (25 is usual)");
        }
        if !(20..=d.height.max(20)).contains(&m.frame_height) || m.frame_height > 1080 {
            checks.push(
                "motion.frame_height",
                format!(
                    "{} is not allowed; use 20 up to the detect height ({}); 100 is usual",
                    m.frame_height, d.height
                ),
            );
        }
        if !(m.frame_alpha > 0.0 && m.frame_alpha <= 1.0) {
            checks.push(
                "motion.frame_alpha",
                format!("{} is not allowed; use a number above 0 and at most 1 (0.02 is usual)", m.frame_alpha),
            );
        }
        if !(m.lightning_threshold > 0.0 && m.lightning_threshold <= 1.0) {
            checks.push(
                "motion.lightning_threshold",
                format!(
                    "{} is not allowed; use a fraction above 0 and at most 1 (0.8 is usual)",
                    m.lightning_threshold
                ),
            );
        }
        if !(1..=100).contains(&m.start_frames) {
            checks.push("motion.start_frames", format!("{} is not allowed; use 1–100 frames", m.start_frames));
        }
        if !(1..=3600).contains(&m.quiet_secs) {
            checks.push("motion.quiet_secs", format!("{} is not allowed; use 1–3600 seconds", m.quiet_secs));
        }
        let o = &self.objects;
        if !(o.min_score > 0.0 && o.min_score <= 1.0) {
            checks.push(
                "objects.min_score",
                format!("{} is not allowed; use a score above 0 and at most 1 (0.5 is usual)", o.min_score),
            );
        }
        if !(o.threshold >= o.min_score && o.threshold <= 1.0) {
            checks.push(
                "objects.threshold",
                format!(
                    "{} is not allowed; use a score from objects.min_score ({}) to 1 (0.7 is usual)",
                    o.threshold, o.min_score
                ),
            );
        }
        for (index, label) in o.track.iter().enumerate() {
            if label.trim().is_empty() || label.len() > 64 {
                checks.push(format!("objects.track[{index}]"), "is not a label; use e.g. \"person\" or \"car\"");
            }
        }
        for (index, polygon) in m.mask.iter().enumerate() {
            if let Err(why) = check_polygon(polygon) {
                checks.push(format!("motion.mask[{index}]"), why);
            }
        }
        for (label, filter) in &o.filters {
            let key = |field: &str| format!("objects.filters.{label}.{field}");
            if !o.track.contains(label) {
                checks.push(
                    format!("objects.filters.{label}"),
                    format!("{label:?} is not in objects.track; add it there or remove these settings"),
                );
            }
            let min = filter.min_score.unwrap_or(o.min_score);
            if let Some(v) = filter.min_score
                && !(v > 0.0 && v <= 1.0)
            {
                checks.push(key("min_score"), format!("{v} is not allowed; use a score above 0 and at most 1"));
            }
            if let Some(v) = filter.threshold
                && !(v >= min && v <= 1.0)
            {
                checks.push(
                    key("threshold"),
                    format!("{v} is not allowed; use a score from the label's min_score ({min}) to 1"),
                );
            }
            if !(0.0..=1.0).contains(&filter.min_area)
                || !(0.0..=1.0).contains(&filter.max_area)
                || filter.min_area > filter.max_area
            {
                checks.push(
                    key("min_area"),
                    format!(
                        "{}–{} is not allowed; use fractions of the picture with 0 ≤ min_area ≤ max_area ≤ 1",
                        filter.min_area, filter.max_area
                    ),
                );
            }
        }
        for (index, polygon) in o.mask.iter().enumerate() {
            if let Err(why) = check_polygon(polygon) {
                checks.push(format!("objects.mask[{index}]"), why);
            }
        }
        checks.range("objects.lost_secs", o.lost_secs, 0.5..=600.0, " seconds");
        checks.range("objects.keep_tracks_secs", o.keep_tracks_secs, 0..=3600, " seconds");
        let mut grouped = HashSet::new();
        for (index, group) in o.label_groups.iter().enumerate() {
            if group.len() < 2 {
                checks.push(
                    format!("objects.label_groups[{index}]"),
                    "needs at least two labels, e.g. [\"dog\", \"cat\"]",
                );
            }
            for label in group {
                if !grouped.insert(label.as_str()) {
                    checks.push(
                        format!("objects.label_groups[{index}]"),
                        format!("{label:?} is in another group too; a label can be in one group only"),
                    );
                }
            }
        }
        let mut zone_names = HashSet::new();
        for (index, zone) in self.zones.iter().enumerate() {
            let name_ok = !zone.name.is_empty()
                && zone.name.len() <= 64
                && zone.name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
            if !name_ok {
                checks.push(
                    format!("zones[{index}].name"),
                    format!(
                        "{:?} is not a valid zone name; use 1–64 of a-z, 0-9, - and _ (e.g. \"driveway\")",
                        zone.name
                    ),
                );
            } else if !zone_names.insert(zone.name.as_str()) {
                checks.push(
                    format!("zones[{index}].name"),
                    format!("{:?} is used by another zone of this camera", zone.name),
                );
            }
            if let Err(why) = check_polygon(&zone.polygon) {
                checks.push(format!("zones[{index}].polygon"), why);
            }
        }
        let a = &self.alerts;
        for (index, label) in a.labels.iter().enumerate() {
            if !o.track.contains(label) {
                checks.push(
                    format!("alerts.labels[{index}]"),
                    format!("{label:?} is not tracked by this camera; add it to objects.track or remove it"),
                );
            }
        }
        if !(0.0..=1.0).contains(&a.min_score) {
            checks.push("alerts.min_score", format!("{} is out of range; use 0–1 (0 = any object event)", a.min_score));
        }
        let zone_known = |zone: &str| self.zones.iter().any(|z| z.name == zone);
        for (index, zone) in a.zones.iter().enumerate() {
            if !zone_known(zone) {
                checks.push(format!("alerts.zones[{index}]"), format!("{zone:?} is not one of this camera's zones"));
            }
        }
        for (index, rule) in a.rules.iter().enumerate() {
            if let Some(zone) = rule.zone.as_deref().filter(|z| !zone_known(z)) {
                checks
                    .push(format!("alerts.rules[{index}].zone"), format!("{zone:?} is not one of this camera's zones"));
            }
            for (key, clock) in [("from", &rule.from), ("to", &rule.to)] {
                if let Some(problem) = clock.as_ref().and_then(Parsed::problem) {
                    checks.push(format!("alerts.rules[{index}].{key}"), problem);
                }
            }
            if rule.from.is_some() != rule.to.is_some() {
                checks.push(format!("alerts.rules[{index}]"), "needs both from and to, or neither");
            }
        }
        if let Some(problem) = a.timezone.problem() {
            checks.push("alerts.timezone", problem);
        }
        for (index, quiet) in a.quiet.iter().enumerate() {
            for (key, clock) in [("from", &quiet.from), ("to", &quiet.to)] {
                if let Some(problem) = clock.problem() {
                    checks.push(format!("alerts.quiet[{index}].{key}"), problem);
                }
            }
            for problem in quiet.days.iter().filter_map(Parsed::problem) {
                checks.push(format!("alerts.quiet[{index}].days"), problem);
            }
        }
        checks.range("alerts.cooldown_secs", a.cooldown_secs, 0..=86_400, " seconds");
        for (index, required) in o.require_zones.iter().enumerate() {
            if !self.zones.iter().any(|z| &z.name == required) {
                checks.push(
                    format!("objects.require_zones[{index}]"),
                    format!(
                        "{required:?} is not one of this camera's zones; add it under [[cameras.zones]] or remove it"
                    ),
                );
            }
        }
        checks.into_issues()
    }
}

/// Accepts the inputs ingest can read: RTSP(S), HTTP(S) MJPEG, or a local file path.
fn check_source_url(raw: &str) -> Result<(), String> {
    if raw.trim().is_empty() {
        return Err("is empty; use an rtsp://, http:// URL or a path to a video file".into());
    }
    if raw.starts_with('/') || raw.starts_with("./") || raw.starts_with("file:") {
        return Ok(());
    }
    match url::Url::parse(raw) {
        Ok(u)
            if matches!(u.scheme(), "rtsp" | "rtsps" | "http" | "https")
                && u.host_str().is_some_and(|h| !h.is_empty()) =>
        {
            Ok(())
        }
        Ok(u) => Err(format!(
            "{:?} uses the scheme {:?}; use rtsp://, rtsps://, http://, https:// or a file path",
            redact_url(raw),
            u.scheme()
        )),
        Err(err) => {
            Err(format!("{:?} is not a URL ({err}); use e.g. \"rtsp://192.168.1.20:554/stream1\"", redact_url(raw)))
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FfmpegConfig {
    /// The ffmpeg binary: a name on PATH or an absolute path.
    pub path: String,
    /// Hardware decoding for every camera unless a camera sets its own.
    pub hwaccel: HwAccel,
    /// Seconds without a frame after which ffmpeg is considered stalled and restarted.
    pub stall_timeout_secs: u64,
    /// Longest wait between restarts of a failing camera (the wait doubles from 1 s up to this).
    pub max_retry_delay_secs: u64,
}

impl Default for FfmpegConfig {
    fn default() -> Self {
        Self { path: "ffmpeg".into(), hwaccel: HwAccel::None, stall_timeout_secs: 20, max_retry_delay_secs: 60 }
    }
}

/// Hardware-decode presets; the argument table lives in `camera::ffmpeg`.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum HwAccel {
    #[default]
    None,
    Vaapi,
    Qsv,
    Cuda,
    V4l2m2m,
}

impl HwAccel {
    pub fn name(self) -> &'static str {
        match self {
            HwAccel::None => "none",
            HwAccel::Vaapi => "vaapi",
            HwAccel::Qsv => "qsv",
            HwAccel::Cuda => "cuda",
            HwAccel::V4l2m2m => "v4l2m2m",
        }
    }
}

impl FfmpegConfig {
    /// Problems with these settings; keys are relative to the section.
    pub fn validate(&self) -> Vec<ConfigIssue> {
        let mut checks = Checks::default();
        if self.path.trim().is_empty() {
            checks.push("path", "is empty; use \"ffmpeg\" or the full path to the binary");
        }
        checks.range("stall_timeout_secs", self.stall_timeout_secs, 2..=600, " seconds");
        checks.range("max_retry_delay_secs", self.max_retry_delay_secs, 1..=3600, " seconds");
        checks.into_issues()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_stream_borrows_the_cameras_credentials_unless_it_has_its_own() {
        let mut camera = CameraConfig::new("gate", "", "rtsp://admin:pw@10.0.0.2/sub");
        assert_eq!(camera.record_url(), camera.url);
        assert!(camera.records_detect_stream());
        camera.record.url = Some("rtsp://10.0.0.2/main".into());
        assert_eq!(camera.record_url(), "rtsp://admin:pw@10.0.0.2/main");
        assert!(!camera.records_detect_stream());
        camera.record.url = Some("rtsp://rec:other@10.0.0.2/main".into());
        assert_eq!(camera.record_url(), "rtsp://rec:other@10.0.0.2/main");
        camera.record.url = Some("rtsp://10.0.0.2/sub".into());
        assert!(camera.records_detect_stream(), "the detect stream, named again, is one connection");
    }
}
