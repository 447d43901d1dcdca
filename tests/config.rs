//! Config loading as a user meets it: errors name the key and say what is allowed, environment
//! overrides and `${VAR}` / secret-file substitution work, and `watchpost check-config` exits
//! non-zero with the problems or zero with a summary that hides secrets.

use std::path::PathBuf;
use std::process::Command;
use watchpost::checks::ConfigIssue;
use watchpost::config::{Config, Environment, parse};

fn env(vars: &[(&str, &str)]) -> Environment {
    Environment {
        vars: vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        secrets_dir: PathBuf::from("/nonexistent"),
    }
}

fn load(text: &str, environment: &Environment) -> Result<Config, Vec<ConfigIssue>> {
    let config = parse(text, environment)?;
    config.validate()?;
    Ok(config)
}

fn problems(text: &str) -> Vec<ConfigIssue> {
    load(text, &env(&[])).expect_err("config should be rejected")
}

#[test]
fn defaults_need_no_file() {
    let config = load("", &env(&[])).unwrap();
    assert_eq!(config.server.bind, "127.0.0.1:8080");
    assert!(config.cameras.is_empty());
    assert_eq!(config.ffmpeg.path, "ffmpeg");
}

#[test]
fn the_full_example_is_valid() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/config/full.toml")).unwrap();
    let config = load(&text, &env(&[("CAMERA_PASSWORD", "pw")])).expect("examples/config/full.toml is valid");
    assert!(!config.cameras.is_empty());
}

#[test]
fn unknown_keys_are_errors_that_name_the_key() {
    let issues = problems("[server]\nbind = \"127.0.0.1:8080\"\nport = 8080\n");
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0].key, "server.port");
    assert!(issues[0].message.contains("unknown field `port`"), "{}", issues[0]);

    let issues = problems("[[cameras]]\nid = \"a\"\nurl = \"rtsp://h/s\"\n[cameras.detect]\nfsp = 5\n");
    assert_eq!(issues[0].key, "cameras[0].detect.fsp");
    assert!(issues[0].message.contains("unknown field `fsp`"), "{}", issues[0]);
}

#[test]
fn bad_values_name_key_value_and_what_is_allowed() {
    let issues = problems(
        r#"
        [[cameras]]
        id = "front"
        url = "ftp://10.0.0.2/stream"
        detect = { fps = 0 }
        [[cameras]]
        id = "front"
        url = "not a url"
        [[cameras]]
        id = "hub"
        url = "rtsp://admin:pa55word@10.0.0.3:99999/x"
        "#,
    );
    let find =
        |key: &str| issues.iter().find(|i| i.key == key).unwrap_or_else(|| panic!("no issue for {key}: {issues:?}"));
    assert!(find("cameras[0].url").message.contains("\"ftp\""));
    assert!(find("cameras[0].url").message.contains("rtsp://"));
    assert!(find("cameras[0].detect.fps").message.contains("0 is not allowed; use 1–30"));
    assert!(find("cameras[1].id").message.contains("used by another camera"));
    assert!(find("cameras[1].url").message.contains("not a URL"));
    assert!(find("cameras[2].id").message.contains("\"hub\" is reserved"), "{issues:?}");
    let bad_port = &find("cameras[2].url").message;
    assert!(bad_port.contains("rtsp://***@10.0.0.3:99999/x"), "{bad_port}");
    assert!(!format!("{issues:?}").contains("pa55word"), "a URL that cannot be parsed still hides its password");
}

#[test]
fn bad_toml_is_reported_with_its_line() {
    let issues = problems("[server\nbind = 1");
    assert_eq!(issues[0].key, "(file)");
    assert!(issues[0].message.contains("line 1"), "{}", issues[0]);
}

