//! Helpers shared by the integration tests: a Watchpost started in-process on a free port with
//! its own data directory, a real RTSP server (GStreamer) in a child process, the test clip built
//! once with the real ffmpeg, and a count of the ffmpeg processes this test process has started.

#![allow(dead_code)] // each test binary uses a different subset of these helpers

pub mod esp32;
pub mod http_wire;
pub mod mqtt;
pub mod netns;
pub mod onvif;
pub mod push;
pub mod smtp;
pub mod telegram;
pub mod vlm;
pub mod whatsapp;

use std::future::Future;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use watchpost::app::{RunningApp, ServeOptions};
use watchpost::config::{Config, Environment};
use watchpost::demo::ClipPlan;

/// The test clip: 8 s of empty field, the person walks in (2 s), stands (3 s), walks out (2 s),
/// then 4 s of empty field. 640×360 at 10 fps.
pub const TEST_PLAN: ClipPlan = ClipPlan {
    empty_secs: 8,
    walk_secs: 2,
    stand_secs: 3,
    tail_secs: 4,
    width: 640,
    height: 360,
    fps: 10,
    noise: 0,
    with_person: true,
};

/// Builds the test clip once per test binary (real ffmpeg, real photograph).
pub fn test_clip() -> PathBuf {
    static CLIP: OnceLock<PathBuf> = OnceLock::new();
    CLIP.get_or_init(|| {
        // Folders of test processes that have ended go first.
        let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        for entry in std::fs::read_dir(&tmp).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if let Some(pid) = name.strip_prefix("clip-")
                && !Path::new("/proc").join(pid).exists()
            {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        let dir = tmp.join(format!("clip-{}", std::process::id()));
        watchpost::demo::ensure_clip("ffmpeg", &dir.join("field.mp4"), &TEST_PLAN)
            .expect("build the test clip with ffmpeg")
    })
    .clone()
}

/// A camera's main stream: 1280×720 at 10 fps (a key frame every 2 s), the field empty for 8 s,
/// then a person walks in and stays.
pub const HD_PLAN: ClipPlan = ClipPlan {
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

pub fn hd_clip() -> PathBuf {
    static CLIP: OnceLock<PathBuf> = OnceLock::new();
    CLIP.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("hd-clip-{}", std::process::id()));
        watchpost::demo::ensure_clip("ffmpeg", &dir.join("field.mp4"), &HD_PLAN).expect("build the HD clip")
    })
    .clone()
}

