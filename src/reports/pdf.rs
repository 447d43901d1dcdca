//! Drawing on PDF pages (printpdf): text in an embedded DejaVu Sans (any script a camera name is
//! written in, measured for wrapping), boxes, lines, JPEG snapshots, and a `plotters` drawing
//! backend so that charts come out as vector graphics on the page rather than pictures of them.
//!
//! Coordinates are points from the page's top-left corner, as a layout thinks; they are turned
//! into PDF's bottom-left ones here and nowhere else.

use crate::error::{Error, Result};
use plotters_backend::text_anchor::{HPos, VPos};
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingBackend, DrawingErrorKind, FontStyle,
};
use printpdf::{
    Color, FontId, Line, LinePoint, Op, ParsedFont, PdfDocument, PdfFontHandle, PdfPage, PdfSaveOptions, Point,
    Polygon, PolygonRing, Pt, RawImage, Rect, Rgb, TextItem, XObjectId, XObjectTransform,
};
use std::path::Path;

/// A4 in points.
pub const PAGE_WIDTH: f32 = 595.28;
pub const PAGE_HEIGHT: f32 = 841.89;

/// Where the DejaVu fonts are on common systems (Debian's fonts-dejavu-core first).
const FONT_DIRS: [&str; 4] = [
    "/usr/share/fonts/truetype/dejavu",
    "/usr/share/fonts/dejavu-sans-fonts",
    "/usr/share/fonts/TTF",
    "/usr/share/fonts/dejavu",
];

/// An RGB colour, 0–255 per channel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Colour(pub u8, pub u8, pub u8);

impl Colour {
    pub const TEXT: Colour = Colour(33, 37, 41);
    pub const MUTED: Colour = Colour(108, 117, 125);
    pub const RULE: Colour = Colour(206, 212, 218);
    pub const WHITE: Colour = Colour(255, 255, 255);

    fn pdf(self) -> Color {
        Color::Rgb(Rgb {
            r: f32::from(self.0) / 255.0,
            g: f32::from(self.1) / 255.0,
            b: f32::from(self.2) / 255.0,
            icc_profile: None,
        })
    }
}

/// A font face with the widths of its glyphs, for measuring text before it is set.
#[derive(Clone)]
struct Face {
    id: FontId,
    widths: std::collections::BTreeMap<u32, f32>,
}

impl Face {
    fn load(document: &mut PdfDocument, path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path)
            .map_err(|e| Error::unavailable(format!("cannot read the font {}: {e}", path.display())))?;
        let font = ParsedFont::from_bytes(&bytes, 0, &mut Vec::new())
            .ok_or_else(|| Error::unavailable(format!("the font {} cannot be read", path.display())))?;
        let per_em = f32::from(font.units_per_em.max(1));
        let widths = font
            .codepoint_to_glyph
            .iter()
            .filter_map(|(code, glyph)| Some((*code, f32::from(*font.glyph_widths.get(glyph)?) / per_em)))
            .collect();
        Ok(Self { id: document.add_font(&font), widths })
    }

    /// The width of `text` at `size` points.
    fn width(&self, text: &str, size: f32) -> f32 {
        text.chars().map(|c| self.widths.get(&(c as u32)).copied().unwrap_or(0.6)).sum::<f32>() * size
    }
}

/// Regular or bold text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weight {
    Regular,
    Bold,
}

/// A PDF being drawn, page by page.
pub struct Document {
    inner: PdfDocument,
    regular: Face,
    bold: Face,
    pages: Vec<PdfPage>,
}

impl Document {
    /// A new document titled `title`, with the fonts from the system's DejaVu (fonts-dejavu-core).
    pub fn new(title: &str) -> Result<Self> {
        let find = |file: &str| FONT_DIRS.iter().map(|dir| Path::new(dir).join(file)).find(|p| p.is_file());
        let (Some(regular), Some(bold)) = (find("DejaVuSans.ttf"), find("DejaVuSans-Bold.ttf")) else {
            return Err(Error::unavailable(
                "reports need the DejaVu Sans font; install it (Debian: apt-get install fonts-dejavu-core)",
            ));
        };
        let mut inner = PdfDocument::new(title);
        let regular = Face::load(&mut inner, &regular)?;
        let bold = Face::load(&mut inner, &bold)?;
        Ok(Self { inner, regular, bold, pages: Vec::new() })
    }

