//! A camera's record stream when it is not the stream detection reads (usually the main,
//! full-resolution stream beside a small detect stream): its own ffmpeg, copying without decoding,
//! restarted with back-off when it fails or stalls. One connection for that stream, shared by the
//! recorder and the live viewers. A camera that does not record runs it only while someone
//! watches it live, and closes it [`IDLE_STOP`] after the last viewer has left.

use super::CameraRuntime;
use super::ffmpeg::{CopySink, FfmpegRun};
use crate::camera::settings::FfmpegConfig;
use crate::supervise::{Backoff, sleep_or_cancel};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// ffmpeg only hands over what it has copied once it has probed the stream, which can take some
/// seconds; a stream gets this much time without a fragment before it counts as stalled.
const LEAST_STALL: Duration = Duration::from_secs(30);
/// A stream that runs only for live viewers stops this long after the last one has left (a page
/// reload or a switch between pages keeps it).
const IDLE_STOP: Duration = Duration::from_secs(30);

pub async fn run(camera: Arc<CameraRuntime>, sink: CopySink, ffmpeg: FfmpegConfig, cancel: CancellationToken) {
    let config = &camera.config;
    let url = config.record_url();
    let stall = Duration::from_secs(ffmpeg.stall_timeout_secs).max(LEAST_STALL);
    let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(ffmpeg.max_retry_delay_secs));
    let on_demand = sink.recorder.is_none();
    let mut viewers = sink.feed.viewers();
    tracing::info!(url = %crate::secret::redact_url(&url), on_demand, "record stream starting");
    while !cancel.is_cancelled() {
        if on_demand {
            tokio::select! {
                watched = async { viewers.wait_for(|&count| count > 0).await.map(drop) } => if watched.is_err() { break },
                _ = cancel.cancelled() => break,
            }
            tracing::info!("main stream opened for live viewers");
        }
        let run = match FfmpegRun::spawn(config, &ffmpeg, &url, None, Some(sink.clone())) {
            Ok(run) => run,
            Err(message) => {
                tracing::error!("record stream: {message}");
                if !sleep_or_cancel(backoff.next_delay(), &cancel).await {
                    break;
                }
                continue;
            }
        };
        let mut seen = sink.counters.fragments.load(Ordering::Relaxed);
        let mut stalled = false;
        let mut idle = false;
        let mut ticker = tokio::time::interval(stall);
        ticker.tick().await;
        let killer = run.killer();
        let finished = run.finished();
        tokio::pin!(finished);
        // One idle watch for the whole run: the stall ticker must not restart its count.
        let idle_watch = left_alone(&mut viewers);
        tokio::pin!(idle_watch);
        let report = loop {
            tokio::select! {
                report = &mut finished => break report,
                _ = cancel.cancelled() => {
                    killer.kill();
                    break finished.await;
                }
                _ = &mut idle_watch, if on_demand => {
                    idle = true;
                    killer.kill();
                    break finished.await;
                }
                _ = ticker.tick() => {
                    let now = sink.counters.fragments.load(Ordering::Relaxed);
                    if now == seen {
                        stalled = true;
                        killer.kill();
                        break finished.await;
                    }
                    seen = now;
                    backoff.reset();
                }
            }
        };
        if cancel.is_cancelled() {
            break;
        }
        if idle {
            tracing::info!("main stream closed: nobody watches it");
            continue;
        }
        let reason = match (stalled, report.last_error) {
            (true, _) => format!("nothing recorded for {} s; restarting ffmpeg", stall.as_secs()),
            (false, Some(fault)) => fault.message,
            (false, None) => format!("the stream ended (ffmpeg exit code {:?})", report.exit_code),
        };
        let delay = backoff.next_delay();
        tracing::warn!(%reason, retry_in_s = delay.as_secs(), "record stream down");
        if !sleep_or_cancel(delay, &cancel).await {
            break;
        }
    }
    tracing::info!("record stream stopped");
}

/// Returns once nobody has watched for [`IDLE_STOP`]; never when the viewers' count is gone.
async fn left_alone(viewers: &mut tokio::sync::watch::Receiver<usize>) {
    loop {
        if viewers.wait_for(|&count| count == 0).await.map(drop).is_err() {
            return std::future::pending().await;
        }
        match tokio::time::timeout(IDLE_STOP, async { viewers.wait_for(|&count| count > 0).await.map(drop) }).await {
            Err(_) => return,
            Ok(Err(_)) => return std::future::pending().await,
            Ok(Ok(())) => {}
        }
    }
}
