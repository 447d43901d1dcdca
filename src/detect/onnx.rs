//! The object detector on ONNX Runtime (`ort`, loaded at run time from the library the setup
//! installs): letterboxes a region of a YUV frame straight into the model's input tensor, runs the
//! model, decodes YOLOX or YOLO output, maps boxes back to frame pixels and applies per-class NMS.

use super::{Detection, Detector, DetectorConfig, ModelKind, NMS_IOU, Region, nms};
use crate::error::{Error, Result};
use crate::media::Frame;
use ort::session::Session;
use ort::value::TensorRef;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// Where `scripts/setup.sh` puts the library, relative to the working directory.
pub const LOCAL_ONNXRUNTIME: &str = ".tools/onnxruntime/libonnxruntime.so.1.31.1";
/// The fill value of letterbox padding (YOLOX's and Ultralytics' grey).
const PAD: f32 = 114.0;

/// The 80 COCO classes in the order COCO-trained models use.
pub const COCO_LABELS: [&str; 80] = [
    "person",
    "bicycle",
    "car",
    "motorcycle",
    "airplane",
    "bus",
    "train",
    "truck",
    "boat",
    "traffic light",
    "fire hydrant",
    "stop sign",
    "parking meter",
    "bench",
    "bird",
    "cat",
    "dog",
    "horse",
    "sheep",
    "cow",
    "elephant",
    "bear",
    "zebra",
    "giraffe",
    "backpack",
    "umbrella",
    "handbag",
    "tie",
    "suitcase",
    "frisbee",
    "skis",
    "snowboard",
    "sports ball",
    "kite",
    "baseball bat",
    "baseball glove",
    "skateboard",
    "surfboard",
    "tennis racket",
    "bottle",
    "wine glass",
    "cup",
    "fork",
    "knife",
    "spoon",
    "bowl",
    "banana",
    "apple",
    "sandwich",
    "orange",
    "broccoli",
    "carrot",
    "hot dog",
    "pizza",
    "donut",
    "cake",
    "chair",
    "couch",
    "potted plant",
    "bed",
    "dining table",
    "toilet",
    "tv",
    "laptop",
    "mouse",
    "remote",
    "keyboard",
    "cell phone",
    "microwave",
    "oven",
    "toaster",
    "sink",
    "refrigerator",
    "book",
    "clock",
    "vase",
    "scissors",
    "teddy bear",
    "hair drier",
    "toothbrush",
];

/// The ONNX Runtime library to load: the config, then `ORT_DYLIB_PATH`, then the setup's copy,
/// then the system's.
pub fn library_path(config: &DetectorConfig) -> PathBuf {
    if let Some(path) = config.onnxruntime.as_ref().filter(|p| !p.as_os_str().is_empty()) {
        return path.clone();
    }
    if let Some(path) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    if Path::new(LOCAL_ONNXRUNTIME).is_file() {
        return PathBuf::from(LOCAL_ONNXRUNTIME);
    }
    PathBuf::from("libonnxruntime.so")
}

/// Loads ONNX Runtime once per process and returns its environment; later calls reuse it (the
/// library cannot be swapped while running).
pub fn runtime(library: &Path) -> Result<&'static ort::environment::Environment> {
    static LOADED: OnceLock<std::result::Result<(PathBuf, ort::environment::Environment), String>> = OnceLock::new();
    let loaded = LOADED.get_or_init(|| {
        let builder = ort::init_from(library).map_err(|e| e.to_string())?;
        let environment = builder.with_name("watchpost").build().map_err(|e| e.to_string())?;
        Ok((library.to_path_buf(), environment))
    });
    match loaded {
        Ok((path, environment)) => {
            if path != library {
                tracing::warn!(loaded = %path.display(), asked = %library.display(), "ONNX Runtime is already loaded; keeping it");
            }
            Ok(environment)
        }
        Err(why) => Err(Error::unavailable(format!(
            "cannot load ONNX Runtime from {}: {why}; run scripts/setup.sh, or set [detector] onnxruntime or ORT_DYLIB_PATH to libonnxruntime.so",
            library.display()
        ))),
    }
}

