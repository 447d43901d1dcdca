//! Daily and weekly PDF reports: what happened in words, charts, each camera's uptime, the top
//! events with their snapshots, and the space recordings take.
//!
//! [`Reports::make`] reads the period's figures ([`data`]), draws them ([`render`] on [`pdf`]),
//! writes the file atomically under `<data>/reports/` and records it with one pending delivery per
//! recipient in the same transaction; the e-mail and Telegram channels send those
//! (`bridges::report_delivery`), so a report made while a channel is down arrives later, once.
//! [`Reports::run`] makes each `[[reports]]` entry's report when it falls due on its own clock,
//! and after a restart the one it missed (only the latest). "Generate now" runs the same in the
//! background and shows its progress. When `[describe]` names a model, it writes a paragraph
//! about the period from the events' descriptions, within the descriptions' hourly budget.

pub mod data;
pub mod pdf;
pub mod render;
pub mod settings;

use crate::bus::{BusMessage, EventBus};
use crate::db::entities::report;
use crate::db::{Db, NewReport, Recipient};
use crate::describe::Summariser;
use crate::error::{Error, Result};
use crate::media::MediaStore;
use crate::supervise::CancellationToken;
use chrono::{Datelike, NaiveDate, Timelike};
use data::{ReportRequest, local_time};
use settings::{Period, ReportConfig};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often the schedule is looked at.
const SCHEDULE_LOOK: Duration = Duration::from_secs(30);

/// Where reports are kept.
pub fn reports_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("reports")
}

/// Where report `report`'s PDF is in the reports directory `dir` (only its file name counts, so
/// a stored path can never lead outside it).
pub fn stored_file(dir: &Path, report: &report::Model) -> Option<PathBuf> {
    Some(dir.join(Path::new(&report.path).file_name()?))
}

/// A period in words: "Tuesday 1 December 2026", or "Mon 23 Nov – Sun 29 Nov 2026".
pub fn span_words(first: NaiveDate, last: NaiveDate) -> String {
    if first == last {
        first.format("%A %-d %B %Y").to_string()
    } else {
        format!("{} – {}", first.format("%a %-d %b"), last.format("%a %-d %b %Y"))
    }
}

/// The period a stored report covers, in words, on the clock it was made for.
pub fn stored_period_words(report: &report::Model) -> String {
    let zone = report.timezone.parse::<crate::camera::settings::TimeZone>().unwrap_or_default();
    let day = |ms: i64| local_time(zone, ms).date();
    span_words(day(report.from_ms), day(report.to_ms - 1))
}

/// How far a "Generate now" has got, for the Reports page.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    Working { step: &'static str, started_ms: i64 },
    Done { report_id: i64 },
    Failed { reason: String },
}

/// Makes, keeps and schedules reports.
#[derive(Clone)]
pub struct Reports {
    db: Db,
    bus: EventBus,
    media: MediaStore,
    dir: PathBuf,
    /// Writes the period's paragraph when `[describe]` names a model.
    summariser: Option<Summariser>,
    /// Each `[[reports]]` entry with where its reports go.
    schedules: Arc<Vec<(ReportConfig, Vec<Recipient>)>>,
    progress: Arc<Mutex<Option<Progress>>>,
}

impl Reports {
    /// `schedules`: each `[[reports]]` entry with the recipients of the channels it names.
    pub fn new(
        db: Db,
        media: MediaStore,
        bus: EventBus,
        data_dir: &Path,
        schedules: Vec<(ReportConfig, Vec<Recipient>)>,
        summariser: Option<Summariser>,
    ) -> Self {
        Self {
            db,
            bus,
            media,
            summariser,
            dir: reports_dir(data_dir),
            schedules: Arc::new(schedules),
            progress: Arc::default(),
        }
    }

    /// The stored PDF of report `report`, if its file is still there.
    pub fn file_of(&self, report: &report::Model) -> Option<PathBuf> {
        stored_file(&self.dir, report).filter(|p| p.is_file())
    }

    /// What the latest "Generate now" is doing.
    pub fn progress(&self) -> Option<Progress> {
        self.progress.lock().map(|p| p.clone()).unwrap_or(None)
    }

    fn set_progress(&self, progress: Progress) {
        if let Ok(mut slot) = self.progress.lock() {
            *slot = Some(progress);
        }
    }

