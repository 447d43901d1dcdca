//! The ffmpeg sidecar: builds the command for a camera (input options per source type, the
//! hardware-decode preset table, output as raw YUV 4:2:0 at the detect size and rate; a network
//! camera's URL, password and all, goes to ffmpeg's stdin as an ffconcat script, never into its
//! arguments), runs it on a dedicated thread that reads whole frames from its stdout into recycled
//! buffers, sends its stderr to the log in the camera's span, and turns its last error into words a
//! user can act on.
//!
//! ffmpeg is started with PR_SET_PDEATHSIG, so it dies with Watchpost even on a crash; a normal stop
//! kills it through [`FfmpegRun::kill`] and waits for it.

use crate::camera::settings::{CameraConfig, FfmpegConfig, HwAccel};
use crate::media::Frame;
use ffmpeg_sidecar::command::FfmpegCommand;
use ffmpeg_sidecar::event::{FfmpegEvent, LogLevel};
use ffmpeg_sidecar::log_parser::FfmpegLogParser;
use std::io::Read;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

/// Arguments placed before `-i` for each hardware-decode preset.
pub fn hwaccel_args(preset: HwAccel) -> &'static [&'static str] {
    match preset {
        HwAccel::None => &[],
        HwAccel::Vaapi => &["-hwaccel", "vaapi", "-hwaccel_device", "/dev/dri/renderD128"],
        HwAccel::Qsv => &["-hwaccel", "qsv"],
        HwAccel::Cuda => &["-hwaccel", "cuda"],
        HwAccel::V4l2m2m => &["-c:v", "h264_v4l2m2m"],
    }
}

/// How ffmpeg is started for a camera.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FfmpegInvocation {
    /// The arguments (without the program name). They never hold a camera's URL, which may carry
    /// its password: every user of the machine can read a process's arguments (`ps`).
    pub args: Vec<String>,
    /// For a network camera, the input as an ffconcat script: written to ffmpeg's standard input
    /// (readable by nobody else), then closed. ffmpeg's concat demuxer opens the URL in it with
    /// the `option` lines as its input options.
    pub stdin: Option<String>,
}

/// Protocols the concat demuxer may open for a network camera (its default list for a script
/// read from a pipe holds none of them).
const NETWORK_PROTOCOLS: &str = "pipe,rtsp,rtsps,rtp,srtp,udp,tcp,tls,http,https,httpproxy,crypto,data";

/// The ffmpeg command for a camera.
pub fn build_args(camera: &CameraConfig, ffmpeg: &FfmpegConfig) -> FfmpegInvocation {
    let mut args: Vec<String> = ["-hide_banner", "-nostdin", "-nostats"].map(String::from).to_vec();
    args.extend(hwaccel_args(camera.hwaccel.unwrap_or(ffmpeg.hwaccel)).iter().map(|s| s.to_string()));
    let url = camera.url.as_str();
    // Input options of the camera's own URL: TCP for reliability over Wi-Fi; a socket time-out
    // (µs) makes a dead camera fail instead of hanging.
    let network_options: &[(&str, &str)] = if url.starts_with("rtsp://") || url.starts_with("rtsps://") {
        &[("rtsp_transport", "tcp"), ("timeout", "10000000"), ("fflags", "nobuffer")]
    } else if url.starts_with("http://") || url.starts_with("https://") {
        &[("rw_timeout", "10000000"), ("fflags", "nobuffer")]
    } else {
        &[]
    };
    let stdin = if network_options.is_empty() {
        // A local file: play it in real time, forever, like a camera.
        let path = url.strip_prefix("file://").unwrap_or(url);
        args.extend(["-re", "-stream_loop", "-1", "-i", path].map(String::from));
        None
    } else {
        args.extend(
            ["-fflags", "nobuffer", "-flags", "low_delay", "-protocol_whitelist", NETWORK_PROTOCOLS].map(String::from),
        );
        args.extend(["-f", "concat", "-safe", "0", "-i", "pipe:0"].map(String::from));
        let mut script = format!("ffconcat version 1.0\nfile {}\n", concat_quote(url));
        for (key, value) in network_options {
            script.push_str(&format!("option {key} {value}\n"));
        }
        Some(script)
    };
    args.extend(["-an", "-sn", "-dn"].map(String::from));
    let d = camera.detect;
    args.extend([
        "-vf".into(),
        format!("fps={},scale={}:{}", d.fps, d.width, d.height),
        "-pix_fmt".into(),
        "yuv420p".into(),
        "-f".into(),
        "rawvideo".into(),
        "pipe:1".into(),
    ]);
    FfmpegInvocation { args, stdin }
}

