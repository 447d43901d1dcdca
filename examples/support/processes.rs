//! Child processes the benchmarks start: killed when dropped, and GStreamer's RTSP test server.

use std::io::BufRead;
use std::process::{Child, ChildStdout, Command, Stdio};

/// A child process, killed and reaped when dropped.
pub struct Process(pub Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `tests/support/rtsp_server.py` serving `clip` at `rtsp://127.0.0.1:PORT/stream` (with `extra`
/// arguments), once it listens; its output after "ready" is left to read.
pub fn rtsp_server(
    clip: &std::path::Path,
    port: u16,
    extra: &[String],
) -> anyhow::Result<(Process, std::io::BufReader<ChildStdout>)> {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/rtsp_server.py");
    let mut child = Command::new("/usr/bin/python3")
        .arg(script)
        .args(extra)
        .arg(port.to_string())
        .arg(clip)
        .stdout(Stdio::piped())
        .spawn()?;
    let mut output = std::io::BufReader::new(child.stdout.take().expect("piped"));
    let mut line = String::new();
    output.read_line(&mut line)?;
    anyhow::ensure!(line.trim() == "ready", "the RTSP server did not start (needs python3-gi and gst-rtsp-server)");
    Ok((Process(child), output))
}

/// A port nobody listens on now.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
