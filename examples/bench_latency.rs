//! Benchmark: alert latency, from the instant a person appears in a camera's picture to the
//! instant Home Assistant (an MQTT subscriber) and Telegram (the Bot API fake) have the alert.
//!
//! `cargo run --release --example bench_latency -- [APPEARANCES] [vlm]` (default 32; needs what
//! `scripts/setup.sh --test` installs: the model, ONNX Runtime, GStreamer's RTSP server, mosquitto)
//!
//! GStreamer's RTSP test server serves a 720p 10 fps H.264 clip in which the field is empty for 6 s
//! and then a person stands in it for 3 s, cut in from one frame to the next, APPEARANCES times. The
//! server tells, for each appearance, the wall-clock time at which the first frame showing the
//! person is due to leave it (`--marks`, from its pipeline clock). Watchpost runs in this process
//! with the camera on that stream at the default 5 fps detection, a private mosquitto and the
//! Telegram fake; an MQTT client subscribed to `watchpost/alerts` and the fake note when the alert
//! arrives. The stages in between come from Watchpost's own bus, observed in-process:
//! the confirming frame's arrival (the event's start: the tracker confirms a person on its third
//! sighting, so at 5 fps at least 0.4 s after the first), the person counted on the camera (the
//! detection confirmed), the event stored (its snapshot written), the alert decided and stored.
//! With `vlm`, a fake vision model (answering at once) describes each event and the camera's
//! alerts wait for the description, as they do when a model is set up: the figure shows what the
//! wait itself costs; a real model adds its own answer time.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use watchpost::app::ServeOptions;
use watchpost::bus::BusMessage;
use watchpost::demo::ClipPlan;

#[path = "support/broker.rs"]
mod broker;
#[path = "support/processes.rs"]
mod processes;
/// The Telegram and vision-model fakes of the integration tests (they speak the real wire
/// protocols); the benchmark uses a few of their functions only.
#[allow(dead_code)]
mod support {
    #[path = "../../tests/common/http_wire.rs"]
    pub mod http_wire;
    #[path = "../../tests/common/telegram.rs"]
    pub mod telegram;
    #[path = "../../tests/common/vlm.rs"]
    pub mod vlm;
}
use processes::{free_port, rtsp_server};

/// One cycle: 6 s of empty field (the last person's track is lost after 3 s and the event ends),
/// then the person, cut in, for 3 s (not long enough to count as standing still).
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

const CAMERA: &str = "door";
const CHAT: i64 = 4242;

/// Unix milliseconds now.
fn now_ms() -> f64 {
    chrono::Utc::now().timestamp_micros() as f64 / 1000.0
}

/// What was seen of one appearance, each as Unix milliseconds.
#[derive(Default, Debug, Clone)]
struct Appearance {
    on_wire: Option<f64>,
    confirming_frame: Option<f64>,
    counted: Option<f64>,
    stored: Option<f64>,
    decided: Option<f64>,
    mqtt: Option<f64>,
    telegram: Option<f64>,
}

/// Everything the observers noted, in arrival order.
#[derive(Default)]
struct Observed {
    /// Appearance index → when its first frame left the RTSP server.
    marks: BTreeMap<usize, f64>,
    clients: usize,
    /// (when, event id, the event's start) of each object event stored.
    started: Vec<(f64, i64, f64)>,
    /// When the camera's person count rose from 0.
    counted: Vec<f64>,
    /// (when, event id) of each alert decided.
    alerts: Vec<(f64, i64)>,
    /// (when, event id) of each alert on `watchpost/alerts`.
    mqtt: Vec<(f64, i64)>,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

// Allocates as Watchpost's own binary does (src/main.rs, src/heap.rs).
#[global_allocator]
static ALLOCATOR: watchpost::heap::Allocator = watchpost::heap::Allocator;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let appearances: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(32);
    let with_model = args.next().as_deref() == Some("vlm");
    anyhow::ensure!(appearances >= 2, "at least 2 appearances");
    let dir = tempfile::tempdir()?;

