//! A fake ONVIF camera for demos: it answers WS-Discovery probes (as a Hikvision camera does) and
//! the SOAP calls Watchpost makes to adopt it — GetSystemDateAndTime, GetDeviceInformation,
//! GetCapabilities, GetProfiles, GetStreamUri — checking the WS-UsernameToken digest against its
//! password and its own clock. The tests use the same code (`tests/common/onvif.rs`).
//!
//! `cargo run --example fake_onvif_camera -- --address 10.0.0.5 --stream rtsp://10.0.0.1:8554/stream [options]`
//!
//! - `--address IP`: where it listens for probes (joining 239.255.255.250:3702 on that address's
//!   interface) and serves SOAP. Run it inside a network namespace (`ip netns exec …`) to keep
//!   its multicast off a real network.
//! - `--stream URL`: what GetStreamUri answers (a stream you serve, e.g. the RTSP server of
//!   `tests/support/rtsp_server.py`); by default the fixture's `rtsp://<address>:554/…`.
//! - `--username` / `--password` (default `admin` / `admin123`), `--port` (default 8000),
//!   `--clock-skew-s` (the camera's clock ahead of yours, default 0), `--profiles FIXTURE`
//!   (a file in `tests/fixtures/onvif`, default `hikvision_get_profiles.xml`; try
//!   `dahua_nvr_get_profiles.xml` for an NVR with two channels).

#[allow(dead_code)]
#[path = "../tests/common/netns.rs"]
mod netns;
#[allow(dead_code)]
#[path = "../tests/common/onvif.rs"]
mod onvif;

use onvif::{FakeCamera, FakeSoapCamera, SoapSettings};
use std::net::Ipv4Addr;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut address: Option<Ipv4Addr> = None;
    let mut port = 8000;
    let mut settings = SoapSettings {
        username: "admin".into(),
        password: "admin123".into(),
        clock_skew_s: 0,
        profiles: "hikvision_get_profiles.xml".into(),
        stream_uri: None,
        html: false,
    };
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| anyhow::anyhow!("{flag} needs a value"));
        match flag.as_str() {
            "--address" => address = Some(value()?.parse()?),
            "--port" => port = value()?.parse()?,
            "--stream" => settings.stream_uri = Some(value()?),
            "--username" => settings.username = value()?,
            "--password" => settings.password = value()?,
            "--clock-skew-s" => settings.clock_skew_s = value()?.parse()?,
            "--profiles" => settings.profiles = value()?,
            other => anyhow::bail!("unknown option {other}; see the header of examples/fake_onvif_camera.rs"),
        }
    }
    let address = address.ok_or_else(|| anyhow::anyhow!("--address IPv4 is required (the camera's LAN address)"))?;
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/onvif");
    anyhow::ensure!(
        fixtures.join(&settings.profiles).exists(),
        "no fixture {} in {}",
        settings.profiles,
        fixtures.display()
    );
    let soap = FakeSoapCamera::start_on(address, port, settings);
    let reply = std::fs::read_to_string(fixtures.join("hikvision_probe_match.xml"))?
        .replace("http://192.168.1.64/", &format!("http://{address}:{}/", soap.port));
    let _discovery = FakeCamera::start(address, &reply);
    println!("ready {}", soap.device_url());
    loop {
        std::thread::park();
    }
}
