//! Finding ONVIF cameras: vendor replies parsed (quirks included), broken input never panics or
//! makes half a device, and a real scan over multicast between two network namespaces finds a fake
//! camera, from the library and from `watchpost discover`.

mod common;

use common::netns::{self, NetPair};
use common::onvif::FakeCamera;
use std::path::Path;
use std::time::Duration;
use watchpost::discovery::wsd::{self, Announcement, ProbeMatch};

fn fixture(name: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/onvif").join(name)).unwrap()
}

const FIXTURES: [&str; 5] = [
    "hikvision_probe_match.xml",
    "dahua_probe_match.xml",
    "axis_hello.xml",
    "generic_no_wrapper_spaces.xml",
    "nvr_two_matches_and_bye.xml",
];

fn only(xml: &str) -> ProbeMatch {
    let mut found = wsd::parse(xml);
    assert_eq!(found.len(), 1, "{found:?}");
    found.remove(0)
}

#[test]
fn vendor_replies_parse_with_their_quirks() {
    let hik = only(&fixture("hikvision_probe_match.xml"));
    assert_eq!(hik.kind, Announcement::Match);
    assert_eq!(hik.endpoint, "urn:uuid:a4c1e2b0-1dd2-11b2-a105-C0561E8C1234");
    assert_eq!(hik.types, ["dn:NetworkVideoTransmitter", "tds:Device"]);
    assert_eq!(hik.xaddrs.len(), 2, "IPv4 and IPv6 addresses");
    assert_eq!(hik.scope("name").as_deref(), Some("HIKVISION DS-2CD2143G0-I"));
    assert_eq!(hik.scope("hardware").as_deref(), Some("DS-2CD2143G0-I"));
    assert_eq!(hik.scope("location").as_deref(), Some("hangzhou"));

    let dahua = only(&fixture("dahua_probe_match.xml"));
    assert_eq!(dahua.endpoint, "uuid:7c2f5b0e-2f7e-4c6b-9a2e-b4a1d2c3e4f5");
    assert_eq!(dahua.xaddrs, ["http://192.168.1.108/onvif/device_service"]);
    assert_eq!(dahua.scope("hardware").as_deref(), Some("IPC-HDW2431T-AS-S2"));

    let axis = only(&fixture("axis_hello.xml"));
    assert_eq!(axis.kind, Announcement::Hello);
    assert_eq!(axis.scope("name").as_deref(), Some("AXIS P3245-LVE"));
    assert_eq!(axis.scope("location"), None, "an empty location is no location");
    assert_eq!(axis.xaddrs[0], "http://192.168.0.90:80/onvif/device_service");

    let generic = only(&fixture("generic_no_wrapper_spaces.xml"));
    assert_eq!(generic.scope("name").as_deref(), Some("Garage & Garden Cam"), "{:?}", generic.scopes);
    assert_eq!(generic.scope("mfr").as_deref(), Some("Anran"));
    assert_eq!(generic.xaddrs, ["http://10.0.0.42:8899/onvif/device_service"]);

    let nvr = wsd::parse(&fixture("nvr_two_matches_and_bye.xml"));
    let endpoints: Vec<(&str, Announcement)> = nvr.iter().map(|m| (m.endpoint.as_str(), m.kind)).collect();
    assert_eq!(
        endpoints,
        [
            ("urn:uuid:nvr-0001", Announcement::Match),
            ("urn:uuid:cam-0002", Announcement::Match),
            ("urn:uuid:cam-0003", Announcement::Bye)
        ],
        "the match without an address is dropped"
    );
}

#[test]
fn truncated_and_garbled_packets_never_panic_or_make_half_a_device() {
    for name in FIXTURES {
        let xml = fixture(name);
        let whole = wsd::parse(&xml);
        for end in (0..xml.len()).filter(|i| xml.is_char_boundary(*i)) {
            for found in wsd::parse(&xml[..end]) {
                assert!(whole.contains(&found), "{name} cut at {end} made a device the whole reply lacks: {found:?}");
            }
        }
    }
    // Noise: random bytes and random splices of the fixtures (a fixed-seed xorshift).
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..2_000 {
        let xml = fixture(FIXTURES[round % FIXTURES.len()]);
        let mut bytes = xml.into_bytes();
        for _ in 0..(next() % 8 + 1) {
            let at = (next() as usize) % bytes.len();
            bytes[at] = (next() % 128) as u8;
        }
        let text = String::from_utf8_lossy(&bytes);
        for found in wsd::parse(&text) {
            assert!(!found.endpoint.is_empty());
            assert!(found.kind == Announcement::Bye || !found.xaddrs.is_empty(), "{found:?}");
        }
    }
    assert!(wsd::parse("").is_empty());
    assert!(wsd::parse("<<<>>>&&&;").is_empty());
}

