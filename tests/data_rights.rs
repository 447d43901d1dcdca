//! A user's data rights on a running Watchpost: deleting one event, the events a filter or a
//! time range matches, the ticked ones (asked first with the count), and a camera's whole history
//! removes their rows, their search entries, their snapshots and the footage no other event needs,
//! and says so in the audit log; viewers cannot delete.

mod common;

use common::{ADMIN, ADMIN_PASSWORD, TestApp};
use std::path::{Path, PathBuf};
use std::process::Command;
use watchpost::db::{Db, Description, NewEvent, NewSegment};
use watchpost::model::{EventKind, Severity};

const HOUR: i64 = 3_600_000;
/// An hour on 30 November 2026, in ms.
const T0: i64 = 1_796_025_600_000;

struct Seeded {
    media: PathBuf,
    recordings: PathBuf,
}

async fn event(db: &Db, seeded: &Seeded, camera: &str, label: &str, at: i64, title: &str) -> i64 {
    let snapshot = format!("snapshots/{camera}/{at}.jpg");
    let file = seeded.media.join(&snapshot);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo/person.jpg"), &file).unwrap();
    std::fs::write(seeded.media.join(format!("snapshots/{camera}/{at}-boxes.jpg")), b"boxes").unwrap();
    let id = db
        .insert_event(&NewEvent {
            camera_id: camera.into(),
            kind: EventKind::Object,
            label: Some(label.into()),
            score: 0.9,
            bbox: [0.1, 0.1, 0.2, 0.5],
            boxes: vec![],
            start_ms: at,
            snapshot: Some(snapshot),
            severity: Severity::Low,
            zones: vec![],
            frame: (640, 360),
        })
        .await
        .unwrap();
    db.update_event(
        id,
        &watchpost::db::EventUpdate {
            score: 0.9,
            bbox: [0.1, 0.1, 0.2, 0.5],
            boxes: vec![],
            end_ms: Some(at + 20_000),
            snapshot: None,
            stationary: false,
            zones: None,
            score_history: None,
            label: None,
        },
    )
    .await
    .unwrap();
    let words = Description {
        title: Some(title.into()),
        text: title.into(),
        threat_level: None,
        by: "rules".into(),
        took_ms: None,
    };
    db.set_event_description(id, &words).await.unwrap();
    id
}

/// A 10-second segment of `camera` from `start`, with a file.
async fn segment(db: &Db, seeded: &Seeded, camera: &str, start: i64) -> PathBuf {
    let path = format!("{camera}/{start}.mp4");
    let file = seeded.recordings.join(&path);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, vec![0u8; 1000]).unwrap();
    db.add_segment(&NewSegment {
        camera_id: camera.into(),
        start_ms: start,
        end_ms: start + 10_000,
        bytes: 1000,
        path,
        codec: "h264".into(),
        width: 640,
        height: 360,
    })
    .await
    .unwrap();
    file
}

async fn search(app: &TestApp, words: &str) -> usize {
    app.events(&format!("q={words}")).await.len()
}

