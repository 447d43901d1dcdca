//! One MP4 from recorded files: an event's clip (pre-roll, the event, post-roll) or any span of a
//! camera, cut at the key frame at or before the start, never decoded. Spans a player plays (up to
//! [`FASTSTART_UP_TO_MS`]) are joined by ffmpeg's concat demuxer with stream copy into an MP4 with
//! its index in front, so a browser can start and seek at once. Longer exports are downloads: when
//! every file has the same init segment (one stream, the usual case) their fragments are joined
//! byte for byte into one fragmented MP4, each decode time moved on so the timeline runs through
//! (no per-file probing: ffmpeg's concat spends about 20 ms opening each of an hour's 360 files);
//! otherwise ffmpeg joins them too. Made once and kept a while in `<recordings>/.clips/`, so a
//! player's many range requests read one file.

use super::Recordings;
use super::settings::RecordConfig;
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// Spans up to this long are written with the index in front (`+faststart`).
const FASTSTART_UP_TO_MS: i64 = 15 * 60 * 1000;
/// Made clips are deleted this long after they were made.
const KEEP_CLIPS: Duration = Duration::from_secs(3600);

/// The longest event clip: a car parked for a day is its arrival and the hour after, not a day.
const LONGEST_CLIP_MS: i64 = 3_600_000;

/// The span of an event's clip: pre-roll before it starts to post-roll after it ends (an event
/// still going ends now), at most [`LONGEST_CLIP_MS`] after its start.
pub fn clip_span(start_ms: i64, end_ms: Option<i64>, rules: &RecordConfig, now_ms: i64) -> (i64, i64) {
    let end = (end_ms.unwrap_or(now_ms).max(start_ms) + i64::from(rules.post_roll_secs) * 1000)
        .min(start_ms + LONGEST_CLIP_MS);
    (start_ms - i64::from(rules.pre_roll_secs) * 1000, end)
}

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
    // Two requests for one clip at once each write their own file; the second rename wins.
    static MADE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let attempt = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let partial = target.with_extension(format!("{}-{attempt}.part", std::process::id()));
    let joined_by_bytes = if to_ms - from_ms > FASTSTART_UP_TO_MS {
        let (files, partial) = (files.clone(), partial.clone());
        tokio::task::spawn_blocking(move || join_fragments(&files, from_ms, to_ms, &partial))
            .await
            .map_err(|e| Error::internal("joining the recording failed").with_source(e))??
    } else {
        false
    };
    if !joined_by_bytes {
        let script = concat_script(&files, from_ms, to_ms);
        join(ffmpeg, &script, &partial, to_ms - from_ms <= FASTSTART_UP_TO_MS).await?;
    }
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

