//! What an outside probe found, each over the real thing: a parallel burst of sign-ins cannot
//! outrun the rate limit; `next` cannot leave the site; a key rotated by the CLI reaches the
//! running server; a camera's password is in no process's arguments; the data directory is the
//! owner's alone; a damaged camera list shows no camera; a limited viewer gets no global
//! counters; two saves of one camera at once leave one ffmpeg; two administrators demoting each
//! other at once leave one.
//!
//! No test here counts this process's ffmpeg children (`ffmpeg_children`): the tests of one
//! binary run at once, so each looks only at the processes it can tell apart.

mod common;

use common::*;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

/// A browser with the sign-in form's CSRF token, not signed in.
async fn login_form(app: &TestApp) -> (reqwest::Client, String) {
    let browser =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).cookie_store(true).build().unwrap();
    let csrf = hidden_csrf(&browser.get(app.url("/login")).send().await.unwrap().text().await.unwrap());
    (browser, csrf)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parallel_burst_of_sign_ins_checks_at_most_five_passwords() {
    let app = TestApp::start("").await;
    let (browser, csrf) = login_form(&app).await;
    // 30 at once, the right password 20th: before the fix most passwords were checked and the
    // right one got in.
    let attempts = (0..30).map(|i| {
        let password = if i == 19 { ADMIN_PASSWORD.to_string() } else { format!("wrong password {i}") };
        let request = browser.post(app.url("/login")).form(&[
            ("csrf", csrf.as_str()),
            ("name", ADMIN),
            ("password", password.as_str()),
            ("next", "/"),
        ]);
        async move { request.send().await.unwrap().status().as_u16() }
    });
    let statuses = futures_util::future::join_all(attempts).await;
    let checked = statuses.iter().filter(|s| **s != 429).count();
    assert!(checked <= 5, "{checked} passwords were checked: {statuses:?}");
    assert!(statuses.iter().all(|s| matches!(s, 401 | 429 | 303)), "{statuses:?}");
    let failures = app.running().state.db.list_audit(None, 100).await.unwrap();
    let refused = failures.iter().filter(|a| a.detail.as_deref() == Some("refused: too many failed attempts")).count();
    assert_eq!(refused, 30 - checked, "every refused attempt is in the audit log");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_sign_in_only_paths_on_this_site_are_followed() {
    let app = TestApp::start("").await;
    let (browser, csrf) = app.browser_session(ADMIN, ADMIN_PASSWORD).await;
    let location = |response: &reqwest::Response| {
        response.headers().get("location").map(|l| l.to_str().unwrap().to_string()).unwrap_or_default()
    };
    // Browsers drop a tab or newline in a URL, which turned `/\t/evil.example` into `//evil.example`.
    for next in ["%2F%09%2Fevil.example%2Fphish", "%2F%0A%2Fevil.example", "%2F%0D%0A%2Fx", "%2F%0B%2Fevil.example"] {
        let response = browser.get(app.url(&format!("/login?next={next}"))).send().await.unwrap();
        assert_eq!((response.status().as_u16(), location(&response)), (303, "/".to_string()), "{next}");
    }
    let response = browser.get(app.url("/login?next=%2Fevents%3Fcamera%3Dyard")).send().await.unwrap();
    assert_eq!(location(&response), "/events?camera=yard", "a path on this site is followed");

    // The same for the events page's way back after resolving.
    let id = app.running().state.db.insert_event(&motion_event("yard", chrono::Utc::now().timestamp_millis())).await;
    let id = id.unwrap().to_string();
    for (back, expected) in
        [("/\t/evil.example/events", "/events"), ("/events?day=1\n", "/events"), ("/events?page=2", "/events?page=2")]
    {
        let form = [("csrf", csrf.as_str()), ("id", id.as_str()), ("back", back)];
        let response = browser.post(app.url("/events/resolve")).form(&form).send().await.unwrap();
        assert_eq!((response.status().as_u16(), location(&response)), (303, expected.to_string()), "{back:?}");
    }
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signing_key_rotated_by_the_command_reaches_the_running_server() {
    let app = TestApp::start("").await;
    let auth = &app.running().state.auth;
    let admin = app.running().state.db.user_by_name(ADMIN).await.unwrap().unwrap().id;
    let before = auth.create_token(admin, "before", None).await.unwrap();
    let rotate = std::process::Command::new(env!("CARGO_BIN_EXE_watchpost"))
        .args(["token", "rotate-key", "--data-dir"])
        .arg(app.data.path())
        .env_remove("WATCHPOST_CONFIG")
        .output()
        .unwrap();
    assert!(rotate.status.success(), "{}", String::from_utf8_lossy(&rotate.stderr));
    let cli_keys = || -> Vec<String> {
        let file: serde_json::Value =
            serde_json::from_slice(&std::fs::read(app.data.path().join("keys/api-signing.json")).unwrap()).unwrap();
        file["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_string()).collect()
    };
    let after_cli = cli_keys();
    assert_eq!(after_cli.len(), 2);

    // The server signs with the command's new key and still honours the old one (grace period).
    let after = auth.create_token(admin, "after", None).await.unwrap();
    let kid = |jwt: &str| jsonwebtoken::decode_header(jwt).unwrap().kid.unwrap();
    assert_eq!(kid(&after.jwt), after_cli[1], "new tokens are signed with the key the command made");
    for jwt in [&before.jwt, &after.jwt] {
        let response = app.anonymous.get(app.url("/api/cameras")).bearer_auth(jwt).send().await.unwrap();
        assert_eq!(response.status(), 200);
    }
    let listed: Vec<String> = auth.signing_keys().into_iter().map(|k| k.kid).collect();
    assert_eq!(listed, after_cli, "the settings page lists the file's keys");

    // A rotation in the UI keeps the command's key instead of writing over it from memory.
    auth.rotate_signing_key().unwrap();
    let after_ui = cli_keys();
    assert_eq!(&after_ui[..2], &after_cli[..], "{after_ui:?}");
    let response = app.anonymous.get(app.url("/api/cameras")).bearer_auth(&after.jwt).send().await.unwrap();
    assert_eq!(response.status(), 200, "a token of the command's key works through the grace period");
    app.shutdown().await;
}

/// Every process on the machine whose arguments or environment hold `needle`, but `except`.
fn processes_showing(needle: &str, except: u32) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        if pid == except {
            continue;
        }
        for file in ["cmdline", "environ"] {
            let bytes = std::fs::read(entry.path().join(file)).unwrap_or_default();
            if String::from_utf8_lossy(&bytes).contains(needle) {
                found.push(format!("{pid} {file}: {}", String::from_utf8_lossy(&bytes).replace('\0', " ")));
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_camera_password_is_in_no_process_s_arguments() {
    let clip = test_clip();
    let password = "pa55 w0rd-7f3a";
    let server = RtspServer::start_new_with_password(&clip, "anna", password);
    let port = server.port;
    let encoded = "pa55%20w0rd-7f3a";
    let config = format!(
        r#"
        [[cameras]]
        id = "door"
        url = "rtsp://anna:{encoded}@127.0.0.1:{port}/stream"
        [[cameras]]
        id = "gate"
        url = "rtsp://anna:not-it@127.0.0.1:{port}/stream"
        "#
    );
    let app = TestApp::start(&config).await;
    wait_for("the camera to come online with its password", Duration::from_secs(30), || async {
        (app.camera_state("door").await.0 == "online").then_some(())
    })
    .await;
    for needle in [password, encoded] {
        let showing = processes_showing(needle, server.pid());
        assert!(showing.is_empty(), "{needle:?} can be read by anyone: {showing:?}");
    }
    // A wrong password is still told apart from the other failures.
    let (state, error) = wait_for("the wrong password to be reported", Duration::from_secs(30), || async {
        let (state, error) = app.camera_state("gate").await;
        (state == "error").then_some((state, error))
    })
    .await;
    assert_eq!(state, "error");
    assert!(error.as_deref().unwrap_or_default().contains("username or password"), "{error:?}");
    app.shutdown().await;
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_directory_is_readable_by_its_owner_only() {
    let data = tempfile::tempdir().unwrap();
    // An older version left these readable by everyone.
    std::fs::set_permissions(data.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::create_dir(data.path().join("keys")).unwrap();
    std::fs::set_permissions(data.path().join("keys"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let app = TestApp::start_in("", data).await;
    let snapshot = watchpost::media::MediaStore::snapshot_path("yard", chrono::Utc::now().timestamp_millis());
    app.running().state.media.write_atomic(&snapshot, watchpost::demo::PHOTO).unwrap();
    let mode = |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    let data = app.data.path();
    assert_eq!(mode(data), 0o700);
    assert_eq!(mode(&data.join("keys")), 0o700);
    for file in ["keys/api-signing.json", "keys/credentials.key"] {
        assert_eq!(mode(&data.join(file)), 0o600, "{file}");
    }
    if test_database(data).await.is_none() {
        assert_eq!(mode(&data.join("watchpost.db")), 0o600, "the SQLite database");
    }
    let media = data.join("media");
    assert_eq!(mode(&media), 0o700);
    assert_eq!(mode(&media.join("snapshots/yard")), 0o700);
    assert_eq!(mode(&media.join(&snapshot)), 0o600, "{snapshot}");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_camera_list_shows_no_camera_and_limited_viewers_get_no_global_counters() {
    use sea_orm::{ConnectionTrait, Database};
    let clip = test_clip();
    let config = format!("[[cameras]]\nid = \"yard\"\nurl = \"{}\"\nenabled = false\n", clip.display());
    let app = TestApp::start(&config).await;
    let state = &app.running().state;
    state.db.insert_event(&motion_event("yard", chrono::Utc::now().timestamp_millis())).await.unwrap();
    for (name, cameras) in [("limited", vec!["yard".to_string()]), ("damaged", vec!["yard".to_string()])] {
        state.auth.create_user(name, watchpost::model::Role::Viewer, "viewer password", &cameras).await.unwrap();
    }
    let url = app.running().state.config.storage.database_url(app.data.path());
    let other = Database::connect(&url).await.unwrap();
    other.execute_unprepared("UPDATE users SET cameras = 'yard' WHERE name = 'damaged'").await.unwrap();

    let (damaged, _) = app.browser_session("damaged", "viewer password").await;
    let get = |client: &reqwest::Client, path: &str| {
        let request = client.get(app.url(path));
        async move { request.send().await.unwrap().text().await.unwrap() }
    };
    let cameras: serde_json::Value = serde_json::from_str(&get(&damaged, "/api/cameras").await).unwrap();
    assert_eq!(cameras, serde_json::json!([]), "not every camera");
    let events: serde_json::Value = serde_json::from_str(&get(&damaged, "/api/events").await).unwrap();
    assert_eq!(events["events"], serde_json::json!([]));

    let global = ["watchpost_detector_up", "watchpost_describe_events_total", "watchpost_bridge_up"];
    let (limited, _) = app.browser_session("limited", "viewer password").await;
    let metrics = get(&limited, "/metrics").await;
    assert!(metrics.contains("watchpost_camera_online{camera=\"yard\"}"), "{metrics}");
    assert!(global.iter().all(|name| !metrics.contains(name)), "{metrics}");
    let metrics = get(&app.client, "/metrics").await;
    assert!(global.iter().all(|name| metrics.contains(name)), "the administrator sees them: {metrics}");
    app.shutdown().await;
}

/// ffmpeg processes reading `clip` (a file only this test uses).
fn ffmpeg_reading(clip: &std::path::Path) -> usize {
    let needle = clip.to_string_lossy().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.starts_with("ffmpeg ") || c.contains("/ffmpeg "))
        .filter(|c| c.contains(&needle))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_adoptions_or_saves_of_one_camera_at_once_leave_one_ffmpeg() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("only-this-test.mp4");
    std::fs::copy(test_clip(), &clip).unwrap();
    let app = TestApp::start("").await;
    let cameras = &app.running().state.camera_manager;
    let camera = || {
        toml::from_str::<watchpost::camera::settings::CameraConfig>(&format!(
            "id = \"twice\"\nurl = \"{}\"",
            clip.display()
        ))
        .unwrap()
    };
    // Two adoptions of one id at once: one camera, and the other told the id is taken.
    let (first, second) = tokio::join!(cameras.create(camera()), cameras.create(camera()));
    let refused = [&first, &second].into_iter().filter(|r| r.is_err()).collect::<Vec<_>>();
    assert_eq!(refused.len(), 1, "{first:?} {second:?}");
    assert_eq!(refused[0].as_ref().unwrap_err().kind, watchpost::ErrorKind::Conflict);
    // Three saves of its settings at once.
    let (a, b, c) = tokio::join!(
        cameras.update("twice", camera()),
        cameras.update("twice", camera()),
        cameras.update("twice", camera())
    );
    assert!(a.is_ok() && b.is_ok() && c.is_ok(), "{a:?} {b:?} {c:?}");
    // Twenty frames in, every pipeline the saves started has long had its ffmpeg.
    wait_for("the camera to run", Duration::from_secs(30), || async {
        (app.get_json("/api/cameras/twice").await["frames"].as_u64() >= Some(20)).then_some(())
    })
    .await;
    assert_eq!(ffmpeg_reading(&clip), 1, "one pipeline for one camera");
    cameras.delete("twice").await.unwrap();
    assert_eq!(ffmpeg_reading(&clip), 0, "and none once it is deleted");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_administrators_demoting_each_other_at_once_leave_one() {
    let app = TestApp::start("").await;
    let state = &app.running().state;
    state.auth.create_user("bea", watchpost::model::Role::Admin, "admin password", &[]).await.unwrap();
    let (ann, ann_csrf) = app.browser_session(ADMIN, ADMIN_PASSWORD).await;
    let (bea, bea_csrf) = app.browser_session("bea", "admin password").await;
    let id_of = |name: &'static str| async move { state.db.user_by_name(name).await.unwrap().unwrap().id };
    let (ann_id, bea_id) = (id_of(ADMIN).await, id_of("bea").await);
    let demote = |client: &reqwest::Client, csrf: &str, id: i64| {
        let form = [("csrf", csrf.to_string()), ("role", "viewer".to_string())];
        let request = client.post(app.url(&format!("/settings/users/{id}"))).form(&form);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    let (a, b) = tokio::join!(demote(&ann, &ann_csrf, bea_id), demote(&bea, &bea_csrf, ann_id));
    let mut statuses = [a, b];
    statuses.sort();
    // The second is refused by the last-administrator check (409), or, once the first went
    // through, because its sender is no longer an administrator (403).
    assert!(statuses[0] == 303 && matches!(statuses[1], 403 | 409), "{statuses:?}");
    let admins =
        state.db.list_users().await.unwrap().into_iter().filter(|u| u.role == watchpost::model::Role::Admin).count();
    assert_eq!(admins, 1);
    app.shutdown().await;
}
