//! Every page and API route over real HTTP: status, content type and the content that matters,
//! plus the add / edit / delete camera flow with inline validation errors and event status changes,
//! and what the camera status and the dashboard tell a new user.

mod common;

use common::*;
use std::time::Duration;
use watchpost::db::NewEvent;

/// An app with one file camera (the test clip) and two stored events, one with a snapshot.
async fn app_with_data() -> (TestApp, i64, i64) {
    let clip = test_clip();
    let config = format!("[[cameras]]\nid = \"yard\"\nname = \"Back yard\"\nurl = \"{}\"\n", clip.display());
    let app = TestApp::start(&config).await;
    let db = &app.running().state.db;
    let new = |start_ms: i64| NewEvent {
        score: 0.12,
        bbox: [0.25, 0.25, 0.5, 0.5],
        boxes: vec![[0.25, 0.25, 0.5, 0.5]],
        ..motion_event("yard", start_ms)
    };
    let now = chrono::Utc::now().timestamp_millis();
    let without = db.insert_event(&new(now - 60_000)).await.unwrap();
    let mut with_snapshot = new(now);
    with_snapshot.snapshot = Some("snapshots/yard/test.jpg".into());
    let with = db.insert_event(&with_snapshot).await.unwrap();
    app.running().state.media.write_atomic("snapshots/yard/test.jpg", &[0xFF, 0xD8, 0xFF, 0xD9]).unwrap();
    (app, without, with)
}

async fn get(app: &TestApp, path: &str) -> (u16, String, String) {
    let response = app.client.get(app.url(path)).send().await.unwrap();
    let status = response.status().as_u16();
    let content_type =
        response.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    (status, content_type, response.text().await.unwrap_or_default())
}

