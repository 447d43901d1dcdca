//! End to end over a real RTSP server: GStreamer serves an H.264 clip made from a photograph; the
//! camera decodes it with the real ffmpeg, sees no motion while the field is empty, records a
//! motion event with a snapshot when the person walks in, goes offline when the server stops,
//! comes back when it returns, keeps recording events, and leaves no ffmpeg behind.

mod common;

use common::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtsp_camera_records_motion_survives_a_server_restart_and_cleans_up() {
    let clip = test_clip();
    let server = RtspServer::start_new(&clip);
    let port = server.port;
    let config = format!(
        r#"
        [ffmpeg]
        max_retry_delay_secs = 2
        [[cameras]]
        id = "field"
        url = "{}"
        motion = {{ quiet_secs = 2 }}
        "#,
        server.url()
    );
    let app = TestApp::start(&config).await;
    let mut bus = app.running().state.bus.subscribe();

    // Online: the first frame arrives.
    wait_for("the camera to come online", Duration::from_secs(30), || async {
        (app.camera_state("field").await.0 == "online").then_some(())
    })
    .await;
    assert_eq!(ffmpeg_children(), 1, "one ffmpeg per camera");

    // The field is empty for the first 8 s of the stream (40 frames at 5 fps; ffmpeg's probing
    // swallows a couple of seconds), then the person walks
    // in: a motion event with a snapshot, and none before it while the scene was still.
    let still_frames = AtomicU64::new(0);
    let event = wait_for("a motion event", Duration::from_secs(30), || async {
        let frames_before = app.get_json("/api/cameras/field").await["frames"].as_u64().unwrap();
        let first = app.events("camera=field").await.into_iter().next();
        if first.is_none() {
            still_frames.store(frames_before, Ordering::Relaxed);
        }
        first
    })
    .await;
    let still_frames = still_frames.into_inner();
    assert!(still_frames >= 15, "the camera saw {still_frames} frames of the still field without an event");
    assert_eq!(event["kind"], "motion");
    assert_eq!(event["camera"], "field");
    let bbox: Vec<f64> =
        event["box_relative"].as_array().expect("event has a box").iter().map(|v| v.as_f64().unwrap()).collect();
    assert!(bbox[2] > 0.0 && bbox[3] > 0.3, "a person-sized box: {bbox:?}");
    assert!(bbox[0] < 0.05, "the person walks in from the left edge: {bbox:?}");
    let snapshot_url = event["snapshot_url"].as_str().expect("event has a snapshot");
    let snapshot = app.client.get(app.url(snapshot_url)).send().await.unwrap();
    assert_eq!(snapshot.status(), 200);
    assert_eq!(snapshot.headers()["content-type"], "image/jpeg");
    let bytes = snapshot.bytes().await.unwrap();
    assert!(bytes.len() > 5_000 && bytes.starts_with(&[0xFF, 0xD8]), "a real JPEG, {} bytes", bytes.len());

    // The event ends once the person has left and 2 quiet seconds passed.
    let first_id = event["id"].as_i64().unwrap();
    wait_for("the first event to end", Duration::from_secs(30), || async {
        let event = app.get_json(&format!("/api/events/{first_id}")).await;
        (!event["end"].is_null()).then_some(())
    })
    .await;

    // The server goes away: the camera goes offline with a reason, and its ffmpeg is gone.
    server.stop();
    let (state, error) = wait_for("the camera to go offline", Duration::from_secs(40), || async {
        let (state, error) = app.camera_state("field").await;
        (state == "offline" || state == "error").then_some((state, error))
    })
    .await;
    assert_eq!(state, "offline");
    assert!(error.is_some_and(|e| !e.is_empty()), "offline comes with a reason");

    // The server comes back on the same port: online again, and new events are recorded.
    let server = RtspServer::start(&clip, port);
    wait_for("the camera to come back online", Duration::from_secs(40), || async {
        (app.camera_state("field").await.0 == "online").then_some(())
    })
    .await;
    let camera = app.get_json("/api/cameras/field").await;
    assert!(camera["restarts"].as_u64().unwrap() >= 1, "the restart was counted: {camera}");
    wait_for("an event after the reconnect", Duration::from_secs(40), || async {
        app.events("camera=field").await.into_iter().find(|e| e["id"].as_i64() > Some(first_id)).map(|_| ())
    })
    .await;
    assert_eq!(ffmpeg_children(), 1, "still one ffmpeg after restarts");

    // Subscribers of the event bus saw the same story as typed messages.
    let mut seen = Vec::new();
    while let Ok(message) = bus.try_recv() {
        seen.push(serde_json::to_value(&message).unwrap());
    }
    let saw =
        |kind: &str, field: &str, value: serde_json::Value| seen.iter().any(|m| m["type"] == kind && m[field] == value);
    assert!(saw("event_started", "id", first_id.into()), "{seen:?}");
    assert!(saw("event_ended", "id", first_id.into()), "{seen:?}");
    assert!(saw("motion", "active", true.into()) && saw("motion", "active", false.into()), "{seen:?}");
    assert!(
        saw("camera_status", "state", "offline".into()) && saw("camera_status", "state", "online".into()),
        "{seen:?}"
    );

    // Shutting down leaves no ffmpeg process behind.
    app.shutdown().await;
    assert_eq!(ffmpeg_children(), 0, "no ffmpeg left after shutdown");
    server.stop();
}
