//! Event descriptions against fake vision-language model APIs over real HTTP (tests/common/vlm.rs):
//! what Watchpost sends (the snapshot JPEG, the filled prompt, the key), JSON and plain answers,
//! 429/500 retries, time-outs, the hourly budget, and search over the descriptions. Events are
//! injected as a camera's recorder makes them (a snapshot file, a row, `EventStarted`), so each
//! test controls exactly how many there are.

mod common;

use base64::Engine;
use common::mqtt::{Mosquitto, Watcher};
use common::vlm::{FakeModel, Reply};
use common::{TestApp, jpeg_size, person_event_on, wait_for};
use std::time::Duration;
use watchpost::bus::BusMessage;

fn photo() -> &'static [u8] {
    watchpost::demo::PHOTO
}

fn config(describe: &str) -> String {
    format!(
        "[describe]\n{describe}\n\n[[cameras]]\nid = \"front\"\nname = \"Front door\"\nurl = \"/nonexistent.mp4\"\nenabled = false\n\
         alerts = {{ cooldown_secs = 0 }}\n"
    )
}

/// An object event on camera `front` with the demo photograph as its snapshot, announced on the bus.
async fn person_event(app: &TestApp, zones: &[&str]) -> i64 {
    person_event_on(app, "front", zones).await
}

async fn described_by(app: &TestApp, id: i64, by: &str) -> serde_json::Value {
    wait_for(&format!("event {id} described by {by}"), Duration::from_secs(20), || async {
        let event = app.get_json(&format!("/api/events/{id}")).await;
        (event["described_by"] == by).then_some(event)
    })
    .await
}

fn decoded(data: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(data).expect("base64 image")
}

