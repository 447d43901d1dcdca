//! Sending alerts from the `alert_deliveries` outbox, for channels that talk to a person (Telegram,
//! e-mail): each due row is sent once; a failure is tried again with back-off (or after the
//! `retry_after` a 429 names, for the whole channel); a row older than the channel's
//! `give_up_hours` is marked failed with its last error, which the event's page and the
//! Integrations page show. A row leaves `pending` only by being sent or given up, so an alert
//! reaches each recipient once. A try whose outcome the database refuses (its disk full) is kept in
//! memory and written again before anything else, and its row is not tried meanwhile: the soak
//! (docs/reliability.md) found each alert sent while the disk was full sent again four times a
//! second until it was not.

use super::{BridgeContext, HealthCell, LinkState};
use crate::alerts::AlertView;
use crate::bus::BusMessage;
use crate::model::{Channel, DeliveryStatus};
use crate::supervise::CancellationToken;
use futures_util::future::BoxFuture;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, broadcast};

/// Rows read at a time.
const BATCH: u64 = 32;
/// The first retry's delay; each further one doubles it, up to [`MAX_RETRY`].
const FIRST_RETRY: Duration = Duration::from_secs(2);
const MAX_RETRY: Duration = Duration::from_secs(600);
/// How often the worker looks at the table even when nothing woke it.
const IDLE_LOOK: Duration = Duration::from_secs(30);
/// The least pause between two looks that found nothing more to send.
const MIN_LOOK: Duration = Duration::from_millis(250);

/// Why a send failed, and whether trying again may help.
#[derive(Debug, Clone)]
pub struct SendFailure {
    /// In words a user can act on; never with a secret in it.
    pub reason: String,
    /// What the far side asked to wait (a 429's `retry_after`).
    pub retry_after: Option<Duration>,
    /// Trying again cannot help (the recipient does not exist): given up at once.
    pub permanent: bool,
}

impl SendFailure {
    pub fn retry(reason: impl Into<String>) -> Self {
        Self { reason: reason.into(), retry_after: None, permanent: false }
    }
}

/// A report to send: the PDF and a line saying what it is.
#[derive(Debug, Clone)]
pub struct ReportFile {
    /// "Watchpost daily report, Monday 30 November 2026".
    pub title: String,
    /// One or two sentences for the message's text.
    pub text: String,
    pub file_name: String,
    pub pdf: Vec<u8>,
}

/// A channel that sends one alert to one recipient.
pub trait AlertSender: Send + Sync + 'static {
    /// The channel whose `alert_deliveries` it sends.
    fn channel(&self) -> Channel;
    /// Sends `alert` to `recipient`; what the far side calls the message, if anything.
    fn send<'a>(
        &'a self,
        alert: &'a AlertView,
        recipient: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, SendFailure>>;
    /// Sends a report to `recipient` (a channel that cannot carry files refuses for good).
    fn send_report<'a>(
        &'a self,
        _report: &'a ReportFile,
        _recipient: &'a str,
    ) -> BoxFuture<'a, Result<(), SendFailure>> {
        let channel = self.channel();
        Box::pin(async move {
            Err(SendFailure { reason: format!("{channel} cannot carry reports"), retry_after: None, permanent: true })
        })
    }
}

/// Runs a channel that only sends alerts: its delivery worker, woken whenever the bus says an
/// alert was made (or the bus ran ahead of it), until `cancel`.
pub async fn serve(
    sender: Arc<dyn AlertSender>,
    context: BridgeContext,
    health: HealthCell,
    give_up_hours: u32,
    mut bus: broadcast::Receiver<BusMessage>,
    cancel: CancellationToken,
) {
    let wake = Arc::new(Notify::new());
    let worker = tokio::spawn(run(sender, context, health, give_up_hours, wake.clone(), cancel.clone()));
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            message = bus.recv() => match message {
                Ok(BusMessage::Alert { .. } | BusMessage::Report { .. })
                | Err(broadcast::error::RecvError::Lagged(_)) => wake.notify_one(),
                Ok(_) => {}
                Err(broadcast::error::RecvError::Closed) => break,
            },
        }
    }
    let _ = worker.await;
}

/// Runs a channel with nothing to connect to ahead of time (each alert is one HTTP request to its
/// recipient): shown as connected until a send fails, its delivery worker until `cancel`. A sender
/// that cannot be made is shown, and the channel idles until `cancel`.
pub async fn serve_per_request(
    sender: Result<Arc<dyn AlertSender>, String>,
    context: BridgeContext,
    health: HealthCell,
    give_up_hours: u32,
    bus: broadcast::Receiver<BusMessage>,
    cancel: CancellationToken,
) {
    match sender {
        Ok(sender) => {
            let channel = sender.channel();
            health.set_state(LinkState::Connected, None);
            serve(sender, context, health, give_up_hours, bus, cancel).await;
            tracing::info!(bridge = %channel, "bridge stopped");
        }
        Err(reason) => health.fail_until_cancelled(reason, &cancel).await,
    }
}

