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

/// Namespaces need root; CI runs as root and must not skip.
fn namespaces_or_skip() -> bool {
    match netns::unavailable() {
        None => true,
        Some(why) if std::env::var_os("CI").is_some() => panic!("{why}"),
        Some(why) => {
            eprintln!("skipped: {why}");
            false
        }
    }
}

#[test]
fn a_scan_over_real_multicast_finds_the_camera_in_the_other_namespace() {
    if !namespaces_or_skip() {
        return;
    }
    let pair = NetPair::create("d");
    let camera = FakeCamera::start(&pair.camera_ns, pair.camera_ip, &fixture("hikvision_probe_match.xml"));
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
    let output = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &pair.watchpost_ns,
            env!("CARGO_BIN_EXE_watchpost"),
            "discover",
            "--json",
            "--timeout",
            "2",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let lines: Vec<serde_json::Value> =
        String::from_utf8_lossy(&output.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
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
