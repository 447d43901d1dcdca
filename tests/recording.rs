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
use std::time::Duration;

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
    // The event's snapshot answers ranges too: the first two bytes are JPEG's start marker.
    let snapshot = event["snapshot_url"].as_str().expect("a snapshot");
    let start = app.client.get(app.url(snapshot)).header("Range", "bytes=0-1").send().await.unwrap();
    assert_eq!(start.status(), 206);
    assert_eq!(start.bytes().await.unwrap().as_ref(), [0xFF, 0xD8]);

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
    // A long export (over 15 minutes, a download) joins the files' fragments byte for byte.
    let span = format!("from={}&to={}", rfc3339(start_ms - 600_000), rfc3339(start_ms + 600_000));
    let listing = app.get_json(&format!("/api/cameras/gate/recordings?{span}")).await;
    let recorded: f64 = listing["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["end_ms"].as_i64().unwrap() - s["start_ms"].as_i64().unwrap()) as f64 / 1000.0)
        .sum();
    let long = app.client.get(app.url(&format!("/api/cameras/gate/export.mp4?{span}"))).send().await.unwrap();
    assert_eq!(long.status(), 200);
    let long_file = app.data.path().join("long.mp4");
    std::fs::write(&long_file, long.bytes().await.unwrap()).unwrap();
    let (codec, width, _, seconds) = probe(&long_file);
    assert_eq!((codec.as_str(), width), ("h264", 1280));
    assert!((seconds - recorded).abs() < 1.0, "{seconds} s exported of {recorded} s recorded");
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
    let storage_page = app.client.get(app.url("/settings/storage")).send().await.unwrap().text().await.unwrap();
    assert!(storage_page.contains("<td>gate</td>") && storage_page.contains("at this rate"), "{storage_page}");
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("watchpost_recordings_bytes{camera=\"gate\"}"), "{metrics}");
    assert!(!metrics.contains("watchpost_camera_record_fragments_total{camera=\"gate\"} 0"), "{metrics}");

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

    // The recording switch (the camera page's, Home Assistant's): off, and no file is added.
    let controls = app.running().state.cameras.controls().clone();
    controls.change("gate", |c| c.record = false).await.unwrap();
    let count = || async { app.get_json("/api/storage").await["cameras"][0]["segments"].as_i64().unwrap() };
    // The file being written closes with the next group of pictures (2 s).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let files_when_off = count().await;
    tokio::time::sleep(Duration::from_secs(9)).await;
    assert_eq!(count().await, files_when_off, "nothing recorded while switched off");
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

/// The real binary, killed with SIGKILL while it writes a file, then started again: the torn file
/// keeps its whole fragments, a file with nothing playable goes, an index row whose file is gone
/// goes, and afterwards every file on disk has its row and every row its file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_sigkill_mid_file_the_restart_makes_files_and_index_agree() {
    let server = RtspServer::start_new(&hd_clip());
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("watchpost.toml");
    std::fs::write(
        &config,
        format!(
            r#"
            [server]
            bind = "127.0.0.1:{}"
            [detector]
            enabled = false
            [discovery]
            interval_minutes = 0
            node_scan_secs = 0
            [[cameras]]
            id = "gate"
            url = "{}"
            record = {{ mode = "continuous", segment_secs = 8 }}
            "#,
            free_port(),
            server.url()
        ),
    )
    .unwrap();
    let start = |log: &str| {
        let log = std::fs::File::create(dir.path().join(log)).unwrap();
        Command::new(env!("CARGO_BIN_EXE_watchpost"))
            .args(["serve", "--config"])
            .arg(&config)
            .arg("--data-dir")
            .arg(&data)
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start watchpost")
    };
    let recordings = data.join("recordings/gate");
    let mut first = start("first.log");
    // A whole file, and the next one half written (at least one fragment past its init segment).
    let day = wait_for("a whole file and a half-written one", Duration::from_secs(60), || async {
        let files = walk(&recordings);
        let whole = files.iter().any(|p| p.extension().is_some_and(|e| e == "mp4"));
        let part = files.iter().find(|p| p.to_string_lossy().ends_with(".part"))?;
        (whole && std::fs::metadata(part).ok()?.len() > 300_000).then(|| part.parent().unwrap().to_path_buf())
    })
    .await;
    first.kill().unwrap();
    first.wait().unwrap();
    let torn = walk(&recordings).into_iter().find(|p| p.to_string_lossy().ends_with(".part")).expect("a torn file");
    // What a power cut may leave too: a file with nothing playable, and a row whose file is gone.
    std::fs::write(day.join("1796000000000.mp4"), b"not a video").unwrap();
    {
        use sea_orm::ConnectionTrait;
        let db = sea_orm::Database::connect(format!("sqlite://{}/watchpost.db", data.display())).await.unwrap();
        db.execute_unprepared(
            "INSERT INTO recording_segments (camera_id, start_ms, end_ms, bytes, path, codec, width, height) \
             VALUES ('gate', 1, 2, 3, 'gate/1970-01-01/1.mp4', 'avc1', 1280, 720)",
        )
        .await
        .unwrap();
        db.close().await.unwrap();
    }

    let mut second = start("second.log");
    let recovered = wait_for("the recovery pass", Duration::from_secs(30), || async {
        let log = std::fs::read_to_string(dir.path().join("second.log")).ok()?;
        log.lines().find(|l| l.contains("recordings recovered")).map(str::to_string)
    })
    .await;
    // SIGTERM: a clean stop closes the file being written.
    // SAFETY: kill(2) on our own child's pid only sends it a signal.
    unsafe { libc::kill(second.id() as i32, libc::SIGTERM) };
    second.wait().unwrap();
    for fact in ["salvaged=1", "dropped=1", "rows_removed=1"] {
        assert!(recovered.contains(fact), "{fact} in {recovered}");
    }
    let salvaged = torn.with_extension("");
    let (codec, _, _, seconds) = probe(&salvaged);
    assert!(codec == "h264" && seconds > 1.0, "the torn file plays: {codec} {seconds} s");

    let files: Vec<String> = walk(&recordings)
        .iter()
        .map(|p| p.strip_prefix(data.join("recordings")).unwrap().to_string_lossy().to_string())
        .collect();
    assert!(files.iter().all(|f| f.ends_with(".mp4")), "no .part after a clean stop: {files:?}");
    let db = watchpost::db::Db::connect(&format!("sqlite://{}/watchpost.db", data.display())).await.unwrap();
    let mut rows: Vec<String> = db.segment_paths().await.unwrap().into_iter().map(|(_, path)| path).collect();
    rows.sort();
    assert_eq!(rows, files, "every file has its row and every row its file");
}