/// Joins the files' fragments into `output` when they share one init segment: the fragments that
/// end after `from_ms` and start before `to_ms`, their decode times made continuous. `false` (and
/// nothing written) when the files' init segments differ.
fn join_fragments(files: &[(PathBuf, i64, i64)], from_ms: i64, to_ms: i64, output: &Path) -> Result<bool> {
    use super::mp4::{Chunk, ChunkReader};
    use std::io::Write;
    let unreadable = |path: &Path, why: String| Error::unavailable(format!("cannot read {}: {why}", path.display()));
    let mut out: Option<std::io::BufWriter<std::fs::File>> = None;
    let mut init: Option<Vec<u8>> = None;
    // Where the next file's timeline starts in the joined one.
    let mut offset = 0u64;
    for (path, start_ms, _) in files {
        let file = std::fs::File::open(path).map_err(|e| unreadable(path, e.to_string()))?;
        let mut reader = ChunkReader::new(std::io::BufReader::with_capacity(1 << 20, file));
        let Some(Chunk::Init(this_init)) = reader.next_chunk().map_err(|e| unreadable(path, e))? else {
            return Err(unreadable(path, "no init segment".into()));
        };
        match &init {
            Some(first) if *first != this_init.bytes => {
                drop(out);
                let _ = std::fs::remove_file(output);
                return Ok(false);
            }
            Some(_) => {}
            None => init = Some(this_init.bytes.clone()),
        }
        let writer = match &mut out {
            Some(writer) => writer,
            None => {
                let file = std::fs::File::create(output)
                    .map_err(|e| Error::unavailable(format!("cannot write the export: {e}")))?;
                let mut writer = std::io::BufWriter::with_capacity(1 << 20, file);
                writer
                    .write_all(&this_init.bytes)
                    .map_err(|e| Error::unavailable(format!("cannot write the export: {e}")))?;
                out.insert(writer)
            }
        };
        let ticks_per_ms = f64::from(this_init.track.timescale) / 1000.0;
        let mut file_end = 0u64;
        let mut first_kept: Option<u64> = None;
        while let Some(chunk) = reader.next_chunk().map_err(|e| unreadable(path, e))? {
            let Chunk::Fragment(mut fragment) = chunk else { continue };
            let wall_start = *start_ms + (fragment.start as f64 / ticks_per_ms) as i64;
            let wall_end = *start_ms + ((fragment.start + fragment.duration) as f64 / ticks_per_ms) as i64;
            if wall_end <= from_ms || wall_start >= to_ms {
                continue;
            }
            // The first fragment kept starts the file's part of the joined timeline.
            let base = *first_kept.get_or_insert(fragment.start);
            let in_file = fragment.start - base;
            fragment.set_decode_time(offset + in_file);
            file_end = file_end.max(in_file + fragment.duration);
            writer
                .write_all(&fragment.bytes)
                .map_err(|e| Error::unavailable(format!("cannot write the export: {e}")))?;
        }
        offset += file_end;
    }
    if let Some(mut writer) = out {
        writer.flush().map_err(|e| Error::unavailable(format!("cannot write the export: {e}")))?;
    }
    Ok(init.is_some())
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
    use crate::recording::mp4::tests::{fragment, init_segment};
    use crate::recording::mp4::{Chunk, ChunkReader};

    #[test]
    fn files_of_one_stream_are_joined_byte_for_byte_with_a_running_timeline() {
        let dir = tempfile::tempdir().unwrap();
        let one_file = |name: &str, init: Vec<u8>| {
            let path = dir.path().join(name);
            // Two 1 s fragments (90 kHz), the file's own timeline from 0.
            let bytes = [init, fragment(0, &[6000; 15], true), fragment(90_000, &[6000; 15], true)].concat();
            std::fs::write(&path, bytes).unwrap();
            path
        };
        let files = vec![(one_file("a.mp4", init_segment()), 0, 2000), (one_file("b.mp4", init_segment()), 5000, 7000)];
        let output = dir.path().join("joined.mp4");
        // From 1.5 s: the first file's second fragment (1–2 s) on, all of the second file.
        assert!(join_fragments(&files, 1500, 60_000, &output).unwrap());
        let joined = std::fs::read(&output).unwrap();
        let mut reader = ChunkReader::new(joined.as_slice());
        assert!(matches!(reader.next_chunk().unwrap(), Some(Chunk::Init(_))));
        let mut starts = Vec::new();
        while let Some(Chunk::Fragment(f)) = reader.next_chunk().unwrap() {
            starts.push(f.start);
        }
        assert_eq!(starts, [0, 90_000, 180_000], "the gap between the files is closed");

        let mut other_init = init_segment();
        let last = other_init.len() - 1;
        other_init[last] ^= 1;
        let mixed = vec![files[0].clone(), (one_file("c.mp4", other_init), 9000, 11_000)];
        let elsewhere = dir.path().join("mixed.mp4");
        assert!(!join_fragments(&mixed, 0, 60_000, &elsewhere).unwrap(), "two streams are ffmpeg's to join");
        assert!(!elsewhere.exists());
    }

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
