//! Detection: what changed in a frame (motion) and what is in it (objects, from an ONNX model).
//!
//! [`Detector`] is the seam between the pipeline and a model runtime: `onnx` implements it with
//! ONNX Runtime. Boxes of detections are in frame pixels; motion boxes are relative ([`RelBox`]).

pub mod motion;
pub mod onnx;
pub mod regions;
pub mod tracker;
pub mod worker;

use crate::checks::{Checks, ConfigIssue};
use crate::error::Result;
use crate::media::Frame;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The object detector: an ONNX model run by ONNX Runtime.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DetectorConfig {
    /// Off: cameras report motion only.
    pub enabled: bool,
    /// The model file; a relative path is taken from the working directory.
    pub model: PathBuf,
    /// How to read the model's output.
    #[serde(rename = "type")]
    pub kind: ModelKind,
    /// A file with one label per line, in the model's class order; empty = the 80 COCO labels.
    pub labels: Option<PathBuf>,
    /// The ONNX Runtime library; empty = `ORT_DYLIB_PATH`, then the copy `scripts/setup.sh` puts in
    /// `.tools/onnxruntime/`, then `libonnxruntime.so` on the system library path.
    pub onnxruntime: Option<PathBuf>,
    /// Threads one inference may use.
    pub threads: u32,
    /// Execution providers to try in order: `cpu`, `cuda`, `tensorrt`, `openvino`.
    pub providers: Vec<String>,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            model: PathBuf::from("models/yolox_nano.onnx"),
            kind: ModelKind::Yolox,
            labels: None,
            onnxruntime: None,
            threads: 2,
            providers: vec!["cpu".into()],
        }
    }
}

impl DetectorConfig {
    /// Problems with these settings; keys are relative to the section.
    pub fn validate(&self) -> Vec<ConfigIssue> {
        let mut checks = Checks::default();
        checks.range("threads", self.threads, 1..=64, "");
        for (index, provider) in self.providers.iter().enumerate() {
            if !PROVIDERS.contains(&provider.as_str()) {
                checks.push(
                    format!("providers[{index}]"),
                    format!("{provider:?} is not known; use one of {}", PROVIDERS.join(", ")),
                );
            }
        }
        if self.model.as_os_str().is_empty() {
            checks.push("model", "is empty; use e.g. \"models/yolox_nano.onnx\"");
        }
        checks.into_issues()
    }
}

/// Output layouts the detector understands.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// YOLOX: `[1, N, 5 + classes]` per grid cell (cx, cy, w, h grid-relative, objectness, scores);
    /// BGR input with raw 0–255 values.
    #[default]
    Yolox,
    /// Current YOLO exporters: `[1, 4 + classes, N]` (cx, cy, w, h in input pixels, class scores, no
    /// objectness); RGB input scaled to 0–1.
    Yolo,
}

/// Execution providers Watchpost can ask ONNX Runtime for.
pub const PROVIDERS: [&str; 4] = ["cpu", "cuda", "tensorrt", "openvino"];

/// A box in relative frame coordinates: `[x, y, width, height]`, each 0–1.
pub type RelBox = [f32; 4];

/// The smallest box holding all of `boxes`, or `None` for an empty list.
pub fn union_box(boxes: &[RelBox]) -> Option<RelBox> {
    let first = boxes.first()?;
    let (mut x0, mut y0, mut x1, mut y1) = (first[0], first[1], first[0] + first[2], first[1] + first[3]);
    for b in &boxes[1..] {
        x0 = x0.min(b[0]);
        y0 = y0.min(b[1]);
        x1 = x1.max(b[0] + b[2]);
        y1 = y1.max(b[1] + b[3]);
    }
    Some([x0, y0, x1 - x0, y1 - y0])
}

/// A pixel box `[x1, y1, x2, y2]` of a `width`×`height` frame as a relative `[x, y, w, h]`.
pub fn to_relative(bbox: &[f32; 4], width: u32, height: u32) -> RelBox {
    let (w, h) = (width as f32, height as f32);
    [bbox[0] / w, bbox[1] / h, (bbox[2] - bbox[0]) / w, (bbox[3] - bbox[1]) / h]
}

/// A part of a frame to run the model on, in frame pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

impl Region {
    pub fn whole(frame: &Frame) -> Self {
        Self { x: 0, y: 0, width: frame.width, height: frame.height }
    }
}

/// One object the model found: a class index into [`Detector::labels`], its score (0–1) and its box
/// `[x1, y1, x2, y2]` in frame pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    pub class: usize,
    pub score: f32,
    pub bbox: [f32; 4],
}

/// Finds objects in a region of a frame.
pub trait Detector: Send + Sync {
    /// Class names, indexed by [`Detection::class`].
    fn labels(&self) -> &[String];
    /// The model's input `(width, height)`: regions smaller than this gain nothing.
    fn input_size(&self) -> (u32, u32);
    /// Detections with a score of at least `min_score`, after per-class non-maximum suppression.
    fn detect(&self, frame: &Frame, region: Region, min_score: f32) -> Result<Vec<Detection>>;
}

/// Boxes of one class overlapping more than this are the same object.
pub const NMS_IOU: f32 = 0.45;

/// Intersection over union of two `[x1, y1, x2, y2]` boxes.
pub fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = w * h;
    let union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
    if union <= 0.0 { 0.0 } else { inter / union }
}

/// Per-class non-maximum suppression: keeps the best box of each overlapping group (IoU above
/// `threshold`), best first.
pub fn nms(detections: Vec<Detection>, threshold: f32) -> Vec<Detection> {
    nms_by(detections, threshold, |a, b| a == b)
}

/// Non-maximum suppression across the classes `same` says may be one object (a `car` box and a
/// `truck` box on one van): the best box of each overlapping group is kept, best first.
pub fn nms_by(mut detections: Vec<Detection>, threshold: f32, same: impl Fn(usize, usize) -> bool) -> Vec<Detection> {
    detections.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Detection> = Vec::with_capacity(detections.len());
    for candidate in detections {
        if !kept.iter().any(|k| same(k.class, candidate.class) && iou(&k.bbox, &candidate.bbox) > threshold) {
            kept.push(candidate);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nms_keeps_the_best_of_overlapping_boxes_per_class() {
        let d = |class, score, x: f32| Detection { class, score, bbox: [x, 0.0, x + 10.0, 10.0] };
        let kept = nms(vec![d(0, 0.5, 1.0), d(0, 0.9, 0.0), d(1, 0.6, 0.0), d(0, 0.7, 50.0)], 0.45);
        assert_eq!(kept, vec![d(0, 0.9, 0.0), d(0, 0.7, 50.0), d(1, 0.6, 0.0)]);
        // Classes 0 and 1 as one group: the weaker class-1 box on the class-0 one goes.
        let grouped = nms_by(vec![d(0, 0.5, 1.0), d(0, 0.9, 0.0), d(1, 0.6, 0.0), d(0, 0.7, 50.0)], 0.45, |_, _| true);
        assert_eq!(grouped, vec![d(0, 0.9, 0.0), d(0, 0.7, 50.0)]);
        assert!((iou(&[0.0, 0.0, 10.0, 10.0], &[5.0, 0.0, 15.0, 10.0]) - 1.0 / 3.0).abs() < 1e-6);
    }
}
