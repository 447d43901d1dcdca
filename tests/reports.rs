//! Reports made from a seeded database: `watchpost report` writes a PDF whose text (poppler's
//! `pdftotext`) shows the cameras and the counts the database holds, with the expected number of
//! pages, every page renders (`pdftoppm`, kept under the test output for a look), a quiet day is
//! one friendly page, and a week across the end of summer time has the right days. A scheduled
//! report is made once (also across a restart) and delivered once to the fake mail server and
//! the fake Bot API, through a failure, and listed on the API and the Reports page. With a model
//! set up, "Generate now" adds its paragraph about the period, within the hourly budget.

mod common;

use common::smtp::FakeSmtp;
use common::telegram::{Failure, FakeTelegram};
use common::vlm::{FakeModel, Reply};
use common::{TestApp, wait_for};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use watchpost::db::entities::camera;
use watchpost::db::{Db, Description, NewEvent, Recipient};
use watchpost::model::{EventKind, Severity};

fn ms(text: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(text).unwrap().timestamp_millis()
}

async fn open(data: &Path) -> Db {
    Db::connect(&watchpost::config::Config::default().storage.database_url(data)).await.unwrap()
}

async fn add_camera(db: &Db, id: &str, name: &str) {
    db.upsert_camera(camera::Model {
        id: id.into(),
        name: name.into(),
        source: "config".into(),
        settings: "{}".into(),
        credentials: None,
        status: "online".into(),
        last_error: None,
        last_frame_ms: None,
        updated_ms: 0,
    })
    .await
    .unwrap();
}

/// An event at `at` with the demo photograph as its snapshot.
async fn add_event(db: &Db, data: &Path, camera: &str, label: &str, at: &str) -> i64 {
    let snapshot = format!("snapshots/{camera}-{}.jpg", ms(at));
    let file = data.join("media").join(&snapshot);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo/person.jpg"), &file).unwrap();
    db.insert_event(&NewEvent {
        camera_id: camera.into(),
        kind: EventKind::Object,
        label: Some(label.into()),
        score: 0.8,
        bbox: [0.1, 0.1, 0.3, 0.6],
        boxes: vec![],
        start_ms: ms(at),
        snapshot: Some(snapshot),
        severity: Severity::Low,
        zones: vec![],
        frame: (640, 360),
    })
    .await
    .unwrap()
}

async fn alert(db: &Db, id: i64, severity: Severity, title: &str, text: &str) {
    db.set_event_description(
        id,
        &Description {
            title: Some(title.into()),
            text: text.into(),
            threat_level: Some(1),
            by: "rules".into(),
            took_ms: None,
        },
    )
    .await
    .unwrap();
    let nobody: [Recipient; 0] = [];
    assert!(db.mark_alerted(id, severity, 0, &nobody).await.unwrap());
}

fn run_report(data: &Path, args: &[&str], out: &Path) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_watchpost"))
        .args(["report", "--out"])
        .arg(out)
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .env_remove("WATCHPOST_CONFIG")
        .current_dir(data)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(output.status.success(), "watchpost report failed: {said}");
    said
}

fn pdf_text(pdf: &Path) -> String {
    let output =
        Command::new("pdftotext").args(["-layout"]).arg(pdf).arg("-").output().expect("pdftotext (poppler-utils)");
    assert!(output.status.success());
    String::from_utf8(output.stdout).unwrap()
}

fn pdf_pages(pdf: &Path) -> usize {
    let output = Command::new("pdfinfo").arg(pdf).output().expect("pdfinfo (poppler-utils)");
    let info = String::from_utf8(output.stdout).unwrap();
    info.lines().find_map(|l| l.strip_prefix("Pages:")).unwrap().trim().parse().unwrap()
}

/// Renders every page to PNG under the test output folder; returns how many came out.
fn render_pages(pdf: &Path, name: &str) -> usize {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report-pages");
    std::fs::create_dir_all(&dir).unwrap();
    let prefix = dir.join(name);
    let status = Command::new("pdftoppm").args(["-png", "-r", "60"]).arg(pdf).arg(&prefix).status().unwrap();
    assert!(status.success(), "pdftoppm cannot render {}", pdf.display());
    println!("report pages: {}", dir.display());
    std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&format!("{name}-")))
        .filter(|e| std::fs::metadata(e.path()).map(|m| m.len() > 1000).unwrap_or(false))
        .count()
}

