//! What a report says, read from the database: the period's days on the report's clock, the
//! events per camera, day and hour, alerts by severity, labels, camera outages and uptime, the
//! top events with their snapshots, and the space recordings take. Kept apart from the drawing so
//! the figures can be checked against the database on their own.

use super::settings::Period;
use crate::camera::settings::TimeZone;
use crate::db::Db;
use crate::db::entities::event;
use crate::error::{Error, Result};
use crate::media::MediaStore;
use crate::model::Severity;
use chrono::{Datelike, NaiveDate, Timelike};
use std::collections::BTreeMap;

/// Which report to make.
#[derive(Debug, Clone)]
pub struct ReportRequest {
    /// The schedule's name, or `manual`.
    pub name: String,
    pub period: Period,
    /// The period's first day on the report's clock.
    pub first_day: NaiveDate,
    pub zone: TimeZone,
    /// Camera ids; empty = every camera.
    pub cameras: Vec<String>,
    pub top_events: u32,
}

/// One day of the period and where it begins and ends.
#[derive(Debug, Clone, PartialEq)]
pub struct Day {
    pub date: NaiveDate,
    pub from_ms: i64,
    pub to_ms: i64,
}

/// One camera's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraFigures {
    pub id: String,
    pub name: String,
    pub events: u32,
    pub alerts: u32,
    /// Time without pictures within the period (up to now), and in how many spells.
    pub offline_ms: i64,
    pub outages: u32,
    /// The share of the period (up to now) it sent pictures, 0–1.
    pub uptime: f64,
}

/// An event shown with its snapshot.
#[derive(Debug, Clone)]
pub struct TopEvent {
    pub id: i64,
    pub camera: String,
    /// When it started, on the report's clock.
    pub when: String,
    pub headline: String,
    pub description: Option<String>,
    pub severity: Severity,
    pub alerted: bool,
    pub jpeg: Option<Vec<u8>>,
}

/// Everything a report shows.
#[derive(Debug, Clone)]
pub struct ReportData {
    pub request: ReportRequest,
    pub days: Vec<Day>,
    pub from_ms: i64,
    pub to_ms: i64,
    /// The zone's name as shown (`Europe/Berlin`, or `server time`).
    pub zone_name: String,
    pub cameras: Vec<CameraFigures>,
    pub total_events: u32,
    pub total_alerts: u32,
    /// Events per day, per camera (in `cameras`' order).
    pub per_day: Vec<Vec<u32>>,
    /// Events per hour of the day, per camera (a daily report's bars).
    pub per_hour: Vec<Vec<u32>>,
    /// Events by weekday (Monday first) and hour of the day.
    pub by_weekday_hour: [[u32; 24]; 7],
    /// Alerts per severity, low to high.
    pub alerts_by_severity: Vec<(Severity, u32)>,
    /// Object labels (and `motion`, `sensor`) with their counts, most first.
    pub labels: Vec<(String, u32)>,
    /// The hour of the day with the most events, and how many.
    pub busiest_hour: Option<(u32, u32)>,
    pub top: Vec<TopEvent>,
    /// Recordings on disk now: bytes, and the days from the oldest to now.
    pub recordings_bytes: i64,
    pub recordings_days: Option<f64>,
    /// When the report was made, on its clock.
    pub made_at: String,
    /// What the describer wrote about the period's events, most important first (at most
    /// [`DESCRIBED_LINES`]): "Mon 08:05, Front door: title. description".
    pub described: Vec<String>,
    /// A model's paragraph about the period and who wrote it (`<provider>:<model>`), when one is
    /// set up and its budget allows.
    pub ai_summary: Option<(String, String)>,
}

/// How many described events a summary is written from.
pub const DESCRIBED_LINES: usize = 60;

/// Runs `f` with the report's zone as a chrono time zone (the server's when none is set).
macro_rules! in_zone {
    ($zone:expr, |$tz:ident| $body:expr) => {
        match $zone.0 {
            Some(zone) => {
                let $tz = &zone;
                $body
            }
            None => {
                let $tz = &chrono::Local;
                $body
            }
        }
    };
}

