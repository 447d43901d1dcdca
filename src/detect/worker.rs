//! The one detector worker all cameras share: a thread that runs the model, fed through a bounded
//! queue. When the queue is full a routine whole-frame recheck gives way first (it is put off to
//! the camera's next frame); only when none is waiting is the oldest request dropped (its camera
//! gets no answer for that frame) and counted, so a slow model makes detection coarser instead of
//! making cameras lag, and cameras with nothing moving never cost a moving object its look.

use super::{Detection, Detector, Region};
use crate::media::Frame;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use tokio::sync::oneshot;

/// Requests waiting for the model; one per camera at a time is the normal case.
pub const QUEUE_CAPACITY: usize = 8;

/// How much an answer matters when the detector falls behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Urgency {
    /// Something moves in the frame, or a moving object is being followed: the answer is wanted
    /// for this frame.
    Moving,
    /// The routine look at a frame where nothing moves (parked objects still there?): it can wait
    /// for one of the camera's next frames.
    Recheck,
}

struct Request {
    frame: Arc<Frame>,
    region: Region,
    min_score: f32,
    urgency: Urgency,
    reply: oneshot::Sender<Vec<Detection>>,
}

/// The counters the worker thread keeps; read as [`DetectorFigures`].
#[derive(Debug, Default)]
struct DetectorStats {
    pub inferences: AtomicU64,
    pub detections: AtomicU64,
    pub dropped: AtomicU64,
    pub postponed: AtomicU64,
    pub failures: AtomicU64,
    /// Total time spent in `detect`, microseconds.
    pub busy_us: AtomicU64,
}

/// What the detector did since start, read once.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DetectorFigures {
    /// Model runs.
    pub runs: u64,
    /// Objects the model found.
    pub detections: u64,
    /// Requests dropped because the detector fell behind.
    pub dropped: u64,
    /// Routine rechecks put off to a later frame because the detector was busy.
    pub postponed: u64,
    /// Model runs that failed.
    pub failures: u64,
    /// Time spent running the model.
    pub busy_secs: f64,
}

impl DetectorFigures {
    /// The average time of one model run, in milliseconds; `None` before the first.
    pub fn ms_per_run(&self) -> Option<f64> {
        (self.runs > 0).then(|| self.busy_secs * 1000.0 / self.runs as f64)
    }
}

struct Shared {
    queue: Mutex<(VecDeque<Request>, bool)>,
    ready: Condvar,
    stats: DetectorStats,
}

#[derive(Clone)]
pub struct DetectorWorker {
    shared: Arc<Shared>,
    labels: Arc<Vec<String>>,
    input_size: (u32, u32),
    thread: Arc<Mutex<Option<std::thread::JoinHandle<()>>>>,
}

impl DetectorWorker {
    pub fn start(detector: Arc<dyn Detector>) -> Self {
        let shared = Arc::new(Shared {
            queue: Mutex::new((VecDeque::with_capacity(QUEUE_CAPACITY), false)),
            ready: Condvar::new(),
            stats: DetectorStats::default(),
        });
        let labels = Arc::new(detector.labels().to_vec());
        let input_size = detector.input_size();
        let worker = shared.clone();
        let thread = std::thread::Builder::new()
            .name("detector".into())
            .spawn(move || work(&worker, detector.as_ref()))
            .expect("start the detector thread");
        Self { shared, labels, input_size, thread: Arc::new(Mutex::new(Some(thread))) }
    }

    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    pub fn input_size(&self) -> (u32, u32) {
        self.input_size
    }

    /// The counters as plain figures, for `/metrics`, the system page and Home Assistant.
    pub fn figures(&self) -> DetectorFigures {
        let stats = &self.shared.stats;
        DetectorFigures {
            runs: stats.inferences.load(Ordering::Relaxed),
            detections: stats.detections.load(Ordering::Relaxed),
            dropped: stats.dropped.load(Ordering::Relaxed),
            postponed: stats.postponed.load(Ordering::Relaxed),
            failures: stats.failures.load(Ordering::Relaxed),
            busy_secs: stats.busy_us.load(Ordering::Relaxed) as f64 / 1e6,
        }
    }

