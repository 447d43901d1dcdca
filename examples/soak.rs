//! Soak with faults: Watchpost (the release binary, as a process of its own) watches a camera on
//! GStreamer's RTSP server, sends alerts to a private mosquitto and to the Telegram Bot API fake,
//! for MINUTES, while the faults a house sees in a week are made to happen; then every event and
//! every alert is checked. Run by `scripts/soak.sh [MINUTES]` (60 for the record, 5 in CI), which
//! builds it, puts the data directory on a small tmpfs of its own (so the disk can be filled) and
//! passes it as DATA.
//!
//! `soak MINUTES DATA` (from the project's root; `target/release/watchpost` must be built)
//!
//! The camera shows a person cut into an empty field for 3 s every 9 s, on one side of it and then
//! on the other; the RTSP server tells when each appearance left it. The faults, at fixed fractions
//! of the run (a window is 60 s, or a tenth of the run when that is shorter): the RTSP server
//! killed and restarted every 4 minutes (once in a short run); Watchpost killed with SIGKILL and
//! started again; the broker stopped for a window; the Bot API answering 500 for a window and then
//! 429 (retry after 5 s) for another; the data directory's disk filled for a window; the database
//! locked by another writer for 5 s, twice. The last fifth of the run has no fault, so what waits
//! can be delivered.
//!
//! Pass: no appearance makes two events; every appearance away from a fault window that loses
//! pictures (Watchpost down, the RTSP server down, the disk full, the database locked) makes one
//! event; every alert reaches MQTT and Telegram, once each (MQTT messages carry a delivery id, so
//! a QoS 1 resend is not counted twice) and no delivery is left waiting or failed; no panic in the
//! log; Watchpost's resident memory grows less than 10 % and its open files stay level after the
//! first 10 minutes (a fifth of the run when shorter), within one process lifetime.

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use watchpost::demo::ClipPlan;

#[path = "support/broker.rs"]
mod broker;
/// Only the resident memory figure: the ffmpeg processes are Watchpost's children, not ours.
#[path = "support/memory.rs"]
#[allow(dead_code)]
mod memory;
#[path = "support/processes.rs"]
mod processes;
/// The Telegram fake of the integration tests (it speaks the Bot API's wire protocol).
#[allow(dead_code)]
mod support {
    #[path = "../../tests/common/http_wire.rs"]
    pub mod http_wire;
    #[path = "../../tests/common/telegram.rs"]
    pub mod telegram;
}
use processes::{Process, free_port, rtsp_server};
use support::telegram::{Failure, FakeTelegram};

const CYCLE: ClipPlan = ClipPlan {
    empty_secs: 6,
    walk_secs: 0,
    stand_secs: 3,
    tail_secs: 0,
    width: 1280,
    height: 720,
    fps: 10,
    noise: 6,
    with_person: true,
};
/// Appearances in the clip: 4.5 minutes; the stream then ends and the camera reconnects.
const CYCLES: usize = 30;
const CHAT: i64 = 777;

fn now_ms() -> f64 {
    chrono::Utc::now().timestamp_millis() as f64
}

/// What the observers noted while the run went on.
#[derive(Default)]
struct Observed {
    /// When each appearance's first frame left the RTSP server (every connection's).
    marks: Vec<f64>,
    /// (event id, delivery id) of every message on `watchpost/alerts`.
    mqtt: Vec<(i64, String)>,
    /// (seconds into the run, Watchpost's pid, resident MiB, open files).
    samples: Vec<(f64, u32, f64, usize)>,
    /// When Watchpost was told to stop (Unix ms).
    stopped_ms: f64,
}

/// A fault and when it happened: pictures lost from `from` to `to` (Unix ms) when `loses`.
struct Fault {
    name: String,
    from: f64,
    to: f64,
    loses_pictures: bool,
}

struct Rtsp {
    clip: std::path::PathBuf,
    port: u16,
    server: Option<Process>,
    observed: Arc<Mutex<Observed>>,
}