/// A URL as one ffconcat token: in single quotes, each `'` written as `'\''`, and no line break
/// (which would end the directive).
fn concat_quote(url: &str) -> String {
    let one_line: String = url.chars().filter(|c| !matches!(c, '\n' | '\r')).collect();
    format!("'{}'", one_line.replace('\'', r"'\''"))
}

/// An ffmpeg failure in words for the UI, and whether the fix is in the camera's settings (status
/// `error`: wrong password, path, file, not video) rather than waiting for the camera (`offline`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CameraFault {
    pub message: String,
    pub needs_new_settings: bool,
}

/// Translates an ffmpeg error line for the UI; `None` when it is not recognised.
pub fn explain_error(line: &str) -> Option<CameraFault> {
    let lower = line.to_ascii_lowercase();
    let table: [(&[&str], &str, bool); 10] = [
        (
            &["connection refused"],
            "The camera refused the connection: check the address and port, and that the camera is on.",
            false,
        ),
        (&["401 unauthorized", "authorization failed", "401 "], "The camera rejected the username or password.", true),
        (
            &["404 not found", "method describe failed: 404"],
            "The camera has no stream at that path: check the URL's path.",
            true,
        ),
        (&["no such file or directory"], "The file does not exist: check the path.", true),
        (
            &["name or service not known", "failed to resolve", "temporary failure in name resolution"],
            "The camera's host name cannot be resolved: check the address.",
            false,
        ),
        (
            &["connection timed out", "operation timed out", "timed out"],
            "The camera did not answer in time: is it reachable from this machine?",
            false,
        ),
        (
            &["no route to host", "network is unreachable"],
            "The camera's network cannot be reached from this machine.",
            false,
        ),
        (
            &["invalid data found when processing input", "could not find codec parameters", "error while decoding"],
            "The camera sent data that is not a video stream ffmpeg can decode.",
            true,
        ),
        (&["connection reset by peer", "end of file", "broken pipe"], "The camera closed the connection.", false),
        (&["permission denied"], "Permission denied while opening the source.", false),
    ];
    table
        .iter()
        .find(|(needles, _, _)| needles.iter().any(|n| lower.contains(n)))
        .map(|(_, words, settings)| CameraFault { message: words.to_string(), needs_new_settings: *settings })
}

/// How an ffmpeg run ended.
#[derive(Debug, Clone)]
pub struct ExitReport {
    pub exit_code: Option<i32>,
    /// The last error line ffmpeg printed, explained when recognised.
    pub last_error: Option<CameraFault>,
}

/// A running ffmpeg: frames arrive on the channel given to [`FfmpegRun::spawn`].
pub struct FfmpegRun {
    child: Arc<Mutex<std::process::Child>>,
    done: oneshot::Receiver<ExitReport>,
    pub pid: u32,
}

/// Counters shared between the reader thread and the camera's status.
#[derive(Debug, Default)]
pub struct FrameCounters {
    pub frames: AtomicU64,
    pub dropped: AtomicU64,
}

