//! Benchmark: motion detection per frame at 640×360, next to a baseline measured in the same run
//! (one pass that reads every luma byte, the least any detector must do).
//!
//! `cargo run --release --example bench_motion [FRAMES]`
//!
//! The frames come from the real test photograph, decoded by ffmpeg, with a bright square moving
//! across every other frame, so both the quiet path and the motion path are timed.

use std::hint::black_box;
use std::process::Command;
use std::time::Instant;
use watchpost::detect::motion::MotionConfig;
use watchpost::detect::motion::MotionDetector;

const W: usize = 640;
const H: usize = 360;

fn main() -> anyhow::Result<()> {
    let frames: usize = std::env::args().nth(1).map(|s| s.parse()).transpose()?.unwrap_or(3000);
    let dir = tempfile::tempdir()?;
    let photo = dir.path().join("photo.jpg");
    std::fs::write(&photo, watchpost::demo::PHOTO)?;
    let output = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-i"])
        .arg(&photo)
        .args(["-vf", &format!("scale={W}:{H}"), "-pix_fmt", "gray", "-f", "rawvideo", "-"])
        .output()?;
    anyhow::ensure!(output.status.success() && output.stdout.len() == W * H, "ffmpeg could not decode the photo");
    let still = output.stdout;
    let mut moving = still.clone();

    let mut detector = MotionDetector::new(&MotionConfig::default(), W as u32, H as u32);
    detector.process(&still);
    let mut boxes_seen = 0usize;
    let start = Instant::now();
    for i in 0..frames {
        let frame = if i % 2 == 0 {
            &still
        } else {
            moving.copy_from_slice(&still);
            let x0 = (i * 3) % (W - 60);
            for y in 150..210 {
                moving[y * W + x0..y * W + x0 + 60].fill(250);
            }
            &moving
        };
        boxes_seen += detector.process(black_box(frame)).boxes.len();
    }
    let motion_ms = start.elapsed().as_secs_f64() * 1000.0 / frames as f64;

    let start = Instant::now();
    let mut sum = 0u64;
    for _ in 0..frames {
        sum = sum.wrapping_add(black_box(&still).iter().map(|&v| v as u64).sum::<u64>());
    }
    let baseline_ms = start.elapsed().as_secs_f64() * 1000.0 / frames as f64;
    black_box(sum);

    let (mw, mh) = detector.motion_size();
    println!(
        "motion detection, {W}x{H} luma -> {mw}x{mh}, {frames} frames (half with a moving object, {boxes_seen} boxes found)"
    );
    println!("  motion detector   {motion_ms:.4} ms/frame");
    println!("  baseline          {baseline_ms:.4} ms/frame (sum every luma byte once)");
    println!("  ratio             {:.2}x the baseline; target: at most 0.2 ms/frame", motion_ms / baseline_ms);
    Ok(())
}