impl Rtsp {
    fn start(&mut self) -> anyhow::Result<()> {
        let period = f64::from(CYCLE.total_secs());
        let marks: Vec<String> =
            (0..CYCLES).map(|k| format!("{:.3}", k as f64 * period + f64::from(CYCLE.empty_secs))).collect();
        let (server, mut output) = rtsp_server(&self.clip, self.port, &[format!("--marks={}", marks.join(","))])?;
        let observed = self.observed.clone();
        std::thread::spawn(move || {
            let mut line = String::new();
            while output.read_line(&mut line).unwrap_or(0) > 0 {
                if let ["mark", _, at] = line.split_whitespace().collect::<Vec<_>>().as_slice()
                    && let Ok(at) = at.parse()
                {
                    observed.lock().unwrap().marks.push(at);
                }
                line.clear();
            }
        });
        self.server = Some(server);
        Ok(())
    }

    fn stop(&mut self) {
        self.server = None;
    }
}

struct Watchpost {
    binary: std::path::PathBuf,
    config: std::path::PathBuf,
    data: std::path::PathBuf,
    log: std::path::PathBuf,
    child: Option<std::process::Child>,
}

impl Watchpost {
    fn start(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log)?;
        let child = Command::new(&self.binary)
            .args(["serve", "--config"])
            .arg(&self.config)
            .arg("--data-dir")
            .arg(&self.data)
            .env("WATCHPOST_LOG", std::env::var("WATCHPOST_LOG").unwrap_or_else(|_| "info".into()))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        self.child = Some(child);
        Ok(())
    }

    fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    fn signal(&mut self, signal: i32) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(child.id() as i32, signal) };
            let _ = child.wait();
        }
    }
}

/// A soak that ends early (an error) leaves no Watchpost running on the mounted data directory.
impl Drop for Watchpost {
    fn drop(&mut self) {
        self.signal(libc::SIGKILL);
    }
}

/// Fills the file system under `dir` (writes until it refuses), for `hold`, then frees it.
fn fill_disk(dir: &std::path::Path, hold: Duration) -> anyhow::Result<u64> {
    use std::io::Write;
    let path = dir.join("soak-filler");
    let mut file = std::fs::File::create(&path)?;
    let block = vec![0xA5u8; 1 << 20];
    let mut written = 0u64;
    while file.write_all(&block).is_ok() {
        written += block.len() as u64;
    }
    let _ = file.flush();
    std::thread::sleep(hold);
    drop(file);
    std::fs::remove_file(&path)?;
    Ok(written)
}