/// Fills `out` (NCHW, `width`×`height`) with `region` of `frame`, scaled to fit with its aspect kept,
/// at the top-left, padded with grey: BGR 0–255 for YOLOX, RGB 0–1 for YOLO. Returns the scale.
pub fn prepare_input(
    kind: ModelKind,
    frame: &Frame,
    region: Region,
    width: u32,
    height: u32,
    out: &mut Vec<f32>,
) -> f32 {
    let (w, h) = (width as usize, height as usize);
    let plane = w * h;
    let (unit, order) = match kind {
        ModelKind::Yolox => (1.0, [2usize, 1, 0]),
        ModelKind::Yolo => (1.0 / 255.0, [0usize, 1, 2]),
    };
    out.clear();
    out.resize(3 * plane, PAD * unit);
    let scale = (width as f32 / region.width as f32).min(height as f32 / region.height as f32);
    let scaled_w = ((region.width as f32 * scale).round() as usize).min(w);
    let scaled_h = ((region.height as f32 * scale).round() as usize).min(h);
    let (fw, fh) = (frame.width as usize, frame.height as usize);
    let (cw, ch) = (fw.div_ceil(2), fh.div_ceil(2));
    let (y_plane, chroma) = frame.data.split_at(fw * fh);
    let (u_plane, v_plane) = chroma.split_at(cw * ch);
    let source_x: Vec<usize> =
        (0..scaled_w).map(|ox| (region.x as usize + ((ox as f32 + 0.5) / scale) as usize).min(fw - 1)).collect();
    for oy in 0..scaled_h {
        let sy = (region.y as usize + ((oy as f32 + 0.5) / scale) as usize).min(fh - 1);
        let (y_row, c_row) = (sy * fw, (sy / 2) * cw);
        for (ox, &sx) in source_x.iter().enumerate() {
            let luma = 1.164 * (f32::from(y_plane[y_row + sx]) - 16.0);
            let u = f32::from(u_plane[c_row + sx / 2]) - 128.0;
            let v = f32::from(v_plane[c_row + sx / 2]) - 128.0;
            let rgb = [luma + 1.596 * v, luma - 0.392 * u - 0.813 * v, luma + 2.017 * u];
            let at = oy * w + ox;
            for (channel, &component) in order.iter().enumerate() {
                out[channel * plane + at] = rgb[component].clamp(0.0, 255.0) * unit;
            }
        }
    }
    scale
}

struct Model {
    session: Session,
    input: Vec<f32>,
}

/// A model loaded into ONNX Runtime. One inference at a time (the session is behind a mutex); the
/// detector worker serialises requests anyway.
pub struct OnnxDetector {
    model: Mutex<Model>,
    kind: ModelKind,
    width: u32,
    height: u32,
    labels: Vec<String>,
    /// Execution providers actually in use, for the system page.
    pub providers: Vec<String>,
}

impl OnnxDetector {
    pub fn load(config: &DetectorConfig) -> Result<Self> {
        let environment = runtime(&library_path(config))?;
        if !config.model.is_file() {
            return Err(Error::unavailable(format!(
                "the detector model {} does not exist; run scripts/setup.sh or set [detector] model",
                config.model.display()
            )));
        }
        let labels = match &config.labels {
            Some(path) => std::fs::read_to_string(path)
                .map_err(|e| Error::invalid(format!("cannot read [detector] labels {}: {e}", path.display())))?
                .lines()
                .map(|l| l.trim().to_string())
                .filter(|l| !l.is_empty())
                .collect(),
            None => COCO_LABELS.iter().map(|l| l.to_string()).collect(),
        };
        let ort_error = |what: &str| {
            let what = what.to_string();
            move |e: ort::Error| Error::unavailable(format!("{what}: {e}"))
        };
        let mut builder = Session::builder(environment).map_err(ort_error("cannot start an ONNX Runtime session"))?;
        // Without spinning, idle intra-op threads sleep between inferences instead of burning CPU:
        // cameras ask a few times a second, not back to back (docs/performance.md).
        builder = builder
            .with_intra_threads(config.threads as usize)
            .map_err(|e| Error::invalid(format!("[detector] threads: {e}")))?
            .with_intra_op_spinning(false)
            .map_err(|e| Error::unavailable(format!("cannot configure ONNX Runtime's threads: {e}")))?;
        let providers = available_providers(&config.providers);
        let dispatch: Vec<_> = providers.iter().filter_map(|name| provider(name)).collect();
        if !dispatch.is_empty() {
            builder = builder
                .with_execution_providers(dispatch)
                .map_err(|e| Error::unavailable(format!("[detector] providers: {e}")))?;
        }
        let session = builder
            .commit_from_file(&config.model)
            .map_err(ort_error(&format!("cannot load the model {} (is it an ONNX file?)", config.model.display())))?;
        let shape = session
            .inputs()
            .first()
            .and_then(|input| input.dtype().tensor_shape())
            .map(|s| s.iter().copied().collect::<Vec<i64>>())
            .unwrap_or_default();
        let (height, width) = match shape.as_slice() {
            [1 | -1, 3, h, w] if *h > 0 && *w > 0 => (*h as u32, *w as u32),
            other => {
                return Err(Error::invalid(format!(
                    "the model {} takes an input of shape {other:?}; Watchpost needs [1, 3, height, width]",
                    config.model.display()
                )));
            }
        };
        Ok(Self {
            model: Mutex::new(Model { session, input: Vec::new() }),
            kind: config.kind,
            width,
            height,
            labels,
            providers,
        })
    }
}

