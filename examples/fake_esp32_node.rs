//! A fake ESP32 node for demos: it announces itself over mDNS like a real node and serves what a
//! real one serves over HTTP, so Watchpost's node discovery, sensor following and camera adoption
//! can be tried without hardware. The tests use the same code (`tests/common/esp32.rs`).
//!
//! `cargo run --example fake_esp32_node -- --address 10.0.0.5 [options]`
//!
//! - `--firmware esphome` (default): announces `_esphomelib._tcp` (TXT friendly_name, mac,
//!   version, platform, board, network) and its web server as `_http._tcp`, like an ESPHome node
//!   with `web_server:`; `/events` is ESPHome's Server-Sent Events stream with a PIR binary sensor
//!   that toggles every `--pir-every-ms` (default 1000) and a temperature sensor.
//! - `--firmware watchpost`: announces `_watchpost._tcp` (TXT kind=camera, mac, fw, stream,
//!   snapshot), like `integrations/esp32/watchpost_cam/watchpost_cam.ino` on an ESP32-CAM.
//!
//! Both serve `/stream` (MJPEG, about 5 frames a second), `/capture` (one JPEG) and `/`. The
//! picture is the demo photograph, or `--jpeg FILE`. `--name`, `--mac` and `--port` (default: a
//! free one) set the rest. mDNS runs only on the interface that holds `--address`; run it inside a
//! network namespace (`ip netns exec …`) to keep it off a real network. It prints `ready <url>`
//! once it answers and runs until stopped.

#[allow(dead_code)]
#[path = "../tests/common/esp32.rs"]
mod esp32;

use esp32::{FakeNode, NodeOptions};
use std::time::Duration;

fn options() -> anyhow::Result<NodeOptions> {
    let mut args = std::env::args().skip(1);
    let mut address = None;
    let mut options = NodeOptions::esphome([127, 0, 0, 1].into());
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| anyhow::anyhow!("{flag} needs a value"));
        match flag.as_str() {
            "--address" => address = Some(value()?.parse()?),
            "--name" => options.name = value()?,
            "--mac" => options.mac = value()?,
            "--firmware" => options.firmware = value()?,
            "--port" => options.port = value()?.parse()?,
            "--pir-every-ms" => options.pir_every = Duration::from_millis(value()?.parse()?),
            "--jpeg" => options.jpeg = std::fs::read(value()?)?,
            other => anyhow::bail!("unknown option {other}; see the header of examples/fake_esp32_node.rs"),
        }
    }
    options.address = address.ok_or_else(|| anyhow::anyhow!("--address IP is required (the node's LAN address)"))?;
    anyhow::ensure!(
        options.firmware == "esphome" || options.firmware == "watchpost",
        "--firmware is esphome or watchpost"
    );
    Ok(options)
}

fn main() -> anyhow::Result<()> {
    let options = options()?;
    let (address, firmware) = (options.address, options.firmware.clone());
    let node = FakeNode::start(options)?;
    println!("ready http://{address}:{}/ ({firmware} firmware, MAC {})", node.port, node.mac);
    loop {
        std::thread::park();
    }
}
