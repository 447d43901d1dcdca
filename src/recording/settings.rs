//! A camera's recording settings (`[cameras.record]`): what is kept, from which stream, and for how
//! long. A leaf, so the camera's settings can hold it without the camera naming the recorder.

use crate::checks::{Checks, ConfigIssue};
use serde::{Deserialize, Serialize};

/// What a camera keeps on disk.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RecordMode {
    /// Nothing but the events' snapshots.
    #[default]
    Off,
    /// Clips around events: `pre_roll_secs` before each to `post_roll_secs` after it.
    Events,
    /// Everything; footage with an event in it is kept for `event_days`, the rest `continuous_days`.
    Continuous,
}

impl RecordMode {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordMode::Off => "off",
            RecordMode::Events => "events",
            RecordMode::Continuous => "continuous",
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RecordConfig {
    pub mode: RecordMode,
    /// The stream to record, usually the camera's main (full-resolution) stream; empty = the
    /// camera's `url`. Without a user name and password of its own it uses the camera's.
    pub url: Option<String>,
    /// Seconds kept before an event starts.
    pub pre_roll_secs: u32,
    /// Seconds kept after an event ends.
    pub post_roll_secs: u32,
    /// Days footage without an event is kept (continuous mode).
    pub continuous_days: u32,
    /// Days events are kept, with their snapshots and clips.
    pub event_days: u32,
    /// Length of each file on disk; a file starts at a key frame, so it may run a little longer.
    pub segment_secs: u32,
}

impl Default for RecordConfig {
    fn default() -> Self {
        Self {
            mode: RecordMode::Off,
            url: None,
            pre_roll_secs: 5,
            post_roll_secs: 5,
            continuous_days: 7,
            event_days: 30,
            segment_secs: 10,
        }
    }
}

impl RecordConfig {
    pub fn enabled(&self) -> bool {
        self.mode != RecordMode::Off
    }

    /// The record stream's own URL, when it has one.
    pub fn own_url(&self) -> Option<&str> {
        self.url.as_deref().filter(|url| !url.trim().is_empty())
    }

    /// Checks the numbers; keys are relative to the section (`pre_roll_secs`). The URL is the
    /// camera's to check, with its own.
    pub fn validate(&self) -> Vec<ConfigIssue> {
        let mut checks = Checks::default();
        checks.range("pre_roll_secs", self.pre_roll_secs, 0..=300, " seconds");
        checks.range("post_roll_secs", self.post_roll_secs, 0..=300, " seconds");
        checks.range("continuous_days", self.continuous_days, 1..=3650, " days");
        checks.range("event_days", self.event_days, 1..=3650, " days");
        checks.range("segment_secs", self.segment_secs, 2..=60, " seconds (10 is usual)");
        checks.into_issues()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_record_nothing_and_numbers_out_of_range_name_their_key() {
        let config = RecordConfig::default();
        assert!(!config.enabled() && config.validate().is_empty());
        assert_eq!(config.own_url(), None);
        let bad = RecordConfig { segment_secs: 1, event_days: 0, url: Some("rtsp://cam/main".into()), ..config };
        let keys: Vec<String> = bad.validate().into_iter().map(|i| i.key).collect();
        assert_eq!(keys, ["event_days", "segment_secs"]);
        assert_eq!(bad.own_url(), Some("rtsp://cam/main"));
    }
}
