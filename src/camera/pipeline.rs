//! One camera's supervised loop: start ffmpeg, feed each frame to motion detection, the object
//! detector and tracker, and the event recorders; keep the status live, restart a stalled or failed
//! ffmpeg with exponential back-off, and on cancellation end open events and leave no ffmpeg behind.
//!
//! Objects are followed by [`ObjectFollower`] (where to look, which detections count, the
//! tracker); the first frame of each connection is looked at whole.
//!
//! What is being followed outlives a connection: when the stream ends or stalls, the tracker and
//! the open events are kept for `objects.keep_tracks_secs`, and the first detections after the
//! reconnect continue them. When the camera stops, stationary objects are kept in the database
//! (see `object_events`).

use super::ffmpeg::{ExitReport, FfmpegRun, FrameSink};
use super::{CameraRuntime, LiveObject, PipelineContext};
use crate::bus::BusMessage;
use crate::camera::follow::ObjectFollower;
use crate::camera::motion_events::MotionEventRecorder;
use crate::camera::object_events::ObjectEventRecorder;
use crate::detect::motion::MotionDetector;
use crate::detect::to_relative;
use crate::detect::tracker::Tracker;
use crate::model::CameraState;
use crate::supervise::{Backoff, sleep_or_cancel};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Frames waiting for the pipeline; beyond this the reader drops (and counts) new ones.
const FRAME_QUEUE: usize = 4;
/// How often the measured fps is refreshed.
const FPS_WINDOW: Duration = Duration::from_secs(5);