    // The clip: the cycle, looped without re-encoding.
    let cycle = watchpost::demo::ensure_clip("ffmpeg", &dir.path().join("cycle.mp4"), &CYCLE)?;
    let clip = dir.path().join("appearances.mp4");
    let looped = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-stream_loop"])
        .arg((appearances - 1).to_string())
        .arg("-i")
        .arg(&cycle)
        .args(["-c", "copy", "-f", "mp4"])
        .arg(&clip)
        .status()?;
    anyhow::ensure!(looped.success(), "ffmpeg could not loop the clip");
    let period = f64::from(CYCLE.total_secs());
    let marks: Vec<String> =
        (0..appearances).map(|k| format!("{:.3}", k as f64 * period + f64::from(CYCLE.empty_secs))).collect();

    let observed = Arc::new(Mutex::new(Observed::default()));
    let rtsp_port = free_port()?;
    let (_server, mut server_output) = rtsp_server(&clip, rtsp_port, &[format!("--marks={}", marks.join(","))])?;
    std::thread::spawn({
        let observed = observed.clone();
        move || {
            let mut line = String::new();
            while server_output.read_line(&mut line).unwrap_or(0) > 0 {
                let words: Vec<&str> = line.split_whitespace().collect();
                let mut observed = observed.lock().unwrap();
                match words.as_slice() {
                    ["mark", index, at] => {
                        if let (Ok(index), Ok(at)) = (index.parse(), at.parse()) {
                            observed.marks.insert(index, at);
                        }
                    }
                    ["client"] => observed.clients += 1,
                    _ => {}
                }
                line.clear();
            }
        }
    });
    let broker_port = free_port()?;
    let _broker = broker::mosquitto(dir.path(), broker_port)?;
    let telegram = support::telegram::FakeTelegram::start("123456:latency");
    let model = with_model.then(|| {
        support::vlm::FakeModel::start(
            vec![],
            support::vlm::Reply::openai("A person stands in the middle of the field."),
        )
    });

