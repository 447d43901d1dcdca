//! Labelled test scenes for the tracking-quality harness (`examples/bench_tracking`), composed with
//! ffmpeg from the fixture photographs, with their ground truth.
//!
//! `cargo run --release --example make_scene -- OUT_DIR [SCENE…]` (default: every scene)
//!
//! No labelled real video can be downloaded here, so people and a vehicle are cut from real
//! photographs (the person of `person.jpg`, the pickup of `dog.jpg`, which the model calls `car`
//! or `truck`) and moved along known paths over the empty field of the demo clip: walkers crossing
//! and hiding one another, stopping, a car parking and staying, a shadow and a swaying patch of
//! trees. Each scene is a directory with `scene.mp4` (640×360, 10 fps, H.264 like a camera),
//! `gt.txt` (MOTChallenge: `frame,id,x,y,w,h,1,class,visibility`, one frame per 0.2 s, the rate
//! cameras detect at; class 1 person, 3 car) and `scene.json` (length, stream restarts, a Watchpost
//! restart). Boxes follow ffmpeg's overlay exactly (positions cut to whole, even pixels); the
//! visibility is the share of the box inside the frame and not covered by what is drawn in front.

use std::path::{Path, PathBuf};
use std::process::Command;

const WIDTH: i32 = 640;
const HEIGHT: i32 = 360;
const FPS: u32 = 10;
/// Ground-truth frames per second: the detection rate of a camera (`detect.fps`).
pub const GT_FPS: u32 = 5;

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Person,
    Car,
}

/// Where a cut-out is, from which photograph: `(photo, crop x, y, w, h)`.
fn cutout(kind: Kind) -> (&'static str, i32, i32, i32, i32) {
    match kind {
        // The model's box for the person is 188,98–277,374; for the pickup 467,78–694,172.
        Kind::Person => ("person.jpg", 185, 92, 96, 290),
        Kind::Car => ("dog.jpg", 462, 72, 236, 104),
    }
}

/// One object moving along straight lines between `(time s, x, y)` key points (its top-left
/// corner); it is there from the first key's time to the last's.
#[derive(Clone)]
struct Actor {
    id: u32,
    kind: Kind,
    scale: f32,
    /// Faces the other way (mirrored).
    flip: bool,
    path: Vec<(f32, f32, f32)>,
}

impl Actor {
    fn size(&self) -> (i32, i32) {
        let (_, _, _, w, h) = cutout(self.kind);
        let even = |v: f32| ((v / 2.0).round() as i32) * 2;
        (even(w as f32 * self.scale), even(h as f32 * self.scale))
    }

    fn span(&self) -> (f32, f32) {
        (self.path[0].0, self.path[self.path.len() - 1].0)
    }

    /// The top-left corner at `t`, as ffmpeg's overlay places it (cut to an even pixel).
    fn at(&self, t: f32) -> Option<(i32, i32)> {
        let (first, last) = self.span();
        if t < first || t > last {
            return None;
        }
        let segment = self.path.windows(2).find(|w| t <= w[1].0).unwrap_or(&self.path[self.path.len() - 2..]);
        let (a, b) = (segment[0], segment[1]);
        let k = if b.0 > a.0 { (t - a.0) / (b.0 - a.0) } else { 1.0 };
        let place = |from: f32, to: f32| ((from + (to - from) * k).floor() as i32) & !1;
        Some((place(a.1, b.1), place(a.2, b.2)))
    }

    /// ffmpeg's expression for one coordinate (1: x, 2: y) along the path.
    fn expression(&self, coordinate: usize) -> String {
        let value = |p: &(f32, f32, f32)| if coordinate == 1 { p.1 } else { p.2 };
        let mut expression = format!("{}", value(&self.path[self.path.len() - 1]));
        for w in self.path.windows(2).rev() {
            let (a, b) = (&w[0], &w[1]);
            let line = if b.0 > a.0 {
                format!("{}+(t-{})*({}-{})/{}", value(a), a.0, value(b), value(a), b.0 - a.0)
            } else {
                format!("{}", value(b))
            };
            expression = format!("if(lte(t,{}),{line},{expression})", b.0);
        }
        expression
    }
}