impl FfmpegRun {
    /// Starts ffmpeg for `camera`; frames go to `frames` (dropped and counted when it is full), and
    /// buffers sent back on `recycle` are reused.
    pub fn spawn(
        camera: &CameraConfig,
        ffmpeg: &FfmpegConfig,
        frames: mpsc::Sender<Frame>,
        recycle: std::sync::mpsc::Receiver<Vec<u8>>,
        counters: Arc<FrameCounters>,
        first_seq: u64,
    ) -> Result<Self, String> {
        let invocation = build_args(camera, ffmpeg);
        let mut command = FfmpegCommand::new_with_path(&ffmpeg.path);
        command.args(&invocation.args);
        let inner = command.as_inner_mut();
        let stdin = if invocation.stdin.is_some() { Stdio::piped() } else { Stdio::null() };
        inner.stdin(stdin).stdout(Stdio::piped()).stderr(Stdio::piped());
        set_parent_death_signal(inner);
        let mut process = inner.spawn().map_err(|err| {
            if err.kind() == std::io::ErrorKind::NotFound {
                format!(
                    "ffmpeg was not found at {:?}: install it (apt install ffmpeg) or set [ffmpeg] path",
                    ffmpeg.path
                )
            } else {
                format!("ffmpeg could not be started: {err}")
            }
        })?;
        if let (Some(script), Some(mut stdin)) = (invocation.stdin, process.stdin.take()) {
            // A few hundred bytes, far below a pipe's buffer: this never blocks. Dropping `stdin`
            // closes it, which ends the script for ffmpeg.
            if let Err(err) = std::io::Write::write_all(&mut stdin, script.as_bytes()) {
                let _ = process.kill();
                let _ = process.wait();
                return Err(format!("cannot hand ffmpeg the camera's address: {err}"));
            }
        }
        let stdout = process.stdout.take().ok_or("ffmpeg has no stdout")?;
        let stderr = process.stderr.take().ok_or("ffmpeg has no stderr")?;
        let pid = process.id();
        let child = Arc::new(Mutex::new(process));

        let last_error = Arc::new(Mutex::new(None::<CameraFault>));
        let span = tracing::Span::current();
        let stderr_thread = {
            let last_error = last_error.clone();
            let span = span.clone();
            std::thread::Builder::new()
                .name(format!("ffmpeg-log-{}", camera.id))
                .spawn(move || log_stderr(stderr, &last_error, &span))
                .map_err(|e| e.to_string())?
        };

        let (done_tx, done) = oneshot::channel();
        let (width, height) = (camera.detect.width, camera.detect.height);
        let reader_child = child.clone();
        std::thread::Builder::new()
            .name(format!("ffmpeg-{}", camera.id))
            .spawn(move || {
                let _entered = span.enter();
                read_frames(stdout, width, height, &frames, &recycle, &counters, first_seq);
                drop(frames);
                let status = reader_child.lock().map(|mut c| c.wait().ok()).unwrap_or(None);
                let _ = stderr_thread.join();
                let last_error = last_error.lock().ok().and_then(|mut e| e.take());
                let _ = done_tx.send(ExitReport { exit_code: status.and_then(|s| s.code()), last_error });
            })
            .map_err(|e| e.to_string())?;
        Ok(Self { child, done, pid })
    }

    /// Stops ffmpeg now (SIGKILL); the reader then sees end of stream.
    pub fn kill(&self) {
        if let Ok(mut child) = self.child.lock() {
            let _ = child.kill();
        }
    }

    /// Waits until ffmpeg has exited and been reaped.
    pub async fn finished(self) -> ExitReport {
        self.done.await.unwrap_or(ExitReport { exit_code: None, last_error: None })
    }
}

fn read_frames(
    mut stdout: std::process::ChildStdout,
    width: u32,
    height: u32,
    frames: &mpsc::Sender<Frame>,
    recycle: &std::sync::mpsc::Receiver<Vec<u8>>,
    counters: &FrameCounters,
    mut seq: u64,
) {
    let size = Frame::byte_len(width, height);
    loop {
        let mut data = recycle.try_recv().ok().filter(|b| b.len() == size).unwrap_or_else(|| vec![0; size]);
        if stdout.read_exact(&mut data).is_err() {
            return;
        }
        let time_ms = chrono::Utc::now().timestamp_millis();
        counters.frames.fetch_add(1, Ordering::Relaxed);
        match frames.try_send(Frame { width, height, data, time_ms, seq }) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                counters.dropped.fetch_add(1, Ordering::Relaxed);
            }
            Err(mpsc::error::TrySendError::Closed(_)) => return,
        }
        seq += 1;
    }
}

