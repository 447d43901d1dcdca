//! A user's data rights on a running Watchpost: deleting one event, the events a filter or a
//! time range matches, the ticked ones (asked first with the count), and a camera's whole history
//! removes their rows, their search entries, their snapshots and the footage no other event needs,
//! and says so in the audit log; viewers cannot delete.

mod common;

use common::{ADMIN, ADMIN_PASSWORD, TestApp};
use std::path::{Path, PathBuf};
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
