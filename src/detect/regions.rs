//! Where to run the model: the whole frame when it is small enough for the model to see well, else
//! square crops around what moves and around moving tracked objects, each at least the model's input
//! size (so nothing is shrunk more than the whole frame would be) and merged when they overlap.

use super::{Region, RelBox};

/// Crops are this much larger than the boxes they hold, for context around the object.
const MARGIN: f32 = 1.2;

/// Regions for one pass. `boxes` are relative `[x, y, w, h]` (motion and moving objects); `model`
/// is the model's input size. An empty list means nothing to look at.
pub fn plan(frame_width: u32, frame_height: u32, model: (u32, u32), boxes: &[RelBox], whole: bool) -> Vec<Region> {
    let whole_frame = Region { x: 0, y: 0, width: frame_width, height: frame_height };
    // A frame at most a quarter larger than the model's input loses little when shrunk whole.
    let small = frame_width.max(frame_height) as f32 <= model.0.max(model.1) as f32 * 1.25;
    if whole || small {
        return if whole || !boxes.is_empty() { vec![whole_frame] } else { Vec::new() };
    }
    let side_min = model.0.min(model.1).min(frame_width).min(frame_height);
    let (fw, fh) = (frame_width as f32, frame_height as f32);
    let mut regions: Vec<Region> = boxes
        .iter()
        .map(|b| {
            let (cx, cy) = ((b[0] + b[2] / 2.0) * fw, (b[1] + b[3] / 2.0) * fh);
            let side = ((b[2] * fw).max(b[3] * fh) * MARGIN).max(side_min as f32);
            square(cx, cy, side, frame_width, frame_height)
        })
        .collect();
    // Merge overlapping crops until none overlap; a merged crop is the square around both.
    loop {
        let mut merged = false;
        'outer: for i in 0..regions.len() {
            for j in i + 1..regions.len() {
                if overlaps(&regions[i], &regions[j]) {
                    let (a, b) = (regions[i], regions[j]);
                    let (x1, y1) = (a.x.min(b.x), a.y.min(b.y));
                    let (x2, y2) = ((a.x + a.width).max(b.x + b.width), (a.y + a.height).max(b.y + b.height));
                    let side = (x2 - x1).max(y2 - y1) as f32;
                    regions[i] =
                        square((x1 + x2) as f32 / 2.0, (y1 + y2) as f32 / 2.0, side, frame_width, frame_height);
                    regions.remove(j);
                    merged = true;
                    break 'outer;
                }
            }
        }
        if !merged {
            break;
        }
    }
    // Crops that together cover most of the frame cost more than the frame itself.
    let covered: u64 = regions.iter().map(|r| u64::from(r.width) * u64::from(r.height)).sum();
    if covered as f32 > fw * fh * 0.8 {
        return vec![whole_frame];
    }
    regions
}

/// A square of `side` around a centre, moved (not cut) to stay inside the frame, and cut only when
/// the frame is smaller than the square.
fn square(cx: f32, cy: f32, side: f32, frame_width: u32, frame_height: u32) -> Region {
    let width = (side.round() as u32).min(frame_width);
    let height = (side.round() as u32).min(frame_height);
    let x = (cx - width as f32 / 2.0).round().clamp(0.0, (frame_width - width) as f32) as u32;
    let y = (cy - height as f32 / 2.0).round().clamp(0.0, (frame_height - height) as f32) as u32;
    Region { x, y, width, height }
}

fn overlaps(a: &Region, b: &Region) -> bool {
    a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODEL: (u32, u32) = (416, 416);

    #[test]
    fn a_small_frame_is_looked_at_whole() {
        let whole = Region { x: 0, y: 0, width: 480, height: 270 };
        assert_eq!(plan(480, 270, MODEL, &[[0.1, 0.1, 0.1, 0.2]], false), vec![whole]);
        assert!(plan(480, 270, MODEL, &[], false).is_empty(), "nothing moves: nothing to look at");
        assert_eq!(plan(480, 270, MODEL, &[], true), vec![whole], "the periodic full look");
        // 640×360, the default detect size: a person on the left gets a full-height square.
        let left = plan(640, 360, MODEL, &[[0.05, 0.3, 0.1, 0.6]], false);
        assert_eq!(left, vec![Region { x: 0, y: 0, width: 360, height: 360 }]);
    }

    #[test]
    fn a_large_frame_gets_square_crops_around_motion() {
        // 1920×1080: a small person on the left, a car on the right.
        let regions = plan(1920, 1080, MODEL, &[[0.05, 0.5, 0.02, 0.08], [0.8, 0.6, 0.1, 0.1]], false);
        assert_eq!(regions.len(), 2, "{regions:?}");
        for region in &regions {
            assert_eq!(region.width, region.height, "square");
            assert!(region.width >= 416, "at least the model's input");
            assert!(region.x + region.width <= 1920 && region.y + region.height <= 1080, "inside the frame");
        }
        // The person's crop holds the person.
        let person = regions.iter().find(|r| r.x < 300).unwrap();
        let (px, py) = (0.06 * 1920.0, 0.54 * 1080.0);
        assert!((person.x as f32) < px && px < (person.x + person.width) as f32);
        assert!((person.y as f32) < py && py < (person.y + person.height) as f32);
    }

    #[test]
    fn overlapping_crops_merge_and_a_crowded_frame_is_looked_at_whole() {
        let regions = plan(1920, 1080, MODEL, &[[0.40, 0.4, 0.05, 0.1], [0.45, 0.45, 0.05, 0.1]], false);
        assert_eq!(regions.len(), 1, "two nearby movers share one crop: {regions:?}");
        let crowded = [[0.0, 0.0, 0.3, 0.5], [0.5, 0.0, 0.4, 0.5], [0.0, 0.5, 0.4, 0.5], [0.55, 0.55, 0.4, 0.4]];
        assert_eq!(plan(1920, 1080, MODEL, &crowded, false), vec![Region { x: 0, y: 0, width: 1920, height: 1080 }]);
    }
}
