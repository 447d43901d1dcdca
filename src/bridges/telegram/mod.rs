//! Telegram: alerts as photos with a caption and "Resolve" / "Mute 1 h" buttons in every listed
//! chat, a caption edited when the description arrives after the alert, and a bot that answers
//! commands (see [`commands`]) from listed chats only.
//!
//! Three tasks: the delivery worker sends the `telegram` rows of the alerts outbox
//! ([`super::delivery`]); the poller long-polls `getUpdates` with back-off; the bridge's own loop
//! wakes the worker on new alerts and edits captions. The Bot API is reached at `[telegram]
//! api_url` through `teloxide-core`; the bot token appears in no log or error (it is part of every
//! request's path, so reqwest's errors are stripped of their URL).

pub mod commands;
pub mod settings;

use super::delivery::{self, AlertSender, SendFailure};
use super::{Bridge, BridgeContext, BridgeHealth, HealthCell, LinkState};
use crate::alerts::AlertView;
use crate::bridges::telegram::settings::TelegramConfig;
use crate::bus::BusMessage;
use crate::config::Config;
use crate::supervise::{Backoff, CancellationToken, sleep_or_cancel};
use commands::Reply;
use futures_util::future::BoxFuture;
use std::sync::Arc;
use std::time::Duration;
use teloxide_core::RequestError;
use teloxide_core::prelude::*;
use teloxide_core::types::{
    AllowedUpdate, ChatId, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, MessageId, UpdateKind,
};
use tokio::sync::{Notify, broadcast};

/// Seconds a `getUpdates` call waits for something to happen: under teloxide-core's fixed 17 s
/// request time-out (it does not extend it for long polls).
const POLL_SECS: u32 = 10;
/// Telegram's limits on a photo caption and a message.
const CAPTION_LIMIT: usize = 1024;
const MESSAGE_LIMIT: usize = 4096;

pub struct TelegramBridge {
    config: TelegramConfig,
    context: BridgeContext,
    health: HealthCell,
    bot: Bot,
}

impl TelegramBridge {
    /// The Telegram bridge when `[telegram] bot_token` is set.
    pub fn from_config(config: &Config, context: &BridgeContext) -> Option<Arc<dyn Bridge>> {
        let config = config.telegram.clone();
        let token = config.bot_token.as_ref().filter(|_| config.enabled())?.expose().trim().to_string();
        let api_url = reqwest_url(&config.api_url)?;
        let bot = Bot::new(token).set_api_url(api_url);
        let health = HealthCell::new(BridgeHealth::new(
            crate::model::Channel::Telegram,
            config.api_url.trim_end_matches('/').to_string(),
        ));
        Some(Arc::new(Self { config, context: context.clone(), health, bot }))
    }
}

fn reqwest_url(text: &str) -> Option<url::Url> {
    url::Url::parse(text).map_err(|err| tracing::error!(error = %err, "[telegram] api_url is not a URL")).ok()
}

impl Bridge for TelegramBridge {
    fn channel(&self) -> crate::model::Channel {
        crate::model::Channel::Telegram
    }

    fn health(&self) -> BridgeHealth {
        self.health.get()
    }

    fn run(self: Arc<Self>, cancel: CancellationToken) -> BoxFuture<'static, ()> {
        let bus = self.context.bus.subscribe();
        Box::pin(async move { self.serve(bus, cancel).await })
    }

    fn send_test(&self, alert: AlertView) -> Option<BoxFuture<'static, Result<String, String>>> {
        let sender = TelegramSender { bot: self.bot.clone() };
        let chats = self.config.chat_ids.clone();
        Some(Box::pin(async move {
            if chats.is_empty() {
                return Err("No chat is listed in [telegram] chat_ids.".into());
            }
            let chats: Vec<String> = chats.iter().map(i64::to_string).collect();
            delivery::send_test_to_each(&sender, &alert, &chats, "Telegram chat(s)", |c| format!("chat {c}")).await
        }))
    }
}