/// A labelled scene.
struct Scene {
    name: &'static str,
    seconds: u32,
    /// Drawn in this order: later ones in front.
    actors: Vec<Actor>,
    /// Distractors with no object in them (a moving shadow, swaying trees).
    distractors: bool,
    /// `(at s, gap s)`: the stream goes away at `at` and is back `gap` seconds later.
    restarts: Vec<(u32, u32)>,
    /// Watchpost itself restarts at this second (10 s down).
    watchpost_restart: Option<u32>,
}

fn walker(id: u32, scale: f32, path: Vec<(f32, f32, f32)>) -> Actor {
    let flip = path.len() >= 2 && path[path.len() - 1].1 < path[0].1;
    Actor { id, kind: Kind::Person, scale, flip, path }
}

fn scenes() -> Vec<Scene> {
    // Crossing: pairs walking towards each other on nearly the same line, one who stops, one who
    // overtakes another behind them.
    let crossing = Scene {
        name: "crossing",
        seconds: 40,
        actors: vec![
            walker(4, 0.45, vec![(12.0, 640.0, 120.0), (30.0, -50.0, 118.0)]),
            walker(6, 0.5, vec![(21.0, -50.0, 158.0), (31.0, 640.0, 160.0)]),
            walker(
                3,
                0.6,
                vec![(10.0, -60.0, 150.0), (16.0, 300.0, 152.0), (20.0, 300.0, 152.0), (26.0, 640.0, 150.0)],
            ),
            walker(1, 0.5, vec![(1.0, -50.0, 180.0), (13.0, 640.0, 182.0)]),
            walker(2, 0.5, vec![(2.0, 640.0, 190.0), (14.0, -50.0, 186.0)]),
            walker(5, 0.55, vec![(20.0, -54.0, 170.0), (34.0, 640.0, 172.0)]),
        ],
        distractors: false,
        restarts: vec![],
        watchpost_restart: None,
    };
    // A crowd: twelve walkers in three depths, in both directions, some stopping for a while.
    let crowd_actors: Vec<Actor> = (0..12u32)
        .map(|i| {
            let depth = (i % 3) as usize;
            let (y, scale) = ([110.0, 150.0, 185.0][depth], [0.42, 0.5, 0.58][depth]);
            let start = 1.0 + i as f32 * 4.0;
            let speed = 45.0 + ((i * 13) % 40) as f32;
            let (from, to): (f32, f32) = if i % 2 == 0 { (-60.0, 640.0) } else { (640.0, -60.0) };
            let walk = (to - from).abs() / speed;
            let path = if i % 4 == 1 {
                let middle = (from + to) / 2.0;
                let half = walk / 2.0;
                vec![
                    (start, from, y),
                    (start + half, middle, y),
                    (start + half + 3.0, middle, y),
                    (start + walk + 3.0, to, y),
                ]
            } else {
                vec![(start, from, y), (start + walk, to, y + 2.0)]
            };
            walker(10 + i, scale, path)
        })
        .collect();
    let crowd = Scene {
        name: "crowd",
        seconds: 60,
        actors: crowd_actors,
        distractors: false,
        restarts: vec![],
        watchpost_restart: None,
    };
    // A car drives in and parks for ten minutes; people pass in front of it now and then; the
    // stream restarts three times and Watchpost once.
    let mut parked_actors = vec![Actor {
        id: 30,
        kind: Kind::Car,
        scale: 0.9,
        flip: false,
        path: vec![(5.0, 640.0, 200.0), (9.0, 330.0, 200.0), (600.0, 330.0, 200.0)],
    }];
    for k in 0..14u32 {
        let start = 20.0 + k as f32 * 40.0;
        let (from, to) = if k % 2 == 0 { (-56.0, 640.0) } else { (640.0, -56.0) };
        parked_actors.push(walker(31 + k, 0.55, vec![(start, from, 178.0), (start + 11.0, to, 180.0)]));
    }
    let parked = Scene {
        name: "parked",
        seconds: 600,
        actors: parked_actors,
        distractors: false,
        restarts: vec![(150, 5), (300, 5), (450, 5)],
        watchpost_restart: Some(375),
    };
    let distractions = Scene {
        name: "shadows",
        seconds: 60,
        actors: vec![],
        distractors: true,
        restarts: vec![],
        watchpost_restart: None,
    };
    let mut scenes = vec![crossing, crowd, parked, distractions];
    // Farther (feet higher up) first: nearer objects hide them.
    for scene in &mut scenes {
        scene.actors.sort_by_key(|a| a.path[0].2 as i32 + a.size().1);
    }
    scenes
}

