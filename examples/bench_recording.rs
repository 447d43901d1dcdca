//! Benchmark: the recording path against a bare `ffmpeg -c copy` of the same stream, the time to
//! make an event clip and an hour's export, and the timeline query on a large index; each next to
//! its baseline or goal, measured in the same run.
//!
//! `cargo run --release --example bench_recording -- [SECONDS] [NOISE]` (defaults 30 and 6; more
//! noise is a higher bit rate, like a camera's main stream at night)
//!
//! 1. CPU: GStreamer's RTSP test server (`tests/support/rtsp_server.py`) serves a 1280×720 15 fps
//!    H.264 clip. First ffmpeg alone copies it into 10 s MP4 files with its segment muxer (the
//!    least a recorder can do); then Watchpost's recording path for the same time: the camera's
//!    ffmpeg with the copy output only, the fragment reader and the recorder writing and indexing
//!    files in SQLite. CPU from getrusage (children for ffmpeg, self for Watchpost's share).
//! 2. Clips: an hour of index rows is made from the recorded files (copies with consecutive
//!    times); the time to join a 1-minute clip and a 1-hour export with `recording::clips`.
//! 3. Timeline: 30 days × 10 cameras of 10 s files indexed (2.6 M rows); the query for one
//!    camera-day (8 640 rows) and joining them into spans, median of 20.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use watchpost::camera::ffmpeg::{CopySink, FfmpegRun};
use watchpost::camera::settings::{CameraConfig, FfmpegConfig};
use watchpost::demo::ClipPlan;
use watchpost::recording::settings::{RecordConfig, RecordMode};
use watchpost::recording::{Recordings, SpaceLimits};

const CLIP_720P: ClipPlan = ClipPlan {
    empty_secs: 3,
    walk_secs: 3,
    stand_secs: 4,
    tail_secs: 120,
    width: 1280,
    height: 720,
    fps: 15,
    noise: 6,
    with_person: true,
};

#[path = "support/cpu.rs"]
mod cpu;
#[path = "support/processes.rs"]
mod processes;
use cpu::cpu_seconds;
use processes::{free_port, rtsp_server};