impl TelegramBridge {
    async fn serve(self: Arc<Self>, mut bus: broadcast::Receiver<BusMessage>, cancel: CancellationToken) {
        let wake = Arc::new(Notify::new());
        let sender = Arc::new(TelegramSender { bot: self.bot.clone() });
        let worker = tokio::spawn(delivery::run(
            sender,
            self.context.clone(),
            self.health.clone(),
            self.config.give_up_hours,
            wake.clone(),
            cancel.clone(),
        ));
        let poller = tokio::spawn(self.clone().poll(cancel.clone()));
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                message = bus.recv() => match message {
                    Ok(BusMessage::Alert { .. } | BusMessage::Report { .. }) => wake.notify_one(),
                    Ok(BusMessage::EventUpdated(event)) if event.description.is_some() => {
                        // Apart, so slow edits do not hold up new alerts.
                        tokio::spawn(self.clone().edit_captions(event.id));
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => wake.notify_one(),
                    Err(broadcast::error::RecvError::Closed) => break,
                },
            }
        }
        let _ = tokio::join!(worker, poller);
        tracing::info!("Telegram bridge stopped");
    }

    /// Alerts already sent for event `id` get the description that has just arrived.
    async fn edit_captions(self: Arc<Self>, id: i64) {
        let Ok(deliveries) = self.context.db.deliveries_of(id).await else { return };
        let sent: Vec<_> = deliveries
            .into_iter()
            .filter(|d| d.channel == crate::model::Channel::Telegram && d.status == crate::model::DeliveryStatus::Sent)
            .collect();
        if sent.is_empty() {
            return;
        }
        let context = &self.context;
        let Ok(Some(alert)) = AlertView::load(&context.db, &context.cameras, &context.media, &context.ui_url, id).await
        else {
            return;
        };
        for delivery in sent {
            let (Ok(chat), Some(Ok(message))) =
                (delivery.recipient.parse::<i64>(), delivery.remote_ref.as_deref().map(str::parse::<i32>))
            else {
                continue;
            };
            // A photo's caption, or the text of an alert sent without a picture.
            let edited = match alert.snapshot {
                Some(_) => {
                    self.bot
                        .edit_message_caption(ChatId(chat), MessageId(message))
                        .caption(alert_text(&alert, CAPTION_LIMIT))
                        .reply_markup(buttons(&alert))
                        .await
                }
                None => {
                    self.bot
                        .edit_message_text(ChatId(chat), MessageId(message), alert_text(&alert, MESSAGE_LIMIT))
                        .reply_markup(buttons(&alert))
                        .await
                }
            };
            match edited {
                Ok(_) => tracing::debug!(event = id, chat, "Telegram caption updated with the description"),
                Err(err) => {
                    tracing::warn!(event = id, chat, error = %clean(&err), "cannot update the Telegram caption")
                }
            }
        }
    }

    /// Long-polls for commands and button presses until `cancel`.
    async fn poll(self: Arc<Self>, cancel: CancellationToken) {
        let mut offset = 0i32;
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        loop {
            let request = self
                .bot
                .get_updates()
                .offset(offset)
                .timeout(POLL_SECS)
                .allowed_updates([AllowedUpdate::Message, AllowedUpdate::CallbackQuery]);
            let polled = tokio::select! {
                _ = cancel.cancelled() => break,
                polled = request.send() => polled,
            };
            match polled {
                Ok(updates) => {
                    backoff.reset();
                    if self.health.get().state != LinkState::Connected {
                        tracing::info!(api = %self.health.get().target, "connected to the Telegram Bot API");
                        self.health.set_state(LinkState::Connected, None);
                    }
                    for update in updates {
                        offset = offset.max(update.id.0 as i32 + 1);
                        self.on_update(update.kind).await;
                    }
                }
                Err(err) => {
                    let reason = clean(&err);
                    let delay = match &err {
                        RequestError::RetryAfter(after) => after.duration(),
                        _ => backoff.next_delay(),
                    };
                    tracing::warn!(reason = %reason, retry_in_s = delay.as_secs(), "Telegram getUpdates failed");
                    self.health.update(|h| {
                        h.retry_at_ms = Some(chrono::Utc::now().timestamp_millis() + delay.as_millis() as i64)
                    });
                    self.health.set_state(LinkState::Disconnected, Some(reason));
                    if !sleep_or_cancel(delay, &cancel).await {
                        break;
                    }
                }
            }
        }
    }

    fn listed(&self, chat: i64) -> bool {
        self.config.chat_ids.contains(&chat)
    }

    async fn on_update(&self, kind: UpdateKind) {
        match kind {
            UpdateKind::Message(message) => {
                let Some(text) = message.text() else { return };
                let chat = message.chat.id;
                if !self.listed(chat.0) {
                    tracing::warn!(
                        chat = chat.0,
                        "Telegram message from a chat that is not in [telegram] chat_ids refused"
                    );
                    let refusal = format!(
                        "This Watchpost bot serves only its owner's chats. This chat's id is {}; the owner can add it to [telegram] chat_ids.",
                        chat.0
                    );
                    self.reply(chat, Reply::Text(refusal)).await;
                    return;
                }
                tracing::info!(chat = chat.0, command = %text.split_whitespace().next().unwrap_or(""), "Telegram command");
                let reply = commands::answer(&self.context, text).await;
                self.reply(chat, reply).await;
            }
            UpdateKind::CallbackQuery(query) => {
                let chat = query.message.as_ref().map(|m| m.chat().id.0);
                let answer = match (chat, query.data.as_deref()) {
                    (Some(chat), Some(data)) if self.listed(chat) => commands::press(&self.context, data).await,
                    _ => {
                        tracing::warn!(
                            user = query.from.id.0,
                            "Telegram button press from a chat that is not listed refused"
                        );
                        "Not allowed.".to_string()
                    }
                };
                if let Err(err) = self.bot.answer_callback_query(query.id).text(answer).await {
                    tracing::warn!(error = %clean(&err), "cannot answer a Telegram button press");
                }
            }
            _ => {}
        }
    }

    async fn reply(&self, chat: ChatId, reply: Reply) {
        let sent = match reply {
            Reply::Text(text) => self.bot.send_message(chat, cut(&text, MESSAGE_LIMIT)).await,
            Reply::Photo { jpeg, caption } => {
                self.bot
                    .send_photo(chat, InputFile::memory(jpeg).file_name("snapshot.jpg"))
                    .caption(cut(&caption, CAPTION_LIMIT))
                    .await
            }
        };
        if let Err(err) = sent {
            tracing::warn!(chat = chat.0, error = %clean(&err), "cannot answer in Telegram");
        }
    }
}

