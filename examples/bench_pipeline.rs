//! Benchmark: CPU per camera of the whole Watchpost pipeline next to ffmpeg decoding the same
//! stream alone, measured in the same run.
//!
//! `cargo run --release --example bench_pipeline -- [CAMERAS] [SECONDS] [detect]` (defaults 2, 30)
//!
//! A 720p H.264 clip of a still field with sensor noise (no motion) is built with ffmpeg; with
//! `detect`, a clip where a person walks in, stands and leaves every 14 s, with the object detector
//! on (the model and ONNX Runtime from `scripts/setup.sh`), and the detector's load is printed. First N
//! bare ffmpeg processes decode it with exactly the arguments a camera uses (to 640×360 at 5 fps),
//! their output read and thrown away; then Watchpost runs N file cameras on it for the same time.
//! CPU time comes from getrusage: the children (ffmpeg) and this process (the pipeline, web server
//! and database included). The figure is CPU seconds per camera-second; the goal is a ratio ≤ 1.10.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use watchpost::app::ServeOptions;
use watchpost::camera::settings::CameraConfig;
use watchpost::config::Config;
use watchpost::demo::ClipPlan;

const STILL_720P: ClipPlan = ClipPlan {
    empty_secs: 60,
    walk_secs: 0,
    stand_secs: 0,
    tail_secs: 0,
    width: 1280,
    height: 720,
    fps: 15,
    noise: 6,
    with_person: false,
};

/// A person walks in, stands and walks out every 14 s: detection runs on most frames.
const PERSON_720P: ClipPlan = ClipPlan {
    empty_secs: 4,
    walk_secs: 3,
    stand_secs: 4,
    tail_secs: 3,
    width: 1280,
    height: 720,
    fps: 15,
    noise: 6,
    with_person: true,
};

#[path = "support/cpu.rs"]
mod cpu;
use cpu::cpu_seconds;

fn camera(id: usize, clip: &std::path::Path) -> CameraConfig {
    CameraConfig::new(format!("bench{id}"), "", clip.display().to_string())
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let cameras: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(2);
    let seconds: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(30);
    let detect = args.next().as_deref() == Some("detect");
    let dir = tempfile::tempdir()?;
    let (plan, scene) = if detect { (PERSON_720P, "a person walking by") } else { (STILL_720P, "still, noisy") };
    let clip = watchpost::demo::ensure_clip("ffmpeg", &dir.path().join("clip720p.mp4"), &plan)?;
    let ffmpeg_config = watchpost::camera::settings::FfmpegConfig::default();

    // 1. ffmpeg alone, N processes, the camera's own arguments.
    let before = cpu_seconds(libc::RUSAGE_CHILDREN);
    let started = Instant::now();
    let mut children = Vec::new();
    for id in 0..cameras {
        let camera = camera(id, &clip);
        let frames_only = watchpost::camera::ffmpeg::Outputs { frames: true, copy_fd: None };
        let mut child = Command::new("ffmpeg")
            .args(watchpost::camera::ffmpeg::build_args(&camera, &ffmpeg_config, &camera.url, frames_only).args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let mut stdout = child.stdout.take().expect("piped");
        let reader = std::thread::spawn(move || {
            let mut buf = vec![0u8; 1 << 20];
            let mut total = 0usize;
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                total += n;
            }
            total
        });
        children.push((child, reader));
    }
    std::thread::sleep(Duration::from_secs(seconds));
    let mut bytes = 0;
    for (mut child, reader) in children {
        child.kill()?;
        child.wait()?;
        bytes += reader.join().expect("reader");
    }
    let baseline_wall = started.elapsed().as_secs_f64();
    let baseline_cpu = cpu_seconds(libc::RUSAGE_CHILDREN) - before;
    let frames_alone = bytes / watchpost::media::Frame::byte_len(640, 360);

    // 2. Watchpost with N file cameras on the same clip.
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let data = tempfile::tempdir()?;
    let mut config = Config::default();
    config.server.bind = "127.0.0.1:0".into();
    config.detector.enabled = detect;
    config.discovery.interval_minutes = 0;
    config.discovery.node_scan_secs = 0;
    config.cameras = (0..cameras).map(|id| camera(id, &clip)).collect();
    let children_before = cpu_seconds(libc::RUSAGE_CHILDREN);
    let self_before = cpu_seconds(libc::RUSAGE_SELF);
    let started = Instant::now();
    let (frames, events, detector) = runtime.block_on(async {
        let app = watchpost::app::start(ServeOptions {
            config,
            config_file: None,
            data_dir: data.path().to_path_buf(),
            demo: false,
            clock: watchpost::clock::system(),
        })
        .await?;
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        let frames: u64 = app.state.cameras.list().iter().map(|c| c.figures().frames).sum();
        let events = app.state.db.count_events(None).await?;
        let detector = app.state.cameras.detector_figures();
        anyhow::ensure!(!detect || detector.is_some(), "the detector did not start: {:?}", app.state.detector.error);
        app.shutdown().await;
        anyhow::Ok((frames, events, detector))
    })?;
    let wall = started.elapsed().as_secs_f64();
    let ffmpeg_cpu = cpu_seconds(libc::RUSAGE_CHILDREN) - children_before;
    let pipeline_cpu = cpu_seconds(libc::RUSAGE_SELF) - self_before;
    let watchpost_cpu = ffmpeg_cpu + pipeline_cpu;

    let per_camera_second = |cpu: f64, wall: f64| cpu / (cameras as f64 * wall);
    let alone = per_camera_second(baseline_cpu, baseline_wall);
    let with_pipeline = per_camera_second(watchpost_cpu, wall);
    println!("{cameras} camera(s), {seconds} s, 1280x720 15 fps H.264 ({scene}) -> 640x360 yuv420p at 5 fps");
    println!("  ffmpeg alone      {alone:.4} CPU-s per camera-second ({frames_alone} frames)");
    println!(
        "  watchpost         {with_pipeline:.4} CPU-s per camera-second ({frames} frames, {events} events): ffmpeg {:.4} + pipeline {:.4}",
        per_camera_second(ffmpeg_cpu, wall),
        per_camera_second(pipeline_cpu, wall)
    );
    if let Some(figures) = detector {
        println!(
            "  detector          {} runs ({:.1}/s), {:.1} ms per run, {} objects ({:.1}/s), {} requests dropped",
            figures.runs,
            figures.runs as f64 / wall,
            figures.ms_per_run().unwrap_or(0.0),
            figures.detections,
            figures.detections as f64 / wall,
            figures.dropped
        );
        println!("  ratio             {:.3} (detection included)", with_pipeline / alone);
    } else {
        println!("  ratio             {:.3} (goal: at most 1.10)", with_pipeline / alone);
    }
    Ok(())
}