/// The retention sweep on real files and a real SQLite index: footage without events goes after
/// `continuous_days`, all of it (and the events, with their snapshots) after `event_days`; in
/// `events` mode what no event needs goes once judged; over the size cap the oldest footage
/// without events goes before older event clips.
#[tokio::test]
async fn the_sweep_deletes_by_age_by_event_and_for_space_oldest_plain_footage_first() {
    use watchpost::recording::settings::{RecordConfig, RecordMode};
    use watchpost::recording::{Recordings, SpaceLimits, retention::Sweeper};
    const MIN: i64 = 60_000;
    const DAY: i64 = 1_440 * MIN;
    let dir = tempfile::tempdir().unwrap();
    let db = watchpost::db::Db::connect(&format!("sqlite://{}/w.db?mode=rwc", dir.path().display())).await.unwrap();
    let now = 1_796_220_000_000;
    // 1 MB files: (camera, start, whether an event is in it).
    let plan: [(&str, i64, bool); 8] = [
        ("home", now - 5 * DAY, true),             // past event_days: goes by age
        ("home", now - 2 * DAY, true),             // an event clip within event_days: kept
        ("home", now - 2 * DAY + 10 * MIN, false), // plain footage past continuous_days: goes by age
        ("home", now - 60 * MIN, false),           // plain and young, but the oldest plain one left: goes for space
        ("home", now - 30 * MIN, false),           // kept
        ("shop", now - 10 * MIN, false),           // events mode, no event: goes
        ("shop", now - 20 * MIN, true),            // events mode, an event: kept
        ("shop", now - 30 * 1000, false),          // events mode, too young to judge: kept
    ];
    let recordings =
        Recordings::new(dir.path().join("rec"), db.clone(), SpaceLimits { max_bytes: 4_500_000, min_free_bytes: 0 });
    let mut files = Vec::new();
    let mut events = Vec::new();
    for (index, (camera, start, with_event)) in plan.iter().enumerate() {
        let path = format!("{camera}/day/{start}.mp4");
        let file = dir.path().join("rec").join(&path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, vec![index as u8; 1_000_000]).unwrap();
        files.push(file);
        db.add_segment(&watchpost::db::NewSegment {
            camera_id: camera.to_string(),
            start_ms: *start,
            end_ms: start + 10_000,
            bytes: 1_000_000,
            path,
            codec: "avc1.64001f".into(),
            width: 1280,
            height: 720,
        })
        .await
        .unwrap();
        if *with_event {
            // Each event has a snapshot (and the copy with boxes drawn) in the media directory.
            let snapshot = format!("snapshots/{camera}/{start}.jpg");
            for file in [snapshot.clone(), watchpost::media::MediaStore::annotated_path(&snapshot)] {
                std::fs::create_dir_all(dir.path().join("media").join(&file).parent().unwrap()).unwrap();
                std::fs::write(dir.path().join("media").join(&file), b"jpeg").unwrap();
            }
            let new = watchpost::db::NewEvent { snapshot: Some(snapshot), ..motion_event(camera, start + 2_000) };
            let id = db.insert_event(&new).await.unwrap();
            events.push(id);
            let ended = watchpost::db::EventUpdate {
                score: 0.1,
                bbox: [0.0, 0.0, 0.1, 0.1],
                boxes: vec![],
                end_ms: Some(start + 6_000),
                snapshot: None,
                stationary: false,
                zones: None,
                score_history: None,
                label: None,
            };
            db.update_event(id, &ended).await.unwrap();
        }
    }
    let rules = std::collections::HashMap::from([
        (
            "home".to_string(),
            RecordConfig { mode: RecordMode::Continuous, continuous_days: 1, event_days: 3, ..Default::default() },
        ),
        ("shop".to_string(), RecordConfig { mode: RecordMode::Events, ..Default::default() }),
    ]);
    let media = watchpost::media::MediaStore::open(&dir.path().join("media")).unwrap();
    let mut sweeper = Sweeper::new(recordings.clone(), media);
    let report = sweeper.sweep(now, rules).await.unwrap();
    assert_eq!((report.by_age, report.without_event, report.for_space), (2, 1, 1), "{report:?}");
    // The recording camera's event past `event_days` goes with its snapshots; the others stay.
    assert_eq!(report.events, 1, "{report:?}");
    assert!(db.get_event(events[0]).await.unwrap().is_none());
    let old_snapshot = dir.path().join(format!("media/snapshots/home/{}.jpg", plan[0].1));
    assert!(!old_snapshot.exists() && !old_snapshot.with_file_name(format!("{}-boxes.jpg", plan[0].1)).exists());
    for id in &events[1..] {
        assert!(db.get_event(*id).await.unwrap().is_some(), "event {id} is kept");
    }
    let kept: Vec<bool> = files.iter().map(|f| f.exists()).collect();
    assert_eq!(kept, [false, true, false, false, true, false, true, true]);
    let mut rows: Vec<String> = db.segment_paths().await.unwrap().into_iter().map(|(_, p)| p).collect();
    rows.sort();
    let mut expected: Vec<String> = plan
        .iter()
        .zip(&kept)
        .filter(|(_, kept)| **kept)
        .map(|((camera, start, _), _)| format!("{camera}/day/{start}.mp4"))
        .collect();
    expected.sort();
    assert_eq!(rows, expected, "rows go with their files");
    let deleted = recordings.figures.deleted_by_age.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(deleted, 2, "counted for /metrics");
}

