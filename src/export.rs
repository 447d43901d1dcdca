//! Exporting events as a ZIP a user can keep or hand over (to the police, an insurer): an
//! `events.json` in a documented format (docs/export.md) with each event as `/api/events` shows it
//! and the names of its files, the snapshots (clean and with boxes), and a clip of each event when
//! it was recorded. The archive is written as a stream, entry by entry, so a download starts at
//! once and a large export never sits whole in memory or on disk.

use crate::db::entities::event;
use crate::error::{Error, Result};
use crate::media::MediaStore;
use crate::recording::Recordings;
use crate::recording::settings::RecordConfig;
use std::io::Write;
use zip::write::SimpleFileOptions;

/// The format named in `events.json`; bumped when its meaning changes.
pub const FORMAT: &str = "watchpost-export/1";

/// What an export reads from.
pub struct ExportSource {
    pub media: MediaStore,
    /// Where clips come from; `None` leaves them out.
    pub recordings: Option<Recordings>,
    pub ffmpeg: String,
    /// A camera's recording rules (its clips' pre- and post-roll).
    pub rules_of: Box<dyn Fn(&str) -> RecordConfig + Send + Sync>,
    /// An event as `/api/events` shows it.
    pub event_json: fn(&event::Model) -> serde_json::Value,
    /// The selection in words, kept in `events.json`.
    pub selection: String,
    pub now_ms: i64,
}

/// Writes the export of `events` to `out` (which need not seek), calling `progress(done, total)`
/// after each event. Runs on a blocking thread; `runtime` does the async reads.
pub fn write_zip(
    out: impl Write,
    events: &[event::Model],
    source: &ExportSource,
    runtime: &tokio::runtime::Handle,
    mut progress: impl FnMut(usize, usize),
) -> Result<()> {
    let fail = |e: zip::result::ZipError| Error::unavailable(format!("the export cannot be written: {e}"));
    let io_fail = |e: std::io::Error| Error::unavailable(format!("the export cannot be written: {e}"));
    let mut zip = zip::ZipWriter::new_stream(out);
    // Pictures and videos are compressed already; the JSON is not.
    let stored = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored).large_file(true);
    let deflated = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let mut listed = Vec::with_capacity(events.len());
    for (index, event) in events.iter().enumerate() {
        let mut files = serde_json::Map::new();
        if let Some(snapshot) = &event.snapshot {
            for (key, relative, name) in [
                ("snapshot", snapshot.clone(), format!("snapshots/{}.jpg", event.id)),
                ("snapshot_boxes", MediaStore::annotated_path(snapshot), format!("snapshots/{}-boxes.jpg", event.id)),
            ] {
                let Some(path) = source.media.resolve(&relative) else { continue };
                let Ok(bytes) = std::fs::read(&path) else { continue };
                zip.start_file(name.as_str(), stored).map_err(fail)?;
                zip.write_all(&bytes).map_err(io_fail)?;
                files.insert(key.into(), name.into());
            }
        }
        if let Some(recordings) = &source.recordings {
            let rules = (source.rules_of)(&event.camera_id);
            let (from, to) = crate::recording::clips::clip_span(event.start_ms, event.end_ms, &rules, source.now_ms);
            let clip = runtime.block_on(crate::recording::clips::assemble(
                recordings,
                &source.ffmpeg,
                &event.camera_id,
                from,
                to,
            ));
            match clip {
                Ok(Some(path)) => {
                    let name = format!("clips/{}.mp4", event.id);
                    let mut file = std::fs::File::open(&path).map_err(io_fail)?;
                    zip.start_file(name.as_str(), stored).map_err(fail)?;
                    std::io::copy(&mut file, &mut zip).map_err(io_fail)?;
                    files.insert("clip".into(), name.into());
                }
                Ok(None) => {}
                Err(err) => {
                    tracing::warn!(event = event.id, error = %err, "the export goes on without this event's clip")
                }
            }
        }
        let mut json = (source.event_json)(event);
        json["files"] = serde_json::Value::Object(files);
        listed.push(json);
        progress(index + 1, events.len());
    }
    let document = serde_json::json!({
        "format": FORMAT,
        "exported_at": chrono::DateTime::from_timestamp_millis(source.now_ms).unwrap_or_default().to_rfc3339(),
        "selection": source.selection,
        "count": listed.len(),
        "events": listed,
    });
    zip.start_file("events.json", deflated).map_err(fail)?;
    serde_json::to_writer_pretty(&mut zip, &document)
        .map_err(|e| Error::internal("events.json cannot be written").with_source(e))?;
    zip.finish().map_err(fail)?.flush().map_err(io_fail)?;
    Ok(())
}

/// A `Write` that hands what is written to an async reader (the HTTP response) in chunks; a
/// reader that went away (a cancelled download) ends the export with a broken pipe.
pub struct ChunkSender(pub tokio::sync::mpsc::Sender<std::io::Result<bytes::Bytes>>);

impl Write for ChunkSender {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Ok(bytes::Bytes::copy_from_slice(buf)))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the download was cancelled"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
