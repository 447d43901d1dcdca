//! A private mosquitto for the benchmarks that measure what reaches Home Assistant.

use super::processes::Process;
use std::process::{Command, Stdio};

/// A mosquitto of its own on 127.0.0.1:`port`, anonymous, nothing kept, once it listens.
pub fn mosquitto(dir: &std::path::Path, port: u16) -> anyhow::Result<Process> {
    let conf = dir.join("mosquitto.conf");
    std::fs::write(&conf, format!("listener {port} 127.0.0.1\nallow_anonymous true\nuser root\n"))?;
    let child =
        Process(Command::new("mosquitto").arg("-c").arg(&conf).stdout(Stdio::null()).stderr(Stdio::null()).spawn()?);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        anyhow::ensure!(std::time::Instant::now() < deadline, "mosquitto did not listen on {port}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Ok(child)
}