#[test]
fn environment_overrides_any_key() {
    let text = "[[cameras]]\nid = \"porch\"\nurl = \"rtsp://10.0.0.2/s\"\n";
    let config = load(
        text,
        &env(&[
            ("WATCHPOST__SERVER__BIND", "0.0.0.0:9000"),
            ("WATCHPOST__FFMPEG__STALL_TIMEOUT_SECS", "30"),
            ("WATCHPOST__CAMERAS__0__DETECT__FPS", "7"),
            ("WATCHPOST__CAMERAS__0__ENABLED", "false"),
        ]),
    )
    .unwrap();
    assert_eq!(config.server.bind, "0.0.0.0:9000");
    assert_eq!(config.ffmpeg.stall_timeout_secs, 30);
    assert_eq!(config.cameras[0].detect.fps, 7);
    assert!(!config.cameras[0].enabled);

    let issues = load(text, &env(&[("WATCHPOST__SERVER__PORT", "1")])).unwrap_err();
    assert!(issues[0].message.contains("unknown field `port`"), "{issues:?}");
    let issues = load(text, &env(&[("WATCHPOST__CAMERAS__3__URL", "x")])).unwrap_err();
    assert_eq!(issues[0].key, "WATCHPOST__CAMERAS__3__URL");
}

#[test]
fn variables_and_secret_files_are_substituted_and_secrets_stay_hidden() {
    let secrets = tempfile::tempdir().unwrap();
    std::fs::write(secrets.path().join("db_password"), "s3cret\n").unwrap();
    let environment =
        Environment { vars: vec![("CAM_PASS".into(), "hunter2".into())], secrets_dir: secrets.path().to_path_buf() };
    let text = r#"
        [storage]
        database_url = "postgres://watchpost:${db_password}@db/watchpost"
        [[cameras]]
        id = "porch"
        url = "rtsp://admin:${CAM_PASS}@10.0.0.2/s"
    "#;
    let config = load(text, &environment).unwrap();
    assert_eq!(config.cameras[0].url, "rtsp://admin:hunter2@10.0.0.2/s");
    assert_eq!(config.storage.database_url.as_ref().unwrap().expose(), "postgres://watchpost:s3cret@db/watchpost");
    let printed = format!("{config:?}");
    assert!(!printed.contains("s3cret"), "the database URL is a secret: {printed}");

    let issues = load("[server]\nbase_url = \"${MISSING}\"", &environment).unwrap_err();
    assert_eq!(issues[0].key, "server.base_url");
    assert!(issues[0].message.contains("MISSING"));
}

fn watchpost() -> Command {
    Command::new(env!("CARGO_BIN_EXE_watchpost"))
}

#[test]
fn check_config_reports_problems_with_a_non_zero_exit() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, "[[cameras]]\nid = \"Front Door\"\nurl = \"rtsp://h/s\"\ndetect = { fps = 0 }\n").unwrap();
    let output = watchpost().arg("check-config").arg(&file).output().unwrap();
    assert_eq!(output.status.code(), Some(2), "docs/config.md promises exit code 2");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cameras[0].id"), "{stderr}");
    assert!(stderr.contains("cameras[0].detect.fps"), "{stderr}");
}

#[test]
fn check_config_summarises_a_good_file_without_passwords() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("good.toml");
    std::fs::write(&file, "[[cameras]]\nid = \"porch\"\nurl = \"rtsp://admin:hunter2@10.0.0.2/s\"\n").unwrap();
    let output = watchpost().arg("check-config").arg(&file).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout} {}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("porch"), "{stdout}");
    assert!(stdout.contains("rtsp://***@10.0.0.2/s"), "{stdout}");
    assert!(!stdout.contains("hunter2") && !stdout.contains("admin"), "{stdout}");
}

#[test]
fn logs_written_to_a_pipe_carry_no_colour_codes() {
    // A port that is taken, so `serve` logs its start and then stops with an error.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let data = tempfile::tempdir().unwrap();
    let output = watchpost()
        .args(["serve", "--bind", &taken.local_addr().unwrap().to_string(), "--data-dir"])
        .arg(data.path())
        .env_remove("NO_COLOR")
        .env("WATCHPOST_LOG", "info")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "the bind must fail: {stderr}");
    assert!(stderr.contains("INFO") && stderr.contains("cannot listen on"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "no escape codes in a pipe: {stderr:?}");
}