/// The configured providers this ONNX Runtime has; the others are reported and skipped.
fn available_providers(wanted: &[String]) -> Vec<String> {
    use ort::ep::ExecutionProvider;
    let mut usable = Vec::new();
    for name in wanted {
        let available = match name.as_str() {
            "cpu" => Ok(true),
            "cuda" => ort::ep::CUDA::is_available(),
            "tensorrt" => ort::ep::TensorRT::is_available(),
            "openvino" => ort::ep::OpenVINO::is_available(),
            _ => Ok(false),
        };
        match available {
            Ok(true) => usable.push(name.clone()),
            _ => tracing::warn!(
                provider = %name,
                "this ONNX Runtime library has no {name} execution provider; using the others (CPU always works)"
            ),
        }
    }
    if usable.is_empty() {
        usable.push("cpu".into());
    }
    usable
}

fn provider(name: &str) -> Option<ort::ep::ExecutionProviderDispatch> {
    match name {
        "cuda" => Some(ort::ep::CUDA::default().build()),
        "tensorrt" => Some(ort::ep::TensorRT::default().build()),
        "openvino" => Some(ort::ep::OpenVINO::default().build()),
        _ => None,
    }
}

impl Detector for OnnxDetector {
    fn labels(&self) -> &[String] {
        &self.labels
    }

    fn input_size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    fn detect(&self, frame: &Frame, region: Region, min_score: f32) -> Result<Vec<Detection>> {
        if region.width == 0 || region.height == 0 {
            return Ok(Vec::new());
        }
        let mut model = self.model.lock().unwrap_or_else(|e| e.into_inner());
        let Model { session, input } = &mut *model;
        let scale = prepare_input(self.kind, frame, region, self.width, self.height, input);
        let shape = [1usize, 3, self.height as usize, self.width as usize];
        let tensor = TensorRef::from_array_view((shape, input.as_slice()))
            .map_err(|e| Error::internal(format!("cannot build the input tensor: {e}")))?;
        let outputs =
            session.run(ort::inputs![tensor]).map_err(|e| Error::internal(format!("inference failed: {e}")))?;
        let (out_shape, values) = outputs[0]
            .try_extract_tensor::<f32>()
            .map_err(|e| Error::internal(format!("the model's output is not a float tensor: {e}")))?;
        let dims: Vec<i64> = out_shape.iter().copied().collect();
        let raw = match self.kind {
            ModelKind::Yolox => decode_yolox(&dims, values, self.width, self.height, min_score)?,
            ModelKind::Yolo => decode_yolo(&dims, values, min_score)?,
        };
        let (fw, fh) = (frame.width as f32, frame.height as f32);
        let mapped = raw
            .into_iter()
            .filter(|d| d.class < self.labels.len())
            .map(|d| {
                let [x1, y1, x2, y2] = d.bbox;
                let map_x = |x: f32| (region.x as f32 + x / scale).clamp(0.0, fw);
                let map_y = |y: f32| (region.y as f32 + y / scale).clamp(0.0, fh);
                Detection { bbox: [map_x(x1), map_y(y1), map_x(x2), map_y(y2)], ..d }
            })
            .filter(|d| d.bbox[2] > d.bbox[0] && d.bbox[3] > d.bbox[1])
            .collect();
        Ok(nms(mapped, NMS_IOU))
    }
}

/// YOLOX rows `[cx, cy, w, h, objectness, class scores…]` relative to grid cells of strides 8, 16
/// and 32; boxes come out in input pixels.
fn decode_yolox(dims: &[i64], values: &[f32], width: u32, height: u32, min_score: f32) -> Result<Vec<Detection>> {
    let [1, rows, row_len] = dims else {
        return Err(Error::invalid(format!("YOLOX output shape {dims:?} is not [1, N, 5 + classes]")));
    };
    let (rows, row_len) = (*rows as usize, *row_len as usize);
    let mut grid = Vec::with_capacity(rows);
    for stride in [8u32, 16, 32] {
        let (gw, gh) = (width / stride, height / stride);
        for gy in 0..gh {
            for gx in 0..gw {
                grid.push((gx as f32, gy as f32, stride as f32));
            }
        }
    }
    if grid.len() != rows || row_len < 6 || values.len() < rows * row_len {
        return Err(Error::invalid(format!(
            "YOLOX output shape {dims:?} does not match a {width}×{height} input; is [detector] type right?"
        )));
    }
    let mut found = Vec::new();
    for (row, &(gx, gy, stride)) in values.chunks_exact(row_len).zip(&grid) {
        let objectness = row[4];
        if objectness < min_score {
            continue;
        }
        let (class, class_score) = best(&row[5..]);
        let score = objectness * class_score;
        if score < min_score {
            continue;
        }
        let (cx, cy) = ((row[0] + gx) * stride, (row[1] + gy) * stride);
        let (w, h) = (row[2].exp() * stride, row[3].exp() * stride);
        found.push(Detection { class, score, bbox: [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0] });
    }
    Ok(found)
}