/// The empty field of the demo clip, one picture.
fn background(dir: &Path) -> anyhow::Result<PathBuf> {
    let plan = watchpost::demo::ClipPlan {
        empty_secs: 1,
        walk_secs: 0,
        stand_secs: 0,
        tail_secs: 0,
        width: WIDTH as u32,
        height: HEIGHT as u32,
        fps: FPS,
        noise: 0,
        with_person: false,
    };
    let clip = watchpost::demo::ensure_clip("ffmpeg", &dir.join("empty.mp4"), &plan)?;
    let png = dir.join("field.png");
    run(Command::new("ffmpeg").args(["-loglevel", "error", "-y", "-i"]).arg(&clip).args(["-frames:v", "1"]).arg(&png))?;
    Ok(png)
}

fn run(command: &mut Command) -> anyhow::Result<()> {
    let output = command.output()?;
    anyhow::ensure!(output.status.success(), "{command:?}: {}", String::from_utf8_lossy(&output.stderr));
    Ok(())
}

fn make(scene: &Scene, out: &Path, field: &Path, photos: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(out)?;
    let mut command = Command::new("ffmpeg");
    command.args(["-loglevel", "error", "-y", "-loop", "1", "-framerate", &FPS.to_string(), "-i"]).arg(field);
    let mut graph = String::from("[0:v]format=yuv420p[v0]");
    let mut last = "v0".to_string();
    for (n, actor) in scene.actors.iter().enumerate() {
        let (photo, cx, cy, cw, ch) = cutout(actor.kind);
        command.args(["-loop", "1", "-framerate", &FPS.to_string(), "-i"]).arg(photos.join(photo));
        let (w, h) = actor.size();
        let flip = if actor.flip { ",hflip" } else { "" };
        let (from, to) = actor.span();
        graph.push_str(&format!(
            ";[{input}:v]crop={cw}:{ch}:{cx}:{cy},scale={w}:{h}{flip}[a{n}];\
             [{last}][a{n}]overlay=x='{x}':y='{y}':eval=frame:enable='between(t,{from},{to})'[v{next}]",
            input = n + 1,
            x = actor.expression(1),
            y = actor.expression(2),
            next = n + 1,
        ));
        last = format!("v{}", n + 1);
    }
    if scene.distractors {
        // A soft shadow drifting over the grass, and a patch of trees swaying a few pixels.
        graph.push_str(&format!(
            ";color=c=black:s=200x90:r={FPS},format=yuva420p,geq=lum=16:cb=128:cr=128:\
             a='90*exp(-((X-100)*(X-100)/3000+(Y-45)*(Y-45)/700))'[shadow];\
             [{last}][shadow]overlay=x='150+120*sin(t/4)':y='230+20*sin(t/3)':eval=frame[s1];\
             [s1]split[s2][s3];[s3]crop=220:120:380:10[trees];\
             [s2][trees]overlay=x='380+6*sin(2*t)':y='10+2*sin(3*t)':eval=frame[s4]"
        ));
        last = "s4".to_string();
    }
    graph.push_str(&format!(";[{last}]format=yuv420p[out]"));
    command
        .args(["-filter_complex", &graph, "-map", "[out]", "-t", &scene.seconds.to_string()])
        .args(["-c:v", "libx264", "-preset", "veryfast", "-crf", "24", "-bf", "0", "-g", &(FPS * 2).to_string()])
        .arg(out.join("scene.mp4"));
    run(&mut command)?;

    let mut gt = String::new();
    for frame in 0..scene.seconds * GT_FPS {
        let t = frame as f32 / GT_FPS as f32;
        let placed: Vec<(&Actor, [i32; 4])> = scene
            .actors
            .iter()
            .filter_map(|a| {
                let (x, y) = a.at(t)?;
                let (w, h) = a.size();
                Some((a, [x, y, x + w, y + h]))
            })
            .collect();
        for (index, (actor, b)) in placed.iter().enumerate() {
            let inside = clip(b);
            let area = ((b[2] - b[0]) * (b[3] - b[1])) as f32;
            let Some(inside) = inside else { continue };
            let mut visible = area_of(&inside) as f32;
            // Covered by what is drawn in front (later), overlaps counted once.
            let covers: Vec<[i32; 4]> = placed[index + 1..].iter().filter_map(|(_, c)| intersect(&inside, c)).collect();
            visible -= union_area(&covers) as f32;
            let class = if actor.kind == Kind::Person { 1 } else { 3 };
            gt.push_str(&format!(
                "{},{},{},{},{},{},1,{class},{:.2}\n",
                frame + 1,
                actor.id,
                inside[0],
                inside[1],
                inside[2] - inside[0],
                inside[3] - inside[1],
                (visible / area).max(0.0)
            ));
        }
    }
    std::fs::write(out.join("gt.txt"), gt)?;
    let objects: Vec<serde_json::Value> = scene
        .actors
        .iter()
        .map(|a| {
            let kind = if a.kind == Kind::Person { "person" } else { "car" };
            let moving = a.path.windows(2).any(|w| w[0].1 != w[1].1);
            serde_json::json!({"id": a.id, "label": kind, "parks": a.kind == Kind::Car && moving})
        })
        .collect();
    let meta = serde_json::json!({
        "name": scene.name,
        "seconds": scene.seconds,
        "gt_fps": GT_FPS,
        "width": WIDTH,
        "height": HEIGHT,
        "restarts": scene.restarts,
        "watchpost_restart": scene.watchpost_restart,
        "objects": objects,
    });
    std::fs::write(out.join("scene.json"), serde_json::to_string_pretty(&meta)?)?;
    Ok(())
}