    /// A blank A4 page to draw on; [`Document::finish_page`] adds it.
    pub fn page(&self) -> Page {
        Page { ops: Vec::new(), regular: self.regular.clone(), bold: self.bold.clone() }
    }

    pub fn finish_page(&mut self, page: Page) {
        self.pages.push(PdfPage::new(
            printpdf::Mm::from(Pt(PAGE_WIDTH)),
            printpdf::Mm::from(Pt(PAGE_HEIGHT)),
            page.ops,
        ));
    }

    /// Adds a JPEG (a snapshot) to the document; `None` when it cannot be decoded. Returns the
    /// image and its size in pixels.
    pub fn add_jpeg(&mut self, jpeg: &[u8]) -> Option<(XObjectId, (f32, f32))> {
        let image = RawImage::decode_from_bytes(jpeg, &mut Vec::new()).ok()?;
        let size = (image.width as f32, image.height as f32);
        Some((self.inner.add_image(&image), size))
    }

    pub fn page_count(&self) -> usize {
        self.pages.len()
    }

    /// The finished file.
    pub fn save(mut self) -> Vec<u8> {
        let pages = std::mem::take(&mut self.pages);
        self.inner.with_pages(pages).save(&PdfSaveOptions::default(), &mut Vec::new())
    }
}

/// One page's drawing operations.
pub struct Page {
    ops: Vec<Op>,
    regular: Face,
    bold: Face,
}

fn point(x: f32, y: f32) -> Point {
    Point { x: Pt(x), y: Pt(PAGE_HEIGHT - y) }
}

impl Page {
    fn face(&self, weight: Weight) -> &Face {
        match weight {
            Weight::Regular => &self.regular,
            Weight::Bold => &self.bold,
        }
    }

    pub fn text_width(&self, text: &str, size: f32, weight: Weight) -> f32 {
        self.face(weight).width(text, size)
    }

    /// `text` with its baseline at `y`, starting at `x`.
    pub fn text(&mut self, x: f32, y: f32, size: f32, weight: Weight, colour: Colour, text: &str) {
        let font = self.face(weight).id.clone();
        self.ops.extend([
            Op::StartTextSection,
            Op::SetFillColor { col: colour.pdf() },
            Op::SetFont { font: PdfFontHandle::External(font), size: Pt(size) },
            Op::SetTextCursor { pos: point(x, y) },
            Op::ShowText { items: vec![TextItem::Text(text.to_string())] },
            Op::EndTextSection,
        ]);
    }

    /// `text` ending at `right`.
    pub fn text_right(&mut self, right: f32, y: f32, size: f32, weight: Weight, colour: Colour, text: &str) {
        let width = self.text_width(text, size, weight);
        self.text(right - width, y, size, weight, colour, text);
    }

    /// `text` broken into lines no wider than `width`, at most `max_lines` (the last one ended
    /// with "…" when text is left over).
    pub fn wrap(&self, text: &str, width: f32, size: f32, weight: Weight, max_lines: usize) -> Vec<String> {
        let mut lines: Vec<String> = Vec::new();
        let mut current = String::new();
        for word in text.split_whitespace() {
            let candidate = if current.is_empty() { word.to_string() } else { format!("{current} {word}") };
            if self.text_width(&candidate, size, weight) <= width || current.is_empty() {
                current = candidate;
            } else {
                lines.push(std::mem::replace(&mut current, word.to_string()));
            }
        }
        if !current.is_empty() {
            lines.push(current);
        }
        if lines.len() > max_lines {
            lines.truncate(max_lines);
            if let Some(last) = lines.last_mut() {
                while !last.is_empty() && self.text_width(&format!("{last} …"), size, weight) > width {
                    last.pop();
                }
                last.push_str(" …");
            }
        }
        lines
    }