    /// Detections in `region` of `frame`; `None` when the request was dropped, put off (a
    /// [`Urgency::Recheck`] while the queue is full) or failed.
    pub async fn detect(
        &self,
        frame: Arc<Frame>,
        region: Region,
        min_score: f32,
        urgency: Urgency,
    ) -> Option<Vec<Detection>> {
        let (reply, answer) = oneshot::channel();
        {
            let mut queue = self.shared.queue.lock().unwrap_or_else(|e| e.into_inner());
            if queue.1 {
                return None;
            }
            let stats = &self.shared.stats;
            if queue.0.len() >= QUEUE_CAPACITY {
                if urgency == Urgency::Recheck {
                    stats.postponed.fetch_add(1, Ordering::Relaxed);
                    return None;
                }
                // The waiting recheck's camera gets no answer and looks again on its next frame.
                if let Some(at) = queue.0.iter().position(|r| r.urgency == Urgency::Recheck) {
                    queue.0.remove(at);
                    stats.postponed.fetch_add(1, Ordering::Relaxed);
                } else {
                    queue.0.pop_front();
                    stats.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
            queue.0.push_back(Request { frame, region, min_score, urgency, reply });
        }
        self.shared.ready.notify_one();
        answer.await.ok()
    }

    /// Stops the thread after the inference in progress; waiting requests get no answer.
    pub fn stop(&self) {
        {
            let mut queue = self.shared.queue.lock().unwrap_or_else(|e| e.into_inner());
            queue.1 = true;
            queue.0.clear();
        }
        self.shared.ready.notify_all();
        if let Some(thread) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = thread.join();
        }
    }
}

fn work(shared: &Shared, detector: &dyn Detector) {
    loop {
        let request = {
            let mut queue = shared.queue.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                if queue.1 {
                    return;
                }
                if let Some(request) = queue.0.pop_front() {
                    break request;
                }
                queue = shared.ready.wait(queue).unwrap_or_else(|e| e.into_inner());
            }
        };
        let start = std::time::Instant::now();
        let result = detector.detect(&request.frame, request.region, request.min_score);
        let stats = &shared.stats;
        stats.busy_us.fetch_add(start.elapsed().as_micros() as u64, Ordering::Relaxed);
        stats.inferences.fetch_add(1, Ordering::Relaxed);
        match result {
            Ok(found) => {
                stats.detections.fetch_add(found.len() as u64, Ordering::Relaxed);
                let _ = request.reply.send(found);
            }
            Err(err) => {
                stats.failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %err, "detection failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Result;

    /// A stand-in model that takes a while and finds one box.
    struct Slow;

    impl Detector for Slow {
        fn labels(&self) -> &[String] {
            &[]
        }

        fn input_size(&self) -> (u32, u32) {
            (32, 32)
        }

        fn detect(&self, _: &Frame, _: Region, _: f32) -> Result<Vec<Detection>> {
            std::thread::sleep(std::time::Duration::from_millis(30));
            Ok(vec![Detection { class: 0, score: 0.9, bbox: [0.0, 0.0, 1.0, 1.0] }])
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_drops_the_oldest_requests_and_counts_them() {
        let worker = DetectorWorker::start(Arc::new(Slow));
        let frame = Arc::new(Frame { width: 2, height: 2, data: vec![0; 6], time_ms: 0, seq: 0 });
        let region = Region::whole(&frame);
        let calls: Vec<_> = (0..QUEUE_CAPACITY + 4)
            .map(|_| {
                let (worker, frame) = (worker.clone(), frame.clone());
                tokio::spawn(async move { worker.detect(frame, region, 0.5, Urgency::Moving).await })
            })
            .collect();
        let mut answered = 0;
        for call in calls {
            if call.await.unwrap().is_some() {
                answered += 1;
            }
        }
        let dropped = worker.figures().dropped;
        assert!(dropped >= 3, "dropped {dropped}");
        assert_eq!(answered as u64 + dropped, QUEUE_CAPACITY as u64 + 4);
        assert_eq!(worker.figures().runs, answered as u64);
        worker.stop();
        assert!(worker.detect(frame, region, 0.5, Urgency::Moving).await.is_none(), "a stopped worker answers nothing");
    }

    /// A stand-in model that says when a run starts and finishes it only when the test lets it,
    /// so the test knows exactly what waits in the queue.
    struct Gated {
        started: Mutex<std::sync::mpsc::Sender<()>>,
        release: Mutex<std::sync::mpsc::Receiver<()>>,
    }

    impl Detector for Gated {
        fn labels(&self) -> &[String] {
            &[]
        }

        fn input_size(&self) -> (u32, u32) {
            (32, 32)
        }

        fn detect(&self, _: &Frame, _: Region, _: f32) -> Result<Vec<Detection>> {
            let _ = self.started.lock().unwrap().send(());
            let _ = self.release.lock().unwrap().recv();
            Ok(Vec::new())
        }
    }

    #[tokio::test]
    async fn a_full_queue_puts_off_rechecks_before_it_drops_a_moving_objects_request() {
        let (started, runs_started) = std::sync::mpsc::channel();
        let (let_finish, release) = std::sync::mpsc::channel();
        let worker =
            DetectorWorker::start(Arc::new(Gated { started: Mutex::new(started), release: Mutex::new(release) }));
        let frame = Arc::new(Frame { width: 2, height: 2, data: vec![0; 6], time_ms: 0, seq: 0 });
        let region = Region::whole(&frame);
        let ask = |urgency| {
            let (worker, frame) = (worker.clone(), frame.clone());
            tokio::spawn(async move { worker.detect(frame, region, 0.5, urgency).await })
        };
        // Queued in order: the spawned tasks run to their wait when this one yields.
        let settle = || async {
            for _ in 0..4 {
                tokio::task::yield_now().await;
            }
        };
        let running = ask(Urgency::Moving);
        settle().await;
        runs_started.recv_timeout(std::time::Duration::from_secs(5)).expect("the first run starts");
        let rechecks: Vec<_> = (0..QUEUE_CAPACITY).map(|_| ask(Urgency::Recheck)).collect();
        settle().await;
        let turned_away = ask(Urgency::Recheck);
        settle().await;
        assert_eq!(worker.figures().postponed, 1, "a recheck finds the queue full and is put off");
        let moving = ask(Urgency::Moving);
        settle().await;
        let figures = worker.figures();
        assert_eq!((figures.postponed, figures.dropped), (2, 0), "a moving object's request pushes a recheck out");

        for _ in 0..QUEUE_CAPACITY + 1 {
            let_finish.send(()).unwrap();
        }
        assert!(running.await.unwrap().is_some());
        assert!(turned_away.await.unwrap().is_none());
        assert!(moving.await.unwrap().is_some(), "the moving object's request is answered");
        let mut answered = 0;
        for recheck in rechecks {
            answered += usize::from(recheck.await.unwrap().is_some());
        }
        assert_eq!(answered, QUEUE_CAPACITY - 1, "one waiting recheck gave way");

        // With only moving objects' requests waiting, the oldest is dropped, as before.
        runs_started.try_iter().count();
        let blocking = ask(Urgency::Moving);
        settle().await;
        runs_started.recv_timeout(std::time::Duration::from_secs(5)).expect("a run starts");
        let waiting: Vec<_> = (0..QUEUE_CAPACITY + 1).map(|_| ask(Urgency::Moving)).collect();
        settle().await;
        let figures = worker.figures();
        assert_eq!((figures.postponed, figures.dropped), (2, 1));
        for _ in 0..QUEUE_CAPACITY + 1 {
            let_finish.send(()).unwrap();
        }
        assert!(blocking.await.unwrap().is_some());
        let mut answered = 0;
        for request in waiting {
            answered += usize::from(request.await.unwrap().is_some());
        }
        assert_eq!(answered, QUEUE_CAPACITY);
        worker.stop();
    }
}
