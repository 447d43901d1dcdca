//! One MP4 from recorded files: an event's clip (pre-roll, the event, post-roll) or any span of a
//! camera, joined by ffmpeg's concat demuxer with stream copy (no decoding), cut at the key frame
//! at or before the start. Spans a player plays (up to [`FASTSTART_UP_TO_MS`]) get the index at the
//! front so a browser can start at once; longer exports are downloads and skip that second pass
//! over the whole file. Made once and kept a while in `<recordings>/.clips/`, so a player's many
//! range requests read one file.

use super::Recordings;
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// Spans up to this long are written with the index in front (`+faststart`).
const FASTSTART_UP_TO_MS: i64 = 15 * 60 * 1000;
/// Made clips are deleted this long after they were made.
const KEEP_CLIPS: Duration = Duration::from_secs(3600);

/// The MP4 of `camera` over `[from_ms, to_ms)`; `None` when nothing was recorded then.
pub async fn assemble(
    store: &Recordings,
    ffmpeg: &str,
    camera: &str,
    from_ms: i64,
    to_ms: i64,
) -> Result<Option<PathBuf>> {
    let segments = store.segments(camera, from_ms, to_ms).await?;
    let files: Vec<(PathBuf, i64, i64)> = segments
        .iter()
        .filter_map(|s| store.file(&s.path).filter(|f| f.exists()).map(|f| (f, s.start_ms, s.end_ms)))
        .collect();
    let (Some(first), Some(last)) = (segments.first(), segments.last()) else { return Ok(None) };
    if files.is_empty() {
        return Ok(None);
    }
    let clips = store.dir().join(".clips");
    tokio::fs::create_dir_all(&clips)
        .await
        .map_err(|e| Error::unavailable(format!("cannot make {}: {e}", clips.display())))?;
    forget_old_clips(&clips).await;
    let name = format!("{camera}-{from_ms}-{to_ms}-{}-{}-{}.mp4", files.len(), first.id, last.end_ms);
    let target = clips.join(name);
    if target.exists() {
        return Ok(Some(target));
    }
    let script = concat_script(&files, from_ms, to_ms);
    let partial = target.with_extension(format!("{}.part", std::process::id()));
    join(ffmpeg, &script, &partial, to_ms - from_ms <= FASTSTART_UP_TO_MS).await?;
    tokio::fs::rename(&partial, &target).await.map_err(|e| Error::unavailable(format!("cannot keep the clip: {e}")))?;
    Ok(Some(target))
}

/// The ffconcat script: every file, the first entered at `from_ms`, the last left at `to_ms`
/// (each file's own timeline starts at zero).
fn concat_script(files: &[(PathBuf, i64, i64)], from_ms: i64, to_ms: i64) -> String {
    let mut script = String::from("ffconcat version 1.0\n");
    for (index, (path, start_ms, end_ms)) in files.iter().enumerate() {
        let quoted = path.to_string_lossy().replace('\'', r"'\''");
        // With a scheme: the script comes from a pipe, and a bare path would be taken relative to
        // "pipe:".
        script.push_str(&format!("file 'file:{quoted}'\n"));
        if index == 0 && from_ms > *start_ms {
            script.push_str(&format!("inpoint {:.3}\n", (from_ms - start_ms) as f64 / 1000.0));
        }
        if index + 1 == files.len() && to_ms < *end_ms {
            script.push_str(&format!("outpoint {:.3}\n", (to_ms - start_ms) as f64 / 1000.0));
        }
    }
    script
}

async fn join(ffmpeg: &str, script: &str, output: &Path, faststart: bool) -> Result<()> {
    let mut child = tokio::process::Command::new(ffmpeg)
        .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "concat", "-safe", "0"])
        .args(["-protocol_whitelist", "file,pipe", "-i", "pipe:0", "-c", "copy"])
        .args(if faststart { &["-movflags", "+faststart"][..] } else { &[] })
        .args(["-f", "mp4"])
        .arg(output)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| Error::unavailable(format!("cannot run ffmpeg ({ffmpeg:?}) to join the recording: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(script.as_bytes()).await.map_err(|e| Error::unavailable(format!("ffmpeg: {e}")))?;
    }
    let finished = child.wait_with_output().await.map_err(|e| Error::unavailable(format!("ffmpeg: {e}")))?;
    if !finished.status.success() {
        let _ = tokio::fs::remove_file(output).await;
        let why = String::from_utf8_lossy(&finished.stderr);
        return Err(Error::unavailable(format!("ffmpeg could not join the recording: {}", why.trim())));
    }
    Ok(())
}

async fn forget_old_clips(dir: &Path) {
    let Ok(mut entries) = tokio::fs::read_dir(dir).await else { return };
    while let Ok(Some(entry)) = entries.next_entry().await {
        let old = entry
            .metadata()
            .await
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|at| at.elapsed().ok())
            .is_some_and(|age| age > KEEP_CLIPS);
        if old {
            let _ = tokio::fs::remove_file(entry.path()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_enters_the_first_file_and_leaves_the_last_at_the_span() {
        let files = vec![
            (PathBuf::from("/r/cam/d/1000.mp4"), 1000, 11_000),
            (PathBuf::from("/r/cam/d/it's.mp4"), 11_000, 21_000),
        ];
        assert_eq!(
            concat_script(&files, 3500, 15_250),
            "ffconcat version 1.0\nfile 'file:/r/cam/d/1000.mp4'\ninpoint 2.500\nfile 'file:/r/cam/d/it'\\''s.mp4'\noutpoint 4.250\n"
        );
        assert_eq!(concat_script(&files[..1], 0, 20_000), "ffconcat version 1.0\nfile 'file:/r/cam/d/1000.mp4'\n");
    }
}
