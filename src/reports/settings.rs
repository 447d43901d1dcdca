//! `[[reports]]`: which PDF reports are made, when, for which cameras, and where they are sent.

use crate::camera::settings::{ClockTime, TimeZone, Weekday};
use crate::checks::{Checks, ConfigIssue, Parsed};
use crate::model::Channel;
use serde::{Deserialize, Serialize};

/// How long a report looks back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    /// The day before the one it is sent on.
    #[default]
    Daily,
    /// The seven days before the day it is sent on.
    Weekly,
}

impl Period {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Daily => "daily",
            Self::Weekly => "weekly",
        }
    }

    pub fn days(self) -> u32 {
        match self {
            Self::Daily => 1,
            Self::Weekly => 7,
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Daily, Self::Weekly].into_iter().find(|p| p.as_str() == text)
    }
}

/// One scheduled report.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ReportConfig {
    /// Names the report in the list, its file and its messages; unique.
    pub name: String,
    pub period: Period,
    /// When it is made and sent, `"HH:MM"` on the report's clock.
    pub at: Parsed<ClockTime>,
    /// The day a weekly report is made (`mon` … `sun`); daily reports ignore it.
    pub weekday: Parsed<Weekday>,
    /// The IANA time zone its days are counted in; empty = the server's.
    pub timezone: Parsed<TimeZone>,
    /// The camera ids it covers; empty = every camera.
    pub cameras: Vec<String>,
    /// Where it is sent: `email` (as an attachment) and `telegram` (as a document).
    pub send_to: Vec<Channel>,
    /// How many events it shows with their snapshots and descriptions.
    pub top_events: u32,
}

impl Default for ReportConfig {
    fn default() -> Self {
        Self {
            name: String::new(),
            period: Period::Daily,
            at: Parsed::new("07:00"),
            weekday: Parsed::new("mon"),
            timezone: Parsed::default(),
            cameras: Vec::new(),
            send_to: Vec::new(),
            top_events: 6,
        }
    }
}

impl ReportConfig {
    /// The zone its days are counted in (the server's when none is set).
    pub fn zone(&self) -> TimeZone {
        self.timezone.get().copied().unwrap_or_default()
    }

    pub fn validate(&self) -> Vec<ConfigIssue> {
        let mut checks = Checks::default();
        let name_ok = !self.name.trim().is_empty()
            && self.name.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '_' || c == ' ');
        if !name_ok {
            checks.push(
                "name",
                format!("{:?} cannot name a report; use letters, digits, spaces, - and _, e.g. \"daily\"", self.name),
            );
        }
        for (key, problem) in
            [("at", self.at.problem()), ("weekday", self.weekday.problem()), ("timezone", self.timezone.problem())]
        {
            if let Some(problem) = problem {
                checks.push(key, problem.to_string());
            }
        }
        for (index, channel) in self.send_to.iter().enumerate() {
            if !matches!(channel, Channel::Email | Channel::Telegram) {
                checks.push(
                    format!("send_to[{index}]"),
                    format!("reports cannot be sent by {}; use \"email\" or \"telegram\"", channel.as_str()),
                );
            }
        }
        checks.range("top_events", self.top_events, 0..=20, "");
        checks.into_issues()
    }
}

/// Checks every `[[reports]]` entry and that their names differ.
pub fn validate_all(reports: &[ReportConfig]) -> Vec<ConfigIssue> {
    let mut checks = Checks::default();
    for (index, report) in reports.iter().enumerate() {
        checks.nested(&format!("reports[{index}]"), report.validate());
        if reports[..index].iter().any(|other| other.name.trim() == report.name.trim()) {
            checks.push(
                format!("reports[{index}].name"),
                format!("{:?} names another report too; give each its own name", report.name),
            );
        }
    }
    checks.into_issues()
}