/// A full disk stops only the recording: the camera stays online, motion still makes its event,
/// the storage figures say why nothing is written, and recording resumes once there is room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_stops_recording_but_not_detection_and_recording_resumes_when_there_is_room() {
    let data = tempfile::tempdir().unwrap();
    let Some(disk) = SmallDisk::mount(data.path().join("small"), "4m") else { return };
    // All but ~100 kB taken: the first file that grows past it fails.
    let filler = disk.path.join("filler");
    let free = watchpost::recording::free_bytes(&disk.path).unwrap();
    std::fs::write(&filler, vec![0u8; (free - 100_000) as usize]).unwrap();
    let server = RtspServer::start_new(&hd_clip());
    let config = format!(
        r#"
        [storage]
        recordings_dir = "{}"
        min_free_gb = 0
        [[cameras]]
        id = "gate"
        url = "{}"
        motion = {{ quiet_secs = 2 }}
        record = {{ mode = "continuous", segment_secs = 4 }}
        "#,
        disk.path.display(),
        server.url()
    );
    let app = TestApp::start_in(&config, data).await;
    let error = wait_for("the storage figures to say the disk is full", Duration::from_secs(30), || async {
        app.get_json("/api/storage").await["write_error"].as_str().map(str::to_string)
    })
    .await;
    assert!(error.contains("No space left"), "{error}");
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(!metrics.contains("watchpost_recordings_write_errors_total 0"), "counted: {metrics}");
    let page = app.client.get(app.url("/settings/storage")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Recording is paused"), "{page}");
    let event = wait_for("a motion event while the disk is full", Duration::from_secs(40), || async {
        app.events("camera=gate").await.into_iter().next()
    })
    .await;
    assert_eq!(event["kind"], "motion");
    assert_eq!(app.camera_state("gate").await.0, "online");
    assert_eq!(app.get_json("/api/storage").await["cameras"], serde_json::json!([]), "nothing could be indexed");

    std::fs::remove_file(&filler).unwrap();
    wait_for("recording to resume", Duration::from_secs(30), || async {
        let storage = app.get_json("/api/storage").await;
        (storage["cameras"][0]["segments"].as_i64() >= Some(1) && storage["write_error"].is_null()).then_some(())
    })
    .await;
    app.shutdown().await;
    drop(disk);
}