/// What ffprobe says about a video file: codec, width, height, duration in seconds.
pub fn probe(file: &Path) -> (String, u64, u64, f64) {
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

pub fn parse_config(text: &str) -> Config {
    let env = Environment { vars: Vec::new(), secrets_dir: PathBuf::from("/nonexistent") };
    let config = watchpost::config::parse(text, &env).expect("test config parses");
    config.validate().expect("test config is valid");
    config
}

/// The administrator every test app has.
pub const ADMIN: &str = "admin";
pub const ADMIN_PASSWORD: &str = "correct horse battery";

/// A client that drops idle connections after 1 s, well before the server's 5 s keep-alive ends
/// them: reusing a connection the server is closing at that instant fails the request
/// ("IncompleteMessage"), which would make tests flaky.
fn http_client() -> reqwest::ClientBuilder {
    watchpost::http::client_builder().pool_idle_timeout(Duration::from_secs(1))
}

pub struct TestApp {
    pub app: Option<RunningApp>,
    pub base: String,
    pub data: tempfile::TempDir,
    /// Sends the administrator's API token with every request.
    pub client: reqwest::Client,
    /// No credentials at all.
    pub anonymous: reqwest::Client,
}

impl TestApp {
    /// Starts Watchpost with `config_toml` (its `[server] bind` is replaced by a free port).
    pub async fn start(config_toml: &str) -> Self {
        let data = tempfile::tempdir().expect("temp dir");
        Self::start_in(config_toml, data).await
    }

    pub async fn start_in(config_toml: &str, data: tempfile::TempDir) -> Self {
        Self::start_with(config_toml, data, watchpost::clock::system()).await
    }

    /// Starts Watchpost going by `clock` (a [`watchpost::clock::ManualClock`] lets a test move
    /// time forward).
    pub async fn start_with(config_toml: &str, data: tempfile::TempDir, clock: watchpost::clock::SharedClock) -> Self {
        let mut config = parse_config(config_toml);
        if let Some(url) = test_database(data.path()).await {
            config.storage.database_url = Some(watchpost::secret::Secret::new(url));
        }
        config.server.bind = "127.0.0.1:0".into();
        // Object detection only where a test asks for it: it is slow, and these tests are about
        // other things.
        config.detector.enabled = config_toml.contains("[detector]");
        // No background discovery: tests never multicast on the machine's own network.
        if !config_toml.contains("interval_minutes") {
            config.discovery.interval_minutes = 0;
        }
        if !config_toml.contains("node_scan_secs") {
            config.discovery.node_scan_secs = 0;
        }
        let app = watchpost::app::start(ServeOptions {
            config,
            config_file: None,
            data_dir: data.path().to_path_buf(),
            demo: false,
            clock,
        })
        .await
        .expect("watchpost starts");
        let base = format!("http://{}", app.addr);
        let auth = &app.state.auth;
        let admin = match app.state.db.user_by_name(ADMIN).await.unwrap() {
            Some(user) => user.id,
            None => auth.create_user(ADMIN, watchpost::model::Role::Admin, ADMIN_PASSWORD, &[]).await.unwrap(),
        };
        let token = auth.create_token(admin, "tests", None).await.unwrap().jwt;
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(reqwest::header::AUTHORIZATION, format!("Bearer {token}").parse().unwrap());
        let client =
            http_client().redirect(reqwest::redirect::Policy::none()).default_headers(headers).build().unwrap();
        let anonymous = http_client().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Self { app: Some(app), base, data, client, anonymous }
    }

    /// Runs `sql` on the running Watchpost's database through a connection of the test's own,
    /// for a test that must put the data in a state the product never writes (a past time).
    pub async fn execute_sql(&self, sql: &str) {
        use sea_orm::ConnectionTrait;
        let url = self.running().state.config.storage.database_url(self.data.path());
        let connection = sea_orm::Database::connect(&url).await.unwrap();
        connection.execute_unprepared(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        connection.close().await.unwrap();
    }

    /// Signs in through the login form like a browser; returns the client (holding the session
    /// cookie) and the session's CSRF token read from the page.
    pub async fn browser_session(&self, name: &str, password: &str) -> (reqwest::Client, String) {
        let client = http_client().redirect(reqwest::redirect::Policy::none()).cookie_store(true).build().unwrap();
        let login_page = client.get(self.url("/login")).send().await.unwrap().text().await.unwrap();
        let form_csrf = hidden_csrf(&login_page);
        let response = client
            .post(self.url("/login"))
            .form(&[("csrf", form_csrf.as_str()), ("name", name), ("password", password), ("next", "/")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 303, "sign-in as {name} failed");
        let account = client.get(self.url("/account")).send().await.unwrap().text().await.unwrap();
        let csrf = hidden_csrf(&account);
        (client, csrf)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn running(&self) -> &RunningApp {
        self.app.as_ref().expect("app running")
    }

    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        let response = self.client.get(self.url(path)).send().await.expect("request");
        assert!(response.status().is_success(), "GET {path}: {}", response.status());
        response.json().await.expect("json body")
    }

    pub async fn camera_state(&self, id: &str) -> (String, Option<String>) {
        let camera = self.get_json(&format!("/api/cameras/{id}")).await;
        (camera["state"].as_str().unwrap_or_default().to_string(), camera["last_error"].as_str().map(str::to_string))
    }

    pub async fn events(&self, query: &str) -> Vec<serde_json::Value> {
        self.get_json(&format!("/api/events?{query}")).await["events"].as_array().cloned().unwrap_or_default()
    }

    pub async fn shutdown(mut self) -> tempfile::TempDir {
        if let Some(app) = self.app.take() {
            app.shutdown().await;
        }
        self.data
    }
}

/// The camera form as a browser sends it: `fields` (id, url, …) and the detection settings at
/// their usual values.
pub fn camera_form<'a>(fields: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut form = fields.to_vec();
    form.extend([
        ("width", "640"),
        ("height", "360"),
        ("fps", "5"),
        ("threshold", "25"),
        ("contour_area", "15"),
        ("start_frames", "3"),
        ("quiet_secs", "10"),
    ]);
    form
}

/// Where the tests' PostgreSQL server is, when they run on PostgreSQL (`scripts/test.sh` sets it
/// for a second pass of the account, alert and storage tests).
pub const TEST_POSTGRES_VARIABLE: &str = "WATCHPOST_TEST_POSTGRES";

/// With `WATCHPOST_TEST_POSTGRES` set to a PostgreSQL server's URL, the database of the Watchpost
/// using `data`: a new, empty one (so the migrations run from scratch) on first use, named after
/// this process and kept in `data` for a restart on the same data directory. Databases of test
/// processes that have ended are dropped first. `None` means SQLite in `data`, the default.
pub async fn test_database(data: &Path) -> Option<String> {
    use sea_orm::{ConnectionTrait, Database};
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let server = std::env::var(TEST_POSTGRES_VARIABLE).ok().filter(|s| !s.is_empty())?;
    let remembered = data.join("test-database-url");
    if let Ok(url) = std::fs::read_to_string(&remembered) {
        return Some(url);
    }
    let admin = Database::connect(&server).await.unwrap_or_else(|e| panic!("{TEST_POSTGRES_VARIABLE}={server}: {e}"));
    let existing = admin
        .query_all_raw(sea_orm::Statement::from_string(
            admin.get_database_backend(),
            "SELECT datname FROM pg_database WHERE datname LIKE 'watchpost_test_%'",
        ))
        .await
        .unwrap();
    for row in existing {
        let name: String = row.try_get("", "datname").unwrap();
        let pid = name.split('_').nth(2).unwrap_or_default();
        if !Path::new("/proc").join(pid).exists() {
            let _ = admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await;
        }
    }
    let name =
        format!("watchpost_test_{}_{}", std::process::id(), NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    admin.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await.unwrap();
    let mut url = url::Url::parse(&server).unwrap();
    url.set_path(&format!("/{name}"));
    std::fs::write(&remembered, url.as_str()).unwrap();
    Some(url.to_string())
}

/// The detector settings pointing at the model and ONNX Runtime that `scripts/setup.sh` installs,
/// or `None` (with the reason printed) when they are missing outside CI. With `CI` set, missing
/// parts fail the test instead.
pub fn detector_config() -> Option<watchpost::detect::DetectorConfig> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let model = root.join("models/yolox_nano.onnx");
    let library = std::env::var_os("ORT_DYLIB_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(watchpost::detect::onnx::LOCAL_ONNXRUNTIME));
    let missing: Vec<String> =
        [&model, &library].iter().filter(|p| !p.is_file()).map(|p| p.display().to_string()).collect();
    if !missing.is_empty() {
        let message = format!("the detector test needs {} (run scripts/setup.sh)", missing.join(" and "));
        assert!(std::env::var_os("CI").is_none(), "{message}");
        eprintln!("SKIPPED: {message}");
        return None;
    }
    Some(watchpost::detect::DetectorConfig { model, onnxruntime: Some(library), ..Default::default() })
}

/// A `[detector]` section for [`TestApp::start`] with the installed model and library (see
/// [`detector_config`]).
pub fn detector_toml() -> Option<String> {
    let config = detector_config()?;
    Some(format!(
        "[detector]\nmodel = \"{}\"\nonnxruntime = \"{}\"\n",
        config.model.display(),
        config.onnxruntime.unwrap_or_default().display()
    ))
}

/// A photograph decoded by ffmpeg into a YUV 4:2:0 frame `width` pixels wide, as a camera delivers.
pub fn frame_from_photo(path: &Path, width: u32) -> watchpost::media::Frame {
    let output = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-vf", &format!("scale={width}:-2"), "-f", "rawvideo", "-pix_fmt", "yuv420p", "-"])
        .output()
        .expect("run ffmpeg");
    assert!(output.status.success(), "ffmpeg cannot decode {}", path.display());
    let height = (output.stdout.len() / (width as usize * 3 / 2)) as u32;
    watchpost::media::Frame { width, height, data: output.stdout, time_ms: 0, seq: 0 }
}

/// A small motion event on `camera` at `start_ms`, to put straight into the database.
pub fn motion_event(camera: &str, start_ms: i64) -> watchpost::db::NewEvent {
    watchpost::db::NewEvent {
        camera_id: camera.into(),
        kind: watchpost::model::EventKind::Motion,
        label: None,
        score: 0.1,
        bbox: [0.0, 0.0, 0.1, 0.1],
        boxes: vec![],
        start_ms,
        snapshot: None,
        severity: watchpost::model::Severity::Low,
        zones: vec![],
        frame: (640, 360),
    }
}

/// A person event on `camera` in `zones`, stored and announced as a camera's recorder does it,
/// with the demo photograph as its snapshot.
pub async fn person_event_on(app: &TestApp, camera: &str, zones: &[&str]) -> i64 {
    let state = &app.running().state;
    let start_ms = chrono::Utc::now().timestamp_millis();
    let snapshot = format!("snapshots/{camera}/test/{start_ms}-{}.jpg", zones.len());
    let file = state.media.resolve(&snapshot).unwrap();
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, watchpost::demo::PHOTO).unwrap();
    let zones: Vec<String> = zones.iter().map(|z| z.to_string()).collect();
    let id = state
        .db
        .insert_event(&watchpost::db::NewEvent {
            camera_id: camera.into(),
            kind: watchpost::model::EventKind::Object,
            label: Some("person".into()),
            score: 0.9,
            bbox: [0.4, 0.3, 0.2, 0.5],
            boxes: vec![[0.4, 0.3, 0.2, 0.5]],
            start_ms,
            snapshot: Some(snapshot.clone()),
            severity: watchpost::model::Severity::Low,
            zones: zones.clone(),
            frame: (640, 360),
        })
        .await
        .unwrap();
    state.bus.publish(watchpost::bus::BusMessage::EventStarted(watchpost::bus::EventSummary {
        id,
        camera: camera.into(),
        kind: watchpost::model::EventKind::Object,
        label: Some("person".into()),
        score: 0.9,
        start_ms,
        end_ms: None,
        snapshot: Some(snapshot),
        zones,
        description: None,
        title: None,
    }));
    id
}

/// A motion event on `camera` that alerted at `at_ms` (in the past, say) to one recipient and was
/// never delivered, announced as the alerts task announces an alert; its id.
pub async fn undelivered_alert(
    app: &TestApp,
    camera: &str,
    at_ms: i64,
    severity: watchpost::model::Severity,
    recipient: watchpost::db::Recipient,
) -> i64 {
    let state = &app.running().state;
    let id = state.db.insert_event(&motion_event(camera, at_ms)).await.unwrap();
    assert!(state.db.mark_alerted(id, severity, at_ms, &[recipient]).await.unwrap());
    state.bus.publish(watchpost::bus::BusMessage::Alert { event_id: id });
    id
}

/// Starts Watchpost with `config` and no account at all (the first-run state), on a free port.
pub async fn start_without_accounts(config: Config, data: &Path) -> RunningApp {
    start_without_accounts_at(config, data, "127.0.0.1:0").await
}

/// [`start_without_accounts`] on a given address, e.g. the one a browser was using before a
/// restart.
pub async fn start_without_accounts_at(mut config: Config, data: &Path, bind: &str) -> RunningApp {
    config.server.bind = bind.into();
    // Never multicast on the machine's own network.
    config.discovery.interval_minutes = 0;
    config.discovery.node_scan_secs = 0;
    watchpost::app::start(ServeOptions {
        config,
        config_file: None,
        data_dir: data.to_path_buf(),
        demo: false,
        clock: watchpost::clock::system(),
    })
    .await
    .expect("watchpost starts")
}

/// The value of the first hidden `csrf` field on a page.
pub fn hidden_csrf(page: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = page.find(marker).map(|i| i + marker.len()).expect("the page has a CSRF field");
    page[start..].split('"').next().unwrap().to_string()
}

/// Polls `check` every 200 ms until it returns `Some`, or panics with `what` after `timeout`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(start.elapsed() < timeout, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The demo photograph as a small JPEG (VGA width), as an ESP32-CAM sends them.
pub fn small_photo_jpeg() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let photo = dir.path().join("photo.jpg");
    std::fs::write(&photo, watchpost::demo::PHOTO).unwrap();
    let small = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-i"])
        .arg(&photo)
        .args(["-vf", "scale=640:-2", "-q:v", "5", "-f", "mjpeg", "-"])
        .output()
        .unwrap();
    assert!(small.status.success());
    small.stdout
}

/// Serves the photograph as an endless MJPEG stream (5 fps) to each client until the test ends.
pub fn serve_mjpeg(jpeg: Vec<u8>) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let jpeg = jpeg.clone();
            std::thread::spawn(move || {
                let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                // Read the request head.
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let mut stream = stream;
                let head = "HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=123456789000000000000987654321\r\nConnection: close\r\n\r\n";
                if stream.write_all(head.as_bytes()).is_err() {
                    return;
                }
                loop {
                    let part = format!(
                        "--123456789000000000000987654321\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
                        jpeg.len()
                    );
                    let sent = stream
                        .write_all(part.as_bytes())
                        .and_then(|_| stream.write_all(&jpeg))
                        .and_then(|_| stream.write_all(b"\r\n"));
                    if sent.is_err() {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
            });
        }
    });
    port
}

