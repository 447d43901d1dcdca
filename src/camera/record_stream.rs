//! A camera's record stream when it is not the stream detection reads (usually the main,
//! full-resolution stream beside a small detect stream): its own ffmpeg, copying without decoding,
//! restarted with back-off when it fails or stalls. One connection for that stream.

use super::CameraRuntime;
use super::ffmpeg::{FfmpegRun, RecordSink};
use crate::camera::settings::FfmpegConfig;
use crate::supervise::{Backoff, sleep_or_cancel};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A record stream sends a fragment per group of pictures; cameras with long ones (10 s and more
/// in "smart" codecs) get this much time before the stream counts as stalled.
const LEAST_STALL: Duration = Duration::from_secs(30);

pub async fn run(camera: Arc<CameraRuntime>, sink: RecordSink, ffmpeg: FfmpegConfig, cancel: CancellationToken) {
    let config = &camera.config;
    let url = config.record_url();
    let stall = Duration::from_secs(ffmpeg.stall_timeout_secs).max(LEAST_STALL);
    let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(ffmpeg.max_retry_delay_secs));
    tracing::info!(url = %crate::secret::redact_url(&url), "record stream starting");
    while !cancel.is_cancelled() {
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
        let mut ticker = tokio::time::interval(stall);
        ticker.tick().await;
        let killer = run.killer();
        let finished = run.finished();
        tokio::pin!(finished);
        let report = loop {
            tokio::select! {
                report = &mut finished => break report,
                _ = cancel.cancelled() => {
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