/// Holds SQLite's write lock on `database` for `hold`, as another program writing would.
fn lock_database(database: &std::path::Path, hold: Duration) -> anyhow::Result<()> {
    let script = format!(
        "import sqlite3, time\nc = sqlite3.connect({:?}, isolation_level=None, timeout=30)\n\
         c.execute('BEGIN IMMEDIATE')\ntime.sleep({})\nc.execute('COMMIT')\n",
        database.display().to_string(),
        hold.as_secs_f64()
    );
    let status = Command::new("python3").arg("-c").arg(script).status()?;
    anyhow::ensure!(status.success(), "could not lock the database");
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let minutes: f64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(60.0);
    let data: std::path::PathBuf =
        args.next().map(Into::into).ok_or_else(|| anyhow::anyhow!("usage: soak MINUTES DATA_DIR"))?;
    let total = minutes * 60.0;
    let window = (total / 10.0).min(60.0);
    let work = tempfile::tempdir()?;
    let binary = std::env::current_exe()?
        .parent()
        .and_then(|examples| examples.parent())
        .map(|release| release.join("watchpost"))
        .filter(|p| p.is_file())
        .ok_or_else(|| anyhow::anyhow!("build target/release/watchpost first (scripts/soak.sh does)"))?;

    // The clip: the latency benchmark's cycle, and the same mirrored (the person stands on the
    // other side of the field), in turn: nobody comes back onto the very same pixels.
    let cycle = watchpost::demo::ensure_clip("ffmpeg", &work.path().join("cycle.mp4"), &CYCLE)?;
    let mirrored = work.path().join("mirrored.mp4");
    let flipped = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i"])
        .arg(&cycle)
        // As ensure_clip encodes: no B-frames, a key frame every 2 s.
        .args(["-vf", "hflip", "-c:v", "libx264", "-preset", "veryfast", "-crf", "26", "-bf", "0", "-g"])
        .arg((CYCLE.fps * 2).to_string())
        .args(["-f", "mp4"])
        .arg(&mirrored)
        .status()?;
    anyhow::ensure!(flipped.success(), "ffmpeg could not mirror the clip");
    let list = work.path().join("cycles.txt");
    let entries: Vec<String> =
        (0..CYCLES).map(|k| format!("file '{}'", if k % 2 == 0 { &cycle } else { &mirrored }.display())).collect();
    std::fs::write(&list, entries.join("\n") + "\n")?;
    let clip = work.path().join("soak.mp4");
    let looped = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-f", "concat", "-safe", "0", "-i"])
        .arg(&list)
        .args(["-c", "copy", "-f", "mp4"])
        .arg(&clip)
        .status()?;
    anyhow::ensure!(looped.success(), "ffmpeg could not join the cycles");

    let observed = Arc::new(Mutex::new(Observed::default()));
    let mut rtsp = Rtsp { clip, port: free_port()?, server: None, observed: observed.clone() };
    rtsp.start()?;
    let broker_port = free_port()?;
    let broker_dir = work.path().join("broker");
    std::fs::create_dir_all(&broker_dir)?;
    let mut mosquitto = Some(broker::mosquitto(&broker_dir, broker_port)?);
    let telegram = FakeTelegram::start("424242:soak");

    let config = work.path().join("watchpost.toml");
    std::fs::write(
        &config,
        format!(
            r#"[server]
bind = "127.0.0.1:{web}"
[discovery]
interval_minutes = 0
node_scan_secs = 0
[ffmpeg]
max_retry_delay_secs = 4
[mqtt]
host = "127.0.0.1"
port = {broker_port}
[telegram]
bot_token = "{token}"
chat_ids = [{CHAT}]
api_url = "{api}"
[[cameras]]
id = "door"
url = "rtsp://127.0.0.1:{rtsp}/stream"
alerts = {{ cooldown_secs = 0 }}
"#,
            web = free_port()?,
            token = telegram.token,
            api = telegram.api_url(),
            rtsp = rtsp.port,
        ),
    )?;
    let log = work.path().join("watchpost.log");
    let mut watchpost = Watchpost { binary, config, data: data.clone(), log: log.clone(), child: None };
    watchpost.start()?;

    // Home Assistant's side: a persistent QoS 1 session on the alerts topic, so messages sent
    // while the broker or this client was away still arrive.
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    runtime.spawn({
        let observed = observed.clone();
        async move {
            let mut options = rumqttc::MqttOptions::new("soak-home-assistant", "127.0.0.1", broker_port);
            options.set_clean_session(false).set_keep_alive(Duration::from_secs(5));
            let (client, mut eventloop) = rumqttc::AsyncClient::new(options, 64);
            loop {
                match eventloop.poll().await {
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(ack))) if !ack.session_present => {
                        let _ = client.subscribe("watchpost/alerts", rumqttc::QoS::AtLeastOnce).await;
                    }
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) => {
                        let json: serde_json::Value = serde_json::from_slice(&p.payload).unwrap_or_default();
                        if let Some(event) = json["event"]["id"].as_i64() {
                            let delivery = json["id"].to_string();
                            observed.lock().unwrap().mqtt.push((event, delivery));
                        }
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
                }
            }
        }
    });

    // The faults, in the order they come.
    let mut plan: Vec<(f64, &str)> = vec![
        (0.15 * total, "kill"),
        (0.30 * total, "broker"),
        (0.45 * total, "bot"),
        (0.60 * total, "disk"),
        (0.72 * total, "lock"),
        (0.72 * total + 20.0, "lock"),
    ];
    let mut at = 120.0;
    while at < 0.8 * total {
        plan.push((at, "rtsp"));
        at += 240.0;
    }
    plan.sort_by(|a, b| a.0.total_cmp(&b.0));
    println!(
        "soak: {minutes} min, faults at {}",
        plan.iter().map(|(at, what)| format!("{what} {at:.0} s")).collect::<Vec<_>>().join(", ")
    );

    let started = Instant::now();
    let mut faults: Vec<Fault> = Vec::new();
    let mut refused_lock: Vec<String> = Vec::new();
    let mut next = 0;
    let mut last_sample = -10.0;
    let database = data.join("watchpost.db");
    while started.elapsed().as_secs_f64() < total {
        let elapsed = started.elapsed().as_secs_f64();
        if elapsed - last_sample >= 10.0 {
            last_sample = elapsed;
            if let Some(pid) = watchpost.pid() {
                let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0);
                let rss = memory::rss_mib(&pid.to_string());
                observed.lock().unwrap().samples.push((elapsed, pid, rss, fds));
            }
        }
        if next < plan.len() && elapsed >= plan[next].0 {
            let from = now_ms();
            let (name, loses_pictures) = match plan[next].1 {
                "kill" => {
                    watchpost.signal(libc::SIGKILL);
                    std::thread::sleep(Duration::from_secs(3));
                    watchpost.start()?;
                    ("Watchpost killed (SIGKILL) and started again after 3 s".to_string(), true)
                }
                "rtsp" => {
                    rtsp.stop();
                    std::thread::sleep(Duration::from_secs(5));
                    rtsp.start()?;
                    ("RTSP server killed, back after 5 s".to_string(), true)
                }
                "broker" => {
                    drop(mosquitto.take());
                    std::thread::sleep(Duration::from_secs_f64(window));
                    mosquitto = Some(broker::mosquitto(&broker_dir, broker_port)?);
                    (format!("broker stopped for {window:.0} s"), false)
                }
                "bot" => {
                    telegram.fail_next(&[Failure::ServerError; 10_000]);
                    std::thread::sleep(Duration::from_secs_f64(window));
                    telegram.clear_failures();
                    telegram.fail_next(&[Failure::TooManyRequests { retry_after: 5 }; 10_000]);
                    std::thread::sleep(Duration::from_secs_f64(window));
                    telegram.clear_failures();
                    (format!("Bot API answered 500 for {window:.0} s, then 429 for {window:.0} s"), false)
                }
                "disk" => {
                    let filled = fill_disk(&data, Duration::from_secs_f64(window))?;
                    (format!("disk full for {window:.0} s ({} MiB written to fill it)", filled >> 20), true)
                }
                _ => match lock_database(&database, Duration::from_secs(5)) {
                    Ok(()) => ("database locked by another writer for 5 s".to_string(), true),
                    Err(err) => {
                        // Watchpost itself held the write lock for the 30 s another writer waits.
                        refused_lock.push(format!("another writer could not lock the database: {err}"));
                        ("database lock refused to another writer".to_string(), true)
                    }
                },
            };
            println!("  {:>5.0} s  {name}", elapsed);
            faults.push(Fault { name, from, to: now_ms(), loses_pictures });
            next += 1;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    observed.lock().unwrap().stopped_ms = now_ms();
    watchpost.signal(libc::SIGTERM);
    drop(mosquitto);
    rtsp.stop();
    let observed = observed.lock().unwrap();
    let mut failures = check(&data, &log, &observed, &faults, &telegram, total, &runtime)?;
    failures.extend(refused_lock);
    if failures.is_empty() {
        println!("PASS");
        Ok(())
    } else {
        for failure in &failures {
            println!("FAIL: {failure}");
        }
        println!("the log: {}", log.display());
        // Keep the log for reading.
        let kept = std::env::temp_dir().join("watchpost-soak.log");
        std::fs::copy(&log, &kept)?;
        // And the database, to see what was left waiting.
        for file in ["watchpost.db", "watchpost.db-wal"] {
            let _ = std::fs::copy(data.join(file), std::env::temp_dir().join(format!("soak-{file}")));
        }
        anyhow::bail!("{} checks failed (log kept at {})", failures.len(), kept.display())
    }
}

