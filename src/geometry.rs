//! Shapes in relative picture coordinates, shared by the settings that draw them (motion masks,
//! object masks, zones) and the code that tests points against them. A leaf: it names nothing
//! else in the crate, so both the detection library and the settings can use it.

/// A polygon in relative coordinates: each point is `[x, y]` with 0,0 top-left and 1,1 bottom-right.
pub type Polygon = Vec<[f32; 2]>;

/// Even-odd rule point-in-polygon test.
pub fn point_in_polygon(point: [f32; 2], polygon: &[[f32; 2]]) -> bool {
    let mut inside = false;
    let mut j = polygon.len().wrapping_sub(1);
    for i in 0..polygon.len() {
        let (pi, pj) = (polygon[i], polygon[j]);
        if (pi[1] > point[1]) != (pj[1] > point[1])
            && point[0] < (pj[0] - pi[0]) * (point[1] - pi[1]) / (pj[1] - pi[1]) + pi[0]
        {
            inside = !inside;
        }
        j = i;
    }
    inside
}

/// A polygon in relative picture coordinates: at least 3 points, all inside the picture, edges that
/// do not cross each other.
pub fn check_polygon(polygon: &[[f32; 2]]) -> Result<(), String> {
    if polygon.len() < 3 {
        return Err(format!("has {} points; a polygon needs at least 3", polygon.len()));
    }
    if polygon.iter().flatten().any(|v| !(0.0..=1.0).contains(v)) {
        return Err("has a point outside the picture; use relative coordinates from 0 to 1 ([x, y])".into());
    }
    let n = polygon.len();
    let edge = |i: usize| (polygon[i], polygon[(i + 1) % n]);
    for i in 0..n {
        for j in i + 1..n {
            // Neighbouring edges share a point; that is not a crossing.
            if j == i + 1 || (i == 0 && j == n - 1) {
                continue;
            }
            let ((a, b), (c, d)) = (edge(i), edge(j));
            if segments_cross(a, b, c, d) {
                return Err(format!(
                    "crosses itself (edges {} and {}); order the points around the outline",
                    i + 1,
                    j + 1
                ));
            }
        }
    }
    Ok(())
}

fn segments_cross(a: [f32; 2], b: [f32; 2], c: [f32; 2], d: [f32; 2]) -> bool {
    let orient = |p: [f32; 2], q: [f32; 2], r: [f32; 2]| (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0]);
    let (d1, d2) = (orient(c, d, a), orient(c, d, b));
    let (d3, d4) = (orient(a, b, c), orient(a, b, d));
    (d1 > 0.0) != (d2 > 0.0) && (d3 > 0.0) != (d4 > 0.0) && d1 != 0.0 && d2 != 0.0 && d3 != 0.0 && d4 != 0.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn point_in_polygon_handles_concave_shapes() {
        let l_shape = [[0.0, 0.0], [1.0, 0.0], [1.0, 0.2], [0.2, 0.2], [0.2, 1.0], [0.0, 1.0]];
        assert!(point_in_polygon([0.1, 0.5], &l_shape));
        assert!(!point_in_polygon([0.5, 0.5], &l_shape));
    }

    #[test]
    fn check_polygon_refuses_too_few_points_outside_points_and_crossings() {
        assert!(check_polygon(&[[0.1, 0.1], [0.9, 0.1], [0.5, 0.9]]).is_ok());
        assert!(check_polygon(&[[0.1, 0.1], [0.9, 0.1]]).unwrap_err().contains("at least 3"));
        assert!(check_polygon(&[[0.1, 0.1], [1.5, 0.1], [0.5, 0.9]]).unwrap_err().contains("outside"));
        let bow_tie = [[0.1, 0.1], [0.9, 0.9], [0.9, 0.1], [0.1, 0.9]];
        assert!(check_polygon(&bow_tie).unwrap_err().contains("crosses itself"));
    }
}