/// "Send test alert": `alert` to each of `recipients` (shown to people as `shown(recipient)`), and
/// what happened in words (`what` names the recipients: "Telegram chat(s)").
pub async fn send_test_to_each(
    sender: &dyn AlertSender,
    alert: &AlertView,
    recipients: &[String],
    what: &str,
    shown: impl Fn(&str) -> String,
) -> Result<String, String> {
    let mut failed = Vec::new();
    for recipient in recipients {
        if let Err(failure) = sender.send(alert, recipient).await {
            failed.push(format!("{}: {}", shown(recipient), failure.reason));
        }
    }
    if failed.is_empty() {
        Ok(format!("Test alert sent to {} {what}.", recipients.len()))
    } else {
        Err(format!("Test alert not sent to {}", failed.join("; ")))
    }
}

/// The delay before try number `attempts + 1`.
pub fn retry_delay(attempts: i32) -> Duration {
    let doublings = attempts.clamp(0, 16) as u32;
    FIRST_RETRY.saturating_mul(1 << doublings).min(MAX_RETRY)
}

/// Sends `sender`'s channel's deliveries until `cancel`; `wake` says a new alert is waiting.
pub async fn run(
    sender: Arc<dyn AlertSender>,
    context: BridgeContext,
    health: HealthCell,
    give_up_hours: u32,
    wake: Arc<Notify>,
    cancel: CancellationToken,
) {
    let channel = sender.channel();
    let give_up_ms = i64::from(give_up_hours) * 3_600_000;
    let mut paused_until_ms = 0;
    let mut unrecorded = Unrecorded::default();
    loop {
        let now_ms = context.clock.now_ms();
        let mut full_batch = false;
        unrecorded.write_again(&context.db).await;
        if now_ms >= paused_until_ms {
            match context.db.due_deliveries(channel, now_ms, BATCH).await {
                Ok(rows) => {
                    full_batch = rows.len() as u64 == BATCH;
                    for row in rows {
                        if cancel.is_cancelled() {
                            break;
                        }
                        if unrecorded.alerts.contains_key(&row.id) {
                            // Tried already; the database has not taken its outcome yet.
                            full_batch = false;
                            continue;
                        }
                        let (outcome, pause) = deliver(&*sender, &context, &health, &row, give_up_ms).await;
                        if let Some(outcome) = outcome {
                            unrecorded.record_alert(&context.db, row.id, outcome).await;
                        }
                        if let Some(pause) = pause {
                            paused_until_ms = context.clock.now_ms() + pause.as_millis() as i64;
                            break;
                        }
                    }
                }
                Err(err) => tracing::warn!(error = %err, "cannot read the alerts waiting to be sent"),
            }
            if now_ms >= paused_until_ms
                && let Some(pause) = deliver_reports(&*sender, &context, give_up_ms, &mut unrecorded).await
            {
                paused_until_ms = context.clock.now_ms() + pause.as_millis() as i64;
            }
            if let Ok(pending) = context.db.count_deliveries(channel, DeliveryStatus::Pending).await {
                health.update(|h| h.pending = pending);
            }
        }
        let now_ms = context.clock.now_ms();
        let alerts_next = context.db.next_delivery_ms(channel).await.ok().flatten();
        let reports_next = context.db.next_report_delivery_ms(channel).await.ok().flatten();
        let next_ms = match alerts_next.into_iter().chain(reports_next).min() {
            Some(next) => next.max(paused_until_ms),
            None => now_ms + IDLE_LOOK.as_millis() as i64,
        };
        let wait = Duration::from_millis((next_ms - now_ms).clamp(0, IDLE_LOOK.as_millis() as i64) as u64);
        if full_batch && now_ms >= paused_until_ms {
            // More rows wait behind a full batch.
            if cancel.is_cancelled() {
                break;
            }
            continue;
        }
        // Never spin: a row that stays due (its update failed) is looked at again after a pause.
        let wait = wait.max(MIN_LOOK);
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// What a try of an alert delivery decided, to be written to its row.
enum AlertOutcome {
    Sent { at_ms: i64, remote_ref: Option<String> },
    Retry { next_ms: i64, reason: String },
    Failed { reason: String },
}

/// What a try of a report delivery decided, to be written to its row.
struct ReportOutcome {
    status: DeliveryStatus,
    at_ms: i64,
    next_ms: i64,
    error: Option<String>,
}

/// Outcomes the database refused, by delivery row id: written again before every look, and their
/// rows not tried until then (sent already, or waiting for a back-off only this map knows).
#[derive(Default)]
struct Unrecorded {
    alerts: HashMap<i64, AlertOutcome>,
    reports: HashMap<i64, ReportOutcome>,
}

impl Unrecorded {
    async fn record_alert(&mut self, db: &crate::db::Db, id: i64, outcome: AlertOutcome) {
        if let Err(err) = write_alert_outcome(db, id, &outcome).await {
            tracing::warn!(error = %err, "cannot record an alert's delivery; kept until the database takes it");
            self.alerts.insert(id, outcome);
        }
    }

    async fn record_report(&mut self, db: &crate::db::Db, id: i64, outcome: ReportOutcome) {
        if let Err(err) = write_report_outcome(db, id, &outcome).await {
            tracing::warn!(error = %err, "cannot record a report's delivery; kept until the database takes it");
            self.reports.insert(id, outcome);
        }
    }

    /// Writes what is kept; what the database still refuses stays.
    async fn write_again(&mut self, db: &crate::db::Db) {
        let mut written = Vec::new();
        for (id, outcome) in &self.alerts {
            if write_alert_outcome(db, *id, outcome).await.is_ok() {
                written.push(*id);
            }
        }
        for id in written.drain(..) {
            self.alerts.remove(&id);
        }
        for (id, outcome) in &self.reports {
            if write_report_outcome(db, *id, outcome).await.is_ok() {
                written.push(*id);
            }
        }
        for id in written {
            self.reports.remove(&id);
        }
    }
}

async fn write_alert_outcome(db: &crate::db::Db, id: i64, outcome: &AlertOutcome) -> crate::error::Result<()> {
    match outcome {
        AlertOutcome::Sent { at_ms, remote_ref } => db.delivery_sent(id, *at_ms, remote_ref.clone()).await,
        AlertOutcome::Retry { next_ms, reason } => db.delivery_retry(id, *next_ms, reason).await,
        AlertOutcome::Failed { reason } => db.delivery_failed(id, reason).await,
    }
}

async fn write_report_outcome(db: &crate::db::Db, id: i64, outcome: &ReportOutcome) -> crate::error::Result<()> {
    let ReportOutcome { status, at_ms, next_ms, error } = outcome;
    db.report_delivery_tried(id, *status, *at_ms, *next_ms, error.as_deref()).await
}

/// Sends one row, or gives it up: what to record for it (nothing when its event could not be
/// read), and how long the whole channel must wait (a 429).
async fn deliver(
    sender: &dyn AlertSender,
    context: &BridgeContext,
    health: &HealthCell,
    row: &crate::db::entities::alert_delivery::Model,
    give_up_ms: i64,
) -> (Option<AlertOutcome>, Option<Duration>) {
    let db = &context.db;
    let now_ms = context.clock.now_ms();
    if now_ms - row.created_ms > give_up_ms {
        let last = row.last_error.as_deref().unwrap_or("no try got through");
        let reason = format!("gave up after {} h: {last}", give_up_ms / 3_600_000);
        tracing::warn!(event = row.event_id, channel = %row.channel, "alert not delivered: {reason}");
        health.update(|h| {
            h.dropped += 1;
            h.last_drop_ms = Some(now_ms);
        });
        return (Some(AlertOutcome::Failed { reason }), None);
    }
    let alert = match AlertView::load(db, &context.cameras, &context.media, &context.ui_url, row.event_id).await {
        Ok(Some(alert)) => alert,
        Ok(None) => {
            let reason = "the event was deleted before it was sent".to_string();
            return (Some(AlertOutcome::Failed { reason }), None);
        }
        Err(err) => {
            tracing::warn!(error = %err, "cannot read an alert's event; trying again later");
            return (None, Some(FIRST_RETRY));
        }
    };
    match sender.send(&alert, &row.recipient).await {
        Ok(remote_ref) => {
            tracing::info!(event = row.event_id, channel = %row.channel, attempts = row.attempts + 1, "alert delivered");
            health.update(|h| h.delivered += 1);
            health.set_state(LinkState::Connected, None);
            (Some(AlertOutcome::Sent { at_ms: context.clock.now_ms(), remote_ref }), None)
        }
        Err(failure) if failure.permanent => {
            tracing::warn!(event = row.event_id, channel = %row.channel, reason = %failure.reason, "alert cannot be delivered");
            health.update(|h| h.last_error = Some(failure.reason.clone()));
            (Some(AlertOutcome::Failed { reason: failure.reason }), None)
        }
        Err(failure) => {
            let delay = failure.retry_after.unwrap_or_default().max(retry_delay(row.attempts));
            let next_ms = context.clock.now_ms() + delay.as_millis() as i64;
            tracing::warn!(
                event = row.event_id,
                channel = %row.channel,
                reason = %failure.reason,
                retry_in_s = delay.as_secs_f32(),
                "alert not delivered yet"
            );
            health.update(|h| h.retry_at_ms = Some(next_ms));
            health.set_state(LinkState::Disconnected, Some(failure.reason.clone()));
            (Some(AlertOutcome::Retry { next_ms, reason: failure.reason }), failure.retry_after)
        }
    }
}

/// Sends `sender`'s channel's due report deliveries; returns how long the whole channel must wait
/// (a 429).
async fn deliver_reports(
    sender: &dyn AlertSender,
    context: &BridgeContext,
    give_up_ms: i64,
    unrecorded: &mut Unrecorded,
) -> Option<Duration> {
    let db = &context.db;
    let channel = sender.channel();
    let rows = match db.due_report_deliveries(channel, context.clock.now_ms(), BATCH).await {
        Ok(rows) => rows,
        Err(err) => {
            tracing::warn!(error = %err, "cannot read the reports waiting to be sent");
            return None;
        }
    };
    for row in rows {
        if unrecorded.reports.contains_key(&row.id) {
            continue;
        }
        let now_ms = context.clock.now_ms();
        let mut tried = async |status, next_ms, error: Option<String>| {
            unrecorded.record_report(db, row.id, ReportOutcome { status, at_ms: now_ms, next_ms, error }).await
        };
        if now_ms - row.created_ms > give_up_ms {
            let last = row.last_error.clone().unwrap_or_else(|| "no try got through".into());
            tracing::warn!(report = row.report_id, %channel, "report not delivered: {last}");
            tried(DeliveryStatus::Failed, now_ms, Some(format!("gave up after {} h: {last}", give_up_ms / 3_600_000)))
                .await;
            continue;
        }
        let file = match report_file(context, row.report_id).await {
            Ok(file) => file,
            Err(reason) => {
                tried(DeliveryStatus::Failed, now_ms, Some(reason)).await;
                continue;
            }
        };
        match sender.send_report(&file, &row.recipient).await {
            Ok(()) => {
                tracing::info!(report = row.report_id, %channel, "report delivered");
                tried(DeliveryStatus::Sent, now_ms, None).await;
            }
            Err(failure) if failure.permanent => {
                tracing::warn!(report = row.report_id, %channel, reason = %failure.reason, "report cannot be delivered");
                tried(DeliveryStatus::Failed, now_ms, Some(failure.reason)).await;
            }
            Err(failure) => {
                let delay = failure.retry_after.unwrap_or_default().max(retry_delay(row.attempts));
                tracing::warn!(report = row.report_id, %channel, reason = %failure.reason, retry_in_s = delay.as_secs_f32(), "report not delivered yet");
                tried(DeliveryStatus::Pending, now_ms + delay.as_millis() as i64, Some(failure.reason.clone())).await;
                if failure.retry_after.is_some() {
                    return failure.retry_after;
                }
            }
        }
    }
    None
}

/// Report `id` as a channel sends it, or why it cannot be sent.
async fn report_file(context: &BridgeContext, id: i64) -> Result<ReportFile, String> {
    let report = match context.db.get_report(id).await {
        Ok(Some(report)) => report,
        Ok(None) => return Err("the report was deleted before it was sent".into()),
        Err(err) => return Err(format!("the report cannot be read: {err}")),
    };
    let file = crate::reports::stored_file(&context.reports_dir, &report);
    let pdf = match &file {
        Some(path) => tokio::fs::read(path).await.ok(),
        None => None,
    };
    let (Some(file), Some(pdf)) = (file, pdf) else {
        return Err(format!("the report's file {} is missing", report.path));
    };
    let file_name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let span = crate::reports::stored_period_words(&report);
    let title = format!("Watchpost {} report, {span}", report.period);
    let events = match report.events {
        0 => "No events: a quiet period.".to_string(),
        1 => "1 event.".to_string(),
        n => format!("{n} events."),
    };
    let link =
        if context.ui_url.is_empty() { String::new() } else { format!(" All reports: {}/reports", context.ui_url) };
    Ok(ReportFile {
        title,
        text: format!("{events} The PDF has the charts, each camera's uptime and the top events.{link}"),
        file_name,
        pdf,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_to_ten_minutes() {
        let delays: Vec<u64> = [0, 1, 2, 5, 8, 9, 1000, -3].iter().map(|a| retry_delay(*a).as_secs()).collect();
        assert_eq!(delays, [2, 4, 8, 64, 512, 600, 600, 2]);
    }
}