#[tokio::test]
async fn deleting_events_removes_rows_search_snapshots_and_their_footage() {
    let app = TestApp::start("").await;
    let db = app.running().state.db.clone();
    let data = app.data.path();
    let seeded = Seeded { media: data.join("media"), recordings: data.join("recordings") };
    let burglar = event(&db, &seeded, "front", "person", T0, "Burglar at the door").await;
    let postman = event(&db, &seeded, "front", "person", T0 + HOUR, "Postman with a parcel").await;
    let car_a = event(&db, &seeded, "drive", "car", T0 + 2 * HOUR, "Red car arrives").await;
    let car_b = event(&db, &seeded, "drive", "car", T0 + 2 * HOUR + 60_000, "Blue car arrives").await;
    let cat = event(&db, &seeded, "drive", "cat", T0 + 2 * HOUR + 65_000, "Cat on the bonnet").await;
    // Footage: the burglar's clip, the red car's, one that also shows the cat, and plain footage.
    let burglar_footage = segment(&db, &seeded, "front", T0).await;
    let red_car_footage = segment(&db, &seeded, "drive", T0 + 2 * HOUR).await;
    let shared_footage = segment(&db, &seeded, "drive", T0 + 2 * HOUR + 60_000).await;
    let plain_footage = segment(&db, &seeded, "drive", T0 + 5 * HOUR).await;
    let snapshot_of = |at: i64, camera: &str| seeded.media.join(format!("snapshots/{camera}/{at}.jpg"));
    assert_eq!(search(&app, "burglar").await, 1);

    // One event.
    let response = app.client.delete(app.url(&format!("/api/events/{burglar}"))).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["deleted"]["events"], 1);
    assert_eq!(body["deleted"]["snapshots"], 1);
    assert_eq!(body["deleted"]["recordings"], 1);
    assert!(db.get_event(burglar).await.unwrap().is_none());
    assert_eq!(search(&app, "burglar").await, 0, "search forgets it");
    assert!(!snapshot_of(T0, "front").exists() && !burglar_footage.exists());
    assert!(!seeded.media.join(format!("snapshots/front/{T0}-boxes.jpg")).exists(), "the copy with boxes goes too");
    assert_eq!(app.client.delete(app.url(&format!("/api/events/{burglar}"))).send().await.unwrap().status(), 404);

    // By filter: counted first, deleted when confirmed; footage the cat's clip needs stays.
    let ask = serde_json::json!({ "label": "car" });
    let counted: serde_json::Value =
        app.client.post(app.url("/api/events/delete")).json(&ask).send().await.unwrap().json().await.unwrap();
    assert_eq!((counted["matched"].as_u64(), counted["deleted"].is_null()), (Some(2), true));
    assert!(db.get_event(car_a).await.unwrap().is_some(), "counting deletes nothing");
    let confirm = serde_json::json!({ "label": "car", "confirm": true });
    let done: serde_json::Value =
        app.client.post(app.url("/api/events/delete")).json(&confirm).send().await.unwrap().json().await.unwrap();
    assert_eq!(done["deleted"]["events"], 2, "{done}");
    assert!(db.get_event(car_a).await.unwrap().is_none() && db.get_event(car_b).await.unwrap().is_none());
    assert!(!red_car_footage.exists(), "footage only the cars needed is gone");
    assert!(shared_footage.exists(), "footage the cat's clip shows is kept");
    assert!(plain_footage.exists(), "footage of no deleted event is kept");
    assert!(db.get_event(cat).await.unwrap().is_some() && db.get_event(postman).await.unwrap().is_some());

    // A time range.
    let range =
        serde_json::json!({ "from": (T0 + HOUR - 1).to_string(), "to": (T0 + HOUR + 1).to_string(), "confirm": true });
    let done: serde_json::Value =
        app.client.post(app.url("/api/events/delete")).json(&range).send().await.unwrap().json().await.unwrap();
    assert_eq!(done["deleted"]["events"], 1, "{done}");
    assert!(db.get_event(postman).await.unwrap().is_none());

    // The events page offers "Delete these…" for its filters, which asks with the count first.
    let events_page = app.client.get(app.url("/events?label=cat")).send().await.unwrap().text().await.unwrap();
    assert!(events_page.contains("href=\"/events/delete?label=cat\""), "{events_page}");
    assert!(events_page.contains("href=\"/events/export?label=cat\""));
    let asked = app.client.get(app.url("/events/delete?label=cat")).send().await.unwrap().text().await.unwrap();
    assert!(asked.contains("Delete 1 event?") && asked.contains("label cat"), "{asked}");
    assert!(asked.contains("name=\"label\" value=\"cat\""), "the form selects the same events again");

    // A viewer cannot delete.
    app.running().state.auth.create_user("vera", watchpost::model::Role::Viewer, "viewer password", &[]).await.unwrap();
    let (viewer, csrf) = app.browser_session("vera", "viewer password").await;
    let refused = viewer
        .post(app.url("/events/delete"))
        .form(&[("csrf", csrf.as_str()), ("id", &cat.to_string()), ("selected", "1"), ("confirm", "yes")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert!(db.get_event(cat).await.unwrap().is_some());

    // The events page: ticked events are asked about with the count, then deleted.
    let (browser, csrf) = app.browser_session(ADMIN, ADMIN_PASSWORD).await;
    let cat_id = cat.to_string();
    let asked = browser
        .post(app.url("/events/delete"))
        .form(&[("csrf", csrf.as_str()), ("id", cat_id.as_str()), ("selected", "1"), ("back", "/events")])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(asked.contains("Delete 1 event?"), "{asked}");
    assert!(db.get_event(cat).await.unwrap().is_some(), "asking deletes nothing");
    let deleted = browser
        .post(app.url("/events/delete"))
        .form(&[("csrf", csrf.as_str()), ("id", cat_id.as_str()), ("selected", "1"), ("confirm", "yes")])
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 303);
    assert_eq!(deleted.headers()["location"], "/events?deleted=1");
    assert!(db.get_event(cat).await.unwrap().is_none());
    assert!(!shared_footage.exists(), "with the cat gone, nobody needs that footage");

    // Every deletion is in the audit log.
    let audit = browser.get(app.url("/settings/audit")).send().await.unwrap().text().await.unwrap();
    assert!(audit.matches("events.delete").count() >= 4, "{audit}");
    app.shutdown().await;
}

