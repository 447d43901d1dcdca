//! Child processes the benchmarks start: killed when dropped, and GStreamer's RTSP test server.

use std::process::{Child, Command, Stdio};

/// A child process, killed and reaped when dropped.
pub struct Process(pub Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `tests/support/rtsp_server.py` serving `clip` at `rtsp://127.0.0.1:PORT/stream`, once it listens.
pub fn rtsp_server(clip: &std::path::Path, port: u16) -> anyhow::Result<Process> {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/rtsp_server.py");
    let mut child =
        Command::new("/usr/bin/python3").arg(script).arg(port.to_string()).arg(clip).stdout(Stdio::piped()).spawn()?;
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().expect("piped")), &mut line)?;
    anyhow::ensure!(line.trim() == "ready", "the RTSP server did not start (needs python3-gi and gst-rtsp-server)");
    Ok(Process(child))
}
