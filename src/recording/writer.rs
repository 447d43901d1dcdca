//! One camera's recorder: cuts the copied stream into files of about `segment_secs`, each
//! starting at a key frame with the stream's init segment and its own timeline from zero (so every
//! file plays on its own), and
//! indexes each closed file. A file is written as `<start_ms>.mp4.part` and renamed when whole;
//! after a crash the recovery pass keeps the whole fragments of a `.part`.
//!
//! Times: the camera's media time is mapped to the wall clock once per connection, from the
//! earliest arrival seen (a fragment, one frame, arrives when ffmpeg has read it, so arrival minus
//! its length is when it began; ffmpeg's probing delays only the first ones). A jump of more than
//! [`RESYNC_MS`] between media time and arrival (a stall, a camera whose clock was reset) starts
//! a new mapping and a new file.
//!
//! A disk that cannot be written (full, gone) loses the file being written, says so, and the
//! recorder tries again at the next key frame; detection never waits for it.

use super::{Recordings, StreamFragment};
use crate::db::NewSegment;
use crate::recording::mp4::InitSegment;
use crate::recording::settings::RecordConfig;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Media time and arrival further apart than this start a new mapping (and a new file).
const RESYNC_MS: i64 = 5_000;
/// A gap in wall-clock time between fragments longer than this starts a new file.
const GAP_MS: i64 = 1_000;

/// Records `camera`'s fragments until the camera stops (`cancel`), then writes what is still
/// queued and closes the file being written. While `switched_on` says no (the user's recording
/// switch), fragments are let go and the file being written is closed.
pub async fn run(
    camera: String,
    config: RecordConfig,
    store: Recordings,
    mut fragments: mpsc::Receiver<StreamFragment>,
    switched_on: impl Fn() -> bool + Send,
    cancel: CancellationToken,
) {
    let segment_ms = i64::from(config.segment_secs) * 1000;
    let mut recorder = Recorder { camera, segment_ms, store, sync: None, open: None };
    loop {
        let piece = tokio::select! {
            piece = fragments.recv() => piece,
            _ = cancel.cancelled() => fragments.try_recv().ok(),
        };
        match piece {
            Some(piece) if switched_on() => recorder.on_fragment(piece).await,
            Some(_) => recorder.close().await,
            None => break,
        }
    }
    recorder.close().await;
}

struct Recorder {
    camera: String,
    segment_ms: i64,
    store: Recordings,
    sync: Option<TimeSync>,
    open: Option<OpenFile>,
}

/// Media time to wall clock for one init segment (one connection).
struct TimeSync {
    init: Arc<InitSegment>,
    /// Wall-clock milliseconds at media time 0.
    zero_ms: f64,
}

impl TimeSync {
    fn wall_ms(&self, media: u64) -> f64 {
        self.zero_ms + media as f64 * 1000.0 / f64::from(self.init.track.timescale)
    }
}

struct OpenFile {
    file: tokio::fs::File,
    part: PathBuf,
    relative: String,
    init: Arc<InitSegment>,
    /// The media time of the first fragment: the file's own timeline starts there at zero.
    media_base: u64,
    /// Where the next fragment starts in media time when none was lost.
    next_media: u64,
    start_ms: i64,
    end_ms: i64,
    bytes: u64,
}

impl Recorder {
    async fn on_fragment(&mut self, piece: StreamFragment) {
        let StreamFragment { init, fragment, arrived_ms } = piece;
        // The live viewers may share these bytes; the file gets its own decode times.
        let mut fragment = Arc::unwrap_or_clone(fragment);
        let timescale = f64::from(init.track.timescale);
        let end_media = fragment.start + fragment.duration;
        // When media time 0 was, judged by this fragment's arrival.
        let zero_by_arrival = arrived_ms as f64 - end_media as f64 * 1000.0 / timescale;
        let same_stream = self.sync.as_ref().is_some_and(|sync| Arc::ptr_eq(&sync.init, &init));
        match &mut self.sync {
            Some(sync) if same_stream && (zero_by_arrival - sync.zero_ms).abs() <= RESYNC_MS as f64 => {
                if zero_by_arrival < sync.zero_ms {
                    // An earlier arrival than any before: the better mapping. The open file is
                    // not indexed yet and moves with it.
                    let shift = (zero_by_arrival - sync.zero_ms).round() as i64;
                    sync.zero_ms = zero_by_arrival;
                    if let Some(open) = &mut self.open {
                        open.start_ms += shift;
                        open.end_ms += shift;
                    }
                }
            }
            _ => {
                if self.sync.is_some() {
                    tracing::debug!("recording: a new stream or a time jump; a new file starts");
                }
                self.close().await;
                self.sync = Some(TimeSync { init: init.clone(), zero_ms: zero_by_arrival });
            }
        }
        let Some(sync) = &self.sync else { return };
        let start_ms = sync.wall_ms(fragment.start).round() as i64;
        let end_ms = sync.wall_ms(end_media).round() as i64;
        if let Some(open) = &self.open {
            let gap = start_ms - open.end_ms > GAP_MS;
            // A frame lost (dropped while the disk was slow): the frames after it up to the next
            // key frame refer to it, so the file ends here and the next one starts at a key frame.
            let lost = fragment.start > open.next_media + (fragment.duration / 2).max(1);
            let long_enough = open.end_ms - open.start_ms >= self.segment_ms && fragment.starts_with_key_frame;
            if gap || lost || long_enough {
                self.close().await;
            }
        }
        if self.open.is_none() {
            if !fragment.starts_with_key_frame {
                return;
            }
            self.open = self.create(&init, start_ms, fragment.start).await;
        }
        let Some(open) = &mut self.open else { return };
        fragment.rebase(open.media_base);
        if let Err(err) = open.file.write_all(&fragment.bytes).await {
            let why = format!("cannot write {}: {err}", open.part.display());
            self.fail(why).await;
            return;
        }
        open.end_ms = end_ms;
        open.next_media = end_media;
        open.bytes += fragment.bytes.len() as u64;
    }

