//! Benchmark: one detector call (letterbox from YUV + inference + decode + NMS) against a bare ONNX
//! Runtime `run` on the same prepared tensor, in the same run and process, alternating.
//!
//! `cargo run --release --example bench_detector [CALLS] [THREADS]`
//!
//! Needs what `scripts/setup.sh` installs: `models/yolox_nano.onnx` and ONNX Runtime in
//! `.tools/onnxruntime/` (or `ORT_DYLIB_PATH`). The frame is the demo photograph at 640×360 (a
//! camera's default detect size), decoded by ffmpeg.

use ort::session::Session;
use ort::value::TensorRef;
use std::process::Command;
use std::time::{Duration, Instant};
use watchpost::detect::DetectorConfig;
use watchpost::detect::onnx::{OnnxDetector, library_path, prepare_input, runtime};
use watchpost::detect::{Detector, Region};
use watchpost::media::Frame;

fn main() -> anyhow::Result<()> {
    let calls: usize = std::env::args().nth(1).map(|s| s.parse()).transpose()?.unwrap_or(200);
    let threads: u32 = std::env::args().nth(2).map(|s| s.parse()).transpose()?.unwrap_or(2);
    let config = DetectorConfig { threads, ..Default::default() };
    let detector = OnnxDetector::load(&config)?;
    let (width, height) = detector.input_size();

    let dir = tempfile::tempdir()?;
    let photo = dir.path().join("photo.jpg");
    std::fs::write(&photo, watchpost::demo::PHOTO)?;
    let output = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-i"])
        .arg(&photo)
        .args(["-vf", "scale=640:360", "-pix_fmt", "yuv420p", "-f", "rawvideo", "-"])
        .output()?;
    anyhow::ensure!(output.status.success(), "ffmpeg could not decode the photo");
    let frame = Frame { width: 640, height: 360, data: output.stdout, time_ms: 0, seq: 0 };
    let region = Region::whole(&frame);

    // The baseline: its own session on the same model, threads and options (no spinning), fed the
    // tensor the detector builds.
    let mut bare = Session::builder(runtime(&library_path(&config))?)?
        .with_intra_threads(threads as usize)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .with_intra_op_spinning(false)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .commit_from_file(&config.model)?;
    let mut tensor = Vec::new();
    prepare_input(config.kind, &frame, region, width, height, &mut tensor);
    let shape = [1usize, 3, height as usize, width as usize];

    let mut bare_run = || -> anyhow::Result<Duration> {
        let start = Instant::now();
        let outputs = bare.run(ort::inputs![TensorRef::from_array_view((shape, tensor.as_slice()))?])?;
        std::hint::black_box(outputs[0].try_extract_tensor::<f32>()?.1.len());
        Ok(start.elapsed())
    };
    let detector_call = || -> anyhow::Result<(Duration, usize)> {
        let start = Instant::now();
        let found = detector.detect(&frame, region, 0.3)?;
        Ok((start.elapsed(), found.len()))
    };
    for _ in 0..10 {
        bare_run()?;
        detector_call()?;
    }
    let (mut bare_times, mut detector_times, mut objects) = (Vec::new(), Vec::new(), 0);
    for _ in 0..calls {
        bare_times.push(bare_run()?);
        let (took, found) = detector_call()?;
        detector_times.push(took);
        objects = found;
    }
    let median = |times: &mut Vec<Duration>| {
        times.sort();
        times[times.len() / 2].as_secs_f64() * 1000.0
    };
    let (bare_ms, detector_ms) = (median(&mut bare_times), median(&mut detector_times));
    println!("model {} ({width}×{height}), {threads} thread(s), {calls} calls each", config.model.display());
    println!("bare ONNX Runtime run:   {bare_ms:.2} ms median");
    println!("detector call:           {detector_ms:.2} ms median ({objects} objects)");
    println!("ratio detector / bare:   {:.3}", detector_ms / bare_ms);
    Ok(())
}