/// Sends one alert to one chat.
struct TelegramSender {
    bot: Bot,
}

impl AlertSender for TelegramSender {
    fn channel(&self) -> crate::model::Channel {
        crate::model::Channel::Telegram
    }

    fn send<'a>(
        &'a self,
        alert: &'a AlertView,
        recipient: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, SendFailure>> {
        Box::pin(async move {
            let chat = recipient.parse::<i64>().map(ChatId).map_err(|_| SendFailure {
                reason: format!("{recipient:?} is not a chat id"),
                retry_after: None,
                permanent: true,
            })?;
            let sent = match &alert.snapshot {
                Some(jpeg) => {
                    self.bot
                        .send_photo(
                            chat,
                            InputFile::memory(jpeg.clone()).file_name(format!("event-{}.jpg", alert.event.id)),
                        )
                        .caption(alert_text(alert, CAPTION_LIMIT))
                        .reply_markup(buttons(alert))
                        .await
                }
                None => {
                    self.bot.send_message(chat, alert_text(alert, MESSAGE_LIMIT)).reply_markup(buttons(alert)).await
                }
            };
            sent.map(|message| Some(message.id.0.to_string())).map_err(|err| failure(&err))
        })
    }
    fn send_report<'a>(
        &'a self,
        report: &'a delivery::ReportFile,
        recipient: &'a str,
    ) -> BoxFuture<'a, Result<(), SendFailure>> {
        Box::pin(async move {
            let chat = recipient.parse::<i64>().map(ChatId).map_err(|_| SendFailure {
                reason: format!("{recipient:?} is not a chat id"),
                retry_after: None,
                permanent: true,
            })?;
            let caption: String = format!("{}\n{}", report.title, report.text).chars().take(CAPTION_LIMIT).collect();
            self.bot
                .send_document(chat, InputFile::memory(report.pdf.clone()).file_name(report.file_name.clone()))
                .caption(caption)
                .await
                .map(|_| ())
                .map_err(|err| failure(&err))
        })
    }
}

/// "Resolve" and "Mute 1 h" under an alert. Both carry the event's number: the Bot API refuses a
/// message whose `callback_data` is over 64 bytes, which `mute:` and a 64-character camera id
/// would be.
fn buttons(alert: &AlertView) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new([[
        InlineKeyboardButton::callback("Resolve", format!("resolve:{}", alert.event.id)),
        InlineKeyboardButton::callback("Mute 1 h", format!("mute-event:{}", alert.event.id)),
    ]])
}

/// What a failed request means for the delivery.
fn failure(err: &RequestError) -> SendFailure {
    use teloxide_core::ApiError;
    let permanent = matches!(
        err,
        RequestError::Api(
            ApiError::BotBlocked | ApiError::ChatNotFound | ApiError::BotKicked | ApiError::UserDeactivated
        )
    );
    let retry_after = match err {
        RequestError::RetryAfter(after) => Some(after.duration()),
        _ => None,
    };
    SendFailure { reason: clean(err), retry_after, permanent }
}

/// The error in words, without the request URL (it holds the bot token).
fn clean(err: &RequestError) -> String {
    match err {
        RequestError::Network(inner) => {
            let kind = if inner.is_timeout() {
                "timed out"
            } else if inner.is_connect() {
                "cannot connect"
            } else {
                "the connection failed"
            };
            format!("Bot API unreachable: {kind}")
        }
        RequestError::InvalidJson { .. } => {
            "the Bot API answered something that is not its JSON (a proxy or an outage?)".into()
        }
        RequestError::RetryAfter(after) => format!("Telegram asks to wait {} s (429)", after.seconds()),
        RequestError::Api(api) => format!("Telegram refused: {api}"),
        other => other.to_string(),
    }
}

/// An alert's text within a Bot API length limit.
fn alert_text(alert: &AlertView, limit: usize) -> String {
    cut(&alert.text(limit), limit)
}

/// `text` within `limit` as Telegram counts (UTF-16 code units: an emoji is two), cut with `…`.
fn cut(text: &str, limit: usize) -> String {
    if text.encode_utf16().count() <= limit {
        return text.to_string();
    }
    let mut kept = String::new();
    let mut units = 1; // the ellipsis
    for c in text.chars() {
        units += c.len_utf16();
        if units > limit {
            break;
        }
        kept.push(c);
    }
    kept + "…"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_cut_as_telegram_counts_them() {
        assert_eq!(cut("short", 10), "short");
        let emoji = "🔴".repeat(600); // 600 characters, 1200 UTF-16 units
        let caption = cut(&emoji, CAPTION_LIMIT);
        assert_eq!(caption.encode_utf16().count(), 1023, "511 emoji and the ellipsis");
        assert!(caption.ends_with('…'));
    }
}