/// Width and height of a JPEG, from its start-of-frame marker.
pub fn jpeg_size(jpeg: &[u8]) -> (u32, u32) {
    let mut at = 2;
    while at + 9 < jpeg.len() {
        let (marker, length) = (jpeg[at + 1], usize::from(u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]])));
        if (0xC0..=0xC3).contains(&marker) {
            let height = u32::from(u16::from_be_bytes([jpeg[at + 5], jpeg[at + 6]]));
            let width = u32::from(u16::from_be_bytes([jpeg[at + 7], jpeg[at + 8]]));
            return (width, height);
        }
        at += 2 + length;
    }
    panic!("no start-of-frame marker")
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// GStreamer's RTSP server serving `clip` at `url()`.
pub struct RtspServer {
    child: Child,
    pub port: u16,
    /// Client connections the server has had.
    clients: Arc<AtomicUsize>,
}

impl RtspServer {
    /// A server on a free port. A port another process takes between our look and the server's
    /// bind is simply another try on another port.
    pub fn start_new(clip: &Path) -> Self {
        Self::on_a_free_port(clip, &[])
    }

    /// A server on a free port that asks for `user` and `password` (HTTP Digest, as cameras do).
    pub fn start_new_with_password(clip: &Path, user: &str, password: &str) -> Self {
        Self::on_a_free_port(clip, &[user, password])
    }