#[test]
fn version_is_printed() {
    let output = watchpost().arg("--version").output().unwrap();
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn zones_and_object_masks_are_checked() {
    let text = r#"
        [[cameras]]
        id = "drive"
        url = "rtsp://10.0.0.2/s"
        objects = { track = ["car"], mask = [[[0.0, 0.0], [1.0, 1.0], [1.0, 0.0], [0.0, 1.0]]], require_zones = ["garden"] }
        [[cameras.zones]]
        name = "Drive Way"
        polygon = [[0.0, 0.5], [0.5, 0.5], [0.5, 1.0]]
        [[cameras.zones]]
        name = "porch"
        polygon = [[0.0, 0.5], [1.5, 0.5]]
    "#;
    let issues = load(text, &env(&[])).unwrap_err();
    let keys: Vec<&str> = issues.iter().map(|i| i.key.as_str()).collect();
    for key in [
        "cameras[0].objects.mask[0]",
        "cameras[0].zones[0].name",
        "cameras[0].zones[1].polygon",
        "cameras[0].objects.require_zones[0]",
    ] {
        assert!(keys.contains(&key), "no issue for {key}: {issues:?}");
    }
    let crossing = issues.iter().find(|i| i.key == "cameras[0].objects.mask[0]").unwrap();
    assert!(crossing.message.contains("crosses itself"), "{crossing:?}");

    let good = r#"
        [[cameras]]
        id = "drive"
        url = "rtsp://10.0.0.2/s"
        objects = { track = ["car", "person"], require_zones = ["driveway"] }
        [[cameras.zones]]
        name = "driveway"
        polygon = [[0.0, 0.5], [0.5, 0.5], [0.5, 1.0], [0.0, 1.0]]
    "#;
    let config = load(good, &env(&[])).expect("valid zones");
    assert!(config.cameras[0].zones[0].contains([0.25, 0.9]));
    assert!(!config.cameras[0].zones[0].contains([0.75, 0.9]));
}

#[test]
fn per_label_filters_override_the_camera_settings() {
    let text = r#"
        [[cameras]]
        id = "drive"
        url = "rtsp://10.0.0.2/s"
        [cameras.objects]
        track = ["person", "car"]
        min_score = 0.5
        threshold = 0.7
        [cameras.objects.filters.car]
        min_score = 0.6
        threshold = 0.8
        min_area = 0.01
        max_area = 0.5
    "#;
    let config = load(text, &env(&[])).expect("valid filters");
    let objects = &config.cameras[0].objects;
    assert_eq!((objects.min_score_for("car"), objects.threshold_for("car")), (0.6, 0.8));
    assert_eq!((objects.min_score_for("person"), objects.threshold_for("person")), (0.5, 0.7));
    assert!(
        objects.area_allowed("car", 0.2) && !objects.area_allowed("car", 0.005) && !objects.area_allowed("car", 0.6)
    );
    assert!(objects.area_allowed("person", 0.9), "no limits without a filter");

    let bad = text.replace("threshold = 0.8", "threshold = 0.55").replace("max_area = 0.5", "max_area = 0.001");
    let issues = load(&bad, &env(&[])).unwrap_err();
    let keys: Vec<&str> = issues.iter().map(|i| i.key.as_str()).collect();
    assert!(keys.contains(&"cameras[0].objects.filters.car.threshold"), "{issues:?}");
    assert!(keys.contains(&"cameras[0].objects.filters.car.min_area"), "{issues:?}");
    let unknown = text.replace("filters.car", "filters.dog");
    let issues = load(&unknown, &env(&[])).unwrap_err();
    assert!(
        issues.iter().any(|i| i.key == "cameras[0].objects.filters.dog" && i.message.contains("objects.track")),
        "{issues:?}"
    );
}

#[test]
fn tracking_settings_have_defaults_and_checked_groups() {
    let text = "[[cameras]]\nid = \"drive\"\nurl = \"rtsp://10.0.0.2/s\"\n[cameras.objects]\ntrack = [\"car\"]\n";
    let config = load(text, &env(&[])).expect("valid");
    let objects = &config.cameras[0].objects;
    assert_eq!((objects.lost_secs, objects.keep_tracks_secs), (3.0, 30));
    assert_eq!(objects.group_of("truck"), objects.group_of("car"));
    assert!(objects.group_of("car").is_some() && objects.group_of("person").is_none());
    assert_ne!(objects.group_of("cat"), objects.group_of("car"));

    let bad = format!(
        "{text}lost_secs = 0.1\nkeep_tracks_secs = 7200\nlabel_groups = [[\"car\", \"truck\"], [\"truck\", \"bus\"], [\"dog\"]]\n"
    );
    let issues = load(&bad, &env(&[])).unwrap_err();
    let said = |key: &str, words: &str| issues.iter().any(|i| i.key == key && i.message.contains(words));
    assert!(said("cameras[0].objects.lost_secs", "0.5–600 seconds"), "{issues:?}");
    assert!(said("cameras[0].objects.keep_tracks_secs", "0–3600 seconds"), "{issues:?}");
    assert!(said("cameras[0].objects.label_groups[1]", "\"truck\" is in another group"), "{issues:?}");
    assert!(said("cameras[0].objects.label_groups[2]", "at least two labels"), "{issues:?}");
    let off = format!("{text}label_groups = []\n");
    assert_eq!(load(&off, &env(&[])).expect("valid").cameras[0].objects.group_of("truck"), None);
}

#[test]
fn mqtt_mistakes_name_the_key_and_the_fix() {
    let issues = problems(
        "[mqtt]\nhost = \"mqtt://broker\"\nport = 0\nbase_topic = \"watchpost/#\"\nca_file = \"/ca.pem\"\noutbox_max_age_hours = 0\n",
    );
    let keys: Vec<&str> = issues.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(keys, ["mqtt.host", "mqtt.port", "mqtt.base_topic", "mqtt.ca_file", "mqtt.outbox_max_age_hours"]);
    assert!(issues[0].message.contains("192.168.1.10"), "{}", issues[0]);
    assert!(issues[3].message.contains("set tls = true"), "{}", issues[3]);
    assert!(load("[mqtt]\nhost = \"fd00::5\"\n", &env(&[])).is_ok(), "IPv6 addresses are hosts");
}

#[test]
fn describe_mistakes_name_the_key_and_a_camera_can_use_another_model() {
    let issues = problems(
        "[describe]\nprovider = \"openai\"\nbase_url = \"ftp://x\"\ntimeout_secs = 0\nprompt = \" \"\n\
         [[cameras]]\nid = \"a\"\nurl = \"/a.mp4\"\ndescribe = { provider = \"gemini\" }\n",
    );
    let keys: Vec<&str> = issues.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "describe.model",
            "describe.base_url",
            "describe.timeout_secs",
            "describe.prompt",
            "cameras[0].describe.model"
        ]
    );
    assert!(issues[0].message.contains("gpt-4o-mini"), "{}", issues[0]);
    // A camera with its own local model, the rest with none.
    let config = load(
        "[[cameras]]\nid = \"a\"\nurl = \"/a.mp4\"\n[cameras.describe]\nprovider = \"openai\"\nbase_url = \"http://10.0.0.5:11434/v1\"\nmodel = \"llava\"\n",
        &env(&[]),
    )
    .expect("valid");
    let camera = config.describe.for_camera(&config.cameras[0].describe);
    assert_eq!((camera.base_url(), camera.model.as_str()), ("http://10.0.0.5:11434/v1".to_string(), "llava"));
    assert_eq!(config.describe.provider, watchpost::model::DescribeProvider::None);
}