/// `watchpost discover --json --timeout SECONDS` run inside `namespace`: one JSON value per line.
fn discover_json(namespace: &str, seconds: u32) -> Vec<serde_json::Value> {
    let output = std::process::Command::new("ip")
        .args(["netns", "exec", namespace, env!("CARGO_BIN_EXE_watchpost"), "discover", "--json", "--timeout"])
        .arg(seconds.to_string())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn a_scan_over_real_multicast_finds_the_camera_in_the_other_namespace() {
    if !netns::available_or_skip() {
        return;
    }
    let pair = NetPair::create("d");
    let camera = FakeCamera::start_in(&pair.camera_ns, pair.camera_ip, &fixture("hikvision_probe_match.xml"));
    let namespace = pair.watchpost_ns.clone();
    let found = std::thread::spawn(move || {
        netns::enter(&namespace);
        let interfaces = watchpost::discovery::interfaces(&[]).unwrap();
        let devices = watchpost::discovery::scan_onvif(&[], Duration::from_secs(2)).unwrap();
        (interfaces, devices)
    })
    .join()
    .unwrap();
    let (interfaces, devices) = found;
    assert_eq!(interfaces.len(), 1, "only the veth, not loopback: {interfaces:?}");
    assert_eq!(interfaces[0].address, pair.watchpost_ip);
    assert_eq!(devices.len(), 1, "one camera however many probes it answered: {devices:?}");
    let device = &devices[0];
    assert_eq!(device.address, std::net::IpAddr::V4(pair.camera_ip));
    assert_eq!(device.xaddrs[0], format!("http://{}/onvif/device_service", pair.camera_ip), "IPv4 first");
    assert_eq!(device.name.as_deref(), Some("HIKVISION DS-2CD2143G0-I"));
    assert_eq!(device.model.as_deref(), Some("DS-2CD2143G0-I"));
    assert!(camera.probes_answered.load(std::sync::atomic::Ordering::Relaxed) >= 2, "both probe types");

    // The same from the command line, one JSON object per line.
    let lines = discover_json(&pair.watchpost_ns, 2);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["kind"], "onvif");
    assert_eq!(lines[0]["address"], pair.camera_ip.to_string());
    assert_eq!(lines[0]["model"], "DS-2CD2143G0-I");
    assert_eq!(lines[0]["endpoint"], "urn:uuid:a4c1e2b0-1dd2-11b2-a105-C0561E8C1234");

    // Restricted to an interface that is not there: a clear error naming the setting.
    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(config.path(), "[discovery]\ninterfaces = [\"eth9\"]\n").unwrap();
    let output = std::process::Command::new("ip")
        .args(["netns", "exec", &pair.watchpost_ns, env!("CARGO_BIN_EXE_watchpost"), "discover", "--config"])
        .arg(config.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(error.contains("[discovery] interfaces (eth9)"), "{error}");
}

/// The value of the checked radio button `name` in `page`.
/// The value of the text input `name` on a page.
fn input_value(page: &str, name: &str) -> String {
    let at = page.find(&format!("name=\"{name}\" value=\"")).unwrap_or_else(|| panic!("no input {name}: {page}"));
    let value = &page[at + name.len() + 15..];
    value[..value.find('"').unwrap()].to_string()
}

fn checked_value(page: &str, name: &str) -> String {
    let at = page.find("checked").expect("a checked choice");
    let input_start = page[..at].rfind("<input").unwrap();
    let input = &page[input_start..at];
    assert!(input.contains(&format!("name=\"{name}\"")), "{input}");
    let value = input.split("value=\"").nth(1).unwrap();
    value[..value.find('"').unwrap()].to_string()
}

#[test]
fn a_camera_found_on_the_lan_is_adopted_with_its_credentials_from_the_discovery_page() {
    if !netns::available_or_skip() {
        return;
    }
    let pair = NetPair::create("a");
    netns::run_in(&pair.watchpost_ns.clone(), adopt_from_the_discovery_page(pair));
}

async fn adopt_from_the_discovery_page(pair: NetPair) {
    // The camera's stream: a real RTSP server beside Watchpost.
    let rtsp = common::RtspServer::start_new(&common::test_clip());
    let soap = common::onvif::FakeSoapCamera::start_in(
        &pair.camera_ns,
        pair.camera_ip,
        common::onvif::SoapSettings {
            username: "admin".into(),
            password: "cam-pass-123".into(),
            clock_skew_s: -3600,
            profiles: "hikvision_get_profiles.xml".into(),
            stream_uri: Some(format!("{}?profile=sub&channel=1", rtsp.url())),
            html: false,
        },
    );
    // The announcement names the camera but not its model, as many do: the model comes from the
    // camera itself once signed in.
    let reply = fixture("hikvision_probe_match.xml")
        .replace("http://192.168.1.64/", &format!("http://{}:{}/", pair.camera_ip, soap.port))
        .replace("onvif://www.onvif.org/hardware/DS-2CD2143G0-I", "");
    let _camera = FakeCamera::start_in(&pair.camera_ns, pair.camera_ip, &reply);
    let config = "[discovery]\nprobe_secs = 2\ninterval_minutes = 0\nnode_scan_secs = 0\n";
    let app = common::TestApp::start(config).await;
    let (browser, csrf) = app.browser_session(common::ADMIN, common::ADMIN_PASSWORD).await;
    let page = |path: String| {
        let browser = browser.clone();
        let url = app.url(&path);
        async move { browser.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let post = |path: String, fields: Vec<(&'static str, String)>| {
        let browser = browser.clone();
        let url = app.url(&path);
        let mut form = vec![("csrf", csrf.clone())];
        form.extend(fields);
        async move { browser.post(url).form(&form).send().await.unwrap() }
    };
    assert!(page("/discovery".into()).await.contains("Nothing found yet"));

    // Scan now: the camera in the other namespace answers over multicast.
    assert_eq!(post("/discovery/scan".into(), vec![]).await.status(), 303);
    assert!(page("/discovery".into()).await.contains("Scanning…"), "the scan shows while it runs");
    let device = common::wait_for("the camera in the inbox", Duration::from_secs(15), || async {
        app.get_json("/api/discovery").await["devices"].as_array().and_then(|d| d.first().cloned())
    })
    .await;
    assert_eq!(device["status"], "new");
    assert_eq!((&device["manufacturer"], &device["model"]), (&serde_json::Value::Null, &serde_json::Value::Null));
    assert_eq!(device["address"], pair.camera_ip.to_string());
    let listed = page("/discovery".into()).await;
    assert!(listed.contains("HIKVISION DS-2CD2143G0-I") && listed.contains("Adopt"), "{listed}");
    let key: String = url::form_urlencoded::byte_serialize(device["id"].as_str().unwrap().as_bytes()).collect();

    // Ignore and unignore keep it in the list.
    post(format!("/discovery/{key}/ignore"), vec![]).await;
    assert_eq!(app.get_json("/api/discovery").await["devices"][0]["status"], "ignored");
    post(format!("/discovery/{key}/ignore"), vec![]).await;
    assert_eq!(app.get_json("/api/discovery").await["devices"][0]["status"], "new");

    let credentials = page(format!("/discovery/{key}/adopt")).await;
    assert!(credentials.contains(&format!("<p>An ONVIF camera at {}.", pair.camera_ip)), "{credentials}");

    // The wrong password: said so, nothing created.
    let refused =
        post(format!("/discovery/{key}/adopt"), vec![("username", "admin".into()), ("password", "guess".into())]).await;
    assert_eq!(refused.status(), 422);
    let text = refused.text().await.unwrap();
    assert!(text.contains("refused the user name or password") && text.contains("Nothing was created"), "{text}");
    assert_eq!(app.get_json("/api/cameras").await, serde_json::json!([]));

    // The right one: the streams, the sub-stream suggested for detection.
    let accepted = post(
        format!("/discovery/{key}/adopt"),
        vec![("username", "admin".into()), ("password", "cam-pass-123".into())],
    )
    .await;
    assert_eq!(accepted.status(), 303);
    let device = &app.get_json("/api/discovery").await["devices"][0];
    assert_eq!(
        (device["manufacturer"].as_str(), device["model"].as_str()),
        (Some("HIKVISION"), Some("DS-2CD2143G0-I"))
    );
    let choose = accepted.headers()["location"].to_str().unwrap().to_string();
    let streams = page(choose.clone()).await;
    assert!(streams.contains("Main stream · H.264 2560×1440 at 20 fps"), "{streams}");
    assert!(streams.contains("Sub stream · H.264 640×360"), "{streams}");
    assert!(!streams.contains("Channel "), "one channel, no channel numbers: {streams}");
    let id = input_value(&streams, "id");
    assert_eq!(id, "hikvision-ds-2cd2143g0-i", "the id suggested from the camera's name");
    assert!(!streams.contains("JPEG"), "the JPEG stream is not offered");
    assert!(!streams.contains("cam-pass-123"), "the password is not shown back");
    let suggested = checked_value(&streams, "stream");
    let for_recording = streams.split("name=\"record_stream\"").nth(1).expect("a recording choice");
    assert!(for_recording.contains("value=\"none\""), "recording can be refused: {for_recording}");
    let record_stream = checked_value(&streams[streams.find("value=\"none\"").unwrap()..], "record_stream");
    let created = post(
        choose,
        vec![
            ("stream", suggested),
            ("record_stream", record_stream),
            ("record_mode", "events".into()),
            ("id", id.clone()),
            ("name", "Porch".into()),
        ],
    )
    .await;
    assert_eq!(created.status(), 303);
    assert_eq!(created.headers()["location"], format!("/cameras/{id}"));

    let camera = app.get_json(&format!("/api/cameras/{id}")).await;
    assert_eq!(camera["url"], format!("rtsp://***@127.0.0.1:{}/stream?profile=sub&channel=1", rtsp.port));
    // Recording from the suggested main stream; this simulator gives every profile the same URI,
    // so both read one stream (one connection), with the camera's credentials.
    assert_eq!(camera["recording"], "events");
    assert_eq!(camera["record_url"], camera["url"]);
    common::wait_for("the adopted camera is online", Duration::from_secs(30), || async {
        (app.camera_state(&id).await.0 == "online").then_some(())
    })
    .await;
    let device = app.get_json("/api/discovery").await["devices"][0].clone();
    assert_eq!((device["status"].as_str(), device["camera"].as_str()), (Some("adopted"), Some(id.as_str())));
    let listed = page("/discovery".into()).await;
    assert!(listed.contains(&format!("adopted as {id}")) && listed.contains("Adopt another channel"), "{listed}");
    assert!(listed.contains("HIKVISION DS-2CD2143G0-I"), "the make and model read from the camera: {listed}");

    // Another channel (or the same camera again): an id that is not taken is suggested.
    let again = post(
        format!("/discovery/{key}/adopt"),
        vec![("username", "admin".into()), ("password", "cam-pass-123".into())],
    )
    .await;
    let again = page(again.headers()["location"].to_str().unwrap().to_string()).await;
    assert_eq!(input_value(&again, "id"), format!("{id}-2"));

    // A later scan, whose announcement still has no model, keeps the one read from the camera.
    let seen = device["last_seen_ms"].as_i64().unwrap();
    assert_eq!(post("/discovery/scan".into(), vec![]).await.status(), 303);
    let device = common::wait_for("the camera seen again", Duration::from_secs(15), || async {
        let device = app.get_json("/api/discovery").await["devices"][0].clone();
        (device["last_seen_ms"].as_i64().unwrap() > seen).then_some(device)
    })
    .await;
    assert_eq!(
        (device["manufacturer"].as_str(), device["model"].as_str()),
        (Some("HIKVISION"), Some("DS-2CD2143G0-I"))
    );
    for file in ["watchpost.db", "watchpost.db-wal"] {
        let stored = std::fs::read(app.data.path().join(file)).unwrap_or_default();
        assert!(!stored.windows(12).any(|w| w == b"cam-pass-123"), "the password is in clear in {file}");
    }
    app.shutdown().await;
}

#[test]
fn a_camera_that_announces_itself_joins_the_inbox_without_a_scan() {
    if !netns::available_or_skip() {
        return;
    }
    let pair = NetPair::create("h");
    netns::run_in(&pair.watchpost_ns.clone(), async move {
        // Background discovery on: a scan at start-up (nothing answers probes here), then Hellos.
        let app = common::TestApp::start("[discovery]\nprobe_secs = 1\ninterval_minutes = 600\n").await;
        common::wait_for("the start-up scan ends", Duration::from_secs(15), || async {
            let inbox = app.get_json("/api/discovery").await;
            (!inbox["scan"]["last_finished_ms"].is_null()).then_some(())
        })
        .await;
        assert_eq!(app.get_json("/api/discovery").await["devices"], serde_json::json!([]));
        let hello = fixture("axis_hello.xml").replace("192.168.0.90", &pair.camera_ip.to_string());
        let (namespace, address) = (pair.camera_ns.clone(), pair.camera_ip);
        let announcer = std::thread::spawn(move || {
            netns::enter(&namespace);
            std::net::UdpSocket::bind((address, 0)).unwrap()
        })
        .join()
        .unwrap();
        let device = common::wait_for("the announced camera is in the inbox", Duration::from_secs(15), || async {
            // Sent again until heard: the listener may still be joining the group.
            announcer.send_to(hello.as_bytes(), (wsd::GROUP, wsd::PORT)).unwrap();
            app.get_json("/api/discovery").await["devices"].as_array().and_then(|d| d.first().cloned())
        })
        .await;
        assert_eq!(device["model"], "P3245-LVE");
        assert_eq!(device["name"], "AXIS P3245-LVE");
        assert_eq!(device["address"], pair.camera_ip.to_string());
        assert_eq!(device["status"], "new");
        assert_eq!(device["xaddrs"][0], format!("http://{}:80/onvif/device_service", pair.camera_ip));
        app.shutdown().await;
    });
}

#[test]
fn esp32_nodes_are_found_over_mdns_and_absurd_records_make_none() {
    use mdns_sd::{ServiceDaemon, ServiceInfo};
    use std::sync::atomic::{AtomicBool, Ordering};
    use watchpost::discovery::mdns::{ESPHOME, HTTP, WATCHPOST_NODE, browse_nodes};
    if !netns::available_or_skip() {
        return;
    }
    let pair = NetPair::create("m");
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let announcer = std::thread::spawn({
        let (namespace, ip, stop) = (pair.camera_ns.clone(), pair.camera_ip, stop.clone());
        move || {
            netns::enter(&namespace);
            let daemon = ServiceDaemon::new().unwrap();
            let services = [
                // An ESPHome node as it announces itself (and its web server).
                (
                    ESPHOME,
                    "garage-pir",
                    "garage-pir.local.",
                    6053,
                    vec![
                        ("friendly_name", "Garage PIR"),
                        ("mac", "246f28abcdef"),
                        ("version", "2024.6.1"),
                        ("platform", "ESP32"),
                        ("board", "esp32dev"),
                        ("network", "wifi"),
                    ],
                ),
                (HTTP, "garage-pir", "garage-pir.local.", 80, vec![]),
                // Watchpost's own firmware on an ESP32-CAM.
                (
                    WATCHPOST_NODE,
                    "porch-cam",
                    "esp32cam-porch.local.",
                    80,
                    vec![
                        ("kind", "camera"),
                        ("mac", "24:6F:28:11:22:33"),
                        ("fw", "0.3.0"),
                        ("stream", "/stream"),
                        ("snapshot", "/capture"),
                    ],
                ),
                // Absurd: an unknown role, a bad MAC, a stream that is not a path.
                (
                    WATCHPOST_NODE,
                    "junk",
                    "junk.local.",
                    80,
                    vec![("kind", "toaster"), ("mac", "zz"), ("stream", "http://x/")],
                ),
                // A printer's web server is not a node.
                (HTTP, "printer", "printer.local.", 80, vec![]),
            ];
            for (ty, instance, host, port, txt) in services {
                let info = ServiceInfo::new(ty, instance, host, ip.to_string().as_str(), port, &txt[..]).unwrap();
                daemon.register(info).unwrap();
            }
            ready_tx.send(()).unwrap();
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = daemon.shutdown();
        }
    });
    ready_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let namespace = pair.watchpost_ns.clone();
    let nodes = std::thread::spawn(move || {
        netns::enter(&namespace);
        browse_nodes(&[], Duration::from_secs(3)).unwrap()
    })
    .join()
    .unwrap();
    let mut summary: Vec<String> = nodes
        .iter()
        .map(|n| {
            format!(
                "{} {} {:?} {:?} {:?} {:?} {:?} {:?} {:?}",
                n.kind, n.name, n.address, n.mac, n.firmware, n.platform, n.role, n.stream, n.snapshot
            )
        })
        .collect();
    summary.sort();
    let ip = pair.camera_ip;
    assert_eq!(
        summary,
        [
            format!(
                "esphome Garage PIR Some({ip}) Some(\"246f28abcdef\") Some(\"2024.6.1\") Some(\"ESP32\") None None None"
            ),
            format!(
                "watchpost-node porch-cam Some({ip}) Some(\"246f28112233\") Some(\"0.3.0\") None Some(\"camera\") Some(\"/stream\") Some(\"/capture\")"
            ),
        ],
        "the web server of the ESPHome node folds into it; junk and the printer make no node"
    );
    // `watchpost discover --json` lists them too, one JSON object per line, beside ONVIF cameras.
    let mut kinds: Vec<String> =
        discover_json(&pair.watchpost_ns, 3).iter().map(|l| l["kind"].as_str().unwrap().to_string()).collect();
    kinds.sort();
    assert_eq!(kinds, ["esphome", "watchpost-node"]);
    stop.store(true, Ordering::Relaxed);
    announcer.join().unwrap();
}
