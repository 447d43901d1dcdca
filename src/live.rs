//! Live video for many viewers on one camera connection. ffmpeg copies a camera stream into
//! fragmented MP4 once (the same copy the recorder cuts into files); each stream's [`LiveFeed`]
//! hands every fragment to the viewers watching it, and keeps the current group of pictures so a
//! new viewer starts at once, at the last key frame, instead of waiting for the next one. A
//! viewer costs a queue entry per fragment (shared bytes, never copied or re-encoded); one that
//! falls behind (a slow network) skips ahead to the next key frame rather than holding anyone up.
//!
//! The feed also counts its viewers: a stream that only runs for viewers (a main stream that is
//! not recorded) starts when the first arrives and stops some time after the last has gone.

use crate::recording::StreamFragment;
use crate::recording::mp4::{InitSegment, TrackInfo};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, watch};

/// The most a new viewer is handed at once (the group of pictures so far); a longer one's start
/// is let go and a viewer then starts at the next key frame.
const BACKLOG_LIMIT_BYTES: usize = 16 << 20;
/// Fragments (one per frame) a viewer may be behind before it skips to the next key frame: about
/// 10 s at 25 fps.
const VIEWER_QUEUE: usize = 256;

/// Which of a camera's streams: the main (full-resolution, recorded) or the sub (detect) stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiveStream {
    Main,
    Sub,
}

impl LiveStream {
    /// `main` or `sub` (the `stream` query parameter); anything else is `None`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "main" => Some(LiveStream::Main),
            "sub" => Some(LiveStream::Sub),
            _ => None,
        }
    }
}

#[derive(Clone)]
enum FeedItem {
    Fragment(StreamFragment),
    /// ffmpeg's run ended (the camera dropped, or stopped): viewers' responses end and their
    /// players reconnect to the next run.
    End,
}

/// One stream's fragments, fanned out to its viewers.
pub struct LiveFeed {
    state: Mutex<FeedState>,
    /// How many viewers watch or wait, for a stream that runs only while someone does.
    viewers: watch::Sender<usize>,
    /// Bumped when a key frame begins a group a new viewer can start at (and when the feed
    /// closes), for viewers waiting for the stream to start.
    startable: watch::Sender<u64>,
    /// Times a viewer fell behind and skipped to the next key frame.
    skips: AtomicU64,
}

struct FeedState {
    /// `None` once the camera has stopped for good.
    sender: Option<broadcast::Sender<FeedItem>>,
    /// This run's init segment; `None` between runs.
    init: Option<Arc<InitSegment>>,
    /// The fragments since the last key frame, for the next viewer.
    since_key: Vec<StreamFragment>,
    since_key_bytes: usize,
}

impl FeedState {
    fn forget_backlog(&mut self) {
        self.since_key.clear();
        self.since_key_bytes = 0;
    }
}

