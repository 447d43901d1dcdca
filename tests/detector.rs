//! The object detector on real photographs with the real model (YOLOX-Nano) and ONNX Runtime, as
//! the setup installs them: what it finds, where, and in regions of the frame.

mod common;

use common::*;
use std::path::Path;
use watchpost::detect::onnx::OnnxDetector;
use watchpost::detect::{Detection, Detector, Region};

fn found(detector: &OnnxDetector, detections: &[Detection]) -> Vec<(String, f32)> {
    detections.iter().map(|d| (detector.labels()[d.class].clone(), d.score)).collect()
}

fn best_of<'a>(detector: &OnnxDetector, detections: &'a [Detection], label: &str) -> Option<&'a Detection> {
    detections.iter().find(|d| detector.labels()[d.class] == label)
}

#[test]
fn finds_the_person_dog_and_horse_and_the_dog_bicycle_and_car() {
    let Some(config) = detector_config() else { return };
    let detector = OnnxDetector::load(&config).expect("the detector loads");
    assert_eq!(detector.input_size(), (416, 416), "input size read from the model");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));

    let person = frame_from_photo(&root.join("assets/demo/person.jpg"), 640);
    let detections = detector.detect(&person, Region::whole(&person), 0.3).unwrap();
    let names = found(&detector, &detections);
    let person_box = best_of(&detector, &detections, "person").unwrap_or_else(|| panic!("no person in {names:?}"));
    assert!(person_box.score >= 0.7, "person scored {names:?}");
    for label in ["dog", "horse"] {
        assert!(best_of(&detector, &detections, label).is_some_and(|d| d.score >= 0.5), "no {label}: {names:?}");
    }
    // The person stands left of centre and fills most of the height (frame pixels, 640 wide).
    let [x1, y1, x2, y2] = person_box.bbox;
    assert!(x1 < x2 && y1 < y2 && x2 <= 640.0 && y2 <= person.height as f32, "{:?}", person_box.bbox);
    let centre_x = (x1 + x2) / 2.0;
    assert!((100.0..320.0).contains(&centre_x), "person centre at x = {centre_x}");
    assert!(y2 - y1 > person.height as f32 * 0.5, "person box {:?}", person_box.bbox);

    let dog = frame_from_photo(&root.join("tests/fixtures/dog.jpg"), 640);
    let detections = detector.detect(&dog, Region::whole(&dog), 0.3).unwrap();
    let names = found(&detector, &detections);
    for label in ["dog", "bicycle", "car"] {
        assert!(best_of(&detector, &detections, label).is_some_and(|d| d.score >= 0.5), "no {label}: {names:?}");
    }
    // Exactly one of each after NMS: no duplicate boxes for the same object.
    for label in ["dog", "bicycle", "car"] {
        assert_eq!(detections.iter().filter(|d| detector.labels()[d.class] == label).count(), 1, "{names:?}");
    }
}

#[test]
fn boxes_found_in_a_region_are_in_frame_coordinates() {
    let Some(config) = detector_config() else { return };
    let detector = OnnxDetector::load(&config).expect("the detector loads");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let frame = frame_from_photo(&root.join("assets/demo/person.jpg"), 640);
    let whole = detector.detect(&frame, Region::whole(&frame), 0.3).unwrap();
    let person = *best_of(&detector, &whole, "person").expect("a person in the whole frame");

    // A square region around the person: the box comes back where it was in the frame.
    let [x1, y1, x2, y2] = person.bbox;
    let side = ((x2 - x1).max(y2 - y1) * 1.3).min(frame.height as f32) as u32;
    let cx = ((x1 + x2) / 2.0) as u32;
    let region = Region { x: cx.saturating_sub(side / 2), y: frame.height - side, width: side, height: side };
    let cropped = detector.detect(&frame, region, 0.3).unwrap();
    let again = best_of(&detector, &cropped, "person").expect("the person in the region");
    assert!(watchpost::detect::iou(&again.bbox, &person.bbox) > 0.7, "{:?} vs {:?}", again.bbox, person.bbox);

    // Nothing is found in an empty patch of sky, and a higher bar removes the weaker finds.
    let sky = Region { x: 400, y: 0, width: 120, height: 60 };
    assert!(detector.detect(&frame, sky, 0.5).unwrap().is_empty());
    let strict = detector.detect(&frame, Region::whole(&frame), 0.95).unwrap();
    assert!(strict.len() < whole.len());
}

#[test]
fn a_missing_model_or_library_is_explained() {
    let Some(config) = detector_config() else { return };
    let missing_model = watchpost::detect::DetectorConfig { model: "/nonexistent/model.onnx".into(), ..config };
    let err = OnnxDetector::load(&missing_model).err().expect("a missing model is an error");
    assert!(err.message.contains("/nonexistent/model.onnx") && err.message.contains("scripts/setup.sh"), "{err}");
}

#[test]
fn a_provider_the_library_lacks_falls_back_to_the_cpu() {
    let Some(config) = detector_config() else { return };
    // The PyPI wheel is the CPU build: CUDA and TensorRT are skipped with a warning, CPU remains.
    let config = watchpost::detect::DetectorConfig { providers: vec!["cuda".into(), "tensorrt".into()], ..config };
    let detector = OnnxDetector::load(&config).expect("the detector loads without a GPU");
    assert_eq!(detector.providers, vec!["cpu".to_string()]);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let frame = frame_from_photo(&root.join("tests/fixtures/dog.jpg"), 640);
    assert!(!detector.detect(&frame, Region::whole(&frame), 0.5).unwrap().is_empty());
}

#[test]
fn labels_come_from_a_file_when_one_is_given() {
    let Some(config) = detector_config() else { return };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("labels.txt");
    let mut labels: Vec<String> = watchpost::detect::onnx::COCO_LABELS.iter().map(|l| l.to_string()).collect();
    labels[0] = "human".into();
    std::fs::write(&file, labels.join("\n")).unwrap();
    let detector = OnnxDetector::load(&watchpost::detect::DetectorConfig { labels: Some(file), ..config }).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let frame = frame_from_photo(&root.join("assets/demo/person.jpg"), 640);
    let detections = detector.detect(&frame, Region::whole(&frame), 0.5).unwrap();
    assert!(best_of(&detector, &detections, "human").is_some(), "{:?}", found(&detector, &detections));
    assert!(best_of(&detector, &detections, "person").is_none());
}
