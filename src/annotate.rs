//! Boxes and labels burnt into a snapshot, for places that show a picture without Watchpost's UI
//! (alerts, exports). Draws straight into the YUV 4:2:0 frame: rectangle outlines and a label on a
//! dark band, in a built-in 5×7 pixel font (lowercase letters, digits, a few signs), so no font files
//! or image libraries are needed.

use crate::detect::RelBox;
use crate::media::Frame;

/// Box outline colour (yellow) in Y, U, V.
const BOX_YUV: [u8; 3] = [210, 16, 146];
/// Label band (near black) and text (white).
const BAND_Y: u8 = 24;
const TEXT_Y: u8 = 235;

/// A copy of `frame` with each box outlined and labelled.
pub fn annotate(frame: &Frame, boxes: &[(RelBox, String)]) -> Frame {
    let mut out = frame.clone();
    let (w, h) = (frame.width as i32, frame.height as i32);
    let thickness = (w / 320).max(2);
    let scale = (w / 320).max(1);
    for (b, label) in boxes {
        let x1 = (b[0] * w as f32).round() as i32;
        let y1 = (b[1] * h as f32).round() as i32;
        let x2 = ((b[0] + b[2]) * w as f32).round() as i32;
        let y2 = ((b[1] + b[3]) * h as f32).round() as i32;
        for t in 0..thickness {
            fill(&mut out, x1, y1 + t, x2, y1 + t + 1, BOX_YUV);
            fill(&mut out, x1, y2 - t - 1, x2, y2 - t, BOX_YUV);
            fill(&mut out, x1 + t, y1, x1 + t + 1, y2, BOX_YUV);
            fill(&mut out, x2 - t - 1, y1, x2 - t, y2, BOX_YUV);
        }
        if label.is_empty() {
            continue;
        }
        let (glyph_w, glyph_h) = (6 * scale, 9 * scale);
        let band_w = glyph_w * label.chars().count() as i32 + 2 * scale;
        // Above the box when there is room, else inside its top.
        let band_y = if y1 >= glyph_h { y1 - glyph_h } else { y1 };
        fill(&mut out, x1, band_y, x1 + band_w, band_y + glyph_h, [BAND_Y, 128, 128]);
        for (i, c) in label.chars().enumerate() {
            draw_glyph(&mut out, x1 + scale + i as i32 * glyph_w, band_y + scale, scale, c);
        }
    }
    out
}

/// Paints the rectangle `[x1, x2) × [y1, y2)` (clipped to the frame) in a YUV colour.
fn fill(frame: &mut Frame, x1: i32, y1: i32, x2: i32, y2: i32, [y, u, v]: [u8; 3]) {
    let (w, h) = (frame.width as i32, frame.height as i32);
    let (x1, x2, y1, y2) = (x1.clamp(0, w), x2.clamp(0, w), y1.clamp(0, h), y2.clamp(0, h));
    if x1 >= x2 || y1 >= y2 {
        return;
    }
    let (fw, cw, ch) = (w as usize, (w as usize).div_ceil(2), (h as usize).div_ceil(2));
    let (luma, chroma) = frame.data.split_at_mut(fw * h as usize);
    let (u_plane, v_plane) = chroma.split_at_mut(cw * ch);
    for row in y1..y2 {
        luma[row as usize * fw + x1 as usize..row as usize * fw + x2 as usize].fill(y);
    }
    for row in (y1 / 2)..((y2 + 1) / 2).min(ch as i32) {
        let range = row as usize * cw + (x1 / 2) as usize..row as usize * cw + ((x2 + 1) / 2).min(cw as i32) as usize;
        u_plane[range.clone()].fill(u);
        v_plane[range].fill(v);
    }
}

fn draw_glyph(frame: &mut Frame, x: i32, y: i32, scale: i32, c: char) {
    let Some(rows) = glyph(c) else { return };
    for (r, bits) in rows.iter().enumerate() {
        for col in 0..5 {
            if bits & (0b10000 >> col) != 0 {
                let (px, py) = (x + col * scale, y + r as i32 * scale);
                let (fw, fh) = (frame.width as i32, frame.height as i32);
                for dy in 0..scale {
                    for dx in 0..scale {
                        let (qx, qy) = (px + dx, py + dy);
                        if (0..fw).contains(&qx) && (0..fh).contains(&qy) {
                            frame.data[(qy * fw + qx) as usize] = TEXT_Y;
                        }
                    }
                }
            }
        }
    }
}

