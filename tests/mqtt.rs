//! Home Assistant over MQTT against a real mosquitto started by each test: discovery, state and
//! commands while a real stream plays, delivery through a broker outage, the last will when
//! Watchpost is killed, and connection problems as the Integrations page explains them.

mod common;

use common::mqtt::{Mosquitto, Received, Watcher};
use common::*;
use std::collections::{BTreeSet, HashSet};
use std::time::Duration;
use watchpost::bus::{BusMessage, EventSummary};

fn mqtt_toml(port: u16) -> String {
    format!("[mqtt]\nhost = \"127.0.0.1\"\nport = {port}\npicture_interval_secs = 2\n")
}

fn is_jpeg(message: &Received) -> bool {
    message.payload.starts_with(&[0xFF, 0xD8]) && message.payload.len() > 2_000
}

/// The latest non-empty discovery configs, by topic.
fn configs(watcher: &Watcher) -> Vec<(String, serde_json::Value)> {
    let mut latest = std::collections::BTreeMap::new();
    for message in watcher.all().into_iter().filter(|m| m.topic.starts_with("homeassistant/")) {
        latest.insert(message.topic.clone(), message);
    }
    latest.into_values().filter(|m| !m.payload.is_empty()).map(|m| (m.topic.clone(), m.json())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn home_assistant_gets_every_entity_live_state_and_working_switches() {
    let Some(detector) = detector_toml() else { return };
    let broker = Mosquitto::start();
    let watcher = Watcher::start(broker.port, &["homeassistant/#", "watchpost/#"]).await;
    // Motion ends 3 s after the last movement (the looping clip would never be quiet for 10 s).
    let camera = format!(
        "[[cameras]]\nid = \"field\"\nname = \"Field\"\nurl = \"{}\"\nmotion.quiet_secs = 3\nrecord.mode = \"events\"\n",
        test_clip().display()
    );
    let config = format!("{detector}{}{camera}", mqtt_toml(broker.port));
    let app = TestApp::start(&config).await;
    watcher.wait_for("watchpost/status", "online", Duration::from_secs(20)).await;

    // The person walks through the field (8 s in): motion, a count, an event, an alert, a snapshot.
    let event = wait_for("the person event to end", Duration::from_secs(60), || async {
        app.events("camera=field").await.into_iter().find(|e| !e["end"].is_null())
    })
    .await;
    watcher.wait_for("watchpost/field/motion", "OFF", Duration::from_secs(40)).await;
    let counts: Vec<String> = watcher.on("watchpost/field/person").iter().map(Received::text).collect();
    assert_eq!(counts, ["0", "1", "0"], "the count follows the stream");
    let motion: Vec<String> = watcher.on("watchpost/field/motion").iter().map(Received::text).collect();
    assert!(motion.windows(2).any(|w| w == ["ON", "OFF"]), "{motion:?}");
    let events: Vec<serde_json::Value> = watcher.on("watchpost/events").iter().map(Received::json).collect();
    let kinds: Vec<&str> = events.iter().map(|m| m["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["new", "end"], "{events:?}");
    assert!(events.iter().all(|m| m["event"]["id"] == event["id"] && m["id"].is_i64()), "{events:?}");
    assert_eq!(events[0]["event"]["label"], "person");
    assert!(events[1]["event"]["description"].as_str().unwrap().starts_with("Person on Field"), "{events:?}");
    let alert = watcher.on("watchpost/field/alert").first().map(Received::json).expect("an alert for the person");
    assert_eq!(alert["event_type"], "medium");
    assert_eq!(alert["event"]["id"], event["id"]);
    let clip = alert["event"]["clip_url"].as_str().expect("a recording camera's event names its clip");
    assert!(clip.ends_with(&format!("/api/events/{}/clip.mp4", event["id"])), "{clip}");
    assert!(watcher.on("watchpost/field/person/snapshot").iter().any(is_jpeg), "the event snapshot as JPEG");
    assert!(watcher.on("watchpost/field/picture").iter().any(is_jpeg), "the camera picture as JPEG");

    // Discovery: every entity complete, ids unique, and every topic it names is one Watchpost uses.
    let configs = configs(&watcher);
    let ids: Vec<&str> = configs.iter().map(|(_, c)| c["unique_id"].as_str().expect("unique_id")).collect();
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), ids.len(), "unique ids are unique: {ids:?}");
    let camera_entities: Vec<&str> = configs
        .iter()
        .filter(|(topic, _)| topic.contains("/watchpost_field/"))
        .map(|(topic, _)| topic.split('/').nth(3).unwrap())
        .collect();
    for wanted in [
        "motion",
        "status",
        "picture",
        "detect",
        "alerts",
        "record",
        "mute_until",
        "alert",
        "last_event",
        "description",
        "person_occupancy",
        "person_count",
        "person_snapshot",
    ] {
        assert!(camera_entities.contains(&wanted), "no {wanted} entity in {camera_entities:?}");
    }
    let seen: HashSet<String> = watcher.all().into_iter().map(|m| m.topic).collect();
    for (topic, config) in &configs {
        assert!(config["name"].is_string() && config["origin"]["name"] == "Watchpost", "{topic}: {config}");
        let device = &config["device"];
        assert!(device["identifiers"][0].is_string() && device["manufacturer"] == "Watchpost", "{topic}: {config}");
        if topic.contains("/watchpost_field/") {
            assert_eq!(device["configuration_url"], format!("{}/cameras/field", app.base));
            assert_eq!(config["availability_topic"], "watchpost/status");
        }
        for key in ["state_topic", "json_attributes_topic", "image_topic", "topic", "availability_topic"] {
            if let Some(named) = config[key].as_str() {
                assert!(seen.contains(named), "{topic} names {key} {named}, which Watchpost never published");
            }
        }
    }
    assert_eq!(event["label"], "person");
    // When Home Assistant restarts it says `online`, and gets every config again.
    let sent =
        watcher.all().iter().filter(|m| m.topic.starts_with("homeassistant/") && m.topic.ends_with("/config")).count();
    watcher.publish("homeassistant/status", "online").await;
    wait_for("the configs again", Duration::from_secs(10), || async {
        let now = watcher
            .all()
            .iter()
            .filter(|m| m.topic.starts_with("homeassistant/") && m.topic.ends_with("/config"))
            .count();
        (now >= sent + configs.len()).then_some(())
    })
    .await;

    // Every switch Home Assistant shows answers its command and echoes the new state.
    let metrics_inferences = || async {
        let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
        metrics
            .lines()
            .find_map(|l| l.strip_prefix("watchpost_detector_inferences_total "))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap()
    };
    let mut states = Vec::new();
    for (_, config) in configs.iter().filter(|(_, c)| c["command_topic"].is_string()) {
        let command = config["command_topic"].as_str().unwrap();
        let state = config["state_topic"].as_str().unwrap();
        watcher.publish(command, "OFF").await;
        watcher.wait_for(state, "OFF", Duration::from_secs(10)).await;
        states.push(state);
    }
    // The new states are retained: a client that subscribes now (Home Assistant after a restart)
    // gets each of them at once, flagged as retained.
    let late = Watcher::start(broker.port, &states).await;
    for state in &states {
        late.wait_for(state, "OFF", Duration::from_secs(10)).await;
        assert!(late.on(state).iter().all(|m| m.retain), "{state} is published retained");
    }
    let camera = app.get_json("/api/cameras/field").await;
    assert_eq!(camera["controls"]["detect"], false, "{camera}");
    assert_eq!(camera["controls"]["alerts"], false, "{camera}");
    assert_eq!(camera["controls"]["record"], false, "{camera}");
    // Detection really stops: no model run over 60 more frames (12 s of stream at 5 fps), longer
    // than the 10 s full-frame re-check; counted in frames, so a busy machine waits longer.
    let before = metrics_inferences().await;
    let frames = || async { app.get_json("/api/cameras/field").await["frames"].as_u64().unwrap_or(0) };
    let first = frames().await;
    wait_for("60 more frames", Duration::from_secs(60), || async { (frames().await >= first + 60).then_some(()) })
        .await;
    assert_eq!(metrics_inferences().await, before, "detection is off");

    watcher.publish("watchpost/field/mute_until/set", "90").await;
    let muted = wait_for("the mute echo", Duration::from_secs(10), || async {
        watcher.last("watchpost/field/mute_until/state").filter(|v| !v.is_empty())
    })
    .await;
    let until = chrono::DateTime::parse_from_rfc3339(&muted).expect("an RFC 3339 time");
    let minutes = (until.timestamp() - chrono::Utc::now().timestamp()) / 60;
    assert!((88..=90).contains(&minutes), "muted for {minutes} min");

    // The switches survive a restart, and Home Assistant is told their state again.
    let echoes = watcher.on("watchpost/field/detect/state").len();
    let data = app.shutdown().await;
    watcher.wait_for("watchpost/status", "offline", Duration::from_secs(10)).await;
    let app = TestApp::start_in(&config, data).await;
    watcher.wait_for("watchpost/status", "online", Duration::from_secs(20)).await;
    wait_for("detect/state sent again", Duration::from_secs(10), || async {
        (watcher.on("watchpost/field/detect/state").len() > echoes).then_some(())
    })
    .await;
    assert_eq!(watcher.last("watchpost/field/detect/state").as_deref(), Some("OFF"));
    assert_eq!(app.get_json("/api/cameras/field").await["controls"]["detect"], false);

    // A camera that is gone takes its entities with it (an empty retained config each), even when
    // the run before left one of its states undelivered in the outbox.
    let data = app.shutdown().await;
    let url =
        test_database(data.path()).await.unwrap_or_else(|| format!("sqlite://{}/watchpost.db", data.path().display()));
    let db = watchpost::db::Db::connect(&url).await.unwrap();
    let stale = watchpost::db::NewOutboxMessage {
        channel: "mqtt".into(),
        topic: "watchpost/field/motion".into(),
        payload: b"ON".to_vec(),
        retain: true,
        stamp_id: false,
        created_ms: chrono::Utc::now().timestamp_millis(),
        delivery_id: None,
    };
    db.push_outbox(stale).await.unwrap();
    db.close().await;
    let motion_before = watcher.on("watchpost/field/motion").len();
    let app = TestApp::start_in(&format!("{detector}{}", mqtt_toml(broker.port)), data).await;
    let field_topics: BTreeSet<String> =
        configs.iter().map(|(t, _)| t.clone()).filter(|t| t.contains("/watchpost_field/")).collect();
    wait_for("the field camera's entities to be removed", Duration::from_secs(20), || async {
        field_topics.iter().all(|t| watcher.on(t).last().is_some_and(|m| m.payload.is_empty())).then_some(())
    })
    .await;
    let states = ["watchpost/field/motion", "watchpost/field/person", "watchpost/field/detect/state"];
    wait_for("its retained state to be cleared too", Duration::from_secs(10), || async {
        states.iter().all(|t| watcher.on(t).last().is_some_and(|m| m.payload.is_empty())).then_some(())
    })
    .await;
    // Nothing is left waiting, so nothing can bring the stale state back later.
    assert_eq!(mqtt_health(&app).await["pending"], 0);
    let since = watcher.on("watchpost/field/motion")[motion_before..].to_vec();
    assert!(since.iter().all(|m| m.payload.is_empty()), "the stale state was never sent: {since:?}");
    let hub = watcher.on("homeassistant/sensor/watchpost/version/config");
    assert!(hub.last().is_some_and(|m| !m.payload.is_empty()), "the hub stays");
    app.shutdown().await;
}

fn person(id: i64) -> BusMessage {
    BusMessage::EventStarted(EventSummary {
        id,
        camera: "yard".into(),
        kind: watchpost::model::EventKind::Object,
        label: Some("person".into()),
        score: 0.9,
        start_ms: chrono::Utc::now().timestamp_millis(),
        end_ms: None,
        snapshot: None,
        zones: vec!["path".into()],
        description: None,
        title: None,
    })
}

/// An event stored in the database (only stored events alert), as the bus announces it: a
/// person in the path at 0.9, or as `label` and `score` say (no label: motion).
async fn stored_event(app: &TestApp, label: Option<&str>, score: f64) -> BusMessage {
    let mut new = motion_event("yard", chrono::Utc::now().timestamp_millis());
    if let Some(label) = label {
        new.kind = watchpost::model::EventKind::Object;
        new.label = Some(label.into());
        new.zones = vec!["path".into()];
    }
    new.score = score;
    let id = app.running().state.db.insert_event(&new).await.unwrap();
    let BusMessage::EventStarted(mut summary) = person(id) else { unreachable!() };
    summary.kind = new.kind;
    summary.label = new.label;
    summary.zones = new.zones;
    summary.score = score;
    BusMessage::EventStarted(summary)
}

fn event_id(message: &BusMessage) -> i64 {
    match message {
        BusMessage::EventStarted(event) => event.id,
        other => panic!("not an event: {other:?}"),
    }
}

async fn mqtt_health(app: &TestApp) -> serde_json::Value {
    let all = app.get_json("/api/integrations").await;
    all["bridges"].as_array().unwrap().iter().find(|b| b["name"] == "mqtt").cloned().expect("the MQTT bridge runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_during_a_broker_outage_arrive_in_order_exactly_once_when_it_returns() {
    let mut broker = Mosquitto::start();
    // A persistent session: the broker keeps for it what arrives before it reconnects.
    let watcher = Watcher::start_with(broker.port, &["watchpost/events", "watchpost/status"], "outage", false).await;
    let app = TestApp::start(&mqtt_toml(broker.port)).await;
    watcher.wait_for("watchpost/status", "online", Duration::from_secs(20)).await;
    let bus = app.running().state.bus.clone();
    let received = || watcher.on("watchpost/events").iter().map(Received::json).collect::<Vec<_>>();
    for id in 1..=5 {
        bus.publish(person(id));
    }
    wait_for("the first five events", Duration::from_secs(10), || async { (received().len() >= 5).then_some(()) })
        .await;

    broker.stop();
    // First the dropped connection, then (on the retries) nobody listening.
    wait_for("the bridge to notice", Duration::from_secs(30), || async {
        Some(mqtt_health(&app).await).filter(|h| {
            h["state"] != "connected"
                && h["last_error"].as_str().is_some_and(|e| e.contains("Nothing accepts connections"))
        })
    })
    .await;
    // 30 s without a broker, an event every 3 s.
    for id in 6..=15 {
        bus.publish(person(id));
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    let waiting = mqtt_health(&app).await;
    assert!(waiting["pending"].as_u64().unwrap() >= 10, "kept in the outbox: {waiting}");
    let page = app.client.get(app.url("/settings/integrations")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Not connected") && page.contains("Nothing accepts connections"), "{page}");
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("watchpost_bridge_up{bridge=\"mqtt\"} 0"), "{metrics}");

    broker.restart();
    for id in 16..=20 {
        bus.publish(person(id));
    }
    let expected: Vec<i64> = (1..=20).collect();
    wait_for("all twenty events", Duration::from_secs(90), || async {
        let mut seen = HashSet::new();
        let ids: Vec<i64> = received()
            .into_iter()
            .filter(|m| seen.insert(m["id"].as_i64().unwrap()))
            .map(|m| m["event"]["id"].as_i64().unwrap())
            .collect();
        (ids == expected).then_some(())
    })
    .await;
    // Repeats are possible only for a message in flight when the broker went away; they carry the
    // same id, so a receiver drops them.
    let all = received();
    assert!(all.len() <= 21, "{} messages for 20 events", all.len());
    assert!(all.iter().all(|m| m["type"] == "new" && m["event"]["zones"][0] == "path"));
    let back = wait_for("the outbox to empty", Duration::from_secs(20), || async {
        Some(mqtt_health(&app).await).filter(|h| h["pending"] == 0)
    })
    .await;
    assert_eq!(back["state"], "connected");
    assert!(back["connects"].as_u64().unwrap() >= 2, "{back}");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_watchpost_is_announced_offline_by_the_broker_and_online_after_a_start() {
    let broker = Mosquitto::start();
    let watcher = Watcher::start(broker.port, &["watchpost/status"]).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("watchpost.toml");
    let toml = format!(
        "[server]\nbind = \"127.0.0.1:0\"\n[detector]\nenabled = false\n[discovery]\ninterval_minutes = 0\nnode_scan_secs = 0\n{}",
        mqtt_toml(broker.port)
    );
    std::fs::write(&config, toml).unwrap();
    let start = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_watchpost"))
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start watchpost")
    };
    let mut first = start();
    watcher.wait_for("watchpost/status", "online", Duration::from_secs(30)).await;
    first.kill().unwrap(); // SIGKILL: no goodbye, only the last will
    first.wait().unwrap();
    watcher.wait_for("watchpost/status", "offline", Duration::from_secs(30)).await;
    // Someone subscribing now still reads `offline`: the will is retained.
    let late = Watcher::start(broker.port, &["watchpost/status"]).await;
    wait_for("the retained offline", Duration::from_secs(10), || async {
        late.on("watchpost/status").first().filter(|m| m.retain && m.text() == "offline").cloned()
    })
    .await;
    let mut second = start();
    watcher.wait_for("watchpost/status", "online", Duration::from_secs(30)).await;
    unsafe { libc::kill(second.id() as i32, libc::SIGTERM) };
    second.wait().unwrap();
    watcher.wait_for("watchpost/status", "offline", Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_problems_are_explained_on_the_integrations_page_and_the_rest_keeps_working() {
    let broker = Mosquitto::start_with_user("homeassistant", "broker-secret-1");
    let app = TestApp::start("").await;
    let (browser, csrf) = app.browser_session(ADMIN, ADMIN_PASSWORD).await;
    let page = |browser: reqwest::Client| {
        let url = app.url("/settings/integrations");
        async move { browser.get(url).send().await.unwrap().text().await.unwrap() }
    };
    assert!(page(browser.clone()).await.contains("MQTT is off"));
    let port = broker.port.to_string();
    let save = |fields: Vec<(&'static str, String)>| {
        let browser = browser.clone();
        let url = app.url("/settings/integrations/mqtt");
        let mut form: Vec<(&str, String)> = vec![("csrf", csrf.clone())];
        form.extend(fields);
        async move { browser.post(url).form(&form).send().await.unwrap() }
    };

    // Wrong password: refused, said so, retried; the rest of Watchpost does not care.
    let saved = save(vec![
        ("host", "127.0.0.1".into()),
        ("port", port.clone()),
        ("username", "homeassistant".into()),
        ("password", "wrong".into()),
    ])
    .await;
    assert_eq!(saved.status(), 303);
    let refused = wait_for("the refusal", Duration::from_secs(20), || async {
        Some(mqtt_health(&app).await).filter(|h| h["last_error"].as_str().is_some_and(|e| e.contains("refused")))
    })
    .await;
    assert!(refused["last_error"].as_str().unwrap().contains("user name or password"), "{refused}");
    assert!(refused["retry_at_ms"].is_i64(), "a retry is planned: {refused}");
    let shown = page(browser.clone()).await;
    assert!(shown.contains("refused the user name or password") && shown.contains("Next attempt in"), "{shown}");
    assert!(!shown.contains("wrong"), "the password is never shown back");
    assert_eq!(app.anonymous.get(app.url("/api/health")).send().await.unwrap().status(), 200);
    assert_eq!(app.client.get(app.url("/api/cameras")).send().await.unwrap().status(), 200);

    // "Test connection" tries what is in the form without saving it.
    let tested = browser
        .post(app.url("/settings/integrations/mqtt/test"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("host", "127.0.0.1"),
            ("port", port.as_str()),
            ("username", "homeassistant"),
            ("password", "broker-secret-1"),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(tested.contains("Test passed"), "{tested}");
    assert!(mqtt_health(&app).await["state"] != "connected", "a test does not change the running settings");

    // Nothing listening: said so. A blank password keeps the saved one.
    let nobody = free_port().to_string();
    save(vec![("host", "127.0.0.1".into()), ("port", nobody), ("username", "homeassistant".into())]).await;
    wait_for("the connection refusal", Duration::from_secs(20), || async {
        Some(mqtt_health(&app).await)
            .filter(|h| h["last_error"].as_str().is_some_and(|e| e.contains("Nothing accepts connections")))
    })
    .await;
    let invalid = save(vec![("host", "127.0.0.1".into()), ("port", "http".into())]).await;
    assert_eq!(invalid.status(), 422);
    assert!(invalid.text().await.unwrap().contains("is not a port number"));

    // The right settings: connected, and still after a restart (the password sealed in the database).
    save(vec![
        ("host", "127.0.0.1".into()),
        ("port", port.clone()),
        ("username", "homeassistant".into()),
        ("password", "broker-secret-1".into()),
    ])
    .await;
    wait_for("the connection", Duration::from_secs(20), || async {
        Some(mqtt_health(&app).await).filter(|h| h["state"] == "connected")
    })
    .await;
    let data = app.shutdown().await;
    let app = TestApp::start_in("", data).await;
    wait_for("the connection after a restart", Duration::from_secs(20), || async {
        Some(mqtt_health(&app).await).filter(|h| h["state"] == "connected")
    })
    .await;
    for file in ["watchpost.db", "watchpost.db-wal"] {
        let stored = std::fs::read(app.data.path().join(file)).unwrap_or_default();
        assert!(!stored.windows(15).any(|w| w == b"broker-secret-1"), "the password is in clear in {file}");
    }
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_broker_is_trusted_only_through_its_ca() {
    let broker = Mosquitto::start_tls();
    let tls = format!("{}tls = true\n", mqtt_toml(broker.port));
    // The broker's own CA: connected, and messages are delivered over TLS.
    let app = TestApp::start(&format!("{tls}ca_file = \"{}\"\n", broker.ca_file().display())).await;
    let health = wait_for("a TLS connection", Duration::from_secs(20), || async {
        Some(mqtt_health(&app).await).filter(|h| h["state"] == "connected")
    })
    .await;
    assert!(health["target"].as_str().unwrap().starts_with("mqtts://"), "{health}");
    app.running().state.bus.publish(person(1));
    wait_for("the event delivered", Duration::from_secs(10), || async {
        Some(mqtt_health(&app).await).filter(|h| h["delivered"].as_u64() > Some(0) && h["pending"] == 0)
    })
    .await;
    app.shutdown().await;
    // Another CA does not vouch for it: refused, and said why.
    let other = tempfile::tempdir().unwrap();
    common::mqtt::make_certificates(other.path());
    let app = TestApp::start(&format!("{tls}ca_file = \"{}\"\n", other.path().join("ca.pem").display())).await;
    let refused = wait_for("the TLS refusal", Duration::from_secs(20), || async {
        Some(mqtt_health(&app).await).filter(|h| h["last_error"].is_string())
    })
    .await;
    assert!(refused["last_error"].as_str().unwrap().contains("TLS connection"), "{refused}");
    assert_ne!(refused["state"], "connected");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_outage_drops_the_oldest_messages_counts_them_and_says_so() {
    let nobody = free_port();
    // Every event alerts: no cool-down on this camera.
    let camera =
        "[[cameras]]\nid = \"yard\"\nurl = \"/nonexistent.mp4\"\nenabled = false\nalerts = { cooldown_secs = 0 }\n";
    let app = TestApp::start(&format!("{}outbox_max_messages = 100\n{camera}", mqtt_toml(nobody))).await;
    // Each event is three kept messages: the event, the camera's last event and its description.
    // (These events are not in the database, so they do not alert.)
    for id in 1..=60 {
        app.running().state.bus.publish(person(id));
    }
    let health = wait_for("the outbox to overflow", Duration::from_secs(20), || async {
        Some(mqtt_health(&app).await).filter(|h| h["dropped"] == 80)
    })
    .await;
    assert_eq!(health["pending"], 100, "{health}");
    // The oldest went: what is left starts with the 27th event's third message.
    let oldest = app.running().state.db.outbox_batch("mqtt", 0, 1).await.unwrap();
    let first: serde_json::Value = serde_json::from_slice(&oldest[0].payload).unwrap();
    assert_eq!((oldest[0].topic.as_str(), &first["event"]), ("watchpost/yard/description", &serde_json::json!(27)));
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("watchpost_outbox_dropped_total{bridge=\"mqtt\"} 80"), "{metrics}");
    assert!(metrics.contains("watchpost_outbox_pending{bridge=\"mqtt\"} 100"), "{metrics}");
    let page = app.client.get(app.url("/settings/integrations")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("80 undelivered messages were dropped"), "{page}");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_home_alerts_stay_quiet_and_arming_from_the_dashboard_brings_them_back() {
    let broker = Mosquitto::start();
    let watcher =
        Watcher::start(broker.port, &["watchpost/alerts", "watchpost/events", "watchpost/hub/armed/state"]).await;
    let config =
        format!("{}[[cameras]]\nid = \"yard\"\nurl = \"/nonexistent.mp4\"\nenabled = false\n", mqtt_toml(broker.port));
    let app = TestApp::start(&config).await;
    watcher.wait_for("watchpost/hub/armed/state", "ON", Duration::from_secs(20)).await;

    // Everyone is home (from Home Assistant): events still go out, alerts do not.
    watcher.publish("watchpost/hub/armed/set", "OFF").await;
    watcher.wait_for("watchpost/hub/armed/state", "OFF", Duration::from_secs(10)).await;
    let (browser, csrf) = app.browser_session(ADMIN, ADMIN_PASSWORD).await;
    let dashboard = browser.get(app.url("/")).send().await.unwrap().text().await.unwrap();
    assert!(dashboard.contains("Alerts are paused") && dashboard.contains("Going out: turn alerts on"), "{dashboard}");
    let at_home = stored_event(&app, Some("person"), 0.9).await;
    let at_home_id = event_id(&at_home);
    app.running().state.bus.publish(at_home);
    wait_for("the event while at home", Duration::from_secs(10), || async {
        watcher.on("watchpost/events").iter().any(|m| m.json()["event"]["id"] == at_home_id).then_some(())
    })
    .await;

    // Going out, from the dashboard: Home Assistant hears it, and the next event alerts.
    let armed =
        browser.post(app.url("/alerts/armed")).form(&[("csrf", csrf.as_str()), ("armed", "on")]).send().await.unwrap();
    assert_eq!(armed.status(), 303);
    watcher.wait_for("watchpost/hub/armed/state", "ON", Duration::from_secs(10)).await;
    let dashboard = browser.get(app.url("/")).send().await.unwrap().text().await.unwrap();
    assert!(
        dashboard.contains("Alerts are on: events on cameras whose alerts are on go to Home Assistant."),
        "{dashboard}"
    );
    let away = stored_event(&app, Some("person"), 0.9).await;
    let away_id = event_id(&away);
    app.running().state.bus.publish(away);
    wait_for("the alert while away", Duration::from_secs(10), || async {
        watcher.on("watchpost/alerts").iter().any(|m| m.json()["event"]["id"] == away_id).then_some(())
    })
    .await;
    // The outbox keeps order: had the first event alerted, its alert would have come first.
    let alerted: Vec<serde_json::Value> =
        watcher.on("watchpost/alerts").iter().map(|m| m.json()["event"]["id"].clone()).collect();
    assert_eq!(alerted, [serde_json::json!(away_id)]);
    let stored = app.get_json(&format!("/api/events/{away_id}")).await;
    assert_eq!(stored["alert"]["deliveries"][0]["channel"], "mqtt", "{stored}");
    assert_eq!(stored["alert"]["deliveries"][0]["status"], "sent", "{stored}");
    assert!(app.get_json(&format!("/api/events/{at_home_id}")).await["alert"].is_null());

    // The choice survives a restart.
    watcher.publish("watchpost/hub/armed/set", "OFF").await;
    watcher.wait_for("watchpost/hub/armed/state", "OFF", Duration::from_secs(10)).await;
    let data = app.shutdown().await;
    let app = TestApp::start_in(&config, data).await;
    assert!(!app.running().state.cameras.controls().armed());
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_camera_policy_decides_which_events_alert_and_how_severely() {
    let broker = Mosquitto::start();
    let watcher = Watcher::start(broker.port, &["watchpost/alerts", "watchpost/status"]).await;
    let camera = "[[cameras]]\nid = \"yard\"\nurl = \"/nonexistent.mp4\"\nenabled = false\n\
                  alerts = { min_score = 0.95, cooldown_secs = 600 }\n";
    let app = TestApp::start(&format!("{}{camera}", mqtt_toml(broker.port))).await;
    watcher.wait_for("watchpost/status", "online", Duration::from_secs(20)).await;
    let mut ids = Vec::new();
    for (label, score) in [
        (Some("person"), 0.90), // below the least score
        (Some("person"), 0.97), // alerts
        (Some("person"), 0.99), // the same label cooling down
        (None, 0.10),           // motion: another key, low
    ] {
        let event = stored_event(&app, label, score).await;
        ids.push(event_id(&event));
        app.running().state.bus.publish(event);
    }
    let alerts = wait_for("the motion alert", Duration::from_secs(15), || async {
        let alerts: Vec<serde_json::Value> = watcher.on("watchpost/alerts").iter().map(Received::json).collect();
        alerts.iter().any(|a| a["event"]["id"] == ids[3]).then_some(alerts)
    })
    .await;
    let seen: Vec<(i64, String)> = alerts
        .iter()
        .map(|a| (a["event"]["id"].as_i64().unwrap(), a["severity"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(seen, [(ids[1], "medium".to_string()), (ids[3], "low".to_string())]);
    // The events page lists the alerts by severity.
    let high = app.get_json("/api/events?alerts=1&severity=medium").await;
    let listed: Vec<i64> = high["events"].as_array().unwrap().iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert_eq!(listed, [ids[1]]);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn home_assistant_alerts_older_than_outbox_max_age_hours_are_given_up() {
    let broker = Mosquitto::start();
    let watcher = Watcher::start(broker.port, &["watchpost/alerts"]).await;
    let camera =
        "[[cameras]]\nid = \"yard\"\nurl = \"/nonexistent.mp4\"\nenabled = false\nalerts = { cooldown_secs = 0 }\n";
    let app = TestApp::start(&format!("{}outbox_max_age_hours = 2\n{camera}", mqtt_toml(broker.port))).await;
    let now = chrono::Utc::now().timestamp_millis();
    let mut ids = Vec::new();
    // Alerts made 3 hours and 1 hour ago that never reached Home Assistant (its bridge was off).
    for hours_ago in [3, 1] {
        let home_assistant =
            watchpost::db::Recipient { channel: watchpost::model::Channel::Mqtt, recipient: "home-assistant".into() };
        let at = now - hours_ago * 3_600_000;
        ids.push(undelivered_alert(&app, "yard", at, watchpost::model::Severity::Medium, home_assistant).await);
    }
    let running = &app;
    let delivery = |id: i64| async move {
        let event = running.get_json(&format!("/api/events/{id}")).await;
        event["alert"]["deliveries"][0].clone()
    };
    let recent_id = ids[1];
    let recent = wait_for("the recent alert delivered", Duration::from_secs(20), || async move {
        Some(delivery(recent_id).await).filter(|d| d["status"] == "sent")
    })
    .await;
    assert_eq!(recent["channel"], "mqtt");
    let old = delivery(ids[0]).await;
    assert_eq!(old["status"], "failed", "{old}");
    assert!(old["last_error"].as_str().unwrap().starts_with("gave up after 2 h"), "{old}");
    let published: Vec<serde_json::Value> =
        wait_for("the alert at the subscriber", Duration::from_secs(10), || async {
            let alerts = watcher.on("watchpost/alerts");
            (!alerts.is_empty()).then(|| alerts.iter().map(|m| m.json()).collect())
        })
        .await;
    assert_eq!(published.len(), 1, "only the recent one: {published:?}");
    assert_eq!(published[0]["event"]["id"], ids[1]);
    app.shutdown().await;
}
