//! Bad input gets a clear message and loses nothing: unreachable cameras, garbage streams, missing
//! files, a stalled source, a missing ffmpeg, an unusable media directory and a locked database.

mod common;

use common::*;
use std::time::Duration;
use watchpost::app::ServeOptions;

async fn wait_for_state(app: &TestApp, id: &str, wanted: &str) -> String {
    wait_for(&format!("camera {id} to be {wanted}"), Duration::from_secs(40), || async {
        let (state, error) = app.camera_state(id).await;
        (state == wanted).then(|| error.unwrap_or_default())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_sources_show_why_and_are_retried() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.mp4");
    std::fs::write(&garbage, (0..200_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect::<Vec<_>>())
        .unwrap();
    let closed_port = free_port();
    // Accepts connections and never answers: a camera that hangs.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let config = format!(
        r#"
        [ffmpeg]
        stall_timeout_secs = 2
        max_retry_delay_secs = 2
        [[cameras]]
        id = "refused"
        url = "rtsp://user:pw@127.0.0.1:{closed_port}/stream"
        [[cameras]]
        id = "garbage"
        url = "{}"
        [[cameras]]
        id = "missing"
        url = "/nonexistent/clip.mp4"
        [[cameras]]
        id = "silent"
        url = "http://127.0.0.1:{silent_port}/video"
        "#,
        garbage.display()
    );
    let app = TestApp::start(&config).await;

    let refused = wait_for_state(&app, "refused", "offline").await;
    assert!(refused.contains("refused the connection"), "{refused}");
    let garbage = wait_for_state(&app, "garbage", "error").await;
    assert!(garbage.contains("not a video stream"), "{garbage}");
    let missing = wait_for_state(&app, "missing", "error").await;
    assert!(missing.contains("does not exist"), "{missing}");
    let silent_error = wait_for_state(&app, "silent", "offline").await;
    assert!(silent_error.contains("No picture for 2 s"), "{silent_error}");

    // Each is retried with back-off, not given up on.
    wait_for("restarts to be counted", Duration::from_secs(30), || async {
        let camera = app.get_json("/api/cameras/refused").await;
        (camera["restarts"].as_u64()? >= 2).then_some(())
    })
    .await;
    // The UI shows the reason on the dashboard, and nothing leaks the password.
    let dashboard = app.client.get(app.url("/")).send().await.unwrap().text().await.unwrap();
    assert!(dashboard.contains("refused the connection"));
    assert!(!dashboard.contains(":pw@"));
    drop(silent);
    app.shutdown().await;
    assert_eq!(ffmpeg_children(), 0, "no ffmpeg left behind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_ffmpeg_is_reported_on_the_camera() {
    let config = "[ffmpeg]\npath = \"/nonexistent/ffmpeg\"\n[[cameras]]\nid = \"cam\"\nurl = \"/clips/any.mp4\"\n";
    let app = TestApp::start(config).await;
    let error = wait_for_state(&app, "cam", "error").await;
    assert!(error.contains("ffmpeg was not found") && error.contains("[ffmpeg] path"), "{error}");
    app.shutdown().await;
}

#[tokio::test]
async fn an_unusable_media_directory_stops_start_up_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("not-a-directory");
    std::fs::write(&blocker, b"x").unwrap();
    let mut config = parse_config("");
    config.detector.enabled = false;
    config.server.bind = "127.0.0.1:0".into();
    config.storage.media_dir = Some(blocker.join("media"));
    let err = match watchpost::app::start(ServeOptions {
        config,
        config_file: None,
        data_dir: dir.path().to_path_buf(),
        demo: false,
        clock: watchpost::clock::system(),
    })
    .await
    {
        Ok(_) => panic!("start-up must fail"),
        Err(err) => err,
    };
    assert!(err.message.contains("media directory") && err.message.contains("media_dir"), "{}", err.message);
}

#[tokio::test]
async fn a_locked_sqlite_database_makes_writes_wait_not_fail() {
    use sea_orm::{ConnectionTrait, Database};
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/watchpost.db?mode=rwc", dir.path().display());
    let db = watchpost::db::Db::connect(&url).await.unwrap();

    // Another process holds the write lock for two seconds.
    let other = Database::connect(&url).await.unwrap();
    other.execute_unprepared("BEGIN EXCLUSIVE").await.unwrap();
    let writer = tokio::spawn({
        let db = db.clone();
        async move { db.insert_event(&motion_event("cam", 1)).await }
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!writer.is_finished(), "the write waits for the lock");
    other.execute_unprepared("COMMIT").await.unwrap();
    let id = writer.await.unwrap().expect("the write goes through once the lock is released");
    assert!(db.get_event(id).await.unwrap().is_some(), "the event was not lost");
}