fn directory_bytes(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        total += if path.is_dir() { directory_bytes(&path) } else { entry.metadata().map_or(0, |m| m.len()) };
    }
    total
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let seconds: u64 = std::env::args().nth(1).map(|s| s.parse()).transpose()?.unwrap_or(30);
    let noise: u8 = std::env::args().nth(2).map(|s| s.parse()).transpose()?.unwrap_or(6);
    let work = std::env::temp_dir().join(format!("bench-recording-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let clip = watchpost::demo::ensure_clip("ffmpeg", &work.join("clip.mp4"), &ClipPlan { noise, ..CLIP_720P })?;
    let port = free_port()?;
    let (_server, _) = rtsp_server(&clip, port, &[])?;
    let url = format!("rtsp://127.0.0.1:{port}/stream");

    // 1a. ffmpeg alone: copy into 10 s files.
    let bare_dir = work.join("bare");
    std::fs::create_dir_all(&bare_dir)?;
    let before = cpu_seconds(libc::RUSAGE_CHILDREN);
    let started = Instant::now();
    let mut bare = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-rtsp_transport", "tcp", "-i", &url])
        .args(["-map", "0:v:0", "-c:v", "copy", "-f", "segment", "-segment_time", "10"])
        .args(["-segment_format", "mp4", "-reset_timestamps", "1"])
        .arg(bare_dir.join("%05d.mp4"))
        .stdin(Stdio::null())
        .spawn()?;
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    // SAFETY: kill(2) on our own child's pid only sends it a signal; SIGINT lets it close its file.
    unsafe { libc::kill(bare.id() as i32, libc::SIGINT) };
    bare.wait()?;
    let bare_wall = started.elapsed().as_secs_f64();
    let bare_cpu = cpu_seconds(libc::RUSAGE_CHILDREN) - before;
    let bare_bytes = directory_bytes(&bare_dir);

    // 1b. Watchpost's recording path: ffmpeg's copy output, the fragment reader, the recorder.
    let db = watchpost::db::Db::connect(&format!("sqlite://{}/w.db?mode=rwc", work.display())).await?;
    let store = Recordings::new(work.join("recordings"), db.clone(), SpaceLimits::from_gb(0.0, 0.0));
    let mut camera = CameraConfig::new("bench", "", url.clone());
    camera.record = RecordConfig { mode: RecordMode::Continuous, ..RecordConfig::default() };
    let (sender, receiver) = tokio::sync::mpsc::channel(512);
    let sink = CopySink { feed: watchpost::live::LiveFeed::new(), recorder: Some(sender), counters: Arc::default() };
    let cancel = tokio_util::sync::CancellationToken::new();
    let writer = tokio::spawn(watchpost::recording::writer::run(
        "bench".into(),
        camera.record.clone(),
        store.clone(),
        receiver,
        || true,
        cancel.clone(),
    ));
    let (self_before, children_before) = (cpu_seconds(libc::RUSAGE_SELF), cpu_seconds(libc::RUSAGE_CHILDREN));
    let started = Instant::now();
    let run = FfmpegRun::spawn(&camera, &FfmpegConfig::default(), &url, None, Some(sink.clone()))
        .map_err(anyhow::Error::msg)?;
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    run.kill();
    run.finished().await;
    cancel.cancel();
    writer.await?;
    let ours_wall = started.elapsed().as_secs_f64();
    let ours_self = cpu_seconds(libc::RUSAGE_SELF) - self_before;
    let ours_children = cpu_seconds(libc::RUSAGE_CHILDREN) - children_before;
    let segments = db.segments_between("bench", 0, i64::MAX).await?;
    let dropped = sink.counters.dropped.load(std::sync::atomic::Ordering::Relaxed);
    let (bare_rate, ours_rate) = (bare_cpu / bare_wall, (ours_self + ours_children) / ours_wall);
    println!("1. recording 1280×720 15 fps for {seconds} s");
    println!("   ffmpeg alone (-c copy, segment muxer): {bare_rate:.4} CPU-s per s, {} MB", bare_bytes / 1_000_000);
    println!(
        "   Watchpost: {ours_rate:.4} CPU-s per s (ffmpeg {:.4} + reader and recorder {:.4}), {} files, {} MB, {dropped} fragments dropped",
        ours_children / ours_wall,
        ours_self / ours_wall,
        segments.len(),
        segments.iter().map(|s| s.bytes).sum::<i64>() / 1_000_000
    );
    println!("   ratio {:.3} (goal ≤ 1.05)", ours_rate / bare_rate);

    // 2. An hour of files from the recorded ones, then a 1-minute clip and the hour's export.
    let whole: Vec<_> = segments.iter().filter(|s| s.end_ms - s.start_ms >= 9_000).cloned().collect();
    anyhow::ensure!(!whole.is_empty(), "nothing was recorded");
    let start = 1_796_000_000_000i64;
    let mut at = start;
    let mut index = 0;
    while at < start + 3_600_000 {
        let source = &whole[index % whole.len()];
        let path = format!("hour/day/{at}.mp4");
        let target = store.dir().join(&path);
        std::fs::create_dir_all(target.parent().expect("a folder"))?;
        std::fs::copy(store.dir().join(&source.path), &target)?;
        let length = source.end_ms - source.start_ms;
        db.add_segment(&watchpost::db::NewSegment {
            camera_id: "hour".into(),
            start_ms: at,
            end_ms: at + length,
            bytes: source.bytes,
            path,
            codec: source.codec.clone(),
            width: source.width,
            height: source.height,
        })
        .await?;
        at += length;
        index += 1;
    }
    let ffmpeg = "ffmpeg";
    let timed = |from: i64, to: i64| {
        let store = store.clone();
        async move {
            let started = Instant::now();
            let clip = watchpost::recording::clips::assemble(&store, ffmpeg, "hour", from, to).await?;
            let bytes = clip.map_or(0, |c| std::fs::metadata(c).map_or(0, |m| m.len()));
            anyhow::Ok((started.elapsed().as_secs_f64(), bytes))
        }
    };
    let (minute, minute_bytes) = timed(start + 600_000, start + 660_000).await?;
    let (hour, hour_bytes) = timed(start, start + 3_600_000).await?;
    let (again, _) = timed(start, start + 3_600_000).await?;
    println!("2. clips ({index} files of the hour)");
    println!("   1-minute clip: {minute:.3} s ({} MB) (goal < 1 s)", minute_bytes / 1_000_000);
    println!(
        "   1-hour export: {hour:.2} s ({} MB) (goal < 10 s); asked again (made already): {again:.3} s",
        hour_bytes / 1_000_000
    );

    // 3. The timeline query with 30 days × 10 cameras indexed.
    let timeline_db = watchpost::db::Db::connect(&format!("sqlite://{}/t.db?mode=rwc", work.display())).await?;
    let filled = Instant::now();
    {
        use sea_orm::ConnectionTrait;
        let conn = sea_orm::Database::connect(format!("sqlite://{}/t.db", work.display())).await?;
        conn.execute_unprepared("BEGIN").await?;
        for camera in 0..10 {
            let mut rows = Vec::with_capacity(1000);
            for n in 0..(30 * 8640) {
                let begin = start - 30 * 86_400_000 + n * 10_000;
                rows.push(format!(
                    "('cam{camera}', {begin}, {}, 1500000, 'cam{camera}/d/{begin}.mp4', 'avc1.640028', 1920, 1080)",
                    begin + 10_000
                ));
                if rows.len() == 1000 {
                    conn.execute_unprepared(&format!(
                        "INSERT INTO recording_segments (camera_id, start_ms, end_ms, bytes, path, codec, width, height) VALUES {}",
                        rows.join(",")
                    ))
                    .await?;
                    rows.clear();
                }
            }
        }
        conn.execute_unprepared("COMMIT").await?;
        conn.close().await?;
    }
    let fill_secs = filled.elapsed().as_secs_f64();
    let day_start = start - 10 * 86_400_000;
    let mut times = Vec::new();
    let mut rows = 0;
    for _ in 0..20 {
        let started = Instant::now();
        let day = timeline_db.segment_times("cam3", day_start, day_start + 86_400_000).await?;
        let mut spans = 0;
        let mut last_end = i64::MIN;
        for &(start_ms, end_ms) in &day {
            if start_ms - last_end > 1_500 {
                spans += 1;
            }
            last_end = end_ms;
        }
        std::hint::black_box(spans);
        rows = day.len();
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    println!("3. timeline: 2 592 000 rows indexed in {fill_secs:.0} s; one camera-day ({rows} rows) and its spans");
    println!("   median {:.1} ms, slowest {:.1} ms (goal < 20 ms)", times[times.len() / 2], times[times.len() - 1]);

    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}
