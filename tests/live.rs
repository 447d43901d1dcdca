//! Live view on real parts: a GStreamer RTSP server sends 1280×720 H.264, the real ffmpeg copies
//! it beside the detect frames on one connection, and `live.mp4` hands it to many viewers at once
//! as fragmented MP4 that ffprobe reads; a main stream that is not recorded opens for a viewer
//! and closes after the last one; an MJPEG camera (an ESP32-CAM's wire format) plays through
//! `live.mjpeg`; access follows the snapshots' rules.

mod common;

use common::*;
use std::process::Command;
use std::time::{Duration, Instant};

/// The boxes at the top level of an MP4 byte stream, as (type, size); a torn last box is left out.
fn top_boxes(bytes: &[u8]) -> Vec<(String, usize)> {
    let mut boxes = Vec::new();
    let mut at = 0;
    while at + 8 <= bytes.len() {
        let size = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        if size < 8 || at + size > bytes.len() {
            break;
        }
        boxes.push((String::from_utf8_lossy(&bytes[at + 4..at + 8]).to_string(), size));
        at += size;
    }
    boxes
}

/// Reads a streaming response for `duration`; its bytes and when each chunk arrived.
async fn read_for(response: reqwest::Response, duration: Duration) -> Vec<u8> {
    let mut response = response;
    let mut bytes = Vec::new();
    let deadline = tokio::time::Instant::now() + duration;
    while let Ok(Ok(Some(chunk))) = tokio::time::timeout_at(deadline, response.chunk()).await {
        bytes.extend_from_slice(&chunk);
    }
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_viewers_recording_and_detection_share_one_rtsp_connection() {
    let server = RtspServer::start_new(&hd_clip());
    let config = format!(
        r#"
        [[cameras]]
        id = "gate"
        url = "{}"
        record = {{ mode = "continuous", segment_secs = 4 }}
        "#,
        server.url()
    );
    let app = TestApp::start(&config).await;
    wait_for("the camera online", Duration::from_secs(30), || async {
        (app.camera_state("gate").await.0 == "online").then_some(())
    })
    .await;

    let started = Instant::now();
    let viewers = (0..10).map(|n| {
        let stream = if n % 2 == 0 { "main" } else { "sub" };
        let request = app.client.get(app.url(&format!("/api/cameras/gate/live.mp4?stream={stream}")));
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 200);
            let content_type = response.headers()["content-type"].to_str().unwrap().to_string();
            (content_type, read_for(response, Duration::from_secs(4)).await)
        }
    });
    let watched = futures_util::future::join_all(viewers).await;
    assert!(started.elapsed() < Duration::from_secs(8), "ten viewers start at once");
    for (content_type, bytes) in &watched {
        assert!(content_type.starts_with("video/mp4; codecs=\"avc1."), "{content_type}");
        let boxes = top_boxes(bytes);
        let kinds: Vec<&str> = boxes.iter().map(|(kind, _)| kind.as_str()).collect();
        assert_eq!(kinds[..2], ["ftyp", "moov"], "an init segment first");
        // 10 fps for 4 s, a fragment per frame (the backlog of the group of pictures first).
        let fragments = kinds.iter().filter(|k| **k == "moof").count();
        assert!(fragments >= 30, "{fragments} fragments in 4 s");
        assert_eq!(kinds.iter().filter(|k| **k == "mdat").count(), fragments);
    }
    assert_eq!(server.clients(), 1, "detection, recording and ten viewers on one RTSP connection");

    // What a viewer received is H.264 at the camera's resolution, for ffprobe as for a browser.
    let file = app.data.path().join("live.mp4");
    std::fs::write(&file, &watched[0].1).unwrap();
    let (codec, width, height, _) = probe(&file);
    assert_eq!((codec.as_str(), width, height), ("h264", 1280, 720));
    // ffprobe reads the endless response itself, as VLC would.
    let token = app.running().state.auth.create_token(1, "ffprobe", None).await.unwrap().jwt;
    let output = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries", "stream=codec_name,width,height"])
        .args(["-of", "csv=p=0", "-headers", &format!("Authorization: Bearer {token}\r\n")])
        .arg(app.url("/api/cameras/gate/live.mp4"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "h264,1280,720", "{output:?}");
    assert_eq!(server.clients(), 1);

    // The viewers left: nobody is counted, and recording went on meanwhile.
    let camera = app.running().state.cameras.get("gate").unwrap();
    let feed = camera.live(watchpost::live::LiveStream::Main).unwrap();
    wait_for("the viewers to be gone", Duration::from_secs(10), || async {
        (*feed.viewers().borrow() == 0).then_some(())
    })
    .await;
    let figures = camera.figures();
    assert!(figures.record_fragments >= 40 && figures.record_dropped == 0, "{figures:?}");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_main_stream_that_is_not_recorded_opens_for_a_viewer_and_closes_after_the_last() {
    let main = RtspServer::start_new(&hd_clip());
    let sub = RtspServer::start_new(&test_clip());
    let config = format!(
        r#"
        [[cameras]]
        id = "porch"
        url = "{}"
        record = {{ url = "{}" }}
        "#,
        sub.url(),
        main.url()
    );
    let app = TestApp::start(&config).await;
    wait_for("the camera online", Duration::from_secs(30), || async {
        (app.camera_state("porch").await.0 == "online").then_some(())
    })
    .await;
    assert_eq!(main.clients(), 0, "no main stream while nobody watches it");

    let response = app.client.get(app.url("/api/cameras/porch/live.mp4?stream=main")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let file = app.data.path().join("main.mp4");
    std::fs::write(&file, read_for(response, Duration::from_secs(3)).await).unwrap();
    assert_eq!(probe(&file).1, 1280, "the main stream");
    let response = app.client.get(app.url("/api/cameras/porch/live.mp4?stream=sub")).send().await.unwrap();
    std::fs::write(&file, read_for(response, Duration::from_secs(2)).await).unwrap();
    assert_eq!(probe(&file).1, 640, "the sub (detect) stream");
    assert_eq!(main.clients(), 1);

    // Nobody watches the main stream any more: it closes (30 s later); the next viewer opens it.
    let camera = app.running().state.cameras.get("porch").unwrap();
    let feed = camera.live(watchpost::live::LiveStream::Main).unwrap();
    wait_for("the main stream to close", Duration::from_secs(60), || async { feed.track().is_none().then_some(()) })
        .await;
    let response = app.client.get(app.url("/api/cameras/porch/live.mp4?stream=main")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(top_boxes(&read_for(response, Duration::from_secs(2)).await).len() > 10);
    assert_eq!(main.clients(), 2, "opened again for the next viewer");

    assert_eq!(
        app.client.get(app.url("/api/cameras/porch/live.mp4?stream=hd")).send().await.unwrap().status(),
        400,
        "an unknown stream is named"
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mjpeg_camera_plays_through_the_fallback_and_access_follows_the_snapshots() {
    let esp32 = serve_mjpeg(small_photo_jpeg());
    let server = RtspServer::start_new(&test_clip());
    let config = format!(
        r#"
        [[cameras]]
        id = "esp"
        url = "http://127.0.0.1:{esp32}/stream"
        [[cameras]]
        id = "gate"
        url = "{}"
        "#,
        server.url()
    );
    let app = TestApp::start(&config).await;
    wait_for("the cameras online", Duration::from_secs(30), || async {
        (app.camera_state("esp").await.0 == "online" && app.camera_state("gate").await.0 == "online").then_some(())
    })
    .await;

    // An MJPEG camera has no video for MSE: live.mp4 says where to look instead.
    let refused = app.client.get(app.url("/api/cameras/esp/live.mp4")).send().await.unwrap();
    assert_eq!(refused.status(), 409);
    assert!(refused.text().await.unwrap().contains("live.mjpeg"));
    for camera in ["esp", "gate"] {
        let response = app.client.get(app.url(&format!("/api/cameras/{camera}/live.mjpeg"))).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let content_type = response.headers()["content-type"].to_str().unwrap().to_string();
        let boundary = content_type.strip_prefix("multipart/x-mixed-replace; boundary=").expect(&content_type);
        let bytes = read_for(response, Duration::from_secs(3)).await;
        let parts: Vec<&[u8]> = split_parts(&bytes, boundary);
        assert!(parts.len() >= 5, "{camera}: {} pictures in 3 s", parts.len());
        let picture = parts[parts.len() - 2];
        assert!(picture.starts_with(&[0xFF, 0xD8]) && picture.ends_with(&[0xFF, 0xD9]), "{camera}: a whole JPEG");
        assert_eq!(jpeg_size(picture), (640, 360), "{camera}: the detect size");
    }

    // A viewer limited to `esp` does not learn that `gate` exists; nobody signed in gets nothing.
    let auth = &app.running().state.auth;
    let allowed = ["esp".to_string()];
    auth.create_user("neighbour", watchpost::model::Role::Viewer, "a long password 1", &allowed).await.unwrap();
    let (neighbour, _) = app.browser_session("neighbour", "a long password 1").await;
    for path in ["/api/cameras/gate/live.mp4", "/api/cameras/gate/live.mjpeg"] {
        assert_eq!(neighbour.get(app.url(path)).send().await.unwrap().status(), 404, "{path}");
        assert_eq!(app.anonymous.get(app.url(path)).send().await.unwrap().status(), 401, "{path}");
    }
    let own = neighbour.get(app.url("/api/cameras/esp/live.mjpeg")).send().await.unwrap();
    assert_eq!(own.status(), 200);
    drop(own);
    app.shutdown().await;
}

/// The bodies of a `multipart/x-mixed-replace` stream (the last may be torn).
fn split_parts<'a>(bytes: &'a [u8], boundary: &str) -> Vec<&'a [u8]> {
    let marker = format!("--{boundary}\r\n");
    let mut parts = Vec::new();
    let mut rest = bytes;
    while let Some(at) = find(rest, marker.as_bytes()) {
        rest = &rest[at + marker.len()..];
        let Some(head_end) = find(rest, b"\r\n\r\n") else { break };
        let body = &rest[head_end + 4..];
        let end = find(body, marker.as_bytes()).map_or(body.len(), |end| end.saturating_sub(2));
        parts.push(&body[..end]);
        rest = body;
    }
    parts
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}