#[tokio::test]
async fn a_daily_report_shows_the_databases_figures_on_every_page() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let db = open(data).await;
    add_camera(&db, "front", "Front door").await;
    add_camera(&db, "garage", "Garage").await;
    add_camera(&db, "yard", "Back yard").await;
    // Monday 30 November 2026 in Berlin (UTC+1): five people at the front in the morning, three
    // cars at the garage in the evening; two alerts.
    let mut front = Vec::new();
    for minute in ["08:05", "08:20", "08:40", "09:10", "12:30"] {
        front.push(add_event(&db, data, "front", "person", &format!("2026-11-30T{minute}:00+01:00")).await);
    }
    let mut garage = Vec::new();
    for minute in ["17:02", "17:30", "17:45"] {
        garage.push(add_event(&db, data, "garage", "car", &format!("2026-11-30T{minute}:00+01:00")).await);
    }
    alert(
        &db,
        front[1],
        Severity::High,
        "Stranger at the front door",
        "A person in a dark hood tries the door handle and looks through the window beside it.",
    )
    .await;
    alert(&db, garage[0], Severity::Medium, "Car in the driveway", "A grey car stops in front of the garage.").await;
    // Events outside the day stay out.
    add_event(&db, data, "front", "person", "2026-11-29T23:59:00+01:00").await;
    add_event(&db, data, "front", "person", "2026-12-01T00:00:00+01:00").await;
    // The garage was out for an hour and a half.
    db.camera_went_out("garage", ms("2026-11-30T10:00:00+01:00"), Some("connection refused")).await.unwrap();
    db.camera_came_back("garage", ms("2026-11-30T11:30:00+01:00")).await.unwrap();
    db.close().await;

    let pdf = data.join("daily.pdf");
    let said = run_report(data, &["--period", "daily", "--date", "2026-11-30", "--timezone", "Europe/Berlin"], &pdf);
    assert!(said.contains("8 event(s)"), "{said}");
    // Summary and breakdown pages, and six top events at three a page.
    assert_eq!(pdf_pages(&pdf), 4);
    let text = pdf_text(&pdf);
    let flowing = text.split_whitespace().collect::<Vec<_>>().join(" ");
    for expected in [
        "Daily report",
        "Monday 30 November 2026",
        "8 events on 2 cameras, 2 alerted (1 high, 1 medium)",
        "The busiest hour was 08:00–09:00 with 3 events",
        "Most seen: person (5), car (3)",
        "Garage was offline for 1 h 30 min (1 spell)",
        "Stranger at the front door",
        "A person in a dark hood tries the door handle",
        "Car in the driveway",
    ] {
        assert!(flowing.contains(expected), "the report lacks {expected:?}:\n{text}");
    }
    // The camera table: name, events, alerts, offline, uptime.
    let row = |name: &str| {
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(name) && l.contains('%'))
            .unwrap_or_else(|| panic!("no row for {name}:\n{text}"));
        line.split_whitespace().map(str::to_string).collect::<Vec<_>>()
    };
    assert_eq!(row("Front door")[2..], ["5", "1", "–", "100.0", "%"]);
    assert_eq!(row("Garage")[1..], ["3", "1", "1", "h", "30", "min", "93.8", "%"]);
    assert_eq!(row("Back yard")[2..], ["0", "0", "–", "100.0", "%"]);
    assert_eq!(render_pages(&pdf, "daily"), 4, "every page renders");
}

#[tokio::test]
async fn a_quiet_day_is_one_friendly_page() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let db = open(data).await;
    add_camera(&db, "front", "Front door").await;
    db.close().await;
    let pdf = data.join("quiet.pdf");
    run_report(data, &["--period", "daily", "--date", "2026-11-30", "--timezone", "Europe/Berlin"], &pdf);
    assert_eq!(pdf_pages(&pdf), 1);
    let text = pdf_text(&pdf);
    assert!(text.contains("A quiet day: no events were recorded"), "{text}");
    assert!(text.contains("Front door"), "{text}");
    assert_eq!(render_pages(&pdf, "quiet"), 1);
}

