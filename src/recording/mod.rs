//! Recorded video. A camera's stream arrives from ffmpeg as fragmented MP4 (copied, never
//! re-encoded, on the same connection detection uses when both read one URL); [`writer`] cuts it
//! into short files indexed in the database, [`recovery`] makes files and index agree after a
//! crash, [`retention`] deletes what is too old or what no longer fits, and [`clips`] assembles an
//! event's clip or any span of a camera into one MP4 for the browser or a download.
//! [`Recordings`] is the door the pages and the API use.

pub mod clips;
pub mod mp4;
pub mod recovery;
pub mod retention;
pub mod settings;
pub mod writer;

use crate::db::Db;
use crate::db::entities::recording_segment;
use crate::error::{Error, Result};
use mp4::{Fragment, InitSegment};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// One fragment of a camera's copied stream, with the init segment it belongs to (a new one after
/// every reconnect) and the wall-clock time it arrived. Shared, not copied, between the recorder
/// and the live viewers.
#[derive(Debug, Clone)]
pub struct StreamFragment {
    pub init: Arc<InitSegment>,
    pub fragment: Arc<Fragment>,
    pub arrived_ms: i64,
}

/// What the recorders and the sweep counted since start, for `/metrics` and the Storage page.
#[derive(Debug, Default)]
pub struct RecordingFigures {
    pub segments_written: AtomicU64,
    pub write_errors: AtomicU64,
    pub deleted_by_age: AtomicU64,
    pub deleted_for_space: AtomicU64,
    pub deleted_without_event: AtomicU64,
}

/// The recordings on disk and in the index: where they are, the limits, and the figures.
#[derive(Clone)]
pub struct Recordings {
    dir: PathBuf,
    db: Db,
    limits: SpaceLimits,
    pub figures: Arc<RecordingFigures>,
    /// The last reason a recorder could not write, shown until the next file is written.
    last_write_error: Arc<std::sync::Mutex<Option<String>>>,
}

/// `[storage] max_size_gb` and `min_free_gb`, in bytes (0 = no cap).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpaceLimits {
    pub max_bytes: u64,
    pub min_free_bytes: u64,
}

impl SpaceLimits {
    pub fn from_gb(max_size_gb: f64, min_free_gb: f64) -> Self {
        let bytes = |gb: f64| (gb.max(0.0) * 1e9) as u64;
        Self { max_bytes: bytes(max_size_gb), min_free_bytes: bytes(min_free_gb) }
    }
}

impl Recordings {
    pub fn new(dir: PathBuf, db: Db, limits: SpaceLimits) -> Self {
        Self { dir, db, limits, figures: Arc::default(), last_write_error: Arc::default() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn limits(&self) -> SpaceLimits {
        self.limits
    }

    /// A segment's file from its indexed path; `None` for a path that would leave the directory.
    pub fn file(&self, relative: &str) -> Option<PathBuf> {
        let safe = Path::new(relative).components().all(|c| matches!(c, std::path::Component::Normal(_)));
        safe.then(|| self.dir.join(relative))
    }

    /// A camera's segments overlapping `[from_ms, to_ms)`, oldest first.
    pub async fn segments(&self, camera: &str, from_ms: i64, to_ms: i64) -> Result<Vec<recording_segment::Model>> {
        self.db.segments_between(camera, from_ms, to_ms).await
    }

    /// Deletes segments, each file before its row (a crash between leaves a row the recovery pass
    /// drops, never a file it would index again); a file that cannot be deleted keeps its row.
    /// Returns how many went and their bytes.
    pub async fn remove(&self, segments: &[recording_segment::Model]) -> Result<(u64, u64)> {
        let mut ids = Vec::with_capacity(segments.len());
        let mut bytes = 0;
        for segment in segments {
            if let Some(file) = self.file(&segment.path) {
                match tokio::fs::remove_file(&file).await {
                    Ok(()) => {}
                    Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                    Err(err) => {
                        tracing::warn!(path = %segment.path, error = %err, "cannot delete a recording");
                        continue;
                    }
                }
            }
            bytes += segment.bytes.max(0) as u64;
            ids.push(segment.id);
        }
        self.db.delete_segments(&ids).await?;
        Ok((ids.len() as u64, bytes))
    }

    /// Bytes free for recordings on their disk; `None` when the directory cannot be asked.
    pub fn free_bytes(&self) -> Option<u64> {
        free_bytes(&self.dir)
    }

    pub fn last_write_error(&self) -> Option<String> {
        self.last_write_error.lock().ok().and_then(|e| e.clone())
    }

    fn set_write_error(&self, error: Option<String>) {
        if error.is_some() {
            self.figures.write_errors.fetch_add(1, Ordering::Relaxed);
        }
        if let Ok(mut last) = self.last_write_error.lock() {
            *last = error;
        }
    }
}

/// The free space of the file system holding `dir` (or its nearest existing parent).
pub fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let existing = dir.ancestors().find(|p| p.exists())?;
    let path = std::ffi::CString::new(existing.as_os_str().as_bytes()).ok()?;
    let mut stats = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is a NUL-terminated string and `stats` has room for the result.
    if unsafe { libc::statvfs(path.as_ptr(), stats.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: statvfs returned 0, so it filled `stats`.
    let stats = unsafe { stats.assume_init() };
    Some(stats.f_bavail * stats.f_frsize)
}

/// A span `[from, to)` given in RFC 3339 (`2026-12-02T14:00:00Z`) as milliseconds, checked.
pub fn parse_span(from: &str, to: &str, longest_ms: i64) -> Result<(i64, i64)> {
    let parse = |name: &str, text: &str| {
        chrono::DateTime::parse_from_rfc3339(text).map(|t| t.timestamp_millis()).map_err(|_| {
            Error::invalid(format!("{name}={text:?} is not a time; use RFC 3339, e.g. 2026-12-02T14:00:00Z"))
        })
    };
    let (from_ms, to_ms) = (parse("from", from)?, parse("to", to)?);
    if to_ms <= from_ms {
        return Err(Error::invalid("to must be after from"));
    }
    if to_ms - from_ms > longest_ms {
        return Err(Error::invalid(format!("the span is longer than {} hours; ask for less", longest_ms / 3_600_000)));
    }
    Ok((from_ms, to_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_are_checked_and_paths_cannot_leave_the_directory() {
        assert_eq!(
            parse_span("2026-12-02T14:00:00Z", "2026-12-02T14:01:00+00:00", 3_600_000).unwrap(),
            (1_796_220_000_000, 1_796_220_060_000)
        );
        assert!(parse_span("yesterday", "2026-12-02T14:00:00Z", 3_600_000).is_err());
        assert!(parse_span("2026-12-02T14:00:00Z", "2026-12-02T13:00:00Z", 3_600_000).is_err());
        assert!(parse_span("2026-12-02T10:00:00Z", "2026-12-02T14:00:00Z", 3_600_000).is_err());
        assert!(free_bytes(Path::new("/tmp/does/not/exist")).is_some(), "asks the nearest existing parent");
    }
}