/// 5×7 glyphs, one byte per row, the high five bits of each from left to right.
fn glyph(c: char) -> Option<[u8; 7]> {
    Some(match c.to_ascii_lowercase() {
        'a' => [0x00, 0x00, 0x0E, 0x01, 0x0F, 0x11, 0x0F],
        'b' => [0x10, 0x10, 0x1E, 0x11, 0x11, 0x11, 0x1E],
        'c' => [0x00, 0x00, 0x0E, 0x10, 0x10, 0x11, 0x0E],
        'd' => [0x01, 0x01, 0x0F, 0x11, 0x11, 0x11, 0x0F],
        'e' => [0x00, 0x00, 0x0E, 0x11, 0x1F, 0x10, 0x0E],
        'f' => [0x06, 0x09, 0x08, 0x1C, 0x08, 0x08, 0x08],
        'g' => [0x00, 0x0F, 0x11, 0x11, 0x0F, 0x01, 0x0E],
        'h' => [0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11],
        'i' => [0x04, 0x00, 0x0C, 0x04, 0x04, 0x04, 0x0E],
        'j' => [0x02, 0x00, 0x06, 0x02, 0x02, 0x12, 0x0C],
        'k' => [0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12],
        'l' => [0x0C, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
        'm' => [0x00, 0x00, 0x1A, 0x15, 0x15, 0x11, 0x11],
        'n' => [0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11],
        'o' => [0x00, 0x00, 0x0E, 0x11, 0x11, 0x11, 0x0E],
        'p' => [0x00, 0x00, 0x1E, 0x11, 0x1E, 0x10, 0x10],
        'q' => [0x00, 0x00, 0x0F, 0x11, 0x0F, 0x01, 0x01],
        'r' => [0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10],
        's' => [0x00, 0x00, 0x0F, 0x10, 0x0E, 0x01, 0x1E],
        't' => [0x08, 0x08, 0x1C, 0x08, 0x08, 0x09, 0x06],
        'u' => [0x00, 0x00, 0x11, 0x11, 0x11, 0x13, 0x0D],
        'v' => [0x00, 0x00, 0x11, 0x11, 0x11, 0x0A, 0x04],
        'w' => [0x00, 0x00, 0x11, 0x11, 0x15, 0x15, 0x0A],
        'x' => [0x00, 0x00, 0x11, 0x0A, 0x04, 0x0A, 0x11],
        'y' => [0x00, 0x00, 0x11, 0x11, 0x0F, 0x01, 0x0E],
        'z' => [0x00, 0x00, 0x1F, 0x02, 0x04, 0x08, 0x1F],
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        '%' => [0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03],
        '-' => [0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00],
        '_' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F],
        '.' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C],
        ' ' => [0x00; 7],
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxes_and_labels_are_drawn_on_a_copy() {
        let (w, h) = (64u32, 48u32);
        let mut data = vec![100u8; (w * h) as usize];
        data.resize(Frame::byte_len(w, h), 128);
        let frame = Frame { width: w, height: h, data, time_ms: 0, seq: 0 };
        let drawn = annotate(&frame, &[([0.25, 0.5, 0.5, 0.25], "car 9%".into())]);
        assert!(frame.data.iter().take((w * h) as usize).all(|&y| y == 100), "the original is untouched");
        let luma = |x: u32, y: u32| drawn.data[(y * w + x) as usize];
        assert_eq!(luma(16, 24), BOX_YUV[0], "top-left corner of the box");
        assert_eq!(luma(47, 35), BOX_YUV[0], "bottom-right corner of the box");
        assert_eq!(luma(32, 30), 100, "inside the box is left alone");
        // The label band sits above the box, with white text pixels on it.
        let band: Vec<u8> = (15..24).flat_map(|y| (16..60).map(move |x| (x, y))).map(|(x, y)| luma(x, y)).collect();
        assert!(band.contains(&TEXT_Y) && band.contains(&BAND_Y));
        for c in "abcdefghijklmnopqrstuvwxyz0123456789%-_. ".chars() {
            assert!(glyph(c).is_some(), "no glyph for {c:?}");
        }
    }
}
