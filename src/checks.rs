//! Checking settings: every problem is a [`ConfigIssue`] that names its key and says what is
//! allowed, and [`Checks`] is the one way a settings section collects them (the range check every
//! number needs included), with [`Parsed`] for settings read from text once. Each section checks itself beside the code that owns it; the config
//! loader only puts the sections' keys under their prefixes. A leaf: it names nothing else.

use std::fmt::Display;
use std::ops::RangeInclusive;

/// One problem found in the settings: the key, and a sentence saying what is wrong and allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    pub key: String,
    pub message: String,
}

impl std::fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// The problems found in one section, with keys relative to it (`port`, `zones[1].name`).
#[derive(Debug, Default)]
pub struct Checks {
    issues: Vec<ConfigIssue>,
}

impl Checks {
    pub fn push(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.issues.push(ConfigIssue { key: key.into(), message: message.into() });
    }

    /// A number that must lie in `allowed`: "`value` is out of range; use `lo`–`hi``unit`", where
    /// `unit` follows the range as written (`" seconds"`, `" (0 = off)"`, or nothing).
    pub fn range<T: PartialOrd + Display>(&mut self, key: &str, value: T, allowed: RangeInclusive<T>, unit: &str) {
        if !allowed.contains(&value) {
            let (lo, hi) = (allowed.start(), allowed.end());
            self.push(key, format!("{value} is out of range; use {lo}–{hi}{unit}"));
        }
    }

    /// The problems of a part (a camera, a nested section), their keys put under `prefix`.
    pub fn nested(&mut self, prefix: &str, issues: Vec<ConfigIssue>) {
        for issue in issues {
            self.push(format!("{prefix}.{}", issue.key), issue.message);
        }
    }

    pub fn into_issues(self) -> Vec<ConfigIssue> {
        self.issues
    }
}

/// A setting written as text and read into `T` once, when the settings are read: the value for
/// the code that uses it, and, when the text is not one, the reason for [`Checks`] to report with
/// every other problem (a parse error would stop at the first). It is written back as its text.
#[derive(Debug, Clone)]
pub struct Parsed<T> {
    text: String,
    value: Result<T, String>,
}

impl<T: std::str::FromStr<Err = String>> Parsed<T> {
    pub fn new(text: &str) -> Self {
        Self { text: text.to_string(), value: text.parse() }
    }

    /// The value; `None` when the text is not one (the settings then do not pass their checks).
    pub fn get(&self) -> Option<&T> {
        self.value.as_ref().ok()
    }

    /// Why the text is not a value.
    pub fn problem(&self) -> Option<&str> {
        self.value.as_ref().err().map(String::as_str)
    }

    pub fn text(&self) -> &str {
        &self.text
    }
}

impl<T: std::str::FromStr<Err = String>> Default for Parsed<T> {
    fn default() -> Self {
        Self::new("")
    }
}

impl<T> PartialEq for Parsed<T> {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl<T> Display for Parsed<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl<T> serde::Serialize for Parsed<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de, T: std::str::FromStr<Err = String>> serde::Deserialize<'de> for Parsed<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Self::new(&String::deserialize(deserializer)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parsed_setting_keeps_its_text_and_its_problem() {
        let number = Parsed::<Small>::new("7");
        assert_eq!((number.get(), number.problem(), number.text()), (Some(&Small(7)), None, "7"));
        let word = Parsed::<Small>::new("seven");
        assert_eq!((word.get(), word.problem()), (None, Some("\"seven\" is not a small number")));
        assert_eq!(serde_json::to_string(&word).unwrap(), "\"seven\"");
    }

    #[derive(Debug, PartialEq)]
    struct Small(u8);

    impl std::str::FromStr for Small {
        type Err = String;
        fn from_str(text: &str) -> Result<Self, String> {
            text.parse().map(Small).map_err(|_| format!("{text:?} is not a small number"))
        }
    }

    #[test]
    fn range_names_the_key_the_value_and_what_is_allowed() {
        let mut checks = Checks::default();
        checks.range("port", 0u32, 1..=65535, "");
        checks.range("timeout_secs", 30u32, 1..=300, " seconds");
        checks.range("give_up_hours", 800u32, 1..=720, " hours");
        checks.nested("email", vec![ConfigIssue { key: "to".into(), message: "is empty".into() }]);
        let issues = checks.into_issues();
        assert_eq!(issues.len(), 3);
        assert_eq!(issues[0].to_string(), "port: 0 is out of range; use 1–65535");
        assert_eq!(issues[1].to_string(), "give_up_hours: 800 is out of range; use 1–720 hours");
        assert_eq!(issues[2].to_string(), "email.to: is empty");
    }
}
