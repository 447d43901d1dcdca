//! Benchmark: CPU per camera of the whole Watchpost pipeline next to ffmpeg decoding the same
//! stream alone, measured in the same run.
//!
//! `cargo run --release --example bench_pipeline -- [CAMERAS] [SECONDS] [detect | busy=N] [threads=N]`
//! (defaults 2, 30)
//!
//! A 720p H.264 clip of a still field with sensor noise (no motion) is built with ffmpeg; with
//! `detect`, a clip where a person walks in, stands and leaves every 14 s, with the object detector
//! on (the model and ONNX Runtime from `scripts/setup.sh`), and the detector's load is printed; with
//! `busy=N`, N of the cameras get the person clip and the rest the still one, detector on (the
//! scale test: 24 idle and 8 busy is `32 60 busy=8`); `threads=N` sets `[detector] threads`. First the
//! bare ffmpeg processes decode the clips with exactly the arguments a camera uses (to 640×360 at 5 fps),
//! their output read and thrown away; then Watchpost runs the same file cameras for the same time.
//! CPU time comes from getrusage: the children (ffmpeg) and this process (the pipeline, web server
//! and database included). The figure is CPU seconds per camera-second; the goal is a ratio ≤ 1.10.
//! Frames dropped (the pipeline fell behind) and detector requests dropped are counted; memory is
//! read near the end: this process's resident memory (Watchpost, with the benchmark's own, read
//! before Watchpost started, printed beside it) and each ffmpeg's proportional memory (PSS).

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
#[path = "support/memory.rs"]
mod memory;
use cpu::cpu_seconds;

fn camera(id: usize, clip: &std::path::Path) -> CameraConfig {
    CameraConfig::new(format!("bench{id}"), "", clip.display().to_string())
}

/// Which clip each camera reads: the busy ones first.
fn clip_of(id: usize, busy: usize, person: &std::path::Path, still: &std::path::Path) -> std::path::PathBuf {
    if id < busy { person.to_path_buf() } else { still.to_path_buf() }
}

// The process allocates as Watchpost's own binary does (src/main.rs, src/heap.rs);
// `MALLOC_ARENA_MAX=16` (glibc's default here) measures without glibc's arena cap.
#[global_allocator]
static ALLOCATOR: watchpost::heap::Allocator = watchpost::heap::Allocator;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let cameras: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(2);
    let seconds: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(30);
    let mode = args.next().unwrap_or_default();
    let busy: usize = match mode.as_str() {
        "detect" => cameras,
        "" => 0,
        other => other
            .strip_prefix("busy=")
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| anyhow::anyhow!("the third argument is `detect` or `busy=N`, not {other:?}"))?,
    };
    let detector_threads: u32 = args
        .next()
        .map(|arg| {
            arg.strip_prefix("threads=")
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| anyhow::anyhow!("the fourth argument is `threads=N`, not {arg:?}"))
        })
        .transpose()?
        .unwrap_or(watchpost::detect::DetectorConfig::default().threads);
    anyhow::ensure!(busy <= cameras, "busy={busy} is more than the {cameras} cameras");
    let detect = busy > 0;
    let dir = tempfile::tempdir()?;
    let scene = match busy {
        0 => "still, noisy".to_string(),
        b if b == cameras => "a person walking by".to_string(),
        b => format!("{b} with a person walking by, {} still", cameras - b),
    };
    let still = watchpost::demo::ensure_clip("ffmpeg", &dir.path().join("still720p.mp4"), &STILL_720P)?;
    let person = if detect {
        watchpost::demo::ensure_clip("ffmpeg", &dir.path().join("person720p.mp4"), &PERSON_720P)?
    } else {
        still.clone()
    };
    let ffmpeg_config = watchpost::camera::settings::FfmpegConfig::default();

    // 1. ffmpeg alone, N processes, the camera's own arguments.
    let before = cpu_seconds(libc::RUSAGE_CHILDREN);
    let started = Instant::now();
    let mut children = Vec::new();
    for id in 0..cameras {
        let camera = camera(id, &clip_of(id, busy, &person, &still));
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
    let ffmpeg_alone_pss: f64 = memory::children_named("ffmpeg").iter().map(|pid| memory::pss_mib(pid)).sum();
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
    config.detector.threads = detector_threads;
    config.discovery.interval_minutes = 0;
    config.discovery.node_scan_secs = 0;
    config.cameras = (0..cameras).map(|id| camera(id, &clip_of(id, busy, &person, &still))).collect();
    let harness_rss = memory::rss_mib("self");
    let children_before = cpu_seconds(libc::RUSAGE_CHILDREN);
    let self_before = cpu_seconds(libc::RUSAGE_SELF);
    let started = Instant::now();
    let (frames, dropped, events, detector, rss, pss) = runtime.block_on(async {
        let app = watchpost::app::start(ServeOptions {
            config,
            config_file: None,
            data_dir: data.path().to_path_buf(),
            demo: false,
            clock: watchpost::clock::system(),
        })
        .await?;
        tokio::time::sleep(Duration::from_secs(seconds.saturating_sub(2))).await;
        let rss = memory::rss_mib("self");
        let pss: Vec<f64> = memory::children_named("ffmpeg").iter().map(|pid| memory::pss_mib(pid)).collect();
        tokio::time::sleep(Duration::from_secs(seconds.min(2))).await;
        let figures: Vec<_> = app.state.cameras.list().iter().map(|c| c.figures()).collect();
        let frames: u64 = figures.iter().map(|f| f.frames).sum();
        let dropped: u64 = figures.iter().map(|f| f.frames_dropped).sum();
        let events = app.state.db.count_events(None).await?;
        let detector = app.state.cameras.detector_figures();
        anyhow::ensure!(!detect || detector.is_some(), "the detector did not start: {:?}", app.state.detector.error);
        app.shutdown().await;
        anyhow::Ok((frames, dropped, events, detector, rss, pss))
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
    println!("  frames dropped    {dropped} (the pipeline fell behind)");
    let ffmpeg_pss: f64 = pss.iter().sum();
    println!(
        "  memory            watchpost {rss:.1} MiB resident (the benchmark itself {harness_rss:.1} MiB before it started); \
         {} ffmpeg: {ffmpeg_pss:.1} MiB PSS, {:.1} MiB each (alone: {:.1} MiB each)",
        pss.len(),
        ffmpeg_pss / pss.len().max(1) as f64,
        ffmpeg_alone_pss / cameras as f64
    );
    if let Some(figures) = detector {
        println!(
            "  detector          {detector_threads} thread(s): {} runs ({:.1}/s), {:.1} ms per run, {} objects ({:.1}/s), {} requests dropped, {} rechecks put off",
            figures.runs,
            figures.runs as f64 / wall,
            figures.ms_per_run().unwrap_or(0.0),
            figures.detections,
            figures.detections as f64 / wall,
            figures.dropped,
            figures.postponed
        );
        println!("  ratio             {:.3} (detection included)", with_pipeline / alone);
    } else {
        println!("  ratio             {:.3} (goal: at most 1.10)", with_pipeline / alone);
    }
    Ok(())
}