fn log_stderr(stderr: std::process::ChildStderr, last_error: &Mutex<Option<CameraFault>>, span: &tracing::Span) {
    let _entered = span.enter();
    let mut parser = FfmpegLogParser::new(stderr);
    loop {
        match parser.parse_next_event() {
            Ok(FfmpegEvent::LogEOF) | Err(_) => return,
            Ok(FfmpegEvent::Log(LogLevel::Error | LogLevel::Fatal, line)) | Ok(FfmpegEvent::Error(line)) => {
                let line = crate::secret::redact_text(&line);
                tracing::warn!(target: "watchpost::ffmpeg", "{line}");
                if let Ok(mut last) = last_error.lock() {
                    *last =
                        Some(explain_error(&line).unwrap_or(CameraFault { message: line, needs_new_settings: false }));
                }
            }
            Ok(FfmpegEvent::Log(_, line)) => {
                tracing::debug!(target: "watchpost::ffmpeg", "{}", crate::secret::redact_text(&line))
            }
            Ok(_) => {}
        }
    }
}

#[cfg(target_os = "linux")]
fn set_parent_death_signal(command: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe and touches only the child's own process attributes.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn set_parent_death_signal(_command: &mut std::process::Command) {}

#[cfg(test)]
mod tests {
    use super::*;

    fn camera(url: &str) -> CameraConfig {
        toml::from_str(&format!("id = \"cam\"\nurl = \"{url}\"")).unwrap()
    }

    #[test]
    fn rtsp_uses_tcp_and_a_socket_timeout_and_its_url_never_reaches_the_arguments() {
        let invocation = build_args(&camera("rtsp://admin:s3cret@10.0.0.2/s"), &FfmpegConfig::default());
        let args = invocation.args.join(" ");
        assert!(!args.contains("s3cret") && !args.contains("10.0.0.2"), "{args}");
        assert!(args.contains("-f concat -safe 0 -i pipe:0"), "{args}");
        assert!(args.contains("-vf fps=5,scale=640:360 -pix_fmt yuv420p -f rawvideo pipe:1"), "{args}");
        assert_eq!(
            invocation.stdin.as_deref(),
            Some(
                "ffconcat version 1.0\nfile 'rtsp://admin:s3cret@10.0.0.2/s'\noption rtsp_transport tcp\n\
                 option timeout 10000000\noption fflags nobuffer\n"
            )
        );
        let http = build_args(&camera("http://u:p@10.0.0.3/stream"), &FfmpegConfig::default());
        assert!(http.stdin.unwrap().contains("option rw_timeout 10000000"));
    }

    #[test]
    fn a_quote_or_line_break_in_a_url_cannot_add_a_directive() {
        assert_eq!(concat_quote("rtsp://h/a'b"), r"'rtsp://h/a'\''b'");
        assert_eq!(concat_quote("rtsp://h/a\nfile '/etc/passwd'"), r"'rtsp://h/afile '\''/etc/passwd'\'''");
    }

    #[test]
    fn files_loop_in_real_time_and_presets_go_before_the_input() {
        let mut cam = camera("/clips/demo.mp4");
        cam.hwaccel = Some(HwAccel::Vaapi);
        let invocation = build_args(&cam, &FfmpegConfig::default());
        assert_eq!(invocation.stdin, None);
        let args = invocation.args.join(" ");
        assert!(
            args.contains("-hwaccel vaapi -hwaccel_device /dev/dri/renderD128 -re -stream_loop -1 -i /clips/demo.mp4"),
            "{args}"
        );
    }

    #[test]
    fn errors_are_explained() {
        assert!(
            explain_error("[tcp @ 0x1] Connection to tcp://10.0.0.2:554 failed: Connection refused")
                .unwrap()
                .message
                .contains("refused")
        );
        let unauthorized = explain_error("method DESCRIBE failed: 401 Unauthorized").unwrap();
        assert!(unauthorized.message.contains("password") && unauthorized.needs_new_settings);
        assert!(explain_error("something new").is_none());
    }
}