pub async fn run(camera: Arc<CameraRuntime>, ctx: PipelineContext, cancel: CancellationToken) {
    let config = &camera.config;
    let stall = Duration::from_secs(ctx.ffmpeg.stall_timeout_secs);
    let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(ctx.ffmpeg.max_retry_delay_secs));
    let mut recorder = MotionEventRecorder::new(
        &config.id,
        &config.motion,
        ctx.db.clone(),
        ctx.media.clone(),
        ctx.bus.clone(),
        ctx.tasks.clone(),
    );
    let mut objects =
        ObjectEventRecorder::new(config, ctx.db.clone(), ctx.media.clone(), ctx.bus.clone(), ctx.tasks.clone());
    let detector = ctx.detector.clone().filter(|_| !config.objects.track.is_empty());
    let mut follower = ObjectFollower::new(config, detector.as_ref().map_or(&[], |worker| worker.labels()));
    let keep_tracks = Duration::from_secs(u64::from(config.objects.keep_tracks_secs));
    // Followed objects kept while the stream is away are ended at this instant, if it is not back.
    let mut drop_tracks_at: Option<tokio::time::Instant> = None;
    let mut frame_size: Option<(u32, u32)> = None;
    let motion_events = config.motion.events.unwrap_or(detector.is_none());
    let mut next_seq = 0u64;
    let mut reported = Reported::default();
    tracing::info!(
        url = %crate::secret::redact_url(&config.url),
        objects = %if detector.is_some() { config.objects.track.join(",") } else { "off".into() },
        "camera starting"
    );

    while !cancel.is_cancelled() {
        set_state(&camera, &ctx, CameraState::Starting, None).await;
        let (frame_tx, mut frame_rx) = mpsc::channel(FRAME_QUEUE);
        let (recycle_tx, recycle_rx) = std::sync::mpsc::channel();
        let frames =
            FrameSink { frames: frame_tx, recycle: recycle_rx, counters: camera.counters.clone(), first_seq: next_seq };
        // Detection, live viewers and (recording one URL) the recorder share the connection.
        let copy = camera.copies.sub.clone();
        let run = match FfmpegRun::spawn(config, &ctx.ffmpeg, &config.url, Some(frames), copy) {
            Ok(run) => run,
            Err(message) => {
                tracing::error!("{message}");
                set_state(&camera, &ctx, CameraState::Error, Some(message)).await;
                if !sleep_or_cancel(backoff.next_delay(), &cancel).await {
                    break;
                }
                continue;
            }
        };
        tracing::debug!(pid = run.pid, "ffmpeg started");

        // A fresh background per connection: the picture after a reconnect may have moved.
        let mut motion = MotionDetector::new(&config.motion, config.detect.width, config.detect.height);
        let mut online = false;
        let mut stalled = false;
        let mut window_start = Instant::now();
        let mut window_frames = 0u32;
        // The first frame of a connection is looked at whole: kept and restored objects are found.
        follower.reconnected();
        let mut last_motion_ms: Option<i64> = None;
        loop {
            let far = tokio::time::Instant::now() + Duration::from_secs(86_400);
            let frame = tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tokio::time::sleep_until(drop_tracks_at.unwrap_or(far)), if drop_tracks_at.is_some() => {
                    drop_tracks_at = None;
                    objects.finish_all(follower.tracker_mut()).await;
                    continue;
                }
                received = tokio::time::timeout(stall, frame_rx.recv()) => match received {
                    Ok(Some(frame)) => frame,
                    Ok(None) => break,
                    Err(_) => { stalled = true; break; }
                },
            };
            next_seq = frame.seq + 1;
            frame_size = Some((frame.width, frame.height));
            if !online {
                online = true;
                // Back in time: the objects kept are followed on.
                drop_tracks_at = None;
                backoff.reset();
                tracing::info!("camera online");
                set_state(&camera, &ctx, CameraState::Online, None).await;
            }
            let frame = Arc::new(frame);
            let result = motion.process(frame.luma());
            let moving = !result.boxes.is_empty();
            if motion_events {
                let was_active = recorder.is_active();
                recorder.on_frame(&frame, result.boxes, result.changed_fraction).await;
                if !was_active && recorder.is_active() {
                    camera.motion_events.fetch_add(1, Ordering::Relaxed);
                }
            }
            let detect_now = detector.as_ref().filter(|_| ctx.controls.get(&config.id).detect);
            if detector.is_some() && detect_now.is_none() && !follower.tracker().tracks().is_empty() {
                // Detection was switched off: what was being followed is no longer watched.
                objects.finish_all(follower.tracker_mut()).await;
                camera.update_status(|s| s.objects.clear());
                reported.objects(&ctx, &config.id, &config.objects.track, &[]);
            }
            if let Some(worker) = detect_now {
                objects.restore(follower.tracker_mut(), &frame, worker.labels()).await;
                if let Some(update) = follower.look(worker, &frame, result.boxes, config).await {
                    let tracker = follower.tracker();
                    let started = objects.on_pass(&frame, tracker, update, worker.labels()).await;
                    camera.object_events.fetch_add(started as u64, Ordering::Relaxed);
                    let live = live_objects(tracker, &frame, worker.labels());
                    reported.objects(&ctx, &config.id, &config.objects.track, &live);
                    camera.update_status(|s| s.objects = live);
                }
            }
            window_frames += 1;
            let elapsed = window_start.elapsed();
            let fps = (elapsed >= FPS_WINDOW).then(|| window_frames as f32 / elapsed.as_secs_f32());
            if fps.is_some() {
                window_start = Instant::now();
                window_frames = 0;
            }
            let snapshot_error = recorder.snapshot_error.clone().or_else(|| objects.snapshot_error.clone());
            let time_ms = frame.time_ms;
            if moving {
                last_motion_ms = Some(frame.time_ms);
            }
            // Without motion events, motion ends after the same quiet time an event would need.
            let quiet_ms = i64::from(config.motion.quiet_secs) * 1000;
            let motion_now = if motion_events {
                recorder.is_active()
            } else {
                last_motion_ms.is_some_and(|at| frame.time_ms - at < quiet_ms)
            };
            reported.motion(&ctx, &config.id, motion_now);
            camera.update_status(|s| {
                s.last_frame_ms = Some(time_ms);
                s.motion = motion_now;
                s.last_error = snapshot_error;
                if let Some(fps) = fps {
                    s.fps = fps;
                }
            });
            if let Some(old) = camera.set_latest(frame)
                && let Ok(old) = Arc::try_unwrap(old)
            {
                let _ = recycle_tx.send(old.data);
            }
        }

        run.kill();
        let report = run.finished().await;
        let now = chrono::Utc::now().timestamp_millis();
        recorder.finish(now).await;
        if !cancel.is_cancelled() && !follower.tracker().tracks().is_empty() {
            // Kept for the reconnect (the deadline is not moved by a failed retry).
            if keep_tracks.is_zero() {
                objects.finish_all(follower.tracker_mut()).await;
            } else if drop_tracks_at.is_none() {
                drop_tracks_at = Some(tokio::time::Instant::now() + keep_tracks);
            }
        }
        // Nothing is seen while the stream is down: no motion, no objects, no frame rate.
        camera.update_status(|s| {
            s.objects.clear();
            s.motion = false;
            s.fps = 0.0;
        });
        reported.motion(&ctx, &config.id, false);
        reported.objects(&ctx, &config.id, &config.objects.track, &[]);
        if cancel.is_cancelled() {
            break;
        }
        camera.restarts.fetch_add(1, Ordering::Relaxed);
        let (state, message) = why_the_run_ended(stalled.then_some(stall), online, report);
        let delay = backoff.next_delay();
        tracing::warn!(reason = %message, retry_in_s = delay.as_secs(), "camera {}", state.as_str());
        set_state(&camera, &ctx, state, Some(message)).await;
        let retry_at = tokio::time::Instant::now() + delay;
        if let Some(at) = drop_tracks_at.filter(|at| *at <= retry_at) {
            if !sleep_or_cancel(at.saturating_duration_since(tokio::time::Instant::now()), &cancel).await {
                break;
            }
            drop_tracks_at = None;
            objects.finish_all(follower.tracker_mut()).await;
        }
        if !sleep_or_cancel(retry_at.saturating_duration_since(tokio::time::Instant::now()), &cancel).await {
            break;
        }
    }
    // Stationary objects are kept for the next start; every other open event ends.
    objects.stop(follower.tracker_mut(), frame_size).await;
    camera.update_status(|s| {
        s.state = CameraState::Offline;
        s.motion = false;
        s.fps = 0.0;
    });
    tracing::info!("camera stopped");
}