    /// Starts a file with the init segment; `None` (said) when the disk refuses.
    async fn create(&mut self, init: &Arc<InitSegment>, start_ms: i64, media_base: u64) -> Option<OpenFile> {
        let day = chrono::DateTime::from_timestamp_millis(start_ms).unwrap_or_default().format("%Y-%m-%d");
        let relative = format!("{}/{day}/{start_ms}.mp4", self.camera);
        let path = self.store.dir().join(&relative);
        let part = path.with_extension("mp4.part");
        let opened = async {
            if let Some(dir) = part.parent() {
                tokio::fs::create_dir_all(dir).await?;
            }
            let mut file = tokio::fs::File::create(&part).await?;
            file.write_all(&init.bytes).await?;
            Ok::<_, std::io::Error>(file)
        };
        match opened.await {
            Ok(file) => Some(OpenFile {
                file,
                part,
                relative,
                init: init.clone(),
                media_base,
                next_media: media_base,
                start_ms,
                end_ms: start_ms,
                bytes: init.bytes.len() as u64,
            }),
            Err(err) => {
                let _ = tokio::fs::remove_file(&part).await;
                self.report(format!("cannot start a recording file in {}: {err}", self.store.dir().display()));
                None
            }
        }
    }

    /// Makes the open file whole (flushed, synced, renamed) and indexes it.
    async fn close(&mut self) {
        let Some(mut open) = self.open.take() else { return };
        if open.end_ms <= open.start_ms {
            let _ = tokio::fs::remove_file(&open.part).await;
            return;
        }
        let finished = async {
            open.file.flush().await?;
            open.file.sync_all().await?;
            tokio::fs::rename(&open.part, open.part.with_extension("")).await
        };
        if let Err(err) = finished.await {
            let _ = tokio::fs::remove_file(&open.part).await;
            self.report(format!("cannot finish {}: {err}", open.part.display()));
            return;
        }
        let track = &open.init.track;
        let segment = NewSegment {
            camera_id: self.camera.clone(),
            start_ms: open.start_ms,
            end_ms: open.end_ms,
            bytes: open.bytes as i64,
            path: open.relative.clone(),
            codec: track.codec.clone(),
            width: track.width as i32,
            height: track.height as i32,
        };
        match self.store.db().add_segment(&segment).await {
            Ok(()) => {
                self.store.figures.segments_written.fetch_add(1, Ordering::Relaxed);
                if self.store.last_write_error().is_some() {
                    tracing::info!("recording: writing again");
                    self.store.set_write_error(None);
                }
            }
            // The file stays; the next start's recovery pass indexes it.
            Err(err) => tracing::warn!(error = %err, path = %open.relative, "recording: cannot index a file"),
        }
    }

    /// The file being written is lost; the next key frame starts another.
    async fn fail(&mut self, why: String) {
        if let Some(open) = self.open.take() {
            drop(open.file);
            let _ = tokio::fs::remove_file(&open.part).await;
        }
        self.report(why);
    }

    fn report(&self, why: String) {
        if self.store.last_write_error().is_none() {
            tracing::warn!("recording: {why}; detection and alerts go on, recording resumes when it can write");
        }
        self.store.set_write_error(Some(why));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::SpaceLimits;
    use crate::recording::mp4::{Chunk, ChunkReader, tests as mp4};

    fn parse(bytes: &[u8]) -> Chunk {
        ChunkReader::new(bytes).next_chunk().expect("readable").expect("a chunk")
    }

    #[tokio::test]
    async fn a_lost_frame_ends_the_file_and_the_next_starts_at_a_key_frame() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::Db::connect(&format!("sqlite://{}/w.db?mode=rwc", dir.path().display())).await.unwrap();
        let store = Recordings::new(dir.path().join("recordings"), db.clone(), SpaceLimits::from_gb(0.0, 0.0));
        let Chunk::Init(init) = parse(&mp4::init_segment()) else { panic!("not an init segment") };
        let init = Arc::new(init);
        // 90 kHz: frames of 9000 ticks are 100 ms. The frame at 300 ms is lost, the one at 400 ms
        // needs it, the one at 500 ms is a key frame.
        let (sender, receiver) = mpsc::channel(64);
        let cancel = CancellationToken::new();
        let config = RecordConfig { segment_secs: 60, ..RecordConfig::default() };
        let recorder = tokio::spawn(run("cam".into(), config, store, receiver, || true, cancel.clone()));
        let zero_ms = 1_800_000_000_000;
        for (frame, key) in [(0, true), (1, false), (2, false), (4, false), (5, true), (6, false)] {
            let Chunk::Fragment(fragment) = parse(&mp4::fragment(frame * 9000, &[9000], key)) else {
                panic!("not a fragment")
            };
            let arrived_ms = zero_ms + (frame as i64 + 1) * 100;
            sender.send(StreamFragment { init: init.clone(), fragment: Arc::new(fragment), arrived_ms }).await.unwrap();
        }
        drop(sender);
        recorder.await.unwrap();
        let files: Vec<(i64, i64)> = db
            .segments_between("cam", 0, i64::MAX)
            .await
            .unwrap()
            .iter()
            .map(|s| (s.start_ms - zero_ms, s.end_ms - zero_ms))
            .collect();
        assert_eq!(
            files,
            [(0, 300), (500, 700)],
            "the lost frame's file ends before it, the next starts at a key frame"
        );
    }
}