impl LiveFeed {
    pub fn new() -> Arc<Self> {
        let (sender, _) = broadcast::channel(VIEWER_QUEUE);
        Arc::new(Self {
            state: Mutex::new(FeedState {
                sender: Some(sender),
                init: None,
                since_key: Vec::new(),
                since_key_bytes: 0,
            }),
            viewers: watch::Sender::new(0),
            startable: watch::Sender::new(0),
            skips: AtomicU64::new(0),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FeedState> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Hands a fragment to the viewers (called by ffmpeg's reader, for every fragment).
    pub fn publish(&self, piece: &StreamFragment) {
        let mut state = self.lock();
        let key = piece.fragment.starts_with_key_frame;
        let new_run = !state.init.as_ref().is_some_and(|init| Arc::ptr_eq(init, &piece.init));
        if new_run {
            state.init = Some(piece.init.clone());
        }
        if new_run || key {
            state.forget_backlog();
        }
        let size = piece.fragment.bytes.len();
        if (key || !state.since_key.is_empty()) && state.since_key_bytes + size <= BACKLOG_LIMIT_BYTES {
            state.since_key.push(piece.clone());
            state.since_key_bytes += size;
        } else {
            state.forget_backlog();
        }
        if let Some(sender) = &state.sender
            && sender.receiver_count() > 0
        {
            let _ = sender.send(FeedItem::Fragment(piece.clone()));
        }
        drop(state);
        if key {
            self.startable.send_modify(|generation| *generation += 1);
        }
    }

    /// ffmpeg's run ended: its viewers' responses end, and nobody new starts on it.
    pub fn end_run(&self) {
        let mut state = self.lock();
        state.init = None;
        state.forget_backlog();
        if let Some(sender) = &state.sender {
            let _ = sender.send(FeedItem::End);
        }
    }

    /// The camera stopped (deleted, changed, shutting down): every viewer's response ends now.
    pub fn close(&self) {
        self.end_run();
        self.lock().sender = None;
        // Wakes viewers still waiting for a start; they find the feed closed.
        self.startable.send_modify(|generation| *generation += 1);
    }

    /// The stream's codec and size while it runs.
    pub fn track(&self) -> Option<TrackInfo> {
        self.lock().init.as_ref().map(|init| init.track.clone())
    }

    /// The number of viewers, watched by a stream that runs only for them.
    pub fn viewers(&self) -> watch::Receiver<usize> {
        self.viewers.subscribe()
    }

    /// How many times a viewer fell behind and skipped ahead, since start.
    pub fn skips(&self) -> u64 {
        self.skips.load(Ordering::Relaxed)
    }

    /// A new viewer, starting at the last key frame. Waits up to `wait` for the stream to start
    /// (a stream started on demand, a camera reconnecting); `None` when it did not or the camera
    /// stopped. The viewer counts (and keeps an on-demand stream running) from this call on.
    pub async fn watch(self: &Arc<Self>, wait: Duration) -> Option<LiveViewer> {
        let presence = Presence::new(self.clone());
        let mut startable = self.startable.subscribe();
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            // Marked seen before looking, so a key frame published after the look wakes us.
            startable.borrow_and_update();
            {
                let state = self.lock();
                let sender = state.sender.as_ref()?;
                if let Some(init) = &state.init
                    && !state.since_key.is_empty()
                {
                    return Some(LiveViewer {
                        init: init.clone(),
                        backlog: state.since_key.iter().cloned().collect(),
                        receiver: sender.subscribe(),
                        waiting_for_key: false,
                        presence,
                    });
                }
            }
            // Not running yet, or no key frame since its start: wait for one.
            if !matches!(tokio::time::timeout_at(deadline, startable.changed()).await, Ok(Ok(()))) {
                return None;
            }
        }
    }
}

/// Counts a viewer while it exists.
struct Presence(Arc<LiveFeed>);

impl Presence {
    fn new(feed: Arc<LiveFeed>) -> Self {
        feed.viewers.send_modify(|count| *count += 1);
        Self(feed)
    }
}

impl Drop for Presence {
    fn drop(&mut self) {
        self.0.viewers.send_modify(|count| *count = count.saturating_sub(1));
    }
}

/// One viewer of a stream: the init segment, then fragments from a key frame on.
pub struct LiveViewer {
    init: Arc<InitSegment>,
    backlog: VecDeque<StreamFragment>,
    receiver: broadcast::Receiver<FeedItem>,
    /// Fell behind: fragments are let go until the next key frame.
    waiting_for_key: bool,
    presence: Presence,
}

impl LiveViewer {
    pub fn init(&self) -> &Arc<InitSegment> {
        &self.init
    }

    /// The next fragment to send; `None` when this run of the stream has ended (the player
    /// reconnects) or the camera stopped.
    pub async fn next(&mut self) -> Option<StreamFragment> {
        if let Some(piece) = self.backlog.pop_front() {
            return Some(piece);
        }
        loop {
            match self.receiver.recv().await {
                Ok(FeedItem::Fragment(piece)) => {
                    if !Arc::ptr_eq(&piece.init, &self.init) {
                        return None;
                    }
                    if self.waiting_for_key && !piece.fragment.starts_with_key_frame {
                        continue;
                    }
                    self.waiting_for_key = false;
                    return Some(piece);
                }
                Ok(FeedItem::End) | Err(broadcast::error::RecvError::Closed) => return None,
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    self.presence.0.skips.fetch_add(1, Ordering::Relaxed);
                    self.waiting_for_key = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::mp4::{Chunk, ChunkReader, tests as mp4};

    fn new_init() -> Arc<InitSegment> {
        match ChunkReader::new(&mp4::init_segment()[..]).next_chunk() {
            Ok(Some(Chunk::Init(init))) => Arc::new(init),
            other => panic!("not an init segment: {other:?}"),
        }
    }

    fn piece(init: &Arc<InitSegment>, start: u64, key: bool) -> StreamFragment {
        let bytes = mp4::fragment(start, &[3000], key);
        let fragment = match ChunkReader::new(&bytes[..]).next_chunk() {
            Ok(Some(Chunk::Fragment(fragment))) => fragment,
            other => panic!("not a fragment: {other:?}"),
        };
        StreamFragment { init: init.clone(), fragment: Arc::new(fragment), arrived_ms: 0 }
    }

    async fn starts(viewer: &mut LiveViewer) -> Vec<u64> {
        let mut seen = Vec::new();
        while let Ok(Some(piece)) = tokio::time::timeout(Duration::from_millis(50), viewer.next()).await {
            seen.push(piece.fragment.start);
        }
        seen
    }

    #[tokio::test]
    async fn a_viewer_starts_at_the_last_key_frame_and_follows_the_stream_until_it_ends() {
        let feed = LiveFeed::new();
        let viewers = feed.viewers();
        let init = new_init();
        assert!(feed.watch(Duration::from_millis(50)).await.is_none(), "nothing to watch before the stream runs");
        feed.publish(&piece(&init, 0, false));
        assert!(feed.watch(Duration::from_millis(50)).await.is_none(), "no key frame yet");
        for (start, key) in [(3000, true), (6000, false), (9000, true), (12000, false)] {
            feed.publish(&piece(&init, start, key));
        }
        let mut viewer = feed.watch(Duration::from_millis(50)).await.expect("a viewer");
        assert_eq!(*viewers.borrow(), 1);
        feed.publish(&piece(&init, 15000, false));
        assert_eq!(starts(&mut viewer).await, [9000, 12000, 15000]);
        // A new run (the camera reconnected) ends this viewer's response; so does the run's end.
        feed.publish(&piece(&new_init(), 0, true));
        assert!(viewer.next().await.is_none());
        let mut second = feed.watch(Duration::from_millis(50)).await.expect("a viewer of the new run");
        assert_eq!(starts(&mut second).await, [0]);
        feed.end_run();
        assert!(second.next().await.is_none());
        drop((viewer, second));
        assert_eq!(*viewers.borrow(), 0, "viewers who left are not counted");
    }

    #[tokio::test]
    async fn a_waiting_viewer_gets_the_stream_when_it_starts_and_a_slow_one_skips_to_a_key_frame() {
        let feed = LiveFeed::new();
        let init = new_init();
        let waiting = {
            let feed = feed.clone();
            tokio::spawn(async move { feed.watch(Duration::from_secs(5)).await.map(|v| v.init().track.clone()) })
        };
        while *feed.viewers().borrow() == 0 {
            tokio::task::yield_now().await;
        }
        feed.publish(&piece(&init, 0, true));
        assert_eq!(waiting.await.unwrap(), Some(init.track.clone()));

        let mut slow = feed.watch(Duration::from_millis(50)).await.expect("a viewer");
        for n in 1..=(VIEWER_QUEUE as u64 + 10) {
            feed.publish(&piece(&init, n * 3000, n % 100 == 0));
        }
        let seen = starts(&mut slow).await;
        assert_eq!(seen[0], 0, "the backlog first");
        assert_eq!(seen[1], 100 * 3000, "then, having fallen behind, the next key frame: {:?}", &seen[..3]);
        assert_eq!(feed.skips(), 1);

        feed.close();
        assert!(slow.next().await.is_none());
        assert!(feed.watch(Duration::from_secs(5)).await.is_none(), "a stopped camera has nothing to watch");
    }
}
