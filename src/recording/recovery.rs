//! The recovery pass, run once at start before any camera records: after `kill -9` or a power
//! cut the files and the index may disagree. A half-written `.part` keeps its whole fragments
//! (cut after the last one and indexed), a file the index lacks is indexed, a file that holds
//! nothing playable is deleted, and an index row whose file is gone is removed.

use super::Recordings;
use super::mp4::{FileSummary, summarize};
use crate::db::NewSegment;
use crate::error::Result;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// What the pass did, for the log.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Files the index lacked, now indexed (`.part` files made whole among them).
    pub indexed: usize,
    /// `.part` files cut after their last whole fragment.
    pub salvaged: usize,
    /// Files with nothing playable, deleted.
    pub dropped: usize,
    /// Index rows whose file was gone, removed.
    pub rows_removed: usize,
}

pub async fn run(store: &Recordings) -> Result<RecoveryReport> {
    let mut report = RecoveryReport::default();
    let indexed = store.db().segment_paths().await?;
    let known: HashSet<String> = indexed.iter().map(|(_, path)| path.clone()).collect();
    let dir = store.dir().to_path_buf();
    let found = tokio::task::spawn_blocking(move || scan(&dir, &known))
        .await
        .map_err(|e| crate::Error::internal("the recovery pass failed").with_source(e))?;
    for file in found {
        match file {
            Found::Playable { relative, camera, start_ms, summary, bytes, salvaged } => {
                let track = &summary.track;
                let end_ms = start_ms + (summary.duration * 1000 / u64::from(track.timescale)) as i64;
                store
                    .db()
                    .add_segment(&NewSegment {
                        camera_id: camera,
                        start_ms,
                        end_ms,
                        bytes: bytes as i64,
                        path: relative,
                        codec: track.codec.clone(),
                        width: track.width as i32,
                        height: track.height as i32,
                    })
                    .await?;
                report.indexed += 1;
                report.salvaged += usize::from(salvaged);
            }
            Found::Dropped => report.dropped += 1,
        }
    }
    let gone: Vec<i64> = indexed
        .iter()
        .filter(|(_, path)| store.file(path).is_none_or(|file| !file.exists()))
        .map(|(id, _)| *id)
        .collect();
    report.rows_removed = store.db().delete_segments(&gone).await? as usize;
    Ok(report)
}

enum Found {
    Playable { relative: String, camera: String, start_ms: i64, summary: FileSummary, bytes: u64, salvaged: bool },
    Dropped,
}

/// Files under `<dir>/<camera>/<day>/` that the index lacks, checked (and `.part` files cut).
fn scan(dir: &Path, known: &HashSet<String>) -> Vec<Found> {
    let mut found = Vec::new();
    for camera_dir in entries(dir) {
        let Some(camera) = file_name(&camera_dir) else { continue };
        for day_dir in entries(&camera_dir) {
            let Some(day) = file_name(&day_dir) else { continue };
            for path in entries(&day_dir) {
                let Some(name) = file_name(&path) else { continue };
                let (stem, part) = match (name.strip_suffix(".mp4.part"), name.strip_suffix(".mp4")) {
                    (Some(stem), _) => (stem, true),
                    (None, Some(stem)) => (stem, false),
                    _ => continue,
                };
                let relative = format!("{camera}/{day}/{stem}.mp4");
                if !part && known.contains(&relative) {
                    continue;
                }
                found.push(check(&path, &relative, &camera, stem, part));
            }
        }
    }
    found
}

fn check(path: &Path, relative: &str, camera: &str, stem: &str, part: bool) -> Found {
    let summary =
        std::fs::File::open(path).map_err(|e| e.to_string()).and_then(|f| summarize(std::io::BufReader::new(f)));
    let (Ok(start_ms), Ok(summary)) = (stem.parse::<i64>(), summary) else {
        tracing::warn!(path = %path.display(), "recovery: nothing playable in a recording file; deleting it");
        let _ = std::fs::remove_file(path);
        return Found::Dropped;
    };
    let whole = path.with_extension(if part { "" } else { "mp4" });
    let made_whole = (|| {
        if part {
            let file = std::fs::OpenOptions::new().write(true).open(path)?;
            file.set_len(summary.whole_len)?;
            file.sync_all()?;
            std::fs::rename(path, &whole)?;
        }
        Ok::<_, std::io::Error>(())
    })();
    if let Err(err) = made_whole {
        tracing::warn!(path = %path.display(), error = %err, "recovery: cannot keep a half-written recording");
        return Found::Dropped;
    }
    Found::Playable {
        relative: relative.to_string(),
        camera: camera.to_string(),
        start_ms,
        bytes: summary.whole_len,
        summary,
        salvaged: part,
    }
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> =
        std::fs::read_dir(dir).into_iter().flatten().flatten().map(|entry| entry.path()).collect();
    paths.sort();
    paths
}

fn file_name(path: &Path) -> Option<String> {
    path.file_name()?.to_str().map(str::to_string)
}
