//! Tracking quality over the labelled scenes of `examples/make_scene`: the real model and the
//! camera's own object following (`watchpost::camera::follow`, what the pipeline runs) on every
//! frame at the camera's detection rate, scored against the ground truth.
//!
//! `scripts/bench-tracking.sh` runs it all (scenes, this, the scoring); by hand:
//! `cargo run --release --example bench_tracking -- SCENES_DIR [SCENE…]`, with `MOT_PYTHON` a Python
//! that has py-motmetrics (else only Watchpost's own figures are printed).
//!
//! Per scene it decodes `scene.mp4` as a camera does (ffmpeg, 5 fps, 640×360), runs motion
//! detection and the follower frame by frame with frame times 200 ms apart (not in real time), and
//! plays the scene's faults: a stream restart drops the frames of its gap and then goes on as the
//! pipeline does after a reconnect (fresh motion background, the next frame looked at whole, the
//! tracker kept); a Watchpost restart drops 10 s and starts a new follower holding only the
//! stationary objects, as the database hands them back. It writes `res.txt` (confirmed objects seen
//! in each frame, MOTChallenge) and `gt_scored.txt` (ground truth of the frames that were seen; boxes
//! less than 30 % visible are left out, and answers on them are not counted as false), then prints:
//! events (confirmed new objects; each would alert once) per ground-truth object, alerts per parked
//! vehicle, events on nothing, and the CLEAR-MOT and IDF1 figures of py-motmetrics.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use watchpost::camera::follow::ObjectFollower;
use watchpost::camera::settings::CameraConfig;
use watchpost::detect::motion::MotionDetector;
use watchpost::detect::onnx::OnnxDetector;
use watchpost::detect::worker::DetectorWorker;
use watchpost::detect::{Detection, DetectorConfig, iou};
use watchpost::media::Frame;

/// Watchpost is down this long when the scene restarts it.
const WATCHPOST_DOWN_SECS: f32 = 10.0;
/// Ground truth less visible than this is neither expected nor held against the tracker.
const LEAST_VISIBILITY: f32 = 0.3;
/// Frame times start here (any wall-clock time will do).
const START_MS: i64 = 1_800_000_000_000;

struct GroundTruth {
    id: u32,
    bbox: [f32; 4],
    class: u32,
    visibility: f32,
}

fn read_gt(path: &Path) -> anyhow::Result<BTreeMap<u32, Vec<GroundTruth>>> {
    let mut frames: BTreeMap<u32, Vec<GroundTruth>> = BTreeMap::new();
    for line in std::fs::read_to_string(path)?.lines() {
        let v: Vec<f32> = line.split(',').map(|s| s.parse().unwrap_or(0.0)).collect();
        if v.len() < 9 {
            continue;
        }
        frames.entry(v[0] as u32).or_default().push(GroundTruth {
            id: v[1] as u32,
            bbox: [v[2], v[3], v[2] + v[4], v[3] + v[5]],
            class: v[7] as u32,
            visibility: v[8],
        });
    }
    Ok(frames)
}

/// A tracker's answer as a MOTChallenge line: frame, id, left, top, width, height.
fn mot_line(frame: u32, id: u64, b: &[f32; 4]) -> String {
    format!("{frame},{id},{:.1},{:.1},{:.1},{:.1},1,-1,-1,-1\n", b[0], b[1], b[2] - b[0], b[3] - b[1])
}

/// What one scene gave.
struct Outcome {
    lines: Vec<String>,
}

