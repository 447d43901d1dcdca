//! Motion detection on the luma plane, the cheap gate in front of everything else.
//!
//! Per frame: downscale Y to about `frame_height` pixels high (2×2 box samples), compare with a
//! running-average background, threshold, blank the masked areas, dilate 3×3, and collect the
//! connected blobs of at least `contour_area` pixels as boxes. When most of the picture changes at
//! once (lights switched, camera IR toggled) the background is reset instead of reporting motion.
//! All buffers are allocated once per camera; a frame costs no allocation.

use super::RelBox;
use crate::geometry::{Polygon, point_in_polygon};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MotionConfig {
    /// Luma difference (1–255) from the background for a pixel to count as changed.
    pub threshold: u8,
    /// Smallest changed blob, in pixels of the downscaled motion image, that counts as motion.
    pub contour_area: u32,
    /// Height in pixels of the downscaled image motion is computed on.
    pub frame_height: u32,
    /// How fast the background follows the picture (0–1 per frame).
    pub frame_alpha: f32,
    /// Fraction of changed pixels (0–1) treated as a global change (lights): recalibrate instead.
    pub lightning_threshold: f32,
    /// Consecutive frames with motion before an event starts.
    pub start_frames: u32,
    /// Seconds without motion after which an event ends.
    pub quiet_secs: u32,
    /// Areas never looked at (trees, a busy road), as polygons.
    pub mask: Vec<Polygon>,
    /// Record motion-only events. Unset: only while no object detector is running.
    pub events: Option<bool>,
}

impl Default for MotionConfig {
    fn default() -> Self {
        Self {
            threshold: 25,
            contour_area: 15,
            frame_height: 100,
            frame_alpha: 0.02,
            lightning_threshold: 0.8,
            start_frames: 3,
            quiet_secs: 10,
            mask: Vec::new(),
            events: None,
        }
    }
}

/// How much faster than `frame_alpha` a pixel that stopped changing joins the background: a parked
/// car or the spot a person just left stops counting as motion after about 4 s at 5 fps, instead of
/// 15–20 s.
const STEADY_ABSORB_FACTOR: f32 = 4.0;

/// The outcome for one frame; `boxes` borrow the detector's reused buffer.
#[derive(Debug)]
pub struct MotionResult<'a> {
    pub boxes: &'a [RelBox],
    /// Changed pixels over watched (unmasked) pixels, 0–1, before the lightning check.
    pub changed_fraction: f32,
    /// True when the frame was treated as a global change and the background reset.
    pub recalibrated: bool,
}

pub struct MotionDetector {
    threshold: f32,
    contour_area: u32,
    alpha: f32,
    lightning_threshold: f32,
    src_width: usize,
    width: usize,
    height: usize,
    x_map: Vec<usize>,
    y_map: Vec<usize>,
    /// 1 where motion counts, 0 under a mask.
    watched: Vec<u8>,
    watched_count: usize,
    background: Vec<f32>,
    current: Vec<f32>,
    previous: Vec<f32>,
    changed: Vec<u8>,
    scratch: Vec<u8>,
    stack: Vec<u32>,
    boxes: Vec<RelBox>,
    initialized: bool,
}

impl MotionDetector {
    /// A detector for frames of `src_width` × `src_height`.
    pub fn new(config: &MotionConfig, src_width: u32, src_height: u32) -> Self {
        let (sw, sh) = (src_width.max(2) as usize, src_height.max(2) as usize);
        let height = (config.frame_height as usize).clamp(2, sh);
        let width = ((sw * height) / sh).max(2);
        // Sample the top-left of each 2×2 block; keep it inside the frame.
        let x_map = (0..width).map(|x| (x * sw / width).min(sw - 2)).collect();
        let y_map = (0..height).map(|y| (y * sh / height).min(sh - 2)).collect();
        let watched = rasterize_mask(&config.mask, width, height);
        let watched_count = watched.iter().filter(|&&w| w == 1).count().max(1);
        let n = width * height;
        Self {
            threshold: config.threshold as f32,
            contour_area: config.contour_area,
            alpha: config.frame_alpha,
            lightning_threshold: config.lightning_threshold,
            src_width: sw,
            width,
            height,
            x_map,
            y_map,
            watched,
            watched_count,
            background: vec![0.0; n],
            current: vec![0.0; n],
            previous: vec![0.0; n],
            changed: vec![0; n],
            scratch: vec![0; n],
            stack: Vec::with_capacity(n),
            boxes: Vec::new(),
            initialized: false,
        }
    }

    /// The size of the downscaled motion image.
    pub fn motion_size(&self) -> (usize, usize) {
        (self.width, self.height)
    }

