//! Benchmark: the events page and `/api/events` on a database of a million events, under 50
//! concurrent connections, on SQLite or PostgreSQL.
//!
//! `cargo run --release --example bench_events -- [EVENTS] [SECONDS] [CONNECTIONS] [postgres]`
//! (defaults 1000000, 60, 50; CONNECTIONS may be a list, `1,5,10,50`: one load run of SECONDS
//! for each, on the same database, to find how many users are served within the goal;
//! `postgres` uses a new database `watchpost_bench_events` on `WATCHPOST_BENCH_POSTGRES`,
//! default `postgres://postgres@127.0.0.1:5432/postgres`)
//!
//! The database is made by Watchpost's own migrations. 384 events are stored through its API
//! (8 cameras; people, cars, dogs and cats; descriptions from a small vocabulary, one in a hundred
//! mentioning a kayak; one in ten alerted), then copied in SQL into EVENTS events one every 31.5 s
//! over a year, ids in time order, the search index kept by the database as for any insert. Then
//! Watchpost serves it and CONNECTIONS clients, each on a kept-alive connection with an API token
//! of its own, ask in turn for the pages and API calls a user's browsing makes (each first timed
//! alone, the median of 5) (the first page, filters by camera, label, severity, alerts only, a
//! day, a search with a common, a rare and an absent word, a page far back) for
//! SECONDS. Every answer must be 200; each request's time to the whole body is kept, and the
//! p50/p99 per request and over all are printed, with the requests per second.

use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use watchpost::app::ServeOptions;
use watchpost::db::{Db, Description, NewEvent};
use watchpost::model::{EventKind, Severity};

const CAMERAS: usize = 8;
const WHO: [&str; 8] =
    ["A man", "A woman", "A courier", "A child", "Two people", "A cyclist", "A gardener", "A neighbour"];
const WHAT: [&str; 6] = [
    "carries a ladder",
    "leaves a parcel",
    "walks a dog",
    "tries the door handle",
    "parks a white van",
    "rings the bell",
];
const WHERE: [&str; 4] = ["at the front door", "in the driveway", "by the garage", "near the gate"];
const LABELS: [&str; 20] = [
    "person", "person", "person", "person", "person", "person", "person", "person", "person", "person", "person",
    "person", "car", "car", "car", "car", "car", "dog", "dog", "cat",
];
/// The first event's start: 2025-12-01 00:00 UTC; one every 31.5 s after it.
const FIRST_MS: i64 = 1_764_547_200_000;
const STEP_MS: i64 = 31_500;

/// One template event per camera and description.
const TEMPLATES: usize = CAMERAS * 48;

