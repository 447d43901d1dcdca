//! Benchmark: how long a weekly PDF report takes, against reading the same week's events from the
//! database (the least any report must do), measured in the same run on the same SQLite file.
//!
//! `cargo run --release --example bench_report [EVENTS]` (default 10,000 events over 7 days and 4
//! cameras, a tenth of them alerts with descriptions, every event with the demo photograph as its
//! snapshot). Prints the time to read the events, to gather the report's figures, to draw the PDF,
//! and the PDF's size and pages.

use std::path::Path;
use std::time::Instant;
use watchpost::db::{Db, Description, NewEvent, Recipient};
use watchpost::model::{EventKind, Severity};
use watchpost::reports::data::{ReportRequest, gather};
use watchpost::reports::render::render;
use watchpost::reports::settings::Period;

const DAY_MS: i64 = 86_400_000;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let count: usize = std::env::args().nth(1).map(|n| n.parse()).transpose()?.unwrap_or(10_000);
    let dir = tempfile::tempdir()?;
    let db = Db::connect(&format!("sqlite://{}/watchpost.db?mode=rwc", dir.path().display())).await?;
    let media = watchpost::media::MediaStore::open(&dir.path().join("media"))?;
    let photo = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo/person.jpg"))?;
    media.write_atomic("snapshots/demo.jpg", &photo)?;
    let first_day = chrono::NaiveDate::from_ymd_opt(2026, 11, 23).expect("a day");
    let start = first_day.and_hms_opt(0, 0, 0).expect("midnight").and_utc().timestamp_millis();
    let cameras = ["front", "drive", "garden", "garage"];
    let labels = ["person", "car", "dog", "person", "cat"];
    let nobody: [Recipient; 0] = [];
    let seeding = Instant::now();
    for n in 0..count {
        let at = start + (n as i64 * 7 * DAY_MS) / count as i64;
        let id = db
            .insert_event(&NewEvent {
                camera_id: cameras[n % cameras.len()].into(),
                kind: EventKind::Object,
                label: Some(labels[n % labels.len()].into()),
                score: 0.5 + (n % 50) as f64 / 100.0,
                bbox: [0.1, 0.1, 0.2, 0.4],
                boxes: vec![],
                start_ms: at,
                snapshot: Some("snapshots/demo.jpg".into()),
                severity: Severity::Low,
                zones: vec![],
                frame: (640, 360),
            })
            .await?;
        if n % 10 == 0 {
            let words = Description {
                title: Some(format!("Visitor {n} at the door")),
                text: "A person in a dark coat walks up to the door, waits and leaves.".into(),
                threat_level: Some(1),
                by: "openai:bench".into(),
                took_ms: Some(800),
            };
            db.set_event_description(id, &words).await?;
            db.mark_alerted(id, if n % 30 == 0 { Severity::High } else { Severity::Medium }, at, &nobody).await?;
        }
    }
    eprintln!("seeded {count} events in {:.1} s", seeding.elapsed().as_secs_f64());

    let request = ReportRequest {
        name: "weekly".into(),
        period: Period::Weekly,
        first_day,
        zone: "Europe/Berlin".parse().map_err(|e: String| anyhow::anyhow!(e))?,
        cameras: vec![],
        top_events: 6,
    };
    let now_ms = start + 8 * DAY_MS;
    let mut best = [f64::MAX; 3];
    let mut last = None;
    for _ in 0..3 {
        let reading = Instant::now();
        let events = db.events_between(start - DAY_MS, start + 8 * DAY_MS, &[]).await?;
        best[0] = best[0].min(reading.elapsed().as_secs_f64());
        let gathering = Instant::now();
        let data = gather(&db, &media, &request, now_ms).await?;
        best[1] = best[1].min(gathering.elapsed().as_secs_f64());
        let drawing = Instant::now();
        let rendered = render(&data)?;
        best[2] = best[2].min(drawing.elapsed().as_secs_f64());
        last = Some((events.len(), data.total_events, rendered.pages, rendered.pdf.len()));
    }
    let (read, events, pages, bytes) = last.expect("three rounds");
    println!("events in the database: {read}; in the report's week: {events}");
    println!("read the week's events (baseline): {:.0} ms", best[0] * 1000.0);
    println!("gather the report's figures:       {:.0} ms ({:.2}x the baseline)", best[1] * 1000.0, best[1] / best[0]);
    println!("draw the PDF:                      {:.0} ms", best[2] * 1000.0);
    println!(
        "report in all:                     {:.0} ms ({:.2}x the baseline); {pages} pages, {} KB",
        (best[1] + best[2]) * 1000.0,
        (best[1] + best[2]) / best[0],
        bytes / 1000
    );
    db.close().await;
    Ok(())
}