#[tokio::test]
async fn a_week_across_the_end_of_summer_time_counts_each_local_day() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let db = open(data).await;
    add_camera(&db, "front", "Front door").await;
    // Berlin, week of Monday 19 October 2026; clocks go back on Sunday 25 October at 03:00.
    add_event(&db, data, "front", "person", "2026-10-19T00:00:00+02:00").await; // Monday's first second
    add_event(&db, data, "front", "person", "2026-10-24T23:30:00+02:00").await; // Saturday
    add_event(&db, data, "front", "person", "2026-10-25T02:30:00+02:00").await; // Sunday, before the change
    add_event(&db, data, "front", "person", "2026-10-25T02:30:00+01:00").await; // Sunday, the hour again
    add_event(&db, data, "front", "person", "2026-10-25T23:59:00+01:00").await; // Sunday's last minute
    add_event(&db, data, "front", "person", "2026-10-26T00:00:00+01:00").await; // the next week
    add_event(&db, data, "front", "person", "2026-10-18T23:59:00+02:00").await; // the week before
    let media = watchpost::media::MediaStore::open(&data.join("media")).unwrap();
    let request = watchpost::reports::data::ReportRequest {
        name: "weekly".into(),
        period: watchpost::reports::settings::Period::Weekly,
        first_day: chrono::NaiveDate::from_ymd_opt(2026, 10, 19).unwrap(),
        zone: "Europe/Berlin".parse().unwrap(),
        cameras: vec![],
        top_events: 6,
    };
    let report = watchpost::reports::data::gather(&db, &media, &request, ms("2026-11-01T00:00:00Z")).await.unwrap();
    let per_day: Vec<u32> = report.per_day.iter().map(|cameras| cameras.iter().sum()).collect();
    assert_eq!(per_day, [1, 0, 0, 0, 0, 1, 3]);
    assert_eq!(report.total_events, 5);
    assert_eq!(report.by_weekday_hour[6][2], 2, "both 02:30s on Sunday fall in the 02:00 hour");
    assert_eq!(report.to_ms - report.from_ms, (7 * 24 + 1) * 3_600_000, "the week is an hour longer");
    db.close().await;

    let pdf = data.join("weekly.pdf");
    run_report(data, &["--period", "weekly", "--date", "2026-10-19", "--timezone", "Europe/Berlin"], &pdf);
    let text = pdf_text(&pdf);
    assert!(text.contains("Mon 19 Oct – Sun 25 Oct 2026"), "{text}");
    assert!(text.contains("5 events on 1 camera"), "{text}");
    assert_eq!(render_pages(&pdf, "weekly"), pdf_pages(&pdf));
}

