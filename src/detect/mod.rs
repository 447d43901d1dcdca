//! Detection: what changed in a frame (motion now; regions, the object detector and the tracker
//! come with the detector milestone).

pub mod motion;

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