/// The days of `period` starting on `first_day`, on `zone`'s clock.
pub fn days_of(period: Period, first_day: NaiveDate, zone: TimeZone) -> Result<Vec<Day>> {
    (0..period.days())
        .map(|offset| {
            let date = first_day + chrono::Days::new(u64::from(offset));
            let bounds = in_zone!(zone, |tz| crate::calendar::day_bounds_ms(date, tz));
            let (from_ms, to_ms) = bounds.ok_or_else(|| Error::invalid(format!("{date} is out of range")))?;
            Ok(Day { date, from_ms, to_ms })
        })
        .collect()
}

/// `utc_ms` on `zone`'s clock.
pub fn local_time(zone: TimeZone, utc_ms: i64) -> chrono::NaiveDateTime {
    in_zone!(zone, |tz| crate::calendar::local_time(utc_ms, tz))
}

/// The headline of an event: its title from the describer, else its label and camera.
fn headline(event: &event::Model, camera: &str) -> String {
    match event.title.as_deref().filter(|t| !t.trim().is_empty()) {
        Some(title) => title.to_string(),
        None => {
            let what = event.label.clone().unwrap_or_else(|| event.kind.as_str().to_string());
            let mut what = what.chars();
            let what = what.next().map(|c| c.to_uppercase().chain(what).collect::<String>()).unwrap_or_default();
            format!("{what} on {camera}")
        }
    }
}

/// Reads what the report for `request` shows; `now_ms` limits uptime to what has happened.
pub async fn gather(db: &Db, media: &MediaStore, request: &ReportRequest, now_ms: i64) -> Result<ReportData> {
    let days = days_of(request.period, request.first_day, request.zone)?;
    let (from_ms, to_ms) = (days[0].from_ms, days[days.len() - 1].to_ms);
    let events = db.events_between(from_ms, to_ms, &request.cameras).await?;
    let known = db.list_cameras().await?;
    let name_of = |id: &str| known.iter().find(|c| c.id == id).map_or_else(|| id.to_string(), |c| c.name.clone());

    // The cameras asked for, else every known camera and any other that had events.
    let mut ids: Vec<String> =
        if request.cameras.is_empty() { known.iter().map(|c| c.id.clone()).collect() } else { request.cameras.clone() };
    for event in &events {
        if !ids.contains(&event.camera_id) {
            ids.push(event.camera_id.clone());
        }
    }
    let index_of = |id: &str| ids.iter().position(|c| c == id).unwrap_or(0);

    let mut per_day = vec![vec![0u32; ids.len()]; days.len()];
    let mut per_hour = vec![vec![0u32; ids.len()]; 24];
    let mut by_weekday_hour = [[0u32; 24]; 7];
    let mut labels: BTreeMap<String, u32> = BTreeMap::new();
    let mut severities: BTreeMap<Severity, u32> = BTreeMap::new();
    let mut per_camera = vec![(0u32, 0u32); ids.len()];
    for event in &events {
        let camera = index_of(&event.camera_id);
        let local = local_time(request.zone, event.start_ms);
        if let Some(day) = days.iter().position(|d| d.from_ms <= event.start_ms && event.start_ms < d.to_ms) {
            per_day[day][camera] += 1;
        }
        let hour = local.hour() as usize;
        per_hour[hour][camera] += 1;
        by_weekday_hour[local.weekday().num_days_from_monday() as usize][hour] += 1;
        *labels.entry(event.label.clone().unwrap_or_else(|| event.kind.as_str().to_string())).or_default() += 1;
        per_camera[camera].0 += 1;
        if event.alerted_ms.is_some() {
            per_camera[camera].1 += 1;
            *severities.entry(event.severity).or_default() += 1;
        }
    }

    // Outages clipped to the period, up to now.
    let until_ms = to_ms.min(now_ms).max(from_ms);
    let outages = db.outages_between(from_ms, until_ms).await?;
    let cameras: Vec<CameraFigures> = ids
        .iter()
        .enumerate()
        .map(|(index, id)| {
            let mine: Vec<_> = outages.iter().filter(|o| &o.camera_id == id).collect();
            let offline_ms: i64 = mine
                .iter()
                .map(|o| (o.end_ms.unwrap_or(until_ms).min(until_ms) - o.start_ms.max(from_ms)).max(0))
                .sum();
            let span = (until_ms - from_ms).max(1);
            CameraFigures {
                id: id.clone(),
                name: name_of(id),
                events: per_camera[index].0,
                alerts: per_camera[index].1,
                offline_ms,
                outages: mine.len() as u32,
                uptime: if until_ms > from_ms { 1.0 - offline_ms as f64 / span as f64 } else { 1.0 },
            }
        })
        .collect();

    let hourly: Vec<u32> = (0..24).map(|h| per_hour[h].iter().sum()).collect();
    let busiest_hour = hourly
        .iter()
        .enumerate()
        .max_by_key(|&(hour, count)| (*count, std::cmp::Reverse(hour)))
        .filter(|(_, count)| **count > 0)
        .map(|(hour, count)| (hour as u32, *count));
    let mut labels: Vec<(String, u32)> = labels.into_iter().collect();
    labels.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));

    let top = top_events(media, &events, request, &name_of).await;
    let described = ranked(&events)
        .into_iter()
        .filter(|e| {
            e.description.as_deref().is_some_and(|d| !d.trim().is_empty()) && e.described_by.as_deref() != Some("rules")
        })
        .take(DESCRIBED_LINES)
        .map(|e| {
            let when = local_time(request.zone, e.start_ms).format("%a %H:%M");
            let title = e.title.as_deref().map(|t| format!("{t}. ")).unwrap_or_default();
            format!("{when}, {}: {title}{}", name_of(&e.camera_id), e.description.as_deref().unwrap_or_default().trim())
        })
        .collect();
    let usage = db.recording_usage().await?;
    let recordings_bytes = usage.iter().map(|u| u.bytes.max(0)).sum();
    let oldest = usage.iter().map(|u| u.oldest_ms).min();
    Ok(ReportData {
        total_events: events.len() as u32,
        total_alerts: per_camera.iter().map(|c| c.1).sum(),
        zone_name: request.zone.0.map_or_else(|| "server time".to_string(), |z| z.name().to_string()),
        request: request.clone(),
        days,
        from_ms,
        to_ms,
        cameras,
        per_day,
        per_hour,
        by_weekday_hour,
        alerts_by_severity: severities.into_iter().collect(),
        labels,
        busiest_hour,
        top,
        recordings_bytes,
        recordings_days: oldest.map(|oldest| (now_ms - oldest).max(0) as f64 / 86_400_000.0),
        made_at: local_time(request.zone, now_ms).format("%Y-%m-%d %H:%M").to_string(),
        described,
        ai_summary: None,
    })
}