/// Checks the run's outcome; returns what failed.
fn check(
    data: &std::path::Path,
    log: &std::path::Path,
    observed: &Observed,
    faults: &[Fault],
    telegram: &FakeTelegram,
    total: f64,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<Vec<String>> {
    let mut failures = Vec::new();
    let url = format!("sqlite://{}/watchpost.db?mode=ro", data.display());
    let (events, deliveries) = runtime.block_on(async {
        use sea_orm::{ConnectionTrait, Statement};
        let conn = sea_orm::Database::connect(&url).await?;
        let rows = conn
            .query_all_raw(Statement::from_string(
                conn.get_database_backend(),
                "SELECT id, start_ms, end_ms, alerted_ms FROM events WHERE label = 'person' ORDER BY id",
            ))
            .await?;
        let events: Vec<(i64, f64, bool, bool)> = rows
            .iter()
            .map(|r| {
                Ok((
                    r.try_get::<i64>("", "id")?,
                    r.try_get::<i64>("", "start_ms")? as f64,
                    r.try_get::<Option<i64>>("", "alerted_ms")?.is_some(),
                    r.try_get::<Option<i64>>("", "end_ms")?.is_some(),
                ))
            })
            .collect::<Result<_, sea_orm::DbErr>>()?;
        let rows = conn
            .query_all_raw(Statement::from_string(
                conn.get_database_backend(),
                "SELECT channel, status AS state, count(*) AS n FROM alert_deliveries GROUP BY channel, status",
            ))
            .await?;
        let deliveries: Vec<(String, String, i64)> = rows
            .iter()
            .map(|r| Ok((r.try_get("", "channel")?, r.try_get("", "state")?, r.try_get("", "n")?)))
            .collect::<Result<_, sea_orm::DbErr>>()?;
        conn.close().await?;
        anyhow::Ok((events, deliveries))
    })?;

    // Events: one per appearance, none twice; the appearances a fault hid may have none.
    let excused = |at: f64| faults.iter().any(|f| f.loses_pictures && at >= f.from - 2_000.0 && at <= f.to + 20_000.0);
    let (mut clean, mut made, mut missing, mut doubled) = (0, 0, Vec::new(), Vec::new());
    let mut matched = BTreeSet::new();
    for &mark in &observed.marks {
        let found: Vec<i64> =
            events.iter().filter(|(_, start, ..)| *start >= mark && *start <= mark + 4_000.0).map(|e| e.0).collect();
        matched.extend(found.iter().copied());
        if found.len() > 1 {
            doubled.push(found.clone());
        }
        if !excused(mark) {
            clean += 1;
            if found.is_empty() {
                missing.push(mark);
            } else {
                made += 1;
            }
        }
    }
    let stray = events.len() - matched.len();
    println!(
        "events: {} appearances, {clean} away from faults, {made} of them made an event; {} person events, {stray} matching no appearance",
        observed.marks.len(),
        events.len()
    );
    if !missing.is_empty() {
        failures.push(format!("{} appearances away from faults made no event (at {:?})", missing.len(), missing));
    }
    if !doubled.is_empty() {
        failures.push(format!("appearances made more than one event: {doubled:?}"));
    }
    // Every event ends (one still going when Watchpost stopped is closed at its next start).
    let open: Vec<i64> = events.iter().filter(|e| !e.3 && e.1 < observed.stopped_ms - 60_000.0).map(|e| e.0).collect();
    if !open.is_empty() {
        failures.push(format!("events never closed: {open:?}"));
    }

    // Alerts: on MQTT and Telegram, once each.
    let alerted: Vec<i64> = events.iter().filter(|e| e.2).map(|e| e.0).collect();
    let mut mqtt: BTreeMap<i64, BTreeSet<&str>> = BTreeMap::new();
    for (event, delivery) in &observed.mqtt {
        mqtt.entry(*event).or_default().insert(delivery);
    }
    let mut telegram_alerts: BTreeMap<i64, usize> = BTreeMap::new();
    // A photo, or a text when the snapshot could not be written (the disk was full).
    for sent in telegram.sent_by("sendPhoto").into_iter().chain(telegram.sent_by("sendMessage")) {
        let data = sent.reply_markup.as_ref().map(|m| m.to_string()).unwrap_or_default();
        if let Some(id) = data
            .split("resolve:")
            .nth(1)
            .and_then(|rest| rest.chars().take_while(char::is_ascii_digit).collect::<String>().parse::<i64>().ok())
        {
            *telegram_alerts.entry(id).or_default() += 1;
        }
    }
    let mqtt_once = alerted.iter().filter(|id| mqtt.get(id).map(BTreeSet::len) == Some(1)).count();
    let telegram_once = alerted.iter().filter(|id| telegram_alerts.get(id) == Some(&1)).count();
    println!(
        "alerts: {} events alerted; on MQTT once: {mqtt_once}; on Telegram once: {telegram_once}; Bot API failures answered: {}",
        alerted.len(),
        telegram.refused()
    );
    println!("deliveries: {deliveries:?}");
    for id in &alerted {
        let on_mqtt = mqtt.get(id).map_or(0, BTreeSet::len);
        let on_telegram = telegram_alerts.get(id).copied().unwrap_or(0);
        if on_mqtt != 1 || on_telegram != 1 {
            println!("  event {id}: {on_mqtt} MQTT deliveries, {on_telegram} Telegram messages");
        }
    }
    if mqtt_once != alerted.len() || telegram_once != alerted.len() {
        failures.push("an alert did not arrive exactly once on every channel".into());
    }
    if deliveries.iter().any(|(_, state, _)| state != "sent") {
        failures.push(format!("deliveries left unsent: {deliveries:?}"));
    }
    if alerted.is_empty() {
        failures.push("no alert at all".into());
    }

    // The log: no panic.
    let text = std::fs::read_to_string(log)?;
    let panics = text.lines().filter(|l| l.contains("panicked")).count();
    println!("log: {} lines, {panics} panics", text.lines().count());
    if panics > 0 {
        failures.push(format!("{panics} panics in the log"));
    }

    // Memory and open files in the last process lifetime, from 10 minutes (or a fifth) on.
    let settle = (total / 5.0).min(600.0);
    let last_pid = observed.samples.last().map(|s| s.1);
    let life: Vec<&(f64, u32, f64, usize)> =
        observed.samples.iter().filter(|s| Some(s.1) == last_pid && s.0 >= settle).collect();
    if let (Some(first), Some(last)) = (life.first(), life.last()) {
        let peak_fds = life.iter().map(|s| s.3).max().unwrap_or(0);
        println!(
            "watchpost: resident {:.1} MiB at {:.0} s, {:.1} MiB at the end ({:+.1} %); open files {} then {} (at most {peak_fds})",
            first.2,
            first.0,
            last.2,
            (last.2 / first.2 - 1.0) * 100.0,
            first.3,
            last.3
        );
        // The curve, every 5 minutes (a tenth of a shorter run): a leak climbs, a heap settles.
        let step = (total / 10.0).min(300.0);
        let mut next = first.0;
        let mut curve = Vec::new();
        for sample in &life {
            if sample.0 >= next {
                curve.push(format!("{:.0} s {:.1}", sample.0, sample.2));
                next = sample.0 + step;
            }
        }
        println!("watchpost: resident MiB over the run: {}", curve.join(", "));
        if last.2 > first.2 * 1.10 {
            failures.push("resident memory grew by more than 10 %".into());
        }
        if last.3 > first.3 + 5 {
            failures.push("open files grew".into());
        }
    } else {
        failures.push("no memory samples after the settling time".into());
    }
    for fault in faults {
        println!("fault: {} ({:.0} s)", fault.name, (fault.to - fault.from) / 1000.0);
    }
    Ok(failures)
}