    /// Processes the luma plane of one frame (`src_width × src_height` bytes, row-major).
    pub fn process(&mut self, luma: &[u8]) -> MotionResult<'_> {
        self.boxes.clear();
        self.downscale(luma);
        if !self.initialized {
            self.background.copy_from_slice(&self.current);
            self.previous.copy_from_slice(&self.current);
            self.initialized = true;
            return MotionResult { boxes: &self.boxes, changed_fraction: 0.0, recalibrated: false };
        }

        let mut changed_count = 0usize;
        let steady_limit = self.threshold * 0.5;
        let steady_alpha = (self.alpha * STEADY_ABSORB_FACTOR).min(1.0);
        for i in 0..self.current.len() {
            let current = self.current[i];
            let diff = (current - self.background[i]).abs();
            let hit = (diff > self.threshold) as u8 & self.watched[i];
            self.changed[i] = hit;
            changed_count += hit as usize;
            // A pixel that stopped changing (a parked car, or the spot someone just left) joins
            // the background faster than one that is still changing.
            let steady = (current - self.previous[i]).abs() <= steady_limit;
            let alpha = if steady { steady_alpha } else { self.alpha };
            self.background[i] += alpha * (current - self.background[i]);
            self.previous[i] = current;
        }
        let changed_fraction = changed_count as f32 / self.watched_count as f32;
        if changed_fraction > self.lightning_threshold {
            self.background.copy_from_slice(&self.current);
            return MotionResult { boxes: &self.boxes, changed_fraction, recalibrated: true };
        }
        if changed_count > 0 {
            self.dilate();
            self.collect_blobs();
        }
        MotionResult { boxes: &self.boxes, changed_fraction, recalibrated: false }
    }

    fn downscale(&mut self, luma: &[u8]) {
        let sw = self.src_width;
        for (my, &sy) in self.y_map.iter().enumerate() {
            let row0 = &luma[sy * sw..(sy + 1) * sw];
            let row1 = &luma[(sy + 1) * sw..(sy + 2) * sw];
            let out = &mut self.current[my * self.width..(my + 1) * self.width];
            for (o, &sx) in out.iter_mut().zip(&self.x_map) {
                let sum = row0[sx] as u32 + row0[sx + 1] as u32 + row1[sx] as u32 + row1[sx + 1] as u32;
                *o = sum as f32 * 0.25;
            }
        }
    }

    /// 3×3 dilation as two 3-wide passes (rows, then columns), `changed` → `changed`.
    fn dilate(&mut self) {
        let (w, h) = (self.width, self.height);
        for y in 0..h {
            let row = &self.changed[y * w..(y + 1) * w];
            let out = &mut self.scratch[y * w..(y + 1) * w];
            for x in 0..w {
                let left = if x > 0 { row[x - 1] } else { 0 };
                let right = if x + 1 < w { row[x + 1] } else { 0 };
                out[x] = row[x] | left | right;
            }
        }
        for y in 0..h {
            for x in 0..w {
                let i = y * w + x;
                let up = if y > 0 { self.scratch[i - w] } else { 0 };
                let down = if y + 1 < h { self.scratch[i + w] } else { 0 };
                self.changed[i] = self.scratch[i] | up | down;
            }
        }
    }

    /// Flood-fills connected blobs in `changed` (consuming it) and keeps those big enough.
    fn collect_blobs(&mut self) {
        let (w, h) = (self.width, self.height);
        for start in 0..self.changed.len() {
            if self.changed[start] == 0 {
                continue;
            }
            self.changed[start] = 0;
            self.stack.clear();
            self.stack.push(start as u32);
            let (mut x0, mut y0, mut x1, mut y1) = (w, h, 0, 0);
            let mut pixels = 0u32;
            while let Some(i) = self.stack.pop() {
                let i = i as usize;
                let (x, y) = (i % w, i / w);
                pixels += 1;
                x0 = x0.min(x);
                x1 = x1.max(x);
                y0 = y0.min(y);
                y1 = y1.max(y);
                let visit = |j: usize, changed: &mut [u8], stack: &mut Vec<u32>| {
                    if changed[j] != 0 {
                        changed[j] = 0;
                        stack.push(j as u32);
                    }
                };
                if x > 0 {
                    visit(i - 1, &mut self.changed, &mut self.stack);
                }
                if x + 1 < w {
                    visit(i + 1, &mut self.changed, &mut self.stack);
                }
                if y > 0 {
                    visit(i - w, &mut self.changed, &mut self.stack);
                }
                if y + 1 < h {
                    visit(i + w, &mut self.changed, &mut self.stack);
                }
            }
            if pixels >= self.contour_area {
                let (fw, fh) = (w as f32, h as f32);
                self.boxes.push([x0 as f32 / fw, y0 as f32 / fh, (x1 + 1 - x0) as f32 / fw, (y1 + 1 - y0) as f32 / fh]);
            }
        }
    }
}