#[tokio::test]
async fn a_cameras_whole_history_goes_after_a_question() {
    let app = TestApp::start("").await;
    let db = app.running().state.db.clone();
    let data = app.data.path();
    let seeded = Seeded { media: data.join("media"), recordings: data.join("recordings") };
    for n in 0..3 {
        event(&db, &seeded, "garage", "person", T0 + n * HOUR, "Someone in the garage").await;
    }
    let kept = event(&db, &seeded, "front", "person", T0, "Someone at the front").await;
    let garage_footage = segment(&db, &seeded, "garage", T0 + 10 * HOUR).await;
    db.camera_went_out("garage", T0, None).await.unwrap();
    let (browser, csrf) = app.browser_session(ADMIN, ADMIN_PASSWORD).await;
    let asked = browser.get(app.url("/cameras/garage/history/delete")).send().await.unwrap().text().await.unwrap();
    assert!(asked.contains("Delete 3 events?"), "{asked}");
    let done = browser
        .post(app.url("/cameras/garage/history/delete"))
        .form(&[("csrf", csrf.as_str()), ("confirm", "yes")])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 303);
    assert_eq!(db.count_events(Some("garage")).await.unwrap(), 0);
    assert!(!garage_footage.exists(), "footage without events goes with the history");
    assert!(std::fs::read_dir(seeded.media.join("snapshots/garage")).unwrap().next().is_none(), "no snapshot is left");
    assert!(db.outages_between(0, i64::MAX).await.unwrap().is_empty());
    assert!(db.get_event(kept).await.unwrap().is_some(), "other cameras keep theirs");
    app.shutdown().await;
}

/// A real two-second H.264 MP4, as recordings are.
fn real_segment(file: &Path) {
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let status = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=5", "-t", "2"])
        .args(["-c:v", "libx264", "-pix_fmt", "yuv420p", "-movflags", "+faststart"])
        .arg(file)
        .status()
        .unwrap();
    assert!(status.success());
}

fn unzip(bytes: Vec<u8>) -> std::collections::BTreeMap<String, Vec<u8>> {
    use std::io::Read;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a ZIP");
    (0..archive.len())
        .map(|i| {
            let mut entry = archive.by_index(i).unwrap();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            (entry.name().unwrap().to_string(), data)
        })
        .collect()
}

