//! Media files: where snapshots live, how they are written (atomically: temp file, fsync,
//! rename), and the one JPEG encoder, fed straight from the decoder's YUV 4:2:0 frames.

use crate::error::{Error, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// A decoded frame as ffmpeg delivers it: planar YUV 4:2:0 (Y plane, then U, then V).
#[derive(Debug, Clone)]
pub struct Frame {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
    /// Wall-clock capture time, milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// Counts frames of this camera from 0 (per ffmpeg run and across restarts).
    pub seq: u64,
}

impl Frame {
    pub fn byte_len(width: u32, height: u32) -> usize {
        let (w, h) = (width as usize, height as usize);
        w * h + 2 * (w.div_ceil(2) * h.div_ceil(2))
    }

    pub fn luma(&self) -> &[u8] {
        &self.data[..(self.width * self.height) as usize]
    }

    /// Encodes the frame as a JPEG (quality 0–100).
    pub fn to_jpeg(&self, quality: u8) -> Result<Vec<u8>> {
        let (w, h) = (self.width as usize, self.height as usize);
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let (y, chroma) = self.data.split_at(w * h);
        let (u, v) = chroma.split_at(cw * ch);
        let mut interleaved = Vec::with_capacity(w * h * 3);
        for row in 0..h {
            let crow = (row / 2) * cw;
            for col in 0..w {
                interleaved.extend_from_slice(&[y[row * w + col], u[crow + col / 2], v[crow + col / 2]]);
            }
        }
        let mut out = Vec::with_capacity(w * h / 4);
        let encoder = jpeg_encoder::Encoder::new(&mut out, quality);
        encoder
            .encode(&interleaved, self.width as u16, self.height as u16, jpeg_encoder::ColorType::Ycbcr)
            .map_err(|err| Error::internal("cannot encode a JPEG").with_source(err))?;
        Ok(out)
    }
}

/// The media directory and the layout of files inside it.
#[derive(Debug, Clone)]
pub struct MediaStore {
    root: PathBuf,
}

impl MediaStore {
    /// Creates the directory if needed and proves it is writable, with a message that says what to fix.
    pub fn open(root: &Path) -> Result<Self> {
        let fail = |what: &str, err: std::io::Error| {
            Error::unavailable(format!(
                "the media directory {} {what}: {err}; fix its permissions or set [storage] media_dir",
                root.display()
            ))
        };
        std::fs::create_dir_all(root).map_err(|e| fail("cannot be created", e))?;
        let probe = root.join(".watchpost-write-test");
        std::fs::write(&probe, b"ok").map_err(|e| fail("is not writable", e))?;
        let _ = std::fs::remove_file(&probe);
        Ok(Self { root: root.to_path_buf() })
    }

    /// Relative path of an event's snapshot, from its camera and start time (one event per camera
    /// starts at a given millisecond): `snapshots/<camera>/<YYYY-MM-DD>/<time_ms>.jpg`, UTC day.
    pub fn snapshot_path(camera: &str, time_ms: i64) -> String {
        let day = chrono::DateTime::from_timestamp_millis(time_ms).unwrap_or_default().format("%Y-%m-%d");
        format!("snapshots/{camera}/{day}/{time_ms}.jpg")
    }

    /// Resolves a stored relative path; refuses anything that would leave the media directory.
    pub fn resolve(&self, relative: &str) -> Option<PathBuf> {
        let path = Path::new(relative);
        let safe = path.components().all(|c| matches!(c, std::path::Component::Normal(_)));
        safe.then(|| self.root.join(path))
    }

    /// The copy of a snapshot with boxes and labels drawn (`…-boxes.jpg` beside `….jpg`).
    pub fn annotated_path(snapshot: &str) -> String {
        match snapshot.strip_suffix(".jpg") {
            Some(stem) => format!("{stem}-boxes.jpg"),
            None => format!("{snapshot}-boxes.jpg"),
        }
    }

    /// Deletes a snapshot and its copy with boxes drawn; whether anything was deleted. A file
    /// already gone is no error; one that cannot be deleted is logged.
    pub async fn remove_snapshot(&self, snapshot: &str) -> bool {
        let mut removed = false;
        for relative in [snapshot.to_string(), Self::annotated_path(snapshot)] {
            if let Some(path) = self.resolve(&relative) {
                match tokio::fs::remove_file(&path).await {
                    Ok(()) => removed = true,
                    Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                    Err(err) => tracing::warn!(path = %relative, error = %err, "cannot delete a snapshot"),
                }
            }
        }
        removed
    }

    /// Writes `bytes` to `relative` atomically: readers see the old file or the whole new one.
    pub fn write_atomic(&self, relative: &str, bytes: &[u8]) -> Result<()> {
        let target = self.resolve(relative).ok_or_else(|| Error::invalid(format!("bad media path {relative:?}")))?;
        write_atomic(&target, bytes)
    }
}

/// Temp file in the same directory, fsync, rename over the target.
pub fn write_atomic(target: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_mode(target, bytes, 0o644)
}

/// Like [`write_atomic`], readable by the owner only (key files).
pub fn write_atomic_private(target: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_mode(target, bytes, 0o600)
}

fn write_atomic_mode(target: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = target.parent().ok_or_else(|| Error::invalid("path has no parent directory"))?;
    let fail = |err: std::io::Error| Error::unavailable(format!("cannot write {}: {err}", target.display()));
    std::fs::create_dir_all(dir).map_err(fail)?;
    let name = target.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(mode).open(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, target)
    })();
    if let Err(err) = result {
        let _ = std::fs::remove_file(&temp);
        return Err(fail(err));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jpeg_of_a_grey_frame_decodes_as_jpeg() {
        let frame = Frame { width: 64, height: 48, data: vec![128; Frame::byte_len(64, 48)], time_ms: 0, seq: 0 };
        let jpeg = frame.to_jpeg(80).unwrap();
        assert_eq!(&jpeg[..2], &[0xFF, 0xD8]);
        assert_eq!(&jpeg[jpeg.len() - 2..], &[0xFF, 0xD9]);
    }

    #[test]
    fn media_paths_cannot_escape_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let store = MediaStore::open(dir.path()).unwrap();
        assert!(store.resolve("../etc/passwd").is_none());
        assert!(store.resolve("/etc/passwd").is_none());
        store.write_atomic("snapshots/a/b.jpg", b"x").unwrap();
        assert_eq!(std::fs::read(dir.path().join("snapshots/a/b.jpg")).unwrap(), b"x");
        let leftovers = std::fs::read_dir(dir.path().join("snapshots/a")).unwrap().count();
        assert_eq!(leftovers, 1, "no temp file is left behind");
    }
}