    /// Wrapped text from `y` (the first baseline) down; returns the y below the last line.
    pub fn paragraph(&mut self, x: f32, y: f32, width: f32, size: f32, colour: Colour, text: &str) -> f32 {
        let leading = size * 1.35;
        let mut y = y;
        for line in self.wrap(text, width, size, Weight::Regular, 40) {
            self.text(x, y, size, Weight::Regular, colour, &line);
            y += leading;
        }
        y
    }

    /// A filled box, `(x, y)` its top-left corner.
    pub fn fill_rect(&mut self, x: f32, y: f32, width: f32, height: f32, colour: Colour) {
        self.ops.push(Op::SetFillColor { col: colour.pdf() });
        self.ops.push(Op::DrawRectangle {
            rectangle: Rect {
                x: Pt(x),
                y: Pt(PAGE_HEIGHT - y - height),
                width: Pt(width),
                height: Pt(height),
                mode: Some(printpdf::PaintMode::Fill),
                winding_order: None,
            },
        });
    }

    /// A straight line.
    pub fn line(&mut self, from: (f32, f32), to: (f32, f32), thickness: f32, colour: Colour) {
        self.ops.push(Op::SetOutlineColor { col: colour.pdf() });
        self.ops.push(Op::SetOutlineThickness { pt: Pt(thickness) });
        let points = [from, to].map(|(x, y)| LinePoint { p: point(x, y), bezier: false }).to_vec();
        self.ops.push(Op::DrawLine { line: Line { points, is_closed: false } });
    }

    fn polygon(&mut self, points: &[(f32, f32)], colour: Colour) {
        self.ops.push(Op::SetFillColor { col: colour.pdf() });
        let points = points.iter().map(|&(x, y)| LinePoint { p: point(x, y), bezier: false }).collect();
        self.ops.push(Op::DrawPolygon {
            polygon: Polygon {
                rings: vec![PolygonRing { points }],
                mode: printpdf::PaintMode::Fill,
                winding_order: printpdf::WindingOrder::NonZero,
            },
        });
    }

    /// An image added with [`Document::add_jpeg`], `(x, y)` its top-left corner, `width` wide.
    /// Returns its height.
    pub fn image(&mut self, image: &(XObjectId, (f32, f32)), x: f32, y: f32, width: f32) -> f32 {
        let (id, (pixels_wide, pixels_high)) = image;
        let scale = width / pixels_wide.max(1.0);
        let height = pixels_high * scale;
        self.ops.push(Op::UseXobject {
            id: id.clone(),
            transform: XObjectTransform {
                translate_x: Some(Pt(x)),
                translate_y: Some(Pt(PAGE_HEIGHT - y - height)),
                scale_x: Some(scale),
                scale_y: Some(scale),
                dpi: Some(72.0),
                ..Default::default()
            },
        });
        height
    }

    /// A `plotters` drawing area of `width` × `height` points with its top-left corner at `(x, y)`.
    pub fn chart_area(&mut self, x: f32, y: f32, width: f32, height: f32) -> ChartBackend<'_> {
        ChartBackend { page: self, origin: (x, y), size: (width, height) }
    }
}

/// Draws what `plotters` lays out straight onto a page, in vector form. One backend unit is
/// [`UNIT`] points, fine enough that rounding to whole units does not show.
pub struct ChartBackend<'a> {
    page: &'a mut Page,
    origin: (f32, f32),
    size: (f32, f32),
}

/// Points per backend unit.
const UNIT: f32 = 0.25;

/// Cannot happen: drawing on a page only collects operations.
#[derive(Debug)]
pub struct NeverFails;

impl std::fmt::Display for NeverFails {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("drawing failed")
    }
}

impl std::error::Error for NeverFails {}

fn colour_of(colour: BackendColor) -> Option<Colour> {
    (colour.alpha > 0.0).then_some(Colour(colour.rgb.0, colour.rgb.1, colour.rgb.2))
}

