//! Object detection end to end: cameras over real RTSP streams (GStreamer serving clips made from a
//! photograph), the real model, the tracker and the object events, as a user sees them in the API.

mod common;

use common::*;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_walking_through_is_one_person_event() {
    let Some(detector) = detector_toml() else { return };
    let clip = test_clip();
    let server = RtspServer::start_new(&clip);
    let config = format!("{detector}[[cameras]]\nid = \"field\"\nurl = \"{}\"\n", server.url());
    let app = TestApp::start(&config).await;

    // While the person is there the camera reports them live, with a box (the camera page draws it).
    let live = wait_for("the person in the live status", Duration::from_secs(60), || async {
        let camera = app.get_json("/api/cameras/field").await;
        camera["objects"].as_array().and_then(|o| o.first().cloned())
    })
    .await;
    assert_eq!(live["label"], "person");
    assert!(live["box"][3].as_f64().unwrap() > 0.3, "{live}");
    // The person walks in after 8 s, stands 3 s and walks out: one event that ends when they leave.
    let event = wait_for("the person event to end", Duration::from_secs(60), || async {
        app.events("camera=field").await.into_iter().find(|e| !e["end"].is_null())
    })
    .await;
    let events = app.events("camera=field").await;
    assert_eq!(events.len(), 1, "one walk, one event: {events:?}");
    assert_eq!(event["kind"], "object");
    assert_eq!(event["label"], "person");
    let score = event["score"].as_f64().unwrap();
    assert!(score >= 0.7, "top score {score}");
    assert_eq!(event["stationary"], false);
    let history = event["score_history"].as_array().unwrap();
    assert!(history.len() >= 3, "a score a second while the person was there: {history:?}");
    assert_eq!(history[0][0], 0.0);
    let camera = app.get_json("/api/cameras/field").await;
    assert_eq!(camera["objects"], serde_json::json!([]), "nobody is followed once the person left");
    let bbox: Vec<f64> = event["box_relative"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert!(bbox[2] > 0.02 && bbox[3] > 0.3, "a person-sized box: {bbox:?}");
    // The API's `box` is [x1, y1, x2, y2] in pixels of the 640×360 analysed frame.
    assert_eq!(event["frame"], serde_json::json!([640, 360]));
    let pixels: Vec<u64> = event["box"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    assert!(pixels[0] < pixels[2] && pixels[1] < pixels[3] && pixels[2] <= 640 && pixels[3] <= 360, "{pixels:?}");
    assert!((pixels[3] - pixels[1]) as f64 > 0.3 * 360.0, "{pixels:?}");
    let snapshot = app.client.get(app.url(event["snapshot_url"].as_str().unwrap())).send().await.unwrap();
    assert_eq!(snapshot.status(), 200);
    let clean = snapshot.bytes().await.unwrap();
    assert!(clean.len() > 5_000);
    // A copy with the box and label drawn in, for alerts; the clean one is kept.
    let boxes_url = event["snapshot_boxes_url"].as_str().expect("object events have an annotated snapshot");
    let drawn = app.client.get(app.url(boxes_url)).send().await.unwrap().bytes().await.unwrap();
    assert!(drawn.starts_with(&[0xFF, 0xD8]) && drawn.len() > 5_000);
    assert_ne!(drawn, clean);
    std::fs::write(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("annotated-event.jpg"), &drawn).unwrap();
    // With a detector running, motion alone makes no events; the counters and metrics show it.
    assert!(app.events("camera=field&kind=motion").await.is_empty());
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("watchpost_detector_up 1"), "{metrics}");
    assert!(metrics.contains("watchpost_camera_object_events_total{camera=\"field\"} 1"), "{metrics}");
    let inferences: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("watchpost_detector_inferences_total "))
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(inferences >= 10.0, "{inferences} inferences");
    let system = app.client.get(app.url("/settings/system")).send().await.unwrap().text().await.unwrap();
    assert!(system.contains("yolox_nano.onnx, 416×416") && system.contains("Time per run"), "{system}");
    app.shutdown().await;
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_camera_not_tracking_people_makes_no_event_for_one() {
    let Some(detector) = detector_toml() else { return };
    let server = RtspServer::start_new(&test_clip());
    let config = format!(
        "{detector}[[cameras]]\nid = \"drive\"\nurl = \"{}\"\nobjects = {{ track = [\"car\"] }}\n",
        server.url()
    );
    let app = TestApp::start(&config).await;
    // Wait through the whole clip (19 s): the person walks by, and nothing is recorded.
    wait_for("a full pass of the clip", Duration::from_secs(60), || async {
        let frames = app.get_json("/api/cameras/drive").await["frames"].as_u64().unwrap_or(0);
        (frames >= 5 * 19).then_some(())
    })
    .await;
    assert!(app.events("camera=drive").await.is_empty());
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let detections: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("watchpost_detector_detections_total "))
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(detections > 0.0, "the model did see the person; the camera only does not track people");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_masks_hide_the_person_and_zones_are_recorded() {
    let Some(detector) = detector_toml() else { return };
    // Two cameras on two RTSP streams of the same clip. The person walks in from the left and stands
    // in the left third of the picture.
    let (first, second) = (RtspServer::start_new(&test_clip()), RtspServer::start_new(&test_clip()));
    let left = "[[0.0, 0.4], [0.5, 0.4], [0.5, 1.0], [0.0, 1.0]]";
    let config = format!(
        r#"{detector}
        [[cameras]]
        id = "masked"
        url = "{first}"
        objects = {{ mask = [{left}] }}
        [[cameras]]
        id = "zoned"
        url = "{second}"
        objects = {{ require_zones = ["path"] }}
        [[cameras.zones]]
        name = "path"
        polygon = {left}
        [[cameras.zones]]
        name = "far-side"
        polygon = [[0.6, 0.4], [1.0, 0.4], [1.0, 1.0], [0.6, 1.0]]
        "#,
        first = first.url(),
        second = second.url()
    );
    let app = TestApp::start(&config).await;
    let event = wait_for("the zoned camera's event to end", Duration::from_secs(60), || async {
        app.events("camera=zoned").await.into_iter().find(|e| !e["end"].is_null())
    })
    .await;
    assert_eq!(event["label"], "person");
    assert_eq!(event["zones"], serde_json::json!(["path"]), "entered the path, never the far side");
    assert_eq!(app.events("zone=path").await.len(), 1);
    assert!(app.events("zone=far-side").await.is_empty());
    assert!(app.events("camera=masked").await.is_empty(), "the mask hides the person");
    // Without a model, the description is written from the detections, and search finds the event.
    let described = wait_for("the description with the duration", Duration::from_secs(10), || async {
        let event = app.get_json(&format!("/api/events/{}", event["id"])).await;
        event["description"].as_str().is_some_and(|d| d.contains(", stayed ")).then_some(event)
    })
    .await;
    assert_eq!(described["described_by"], "rules");
    assert!(described["description"].as_str().unwrap().starts_with("Person in path (zoned) at "), "{described}");
    let found = app.events("q=person%20path&camera=zoned").await;
    assert_eq!(found.iter().map(|e| e["id"].clone()).collect::<Vec<_>>(), [event["id"].clone()]);
    // The event page outlines the zone and labels the box.
    let page = app.client.get(app.url(&format!("/events/{}", event["id"]))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("class=\"zone\"") && page.contains(">path</text>"), "zone outline");
    assert!(page.contains("class=\"box-label\"") && page.contains(">person "), "labelled box");
    let list = app.client.get(app.url("/events?zone=path&label=person")).send().await.unwrap().text().await.unwrap();
    assert!(list.contains(&format!("/events/{}", event["id"])), "the events page filters by zone and label");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_standing_for_a_minute_is_still_one_event() {
    let Some(detector) = detector_toml() else { return };
    // The person walks in after 4 s and stands still for 66 s before walking out.
    let plan = watchpost::demo::ClipPlan { empty_secs: 4, walk_secs: 2, stand_secs: 66, tail_secs: 4, ..TEST_PLAN };
    let dir = tempfile::tempdir().unwrap();
    let clip = watchpost::demo::ensure_clip("ffmpeg", &dir.path().join("standing.mp4"), &plan).unwrap();
    let server = RtspServer::start_new(&clip);
    let config = format!("{detector}[[cameras]]\nid = \"gate\"\nurl = \"{}\"\n", server.url());
    let app = TestApp::start(&config).await;
    let started = std::time::Instant::now();

    // Soon after stopping, the person is followed as stationary.
    wait_for("the person to become stationary", Duration::from_secs(40), || async {
        let camera = app.get_json("/api/cameras/gate").await;
        camera["objects"].as_array()?.iter().any(|o| o["stationary"] == true).then_some(())
    })
    .await;
    // A minute of stream time in, still exactly one event, still open.
    let until = Duration::from_secs(66);
    if let Some(rest) = until.checked_sub(started.elapsed()) {
        tokio::time::sleep(rest).await;
    }
    let events = app.events("camera=gate").await;
    assert_eq!(events.len(), 1, "standing still makes no new events: {events:?}");
    assert!(events[0]["end"].is_null(), "the event stays open while the person stands there");
    // They walk away: the same event ends, marked stationary.
    let event = wait_for("the event to end", Duration::from_secs(30), || async {
        app.events("camera=gate").await.into_iter().find(|e| !e["end"].is_null())
    })
    .await;
    assert_eq!(app.events("camera=gate").await.len(), 1);
    assert_eq!(event["stationary"], true);
    app.shutdown().await;
}
