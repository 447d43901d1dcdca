//! Benchmark: how fast the MQTT outbox drains a backlog after a broker outage, against a bare
//! rumqttc client publishing the same number of QoS 1 messages (pipelined, 100 in flight) to the
//! same broker in the same run.
//!
//! `cargo run --release --example bench_outbox [EVENTS]`
//!
//! Needs `mosquitto` on PATH (`scripts/setup.sh --test`). Watchpost runs in-process with SQLite in
//! a temporary directory; each event is stored as a camera's recorder stores it and becomes five
//! kept messages (event, last event, description; and, through the alerts task, the camera's alert
//! and the global alert).

use rumqttc::{AsyncClient, Event, MqttOptions, Outgoing, Packet, QoS};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use watchpost::app::{ServeOptions, start};
use watchpost::bus::{BusMessage, EventSummary};

fn broker(port: u16) -> anyhow::Result<Child> {
    let child = Command::new("mosquitto").args(["-p", &port.to_string()]).stderr(Stdio::null()).spawn()?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        anyhow::ensure!(Instant::now() < deadline, "mosquitto did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(child)
}

/// Seconds for a plain client to publish `count` QoS 1 messages and receive every PUBACK.
async fn bare_publish(port: u16, count: usize, payload: &[u8]) -> anyhow::Result<f64> {
    let mut options = MqttOptions::new("bench-bare", "127.0.0.1", port);
    options.set_inflight(100);
    let (client, mut eventloop) = AsyncClient::new(options, 1000);
    let payload = payload.to_vec();
    let start = Instant::now();
    let sender = tokio::spawn(async move {
        for _ in 0..count {
            client.publish("bench/bare", QoS::AtLeastOnce, false, payload.clone()).await.unwrap();
        }
        client
    });
    let mut acked = 0;
    while acked < count {
        match eventloop.poll().await? {
            Event::Incoming(Packet::PubAck(_)) => acked += 1,
            Event::Outgoing(Outgoing::Disconnect) => break,
            _ => {}
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let _ = sender.await?.disconnect().await;
    Ok(elapsed)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let events: i64 = std::env::args().nth(1).map(|s| s.parse()).transpose()?.unwrap_or(500);
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let dir = tempfile::tempdir()?;
    let text = format!(
        "[server]\nbind = \"127.0.0.1:0\"\n[detector]\nenabled = false\n[discovery]\ninterval_minutes = 0\nnode_scan_secs = 0\n[mqtt]\nhost = \"127.0.0.1\"\nport = {port}\n\
         [[cameras]]\nid = \"yard\"\nurl = \"/nonexistent.mp4\"\nenabled = false\nalerts = {{ cooldown_secs = 0 }}\n"
    );
    let env = watchpost::config::Environment { vars: Vec::new(), secrets_dir: "/nonexistent".into() };
    let config = watchpost::config::parse(&text, &env).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let app = start(ServeOptions {
        config,
        config_file: None,
        data_dir: dir.path().to_path_buf(),
        demo: false,
        clock: watchpost::clock::system(),
    })
    .await?;

    eprintln!("started; queueing {events} events while no broker listens");
    // The backlog: events while no broker listens.
    for n in 1..=events {
        let start_ms = chrono::Utc::now().timestamp_millis();
        let new = watchpost::db::NewEvent {
            camera_id: "yard".into(),
            kind: watchpost::model::EventKind::Object,
            label: Some("person".into()),
            score: 0.9,
            bbox: [0.4, 0.3, 0.2, 0.5],
            boxes: vec![[0.4, 0.3, 0.2, 0.5]],
            start_ms,
            snapshot: None,
            severity: watchpost::model::Severity::Low,
            zones: vec!["path".into()],
            frame: (640, 360),
        };
        let id = app.state.db.insert_event(&new).await?;
        app.state.bus.publish(BusMessage::EventStarted(EventSummary {
            id,
            camera: "yard".into(),
            kind: watchpost::model::EventKind::Object,
            label: Some("person".into()),
            score: 0.9,
            start_ms,
            end_ms: None,
            snapshot: None,
            zones: vec!["path".into()],
            description: None,
            title: None,
        }));
        // Let the bridge store each batch: the bus drops what a subscriber falls behind on.
        if n % 100 == 0 || n == events {
            while app.state.bridges.health().await.first().map(|h| h.pending).unwrap_or(0) < n as u64 * 5 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    let expected = events as u64 * 5;
    let sample = app.state.db.outbox_batch("mqtt", 0, 1).await?.remove(0).payload;

    eprintln!("queued {expected} messages; starting the broker");
    // Drain: from the broker starting until the outbox is empty (includes the reconnect wait).
    let mut mosquitto = broker(port)?;
    let started = Instant::now();
    let mut connected_at = None;
    loop {
        let health = app.state.bridges.health().await.remove(0);
        if connected_at.is_none() && health.state == watchpost::bridges::LinkState::Connected {
            connected_at = Some(started.elapsed().as_secs_f64());
        }
        if health.pending == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let total = started.elapsed().as_secs_f64();
    let connected_at = connected_at.unwrap_or(0.0);
    let drain = total - connected_at;
    let bare = bare_publish(port, expected as usize, &sample).await?;
    app.shutdown().await;
    let _ = mosquitto.kill();
    let _ = mosquitto.wait();

    println!("messages: {expected} ({events} events; payload of the first {} bytes)", sample.len());
    println!("reconnect wait (back-off): {connected_at:.2} s");
    println!("outbox drain after connecting: {drain:.3} s = {:.0} msg/s", expected as f64 / drain);
    println!("bare rumqttc, 100 in flight:   {bare:.3} s = {:.0} msg/s", expected as f64 / bare);
    println!("ratio outbox / bare: {:.1}", drain / bare);
    Ok(())
}