/// The camera's state and its reason after an ffmpeg run ended: `stalled` (after that long without
/// a picture), `online` (whether pictures came in this run), and how ffmpeg ended.
fn why_the_run_ended(stalled: Option<Duration>, online: bool, report: ExitReport) -> (CameraState, String) {
    let (message, needs_new_settings) = match (stalled, report.last_error) {
        (Some(stall), _) => (format!("No picture for {} s; restarting ffmpeg.", stall.as_secs()), false),
        // Pictures came, so the settings are right: only a failure before the first picture is
        // one to fix in the settings. What ffmpeg said at the end is kept when it helps.
        (None, Some(fault)) if online && !fault.needs_new_settings => {
            (format!("The stream ended: {} Retrying.", fault.message), false)
        }
        (None, _) if online => ("The stream ended; retrying.".to_string(), false),
        (None, Some(fault)) => (fault.message, fault.needs_new_settings),
        (None, None) => (format!("The stream ended (ffmpeg exit code {:?}).", report.exit_code), false),
    };
    (if needs_new_settings { CameraState::Error } else { CameraState::Offline }, message)
}

/// What the bus was last told about motion and object counts, so it hears only of changes.
#[derive(Default)]
struct Reported {
    motion: bool,
    counts: Option<BTreeMap<String, u32>>,
}

impl Reported {
    fn motion(&mut self, ctx: &PipelineContext, camera: &str, active: bool) {
        if self.motion != active {
            self.motion = active;
            ctx.bus.publish(BusMessage::Motion { camera: camera.to_string(), active });
        }
    }

    /// Counts the confirmed objects of every tracked label (zeros included).
    fn objects(&mut self, ctx: &PipelineContext, camera: &str, tracked: &[String], live: &[LiveObject]) {
        let mut counts: BTreeMap<String, u32> = tracked.iter().map(|label| (label.clone(), 0)).collect();
        for object in live {
            *counts.entry(object.label.clone()).or_default() += 1;
        }
        if self.counts.as_ref() != Some(&counts) {
            let first = self.counts.is_none();
            self.counts = Some(counts.clone());
            // The first all-zero count is what everyone assumes already; nothing to tell.
            if !(first && counts.values().all(|&n| n == 0)) {
                ctx.bus.publish(BusMessage::Objects { camera: camera.to_string(), counts });
            }
        }
    }
}

