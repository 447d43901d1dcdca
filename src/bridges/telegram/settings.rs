//! The `[telegram]` section: the bot, its chats, and how long an alert may wait for them.

use crate::checks::{Checks, ConfigIssue};
use crate::secret::Secret;
use serde::{Deserialize, Serialize};

/// A Telegram bot that sends alerts to listed chats and answers their commands.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TelegramConfig {
    /// The token @BotFather gave (`123456:ABC…`); empty = Telegram off.
    pub bot_token: Option<Secret>,
    /// Chats that get alerts and may command the bot (a person's id, or a group's negative id).
    pub chat_ids: Vec<i64>,
    /// The Bot API server: Telegram's, or a self-hosted `telegram-bot-api`.
    pub api_url: String,
    /// An alert not delivered within this many hours is given up (and shown as failed).
    pub give_up_hours: u32,
}

impl Default for TelegramConfig {
    fn default() -> Self {
        Self { bot_token: None, chat_ids: Vec::new(), api_url: "https://api.telegram.org".into(), give_up_hours: 24 }
    }
}

impl TelegramConfig {
    pub fn enabled(&self) -> bool {
        self.bot_token.as_ref().is_some_and(|t| !t.expose().trim().is_empty())
    }

    pub fn validate(&self) -> Vec<ConfigIssue> {
        let mut checks = Checks::default();
        if let Some(token) = self.bot_token.as_ref().filter(|_| self.enabled()) {
            let token = token.expose().trim();
            let well_formed = token.split_once(':').is_some_and(|(id, rest)| {
                !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) && !rest.is_empty() && !rest.contains(' ')
            });
            if !well_formed {
                checks.push("bot_token", "is not a bot token; @BotFather's look like \"123456789:AAE…\"");
            }
            if self.chat_ids.is_empty() {
                checks.push(
                    "chat_ids",
                    "is empty, so no one gets alerts; add your chat's id (send /start to the bot: it answers with the id)",
                );
            }
        }
        if !self.api_url.starts_with("http://") && !self.api_url.starts_with("https://")
            || url::Url::parse(&self.api_url).is_err()
        {
            checks.push(
                "api_url",
                format!("{:?} is not an http(s) URL; the default is \"https://api.telegram.org\"", self.api_url),
            );
        }
        checks.range("give_up_hours", self.give_up_hours, 1..=720, "");
        checks.into_issues()
    }
}