/// The events most worth a look first: alerts, then by severity, threat and score.
fn ranked(events: &[event::Model]) -> Vec<&event::Model> {
    let mut ranked: Vec<&event::Model> = events.iter().collect();
    ranked.sort_by(|a, b| {
        let key = |e: &event::Model| (e.alerted_ms.is_some(), e.severity, e.threat_level.unwrap_or(0));
        key(b).cmp(&key(a)).then(b.score.total_cmp(&a.score)).then(a.start_ms.cmp(&b.start_ms))
    });
    ranked
}

/// The top events with their snapshots.
async fn top_events(
    media: &MediaStore,
    events: &[event::Model],
    request: &ReportRequest,
    name_of: &impl Fn(&str) -> String,
) -> Vec<TopEvent> {
    let mut top = Vec::new();
    for event in ranked(events).into_iter().take(request.top_events as usize) {
        let camera = name_of(&event.camera_id);
        let jpeg = match event.snapshot.as_deref() {
            Some(snapshot) => read_snapshot(media, snapshot).await,
            None => None,
        };
        top.push(TopEvent {
            id: event.id,
            headline: headline(event, &camera),
            when: local_time(request.zone, event.start_ms).format("%a %d %b %H:%M:%S").to_string(),
            camera,
            description: event.description.clone().filter(|d| !d.trim().is_empty()),
            severity: event.severity,
            alerted: event.alerted_ms.is_some(),
            jpeg,
        });
    }
    top
}

/// The snapshot with its boxes drawn when there is one, else the plain one.
async fn read_snapshot(media: &MediaStore, snapshot: &str) -> Option<Vec<u8>> {
    for relative in [MediaStore::annotated_path(snapshot), snapshot.to_string()] {
        if let Some(path) = media.resolve(&relative)
            && let Ok(bytes) = tokio::fs::read(&path).await
        {
            return Some(bytes);
        }
    }
    None
}
