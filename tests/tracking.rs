//! Tracking that holds, end to end: a person who stays in view over a real RTSP stream is one
//! event and one alert (to a real mosquitto) across a restart of the RTSP server, a stream that
//! ends and reconnects, and a restart of Watchpost itself; the event ends only once they are gone.

mod common;

use common::mqtt::{Mosquitto, Watcher};
use common::*;
use std::time::Duration;
use watchpost::demo::ClipPlan;

/// The person walks in after 2 s and stands (the first connection).
const ARRIVES: ClipPlan = ClipPlan { empty_secs: 2, walk_secs: 2, stand_secs: 50, tail_secs: 0, ..TEST_PLAN };
/// The person stands there from the first frame to the last (every later connection: a parked
/// object, already there when the stream comes back).
const STAYS: ClipPlan = ClipPlan { empty_secs: 0, walk_secs: 0, stand_secs: 25, tail_secs: 0, ..TEST_PLAN };
/// The field with nobody in it.
const GONE: ClipPlan =
    ClipPlan { empty_secs: 30, walk_secs: 0, stand_secs: 0, tail_secs: 0, with_person: false, ..TEST_PLAN };

async fn stationary_person(app: &TestApp, what: &str) {
    wait_for(what, Duration::from_secs(60), || async {
        let camera = app.get_json("/api/cameras/yard").await;
        let objects = camera["objects"].as_array()?.clone();
        objects.iter().any(|o| o["label"] == "person" && o["stationary"] == true).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_who_stays_is_one_event_and_one_alert_across_reconnects_and_restarts() {
    let Some(detector) = detector_toml() else { return };
    let dir = tempfile::tempdir().unwrap();
    let clip = |name: &str, plan: &ClipPlan| {
        watchpost::demo::ensure_clip("ffmpeg", &dir.path().join(name), plan).expect("build a clip")
    };
    let (arrives, stays, gone) = (clip("arrives.mp4", &ARRIVES), clip("stays.mp4", &STAYS), clip("gone.mp4", &GONE));
    let broker = Mosquitto::start();
    let watcher = Watcher::start(broker.port, &["watchpost/alerts"]).await;
    let server = RtspServer::start_new(&arrives);
    let port = server.port;
    // No cooldown: a second event would alert again, so one alert means one event.
    let config = format!(
        "{detector}[mqtt]\nhost = \"127.0.0.1\"\nport = {}\n[[cameras]]\nid = \"yard\"\nurl = \"{}\"\n\
         alerts = {{ cooldown_secs = 0 }}\n",
        broker.port,
        server.url()
    );
    let app = TestApp::start(&config).await;
    stationary_person(&app, "the person standing still").await;
    let events = app.events("camera=yard").await;
    assert_eq!(events.len(), 1, "{events:?}");
    let id = events[0]["id"].clone();
    wait_for("the alert", Duration::from_secs(20), || async {
        (!watcher.on("watchpost/alerts").is_empty()).then_some(())
    })
    .await;

    // The RTSP server goes away and comes back on the same port; the person is there from its
    // first frame. The camera reconnects and finds the same person: no new event.
    let restarts = app.get_json("/api/cameras/yard").await["restarts"].as_u64().unwrap_or(0);
    server.stop();
    wait_for("the camera to notice", Duration::from_secs(30), || async {
        let camera = app.get_json("/api/cameras/yard").await;
        (camera["state"] != "online").then_some(())
    })
    .await;
    let server = RtspServer::start(&stays, port);
    wait_for("the camera back online", Duration::from_secs(30), || async {
        (app.camera_state("yard").await.0 == "online").then_some(())
    })
    .await;
    stationary_person(&app, "the person found again after the reconnect").await;
    // The clip ends after 25 s (as a looping file would): another reconnect, the same person.
    wait_for("the stream to end and come back", Duration::from_secs(60), || async {
        let camera = app.get_json("/api/cameras/yard").await;
        let again = camera["restarts"].as_u64().unwrap_or(0) >= restarts + 2 && camera["state"] == "online";
        again.then_some(())
    })
    .await;
    stationary_person(&app, "the person found again after the stream looped").await;
    let events = app.events("camera=yard").await;
    assert_eq!(events.len(), 1, "reconnects made no new event: {events:?}");
    assert_eq!((&events[0]["id"], &events[0]["end"]), (&id, &serde_json::Value::Null), "still open");

    // Watchpost itself restarts (the same data directory): the person is remembered.
    let data = app.shutdown().await;
    let app = TestApp::start_in(&config, data).await;
    let event = app.get_json(&format!("/api/events/{id}")).await;
    assert!(event["end"].is_null(), "a stationary object's event stays open across the restart: {event}");
    stationary_person(&app, "the person found again after Watchpost restarted").await;
    // Enough passes for a second event to have been confirmed, were the person a new object.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let events = app.events("camera=yard").await;
    assert_eq!(events.len(), 1, "the restart made no new event: {events:?}");
    assert!(events[0]["end"].is_null());
    assert_eq!(watcher.on("watchpost/alerts").len(), 1, "one arrival, one alert");

    // The person leaves (the stream comes back without them): the event ends at their last
    // sighting, and it stays the only one.
    server.stop();
    let _server = RtspServer::start(&gone, port);
    let ended = wait_for("the event to end", Duration::from_secs(90), || async {
        let event = app.get_json(&format!("/api/events/{id}")).await;
        (!event["end"].is_null()).then_some(event)
    })
    .await;
    assert_eq!(ended["stationary"], true);
    let (start, end) = (ended["start_ms"].as_i64().unwrap(), ended["end_ms"].as_i64().unwrap());
    assert!(end - start > 20_000, "the event spans the whole stay: {ended}");
    assert_eq!(app.events("camera=yard").await.len(), 1);
    assert_eq!(watcher.on("watchpost/alerts").len(), 1);
    let camera = app.get_json("/api/cameras/yard").await;
    assert_eq!(camera["objects"], serde_json::json!([]));
    app.shutdown().await;
}