    /// Makes the report `request`, stores it and queues it for `send_to`.
    pub async fn make(
        &self,
        request: &ReportRequest,
        requested_by: Option<&str>,
        send_to: &[Recipient],
        now_ms: i64,
    ) -> Result<report::Model> {
        self.set_step_if_running("reading the period's events");
        let mut data = data::gather(&self.db, &self.media, request, now_ms).await?;
        if let Some(summariser) = &self.summariser
            && !data.described.is_empty()
        {
            self.set_step_if_running("asking the model for a summary");
            let period = render::period_words(&data);
            if let Some(text) = summariser.summarise(&period, &data.described).await {
                data.ai_summary = Some((text, summariser.by()));
            }
        }
        self.set_step_if_running("drawing the charts and pages");
        let events = i64::from(data.total_events);
        let (from_ms, to_ms) = (data.from_ms, data.to_ms);
        let rendered = tokio::task::spawn_blocking(move || render::render(&data))
            .await
            .map_err(|e| Error::internal("the report could not be drawn").with_source(e))??;
        self.set_step_if_running("saving");
        let file_name = format!(
            "{}-{}-{}-{}.pdf",
            request.first_day,
            request.period.as_str(),
            request.name.replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "_"),
            now_ms
        );
        write_atomically(&self.dir, &file_name, &rendered.pdf).await?;
        let stored = self
            .db
            .insert_report(NewReport {
                name: request.name.clone(),
                period: request.period.as_str().to_string(),
                from_ms,
                to_ms,
                timezone: request.zone.0.map_or_else(String::new, |z| z.name().to_string()),
                cameras: request.cameras.clone(),
                created_ms: now_ms,
                path: file_name,
                bytes: rendered.pdf.len() as i64,
                pages: rendered.pages as i32,
                events,
                requested_by: requested_by.map(str::to_string),
                send_to: send_to.to_vec(),
            })
            .await?;
        tracing::info!(
            report = stored.id,
            name = %stored.name,
            pages = stored.pages,
            events = stored.events,
            recipients = send_to.len(),
            "report made"
        );
        if !send_to.is_empty() {
            self.bus.publish(BusMessage::Report { report_id: stored.id });
        }
        Ok(stored)
    }

    fn set_step_if_running(&self, step: &'static str) {
        if let Ok(mut slot) = self.progress.lock()
            && let Some(Progress::Working { step: current, .. }) = slot.as_mut()
        {
            *current = step;
        }
    }

    /// "Generate now": makes `request` in the background (not sent anywhere); `false` when one
    /// is being made already.
    pub fn generate_now(&self, request: ReportRequest, requested_by: String, now_ms: i64) -> bool {
        {
            let Ok(mut slot) = self.progress.lock() else { return false };
            if matches!(*slot, Some(Progress::Working { .. })) {
                return false;
            }
            *slot = Some(Progress::Working { step: "starting", started_ms: now_ms });
        }
        let reports = self.clone();
        tokio::spawn(async move {
            let outcome = reports.make(&request, Some(&requested_by), &[], now_ms).await;
            reports.set_progress(match outcome {
                Ok(report) => Progress::Done { report_id: report.id },
                Err(err) => {
                    tracing::warn!(error = %err, "the report asked for could not be made");
                    Progress::Failed { reason: err.to_string() }
                }
            });
        });
        true
    }

    /// Makes each scheduled report when it falls due, until `cancel`.
    pub async fn run(self, cancel: CancellationToken) {
        if self.schedules.is_empty() {
            return;
        }
        loop {
            let now_ms = chrono::Utc::now().timestamp_millis();
            for (schedule, send_to) in self.schedules.iter() {
                if let Err(err) = self.make_if_due(schedule, send_to, now_ms).await {
                    tracing::warn!(report = %schedule.name, error = %err, "the scheduled report could not be made; trying again soon");
                }
            }
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tokio::time::sleep(SCHEDULE_LOOK) => {}
            }
        }
    }

    async fn make_if_due(&self, schedule: &ReportConfig, send_to: &[Recipient], now_ms: i64) -> Result<()> {
        let Some(first_day) = due_period(schedule, now_ms) else { return Ok(()) };
        let request = request_for(schedule, first_day);
        let days = data::days_of(request.period, first_day, request.zone)?;
        if self.db.report_made(&schedule.name, days[0].from_ms).await? {
            return Ok(());
        }
        self.make(&request, None, send_to, now_ms).await.map(|_| ())
    }
}

/// `watchpost report`: draws `request` into the file `out` (written atomically) without recording
/// or sending it; returns the page count and the period's event count.
pub async fn make_file(
    db: &Db,
    media: &MediaStore,
    request: &ReportRequest,
    out: &Path,
    now_ms: i64,
) -> Result<(usize, u32)> {
    let data = data::gather(db, media, request, now_ms).await?;
    let events = data.total_events;
    let rendered = tokio::task::spawn_blocking(move || render::render(&data))
        .await
        .map_err(|e| Error::internal("the report could not be drawn").with_source(e))??;
    let dir = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = out
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| Error::invalid(format!("{} is not a file name", out.display())))?;
    write_atomically(dir, name, &rendered.pdf).await?;
    Ok((rendered.pages, events))
}