/// YOLO `[1, 4 + classes, N]`: columns of cx, cy, w, h in input pixels and class scores.
fn decode_yolo(dims: &[i64], values: &[f32], min_score: f32) -> Result<Vec<Detection>> {
    let [1, channels, n] = dims else {
        return Err(Error::invalid(format!("YOLO output shape {dims:?} is not [1, 4 + classes, N]")));
    };
    let (channels, n) = (*channels as usize, *n as usize);
    if channels < 5 || values.len() < channels * n {
        return Err(Error::invalid(format!("YOLO output shape {dims:?} is too small; is [detector] type right?")));
    }
    let mut found = Vec::new();
    let mut scores = vec![0f32; channels - 4];
    for i in 0..n {
        for (c, score) in scores.iter_mut().enumerate() {
            *score = values[(4 + c) * n + i];
        }
        let (class, score) = best(&scores);
        if score < min_score {
            continue;
        }
        let (cx, cy, w, h) = (values[i], values[n + i], values[2 * n + i], values[3 * n + i]);
        found.push(Detection { class, score, bbox: [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0] });
    }
    Ok(found)
}

fn best(scores: &[f32]) -> (usize, f32) {
    scores.iter().copied().enumerate().fold((0, f32::MIN), |acc, (i, s)| if s > acc.1 { (i, s) } else { acc })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gray_frame(width: u32, height: u32, luma: u8) -> Frame {
        let mut data = vec![luma; (width * height) as usize];
        data.resize(Frame::byte_len(width, height), 128);
        Frame { width, height, data, time_ms: 0, seq: 0 }
    }

    #[test]
    fn letterbox_keeps_the_aspect_and_pads_with_grey() {
        let frame = gray_frame(640, 360, 235);
        let mut input = Vec::new();
        let scale = prepare_input(ModelKind::Yolox, &frame, Region::whole(&frame), 416, 416, &mut input);
        assert!((scale - 0.65).abs() < 1e-6);
        assert_eq!(input.len(), 3 * 416 * 416);
        // Picture rows are white (luma 235 = 255 in RGB); below 234 rows it is padding.
        assert!((input[0] - 255.0).abs() < 1.0 && (input[233 * 416] - 255.0).abs() < 1.0);
        assert_eq!(input[235 * 416], PAD);
        let mut yolo = Vec::new();
        prepare_input(ModelKind::Yolo, &frame, Region::whole(&frame), 416, 416, &mut yolo);
        assert!((yolo[0] - 1.0).abs() < 0.01 && (yolo[300 * 416] - PAD / 255.0).abs() < 1e-6);
    }

    #[test]
    fn yolo_columns_decode_to_boxes() {
        // Two candidates, two classes: column 0 is class 1 at 0.9, column 1 is below the threshold.
        let n = 2;
        let mut values = vec![0f32; 6 * n];
        let set = |values: &mut Vec<f32>, channel: usize, i: usize, v: f32| values[channel * n + i] = v;
        for (channel, v) in [(0, 100.0), (1, 50.0), (2, 20.0), (3, 10.0), (5, 0.9)] {
            set(&mut values, channel, 0, v);
        }
        set(&mut values, 4, 1, 0.1);
        let found = decode_yolo(&[1, 6, 2], &values, 0.25).unwrap();
        assert_eq!(found, vec![Detection { class: 1, score: 0.9, bbox: [90.0, 45.0, 110.0, 55.0] }]);
        assert!(decode_yolo(&[1, 3, 2], &values, 0.25).is_err());
    }

    #[test]
    fn yolox_rows_decode_relative_to_their_grid_cell() {
        // A 32×32 input has 4×4 + 2×2 + 1 = 21 cells; put an object in cell (1, 0) of stride 8.
        let row_len = 5 + 2;
        let mut values = vec![0f32; 21 * row_len];
        values[row_len..2 * row_len].copy_from_slice(&[0.5, 0.5, 0.0, 0.0, 0.9, 0.1, 0.8]);
        let found = decode_yolox(&[1, 21, row_len as i64], &values, 32, 32, 0.25).unwrap();
        assert_eq!(found.len(), 1);
        let d = found[0];
        assert_eq!(d.class, 1);
        assert!((d.score - 0.72).abs() < 1e-6);
        assert_eq!(d.bbox, [8.0, 0.0, 16.0, 8.0]);
        assert!(decode_yolox(&[1, 20, row_len as i64], &values, 32, 32, 0.25).is_err());
    }
}