async fn post_form(app: &TestApp, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
    let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
    app.client
        .post(app.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_render_with_their_content() {
    let (app, without, with) = app_with_data().await;
    let backend = app.running().state.db.backend_name();
    for (path, must_contain) in [
        ("/", vec!["Back yard", "/api/cameras/yard/latest.jpg", "Latest events"]),
        ("/cameras/yard", vec!["Back yard", "Recent events", "640 × 360 at 5 fps", "defined in the config file"]),
        ("/cameras/new", vec!["Add a camera", "name=\"url\"", "name=\"fps\""]),
        ("/events", vec![&format!("/events/{with}"), &format!("/events/{without}"), "All cameras"]),
        ("/events?camera=yard&kind=motion", vec![&format!("/events/{with}")]),
        ("/settings/system", vec!["Object detector", "turned off", "Back yard", backend]),
        (
            &format!("/events/{with}"),
            vec![
                "Motion on",
                "Back yard",
                "<rect x=\"160.0\" y=\"90.0\" width=\"320.0\" height=\"180.0\"",
                "Mark resolved",
            ],
        ),
    ] {
        let (status, content_type, body) = get(&app, path).await;
        assert_eq!(status, 200, "GET {path}");
        assert_eq!(content_type, "text/html; charset=utf-8", "GET {path}");
        for needle in must_contain {
            assert!(body.contains(needle), "GET {path} lacks {needle:?}");
        }
    }
    let (status, _, body) = get(&app, "/events?camera=nothere").await;
    assert_eq!(status, 200);
    assert!(body.contains("No events match"));
    let (status, _, body) = get(&app, "/events?date=yesterday").await;
    assert_eq!(status, 400);
    assert!(body.contains("YYYY-MM-DD"));
    for missing in ["/cameras/nope", "/events/999999", "/no/such/page"] {
        let (status, content_type, _) = get(&app, missing).await;
        assert_eq!(status, 404, "GET {missing}");
        assert!(content_type.starts_with("text/html"));
    }
    let (status, content_type, body) = get(&app, "/static/style.css").await;
    assert_eq!((status, content_type.as_str()), (200, "text/css; charset=utf-8"));
    assert!(body.contains(".event-grid"));
    let (status, content_type, _) = get(&app, "/static/app.js").await;
    assert_eq!((status, content_type.as_str()), (200, "text/javascript; charset=utf-8"));
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_routes_answer_json_and_images() {
    let (app, without, with) = app_with_data().await;
    let health = app.get_json("/api/health").await;
    assert_eq!(health["status"], "ok");

    let cameras = app.get_json("/api/cameras").await;
    assert_eq!(cameras[0]["id"], "yard");
    assert_eq!(cameras[0]["source"], "config");
    assert!(cameras[0]["state"].is_string());

    // The live picture appears once ffmpeg delivers the first frame.
    let jpeg = wait_for("the first frame", Duration::from_secs(30), || async {
        let response = app.client.get(app.url("/api/cameras/yard/latest.jpg")).send().await.ok()?;
        (response.status() == 200).then_some(())?;
        assert_eq!(response.headers()["content-type"], "image/jpeg");
        assert_eq!(response.headers()["cache-control"], "private, no-store");
        response.bytes().await.ok()
    })
    .await;
    assert!(jpeg.starts_with(&[0xFF, 0xD8]) && jpeg.len() > 2_000);
    assert_eq!(get(&app, "/api/cameras/nope/latest.jpg").await.0, 404);

    let listed = app.get_json("/api/events?camera=yard&limit=1").await;
    let events = listed["events"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    let event = &events[0];
    for field in [
        "id",
        "camera",
        "kind",
        "label",
        "score",
        "box",
        "box_relative",
        "frame",
        "stationary",
        "zones",
        "start",
        "end",
        "snapshot_url",
        "severity",
        "status",
        "description",
    ] {
        assert!(event.get(field).is_some(), "event lacks {field}: {event}");
    }
    assert_eq!(event["id"], with);
    assert_eq!(event["snapshot_url"], format!("/api/events/{with}/snapshot.jpg"));
    assert_eq!(listed["next_before"], with);
    let older = app.get_json(&format!("/api/events?camera=yard&before={with}")).await;
    assert_eq!(older["events"][0]["id"], without);
    assert_eq!(app.get_json("/api/events?kind=object").await["events"].as_array().unwrap().len(), 0);
    assert_eq!(get(&app, "/api/events?limit=0").await.0, 400);
    assert_eq!(get(&app, "/api/events?before=abc").await.0, 400);
    let (status, _, body) = get(&app, "/api/events?kind=animal").await;
    assert_eq!(status, 400, "an unknown kind is refused, not answered with nothing");
    assert!(body.contains("motion, object, sensor"), "{body}");

    let detail = app.get_json(&format!("/api/events/{without}")).await;
    assert_eq!(detail["box_relative"], serde_json::json!([0.25, 0.25, 0.5, 0.5]));
    assert_eq!(detail["box"], serde_json::json!([160, 90, 480, 270]), "frame pixels");
    assert_eq!(detail["frame"], serde_json::json!([640, 360]));
    assert!(detail["snapshot_url"].is_null());
    let (status, content_type, body) = get(&app, "/api/events/999999").await;
    assert_eq!((status, content_type.as_str()), (404, "application/json"));
    assert!(body.contains("\"error\""));

    let snapshot = app.client.get(app.url(&format!("/api/events/{with}/snapshot.jpg"))).send().await.unwrap();
    assert_eq!(snapshot.status(), 200);
    assert_eq!(snapshot.headers()["content-type"], "image/jpeg");
    // Snapshots are private to the signed-in user: no shared or stored copies.
    assert_eq!(snapshot.headers()["cache-control"], "private, no-store");
    assert_eq!(get(&app, &format!("/api/events/{without}/snapshot.jpg")).await.0, 404);

    let (status, content_type, metrics) = get(&app, "/metrics").await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/plain; version=0.0.4"));
    for line in [
        "watchpost_camera_fps{camera=\"yard\"}",
        "watchpost_camera_restarts_total{camera=\"yard\"} 0",
        "watchpost_camera_frames_dropped_total{camera=\"yard\"}",
        "watchpost_camera_motion_events_total{camera=\"yard\"}",
    ] {
        assert!(metrics.contains(line), "metrics lack {line}:\n{metrics}");
    }
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cameras_are_added_edited_and_deleted_from_the_ui() {
    let (app, _, _) = app_with_data().await;
    let clip = test_clip();
    let clip = clip.to_str().unwrap();
    let form = |id: &'static str, url: &'static str, fps: &'static str| {
        vec![
            ("id", id),
            ("name", "Garage"),
            ("url", url),
            ("enabled", "on"),
            ("width", "640"),
            ("height", "360"),
            ("fps", fps),
            ("threshold", "25"),
            ("contour_area", "15"),
            ("start_frames", "3"),
            ("quiet_secs", "10"),
            ("mask", ""),
        ]
    };

    // Invalid input: the form comes back with a message next to each bad field, nothing is saved.
    let response = post_form(&app, "/cameras", &form("Bad Id", "ftp://x", "0")).await;
    assert_eq!(response.status(), 422);
    let body = response.text().await.unwrap();
    assert!(body.contains("is not a valid id"), "{body}");
    assert!(body.contains("use rtsp://"), "{body}");
    assert!(body.contains("0 is not allowed; use 1–30"), "{body}");
    assert!(body.contains("value=\"Garage\""), "what the user typed is kept");
    let response = post_form(&app, "/cameras", &form("yard", "rtsp://10.0.0.1/s", "5")).await;
    assert_eq!(response.status(), 422);
    assert!(response.text().await.unwrap().contains("already used by another camera"));

    // A valid camera is saved, started and listed; its credentials are never shown back.
    let mut fields = form("garage", "rtsp://127.0.0.1:1/s", "5");
    fields.extend([("username", "camuser"), ("password", "pw-Secret1")]);
    let response = post_form(&app, "/cameras", &fields).await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/cameras/garage");
    let runtime = app.running().state.cameras.get("garage").unwrap();
    assert_eq!(runtime.config.url, "rtsp://camuser:pw-Secret1@127.0.0.1:1/s");
    let camera = app.get_json("/api/cameras/garage").await;
    assert_eq!(camera["source"], "ui");
    assert_eq!(camera["url"], "rtsp://***@127.0.0.1:1/s", "credentials are never shown");
    for page in ["/cameras/garage/edit", "/cameras/garage", "/"] {
        let (_, _, body) = get(&app, page).await;
        assert!(!body.contains("pw-Secret1") && !body.contains("camuser"), "{page} shows a credential");
    }
    let (_, _, edit_page) = get(&app, "/cameras/garage/edit").await;
    assert!(edit_page.contains("value=\"rtsp://127.0.0.1:1/s\"") && edit_page.contains("saved; leave empty to keep"));

    // Editing with empty credential fields keeps the saved ones.
    let mut edit = form("garage", "", "2");
    edit[2] = ("url", "rtsp://127.0.0.1:1/s");
    let response = post_form(&app, "/cameras/garage", &edit).await;
    assert_eq!(response.status(), 303);
    let runtime = app.running().state.cameras.get("garage").unwrap();
    assert_eq!(runtime.config.url, "rtsp://camuser:pw-Secret1@127.0.0.1:1/s");
    assert_eq!(runtime.config.detect.fps, 2);
    let stored = app.running().state.db.get_camera("garage").await.unwrap().unwrap();
    assert!(stored.settings.contains("\"fps\":2"));

    // The alert policy is edited on the same form: quiet times and rules as lines, mistakes
    // shown next to their field.
    let mut alerts = edit.clone();
    alerts.extend([
        ("track", "person, car"),
        ("alert_labels", "person"),
        ("alert_severity", "high"),
        ("alert_timezone", "Europe/Berlin"),
        ("alert_quiet", "mon,tue,wed,thu,fri 08:00-17:00"),
        ("alert_rules", "low time=07:00-09:00"),
    ]);
    assert_eq!(post_form(&app, "/cameras/garage", &alerts).await.status(), 303);
    let policy = app.running().state.cameras.get("garage").unwrap().config.alerts.clone();
    assert_eq!(
        (policy.labels, policy.severity.as_str(), policy.timezone.text()),
        (vec!["person".to_string()], "high", "Europe/Berlin")
    );
    assert_eq!((policy.quiet.len(), policy.rules.len()), (1, 1));
    let (_, _, edit_page) = get(&app, "/cameras/garage/edit").await;
    assert!(edit_page.contains("mon,tue,wed,thu,fri 08:00-17:00") && edit_page.contains("low time=07:00-09:00"));
    alerts.push(("alert_quiet", "weekdays 8-17"));
    let bad = alerts.iter().filter(|(k, v)| *k != "alert_quiet" || *v == "weekdays 8-17").cloned().collect::<Vec<_>>();
    let response = post_form(&app, "/cameras/garage", &bad).await;
    assert_eq!(response.status(), 422);
    let body = response.text().await.unwrap();
    assert!(body.contains("line 1: &#34;8&#34; is not a time"), "{body}");

    // "Inactive until" a time on the camera's clock.
    let until = [("mute_minutes", "keep"), ("mute_until", "2099-11-30T07:00"), ("alerts", "on"), ("detect", "on")];
    assert_eq!(post_form(&app, "/cameras/garage/controls", &until).await.status(), 303);
    let until = app.running().state.cameras.controls().get("garage").mute_until_ms.unwrap();
    assert_eq!(chrono::DateTime::from_timestamp_millis(until).unwrap().to_rfc3339(), "2099-11-30T06:00:00+00:00");
    let past = [("mute_minutes", "keep"), ("mute_until", "2001-01-01T07:00")];
    assert_eq!(post_form(&app, "/cameras/garage/controls", &past).await.status(), 400, "a past time is refused");

    // Config-file cameras are read-only in the UI.
    assert_eq!(get(&app, "/cameras/yard/edit").await.0, 409);
    assert_eq!(post_form(&app, "/cameras/yard/delete", &[]).await.status(), 409);

    // Deleting asks first, then removes the camera but keeps its events.
    let (status, _, confirm) = get(&app, "/cameras/garage/delete").await;
    assert_eq!(status, 200);
    assert!(confirm.contains("are kept"));
    let response = post_form(&app, "/cameras/garage/delete", &[]).await;
    assert_eq!(response.status(), 303);
    assert_eq!(get(&app, "/api/cameras/garage").await.0, 404);
    assert!(app.running().state.db.get_camera("garage").await.unwrap().is_none());

    // A file camera added from the UI survives a restart (it is stored in the database).
    let mut file_camera = form("porch", "", "5");
    file_camera[2] = ("url", clip);
    assert_eq!(post_form(&app, "/cameras", &file_camera).await.status(), 303);
    let data = app.shutdown().await;
    let app = TestApp::start_in("", data).await;
    let camera = app.get_json("/api/cameras/porch").await;
    assert_eq!(camera["source"], "ui");
    assert_eq!(get(&app, "/api/cameras/yard").await.0, 404, "a camera removed from the config file is gone");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_marked_viewed_resolved_and_new_again() {
    let (app, _, with) = app_with_data().await;
    for status in ["viewed", "resolved", "new"] {
        let response = post_form(&app, &format!("/events/{with}/status"), &[("status", status)]).await;
        assert_eq!(response.status(), 303);
        assert_eq!(app.get_json(&format!("/api/events/{with}")).await["status"], status);
    }
    assert_eq!(post_form(&app, &format!("/events/{with}/status"), &[("status", "deleted")]).await.status(), 400);
    assert_eq!(post_form(&app, "/events/999999/status", &[("status", "viewed")]).await.status(), 404);

    // Tags: words people give an event, kept tidy, and a filter.
    let tags = [("tags", " False alarm, delivery,false  alarm ,")];
    assert_eq!(post_form(&app, &format!("/events/{with}/tags"), &tags).await.status(), 303);
    assert_eq!(
        app.get_json(&format!("/api/events/{with}")).await["tags"],
        serde_json::json!(["false alarm", "delivery"])
    );
    let tagged: Vec<i64> = app.events("tag=Delivery").await.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert_eq!(tagged, [with]);
    assert!(app.events("tag=deliver").await.is_empty(), "a tag matches whole");
    let (_, _, page) = get(&app, "/events?tag=delivery").await;
    assert!(page.contains("#false alarm") && page.contains("value=\"delivery\""), "{page}");
    let bad = post_form(&app, &format!("/events/{with}/tags"), &[("tags", "<script>")]).await;
    assert_eq!(bad.status(), 400);

    // Resolving several at once, within the cameras the user may see.
    let all: Vec<String> = app.events("").await.iter().map(|e| e["id"].to_string()).collect();
    let mut form: Vec<(&str, &str)> = all.iter().map(|id| ("id", id.as_str())).collect();
    form.push(("back", "/events?kind=motion"));
    let resolved = post_form(&app, "/events/resolve", &form).await;
    assert_eq!(
        (resolved.status().as_u16(), &resolved.headers()["location"]),
        (303, &"/events?kind=motion".parse::<reqwest::header::HeaderValue>().unwrap())
    );
    assert!(app.events("").await.iter().all(|e| e["status"] == "resolved"));
    assert_eq!(app.events("status=new").await.len(), 0);
    let elsewhere =
        post_form(&app, "/events/resolve", &[("id", all[0].as_str()), ("back", "https://evil.example/")]).await;
    assert_eq!(elsewhere.headers()["location"], "/events", "only back to the events page");
    app.shutdown().await;
}

/// `watchpost healthcheck --bind ADDR` (the container's HEALTHCHECK): its exit status and what it says.
fn healthcheck(address: &str) -> (bool, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_watchpost"))
        .args(["healthcheck", "--bind", address])
        .env_remove("WATCHPOST_CONFIG")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), said)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_answers_503_when_the_database_is_gone() {
    let app = TestApp::start("").await;
    let health = app.anonymous.get(app.url("/api/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let address = app.base.trim_start_matches("http://").to_string();
    let (healthy, said) = tokio::task::spawn_blocking({
        let address = address.clone();
        move || healthcheck(&address)
    })
    .await
    .unwrap();
    assert!(healthy, "the health check command fails on a healthy server: {said}");
    assert!(said.contains(r#""status":"ok""#), "{said}");
    // The database's connections are closed under the running server (as when its disk or
    // server goes away).
    app.running().state.db.clone().close().await;
    let health = app.anonymous.get(app.url("/api/health")).send().await.unwrap();
    assert_eq!(health.status(), 503, "a container orchestrator sees the outage");
    let body: serde_json::Value = health.json().await.unwrap();
    assert_eq!(body["status"], "unavailable");
    let (healthy, said) = tokio::task::spawn_blocking(move || healthcheck(&address)).await.unwrap();
    assert!(!healthy, "the health check command passes a server without its database: {said}");
    assert!(said.contains("503"), "it says what the server answered: {said}");
    app.shutdown().await;
    // Nothing listening: a clear failure, not a hang.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
    let (healthy, said) = tokio::task::spawn_blocking(move || healthcheck(&closed)).await.unwrap();
    assert!(!healthy && said.contains("nothing answers at"), "{said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_config_file_wins_over_a_ui_camera_with_the_same_id() {
    let app = TestApp::start("").await;
    let form = camera_form(&[("id", "gate"), ("name", "Gate from the UI"), ("url", "rtsp://127.0.0.1:9/ui")]);
    assert_eq!(app.client.post(app.url("/cameras")).form(&form).send().await.unwrap().status(), 303);
    assert_eq!(app.get_json("/api/cameras/gate").await["source"], "ui");
    let data = app.shutdown().await;

    let file = "[[cameras]]\nid = \"gate\"\nname = \"Gate from the file\"\nurl = \"rtsp://127.0.0.1:9/file\"\nenabled = false\n";
    let app = TestApp::start_in(file, data).await;
    let gate = app.get_json("/api/cameras/gate").await;
    assert_eq!((&gate["source"], &gate["name"]), (&"config".into(), &"Gate from the file".into()), "{gate}");
    assert_eq!(gate["url"], "rtsp://127.0.0.1:9/file");
    assert_eq!(app.get_json("/api/cameras").await.as_array().unwrap().len(), 1, "one camera, not two");
    // The UI will not make a second one with that id.
    let again = app.client.post(app.url("/cameras")).form(&form).send().await.unwrap();
    assert_eq!(again.status(), 422);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_camera_that_drops_while_seeing_motion_does_not_keep_showing_motion() {
    // Here rather than in tests/rtsp.rs, whose test counts this process's ffmpeg children.
    let clip = test_clip();
    let server = RtspServer::start_new(&clip);
    // Motion is held for a minute after the last change, far longer than it takes to notice the
    // stream is gone: whatever the camera reports while offline, it is not left from before.
    let config = format!(
        "[ffmpeg]\nmax_retry_delay_secs = 30\n[[cameras]]\nid = \"gate\"\nurl = \"{}\"\nmotion = {{ quiet_secs = 60 }}\n",
        server.url()
    );
    let app = TestApp::start(&config).await;
    wait_for("motion while the person walks in", Duration::from_secs(40), || async {
        (app.get_json("/api/cameras/gate").await["motion"] == true).then_some(())
    })
    .await;
    server.stop();
    let camera = wait_for("the camera to go offline", Duration::from_secs(40), || async {
        let camera = app.get_json("/api/cameras/gate").await;
        (camera["state"] == "offline").then_some(camera)
    })
    .await;
    assert_eq!(camera["motion"], false, "no MOTION badge on a camera that sends nothing: {camera}");
    assert_eq!(camera["fps"], 0.0, "{camera}");
    assert_eq!(camera["objects"].as_array().map(Vec::len), Some(0), "{camera}");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_says_what_makes_an_event_and_that_no_alert_channel_is_set_up() {
    let app = TestApp::start("[[cameras]]\nid = \"yard\"\nurl = \"/nonexistent.mp4\"\nenabled = false\n").await;
    let (status, _, dashboard) = get(&app, "/").await;
    assert_eq!(status, 200);
    // No detector in this app: motion makes events. No bridge: alerts go nowhere but the list.
    assert!(dashboard.contains("No events yet. Motion on a camera creates one."), "{dashboard}");
    assert!(dashboard.contains("no alert channel is set up yet"), "{dashboard}");
    assert!(dashboard.contains("href=\"/settings/integrations\""), "the admin gets a link: {dashboard}");
    assert!(!dashboard.contains("go to Home Assistant"), "{dashboard}");
    app.shutdown().await;
}

/// The clip ends after 17 s and the server closes the session, as a camera that reboots does:
/// the camera is offline with "the stream ended", never an error that asks to fix the settings,
/// whatever ffmpeg said about the cut-off stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_ends_after_pictures_is_offline_not_a_settings_error() {
    let server = RtspServer::start_new(&test_clip());
    let config =
        format!("[ffmpeg]\nmax_retry_delay_secs = 2\n[[cameras]]\nid = \"field\"\nurl = \"{}\"\n", server.url());
    let app = TestApp::start(&config).await;
    let mut bus = app.running().state.bus.subscribe();
    let mut story = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(90), async {
        loop {
            let message = serde_json::to_value(bus.recv().await.unwrap()).unwrap();
            if message["type"] != "camera_status" {
                continue;
            }
            story.push(message.clone());
            let online_before = story.iter().any(|m| m["state"] == "online");
            if online_before && (message["state"] == "offline" || message["state"] == "error") {
                return message;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the stream never ended: {story:?}"));
    assert_eq!(ended["state"], "offline", "{story:?}");
    let reason = ended["error"].as_str().unwrap_or_default();
    assert!(reason.starts_with("The stream ended"), "{reason:?}");
    assert!(story.iter().all(|m| m["state"] != "error"), "never a settings error: {story:?}");
    // And it comes back by itself when the server plays the clip again.
    wait_for("the camera online again", Duration::from_secs(40), || async {
        (app.camera_state("field").await.0 == "online").then_some(())
    })
    .await;
    app.shutdown().await;
    server.stop();
}

/// A JSON request with the administrator's token (or another client's).
async fn send_json(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let response = client.request(method, url).json(&body).send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cameras_are_added_changed_switched_and_deleted_over_the_json_api() {
    let app = TestApp::start("[[cameras]]\nid = \"yard\"\nurl = \"/nonexistent.mp4\"\nenabled = false\n").await;
    let (post, patch, delete) = (reqwest::Method::POST, reqwest::Method::PATCH, reqwest::Method::DELETE);
    let new_camera = serde_json::json!({
        "id": "gate", "name": "Gate", "url": "rtsp://127.0.0.1:9/stream", "username": "cam", "password": "s3cret-pw",
        "fps": 2, "track": ["person", "car"], "zones": ["drive: 0,0 0.5,0 0.5,1"], "enabled": true, "alerts": false,
    });
    let (status, created) = send_json(&app.client, post.clone(), app.url("/api/cameras"), new_camera.clone()).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!((created["id"].as_str(), created["source"].as_str()), (Some("gate"), Some("ui")), "{created}");
    assert_eq!(created["url"], "rtsp://***@127.0.0.1:9/stream", "credentials are never shown back");
    assert_eq!(created["fps_setting"], 2);
    assert_eq!(created["controls"]["alerts"], false, "a switch given at creation: {created}");
    let shown = app.get_json("/api/cameras/gate").await;
    assert_eq!(shown["name"], "Gate");

    // The form's checks, each naming its field; nothing is created.
    let (status, refused) = send_json(
        &app.client,
        post.clone(),
        app.url("/api/cameras"),
        serde_json::json!({ "id": "bad id!", "url": "ftp://nowhere", "fps": 0, "colour": "red", "enabled": "yes" }),
    )
    .await;
    assert_eq!(status, 422, "{refused}");
    assert!(refused["fields"]["colour"].as_str().unwrap().contains("not a camera field"), "{refused}");
    assert!(refused["fields"]["enabled"].as_str().unwrap().contains("true or false"), "{refused}");
    let (status, refused) = send_json(
        &app.client,
        post.clone(),
        app.url("/api/cameras"),
        serde_json::json!({ "id": "bad id!", "url": "ftp://nowhere", "fps": 0 }),
    )
    .await;
    assert_eq!(status, 422, "{refused}");
    for field in ["id", "url", "fps"] {
        assert!(refused["fields"][field].is_string(), "{field} is named: {refused}");
    }
    assert!(refused["error"].as_str().unwrap().contains("fps: "), "{refused}");
    let (status, taken) = send_json(&app.client, post.clone(), app.url("/api/cameras"), new_camera).await;
    assert_eq!(status, 409, "{taken}");
    assert!(taken["fields"]["id"].as_str().unwrap().contains("already used"), "{taken}");
    assert_eq!(app.get_json("/api/cameras").await.as_array().unwrap().len(), 2);

    // A change keeps what it does not name (the credentials too); switches change on their own.
    let (status, changed) = send_json(
        &app.client,
        patch.clone(),
        app.url("/api/cameras/gate"),
        serde_json::json!({ "name": "Front gate", "fps": 3 }),
    )
    .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!((changed["name"].as_str(), changed["fps_setting"].as_u64()), (Some("Front gate"), Some(3)));
    assert_eq!(changed["url"], "rtsp://***@127.0.0.1:9/stream", "the saved credentials stay");
    let (status, switched) = send_json(
        &app.client,
        patch.clone(),
        app.url("/api/cameras/gate"),
        serde_json::json!({ "detect": false, "alerts": true, "mute_until": "2099-01-01T07:00" }),
    )
    .await;
    assert_eq!(status, 200, "{switched}");
    assert_eq!(
        (switched["controls"]["detect"].as_bool(), switched["controls"]["alerts"].as_bool()),
        (Some(false), Some(true))
    );
    assert!(switched["controls"]["mute_until_ms"].as_i64().unwrap() > 4_000_000_000_000, "{switched}");
    let (status, refused) = send_json(
        &app.client,
        patch.clone(),
        app.url("/api/cameras/gate"),
        serde_json::json!({ "mute_until": "soon" }),
    )
    .await;
    assert_eq!(status, 422);
    assert!(refused["fields"]["mute_until"].as_str().unwrap().contains("not a date and time"), "{refused}");
    let (status, refused) =
        send_json(&app.client, patch.clone(), app.url("/api/cameras/gate"), serde_json::json!({ "id": "other" })).await;
    assert_eq!(status, 422);
    assert!(refused["fields"]["id"].as_str().unwrap().contains("cannot change"), "{refused}");

    // A config-file camera: its settings are the file's; its switches are not.
    let (status, refused) =
        send_json(&app.client, patch.clone(), app.url("/api/cameras/yard"), serde_json::json!({ "name": "New" })).await;
    assert_eq!(status, 409);
    assert!(refused["error"].as_str().unwrap().contains("config file"), "{refused}");
    let (status, switched) =
        send_json(&app.client, patch.clone(), app.url("/api/cameras/yard"), serde_json::json!({ "alerts": false }))
            .await;
    assert_eq!((status, switched["controls"]["alerts"].as_bool()), (200, Some(false)), "{switched}");

    // A viewer's token changes nothing.
    let state = &app.running().state;
    let viewer = state.auth.create_user("vera", watchpost::model::Role::Viewer, "viewer password", &[]).await.unwrap();
    let token = state.auth.create_token(viewer, "vera's script", None).await.unwrap().jwt;
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::AUTHORIZATION, format!("Bearer {token}").parse().unwrap());
    let as_viewer = reqwest::Client::builder().default_headers(headers).build().unwrap();
    for (method, path) in [(post, "/api/cameras"), (patch, "/api/cameras/gate"), (delete.clone(), "/api/cameras/gate")]
    {
        let (status, _) =
            send_json(&as_viewer, method.clone(), app.url(path), serde_json::json!({ "name": "Mine" })).await;
        assert_eq!(status, 403, "{method} {path} as a viewer");
    }
    assert_eq!(app.get_json("/api/cameras/gate").await["name"], "Front gate");

    // Deleted: gone from the list, and an audit entry for each change.
    let deleted = app.client.delete(app.url("/api/cameras/gate")).send().await.unwrap();
    assert_eq!(deleted.status(), 204);
    assert_eq!(app.client.get(app.url("/api/cameras/gate")).send().await.unwrap().status(), 404);
    let actions: Vec<String> = state
        .db
        .list_audit(None, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.target.as_deref() == Some("gate"))
        .map(|e| e.action)
        .collect();
    for action in ["camera.create", "camera.update", "camera.controls", "camera.delete"] {
        assert!(actions.iter().any(|a| a == action), "{action} audited: {actions:?}");
    }
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_description_is_served_to_signed_in_callers() {
    let app = TestApp::start("").await;
    let document = app.get_json("/api/openapi.json").await;
    assert_eq!(document["openapi"], "3.1.0");
    for (path, method) in [("/api/cameras", "post"), ("/api/cameras/{id}", "patch"), ("/api/events", "get")] {
        assert!(document["paths"][path][method]["summary"].is_string(), "{method} {path}");
    }
    let filters: Vec<&str> = document["paths"]["/api/events"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert!(filters.contains(&"camera") && filters.contains(&"q"), "{filters:?}");
    let anonymous = app.anonymous.get(app.url("/api/openapi.json")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    app.shutdown().await;
}