/// 1 for each motion pixel whose centre lies outside every mask polygon.
fn rasterize_mask(polygons: &[Polygon], width: usize, height: usize) -> Vec<u8> {
    let mut watched = vec![1u8; width * height];
    if polygons.is_empty() {
        return watched;
    }
    for y in 0..height {
        for x in 0..width {
            let point = [(x as f32 + 0.5) / width as f32, (y as f32 + 0.5) / height as f32];
            if polygons.iter().any(|p| point_in_polygon(point, p)) {
                watched[y * width + x] = 0;
            }
        }
    }
    watched
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: u32 = 640;
    const H: u32 = 360;

    /// A textured still scene: a gradient with a faint pattern, like a real background.
    fn scene() -> Vec<u8> {
        (0..H).flat_map(|y| (0..W).map(move |x| (40 + (x / 8 + y / 6) % 60 + (x * y) % 7) as u8)).collect()
    }

    fn with_square(mut frame: Vec<u8>, x0: u32, y0: u32, size: u32, value: u8) -> Vec<u8> {
        for y in y0..y0 + size {
            for x in x0..x0 + size {
                frame[(y * W + x) as usize] = value;
            }
        }
        frame
    }

    #[test]
    fn still_scene_has_no_motion() {
        let mut detector = MotionDetector::new(&MotionConfig::default(), W, H);
        let frame = scene();
        for _ in 0..10 {
            let result = detector.process(&frame);
            assert!(result.boxes.is_empty());
            assert!(!result.recalibrated);
        }
    }

    #[test]
    fn a_new_object_is_boxed_where_it_is() {
        let mut detector = MotionDetector::new(&MotionConfig::default(), W, H);
        detector.process(&scene());
        let frame = with_square(scene(), 320, 180, 80, 250);
        let result = detector.process(&frame);
        assert_eq!(result.boxes.len(), 1, "{:?}", result.boxes);
        let [x, y, w, h] = result.boxes[0];
        // 320/640 = 0.5, 180/360 = 0.5, 80/640 = 0.125, 80/360 ≈ 0.222; dilation adds about a pixel.
        assert!((x - 0.5).abs() < 0.02 && (y - 0.5).abs() < 0.03, "box at {x},{y}");
        assert!((w - 0.125).abs() < 0.03 && (h - 0.222).abs() < 0.04, "box size {w}x{h}");
    }

    #[test]
    fn masked_areas_are_ignored() {
        let config =
            MotionConfig { mask: vec![vec![[0.4, 0.4], [0.8, 0.4], [0.8, 0.8], [0.4, 0.8]]], ..Default::default() };
        let mut detector = MotionDetector::new(&config, W, H);
        detector.process(&scene());
        let masked = with_square(scene(), 320, 180, 80, 250);
        assert!(detector.process(&masked).boxes.is_empty());
        let outside = with_square(scene(), 40, 40, 80, 250);
        assert_eq!(detector.process(&outside).boxes.len(), 1);
    }

    #[test]
    fn lights_switching_recalibrates_instead_of_reporting_motion() {
        let mut detector = MotionDetector::new(&MotionConfig::default(), W, H);
        detector.process(&scene());
        let brighter: Vec<u8> = scene().iter().map(|v| v.saturating_add(90)).collect();
        let result = detector.process(&brighter);
        assert!(result.recalibrated);
        assert!(result.boxes.is_empty());
        assert!(detector.process(&brighter).boxes.is_empty(), "the new lighting is the background now");
    }

    #[test]
    fn tiny_changes_below_contour_area_are_noise() {
        let mut detector = MotionDetector::new(&MotionConfig::default(), W, H);
        detector.process(&scene());
        let speck = with_square(scene(), 100, 100, 3, 255);
        assert!(detector.process(&speck).boxes.is_empty());
    }

    #[test]
    fn a_stopped_object_fades_into_the_background() {
        let mut detector = MotionDetector::new(&MotionConfig::default(), W, H);
        detector.process(&scene());
        let parked = with_square(scene(), 320, 180, 80, 250);
        let frames_with_motion = (0..400).take_while(|_| !detector.process(&parked).boxes.is_empty()).count();
        assert!(frames_with_motion > 3 && frames_with_motion < 400, "motion lasted {frames_with_motion} frames");
    }
}