#[test]
fn alert_policy_mistakes_name_the_key() {
    let issues = problems(
        "[[cameras]]\nid = \"a\"\nurl = \"/a.mp4\"\n[cameras.alerts]\nlabels = [\"car\"]\nmin_score = 2.0\nzones = [\"moon\"]\n\
         rules = [{ zone = \"moon\", from = \"25:00\", severity = \"high\" }]\n",
    );
    let keys: Vec<&str> = issues.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "cameras[0].alerts.labels[0]",
            "cameras[0].alerts.min_score",
            "cameras[0].alerts.zones[0]",
            "cameras[0].alerts.rules[0].zone",
            "cameras[0].alerts.rules[0].from",
            "cameras[0].alerts.rules[0]",
        ]
    );
    assert!(issues[0].message.contains("objects.track"), "{}", issues[0]);
    assert!(issues[4].message.contains("22:30"), "{}", issues[4]);
    let quiet = problems(
        "[[cameras]]\nid = \"a\"\nurl = \"/a.mp4\"\n[cameras.alerts]\ntimezone = \"Mars/Olympus\"\n\
         quiet = [{ days = [\"monday\"], from = \"8:00\", to = \"17:00\" }]\n",
    );
    let keys: Vec<&str> = quiet.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(
        keys,
        ["cameras[0].alerts.timezone", "cameras[0].alerts.quiet[0].from", "cameras[0].alerts.quiet[0].days"]
    );
    assert!(quiet[0].message.contains("Europe/Berlin"), "{}", quiet[0]);
    let bad_severity = problems("[[cameras]]\nid = \"a\"\nurl = \"/a.mp4\"\nalerts = { severity = \"urgent\" }\n");
    assert!(bad_severity[0].key.contains("severity"), "{:?}", bad_severity);
}

