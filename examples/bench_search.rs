//! Benchmark: event search (`list_events` with `q`, on SQLite's FTS5 index) against the naive way,
//! a `LIKE '%word%'` scan of the same text, measured in the same run on the same database.
//!
//! `cargo run --release --example bench_search [EVENTS]` (default 20 000)
//!
//! The events get descriptions made from a small vocabulary by a fixed pseudo-random sequence (one
//! in a thousand also mentions a kayak), so every run searches the same data: common words, a rare
//! one and an absent one. Each query runs 20 times; the median is reported.

use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
use std::time::{Duration, Instant};
use watchpost::db::{Db, Description, EventFilter, NewEvent, search_words};

const WHO: [&str; 8] =
    ["A man", "A woman", "A courier", "A child", "Two people", "A cyclist", "A gardener", "A neighbour"];
const WHAT: [&str; 8] = [
    "carries a ladder",
    "leaves a parcel",
    "walks a dog",
    "tries the door handle",
    "parks a white van",
    "looks into the car",
    "rings the bell",
    "waters the plants",
];
const WHERE: [&str; 6] =
    ["at the front door", "in the driveway", "by the garage", "along the fence", "on the path", "near the gate"];

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn main() -> anyhow::Result<()> {
    let events: usize = std::env::args().nth(1).map(|s| s.parse()).transpose()?.unwrap_or(20_000);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let dir = tempfile::tempdir()?;
    runtime.block_on(async {
        let url = format!("sqlite://{}/bench.db?mode=rwc", dir.path().display());
        let db = Db::connect(&url).await?;
        let filled = Instant::now();
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        for i in 0..events {
            let id = db
                .insert_event(&NewEvent {
                    camera_id: format!("cam{}", i % 8),
                    kind: watchpost::model::EventKind::Object,
                    label: Some("person".into()),
                    score: 0.9,
                    bbox: [0.1, 0.1, 0.2, 0.4],
                    boxes: vec![],
                    start_ms: 1_790_000_000_000 + i as i64 * 60_000,
                    snapshot: None,
                    severity: watchpost::model::Severity::Low,
                    zones: vec![],
                    frame: (640, 360),
                })
                .await?;
            let mut text = format!("{} {} {}.", WHO[next(WHO.len())], WHAT[next(WHAT.len())], WHERE[next(WHERE.len())]);
            // A rare sight: one event in a thousand.
            if i % 1000 == 999 {
                text.push_str(" A red kayak is strapped to the car roof.");
            }
            let description =
                Description { title: None, text, threat_level: Some(0), by: "bench".into(), took_ms: None };
            db.set_event_description(id, &description).await?;
        }
        println!("{events} events stored and indexed in {:.1} s", filled.elapsed().as_secs_f64());

        // A second connection to the same file for the raw baseline query.
        let conn = sea_orm::Database::connect(&url).await?;
        println!("| query | results (limit 50) | FTS5 search | LIKE scan | ratio |");
        println!("|---|---|---|---|---|");
        for query in ["ladder", "white van", "man with a ladder", "courier parcel front door", "kayak", "helicopter"] {
            let filter = EventFilter { query: Some(query.into()), limit: 50, ..Default::default() };
            let found = db.list_events(&filter).await?.len();
            let mut fts = Vec::new();
            for _ in 0..20 {
                let started = Instant::now();
                db.list_events(&filter).await?;
                fts.push(started.elapsed());
            }
            // The naive way: any word anywhere in the text, newest 500 first, then the same ranking.
            let words = search_words(query);
            let like =
                words.iter().map(|w| format!("lower(search_text) LIKE '%{w}%'")).collect::<Vec<_>>().join(" OR ");
            let sql = format!("SELECT * FROM events WHERE {like} ORDER BY id DESC LIMIT 500");
            let mut scan = Vec::new();
            for _ in 0..20 {
                let started = Instant::now();
                conn.query_all_raw(Statement::from_string(DatabaseBackend::Sqlite, sql.clone())).await?;
                scan.push(started.elapsed());
            }
            let (fts, scan) = (median(fts), median(scan));
            println!(
                "| {query} | {found} | {:.2} ms | {:.2} ms | {:.2} |",
                fts.as_secs_f64() * 1000.0,
                scan.as_secs_f64() * 1000.0,
                fts.as_secs_f64() / scan.as_secs_f64()
            );
        }
        db.close().await;
        anyhow::Ok(())
    })
}