/// The request a schedule makes for the period starting `first_day`.
pub fn request_for(schedule: &ReportConfig, first_day: NaiveDate) -> ReportRequest {
    ReportRequest {
        name: schedule.name.trim().to_string(),
        period: schedule.period,
        first_day,
        zone: schedule.zone(),
        cameras: schedule.cameras.clone(),
        top_events: schedule.top_events,
    }
}

/// The first day of the latest period whose report fell due by `now_ms` on the schedule's clock:
/// a daily report at `at` covers the day before; a weekly one at `at` on `weekday` covers the
/// seven days before.
pub fn due_period(schedule: &ReportConfig, now_ms: i64) -> Option<NaiveDate> {
    let at = schedule.at.get()?.minutes();
    let now = local_time(schedule.zone(), now_ms);
    let minutes_now = now.hour() * 60 + now.minute();
    let mut send_day = now.date();
    if minutes_now < at {
        send_day = send_day.pred_opt()?;
    }
    if schedule.period == Period::Weekly {
        let wanted = *schedule.weekday.get()? as u32;
        while send_day.weekday().num_days_from_monday() != wanted {
            send_day = send_day.pred_opt()?;
        }
    }
    send_day.checked_sub_days(chrono::Days::new(u64::from(schedule.period.days())))
}

/// Writes `bytes` to `dir/name` through a temporary file and a rename, so a crash never leaves
/// half a report.
async fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let fail = |e: std::io::Error| Error::unavailable(format!("cannot write the report in {}: {e}", dir.display()));
    tokio::fs::create_dir_all(dir).await.map_err(fail)?;
    let temporary = dir.join(format!(".{name}.part"));
    tokio::fs::write(&temporary, bytes).await.map_err(fail)?;
    tokio::fs::rename(&temporary, dir.join(name)).await.map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(period: &str, at: &str, weekday: &str) -> ReportConfig {
        ReportConfig {
            name: "test".into(),
            period: Period::parse(period).unwrap(),
            at: crate::checks::Parsed::new(at),
            weekday: crate::checks::Parsed::new(weekday),
            timezone: crate::checks::Parsed::new("Europe/Berlin"),
            ..ReportConfig::default()
        }
    }

    fn ms(text: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(text).unwrap().timestamp_millis()
    }

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn a_daily_report_covers_the_day_before_once_its_time_has_come() {
        let daily = schedule("daily", "07:00", "mon");
        // 06:59 in Berlin (UTC+1 in December): yesterday's report is not due yet.
        assert_eq!(due_period(&daily, ms("2026-12-03T05:59:00Z")), Some(day("2026-12-01")));
        assert_eq!(due_period(&daily, ms("2026-12-03T06:00:00Z")), Some(day("2026-12-02")));
    }

    #[test]
    fn a_weekly_report_covers_the_seven_days_before_its_weekday() {
        let weekly = schedule("weekly", "07:00", "mon");
        // Thursday 3 December 2026: the last Monday 07:00 was 30 November; it covers 23–29 November.
        assert_eq!(due_period(&weekly, ms("2026-12-03T12:00:00Z")), Some(day("2026-11-23")));
        // Monday 7 December 08:00 Berlin: the new week's report.
        assert_eq!(due_period(&weekly, ms("2026-12-07T07:00:00Z")), Some(day("2026-11-30")));
        assert_eq!(due_period(&weekly, ms("2026-12-07T05:00:00Z")), Some(day("2026-11-23")));
    }

    #[test]
    fn a_week_across_the_clock_change_has_one_long_day() {
        let zone = crate::camera::settings::TimeZone(Some(chrono_tz::Europe::Berlin));
        // 19–25 October 2026; clocks go back on Sunday 25 October.
        let days = data::days_of(Period::Weekly, day("2026-10-19"), zone).unwrap();
        let hours: Vec<i64> = days.iter().map(|d| (d.to_ms - d.from_ms) / 3_600_000).collect();
        assert_eq!(hours, [24, 24, 24, 24, 24, 24, 25]);
        assert!(days.windows(2).all(|w| w[0].to_ms == w[1].from_ms), "the days follow each other");
        assert_eq!(days[0].from_ms, ms("2026-10-18T22:00:00Z"), "Monday begins at midnight summer time");
        assert_eq!(days[6].to_ms, ms("2026-10-25T23:00:00Z"), "the next Monday begins at midnight winter time");
    }
}