async fn run_scene(dir: &Path, worker: &DetectorWorker) -> anyhow::Result<Outcome> {
    let meta: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("scene.json"))?)?;
    let name = meta["name"].as_str().unwrap_or("scene").to_string();
    let gt_fps = meta["gt_fps"].as_u64().unwrap_or(5) as u32;
    let (width, height) = (meta["width"].as_u64().unwrap_or(640) as u32, meta["height"].as_u64().unwrap_or(360) as u32);
    let restarts: Vec<(f32, f32)> = meta["restarts"]
        .as_array()
        .map(|r| r.iter().map(|p| (p[0].as_f64().unwrap_or(0.0) as f32, p[1].as_f64().unwrap_or(0.0) as f32)).collect())
        .unwrap_or_default();
    let watchpost_restart = meta["watchpost_restart"].as_f64().map(|s| s as f32);
    let parks: Vec<u32> = meta["objects"]
        .as_array()
        .map(|o| o.iter().filter(|o| o["parks"] == true).filter_map(|o| o["id"].as_u64()).map(|i| i as u32).collect())
        .unwrap_or_default();
    let gt = read_gt(&dir.join("gt.txt"))?;

    let mut camera = CameraConfig::new("bench", "", dir.join("scene.mp4").display().to_string());
    camera.objects.track = vec!["person".into(), "car".into()];
    camera.detect.width = width;
    camera.detect.height = height;
    camera.detect.fps = gt_fps;
    let labels = worker.labels().to_vec();
    let mut child = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-i"])
        .arg(dir.join("scene.mp4"))
        .args(["-vf", &format!("fps={gt_fps},scale={width}:{height}"), "-pix_fmt", "yuv420p", "-f", "rawvideo", "-"])
        .stdout(Stdio::piped())
        .spawn()?;
    let mut stdout = child.stdout.take().expect("piped");

    let mut motion = MotionDetector::new(&camera.motion, width, height);
    let mut follower = ObjectFollower::new(&camera, &labels);
    // Track ids of this follower → ids across Watchpost restarts (a restored object keeps its own).
    let mut global: HashMap<u64, u64> = HashMap::new();
    let mut next_global = 0u64;
    let mut events: Vec<u64> = Vec::new();
    let mut res = String::new();
    let mut seen_frames = Vec::new();
    let mut down_until: Option<f32> = None;
    let mut restart_pending = watchpost_restart;
    let started = std::time::Instant::now();
    let mut passes = 0u32;
    for frame_number in 1u32.. {
        let mut data = vec![0u8; Frame::byte_len(width, height)];
        if stdout.read_exact(&mut data).is_err() {
            break;
        }
        let t = (frame_number - 1) as f32 / gt_fps as f32;
        if let Some((_, gap)) = restarts.iter().find(|(at, _)| (*at..at + 0.001).contains(&t)) {
            down_until = Some(t + gap);
        }
        if let Some(at) = restart_pending.filter(|at| t >= *at) {
            restart_pending = None;
            down_until = Some(at + WATCHPOST_DOWN_SECS);
            // What the database keeps: the stationary objects, under their own ids.
            let kept: Vec<(Detection, i64, i64, u64)> = follower
                .tracker()
                .tracks()
                .iter()
                .filter(|t| t.confirmed && t.stationary)
                .map(|t| {
                    let detection = Detection { class: t.class, score: t.top_score, bbox: t.bbox };
                    (detection, t.first_seen_ms, t.last_seen_ms, global[&t.id])
                })
                .collect();
            follower = ObjectFollower::new(&camera, &labels);
            global.clear();
            for (detection, first, last, id) in kept {
                global.insert(follower.tracker_mut().restore(&detection, first, last), id);
            }
        }
        if let Some(until) = down_until {
            if t < until {
                continue;
            }
            // Back: as after a reconnect.
            down_until = None;
            motion = MotionDetector::new(&camera.motion, width, height);
            follower.reconnected();
        }
        seen_frames.push(frame_number);
        let frame = Arc::new(Frame { width, height, data, time_ms: START_MS + (t * 1000.0).round() as i64, seq: 0 });
        let boxes = motion.process(frame.luma()).boxes.to_vec();
        if let Some(update) = follower.look(worker, &frame, &boxes, &camera).await {
            passes += 1;
            for id in update.confirmed {
                next_global += 1;
                global.insert(id, next_global);
                events.push(next_global);
            }
        }
        for track in follower.tracker().tracks().iter().filter(|t| t.confirmed && t.misses == 0) {
            let Some(id) = global.get(&track.id) else { continue };
            res.push_str(&mot_line(frame_number, *id, &track.bbox));
        }
    }
    let _ = child.wait();
    let seconds = started.elapsed().as_secs_f32();

    // Scoring files: the frames seen; too hidden ground truth is left out, with answers on it.
    let res_rows: Vec<(u32, u64, [f32; 4])> = res
        .lines()
        .map(|l| {
            let v: Vec<f32> = l.split(',').map(|s| s.parse().unwrap_or(0.0)).collect();
            (v[0] as u32, v[1] as u64, [v[2], v[3], v[2] + v[4], v[3] + v[5]])
        })
        .collect();
    let (mut gt_scored, mut res_scored) = (String::new(), String::new());
    // For each event (output id): the ground-truth object it overlapped most often.
    let mut votes: HashMap<u64, HashMap<u32, u32>> = HashMap::new();
    for &frame in &seen_frames {
        let truths = gt.get(&frame).map(Vec::as_slice).unwrap_or(&[]);
        for g in truths.iter().filter(|g| g.visibility >= LEAST_VISIBILITY) {
            let b = g.bbox;
            gt_scored.push_str(&format!(
                "{frame},{},{},{},{},{},1,{},1\n",
                g.id,
                b[0],
                b[1],
                b[2] - b[0],
                b[3] - b[1],
                g.class
            ));
        }
        for (_, id, b) in res_rows.iter().filter(|r| r.0 == frame) {
            let best = truths.iter().map(|g| (iou(&g.bbox, b), g)).max_by(|x, y| x.0.total_cmp(&y.0));
            if let Some((overlap, g)) = best.filter(|(o, _)| *o >= 0.5) {
                *votes.entry(*id).or_default().entry(g.id).or_default() += 1;
                if g.visibility < LEAST_VISIBILITY && overlap >= 0.5 {
                    continue;
                }
            }
            res_scored.push_str(&mot_line(frame, *id, b));
        }
    }
    std::fs::write(dir.join("res.txt"), &res)?;
    std::fs::write(dir.join("gt_scored.txt"), &gt_scored)?;
    std::fs::write(dir.join("res_scored.txt"), &res_scored)?;

    let owner = |event: &u64| votes.get(event).and_then(|v| v.iter().max_by_key(|(_, n)| **n).map(|(g, _)| *g));
    let mut per_object: BTreeMap<u32, u32> = BTreeMap::new();
    let mut on_nothing = 0;
    for event in &events {
        match owner(event) {
            Some(g) => *per_object.entry(g).or_default() += 1,
            None => on_nothing += 1,
        }
    }
    let objects: Vec<u32> = {
        let mut ids: Vec<u32> = gt.values().flatten().filter(|g| g.visibility >= 0.5).map(|g| g.id).collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    };
    let walkers: Vec<u32> = objects.iter().copied().filter(|id| !parks.contains(id)).collect();
    let found: Vec<u32> = walkers.iter().map(|id| per_object.get(id).copied().unwrap_or(0)).collect();
    let with_event = found.iter().filter(|n| **n > 0).count();
    let mut lines = vec![format!(
        "{name}: {} frames seen ({} detection passes) in {seconds:.1} s; {} events",
        seen_frames.len(),
        passes,
        events.len()
    )];
    if !walkers.is_empty() {
        lines.push(format!(
            "  walkers: {} in view, {with_event} with an event; events per walker with one: {:.2} (goal ≤ 1.1); per object {:?}",
            walkers.len(),
            found.iter().sum::<u32>() as f32 / with_event.max(1) as f32,
            walkers.iter().map(|id| (id, per_object.get(id).copied().unwrap_or(0))).collect::<Vec<_>>()
        ));
    }
    for id in &parks {
        lines.push(format!(
            "  parked vehicle {id}: {} event(s), so {} alert(s) (goal exactly 1)",
            per_object.get(id).copied().unwrap_or(0),
            per_object.get(id).copied().unwrap_or(0)
        ));
    }
    lines.push(format!("  events on nothing (no ground-truth object): {on_nothing}"));
    match std::env::var("MOT_PYTHON") {
        Ok(python) => {
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/score_tracking.py");
            let output = Command::new(python)
                .arg(script)
                .arg(dir.join("gt_scored.txt"))
                .arg(dir.join("res_scored.txt"))
                .output()?;
            anyhow::ensure!(output.status.success(), "scoring failed: {}", String::from_utf8_lossy(&output.stderr));
            let m: serde_json::Value = serde_json::from_slice(&output.stdout)?;
            if m["num_objects"].as_u64().unwrap_or(0) > 0 {
                let unique = m["num_unique_objects"].as_f64().unwrap_or(0.0);
                lines.push(format!(
                    "  IDF1 {:.3} (goal ≥ 0.8), MOTA {:.3}, mean IoU {:.2}, ID switches {} ({:.2} per 10 objects; goal ≤ 1), fragments {}, mostly tracked {}/{}, false positives {}, misses {} of {}",
                    m["idf1"].as_f64().unwrap_or(0.0),
                    m["mota"].as_f64().unwrap_or(0.0),
                    m["motp"].as_f64().unwrap_or(0.0),
                    m["num_switches"],
                    m["num_switches"].as_f64().unwrap_or(0.0) * 10.0 / unique.max(1.0),
                    m["num_fragmentations"],
                    m["mostly_tracked"],
                    m["num_unique_objects"],
                    m["num_false_positives"],
                    m["num_misses"],
                    m["num_objects"],
                ));
            }
        }
        Err(_) => lines.push("  (MOT_PYTHON not set: no CLEAR-MOT/IDF1 figures)".into()),
    }
    Ok(Outcome { lines })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let scenes = args.next().ok_or_else(|| anyhow::anyhow!("usage: bench_tracking SCENES_DIR [SCENE…]"))?;
    let mut wanted: Vec<String> = args.collect();
    if wanted.is_empty() {
        wanted = ["crossing", "crowd", "parked", "shadows"].map(String::from).to_vec();
    }
    let detector = OnnxDetector::load(&DetectorConfig::default())?;
    let worker = DetectorWorker::start(Arc::new(detector));
    for scene in wanted {
        let outcome = run_scene(&Path::new(&scenes).join(&scene), &worker).await?;
        for line in outcome.lines {
            println!("{line}");
        }
    }
    Ok(())
}