#[tokio::test]
async fn an_export_holds_the_events_as_the_api_shows_them_with_snapshots_and_clips() {
    let app = TestApp::start("").await;
    let db = app.running().state.db.clone();
    let data = app.data.path();
    let seeded = Seeded { media: data.join("media"), recordings: data.join("recordings") };
    let recorded = event(&db, &seeded, "front", "person", T0, "Person at the door").await;
    let plain = event(&db, &seeded, "front", "car", T0 + HOUR, "Car passing").await;
    event(&db, &seeded, "front", "person", T0 + 30 * HOUR, "Outside the range").await;
    let clip_file = seeded.recordings.join(format!("front/{T0}.mp4"));
    real_segment(&clip_file);
    db.add_segment(&NewSegment {
        camera_id: "front".into(),
        start_ms: T0 - 1000,
        end_ms: T0 + 1000,
        bytes: std::fs::metadata(&clip_file).unwrap().len() as i64,
        path: format!("front/{T0}.mp4"),
        codec: "h264".into(),
        width: 320,
        height: 240,
    })
    .await
    .unwrap();
    let range = format!("from={}&to={}", T0 - 1, T0 + 2 * HOUR);

    let page = app.client.get(app.url(&format!("/events/export?{range}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Export 2 events"), "{page}");
    let response = app.client.get(app.url(&format!("/api/export.zip?{range}"))).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/zip");
    let files = unzip(response.bytes().await.unwrap().to_vec());
    let document: serde_json::Value = serde_json::from_slice(&files["events.json"]).unwrap();
    assert_eq!(document["format"], "watchpost-export/1");
    let exported = document["events"].as_array().unwrap();
    assert_eq!(exported.len(), 2);
    // Each event as the API shows it, plus the names of its files.
    let api = app.events(&format!("{range}&limit=500")).await;
    for event in exported {
        let mut event = event.clone();
        let names = event.as_object_mut().unwrap().remove("files").unwrap();
        let shown = api.iter().find(|e| e["id"] == event["id"]).unwrap();
        assert_eq!(&event, shown);
        for name in names.as_object().unwrap().values() {
            assert!(files.contains_key(name.as_str().unwrap()), "{name} is in the ZIP");
        }
    }
    let photo = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo/person.jpg")).unwrap();
    assert_eq!(files[&format!("snapshots/{recorded}.jpg")], photo);
    assert!(files.contains_key(&format!("snapshots/{plain}-boxes.jpg")));
    let clip = &files[&format!("clips/{recorded}.mp4")];
    assert_eq!(&clip[4..8], b"ftyp", "the clip is an MP4");
    assert!(!files.contains_key(&format!("clips/{plain}.mp4")), "nothing was recorded around the car");

    // Without clips; and a viewer limited to another camera gets none of these.
    let files = unzip(
        app.client
            .get(app.url(&format!("/api/export.zip?{range}&clips=0")))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .to_vec(),
    );
    assert!(files.keys().all(|name| !name.starts_with("clips/")));
    app.running()
        .state
        .auth
        .create_user("kid", watchpost::model::Role::Viewer, "viewer password", &["porch".into()])
        .await
        .unwrap();
    let (viewer, _) = app.browser_session("kid", "viewer password").await;
    let theirs = unzip(
        viewer.get(app.url(&format!("/api/export.zip?{range}"))).send().await.unwrap().bytes().await.unwrap().to_vec(),
    );
    let document: serde_json::Value = serde_json::from_slice(&theirs["events.json"]).unwrap();
    assert_eq!(document["count"], 0);

    // The command line writes the same events (from the SQLite database it opens itself).
    if std::env::var(common::TEST_POSTGRES_VARIABLE).is_ok() {
        return app.shutdown().await.close().unwrap();
    }
    let out = data.join("cli-export.zip");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_watchpost"))
        .args(["export", "--from", &(T0 - 1).to_string(), "--to", &(T0 + 2 * HOUR).to_string(), "--no-clips", "--out"])
        .arg(&out)
        .arg("--data-dir")
        .arg(data)
        .env_remove("WATCHPOST_CONFIG")
        .current_dir(data)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stderr).contains("exported 2 of 2 event(s)"));
    let files = unzip(std::fs::read(&out).unwrap());
    let document: serde_json::Value = serde_json::from_slice(&files["events.json"]).unwrap();
    assert_eq!(document["count"], 2);
    app.shutdown().await;
}