    /// A server on `port` (to come back where a stopped one was); it must be free.
    pub fn start(clip: &Path, port: u16) -> Self {
        Self::try_start(clip, port, &[]).unwrap_or_else(|| panic!("the RTSP server cannot listen on {port}"))
    }

    fn on_a_free_port(clip: &Path, credentials: &[&str]) -> Self {
        (0..5)
            .find_map(|_| Self::try_start(clip, free_port(), credentials))
            .expect("the RTSP server found no free port in 5 tries")
    }

    fn try_start(clip: &Path, port: u16, credentials: &[&str]) -> Option<Self> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/rtsp_server.py");
        let mut child = Command::new("/usr/bin/python3")
            .arg(script)
            .arg(port.to_string())
            .arg(clip)
            .args(credentials)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the RTSP server (needs python3-gi and gir1.2-gst-rtsp-server-1.0)");
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        let _ = std::io::BufRead::read_line(&mut stdout, &mut line);
        if line.trim() != "ready" {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        let clients = Arc::new(AtomicUsize::new(0));
        let counted = clients.clone();
        std::thread::spawn(move || {
            for line in std::io::BufRead::lines(stdout).map_while(Result::ok) {
                if line.trim() == "client" {
                    counted.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
        Some(Self { child, port, clients })
    }

    /// How many client connections the server has had so far.
    pub fn clients(&self) -> usize {
        self.clients.load(Ordering::SeqCst)
    }

    pub fn url(&self) -> String {
        format!("rtsp://127.0.0.1:{}/stream", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RtspServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// ffmpeg processes whose parent is this test process.
pub fn ffmpeg_children() -> usize {
    let me = std::process::id().to_string();
    let entries = std::fs::read_dir("/proc").expect("/proc can be read (the count would be meaningless)");
    entries
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("stat")).ok())
        .filter(|stat| {
            // pid (comm) state ppid ...
            let Some(close) = stat.rfind(')') else { return false };
            let comm = &stat[stat.find('(').map_or(0, |i| i + 1)..close];
            let ppid = stat[close + 1..].split_whitespace().nth(1).unwrap_or("");
            comm == "ffmpeg" && ppid == me
        })
        .count()
}

/// A tmpfs mounted for one test, unmounted when dropped.
pub struct SmallDisk {
    pub path: PathBuf,
}

impl SmallDisk {
    /// `None` (said) where this user may not mount; under CI that is a failure.
    pub fn mount(path: PathBuf, size: &str) -> Option<Self> {
        std::fs::create_dir_all(&path).unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        match mounted {
            true => Some(Self { path }),
            false if std::env::var_os("CI").is_some() => panic!("CI must run the full-disk test: cannot mount a tmpfs"),
            false => {
                eprintln!("skipped: mounting a small tmpfs needs root");
                None
            }
        }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}