#[test]
fn telegram_and_email_mistakes_name_the_key() {
    let issues = problems(
        "[telegram]\nbot_token = \"not a token\"\napi_url = \"telegram.org\"\ngive_up_hours = 0\n\
         [email]\nsmtp_host = \"mail.example.com\"\nfrom = \"nobody\"\nto = [\"ok@example.com\", \"who\"]\ntls = false\n",
    );
    let keys: Vec<&str> = issues.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "telegram.bot_token",
            "telegram.chat_ids",
            "telegram.api_url",
            "telegram.give_up_hours",
            "email.from",
            "email.to[1]",
            "email.starttls",
        ]
    );
    assert!(issues[1].message.contains("/start"), "{}", issues[1]);
    assert!(issues[6].message.contains("tls = true"), "{}", issues[6]);
    // Both are off until configured, and their secrets never print.
    let config = load(
        "[telegram]\nbot_token = \"123:abc\"\nchat_ids = [42]\n[email]\nsmtp_host = \"mail.example.com\"\n\
         password = \"pw-secret\"\nfrom = \"Cams <cams@example.com>\"\nto = [\"me@example.com\"]\n",
        &env(&[]),
    )
    .unwrap();
    assert!(config.telegram.enabled() && config.email.enabled());
    assert!(!format!("{config:?}").contains("123:abc") && !format!("{config:?}").contains("pw-secret"));
    assert!(!load("", &env(&[])).unwrap().telegram.enabled());
    let whatsapp = problems("[whatsapp]\nphone_number_id = \"12a\"\nbusiness_number = \"030 123\"\ntemplate = \"\"\n");
    let keys: Vec<&str> = whatsapp.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "whatsapp.phone_number_id",
            "whatsapp.token",
            "whatsapp.app_secret",
            "whatsapp.verify_token",
            "whatsapp.business_number",
            "whatsapp.template",
        ]
    );
    assert!(whatsapp[2].message.contains("Settings → Basic"), "{}", whatsapp[2]);
}

#[test]
fn the_config_file_is_found_in_the_documented_order() {
    let dir = tempfile::tempdir().unwrap();
    // ./watchpost.toml is read when nothing else is named: this one is broken, so it shows.
    std::fs::write(dir.path().join("watchpost.toml"), "[server]\nport = 1\n").unwrap();
    std::fs::write(dir.path().join("good.toml"), "[server]\nbind = \"127.0.0.1:9000\"\n").unwrap();
    let run = |extra: &[&str], env: Option<&str>| {
        let mut command = watchpost();
        command.current_dir(dir.path()).args(["user", "list", "--data-dir", "data"]).args(extra);
        match env {
            Some(file) => command.env("WATCHPOST_CONFIG", file),
            None => command.env_remove("WATCHPOST_CONFIG"),
        };
        let output = command.output().unwrap();
        (output.status.success(), String::from_utf8_lossy(&output.stderr).to_string())
    };
    let (ok, stderr) = run(&[], None);
    assert!(!ok && stderr.contains("server.port"), "./watchpost.toml is read by default: {stderr}");
    let (ok, stderr) = run(&["--config", "good.toml"], None);
    assert!(ok, "--config wins over ./watchpost.toml: {stderr}");
    let (ok, stderr) = run(&[], Some("good.toml"));
    assert!(ok, "WATCHPOST_CONFIG wins over ./watchpost.toml: {stderr}");
    let (ok, stderr) = run(&["--config", "missing.toml"], None);
    assert!(!ok && stderr.contains("missing.toml"), "a named file that is missing is an error: {stderr}");
}