    let describe = match &model {
        Some(model) => format!(
            "[describe]\nprovider = \"openai\"\nbase_url = \"{}\"\nmodel = \"fake\"\napi_key = \"k\"\nmax_per_hour = 0\n",
            model.base_url()
        ),
        None => String::new(),
    };
    let text = format!(
        r#"
        {describe}
        [mqtt]
        host = "127.0.0.1"
        port = {broker_port}
        [telegram]
        bot_token = "{token}"
        chat_ids = [{CHAT}]
        api_url = "{api}"
        [[cameras]]
        id = "{CAMERA}"
        url = "rtsp://127.0.0.1:{rtsp_port}/stream"
        alerts = {{ cooldown_secs = 0 }}
        "#,
        token = telegram.token,
        api = telegram.api_url(),
    );
    let env = watchpost::config::Environment { vars: Vec::new(), secrets_dir: "/nonexistent".into() };
    let mut config = watchpost::config::parse(&text, &env).map_err(|e| anyhow::anyhow!("config: {e:?}"))?;
    config.validate().map_err(|e| anyhow::anyhow!("config: {e:?}"))?;
    config.server.bind = "127.0.0.1:0".into();
    config.discovery.interval_minutes = 0;
    config.discovery.node_scan_secs = 0;

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let data = tempfile::tempdir()?;
    let seconds = appearances as f64 * period + 6.0;
    runtime.block_on(async {
        // Home Assistant's side: a subscriber to the alerts topic.
        let mut options = rumqttc::MqttOptions::new("latency-probe", "127.0.0.1", broker_port);
        options.set_keep_alive(Duration::from_secs(5)).set_max_packet_size(16 << 20, 1 << 20);
        let (client, mut eventloop) = rumqttc::AsyncClient::new(options, 64);
        client.subscribe("watchpost/alerts", rumqttc::QoS::AtLeastOnce).await?;
        tokio::spawn({
            let observed = observed.clone();
            async move {
                loop {
                    match eventloop.poll().await {
                        Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) => {
                            let at = now_ms();
                            let json: serde_json::Value = serde_json::from_slice(&p.payload).unwrap_or_default();
                            if let Some(id) = json["event"]["id"].as_i64() {
                                observed.lock().unwrap().mqtt.push((at, id));
                            }
                        }
                        Ok(_) => {}
                        Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                    }
                }
            }
        });

        let app = watchpost::app::start(ServeOptions {
            config,
            config_file: None,
            data_dir: data.path().to_path_buf(),
            demo: false,
            clock: watchpost::clock::system(),
        })
        .await?;
        anyhow::ensure!(
            app.state.detector.error.is_none(),
            "the detector did not start: {:?}",
            app.state.detector.error
        );
        let mut bus = app.state.bus.subscribe();
        let watch = tokio::spawn({
            let observed = observed.clone();
            async move {
                let mut people = 0;
                loop {
                    let message = match bus.recv().await {
                        Ok(message) => message,
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                            eprintln!("the probe missed {n} bus messages");
                            continue;
                        }
                        Err(_) => break,
                    };
                    let at = now_ms();
                    let mut observed = observed.lock().unwrap();
                    match message {
                        BusMessage::Objects { counts, .. } => {
                            let now = counts.get("person").copied().unwrap_or(0);
                            if people == 0 && now > 0 {
                                observed.counted.push(at);
                            }
                            people = now;
                        }
                        BusMessage::EventStarted(event) if event.label.as_deref() == Some("person") => {
                            observed.started.push((at, event.id, event.start_ms as f64));
                        }
                        BusMessage::Alert { event_id } => observed.alerts.push((at, event_id)),
                        _ => {}
                    }
                }
            }
        });
        println!(
            "{appearances} appearances, one every {period} s ({seconds:.0} s){}",
            if with_model { ", alerts waiting for a description" } else { "" }
        );
        tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
        watch.abort();
        app.shutdown().await;
        anyhow::Ok(())
    })?;

    // Each appearance gets what happened between its first frame and the next appearance's.
    let observed = observed.lock().unwrap();
    if observed.clients != 1 {
        println!("  note: the camera connected {} times (marks restart per connection)", observed.clients);
    }
    let photos: Vec<f64> =
        telegram.sent_by("sendPhoto").iter().filter(|s| s.chat_id == CHAT).map(|s| s.at_ms as f64).collect();
    let mut rows = Vec::new();
    let mut events_seen = 0;
    for k in 0..appearances {
        let Some(&on_wire) = observed.marks.get(&k) else { continue };
        let until = observed.marks.get(&(k + 1)).copied().unwrap_or(f64::MAX);
        let within = |at: f64| at >= on_wire && at < until;
        let mut row = Appearance { on_wire: Some(on_wire), ..Default::default() };
        if let Some(&(at, id, start)) = observed.started.iter().find(|(at, ..)| within(*at)) {
            events_seen += observed.started.iter().filter(|(at, ..)| within(*at)).count();
            row.stored = Some(at);
            row.confirming_frame = Some(start);
            row.decided = observed.alerts.iter().find(|(_, e)| *e == id).map(|(at, _)| *at);
            row.mqtt = observed.mqtt.iter().find(|(_, e)| *e == id).map(|(at, _)| *at);
        }
        row.counted = observed.counted.iter().copied().find(|at| within(*at));
        row.telegram = photos.iter().copied().find(|at| within(*at));
        rows.push(row);
    }
    println!(
        "  {} appearances on the wire, {} person events ({} alerts, {} on MQTT, {} Telegram photos)",
        rows.len(),
        events_seen,
        observed.alerts.len(),
        observed.mqtt.len(),
        photos.len()
    );
    type Stage = fn(&Appearance) -> Option<f64>;
    let stages: [(&str, Stage); 6] = [
        ("confirming frame received", |a| a.confirming_frame),
        ("person counted (detection)", |a| a.counted),
        ("event stored", |a| a.stored),
        ("alert decided and stored", |a| a.decided),
        ("MQTT alert received", |a| a.mqtt),
        ("Telegram photo received", |a| a.telegram),
    ];
    println!("  seconds after the person's first frame left the RTSP server:");
    println!("  {:<28} {:>6} {:>7} {:>7} {:>7} {:>7}", "stage", "count", "min", "p50", "p95", "max");
    for (name, stage) in stages {
        let mut delays: Vec<f64> =
            rows.iter().filter_map(|a| Some((stage(a)? - a.on_wire?) / 1000.0)).collect::<Vec<_>>();
        delays.sort_by(f64::total_cmp);
        if delays.is_empty() {
            println!("  {name:<28} {:>6}", 0);
            continue;
        }
        println!(
            "  {name:<28} {:>6} {:>7.3} {:>7.3} {:>7.3} {:>7.3}",
            delays.len(),
            delays[0],
            percentile(&delays, 0.5),
            percentile(&delays, 0.95),
            delays[delays.len() - 1]
        );
    }
    println!("  goals at 5 fps: MQTT p50 < 0.8 s, p95 < 1.2 s");
    Ok(())
}