/// Updates the live status, records it in the database and tells the bus (only on a change).
async fn set_state(camera: &CameraRuntime, ctx: &PipelineContext, state: CameraState, error: Option<String>) {
    let previous = camera.status();
    if previous.state == state && previous.last_error == error {
        return;
    }
    camera.update_status(|s| {
        s.state = state;
        s.last_error = error.clone();
        // Only a camera that sends pictures shows motion, objects and a frame rate.
        if state != CameraState::Online {
            s.motion = false;
            s.objects.clear();
            s.fps = 0.0;
        }
    });
    if let Err(err) =
        ctx.db.set_camera_status(camera.id(), state.as_str(), error.as_deref(), previous.last_frame_ms).await
    {
        tracing::warn!(error = %err, "cannot record camera status");
    }
    // The reports' uptime: an outage runs from the first failure to the next picture (or until
    // the camera is switched off).
    let now_ms = chrono::Utc::now().timestamp_millis();
    let outage = match state {
        CameraState::Offline | CameraState::Error => {
            ctx.db.camera_went_out(camera.id(), now_ms, error.as_deref()).await
        }
        CameraState::Online | CameraState::Disabled => ctx.db.camera_came_back(camera.id(), now_ms).await,
        CameraState::Starting => Ok(()),
    };
    if let Err(err) = outage {
        tracing::warn!(error = %err, "cannot record the camera's outage");
    }
    ctx.bus.publish(BusMessage::CameraStatus { camera: camera.id().to_string(), state, error });
}

/// The confirmed tracks as the live view shows them.
fn live_objects(tracker: &Tracker, frame: &crate::media::Frame, labels: &[String]) -> Vec<LiveObject> {
    tracker
        .tracks()
        .iter()
        .filter(|t| t.confirmed)
        .map(|t| LiveObject {
            label: labels.get(t.class).cloned().unwrap_or_default(),
            score: t.scores.back().copied().unwrap_or(t.top_score),
            bbox: to_relative(&t.bbox, frame.width, frame.height),
            stationary: t.stationary,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::camera::ffmpeg::explain_error;

    fn ended(line: Option<&str>) -> ExitReport {
        ExitReport { exit_code: Some(1), last_error: line.and_then(explain_error) }
    }

    #[test]
    fn only_a_failure_before_the_first_picture_asks_to_fix_the_settings() {
        // h264's "error while decoding MB …" on joining a stream, then the stream simply ends.
        let garbled = Some("[h264 @ 0x1] error while decoding MB 12 3, bytestream -5");
        let (state, message) = why_the_run_ended(None, false, ended(garbled));
        assert_eq!(state, CameraState::Error);
        assert_eq!(message, "The camera sent data that is not a video stream ffmpeg can decode.");
        let (state, message) = why_the_run_ended(None, true, ended(garbled));
        assert_eq!((state, message.as_str()), (CameraState::Offline, "The stream ended; retrying."));

        let closed = Some("rtsp://cam/stream: Connection reset by peer");
        let (state, message) = why_the_run_ended(None, true, ended(closed));
        assert_eq!(state, CameraState::Offline);
        assert_eq!(message, "The stream ended: The camera closed the connection. Retrying.");
        let wrong_password = Some("method DESCRIBE failed: 401 Unauthorized");
        assert_eq!(why_the_run_ended(None, false, ended(wrong_password)).0, CameraState::Error);

        let (state, message) = why_the_run_ended(Some(Duration::from_secs(10)), true, ended(garbled));
        assert_eq!((state, message.as_str()), (CameraState::Offline, "No picture for 10 s; restarting ffmpeg."));
        let (state, message) = why_the_run_ended(None, false, ended(None));
        assert_eq!((state, message.as_str()), (CameraState::Offline, "The stream ended (ffmpeg exit code Some(1))."));
    }
}
