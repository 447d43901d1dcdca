//! Benchmark: the live view. Glass-to-glass delay read in a real browser, and the CPU one more
//! viewer costs, next to the cost of no viewer measured in the same run.
//!
//! `cargo run --release --example bench_live -- [SECONDS]` (default 20; needs what
//! `scripts/setup.sh --test` installs: Chromium, playwright-core, GStreamer's RTSP server)
//!
//! 1. Delay: ffmpeg is the camera: it draws the wall-clock time (milliseconds, as 24 boxes) into
//!    each 1280×720 frame as it makes it, encodes it (x264, zero latency, no B-frames, a key frame
//!    every 2 s as cameras do) and writes it as MPEG-TS into a named pipe Watchpost reads as the
//!    camera (a live source without a network: RTSP's own transport time is not in the figure). Watchpost reads it (detection
//!    on), and headless Chromium plays the camera page's live video; for each frame shown, the
//!    time in the picture is compared with the time it is shown (`tests/browser/live_delay.mjs`).
//! 2. CPU per viewer: GStreamer's RTSP test server serves a 1920×1080 15 fps H.264 clip;
//!    Watchpost's CPU (getrusage of this process: the web server, the fragment reader, the feeds;
//!    not ffmpeg's, which is the same with or without viewers) for SECONDS with no viewer, then
//!    with 10 viewers of `live.mp4` (curl processes, whose own CPU is not counted).

use std::process::{Command, Stdio};
use std::time::Duration;
use watchpost::app::{ServeOptions, start};
use watchpost::demo::ClipPlan;

#[path = "support/cpu.rs"]
mod cpu;
#[path = "support/processes.rs"]
mod processes;
use cpu::cpu_seconds;
use processes::{Process, free_port, rtsp_server};

const CLIP_1080P: ClipPlan = ClipPlan {
    empty_secs: 3,
    walk_secs: 3,
    stand_secs: 4,
    tail_secs: 90,
    width: 1920,
    height: 1080,
    fps: 15,
    noise: 6,
    with_person: true,
};

const PASSWORD: &str = "benchmark password";

/// ffmpeg as the camera: frames carrying the wall-clock time they were made, as MPEG-TS into a
/// named pipe that Watchpost reads as the camera's source.
fn clock_camera(fifo: &std::path::Path) -> anyhow::Result<Process> {
    let made = Command::new("mkfifo").arg(fifo).status()?;
    anyhow::ensure!(made.success(), "mkfifo {} failed", fifo.display());
    let bits: Vec<String> = (0..24)
        .map(|k| {
            format!(
                "drawbox=x={}:y=40:w=40:h=40:color=white:t=fill:enable='eq(mod(floor(time(0)*1000/pow(2,{k})),2),1)'",
                40 + 48 * k
            )
        })
        .collect();
    let child = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i"])
        .arg("testsrc2=size=1280x720:rate=25")
        .args(["-vf", &format!("drawbox=x=0:y=0:w=1280:h=120:color=black:t=fill,{}", bits.join(","))])
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-bf", "0", "-g", "50"])
        .args(["-b:v", "3M", "-f", "mpegts", "-flush_packets", "1", "-y"])
        .arg(fifo)
        .stdin(Stdio::null())
        .spawn()?;
    Ok(Process(child))
}

