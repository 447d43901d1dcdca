//! Users and security over real HTTP: the first-run set-up, every route refused without signing
//! in (enumerated from the router's own table), roles and camera limits, CSRF, the sign-in rate
//! limit, API tokens (revoked, expired, re-issued with a grace period, signing key rotated),
//! security headers, the `user`/`token` commands, and device passwords absent from the database
//! file.

mod common;

use common::*;
use watchpost::web::{Access, routes};

/// A concrete path for a route pattern.
fn concrete(pattern: &str) -> String {
    pattern.replace("{file}", "style.css").replace("{id}", "1")
}

fn method_of(route: &watchpost::web::RouteSpec) -> reqwest::Method {
    reqwest::Method::from_bytes(route.method.as_str().as_bytes()).unwrap()
}

fn is_login_redirect(response: &reqwest::Response) -> bool {
    response.status() == 303
        && response.headers().get("location").and_then(|l| l.to_str().ok()).is_some_and(|l| l.starts_with("/login"))
}

async fn send(client: &reqwest::Client, method: &reqwest::Method, url: &str) -> reqwest::Response {
    client
        .request(method.clone(), url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("")
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_run_asks_for_the_administrator_and_then_is_gone() {
    let (app, base, browser, _data) = first_run("").await;

    // Before any account exists, every page leads to the set-up page and the API says why.
    for path in ["/", "/events", "/login", "/settings/users"] {
        let response = browser.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(response.status(), 303, "GET {path}");
        assert_eq!(response.headers()["location"], "/setup", "GET {path}");
    }
    let api = browser.get(format!("{base}/api/cameras")).send().await.unwrap();
    assert_eq!(api.status(), 401);
    assert!(api.text().await.unwrap().contains("/setup"));

    let page = browser.get(format!("{base}/setup")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Create the administrator account"));
    let csrf = hidden_csrf(&page);
    // Without the form's token the post is refused; a mismatched password is explained.
    let refused = browser
        .post(format!("{base}/setup"))
        .form(&[("name", "anna"), ("password", "long enough"), ("confirm", "long enough")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let mismatch = browser
        .post(format!("{base}/setup"))
        .form(&[("csrf", csrf.as_str()), ("name", "anna"), ("password", "long enough"), ("confirm", "other one")])
        .send()
        .await
        .unwrap();
    assert_eq!(mismatch.status(), 422);
    assert!(mismatch.text().await.unwrap().contains("not the same"));
    let short = browser
        .post(format!("{base}/setup"))
        .form(&[("csrf", csrf.as_str()), ("name", "anna"), ("password", "short"), ("confirm", "short")])
        .send()
        .await
        .unwrap();
    assert!(short.text().await.unwrap().contains("at least 8 characters"));

    let created = browser
        .post(format!("{base}/setup"))
        .form(&[("csrf", csrf.as_str()), ("name", "anna"), ("password", "long enough"), ("confirm", "long enough")])
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 303);
    let cookie = created.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.starts_with("watchpost_session=") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
    assert!(!cookie.contains("Secure"), "plain HTTP without a trusted proxy: no Secure flag");
    // Signed in right away, as an administrator.
    let dashboard = browser.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(dashboard.status(), 200);
    assert!(dashboard.text().await.unwrap().contains("href=\"/settings/users\""));

    // The set-up page is gone: it redirects, and a second post creates nobody.
    let again = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let response = again.get(format!("{base}/setup")).send().await.unwrap();
    assert_eq!(response.headers()["location"], "/login");
    let users = app.state.db.list_users().await.unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!((users[0].name.as_str(), users[0].role.as_str()), ("anna", "admin"));
    assert!(users[0].password_hash.starts_with("$argon2id$"));
    let audit = app.state.db.list_audit(None, 10).await.unwrap();
    assert!(audit.iter().any(|a| a.action == "user.create" && a.target.as_deref() == Some("anna")));
    assert!(audit.iter().any(|a| a.action == "auth.login" && a.ok));
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_but_login_health_and_assets_needs_a_signed_in_user() {
    let app = TestApp::start("").await;
    let table = routes();
    assert!(table.len() > 30, "the route table lists every route");
    let public: Vec<&str> = table.iter().filter(|r| r.access == Access::Public).map(|r| r.path).collect();
    assert_eq!(
        public,
        ["/api/health", "/static/{file}", "/manifest.webmanifest", "/sw.js", "/login", "/login", "/setup", "/setup"]
    );
    // Webhooks check their caller's signature themselves (tests/alerts.rs); here WhatsApp is off.
    // A notification's routes check its token (tests/push.rs); here none is given.
    let signed: Vec<&str> = table.iter().filter(|r| r.access == Access::Signed).map(|r| r.path).collect();
    assert_eq!(
        signed,
        [
            "/push/events/{id}/snapshot.jpg",
            "/push/events/{id}/{action}",
            "/push/subscription-change",
            "/api/whatsapp/webhook",
            "/api/whatsapp/webhook"
        ]
    );

    for route in &table {
        let path = concrete(route.path);
        let response = send(&app.anonymous, &method_of(route), &app.url(&path)).await;
        let status = response.status().as_u16();
        match route.access {
            Access::Public => {
                assert_ne!(status, 401, "{} {path} is public", route.method);
                if route.method == "GET" && path != "/setup" {
                    assert_eq!(status, 200, "GET {path} is public");
                }
            }
            Access::Signed if path.starts_with("/push/") => {
                assert!([400, 403, 404].contains(&status), "{} {path} without a token: {status}", route.method)
            }
            Access::Signed => assert_eq!(status, 404, "{} {path} answers nothing while WhatsApp is off", route.method),
            _ if path.starts_with("/api/") || path == "/metrics" => {
                assert_eq!(status, 401, "{} {path} without a token", route.method);
                assert!(response.headers().contains_key("www-authenticate"));
            }
            _ => assert!(is_login_redirect(&response), "{} {path} without a session: {status}", route.method),
        }
    }
    // A route that does not exist tells an anonymous visitor nothing either.
    assert!(is_login_redirect(&send(&app.anonymous, &reqwest::Method::GET, &app.url("/no/such/page")).await));
    // The sign-in redirect remembers where the user wanted to go.
    let response = send(&app.anonymous, &reqwest::Method::GET, &app.url("/events?camera=yard")).await;
    assert_eq!(response.headers()["location"], "/login?next=%2Fevents%3Fcamera%3Dyard");

    // A garbage bearer token is refused, not ignored.
    let response =
        app.anonymous.get(app.url("/api/cameras")).header("authorization", "Bearer not-a-token").send().await.unwrap();
    assert_eq!(response.status(), 401);

    // A viewer gets 403 on every administrator route.
    app.running().state.auth.create_user("vera", watchpost::model::Role::Viewer, "viewer password", &[]).await.unwrap();
    let (viewer, csrf) = app.browser_session("vera", "viewer password").await;
    for route in table.iter().filter(|r| r.access == Access::Admin) {
        let path = concrete(route.path);
        let response = viewer
            .request(method_of(route), app.url(&path))
            .header("x-csrf-token", &csrf)
            .form(&[("csrf", csrf.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "viewer: {} {path}", route.method);
    }
    let settings = viewer.get(app.url("/settings/users")).send().await.unwrap().text().await.unwrap();
    assert!(
        settings.contains("Only an administrator") && settings.contains("Sign out"),
        "error pages keep the navigation"
    );
    let dashboard = viewer.get(app.url("/")).send().await.unwrap().text().await.unwrap();
    assert!(!dashboard.contains("/settings/users") && !dashboard.contains("/cameras/new"), "no admin links");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_need_the_csrf_token_and_sign_out_ends_the_session() {
    let app = TestApp::start("").await;
    let (browser, csrf) = app.browser_session(ADMIN, ADMIN_PASSWORD).await;
    let event = app.running().state.db.insert_event(&motion_event("yard", 1)).await.unwrap();
    let path = app.url(&format!("/events/{event}/status"));
    let missing = browser.post(&path).form(&[("status", "resolved")]).send().await.unwrap();
    assert_eq!(missing.status(), 403);
    assert!(missing.text().await.unwrap().contains("Reload the page"));
    let wrong = browser.post(&path).form(&[("csrf", "forged"), ("status", "resolved")]).send().await.unwrap();
    assert_eq!(wrong.status(), 403);
    assert_eq!(
        app.running().state.db.get_event(event).await.unwrap().unwrap().status,
        watchpost::model::EventStatus::New
    );
    let right = browser.post(&path).form(&[("csrf", csrf.as_str()), ("status", "resolved")]).send().await.unwrap();
    assert_eq!(right.status(), 303);
    assert_eq!(
        app.running().state.db.get_event(event).await.unwrap().unwrap().status,
        watchpost::model::EventStatus::Resolved
    );
    // Scripts may send the token as a header instead.
    let header = browser.post(&path).header("x-csrf-token", &csrf).form(&[("status", "new")]).send().await.unwrap();
    assert_eq!(header.status(), 303);

    // Sign-out everywhere ends the other sessions; sign-out ends this one.
    let (other, _) = app.browser_session(ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(other.get(app.url("/")).send().await.unwrap().status(), 200);
    let ended =
        browser.post(app.url("/account/sessions/end-others")).form(&[("csrf", csrf.as_str())]).send().await.unwrap();
    assert_eq!(ended.status(), 303);
    assert!(is_login_redirect(&other.get(app.url("/")).send().await.unwrap()));
    assert_eq!(browser.get(app.url("/")).send().await.unwrap().status(), 200);
    let out = browser.post(app.url("/logout")).form(&[("csrf", csrf.as_str())]).send().await.unwrap();
    assert!(is_login_redirect(&out));
    assert!(is_login_redirect(&browser.get(app.url("/")).send().await.unwrap()));

    // Every answer carries the security headers.
    let response = app.client.get(app.url("/")).send().await.unwrap();
    let csp = response.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe"));
    assert_eq!(response.headers()["x-frame-options"], "DENY");
    assert_eq!(response.headers()["referrer-policy"], "same-origin");
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    let login = app.anonymous.get(app.url("/login")).send().await.unwrap();
    assert!(login.headers().contains_key("content-security-policy"));
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sixth_wrong_password_in_a_minute_is_refused() {
    let app = TestApp::start("").await;
    let browser =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).cookie_store(true).build().unwrap();
    let csrf = hidden_csrf(&browser.get(app.url("/login")).send().await.unwrap().text().await.unwrap());
    let attempt = |password: &'static str| {
        let browser = browser.clone();
        let csrf = csrf.clone();
        let url = app.url("/login");
        async move {
            let response = browser
                .post(url)
                .form(&[("csrf", csrf.as_str()), ("name", ADMIN), ("password", password), ("next", "/")])
                .send()
                .await
                .unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    for _ in 0..5 {
        let (status, body) = attempt("wrong password").await;
        assert_eq!(status, 401);
        assert!(body.contains("Wrong user name or password."));
    }
    let (status, body) = attempt(ADMIN_PASSWORD).await;
    assert_eq!(status, 429, "even the right password waits once the limit is reached");
    assert!(body.contains("Too many failed sign-ins. Wait"), "{body}");
    let failures = app.running().state.db.list_audit(None, 20).await.unwrap();
    assert_eq!(failures.iter().filter(|a| a.action == "auth.login" && !a.ok).count(), 6);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_tokens_are_revoked_expire_and_rotate_with_a_grace_period() {
    let app = TestApp::start("").await;
    let auth = &app.running().state.auth;
    let admin = app.running().state.db.user_by_name(ADMIN).await.unwrap().unwrap().id;

    let token = auth.create_token(admin, "script", None).await.unwrap();
    assert_eq!(call_api(&app, &token.jwt).await.0, 200);
    assert!(auth.revoke_token(&token.record.id).await.unwrap());
    let (status, body) = call_api(&app, &token.jwt).await;
    assert_eq!(status, 401);
    assert!(body.contains("revoked"), "{body}");

    // An expired token: signed with the server's own key, but its time is up.
    let live = auth.create_token(admin, "expiring", None).await.unwrap();
    let expired = sign_with_server_key(&app, &live.record.id, admin, -60);
    let (status, body) = call_api(&app, &expired).await;
    assert_eq!(status, 401);
    assert!(body.contains("expired"), "{body}");

    // Re-issue: the new token works, and so does the old one during the grace period (24 h).
    let reissued = auth.reissue_token(&live.record.id).await.unwrap();
    assert_eq!(reissued.record.replaces.as_deref(), Some(live.record.id.as_str()));
    assert_eq!(call_api(&app, &reissued.jwt).await.0, 200);
    assert_eq!(call_api(&app, &live.jwt).await.0, 200, "old token in its grace period");
    assert!(auth.reissue_token(&live.record.id).await.is_err(), "a replaced token is not re-issued twice");

    // Rotating the signing key: tokens signed with the old key keep working for the grace period.
    auth.rotate_signing_key().unwrap();
    assert_eq!(call_api(&app, &reissued.jwt).await.0, 200);
    let fresh = auth.create_token(admin, "after rotation", None).await.unwrap();
    assert_eq!(call_api(&app, &fresh.jwt).await.0, 200);
    assert_ne!(jwt_kid(&fresh.jwt), jwt_kid(&reissued.jwt));
    app.shutdown().await;

    // With no grace period, the replaced token and the old key stop at once.
    let app = TestApp::start("[auth]\ntoken_grace_hours = 0\n").await;
    let auth = &app.running().state.auth;
    let admin = app.running().state.db.user_by_name(ADMIN).await.unwrap().unwrap().id;
    let old = auth.create_token(admin, "ha", None).await.unwrap();
    let new = auth.reissue_token(&old.record.id).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let (status, body) = call_api(&app, &old.jwt).await;
    assert_eq!(status, 401);
    assert!(body.contains("re-issued"), "{body}");
    assert_eq!(call_api(&app, &new.jwt).await.0, 200);
    auth.rotate_signing_key().unwrap();
    let (status, body) = call_api(&app, &new.jwt).await;
    assert_eq!(status, 401);
    assert!(body.contains("rotated out"), "{body}");
    app.shutdown().await;
}

/// `GET /api/cameras` with a bearer token: the status and the body.
async fn call_api(app: &TestApp, token: &str) -> (u16, String) {
    let response = app.anonymous.get(app.url("/api/cameras")).bearer_auth(token).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// A JWT for token `jti` signed with the server's current key, expiring `exp_in_s` from now.
fn sign_with_server_key(app: &TestApp, jti: &str, user: i64, exp_in_s: i64) -> String {
    use base64::Engine;
    let file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(app.data.path().join("keys/api-signing.json")).unwrap()).unwrap();
    let key = file["keys"].as_array().unwrap().iter().rfind(|k| k["retired_ms"].is_null()).unwrap();
    let secret = base64::engine::general_purpose::STANDARD.decode(key["secret"].as_str().unwrap()).unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(key["kid"].as_str().unwrap().to_string());
    let now = chrono::Utc::now().timestamp();
    let claims = serde_json::json!({ "sub": user.to_string(), "jti": jti, "iat": now - 120, "exp": now + exp_in_s });
    jsonwebtoken::encode(&header, &claims, &jsonwebtoken::EncodingKey::from_secret(&secret)).unwrap()
}

fn jwt_kid(jwt: &str) -> String {
    jsonwebtoken::decode_header(jwt).unwrap().kid.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_see_only_their_cameras() {
    let clip = test_clip();
    let config = format!(
        "[[cameras]]\nid = \"yard\"\nurl = \"{0}\"\n[[cameras]]\nid = \"porch\"\nurl = \"{0}\"\n",
        clip.display()
    );
    let app = TestApp::start(&config).await;
    let state = &app.running().state;
    state.auth.create_user("kid", watchpost::model::Role::Viewer, "viewer password", &["porch".into()]).await.unwrap();
    let event = |camera: &str| motion_event(camera, chrono::Utc::now().timestamp_millis());
    let yard_event = state.db.insert_event(&event("yard")).await.unwrap();
    let porch_event = state.db.insert_event(&event("porch")).await.unwrap();
    let (viewer, _) = app.browser_session("kid", "viewer password").await;
    let cameras: serde_json::Value = viewer.get(app.url("/api/cameras")).send().await.unwrap().json().await.unwrap();
    let ids: Vec<&str> = cameras.as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["porch"]);
    let events: serde_json::Value = viewer.get(app.url("/api/events")).send().await.unwrap().json().await.unwrap();
    let ids: Vec<i64> = events["events"].as_array().unwrap().iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, [porch_event]);
    for path in ["/cameras/yard".to_string(), "/api/cameras/yard/latest.jpg".into(), format!("/events/{yard_event}")] {
        assert_eq!(viewer.get(app.url(&path)).send().await.unwrap().status(), 404, "{path}");
    }
    assert_eq!(viewer.get(app.url(&format!("/events/{porch_event}"))).send().await.unwrap().status(), 200);
    let metrics = viewer.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("camera=\"porch\"") && !metrics.contains("camera=\"yard\""));
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_never_holds_a_device_password_in_clear_text() {
    const UI_PASSWORD: &str = "Ui-Cam-Pass-7731";
    const FILE_PASSWORD: &str = "File-Cam-Pass-5529";
    let config = format!("[[cameras]]\nid = \"gate\"\nurl = \"rtsp://gateuser:{FILE_PASSWORD}@127.0.0.1:9/s\"\n");
    let app = TestApp::start(&config).await;
    let form = camera_form(&[
        ("id", "garage"),
        ("url", "rtsp://127.0.0.1:9/live"),
        ("username", "garage-user"),
        ("password", UI_PASSWORD),
        ("enabled", "on"),
    ]);
    let response = app.client.post(app.url("/cameras")).form(&form).send().await.unwrap();
    assert_eq!(response.status(), 303);
    let api = app.client.get(app.url("/api/cameras")).send().await.unwrap().text().await.unwrap();
    assert!(!api.contains(UI_PASSWORD) && !api.contains(FILE_PASSWORD) && !api.contains("garage-user"));
    let data = app.shutdown().await;

    let bytes = match test_database(data.path()).await {
        // On PostgreSQL: every row of every table, as text.
        Some(url) => {
            use sea_orm::{ConnectionTrait, Database, Statement};
            let db = Database::connect(&url).await.unwrap();
            let backend = db.get_database_backend();
            let sql = "SELECT table_name::text AS name FROM information_schema.tables WHERE table_schema = 'public'";
            let tables = db.query_all_raw(Statement::from_string(backend, sql)).await.unwrap();
            let mut text = String::new();
            for table in tables {
                let name: String = table.try_get("", "name").unwrap();
                let sql = format!("SELECT t::text AS row FROM \"{name}\" t");
                for row in db.query_all_raw(Statement::from_string(backend, sql)).await.unwrap() {
                    text.push_str(&row.try_get::<String>("", "row").unwrap());
                }
            }
            text.into_bytes()
        }
        // On SQLite: the database files' bytes.
        None => {
            let mut bytes = Vec::new();
            for entry in std::fs::read_dir(data.path()).unwrap() {
                let path = entry.unwrap().path();
                if path.file_name().unwrap().to_string_lossy().starts_with("watchpost.db") {
                    bytes.extend(std::fs::read(&path).unwrap());
                }
            }
            bytes
        }
    };
    let read = |needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(read("rtsp://127.0.0.1:9/live"), "the database was read: the camera's clean URL is in it");
    for secret in [UI_PASSWORD, FILE_PASSWORD, "garage-user", "gateuser"] {
        assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()), "{secret} is in the database file");
    }

    // After a restart the saved credentials are unsealed and used again.
    let app = TestApp::start_in("", data).await;
    let garage = app.running().state.cameras.get("garage").expect("UI camera restored");
    assert_eq!(garage.config.url, format!("rtsp://garage-user:{UI_PASSWORD}@127.0.0.1:9/live"));
    let data = app.shutdown().await;

    // With the key file lost the camera still starts, without credentials, ready to be given the
    // password again; nothing else about it is lost.
    std::fs::remove_file(data.path().join("keys/credentials.key")).unwrap();
    let app = TestApp::start_in("", data).await;
    let garage = app.running().state.cameras.get("garage").expect("UI camera kept");
    assert_eq!(garage.config.url, "rtsp://127.0.0.1:9/live");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_user_and_token_commands_set_up_a_headless_install() {
    let data = tempfile::tempdir().unwrap();
    // The commands use the database the server will use (SQLite in the data directory, or the
    // test's PostgreSQL database).
    let database = test_database(data.path()).await;
    let data_dir = data.path().to_path_buf();
    let watchpost = |args: &[&str], password: Option<&str>| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_watchpost"));
        command.args(args).arg("--data-dir").arg(&data_dir).env_remove("WATCHPOST_CONFIG");
        if let Some(url) = &database {
            command.env("WATCHPOST__STORAGE__DATABASE_URL", url);
        }
        match password {
            Some(p) => command.env("WATCHPOST_PASSWORD", p),
            None => command.env_remove("WATCHPOST_PASSWORD"),
        };
        let output = command.output().unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).to_string(),
            String::from_utf8_lossy(&output.stderr).to_string(),
        )
    };
    let (ok, _, stderr) = watchpost(&["token", "create", "ha"], None);
    assert!(!ok && stderr.contains("no administrator yet"), "{stderr}");
    let (ok, stdout, stderr) = watchpost(&["user", "add", "root", "--role", "admin"], Some("a long password"));
    assert!(ok, "{stderr}");
    assert!(stdout.contains("Created admin \"root\""));
    let (ok, _, stderr) = watchpost(&["user", "add", "tiny", "--role", "viewer"], Some("short"));
    assert!(!ok && stderr.contains("at least 8 characters"), "{stderr}");
    let (ok, stdout, _) = watchpost(&["user", "list"], None);
    assert!(ok && stdout.contains("root") && stdout.contains("admin") && !stdout.contains("tiny"));
    let (ok, token, stderr) = watchpost(&["token", "create", "home-assistant", "--ttl", "30d"], None);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("not shown again"));
    let token = token.trim().to_string();
    assert_eq!(token.split('.').count(), 3, "a JWT: {token}");
    let (ok, listed, _) = watchpost(&["token", "list"], None);
    assert!(ok && listed.contains("home-assistant") && listed.contains("active") && !listed.contains(&token));

    // The server started on the same data directory accepts the token.
    let app = TestApp::start_in("", data).await;
    let response = app.anonymous.get(app.url("/api/cameras")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(response.status(), 200);

    // Revoked by the command while the server runs: the server remembers a token it checked for
    // a second at most, so it refuses the token within that (3 s allowed for a busy machine).
    let id = listed.split_whitespace().next().unwrap().to_string();
    let (ok, stdout, stderr) = watchpost(&["token", "revoke", &id], None);
    assert!(ok && stdout.contains("revoked"), "{stdout} {stderr}");
    let revoked = std::time::Instant::now();
    let status = loop {
        let status = call_api(&app, &token).await.0;
        if status != 200 || revoked.elapsed() > std::time::Duration::from_secs(3) {
            break status;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(status, 401, "still accepted {:?} after the command revoked it", revoked.elapsed());
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn administrators_add_limit_disable_and_reset_users() {
    let app = TestApp::start("").await;
    let (admin, csrf) = app.browser_session(ADMIN, ADMIN_PASSWORD).await;
    let post = |path: &str, form: Vec<(&'static str, String)>| {
        let request = admin.post(app.url(path)).form(&form);
        async move { request.send().await.unwrap() }
    };
    let created = post(
        "/settings/users",
        vec![
            ("csrf", csrf.clone()),
            ("name", "otto".into()),
            ("role", "viewer".into()),
            ("password", "viewer password".into()),
            ("cameras", "yard".into()),
            ("cameras", "porch".into()),
        ],
    )
    .await;
    assert_eq!(created.status(), 303);
    let otto = app.running().state.db.user_by_name("otto").await.unwrap().unwrap();
    assert_eq!((otto.role.as_str(), otto.cameras.as_str()), ("viewer", r#"["yard","porch"]"#));
    let duplicate = post(
        "/settings/users",
        vec![("csrf", csrf.clone()), ("name", "otto".into()), ("role", "viewer".into()), ("password", "x".repeat(9))],
    )
    .await;
    assert_eq!(duplicate.status(), 422);
    assert!(duplicate.text().await.unwrap().contains("already a user"));

    // Disabling ends the user's sessions and revokes their tokens.
    let (otto_browser, _) = app.browser_session("otto", "viewer password").await;
    let token = app.running().state.auth.create_token(otto.id, "otto-script", None).await.unwrap();
    let disabled = post(
        &format!("/settings/users/{}", otto.id),
        vec![("csrf", csrf.clone()), ("role", "viewer".into()), ("disabled", "on".into())],
    )
    .await;
    assert_eq!(disabled.status(), 303);
    assert!(is_login_redirect(&otto_browser.get(app.url("/")).send().await.unwrap()));
    let refused = app.anonymous.get(app.url("/api/cameras")).bearer_auth(&token.jwt).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    let login = app.anonymous.get(app.url("/login")).send().await.unwrap();
    let form_cookie = login.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let form_csrf = form_cookie.split_once('=').unwrap().1.to_string();
    let response = app
        .anonymous
        .post(app.url("/login"))
        .header("cookie", &form_cookie)
        .form(&[("csrf", form_csrf.as_str()), ("name", "otto"), ("password", "viewer password")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert!(response.text().await.unwrap().contains("disabled"));

    // The only administrator cannot demote or disable themselves.
    let me = app.running().state.db.user_by_name(ADMIN).await.unwrap().unwrap();
    let demoted =
        post(&format!("/settings/users/{}", me.id), vec![("csrf", csrf.clone()), ("role", "viewer".into())]).await;
    assert_eq!(demoted.status(), 409);
    assert!(demoted.text().await.unwrap().contains("only active administrator"));

    // A new password set by an administrator works and ends the user's sessions.
    let reset =
        post(&format!("/settings/users/{}", otto.id), vec![("csrf", csrf.clone()), ("role", "viewer".into())]).await;
    assert_eq!(reset.status(), 303, "re-enabled");
    let (otto_browser, _) = app.browser_session("otto", "viewer password").await;
    let reset = post(
        &format!("/settings/users/{}/password", otto.id),
        vec![("csrf", csrf.clone()), ("password", "a brand new one".into())],
    )
    .await;
    assert_eq!(reset.status(), 303);
    assert!(is_login_redirect(&otto_browser.get(app.url("/")).send().await.unwrap()));
    app.browser_session("otto", "a brand new one").await;
    let audit = app.running().state.db.list_audit(None, 50).await.unwrap();
    for action in ["user.create", "user.update", "user.password_reset"] {
        assert!(audit.iter().any(|a| a.action == action && a.actor.as_deref() == Some(ADMIN)), "{action} audited");
    }
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_cookies_are_secure_and_the_client_address_is_believed() {
    let app = TestApp::start("[server]\ntrusted_proxies = [\"127.0.0.1\"]\n[auth]\nmetrics_public = true\n").await;
    let login = app.anonymous.get(app.url("/login")).header("x-forwarded-proto", "https").send().await.unwrap();
    let form_cookie = login.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(form_cookie.contains("Secure"), "{form_cookie}");
    let pair = form_cookie.split(';').next().unwrap().to_string();
    let csrf = pair.split_once('=').unwrap().1.to_string();
    let response = app
        .anonymous
        .post(app.url("/login"))
        .header("cookie", &pair)
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-for", "203.0.113.7, 127.0.0.1")
        .form(&[("csrf", csrf.as_str()), ("name", ADMIN), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let session = response.headers()["set-cookie"].to_str().unwrap();
    assert!(session.starts_with("watchpost_session=") && session.contains("Secure"), "{session}");
    let audit = app.running().state.db.list_audit(None, 5).await.unwrap();
    let login = audit.iter().find(|a| a.action == "auth.login").unwrap();
    assert_eq!(login.ip.as_deref(), Some("203.0.113.7"), "the proxy's client address is recorded");

    // `[auth] metrics_public` opens /metrics and nothing else.
    assert_eq!(app.anonymous.get(app.url("/metrics")).send().await.unwrap().status(), 200);
    assert_eq!(app.anonymous.get(app.url("/api/cameras")).send().await.unwrap().status(), 401);
    app.shutdown().await;

    // Without trusted proxies the same headers are ignored.
    let app = TestApp::start("").await;
    let login = app.anonymous.get(app.url("/login")).header("x-forwarded-proto", "https").send().await.unwrap();
    assert!(!login.headers()["set-cookie"].to_str().unwrap().contains("Secure"));
    assert_eq!(app.anonymous.get(app.url("/metrics")).send().await.unwrap().status(), 401);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_limited_to_one_camera_reaches_nothing_of_another_on_any_route() {
    let clip = test_clip();
    let config = format!(
        "[[cameras]]\nid = \"yard\"\nurl = \"{0}\"\nenabled = false\n[[cameras]]\nid = \"porch\"\nurl = \"{0}\"\n\
         record = {{ mode = \"continuous\", segment_secs = 2 }}\n",
        clip.display()
    );
    let app = TestApp::start(&config).await;
    let state = &app.running().state;
    state.auth.create_user("kid", watchpost::model::Role::Viewer, "viewer password", &["porch".into()]).await.unwrap();
    wait_for("the viewer's camera to have a picture", std::time::Duration::from_secs(30), || async {
        (app.camera_state("porch").await.0 == "online").then_some(())
    })
    .await;
    let yard = person_event_on(&app, "yard", &[]).await;
    let porch = person_event_on(&app, "porch", &[]).await;
    // The viewer's camera records: its clip and export routes have something to give.
    let since = chrono::Utc::now().timestamp_millis() - 3_600_000;
    wait_for("a recorded file on porch after its event", std::time::Duration::from_secs(30), || async {
        let segments = state.recordings.segments("porch", since, i64::MAX).await.unwrap();
        segments.iter().any(|s| s.end_ms > chrono::Utc::now().timestamp_millis() - 4_000).then_some(())
    })
    .await;
    let hour = {
        let time = |ms: i64| chrono::DateTime::from_timestamp_millis(ms).unwrap().to_rfc3339();
        format!("?from={}&to={}", time(since).replace('+', "%2B"), time(since + 3_600_000).replace('+', "%2B"))
    };
    let description = watchpost::db::Description {
        title: Some("Ladder at the shed".into()),
        text: "A man carries a ladder.".into(),
        threat_level: Some(1),
        by: "openai:test".into(),
        took_ms: Some(5),
    };
    state.db.set_event_description(yard, &description).await.unwrap();
    let admin = state.db.user_by_name(ADMIN).await.unwrap().unwrap().id;
    let admins_token = state.auth.create_token(admin, "admin's", None).await.unwrap();
    let (viewer, csrf) = app.browser_session("kid", "viewer password").await;

    // Every route a viewer may use that names something by its id, given the other camera's (or
    // the administrator's) thing: a route added later must be listed here.
    // Each is tried first with the viewer's own thing, which must work, so a route that refuses
    // everything cannot pass.
    let kids = state.db.user_by_name("kid").await.unwrap().unwrap().id;
    let kids_token = state.auth.create_token(kids, "kid's", None).await.unwrap();
    // A report of the viewer's camera, and one of the other.
    let report_of = |camera: &str| watchpost::reports::data::ReportRequest {
        name: "manual".into(),
        period: watchpost::reports::settings::Period::Daily,
        first_day: chrono::Local::now().date_naive(),
        zone: Default::default(),
        cameras: vec![camera.to_string()],
        top_events: 1,
    };
    let now_ms = chrono::Utc::now().timestamp_millis();
    let porch_report = state.reports.make(&report_of("porch"), Some(ADMIN), &[], now_ms).await.unwrap().id;
    let yard_report = state.reports.make(&report_of("yard"), Some(ADMIN), &[], now_ms).await.unwrap().id;
    // Devices with notifications on: the viewer's (one per route that removes or tests one) and
    // the administrator's.
    let device_of = |user_id: i64, n: usize| watchpost::db::NewPushSubscription {
        user_id,
        name: format!("device {n}"),
        endpoint: format!("http://127.0.0.1:9/push/{user_id}/{n}"),
        p256dh: "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4".into(),
        auth: "BTBZMqHH6r4Tts7J_aSIgg".into(),
    };
    let mut kids_devices = Vec::new();
    for n in 0..3 {
        kids_devices.push(state.db.add_push_subscription(device_of(kids, n), now_ms).await.unwrap().to_string());
    }
    let admins_device = state.db.add_push_subscription(device_of(admin, 9), now_ms).await.unwrap().to_string();
    let ids_for = |path: &str| -> Option<[String; 2]> {
        if path.starts_with("/api/cameras/{id}") || path.starts_with("/cameras/{id}") {
            Some(["porch".into(), "yard".into()])
        } else if path.starts_with("/api/events/{id}") || path.starts_with("/events/{id}") {
            Some([porch.to_string(), yard.to_string()])
        } else if path.starts_with("/tokens/{id}") {
            Some([kids_token.record.id.clone(), admins_token.record.id.clone()])
        } else if path.starts_with("/api/reports/{file}") {
            Some([format!("{porch_report}.pdf"), format!("{yard_report}.pdf")])
        } else if path.starts_with("/account/push/{id}/test") {
            Some([kids_devices[0].clone(), admins_device.clone()])
        } else if path.starts_with("/account/push/{id}/remove") {
            Some([kids_devices[1].clone(), admins_device.clone()])
        } else if path.starts_with("/api/push/subscriptions/{id}") {
            Some([kids_devices[2].clone(), admins_device.clone()])
        } else {
            None
        }
    };
    let mut checked = 0;
    for route in watchpost::web::routes().iter().filter(|r| r.access == Access::Viewer && r.path.contains('{')) {
        let [own, other] =
            ids_for(route.path).unwrap_or_else(|| panic!("{} {}: say which ids it takes", route.method, route.path));
        for (id, mine) in [(own, true), (other, false)] {
            let query = if route.path.ends_with("export.mp4") { hour.as_str() } else { "" };
            let path = format!("{}{query}", route.path.replace("{id}", &id).replace("{file}", &id));
            let response = if route.method.as_str() == "GET" {
                viewer.get(app.url(&path)).send().await.unwrap()
            } else if route.method.as_str() == "DELETE" {
                viewer.delete(app.url(&path)).header("x-csrf-token", &csrf).send().await.unwrap()
            } else {
                let form = [("csrf", csrf.as_str()), ("status", "viewed"), ("tags", "mine"), ("back", "/account")];
                viewer.post(app.url(&path)).form(&form).send().await.unwrap()
            };
            let status = response.status().as_u16();
            if mine {
                assert!(
                    status == 200 || status == 204 || status == 303,
                    "{} {path}: {status} for the viewer's own",
                    route.method
                );
            } else {
                assert_eq!(status, 404, "{} {path}", route.method);
            }
        }
        checked += 1;
    }
    assert!(checked >= 10, "{checked} routes checked");
    let admins_device = state.db.push_subscription(admins_device.parse().unwrap()).await.unwrap();
    assert!(admins_device.is_some(), "the administrator's device is still subscribed");

    // Lists and search show only the viewer's camera; bulk resolve leaves the other's alone. (The
    // porch camera runs on a real clip and may have made events of its own meanwhile.)
    let porch_only = |listed: &serde_json::Value, what: &str| {
        let events = listed["events"].as_array().unwrap();
        assert!(events.iter().any(|e| e["id"].as_i64() == Some(porch)), "{what}: the viewer's event is there");
        assert!(events.iter().all(|e| e["camera"] == "porch"), "{what}: only the viewer's camera: {events:?}");
    };
    let listed: serde_json::Value = viewer.get(app.url("/api/events")).send().await.unwrap().json().await.unwrap();
    porch_only(&listed, "/api/events");
    let reports: serde_json::Value = viewer.get(app.url("/api/reports")).send().await.unwrap().json().await.unwrap();
    let ids: Vec<i64> = reports["reports"].as_array().unwrap().iter().map(|r| r["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, [porch_report], "only the report of the viewer's camera");
    let export = viewer.get(app.url("/api/export.zip?clips=0")).send().await.unwrap().bytes().await.unwrap();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(export.to_vec())).unwrap();
    let mut listed = String::new();
    std::io::Read::read_to_string(&mut archive.by_name("events.json").unwrap(), &mut listed).unwrap();
    let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
    porch_only(&listed, "an export");
    for query in ["/api/events?q=ladder", "/api/events?camera=yard"] {
        let found: serde_json::Value = viewer.get(app.url(query)).send().await.unwrap().json().await.unwrap();
        assert_eq!(found["events"], serde_json::json!([]), "{query}");
    }
    for page in ["/events", "/events?q=ladder", "/events?camera=yard", "/"] {
        let html = viewer.get(app.url(page)).send().await.unwrap().text().await.unwrap();
        assert!(!html.contains("Ladder") && !html.contains(&format!("/events/{yard}\"")), "{page}");
    }
    let form = [("csrf", csrf.as_str()), ("id", &yard.to_string()), ("id", &porch.to_string())];
    let resolved = viewer.post(app.url("/events/resolve")).form(&form).send().await.unwrap();
    assert_eq!(resolved.status(), 303);
    let status = |id: i64| async move { state.db.get_event(id).await.unwrap().unwrap().status };
    assert_eq!(
        (status(yard).await, status(porch).await),
        (watchpost::model::EventStatus::New, watchpost::model::EventStatus::Resolved)
    );
    let yard_event = state.db.get_event(yard).await.unwrap().unwrap();
    assert_eq!(yard_event.tags, "[]", "the other camera's event kept its tags");
    assert!(state.auth.get_token(&admins_token.record.id).await.unwrap().unwrap().revoked_ms.is_none());
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_end_after_their_idle_time_and_their_whole_lifetime() {
    use sea_orm::{ConnectionTrait, Database};
    let app = TestApp::start("[auth]\nsession_idle_hours = 1\nsession_max_days = 2\n").await;
    let db = Database::connect(&app.running().state.config.storage.database_url(app.data.path())).await.unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    let signed_in = |client: reqwest::Client| {
        let url = app.url("/account");
        async move { client.get(url).send().await.unwrap().status() == 200 }
    };
    // Each case: a fresh session moved back in time as the database sees it.
    let cases = [
        ("idle 50 minutes, signed in a day ago", now - 50 * 60_000, now - 86_400_000, true),
        ("idle 61 minutes", now - 61 * 60_000, now - 3_600_000, false),
        ("used a minute ago but signed in 49 hours ago", now - 60_000, now - 49 * 3_600_000, false),
    ];
    for (case, last_seen, created, works) in cases {
        let (browser, _) = app.browser_session(ADMIN, ADMIN_PASSWORD).await;
        let sql = format!(
            "UPDATE sessions SET last_seen_ms = {last_seen}, created_ms = {created} WHERE created_ms = \
             (SELECT MAX(created_ms) FROM sessions)"
        );
        db.execute_unprepared(&sql).await.unwrap();
        // Changed behind the server's back, as another process would: seen once the session
        // the server remembers from signing in is a second old.
        tokio::time::sleep(watchpost::db::SIGN_IN_REMEMBERED_FOR).await;
        assert_eq!(signed_in(browser.clone()).await, works, "{case}");
        if !works {
            let response = browser.get(app.url("/account")).send().await.unwrap();
            assert!(is_login_redirect(&response), "{case}: sent to sign in again");
        }
    }
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_and_tokens_expire_by_the_clock_watchpost_is_given() {
    let clock = watchpost::clock::ManualClock::starting_at(chrono::Utc::now().timestamp_millis());
    let data = tempfile::tempdir().unwrap();
    let app = TestApp::start_with("[auth]\nsession_idle_hours = 1\n", data, std::sync::Arc::new(clock.clone())).await;
    let auth = &app.running().state.auth;
    let admin = app.running().state.db.user_by_name(ADMIN).await.unwrap().unwrap().id;
    let short = auth.create_token(admin, "ten minutes", Some(10 * 60_000)).await.unwrap().jwt;
    let (browser, _) = app.browser_session(ADMIN, ADMIN_PASSWORD).await;
    let cameras = app.url("/api/cameras");
    assert_eq!(browser.get(app.url("/account")).send().await.unwrap().status(), 200);
    assert_eq!(app.anonymous.get(&cameras).bearer_auth(&short).send().await.unwrap().status(), 200);

    // An hour and a minute later by Watchpost's clock, though the test waited no time at all.
    clock.advance(std::time::Duration::from_secs(61 * 60));
    let response = browser.get(app.url("/account")).send().await.unwrap();
    assert!(is_login_redirect(&response), "the idle session ended: {}", response.status());
    let refused = app.anonymous.get(&cameras).bearer_auth(&short).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    assert!(refused.text().await.unwrap().contains("expired"));
    // The test's own token lives for days: the clock moved only an hour.
    assert_eq!(app.client.get(&cameras).send().await.unwrap().status(), 200);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_proxies_in_the_trusted_ranges_are_believed() {
    for (ranges, believed) in [("[\"127.0.0.0/8\"]", true), ("[\"10.0.0.0/8\", \"::1/128\"]", false)] {
        let app = TestApp::start(&format!("[server]\ntrusted_proxies = {ranges}\n")).await;
        let login = app.anonymous.get(app.url("/login")).send().await.unwrap();
        let form_cookie = login.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
        let form_csrf = form_cookie.split_once('=').unwrap().1.to_string();
        let form = [("csrf", form_csrf.as_str()), ("name", ADMIN), ("password", "wrong password")];
        let request = app.anonymous.post(app.url("/login")).header("cookie", &form_cookie).form(&form);
        let response = request.header("x-forwarded-for", "203.0.113.7").send().await.unwrap();
        assert_eq!(response.status(), 401);
        let audit = app.running().state.db.list_audit(None, 5).await.unwrap();
        let recorded = audit.iter().find(|a| a.action == "auth.login").unwrap().ip.clone();
        let expected = if believed { "203.0.113.7" } else { "127.0.0.1" };
        assert_eq!(recorded.as_deref(), Some(expected), "trusted_proxies = {ranges}");
        app.shutdown().await;
    }
}

/// Watchpost on its first run (no account yet) with `config_toml` and no detector, its address, a
/// browser-like client (cookies kept, redirects not followed), and its data directory.
async fn first_run(config_toml: &str) -> (watchpost::app::RunningApp, String, reqwest::Client, tempfile::TempDir) {
    let data = tempfile::tempdir().unwrap();
    let mut config = parse_config(config_toml);
    config.detector.enabled = false;
    let app = start_without_accounts(config, data.path()).await;
    let base = format!("http://{}", app.addr);
    let browser =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).cookie_store(true).build().unwrap();
    (app, base, browser, data)
}

/// Creates the first administrator through the set-up form; the redirect it answers with.
async fn create_first_admin(browser: &reqwest::Client, base: &str) -> String {
    let page = browser.get(format!("{base}/setup")).send().await.unwrap().text().await.unwrap();
    let csrf = hidden_csrf(&page);
    let created = browser
        .post(format!("{base}/setup"))
        .form(&[("csrf", csrf.as_str()), ("name", "anna"), ("password", "long enough"), ("confirm", "long enough")])
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 303);
    created.headers()["location"].to_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_run_without_cameras_goes_on_to_a_guided_setup_that_survives_a_restart() {
    let (app, base, browser, data) = first_run("").await;
    assert_eq!(create_first_admin(&browser, &base).await, "/setup/guide");
    let page = |path: String| {
        let browser = browser.clone();
        async move { browser.get(path).send().await.unwrap().text().await.unwrap() }
    };
    let cameras = page(format!("{base}/setup/guide")).await;
    assert!(cameras.contains("Find your cameras") && cameras.contains("Scan the network"), "{cameras}");
    assert!(cameras.contains("Add a camera by its address"), "{cameras}");
    let csrf = hidden_csrf(&cameras);
    let act = |base: String, step: &'static str, action: &'static str| {
        let (browser, csrf) = (browser.clone(), csrf.clone());
        async move {
            let response = browser
                .post(format!("{base}/setup/guide"))
                .form(&[("csrf", csrf.as_str()), ("step", step), ("action", action)])
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 303, "{action} on {step}");
            response.headers()["location"].to_str().unwrap().to_string()
        }
    };
    assert_eq!(act(base.clone(), "cameras", "skip").await, "/setup/guide?step=alerts");
    let alerts = page(format!("{base}/setup/guide")).await;
    assert!(
        alerts.contains("Where alerts go")
            && alerts.contains("Home Assistant: <span class=\"badge state-disabled\">not set up"),
        "{alerts}"
    );
    // Left halfway: the dashboard offers to go on.
    assert_eq!(act(base.clone(), "alerts", "later").await, "/");
    let dashboard = page(format!("{base}/")).await;
    assert!(dashboard.contains("step 2 of 4") && dashboard.contains("Continue setup"), "{dashboard}");

    // After a restart the draft is still there (the session too: it is in the database).
    app.shutdown().await;
    let mut config = parse_config("");
    config.detector.enabled = false;
    let app = start_without_accounts(config, data.path()).await;
    let base = format!("http://{}", app.addr);
    let dashboard = page(format!("{base}/")).await;
    assert!(dashboard.contains("step 2 of 4"), "{dashboard}");
    assert!(page(format!("{base}/setup/guide")).await.contains("Where alerts go"));
    assert_eq!(act(base.clone(), "alerts", "next").await, "/setup/guide?step=home");
    let home = page(format!("{base}/setup/guide")).await;
    assert!(home.contains("Home, away and quiet hours") && home.contains("I'm home: pause alerts"), "{home}");
    assert_eq!(act(base.clone(), "home", "next").await, "/setup/guide?step=done");
    let done = page(format!("{base}/setup/guide")).await;
    assert!(done.contains("Alerts go to: none yet") && done.contains("You skipped"), "{done}");
    assert_eq!(act(base.clone(), "done", "finish").await, "/");
    assert!(!page(format!("{base}/")).await.contains("Setup is not finished"));
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_run_with_cameras_from_the_config_file_goes_straight_to_the_dashboard() {
    let (app, base, browser, _data) =
        first_run("[[cameras]]\nid = \"yard\"\nurl = \"/nonexistent.mp4\"\nenabled = false\n").await;
    assert_eq!(create_first_admin(&browser, &base).await, "/");
    let dashboard = browser.get(format!("{base}/")).send().await.unwrap().text().await.unwrap();
    assert!(!dashboard.contains("Continue setup"), "{dashboard}");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guide_sends_a_test_alert_through_a_channel_set_up() {
    let smtp = common::smtp::FakeSmtp::start(None);
    let config = format!(
        "[email]\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {}\ntls = false\nstarttls = false\n\
         from = \"Watchpost <cameras@example.com>\"\nto = [\"me@example.com\"]\n",
        smtp.port
    );
    let (app, base, browser, _data) = first_run(&config).await;
    assert_eq!(create_first_admin(&browser, &base).await, "/setup/guide");
    let alerts = browser.get(format!("{base}/setup/guide?step=alerts")).send().await.unwrap().text().await.unwrap();
    assert!(alerts.contains("E-mail: <span class=\"badge state-online\">set up"), "{alerts}");
    let form_start = alerts.find("action=\"/settings/integrations/test-alert\"").expect("a test button for e-mail");
    let form = &alerts[form_start..alerts[form_start..].find("</form>").unwrap() + form_start];
    assert!(form.contains("name=\"channel\" value=\"email\"") && form.contains("Send test alert"), "{form}");
    let sent = browser
        .post(format!("{base}/settings/integrations/test-alert"))
        .form(&[("csrf", hidden_csrf(&alerts).as_str()), ("channel", "email")])
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 200);
    wait_for("the test mail", std::time::Duration::from_secs(20), || async {
        (!smtp.mails().is_empty()).then_some(())
    })
    .await;
    app.shutdown().await;
}