async fn metric(app: &TestApp, line: &str) -> String {
    let text = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    text.lines().find(|l| l.starts_with(line)).map(str::to_string).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_openai_compatible_model_describes_the_snapshot_with_the_filled_prompt() {
    let answer = r#"{"title":"Courier at the door","description":"A courier in a red jacket leaves a parcel on the step.","threat_level":0,"reason":"a daytime delivery"}"#;
    // The model takes 300 ms to answer, which the event's describe_ms must show.
    let model = FakeModel::start(vec![], Reply { delay: Duration::from_millis(300), ..Reply::openai(answer) });
    let broker = Mosquitto::start();
    let watcher = Watcher::start(broker.port, &["watchpost/front/description"]).await;
    let describe = format!(
        "provider = \"openai\"\nbase_url = \"{}\"\nmodel = \"test-vision\"\napi_key = \"sk-test-123\"\nmax_per_hour = 0\n\
         site_context = \"Deliveries come between 9 and 17.\"\nlabel_prompts = {{ person = \"Who is the {{label}} at {{camera}} in {{zones}}?\" }}",
        model.base_url()
    );
    let mqtt = format!("[mqtt]\nhost = \"127.0.0.1\"\nport = {}\n", broker.port);
    let app = TestApp::start(&format!("{mqtt}{}", config(&describe))).await;
    let mut bus = app.running().state.bus.subscribe();
    let id = person_event(&app, &["porch"]).await;
    let event = described_by(&app, id, "openai:test-vision").await;
    assert_eq!(event["title"], "Courier at the door");
    assert_eq!(event["description"], "A courier in a red jacket leaves a parcel on the step.");
    assert_eq!(event["threat_level"], 0);
    let took = event["describe_ms"].as_i64().unwrap();
    assert!((300..30_000).contains(&took), "describe_ms {took} includes the model's 300 ms");

    let requests = model.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.path, "/v1/chat/completions");
    assert_eq!(request.headers["authorization"], "Bearer sk-test-123");
    assert_eq!(request.body["model"], "test-vision");
    let system = request.body["messages"][0]["content"].as_str().unwrap();
    assert!(system.contains("Deliveries come between 9 and 17.") && system.contains("threat_level"), "{system}");
    let parts = request.body["messages"][1]["content"].as_array().unwrap();
    assert_eq!(parts[0]["text"], "Who is the person at Front door in porch?", "the label's prompt, filled");
    let url = parts[1]["image_url"]["url"].as_str().unwrap();
    let jpeg = url.strip_prefix("data:image/jpeg;base64,").expect("a JPEG data URL");
    assert_eq!(decoded(jpeg), photo(), "the image is the event's snapshot");

    // The update reaches the bus (for Home Assistant and alerts), and the pages show it.
    let mut updated = None;
    while let Ok(message) = bus.try_recv() {
        if let BusMessage::EventUpdated(summary) = message {
            updated = Some(summary);
        }
    }
    let updated = updated.expect("an EventUpdated with the description");
    assert_eq!(updated.title.as_deref(), Some("Courier at the door"));
    let page = app.client.get(app.url(&format!("/events/{id}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("A courier in a red jacket") && page.contains("By openai:test-vision"), "{page}");
    assert_eq!(
        metric(&app, "watchpost_describe_events_total{result=\"described\"}").await,
        "watchpost_describe_events_total{result=\"described\"} 1"
    );
    // Home Assistant's Description sensor gets the model's words.
    let sent = wait_for("the description on MQTT", Duration::from_secs(15), || async {
        watcher
            .on("watchpost/front/description")
            .iter()
            .map(|m| m.json())
            .find(|d| d["described_by"] == "openai:test-vision")
    })
    .await;
    assert_eq!(
        (&sent["title"], &sent["threat_level"], &sent["event"]),
        (&"Courier at the door".into(), &0.into(), &id.into())
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gemini_is_retried_after_429_and_500_and_a_plain_answer_is_kept_as_text() {
    let mut busy = Reply::status(429);
    busy.retry_after = Some(1);
    let model =
        FakeModel::start(vec![busy, Reply::status(500)], Reply::gemini("A woman with a dog walks along the pavement."));
    let app = TestApp::start(&config(&format!(
        "provider = \"gemini\"\nbase_url = \"{}\"\nmodel = \"gem-test\"\napi_key = \"g-key\"\nretries = 3\nimage = \"both\"",
        model.base_url()
    )))
    .await;
    let id = person_event(&app, &[]).await;
    let event = described_by(&app, id, "gemini:gem-test").await;
    assert_eq!(event["description"], "A woman with a dog walks along the pavement.");
    assert!(event["title"].is_null() && event["threat_level"].is_null());
    let requests = model.requests();
    assert_eq!(requests.len(), 3, "429, then 500, then the answer");
    for request in &requests {
        assert_eq!(request.path, "/v1/models/gem-test:generateContent");
        assert_eq!(request.headers["x-goog-api-key"], "g-key");
    }
    let parts = requests[2].body["contents"][0]["parts"].as_array().unwrap();
    assert!(parts[0]["text"].as_str().unwrap().contains("Front door"));
    // `image = "both"`: the crop (made by ffmpeg, a smaller JPEG), then the whole snapshot.
    let crop = decoded(parts[1]["inline_data"]["data"].as_str().unwrap());
    assert!(crop.starts_with(&[0xff, 0xd8]) && crop.len() < photo().len(), "a cropped JPEG");
    assert_eq!(decoded(parts[2]["inline_data"]["data"].as_str().unwrap()), photo());
    assert_eq!(parts[2]["inline_data"]["mime_type"], "image/jpeg");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_model_times_out_and_the_event_keeps_its_description_without_ai() {
    let mut slow = Reply::openai("too late");
    slow.delay = Duration::from_secs(4);
    let model = FakeModel::start(vec![], slow);
    let app = TestApp::start(&config(&format!(
        "provider = \"openai\"\nbase_url = \"{}\"\nmodel = \"slow\"\ntimeout_secs = 1\nretries = 1",
        model.base_url()
    )))
    .await;
    let id = person_event(&app, &["path"]).await;
    wait_for("the failure is counted", Duration::from_secs(20), || async {
        let line = metric(&app, "watchpost_describe_events_total{result=\"failed\"}").await;
        line.ends_with(" 1").then_some(())
    })
    .await;
    assert_eq!(model.requests().len(), 2, "one try and one retry");
    let event = app.get_json(&format!("/api/events/{id}")).await;
    assert_eq!(event["described_by"], "rules");
    let text = event["description"].as_str().unwrap();
    assert!(text.starts_with("Person in path (Front door) at "), "{text}");
    let page = app.client.get(app.url(&format!("/events/{id}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Written from the detections, without AI."));
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hourly_budget_holds_under_a_burst_and_skipped_events_are_counted() {
    let model = FakeModel::start(vec![], Reply::openai(r#"{"description":"Someone at the door.","threat_level":1}"#));
    let app = TestApp::start(&config(&format!(
        "provider = \"openai\"\nbase_url = \"{}\"\nmodel = \"m\"\nmax_per_hour = 2\nconcurrency = 1",
        model.base_url()
    )))
    .await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(person_event(&app, &[]).await);
    }
    wait_for("two events described", Duration::from_secs(20), || async {
        let line = metric(&app, "watchpost_describe_events_total{result=\"described\"}").await;
        line.ends_with(" 2").then_some(())
    })
    .await;
    assert_eq!(
        metric(&app, "watchpost_describe_events_total{result=\"skipped_budget\"}").await,
        "watchpost_describe_events_total{result=\"skipped_budget\"} 3"
    );
    assert_eq!(model.requests().len(), 2);
    let mut by = Vec::new();
    for id in &ids {
        by.push(app.get_json(&format!("/api/events/{id}")).await["described_by"].as_str().unwrap().to_string());
    }
    assert_eq!(by, ["openai:m", "openai:m", "rules", "rules", "rules"]);
    // Threat level 1 raised the described events to medium.
    let severity = app.get_json(&format!("/api/events/{}", ids[0])).await["severity"].clone();
    assert_eq!(
        (severity, app.get_json(&format!("/api/events/{}", ids[4])).await["severity"].clone()),
        ("medium".into(), "low".into())
    );
    let system = app.client.get(app.url("/settings/system")).send().await.unwrap().text().await.unwrap();
    assert!(system.contains("Skipped: budget spent") && system.contains("2 per hour"), "{system}");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_found_by_the_words_of_their_descriptions_best_match_first() {
    let model = FakeModel::start(
        vec![
            Reply::openai(
                r#"{"title":"Man with a ladder","description":"A man carries a ladder towards the garage.","threat_level":1}"#,
            ),
            Reply::openai(r#"{"title":"Passer-by","description":"A man walks past the gate.","threat_level":0}"#),
        ],
        Reply::openai(r#"{"description":"A white van parks in the street.","threat_level":0}"#),
    );
    let app = TestApp::start(&config(&format!(
        "provider = \"openai\"\nbase_url = \"{}\"\nmodel = \"m\"\nconcurrency = 1",
        model.base_url()
    )))
    .await;
    let ladder = person_event(&app, &[]).await;
    described_by(&app, ladder, "openai:m").await;
    let passer = person_event(&app, &[]).await;
    described_by(&app, passer, "openai:m").await;
    let van = person_event(&app, &["street"]).await;
    described_by(&app, van, "openai:m").await;

    let ids = |q: &'static str| {
        let app = &app;
        async move {
            let found = app.get_json(&format!("/api/events?q={q}")).await;
            found["events"].as_array().unwrap().iter().map(|e| e["id"].as_i64().unwrap()).collect::<Vec<_>>()
        }
    };
    assert_eq!(ids("man%20with%20a%20ladder").await, vec![ladder, passer], "the better match first");
    assert_eq!(ids("white%20van").await, vec![van]);
    assert_eq!(ids("street").await, vec![van], "zones are searched");
    assert_eq!(ids("Front%20door").await.len(), 3, "the camera's name is searched");
    assert_eq!(ids("helicopter").await, Vec::<i64>::new());
    let combined = app.get_json("/api/events?q=man&kind=motion").await;
    assert_eq!(combined["events"], serde_json::json!([]), "search combines with the other filters");
    let page = app.client.get(app.url("/events?q=ladder")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Man with a ladder") && !page.contains("A white van parks"), "the events page searches too");
    assert_eq!(model.unanswered_script(), 0);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_site_context_saved_on_the_integrations_page_goes_with_every_request_and_stays() {
    let model =
        FakeModel::start(vec![], Reply::openai(r#"{"description":"A gardener trims the hedge.","threat_level":0}"#));
    let toml = config(&format!("provider = \"openai\"\nbase_url = \"{}\"\nmodel = \"m\"", model.base_url()));
    let app = TestApp::start(&toml).await;
    let (browser, csrf) = app.browser_session(common::ADMIN, common::ADMIN_PASSWORD).await;
    let context = "The gardener comes on Tuesdays. Nobody should be in the garden at night.";
    let saved = browser
        .post(app.url("/settings/integrations/describe"))
        .form(&[("csrf", csrf.as_str()), ("site_context", context)])
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), 303);
    let page = browser.get(app.url("/settings/integrations?done=context")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(context) && page.contains("By openai:m"), "{page}");
    let id = person_event(&app, &[]).await;
    described_by(&app, id, "openai:m").await;
    let system = model.requests()[0].body["messages"][0]["content"].as_str().unwrap().to_string();
    assert!(system.contains(context), "{system}");

    // After a restart the saved context is still used.
    let data = app.shutdown().await;
    let app = TestApp::start_in(&toml, data).await;
    let id = person_event(&app, &[]).await;
    described_by(&app, id, "openai:m").await;
    let system = model.requests()[1].body["messages"][0]["content"].as_str().unwrap().to_string();
    assert!(system.contains(context), "{system}");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_camera_can_have_its_own_model_while_the_others_have_none() {
    let model = FakeModel::start(vec![], Reply::gemini("A cat crosses the porch."));
    let toml = format!(
        "[[cameras]]\nid = \"front\"\nname = \"Front door\"\nurl = \"/nonexistent.mp4\"\nenabled = false\n\
         [cameras.describe]\nprovider = \"gemini\"\nbase_url = \"{}\"\nmodel = \"porch-model\"\n\
         [[cameras]]\nid = \"yard\"\nurl = \"/nonexistent.mp4\"\nenabled = false\n",
        model.base_url()
    );
    let app = TestApp::start(&toml).await;
    let yard = person_event_on(&app, "yard", &[]).await;
    let id = person_event(&app, &[]).await;
    let event = described_by(&app, id, "gemini:porch-model").await;
    assert_eq!(event["description"], "A cat crosses the porch.");
    let requests = model.requests();
    assert_eq!(requests.len(), 1, "only the front camera's event went to the model");
    assert_eq!(requests[0].path, "/v1/models/porch-model:generateContent");
    assert_eq!(app.get_json(&format!("/api/events/{yard}")).await["described_by"], "rules");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_waits_for_a_quick_description_and_goes_without_a_slow_one() {
    let mut slow = Reply::openai(
        r#"{"title":"Late words","description":"A man in a grey coat checks the car doors.","threat_level":1}"#,
    );
    slow.delay = Duration::from_secs(4);
    let quick = Reply::openai(r#"{"title":"Courier","description":"A courier rings the bell.","threat_level":0}"#);
    let model = FakeModel::start(vec![quick], slow);
    let broker = Mosquitto::start();
    let watcher = Watcher::start(broker.port, &["watchpost/front/alert", "watchpost/events"]).await;
    let describe = format!(
        "provider = \"openai\"\nbase_url = \"{}\"\nmodel = \"m\"\nconcurrency = 1\nalert_wait_secs = 2\ntimeout_secs = 20",
        model.base_url()
    );
    let mqtt = format!("[mqtt]\nhost = \"127.0.0.1\"\nport = {}\n", broker.port);
    let app = TestApp::start(&format!("{mqtt}{}", config(&describe))).await;
    let alert_for = |id: i64| {
        let watcher = &watcher;
        async move { watcher.on("watchpost/front/alert").iter().map(|m| m.json()).find(|a| a["event"]["id"] == id) }
    };

    // Described within the wait: the alert carries the model's words.
    let quick_event = person_event(&app, &[]).await;
    let alert = wait_for("the quick event's alert", Duration::from_secs(15), || alert_for(quick_event)).await;
    assert_eq!(
        (&alert["event"]["title"], &alert["event"]["description"]),
        (&"Courier".into(), &"A courier rings the bell.".into())
    );

    // Not described within 2 s: the alert goes with the sentence from the detections, and the
    // model's description follows as an event update.
    let slow_event = person_event(&app, &[]).await;
    let alert = wait_for("the slow event's alert", Duration::from_secs(15), || alert_for(slow_event)).await;
    let text = alert["event"]["description"].as_str().unwrap();
    assert!(text.starts_with("Person on Front door at "), "{text}");
    assert!(alert["event"]["title"].is_null());
    let update =
        wait_for("the description as an update", Duration::from_secs(20), || async {
            watcher.on("watchpost/events").iter().map(|m| m.json()).find(|m| {
                m["type"] == "update" && m["event"]["id"] == slow_event && m["event"]["title"] == "Late words"
            })
        })
        .await;
    assert_eq!(update["event"]["description"], "A man in a grey coat checks the car doors.");
    let alerts = watcher.on("watchpost/front/alert").len();
    assert_eq!(alerts, 2, "one alert per event; the late description does not alert again");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crop_is_sent_the_event_is_described_again_at_its_end_and_severity_follows_the_switch() {
    let answer = r#"{"title":"Someone at the shed","description":"A person tries the shed door.","threat_level":2,"reason":"at night"}"#;
    for raise in [true, false] {
        let model = FakeModel::start(vec![], Reply::openai(answer));
        let describe = format!(
            "provider = \"openai\"\nbase_url = \"{}\"\nmodel = \"m\"\nmax_per_hour = 0\nimage = \"crop\"\n\
             describe_at_end = true\nraise_severity = {raise}\nalert_wait_secs = 0",
            model.base_url()
        );
        let app = TestApp::start(&config(&describe)).await;
        let id = person_event(&app, &[]).await;
        described_by(&app, id, "openai:m").await;
        // Both the alert (which sets the policy's severity) and the description have been written.
        let event = wait_for("the alert", Duration::from_secs(20), || async {
            let event = app.get_json(&format!("/api/events/{id}")).await;
            (!event["alerted"].is_null()).then_some(event)
        })
        .await;
        // Threat level 2 makes it high; without raise_severity it keeps the camera policy's medium.
        assert_eq!(event["severity"], if raise { "high" } else { "medium" }, "raise_severity = {raise}");

        // image = "crop": the object cut out of the snapshot, with a quarter of its size around it
        // (the box is 20 % × 50 % of the photograph: the crop is 30 % × 75 %).
        let requests = model.requests();
        let url = requests[0].body["messages"][1]["content"][1]["image_url"]["url"].as_str().unwrap().to_string();
        let crop = decoded(url.strip_prefix("data:image/jpeg;base64,").unwrap());
        let ((cw, ch), (pw, ph)) = (jpeg_size(&crop), jpeg_size(photo()));
        assert_eq!(requests[0].body["messages"][1]["content"].as_array().unwrap().len(), 2, "one picture");
        assert!((f64::from(cw) / f64::from(pw) - 0.3).abs() < 0.02, "crop width {cw} of {pw}");
        assert!((f64::from(ch) / f64::from(ph) - 0.75).abs() < 0.02, "crop height {ch} of {ph}");

        // describe_at_end: the event's end asks the model again.
        let stored = app.running().state.db.get_event(id).await.unwrap().unwrap();
        let summary = watchpost::bus::EventSummary {
            id,
            camera: "front".into(),
            kind: watchpost::model::EventKind::Object,
            label: Some("person".into()),
            score: 0.9,
            start_ms: stored.start_ms,
            end_ms: Some(chrono::Utc::now().timestamp_millis()),
            snapshot: stored.snapshot,
            zones: vec![],
            description: None,
            title: None,
        };
        app.running().state.bus.publish(BusMessage::EventEnded(summary));
        wait_for("a second request at the event's end", Duration::from_secs(20), || async {
            (model.requests().len() == 2).then_some(())
        })
        .await;
        app.shutdown().await;
    }
}