/// Watchpost with one camera reading `url`, and an administrator for the browser.
async fn watchpost(url: &str, detector: bool, dir: &std::path::Path) -> anyhow::Result<watchpost::app::RunningApp> {
    let text = format!(
        "[server]\nbind = \"127.0.0.1:0\"\n[detector]\nenabled = {detector}\n[discovery]\ninterval_minutes = 0\n\
         node_scan_secs = 0\n[[cameras]]\nid = \"bench\"\nurl = \"{url}\"\n"
    );
    let env = watchpost::config::Environment { vars: Vec::new(), secrets_dir: "/nonexistent".into() };
    let mut config = watchpost::config::parse(&text, &env).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    if detector {
        config.detector.model = std::env::var("WATCHPOST_MODELS_DIR")
            .map(|dir| std::path::Path::new(&dir).join("yolox_nano.onnx"))
            .unwrap_or(config.detector.model);
    }
    let app = start(ServeOptions {
        config,
        config_file: None,
        data_dir: dir.to_path_buf(),
        demo: false,
        clock: watchpost::clock::system(),
    })
    .await?;
    app.state.auth.create_user("admin", watchpost::model::Role::Admin, PASSWORD, &[]).await?;
    for _ in 0..300 {
        if app.state.cameras.get("bench").is_some_and(|c| c.status().state == watchpost::model::CameraState::Online) {
            return Ok(app);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("the camera did not come online")
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let seconds: u64 = std::env::args().nth(1).map(|s| s.parse()).transpose()?.unwrap_or(20);
    let browser_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");

    // 1. Glass to glass.
    let dir = tempfile::tempdir()?;
    let fifo = dir.path().join("clock.ts");
    let camera = clock_camera(&fifo)?;
    let app = watchpost(&fifo.display().to_string(), true, dir.path()).await?;
    let output = Command::new("node")
        .arg(browser_dir.join("live_delay.mjs"))
        .args([&format!("http://{}", app.addr), "admin", PASSWORD, "bench", &seconds.to_string()])
        .output()?;
    anyhow::ensure!(output.status.success(), "the browser failed: {}", String::from_utf8_lossy(&output.stderr));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    let mut delays: Vec<f64> =
        json["delays"].as_array().map(|d| d.iter().filter_map(|v| v.as_f64()).collect()).unwrap_or_default();
    anyhow::ensure!(!delays.is_empty(), "no frame was read in the browser");
    delays.sort_by(f64::total_cmp);
    println!(
        "glass-to-glass (1280x720 25 fps, detection on, {} frames shown): p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms \
         (goal p50 < 1000, p95 < 1500)",
        delays.len(),
        percentile(&delays, 0.5),
        percentile(&delays, 0.95),
        delays[delays.len() - 1]
    );
    app.shutdown().await;
    drop(camera);

    // 2. CPU per viewer of a 1080p stream.
    let clip_dir = tempfile::tempdir()?;
    let clip = watchpost::demo::ensure_clip("ffmpeg", &clip_dir.path().join("1080p.mp4"), &CLIP_1080P)?;
    let port = free_port()?;
    let (_server, _) = rtsp_server(&clip, port, &[])?;
    let dir = tempfile::tempdir()?;
    let app = watchpost(&format!("rtsp://127.0.0.1:{port}/stream"), false, dir.path()).await?;
    let token = app.state.auth.create_token(1, "bench", None).await?.jwt;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = cpu_seconds(libc::RUSAGE_SELF);
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let alone = cpu_seconds(libc::RUSAGE_SELF) - before;
    let url = format!("http://{}/api/cameras/bench/live.mp4", app.addr);
    let viewers: Vec<Process> = (0..10)
        .map(|_| {
            Command::new("curl")
                .args(["-s", "-o", "/dev/null", "-H", &format!("Authorization: Bearer {token}"), &url])
                .spawn()
                .map(Process)
        })
        .collect::<Result<_, _>>()?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = cpu_seconds(libc::RUSAGE_SELF);
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let watched = cpu_seconds(libc::RUSAGE_SELF) - before;
    drop(viewers);
    let per_viewer = (watched - alone) / seconds as f64 / 10.0 * 100.0;
    println!(
        "CPU, 1920x1080 15 fps: Watchpost alone {:.1} % of a core, with 10 live viewers {:.1} %; \
         {per_viewer:.2} % of a core per viewer (goal < 1 %)",
        alone / seconds as f64 * 100.0,
        watched / seconds as f64 * 100.0,
    );
    app.shutdown().await;
    Ok(())
}