fn watchpost(args: &[&str], data: &Path) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_watchpost"))
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .env_remove("WATCHPOST_CONFIG")
        .current_dir(data.parent().unwrap())
        .output()
        .unwrap();
    (output.status.success(), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[tokio::test]
async fn a_backup_restored_into_an_empty_directory_has_the_same_accounts_events_and_media() {
    if std::env::var(common::TEST_POSTGRES_VARIABLE).is_ok() {
        println!("skipped: backups of PostgreSQL are pg_dump's work");
        return;
    }
    let app = TestApp::start("").await;
    let db = app.running().state.db.clone();
    let data = app.data.path().to_path_buf();
    let seeded = Seeded { media: data.join("media"), recordings: data.join("recordings") };
    let door = event(&db, &seeded, "front", "person", T0, "Person at the door").await;
    event(&db, &seeded, "drive", "car", T0 + HOUR, "Car in the drive").await;
    app.running().state.auth.create_user("vera", watchpost::model::Role::Viewer, "viewer password", &[]).await.unwrap();
    let before = app.events("limit=500").await;
    let snapshot_before = app
        .client
        .get(app.url(&format!("/api/events/{door}/snapshot.jpg")))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();

    // From the command line while Watchpost runs, and from the Settings page.
    let scratch = tempfile::tempdir().unwrap();
    let file = scratch.path().join("backup.zip");
    let (ok, said) = watchpost(&["backup", file.to_str().unwrap()], &data);
    assert!(ok, "{said}");
    let downloaded = app.client.get(app.url("/settings/backup.zip")).send().await.unwrap();
    assert_eq!(downloaded.status(), 200);
    let entries = unzip(downloaded.bytes().await.unwrap().to_vec());
    let manifest: serde_json::Value = serde_json::from_slice(&entries["manifest.json"]).unwrap();
    assert_eq!(manifest["format"], "watchpost-backup/1");
    assert!(entries["watchpost.db"].starts_with(b"SQLite format 3"), "a database copy is in it");
    assert!(entries.keys().any(|k| k.starts_with("keys/")), "the keys are in it");
    let viewer = app.browser_session("vera", "viewer password").await.0;
    assert_eq!(
        viewer.get(app.url("/settings/backup.zip")).send().await.unwrap().status(),
        403,
        "viewers get no backup"
    );
    let old = app.shutdown().await;

    // Never over an installation.
    let (ok, said) = watchpost(&["restore", file.to_str().unwrap()], old.path());
    assert!(!ok && said.contains("is not empty"), "{said}");
    let fresh = tempfile::tempdir().unwrap();
    let (ok, said) = watchpost(&["restore", file.to_str().unwrap()], fresh.path());
    assert!(ok, "{said}");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(fresh.path().join("watchpost.db")).unwrap().permissions(),
    );
    assert_eq!(mode & 0o077, 0, "restored files are private");

    let app = TestApp::start_in("", fresh).await;
    assert_eq!(app.events("limit=500").await, before, "the same events");
    let snapshot_after = app
        .client
        .get(app.url(&format!("/api/events/{door}/snapshot.jpg")))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(snapshot_after, snapshot_before, "the same media");
    // The same accounts: the viewer signs in with their password.
    app.browser_session("vera", "viewer password").await;
    app.shutdown().await;
    drop(old);
}

