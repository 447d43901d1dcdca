//! The demo camera: a looping clip built with ffmpeg, at first use, from a photograph the binary
//! carries (`assets/demo/person.jpg`): the field with the person painted out for a while, then the
//! person walking in, standing, and walking out again. `serve --demo` adds it as camera `demo`;
//! tests serve the same kind of clip over RTSP.

use crate::camera::settings::CameraConfig;
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The photograph the clip is made from (MIT licence, see `assets/demo/README.md`).
pub const PHOTO: &[u8] = include_bytes!("../assets/demo/person.jpg");

/// When the person is on screen, in seconds from the start of the clip.
#[derive(Debug, Clone, Copy)]
pub struct ClipPlan {
    /// Empty field before the person appears.
    pub empty_secs: u32,
    /// Time to walk in (and, later, out).
    pub walk_secs: u32,
    /// Time standing still in the middle.
    pub stand_secs: u32,
    /// Empty field after the person has left.
    pub tail_secs: u32,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    /// Strength (0–100) of per-frame sensor noise added, as a real camera has; 0 = none.
    pub noise: u8,
    /// False for a still field with nobody in it (benchmarks of a quiet camera).
    pub with_person: bool,
}

impl ClipPlan {
    /// The demo camera's 34-second loop at 720p: one event per loop, ended before the next begins.
    pub const DEMO: ClipPlan = ClipPlan {
        empty_secs: 8,
        walk_secs: 4,
        stand_secs: 6,
        tail_secs: 12,
        width: 1280,
        height: 720,
        fps: 10,
        noise: 0,
        with_person: true,
    };

    pub fn total_secs(&self) -> u32 {
        self.empty_secs + 2 * self.walk_secs + self.stand_secs + self.tail_secs
    }

    /// The ffmpeg filter graph that paints out the person and moves them along the plan.
    fn filter(&self) -> String {
        let (e, w, s) = (self.empty_secs, self.walk_secs, self.stand_secs);
        let (arrive, leave, gone) = (e + w, e + w + s, e + 2 * w + s);
        let finish = match self.noise {
            0 => format!("scale={}:{},format=yuv420p[out]", self.width, self.height),
            n => format!("scale={}:{},noise=alls={n}:allf=t,format=yuv420p[out]", self.width, self.height),
        };
        // In the 640×360 cut of the photo the person stands at x≈188–280, y≈52–352. A strip of
        // empty field from further right, its sides faded out, paints them out.
        let (split, person_pad) = if self.with_person { ("split=3", "[p]") } else { ("split=2", "") };
        let empty = format!(
            "[0:v]crop=640:360:0:40,{split}[base][g]{person_pad};\
             [g]crop=104:300:298:52,format=yuva420p,\
             geq=lum='lum(X,Y)':cb='cb(X,Y)':cr='cr(X,Y)':a='255*clip(min(X,W-1-X)/10,0,1)'[grass];\
             [base][grass]overlay=178:52,format=yuv420p[empty]"
        );
        if !self.with_person {
            return format!("{empty};[empty]{finish}");
        }
        format!(
            "{empty};[p]crop=92:300:188:52[person];\
             [empty][person]overlay=y=52:eval=frame:x='if(lt(t,{e}),-200,if(lt(t,{arrive}),-92+(t-{e})/{w}*280,\
             if(lt(t,{leave}),188,if(lt(t,{gone}),188-(t-{leave})/{w}*280,-200))))',{finish}"
        )
    }
}

/// Writes the clip to `target` unless it is already there; returns its path.
pub fn ensure_clip(ffmpeg: &str, target: &Path, plan: &ClipPlan) -> Result<PathBuf> {
    if target.is_file() {
        return Ok(target.to_path_buf());
    }
    let dir = target.parent().ok_or_else(|| Error::invalid("the demo clip path has no directory"))?;
    std::fs::create_dir_all(dir).map_err(|e| Error::unavailable(format!("cannot create {}: {e}", dir.display())))?;
    let photo = dir.join("person.jpg");
    crate::media::write_atomic(&photo, PHOTO)?;
    let partial = dir.join(format!(".{}.partial.mp4", std::process::id()));
    tracing::info!(path = %target.display(), "building the demo clip with ffmpeg (once)");
    let output = Command::new(ffmpeg)
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-loop", "1", "-framerate"])
        .arg(plan.fps.to_string())
        .arg("-i")
        .arg(&photo)
        .args(["-filter_complex", &plan.filter(), "-map", "[out]", "-t"])
        .arg(plan.total_secs().to_string())
        // Like a camera: no B-frames (frames in display order, which live viewers in Chromium
        // need; see docs/design.md, Live view) and a key frame every 2 s.
        .args(["-c:v", "libx264", "-preset", "veryfast", "-crf", "26", "-bf", "0", "-g"])
        .arg((plan.fps * 2).to_string())
        .args(["-f", "mp4"])
        .arg(&partial)
        .output()
        .map_err(|e| {
            Error::unavailable(format!(
                "cannot run {ffmpeg:?} to build the demo clip: {e}; install ffmpeg (apt install ffmpeg)"
            ))
        })?;
    if !output.status.success() {
        let _ = std::fs::remove_file(&partial);
        return Err(Error::unavailable(format!(
            "ffmpeg could not build the demo clip: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    std::fs::rename(&partial, target).map_err(|e| Error::unavailable(format!("cannot save the demo clip: {e}")))?;
    Ok(target.to_path_buf())
}

/// The `demo` camera reading `clip` at the default detect size and rate, keeping clips around its
/// events (so the event page has video to play).
pub fn demo_camera(clip: &Path) -> CameraConfig {
    let mut camera = CameraConfig::new("demo", "Demo: field", clip.display().to_string());
    camera.record.mode = crate::recording::settings::RecordMode::Events;
    camera
}