#[test]
fn secrets_come_from_run_secrets_or_watchpost_secrets_dir() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("secrets");
    std::fs::create_dir(&secrets).unwrap();
    std::fs::write(secrets.join("listen_on"), "127.0.0.1:9123\n").unwrap();
    let file = dir.path().join("watchpost.toml");
    std::fs::write(&file, "[server]\nbind = \"${listen_on}\"\n").unwrap();
    let check = |secrets_dir: Option<&std::path::Path>| {
        let mut command = watchpost();
        command.arg("check-config").arg(&file).env_remove("listen_on");
        match secrets_dir {
            Some(path) => command.env("WATCHPOST_SECRETS_DIR", path),
            None => command.env_remove("WATCHPOST_SECRETS_DIR"),
        };
        let output = command.output().unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).to_string() + &String::from_utf8_lossy(&output.stderr),
        )
    };
    let (code, printed) = check(Some(&secrets));
    assert_eq!(code, Some(0), "{printed}");
    assert!(printed.contains("server: 127.0.0.1:9123"), "the file in WATCHPOST_SECRETS_DIR is used: {printed}");
    // Without it the default folder /run/secrets is looked in, which has no such file here.
    if !std::path::Path::new("/run/secrets/listen_on").exists() {
        let (code, printed) = check(None);
        assert_eq!(code, Some(2), "{printed}");
        assert!(printed.contains("listen_on") && printed.contains("/run/secrets"), "{printed}");
    }
}

#[test]
fn report_settings_name_the_key_and_the_fix() {
    let issues = problems(
        r#"
        [[reports]]
        name = "daily"
        at = "7am"
        timezone = "Mars/Olympus"
        send_to = ["mqtt"]
        top_events = 50

        [[reports]]
        name = "daily"
        period = "weekly"
        weekday = "someday"
        "#,
    );
    let keys: Vec<&str> = issues.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "reports[0].at",
            "reports[0].timezone",
            "reports[0].send_to[0]",
            "reports[0].top_events",
            "reports[1].weekday",
            "reports[1].name"
        ]
    );
    assert!(issues[0].message.contains("write it as \"22:30\""), "{}", issues[0]);
    assert!(issues[2].message.contains("use \"email\" or \"telegram\""), "{}", issues[2]);
    assert!(issues[5].message.contains("names another report too"), "{}", issues[5]);
    let issues = problems("[[reports]]\nname = \"x\"\nperiod = \"monthly\"\n");
    assert_eq!(issues[0].key, "reports[0].period");
}

#[test]
fn push_ntfy_and_webhook_settings_name_the_key_and_the_fix() {
    let issues = problems(
        r#"
        [push]
        subject = "ops@example.com"
        ttl_hours = 0

        [ntfy]
        topic_url = "https://ntfy.sh/"

        [[webhooks]]
        url = "ftp://example.com/hook"
        secret = "short"

        [[webhooks]]
        url = "https://example.com/hook"
        secret = "long-enough-secret-1234"

        [[webhooks]]
        url = "https://example.com/hook"
        secret = "long-enough-secret-1234"
        "#,
    );
    let keys: Vec<&str> = issues.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "push.subject",
            "push.ttl_hours",
            "ntfy.topic_url",
            "webhooks[0].url",
            "webhooks[0].secret",
            "webhooks[2].url"
        ]
    );
    assert!(issues[0].message.contains("\"mailto:you@example.com\""), "{}", issues[0]);
    assert!(issues[2].message.contains("names no topic"), "{}", issues[2]);
    assert!(issues[4].message.contains("openssl rand -hex 32"), "{}", issues[4]);
    assert!(issues[5].message.contains("listed twice"), "{}", issues[5]);
}