#[tokio::test]
async fn accounts_are_deleted_with_their_sessions_and_tokens_and_leave_a_tombstone() {
    let app = TestApp::start("").await;
    let auth = &app.running().state.auth;
    let db = app.running().state.db.clone();
    let vera = auth.create_user("vera", watchpost::model::Role::Viewer, "viewer password", &[]).await.unwrap();
    let token = auth.create_token(vera, "phone", None).await.unwrap().jwt;
    let (vera_browser, _) = app.browser_session("vera", "viewer password").await;
    let with_token = |path: &str| app.anonymous.get(app.url(path)).bearer_auth(&token);
    assert_eq!(with_token("/api/events").send().await.unwrap().status(), 200);

    // Download my data: the account, sign-ins, tokens without their values, audit entries.
    let mine = vera_browser.get(app.url("/account/data.json")).send().await.unwrap();
    assert_eq!(mine.status(), 200);
    let text = mine.text().await.unwrap();
    assert!(!text.contains(&token), "a token's value is never shown again");
    let mine: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(mine["account"]["name"], "vera");
    assert_eq!(mine["api_tokens"][0]["name"], "phone");
    assert!(!mine["sessions"].as_array().unwrap().is_empty());
    assert!(mine["audit"].as_array().unwrap().iter().any(|a| a["action"] == "auth.login"), "{mine}");

    // An administrator deletes her: sessions and tokens stop working; the audit log keeps a tombstone.
    let (admin, csrf) = app.browser_session(ADMIN, ADMIN_PASSWORD).await;
    let deleted = admin
        .post(app.url(&format!("/settings/users/{vera}/delete")))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 303);
    assert!(db.user_by_name("vera").await.unwrap().is_none());
    assert_eq!(with_token("/api/events").send().await.unwrap().status(), 401, "her token is gone");
    let after = vera_browser.get(app.url("/api/events")).send().await.unwrap();
    assert_eq!(after.status(), 401, "her session is gone");
    let tombstones = db.audit_of(&format!("vera (deleted {})", chrono::Utc::now().format("%Y-%m-%d"))).await.unwrap();
    assert!(tombstones.iter().any(|a| a.action == "auth.login"), "her sign-ins stay, under the tombstone");
    assert!(tombstones.iter().any(|a| a.action == "user.delete"));
    assert!(db.audit_of("vera").await.unwrap().is_empty(), "no entry names her as before");

    // The only administrator cannot be deleted.
    let me = db.user_by_name(ADMIN).await.unwrap().unwrap();
    let refused = admin
        .post(app.url(&format!("/settings/users/{}/delete", me.id)))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 409);
    assert!(refused.text().await.unwrap().contains("only active administrator"));

    // A viewer deletes their own account, with their password.
    auth.create_user("otto", watchpost::model::Role::Viewer, "otto password!", &[]).await.unwrap();
    let (otto, otto_csrf) = app.browser_session("otto", "otto password!").await;
    let wrong = otto
        .post(app.url("/account/delete"))
        .form(&[("csrf", otto_csrf.as_str()), ("password", "guess")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 422);
    assert!(db.user_by_name("otto").await.unwrap().is_some());
    let gone = otto
        .post(app.url("/account/delete"))
        .form(&[("csrf", otto_csrf.as_str()), ("password", "otto password!")])
        .send()
        .await
        .unwrap();
    assert_eq!((gone.status().as_u16(), gone.headers()["location"].to_str().unwrap()), (303, "/login"));
    assert!(db.user_by_name("otto").await.unwrap().is_none());
    app.shutdown().await;
}

#[tokio::test]
async fn a_restore_staged_on_the_settings_page_happens_at_the_next_start_and_keeps_the_old_data() {
    if std::env::var(common::TEST_POSTGRES_VARIABLE).is_ok() {
        println!("skipped: a PostgreSQL installation restores with pg_restore and the command line");
        return;
    }
    let app = TestApp::start("").await;
    let db = app.running().state.db.clone();
    let data = app.data.path().to_path_buf();
    let seeded = Seeded { media: data.join("media"), recordings: data.join("recordings") };
    event(&db, &seeded, "front", "person", T0, "In the backup").await;
    let backed_up = app.events("limit=500").await;
    let scratch = tempfile::tempdir().unwrap();
    let file = scratch.path().join("backup.zip");
    let (ok, said) = watchpost(&["backup", file.to_str().unwrap()], &data);
    assert!(ok, "{said}");
    event(&db, &seeded, "front", "person", T0 + HOUR, "After the backup").await;

    let (browser, csrf) = app.browser_session(ADMIN, ADMIN_PASSWORD).await;
    let refused = browser
        .post(app.url("/settings/restore"))
        .form(&[("csrf", csrf.as_str()), ("path", "/nonexistent/backup.zip")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    assert!(refused.text().await.unwrap().contains("cannot be restored"));
    let staged = browser
        .post(app.url("/settings/restore"))
        .form(&[("csrf", csrf.as_str()), ("path", file.to_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(staged.status(), 303);
    let page = browser.get(app.url("/settings/system")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("At the next start Watchpost restores"), "{page}");
    assert_eq!(app.events("limit=500").await.len(), 2, "nothing changes before the restart");

    let data_dir = app.shutdown().await;
    let app = TestApp::start_in("", data_dir).await;
    assert_eq!(app.events("limit=500").await, backed_up, "the backup's events, not the later one");
    let kept: Vec<PathBuf> = std::fs::read_dir(app.data.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("before-restore-"))
        .collect();
    assert_eq!(kept.len(), 1, "the replaced data is kept");
    assert!(kept[0].join("watchpost.db").is_file());
    assert!(!app.data.path().join("restore-pending.json").exists(), "it is done once");
    app.shutdown().await;
}