#[tokio::test]
async fn a_scheduled_report_is_made_once_and_delivered_once_by_email_and_telegram() {
    let telegram = FakeTelegram::start("123:report");
    telegram.fail_next(&[Failure::ServerError]);
    let smtp = FakeSmtp::start(None);
    // Due since midnight: yesterday's report is made at start.
    let config = format!(
        "[telegram]\nbot_token = \"123:report\"\nchat_ids = [4242]\napi_url = \"{}\"\n\
         [email]\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {}\ntls = false\nstarttls = false\n\
         from = \"Watchpost <cameras@example.com>\"\nto = [\"me@example.com\"]\n\
         [[reports]]\nname = \"daily\"\nperiod = \"daily\"\nat = \"00:00\"\ntimezone = \"UTC\"\n\
         send_to = [\"email\", \"telegram\"]\n",
        telegram.api_url(),
        smtp.port
    );
    let app = TestApp::start(&config).await;
    let documents = wait_for("the report on Telegram", Duration::from_secs(60), || {
        let sent = telegram.sent_by("sendDocument");
        async move { (!sent.is_empty()).then_some(sent) }
    })
    .await;
    let mails = wait_for("the report by e-mail", Duration::from_secs(60), || {
        let mails = smtp.mails();
        async move { (!mails.is_empty()).then_some(mails) }
    })
    .await;
    assert_eq!(telegram.refused(), 1, "the first try met the 500");
    let document = &documents[0];
    assert_eq!(document.chat_id, 4242);
    assert!(document.photo.as_deref().unwrap_or_default().starts_with(b"%PDF"), "a PDF is attached");
    assert!(document.text.starts_with("Watchpost daily report"), "{}", document.text);
    let parts = mails[0].parts();
    let pdf = parts.iter().find(|p| p.mime_type() == "application/pdf").expect("a PDF attachment");
    assert!(pdf.body.starts_with(b"%PDF"));
    assert!(mails[0].header("subject").unwrap_or_default().starts_with("Watchpost daily report"));

    let listed: serde_json::Value =
        app.client.get(format!("{}/api/reports", app.base)).send().await.unwrap().json().await.unwrap();
    let reports = listed["reports"].as_array().unwrap();
    assert_eq!(reports.len(), 1, "{listed}");
    let report = &reports[0];
    assert_eq!(report["name"], "daily");
    let statuses: Vec<&str> =
        report["deliveries"].as_array().unwrap().iter().map(|d| d["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["sent", "sent"]);
    let pdf = app.client.get(format!("{}{}", app.base, report["pdf"].as_str().unwrap())).send().await.unwrap();
    assert_eq!(pdf.headers()["content-type"], "application/pdf");
    assert!(pdf.bytes().await.unwrap().starts_with(b"%PDF"));
    let page = app.client.get(format!("{}/reports", app.base)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("daily: daily at 00:00, all cameras, sent by E-mail and Telegram"), "{page}");
    assert!(page.contains("E-mail: sent"), "{page}");
    // Nobody else may read reports.
    let anonymous = app.anonymous.get(format!("{}/api/reports", app.base)).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);

    // A restart makes no second report of the same day, and nothing is sent twice.
    let data = app.shutdown().await;
    let app = TestApp::start_in(&config, data).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let listed: serde_json::Value =
        app.client.get(format!("{}/api/reports", app.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed["reports"].as_array().unwrap().len(), 1);
    assert_eq!((telegram.sent_by("sendDocument").len(), smtp.mails().len()), (1, 1));
    app.shutdown().await;
}

/// Makes a report with "Generate now" and waits for it; returns its PDF's text.
async fn generate_now(app: &TestApp, browser: &reqwest::Client, csrf: &str, day: &str, made: usize) -> String {
    let asked = browser
        .post(app.url("/reports/generate"))
        .form(&[("csrf", csrf), ("period", "daily"), ("date", day)])
        .send()
        .await
        .unwrap();
    assert_eq!(asked.status(), 303);
    let report = wait_for("the report", Duration::from_secs(60), || async {
        let listed: serde_json::Value = app.client.get(app.url("/api/reports")).send().await.ok()?.json().await.ok()?;
        let reports = listed["reports"].as_array()?.clone();
        (reports.len() == made).then(|| reports[0].clone())
    })
    .await;
    let pdf = app.client.get(app.url(report["pdf"].as_str().unwrap())).send().await.unwrap().bytes().await.unwrap();
    let file = app.data.path().join(format!("generated-{made}.pdf"));
    std::fs::write(&file, &pdf).unwrap();
    pdf_text(&file).split_whitespace().collect::<Vec<_>>().join(" ")
}

#[tokio::test]
async fn with_a_model_a_report_gets_a_summary_within_the_budget() {
    let model = FakeModel::start(
        vec![],
        Reply::openai("A calm day: the postman came twice and a fox crossed the garden at night."),
    );
    let describe = format!(
        "[describe]\nprovider = \"openai\"\nbase_url = \"{}\"\nmodel = \"m\"\nmax_per_hour = 1\n",
        model.base_url()
    );
    let app = TestApp::start(&describe).await;
    let db = app.running().state.db.clone();
    let yesterday = chrono::Local::now().date_naive() - chrono::Days::new(1);
    let noon = yesterday.and_hms_opt(12, 0, 0).unwrap().and_local_timezone(chrono::Local).unwrap().to_rfc3339();
    let id = add_event(&db, app.data.path(), "garden", "person", &noon).await;
    let words = Description {
        title: Some("Postman at the gate".into()),
        text: "A postman in a yellow jacket leaves a parcel by the gate.".into(),
        threat_level: Some(0),
        by: "openai:m".into(),
        took_ms: Some(900),
    };
    db.set_event_description(id, &words).await.unwrap();
    let (browser, csrf) = app.browser_session(common::ADMIN, common::ADMIN_PASSWORD).await;
    let day = yesterday.to_string();

    let text = generate_now(&app, &browser, &csrf, &day, 1).await;
    assert!(text.contains("The period in short"), "{text}");
    assert!(text.contains("A calm day: the postman came twice"), "{text}");
    assert!(text.contains("Written by openai:m"), "{text}");
    let asked = model.requests();
    assert_eq!(asked.len(), 1);
    let sent = asked[0].body.to_string();
    assert!(sent.contains("A postman in a yellow jacket leaves a parcel by the gate."), "{sent}");
    assert!(!sent.contains("image_url"), "only words go to the model");

    // The hourly budget (1) is spent: the next report goes without the paragraph.
    let text = generate_now(&app, &browser, &csrf, &day, 2).await;
    assert!(!text.contains("The period in short"), "{text}");
    assert!(text.contains("Postman at the gate"), "the event itself is still there");
    assert_eq!(model.requests().len(), 1);
    app.shutdown().await;
}