impl ChartBackend<'_> {
    fn at(&self, (x, y): BackendCoord) -> (f32, f32) {
        (self.origin.0 + x as f32 * UNIT, self.origin.1 + y as f32 * UNIT)
    }

    fn weight(style: &impl BackendTextStyle) -> Weight {
        if matches!(style.style(), FontStyle::Bold) { Weight::Bold } else { Weight::Regular }
    }
}

type Drawn = std::result::Result<(), DrawingErrorKind<NeverFails>>;

impl DrawingBackend for ChartBackend<'_> {
    type ErrorType = NeverFails;

    fn get_size(&self) -> (u32, u32) {
        ((self.size.0 / UNIT) as u32, (self.size.1 / UNIT) as u32)
    }

    fn ensure_prepared(&mut self) -> Drawn {
        Ok(())
    }

    fn present(&mut self) -> Drawn {
        Ok(())
    }

    fn draw_pixel(&mut self, point: BackendCoord, color: BackendColor) -> Drawn {
        if let Some(colour) = colour_of(color) {
            let (x, y) = self.at(point);
            self.page.fill_rect(x, y, UNIT, UNIT, colour);
        }
        Ok(())
    }

    fn draw_line<S: BackendStyle>(&mut self, from: BackendCoord, to: BackendCoord, style: &S) -> Drawn {
        if let Some(colour) = colour_of(style.color()) {
            let (from, to) = (self.at(from), self.at(to));
            self.page.line(from, to, (style.stroke_width() as f32 * UNIT * 2.0).max(0.3), colour);
        }
        Ok(())
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Drawn {
        let Some(colour) = colour_of(style.color()) else { return Ok(()) };
        let ((x1, y1), (x2, y2)) = (self.at(upper_left), self.at(bottom_right));
        if fill {
            self.page.fill_rect(x1, y1, x2 - x1, y2 - y1, colour);
        } else {
            for (from, to) in [((x1, y1), (x2, y1)), ((x2, y1), (x2, y2)), ((x2, y2), (x1, y2)), ((x1, y2), (x1, y1))] {
                self.page.line(from, to, 0.5, colour);
            }
        }
        Ok(())
    }

    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(&mut self, vert: I, style: &S) -> Drawn {
        if let Some(colour) = colour_of(style.color()) {
            let points: Vec<(f32, f32)> = vert.into_iter().map(|p| self.at(p)).collect();
            self.page.polygon(&points, colour);
        }
        Ok(())
    }

    fn draw_text<TStyle: BackendTextStyle>(&mut self, text: &str, style: &TStyle, pos: BackendCoord) -> Drawn {
        let Some(colour) = colour_of(style.color()) else { return Ok(()) };
        let size = style.size() as f32 * UNIT;
        let weight = Self::weight(style);
        let width = self.page.text_width(text, size, weight);
        let (x, y) = self.at(pos);
        let anchor = style.anchor();
        let x = match anchor.h_pos {
            HPos::Left => x,
            HPos::Center => x - width / 2.0,
            HPos::Right => x - width,
        };
        // Baseline from the anchor: DejaVu's capitals stand about 0.73 em tall.
        let y = match anchor.v_pos {
            VPos::Top => y + size * 0.76,
            VPos::Center => y + size * 0.36,
            VPos::Bottom => y,
        };
        self.page.text(x, y, size, weight, colour, text);
        Ok(())
    }

    fn estimate_text_size<TStyle: BackendTextStyle>(
        &self,
        text: &str,
        style: &TStyle,
    ) -> std::result::Result<(u32, u32), DrawingErrorKind<NeverFails>> {
        let size = style.size() as f32 * UNIT;
        let width = self.page.text_width(text, size, Self::weight(style));
        Ok(((width / UNIT).ceil() as u32, (size * 1.2 / UNIT).ceil() as u32))
    }

    fn blit_bitmap(&mut self, _pos: BackendCoord, _size: (u32, u32), _src: &[u8]) -> Drawn {
        Ok(())
    }
}
