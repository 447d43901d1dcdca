//! The `[email]` section: the SMTP server, who gets alerts, and how long an alert may wait.

use crate::checks::{Checks, ConfigIssue};
use crate::secret::Secret;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// E-mail alerts over SMTP.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EmailConfig {
    /// The mail server; empty = e-mail off.
    pub smtp_host: String,
    pub smtp_port: u16,
    /// Upgrade the connection with STARTTLS (port 587). With `false` the port must speak TLS from
    /// the start (465) unless `tls = false` too.
    pub starttls: bool,
    /// Use TLS at all; `false` only for a relay on this machine or the LAN.
    pub tls: bool,
    /// Check the server's certificate against this CA (PEM) instead of Mozilla's roots: a mail
    /// server with a certificate of its own CA.
    pub ca_file: Option<PathBuf>,
    pub username: String,
    pub password: Option<Secret>,
    /// The sender (`Watchpost <cameras@example.com>`).
    pub from: String,
    /// The recipients.
    pub to: Vec<String>,
    /// An alert not delivered within this many hours is given up (and shown as failed).
    pub give_up_hours: u32,
    /// Seconds to wait for the server.
    pub timeout_secs: u32,
}

impl Default for EmailConfig {
    fn default() -> Self {
        Self {
            smtp_host: String::new(),
            smtp_port: 587,
            starttls: true,
            tls: true,
            ca_file: None,
            username: String::new(),
            password: None,
            from: String::new(),
            to: Vec::new(),
            give_up_hours: 24,
            timeout_secs: 30,
        }
    }
}

impl EmailConfig {
    pub fn enabled(&self) -> bool {
        !self.smtp_host.trim().is_empty()
    }

    pub fn validate(&self) -> Vec<ConfigIssue> {
        let mut checks = Checks::default();
        if !self.enabled() {
            return checks.into_issues();
        }
        if self.smtp_port == 0 {
            checks.push("smtp_port", "0 is not a port; use 587 (STARTTLS), 465 (TLS) or 25");
        }
        let mailbox = |text: &str| {
            let address = text.rsplit_once('<').map_or(text, |(_, rest)| rest.trim_end_matches('>'));
            address.split_once('@').is_some_and(|(user, host)| !user.trim().is_empty() && host.contains('.'))
        };
        if !mailbox(&self.from) {
            checks.push(
                "from",
                format!("{:?} is not an address; use e.g. \"Watchpost <cameras@example.com>\"", self.from),
            );
        }
        if self.to.is_empty() {
            checks.push("to", "is empty; list who gets alerts, e.g. [\"me@example.com\"]");
        }
        for (index, to) in self.to.iter().enumerate() {
            if !mailbox(to) {
                checks.push(format!("to[{index}]"), format!("{to:?} is not an e-mail address"));
            }
        }
        if !self.tls && self.starttls {
            checks.push("starttls", "needs tls = true; set tls = true, or starttls = false for a plain relay");
        }
        if self.ca_file.is_some() && !self.tls {
            checks.push("ca_file", "is set but tls is false; set tls = true or remove ca_file");
        }
        checks.range("give_up_hours", self.give_up_hours, 1..=720, "");
        checks.range("timeout_secs", self.timeout_secs, 1..=300, "");
        checks.into_issues()
    }
}