fn clip(b: &[i32; 4]) -> Option<[i32; 4]> {
    intersect(b, &[0, 0, WIDTH, HEIGHT])
}

fn intersect(a: &[i32; 4], b: &[i32; 4]) -> Option<[i32; 4]> {
    let c = [a[0].max(b[0]), a[1].max(b[1]), a[2].min(b[2]), a[3].min(b[3])];
    (c[0] < c[2] && c[1] < c[3]).then_some(c)
}

fn area_of(b: &[i32; 4]) -> i64 {
    i64::from(b[2] - b[0]) * i64::from(b[3] - b[1])
}

/// The area covered by a few rectangles, overlaps once (by columns of the distinct x edges).
fn union_area(boxes: &[[i32; 4]]) -> i64 {
    let mut xs: Vec<i32> = boxes.iter().flat_map(|b| [b[0], b[2]]).collect();
    xs.sort_unstable();
    xs.dedup();
    let mut total = 0;
    for w in xs.windows(2) {
        let mut spans: Vec<(i32, i32)> =
            boxes.iter().filter(|b| b[0] <= w[0] && b[2] >= w[1]).map(|b| (b[1], b[3])).collect();
        spans.sort_unstable();
        let (mut covered, mut end) = (0, i32::MIN);
        for (top, bottom) in spans {
            let top = top.max(end);
            if bottom > top {
                covered += bottom - top;
                end = bottom;
            }
        }
        total += i64::from(w[1] - w[0]) * i64::from(covered);
    }
    total
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let out = PathBuf::from(args.next().ok_or_else(|| anyhow::anyhow!("usage: make_scene OUT_DIR [SCENE…]"))?);
    let wanted: Vec<String> = args.collect();
    let photos = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    std::fs::create_dir_all(&out)?;
    // person.jpg is the demo's photograph; dog.jpg a test fixture.
    std::fs::write(out.join("person.jpg"), watchpost::demo::PHOTO)?;
    std::fs::copy(photos.join("dog.jpg"), out.join("dog.jpg"))?;
    let field = background(&out)?;
    for scene in scenes().iter().filter(|s| wanted.is_empty() || wanted.iter().any(|w| w == s.name)) {
        let started = std::time::Instant::now();
        make(scene, &out.join(scene.name), &field, &out)?;
        println!(
            "{}: {} s, {} objects, made in {:.1} s",
            scene.name,
            scene.seconds,
            scene.actors.len(),
            started.elapsed().as_secs_f32()
        );
    }
    Ok(())
}