/// CPU time this process has used (every thread, user and system): the cost of the answers,
/// steadier than answers a second on a machine whose neighbours come and go.
fn process_cpu() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a whole rusage into the pointer it is given.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    time(usage.ru_utime) + time(usage.ru_stime)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Stores the templates through Watchpost's API, then copies them into `events` events in SQL.
async fn fill(url: &str, events: usize) -> anyhow::Result<()> {
    let db = Db::connect(url).await?;
    let started = Instant::now();
    for t in 0..TEMPLATES {
        let id = db
            .insert_event(&NewEvent {
                camera_id: format!("cam{}", t % CAMERAS),
                kind: EventKind::Object,
                label: Some(LABELS[t % LABELS.len()].into()),
                score: 0.6 + (t % 40) as f64 / 100.0,
                bbox: [0.1, 0.2, 0.2, 0.5],
                boxes: vec![[0.1, 0.2, 0.2, 0.5]],
                start_ms: FIRST_MS - STEP_MS * (TEMPLATES - t) as i64,
                snapshot: Some(format!("snapshots/cam{}/2025-11-30/{t}.jpg", t % CAMERAS)),
                severity: Severity::Low,
                zones: if t % 3 == 0 { vec!["path".into()] } else { vec![] },
                frame: (640, 360),
            })
            .await?;
        let d = t / CAMERAS;
        let mut text = format!("{} {} {}.", WHO[d % WHO.len()], WHAT[(d / 8) % WHAT.len()], WHERE[d % WHERE.len()]);
        if t % 100 == 99 {
            text.push_str(" A red kayak is strapped to the car roof.");
        }
        let description =
            Description { title: Some(text.clone()), text, threat_level: Some(0), by: "bench".into(), took_ms: None };
        db.set_event_description(id, &description).await?;
        if t % 10 == 0 {
            let severity = [Severity::Low, Severity::Medium, Severity::High][t / 10 % 3];
            db.mark_alerted(id, severity, FIRST_MS, &[]).await?;
        }
    }
    db.close().await;

    let conn = sea_orm::Database::connect(url).await?;
    let backend = conn.get_database_backend();
    let columns_sql = match backend {
        DatabaseBackend::Postgres => {
            "SELECT column_name AS name FROM information_schema.columns WHERE table_name = 'events' \
             AND table_schema = current_schema() AND is_generated = 'NEVER' ORDER BY ordinal_position"
        }
        _ => "SELECT name FROM pragma_table_info('events')",
    };
    let columns: Vec<String> = conn
        .query_all_raw(Statement::from_string(backend, columns_sql))
        .await?
        .iter()
        .map(|row| row.try_get::<String>("", "name"))
        .collect::<Result<_, _>>()?;
    let copied: Vec<&str> = columns.iter().map(String::as_str).filter(|c| *c != "id").collect();
    let values: Vec<String> = copied
        .iter()
        .map(|c| match *c {
            "start_ms" => format!("{FIRST_MS} + s.n * {STEP_MS}"),
            "end_ms" => format!("{FIRST_MS} + s.n * {STEP_MS} + 8000"),
            "alerted_ms" => {
                format!("CASE WHEN t.alerted_ms IS NULL THEN NULL ELSE {FIRST_MS} + s.n * {STEP_MS} + 900 END")
            }
            other => format!("t.{other}"),
        })
        .collect();
    const CHUNK: usize = 100_000;
    for from in (0..events.saturating_sub(TEMPLATES)).step_by(CHUNK) {
        let to = (from + CHUNK).min(events - TEMPLATES) - 1;
        let series = match backend {
            DatabaseBackend::Postgres => format!("generate_series({from}::bigint, {to}::bigint) AS s(n)"),
            _ => format!(
                "(WITH RECURSIVE r(n) AS (SELECT {from} UNION ALL SELECT n + 1 FROM r WHERE n < {to}) SELECT n FROM r) AS s"
            ),
        };
        let sql = format!(
            "INSERT INTO events ({}) SELECT {} FROM {series} JOIN events t ON t.id = 1 + s.n % {TEMPLATES} ORDER BY s.n",
            copied.join(", "),
            values.join(", ")
        );
        conn.execute_unprepared(&sql).await?;
        print!("\r  {} events", to + 1 + TEMPLATES);
        use std::io::Write;
        std::io::stdout().flush()?;
    }
    if backend == DatabaseBackend::Postgres {
        // Every table, as autovacuum has long since done for a year's events (search reads
        // `search_term_events`' primary key alone where its pages are marked all-visible).
        conn.execute_unprepared("VACUUM ANALYZE").await?;
    } else {
        conn.execute_unprepared("ANALYZE").await?;
    }
    conn.close().await?;
    println!("\r  {events} events stored and indexed in {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// The postgres URL of a new, empty database for the benchmark.
async fn new_postgres_database() -> anyhow::Result<String> {
    let server = std::env::var("WATCHPOST_BENCH_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let admin = sea_orm::Database::connect(&server).await?;
    admin.execute_unprepared("DROP DATABASE IF EXISTS watchpost_bench_events").await?;
    admin.execute_unprepared("CREATE DATABASE watchpost_bench_events").await?;
    admin.close().await?;
    let (base, _) = server.rsplit_once('/').ok_or_else(|| anyhow::anyhow!("no database in {server}"))?;
    Ok(format!("{base}/watchpost_bench_events"))
}

// The process allocates as Watchpost's own binary does (src/main.rs, src/heap.rs).
#[global_allocator]
static ALLOCATOR: watchpost::heap::Allocator = watchpost::heap::Allocator;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let events: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(1_000_000);
    let seconds: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(60);
    let connection_counts: Vec<usize> = match args.next() {
        Some(list) => list.split(',').map(str::parse).collect::<Result<_, _>>()?,
        None => vec![50],
    };
    anyhow::ensure!(connection_counts.iter().all(|&n| n > 0), "CONNECTIONS: at least 1 each");
    let postgres = args.next().as_deref() == Some("postgres");
    anyhow::ensure!(events > TEMPLATES, "at least {} events", TEMPLATES + 1);
    let data = tempfile::tempdir()?;

    // The server: Watchpost on its own runtime (two workers, as on this 2-core machine).
    let server = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let (app, tokens) = server.block_on(async {
        let url = if postgres {
            new_postgres_database().await?
        } else {
            format!("sqlite://{}/watchpost.db?mode=rwc", data.path().display())
        };
        println!("{} with {events} events:", if postgres { "PostgreSQL" } else { "SQLite" });
        fill(&url, events).await?;
        let mut config = watchpost::config::Config::default();
        config.server.bind = "127.0.0.1:0".into();
        config.detector.enabled = false;
        config.discovery.interval_minutes = 0;
        config.discovery.node_scan_secs = 0;
        config.storage.database_url = Some(watchpost::secret::Secret::new(url));
        config.cameras = (0..CAMERAS)
            .map(|c| {
                let mut camera = watchpost::camera::settings::CameraConfig::new(
                    format!("cam{c}"),
                    "",
                    "/nonexistent.mp4".to_string(),
                );
                camera.enabled = false;
                camera
            })
            .collect();
        let app = watchpost::app::start(ServeOptions {
            config,
            config_file: None,
            data_dir: data.path().to_path_buf(),
            demo: false,
            clock: watchpost::clock::system(),
        })
        .await?;
        let admin =
            app.state.auth.create_user("admin", watchpost::model::Role::Admin, "benchmark password", &[]).await?;
        // One API token per client, as each user's browser or script has its own sign-in.
        let mut tokens = Vec::new();
        for client in 0..connection_counts.iter().copied().max().unwrap_or(1) {
            tokens.push(app.state.auth.create_token(admin, &format!("bench {client}"), None).await?.jwt);
        }
        anyhow::Ok((app, tokens))
    })?;
    let base = format!("http://{}", app.addr);

    // A day in the middle of the year, a page far back (half way), and the requests in turn.
    let middle_id = events as i64 / 2;
    let requests: Vec<(&'static str, String)> = vec![
        ("page: first", "/events".into()),
        ("page: camera", "/events?camera=cam3".into()),
        ("page: label cat", "/events?label=cat".into()),
        ("page: alerts high", "/events?alerts=1&severity=high".into()),
        ("page: a day", "/events?date=2026-06-01".into()),
        ("page: search ladder", "/events?q=ladder".into()),
        ("page: far back", format!("/events?before={middle_id}")),
        ("api: first 50", "/api/events?limit=50".into()),
        ("api: camera far back", format!("/api/events?camera=cam5&before={middle_id}&limit=50")),
        ("api: label dog", "/api/events?label=dog&limit=50".into()),
        ("api: search kayak", "/api/events?q=kayak&limit=50".into()),
        // No event holds it, but one in eight holds a word it begins like (courier).
        ("api: search courtyard", "/api/events?q=courtyard&limit=50".into()),
        ("api: status new, zone", "/api/events?status=new&zone=path&limit=50".into()),
    ];

    // Each request alone first (the median of 5 after one to warm up), for the cost of the query.
    let clients = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let alone: Vec<Duration> = clients.block_on(async {
        let client = reqwest::Client::new();
        let mut alone = Vec::new();
        for (_, path) in &requests {
            let mut runs = Vec::new();
            for _ in 0..6 {
                let sent = Instant::now();
                let answer = client.get(format!("{base}{path}")).bearer_auth(&tokens[0]).send().await?;
                anyhow::ensure!(answer.status() == 200, "{path} answered {}", answer.status());
                answer.bytes().await?;
                runs.push(sent.elapsed());
            }
            runs.remove(0);
            runs.sort();
            alone.push(runs[2]);
        }
        anyhow::Ok(alone)
    })?;
    for connections in connection_counts {
        load(&clients, &requests, &alone, &base, &tokens, connections, seconds)?;
    }
    println!("  goal: p99 < 50 ms for pages and API, no error");
    server.block_on(app.shutdown());
    Ok(())
}

/// CONNECTIONS clients ask for `requests` in turn for SECONDS; prints what they got.
fn load(
    clients: &tokio::runtime::Runtime,
    requests: &[(&'static str, String)],
    alone: &[Duration],
    base: &str,
    tokens: &[String],
    connections: usize,
    seconds: u64,
) -> anyhow::Result<()> {
    let times: Arc<Mutex<Vec<Vec<Duration>>>> = Arc::new(Mutex::new(vec![Vec::new(); requests.len()]));
    let errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let requests: Arc<Vec<(&'static str, String)>> = Arc::new(requests.to_vec());

    // The clients: one runtime thread of their own, CONNECTIONS tasks, each its own connection.
    let started = Instant::now();
    let cpu_before = process_cpu();
    clients.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let mut tasks = Vec::new();
        for (c, token) in tokens.iter().enumerate().take(connections) {
            let (requests, times, errors, base, token) =
                (requests.clone(), times.clone(), errors.clone(), base.to_string(), token.clone());
            tasks.push(tokio::spawn(async move {
                let client = reqwest::Client::builder().pool_max_idle_per_host(1).build().expect("client");
                let mut turn = c;
                while Instant::now() < deadline {
                    let which = turn % requests.len();
                    turn += 1;
                    let sent = Instant::now();
                    let answer = client.get(format!("{base}{}", requests[which].1)).bearer_auth(&token).send().await;
                    let outcome = match answer {
                        Ok(answer) if answer.status() == 200 => {
                            answer.bytes().await.map(|_| ()).map_err(|e| e.to_string())
                        }
                        Ok(answer) => Err(format!("{} answered {}", requests[which].1, answer.status())),
                        Err(err) => Err(err.to_string()),
                    };
                    let took = sent.elapsed();
                    match outcome {
                        Ok(()) => times.lock().unwrap()[which].push(took),
                        Err(err) => errors.lock().unwrap().push(err),
                    }
                }
            }));
        }
        for task in tasks {
            task.await?;
        }
        anyhow::Ok(())
    })?;
    let wall = started.elapsed().as_secs_f64();
    let cpu = process_cpu() - cpu_before;

    let times = times.lock().unwrap();
    let errors = errors.lock().unwrap();
    let total: usize = times.iter().map(Vec::len).sum();
    println!(
        "  {connections} connections for {wall:.0} s: {total} answers ({:.0}/s), {} errors; CPU {:.2} ms an answer (server and clients)",
        total as f64 / wall,
        errors.len(),
        cpu.as_secs_f64() * 1000.0 / total.max(1) as f64
    );
    for error in errors.iter().take(5) {
        println!("    error: {error}");
    }
    println!("  | request | alone | answers | p50 | p99 | max |");
    println!("  |---|---|---|---|---|---|");
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let row = |name: &str, alone: Option<Duration>, list: &mut Vec<Duration>| {
        list.sort();
        let alone = alone.map(|d| format!("{:.1} ms", ms(d))).unwrap_or_default();
        if list.is_empty() {
            println!("  | {name} | {alone} | 0 | | | |");
            return;
        }
        println!(
            "  | {name} | {alone} | {} | {:.1} ms | {:.1} ms | {:.1} ms |",
            list.len(),
            ms(percentile(list, 0.5)),
            ms(percentile(list, 0.99)),
            ms(list[list.len() - 1])
        );
    };
    let mut all = Vec::new();
    for (((name, _), list), alone) in requests.iter().zip(times.iter()).zip(alone) {
        all.extend(list.iter().copied());
        row(name, Some(*alone), &mut list.clone());
    }
    row("all", None, &mut all);
    Ok(())
}
