//! The ffmpeg sidecar: builds the command for one camera stream (input options per source type,
//! the hardware-decode preset table; a network camera's URL, password and all, goes to ffmpeg's
//! stdin as an ffconcat script, never into its arguments) with up to two outputs from the one
//! connection: raw YUV 4:2:0 at the detect size and rate for detection, and the camera's own
//! H.264/H.265 copied into fragmented MP4, one fragment per frame, for the live viewers and the
//! recorder. It runs ffmpeg with a dedicated
//! thread per output (whole frames into recycled buffers; MP4 split into init segment and
//! fragments), sends its stderr to the log in the camera's span, and turns its last error into
//! words a user can act on.
//!
//! ffmpeg is started with PR_SET_PDEATHSIG, so it dies with Watchpost even on a crash; a normal stop
//! kills it through [`FfmpegRun::kill`] and waits for it.

use crate::camera::settings::{CameraConfig, FfmpegConfig, HwAccel};
use crate::live::LiveFeed;
use crate::media::Frame;
use crate::recording::StreamFragment;
use crate::recording::mp4::{Chunk, ChunkReader};
use ffmpeg_sidecar::command::FfmpegCommand;
use ffmpeg_sidecar::event::{FfmpegEvent, LogLevel};
use ffmpeg_sidecar::log_parser::FfmpegLogParser;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
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

/// What one ffmpeg run delivers from a camera stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outputs {
    /// Raw frames at the detect size and rate, on standard output.
    pub frames: bool,
    /// The video copied as fragmented MP4 to this (inherited) file descriptor.
    pub copy_fd: Option<i32>,
}

/// The ffmpeg command reading `url` for `camera`.
pub fn build_args(camera: &CameraConfig, ffmpeg: &FfmpegConfig, url: &str, outputs: Outputs) -> FfmpegInvocation {
    let mut args: Vec<String> = ["-hide_banner", "-nostdin", "-nostats"].map(String::from).to_vec();
    if outputs.frames {
        args.extend(hwaccel_args(camera.hwaccel.unwrap_or(ffmpeg.hwaccel)).iter().map(|s| s.to_string()));
    }
    // Input options of the camera's own URL: TCP for reliability over Wi-Fi; a socket time-out
    // (µs) makes a dead camera fail instead of hanging. An MJPEG stream over HTTP has no times of
    // its own (ffmpeg would assume 25 fps and keep one picture in five at 5 fps): each picture is
    // timed by its arrival.
    let network_options: &[(&str, &str)] = if url.starts_with("rtsp://") || url.starts_with("rtsps://") {
        &[("rtsp_transport", "tcp"), ("timeout", "10000000"), ("fflags", "nobuffer")]
    } else if is_http(url) {
        &[("rw_timeout", "10000000"), ("fflags", "nobuffer"), ("use_wallclock_as_timestamps", "1")]
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
    if outputs.frames {
        let d = camera.detect;
        args.extend([
            "-map".into(),
            "0:v:0".into(),
            "-vf".into(),
            format!("{},scale={}:{}", keep_rate(d.fps), d.width, d.height),
            // The kept frames as they are: no copies to make a constant rate.
            "-fps_mode".into(),
            "passthrough".into(),
            "-pix_fmt".into(),
            "yuv420p".into(),
            "-f".into(),
            "rawvideo".into(),
            "pipe:1".into(),
        ]);
    }
    if let Some(fd) = outputs.copy_fd {
        // One fragment per frame, with no index to rewrite at the end: what a pipe can carry, a
        // live viewer gets a frame as soon as ffmpeg has it, and a recorder cuts at a key frame.
        args.extend(
            [
                "-map",
                "0:v:0",
                "-c:v",
                "copy",
                "-f",
                "mp4",
                "-movflags",
                "empty_moov+default_base_moof+frag_every_frame",
            ]
            .map(String::from),
        );
        args.push(format!("pipe:{fd}"));
    }
    FfmpegInvocation { args, stdin }
}

/// The filter that keeps at most `fps` frames a second: the first frame of each 1/`fps` slot of
/// the stream's time (and the next one after its clock jumps back). ffmpeg's `fps` filter would
/// hold frames back to choose the nearest to each slot and fill gaps with copies: measured on an
/// RTSP stream it delivered a frame about 0.1 s later than this does (docs/performance.md, alert
/// latency), and copies of a slower camera's pictures are no use to motion detection.
fn keep_rate(fps: u32) -> String {
    format!("select='isnan(prev_selected_t)+gt(floor(t*{fps}),floor(prev_selected_t*{fps}))+lt(t,prev_selected_t)'")
}

/// Whether `url` is read over HTTP (MJPEG cameras and ESP32 nodes).
pub fn is_http(url: &str) -> bool {
    url.starts_with("http://") || url.starts_with("https://")
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

/// A running ffmpeg: frames and recorded video arrive on the sinks given to [`FfmpegRun::spawn`].
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

/// Where decoded frames go: full queue = drop and count; buffers sent back on `recycle` are reused.
pub struct FrameSink {
    pub frames: mpsc::Sender<Frame>,
    pub recycle: std::sync::mpsc::Receiver<Vec<u8>>,
    pub counters: Arc<FrameCounters>,
    /// The sequence number of the first frame of this run.
    pub first_seq: u64,
}

/// Where a stream's copied video goes, fragment by fragment: to its live viewers, and to the
/// recorder while the camera records. A full recorder queue (a disk that cannot keep up) drops and
/// counts, so ffmpeg, and detection with it, never waits for the recorder.
#[derive(Clone)]
pub struct CopySink {
    pub feed: Arc<LiveFeed>,
    pub recorder: Option<mpsc::Sender<StreamFragment>>,
    pub counters: Arc<CopyCounters>,
}

/// What the copy output delivered, for the stall check of a stream without frames and the figures.
#[derive(Debug, Default)]
pub struct CopyCounters {
    pub fragments: AtomicU64,
    pub dropped: AtomicU64,
}

impl FfmpegRun {
    /// Starts ffmpeg reading `url` (the camera's, or its record stream's) into the given sinks.
    pub fn spawn(
        camera: &CameraConfig,
        ffmpeg: &FfmpegConfig,
        url: &str,
        frames: Option<FrameSink>,
        copy: Option<CopySink>,
    ) -> Result<Self, String> {
        let copy_pipe = copy.as_ref().map(|_| inheritable_pipe()).transpose()?;
        let outputs =
            Outputs { frames: frames.is_some(), copy_fd: copy_pipe.as_ref().map(|(_, write)| write.as_raw_fd()) };
        let invocation = build_args(camera, ffmpeg, url, outputs);
        let mut command = FfmpegCommand::new_with_path(&ffmpeg.path);
        command.args(&invocation.args);
        let inner = command.as_inner_mut();
        let stdin = if invocation.stdin.is_some() { Stdio::piped() } else { Stdio::null() };
        let stdout = if frames.is_some() { Stdio::piped() } else { Stdio::null() };
        inner.stdin(stdin).stdout(stdout).stderr(Stdio::piped());
        set_parent_death_signal(inner);
        if let Some((_, write)) = &copy_pipe {
            keep_open_in_child(inner, write.as_raw_fd());
        }
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
        // Only ffmpeg writes to the pipe now: its end of file is ffmpeg's exit.
        let copy_read = copy_pipe.map(|(read, write)| {
            drop(write);
            std::fs::File::from(read)
        });
        if let (Some(script), Some(mut stdin)) = (invocation.stdin, process.stdin.take()) {
            // A few hundred bytes, far below a pipe's buffer: this never blocks. Dropping `stdin`
            // closes it, which ends the script for ffmpeg.
            if let Err(err) = std::io::Write::write_all(&mut stdin, script.as_bytes()) {
                let _ = process.kill();
                let _ = process.wait();
                return Err(format!("cannot hand ffmpeg the camera's address: {err}"));
            }
        }
        let stdout = process.stdout.take();
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
        let copy_thread = match (copy_read, copy) {
            (Some(pipe), Some(sink)) => {
                let span = span.clone();
                Some(
                    std::thread::Builder::new()
                        .name(format!("ffmpeg-mp4-{}", camera.id))
                        .spawn({
                            let last_error = last_error.clone();
                            move || {
                                let _entered = span.enter();
                                read_fragments(pipe, &sink, &last_error);
                            }
                        })
                        .map_err(|e| e.to_string())?,
                )
            }
            _ => None,
        };

        let (done_tx, done) = oneshot::channel();
        let (width, height) = (camera.detect.width, camera.detect.height);
        let reader_child = child.clone();
        let error_slot = last_error.clone();
        std::thread::Builder::new()
            .name(format!("ffmpeg-{}", camera.id))
            .spawn(move || {
                let _entered = span.enter();
                if let (Some(stdout), Some(sink)) = (stdout, frames) {
                    read_frames(stdout, width, height, &sink, &error_slot);
                }
                if let Some(thread) = copy_thread {
                    let _ = thread.join();
                }
                let status = reader_child.lock().map(|mut c| c.wait().ok()).unwrap_or(None);
                let _ = stderr_thread.join();
                let last_error = last_error.lock().ok().and_then(|mut e| e.take());
                let _ = done_tx.send(ExitReport { exit_code: status.and_then(|s| s.code()), last_error });
            })
            .map_err(|e| e.to_string())?;
        Ok(Self { child, done, pid })
    }

    /// Stops ffmpeg now (SIGKILL); the readers then see end of stream.
    pub fn kill(&self) {
        self.killer().kill();
    }

    /// A handle that stops this ffmpeg, for use while [`FfmpegRun::finished`] is awaited.
    pub fn killer(&self) -> FfmpegKiller {
        FfmpegKiller(self.child.clone())
    }

    /// Waits until ffmpeg has exited and been reaped.
    pub async fn finished(self) -> ExitReport {
        self.done.await.unwrap_or(ExitReport { exit_code: None, last_error: None })
    }
}

/// Stops one ffmpeg run (SIGKILL).
#[derive(Clone)]
pub struct FfmpegKiller(Arc<Mutex<std::process::Child>>);

impl FfmpegKiller {
    pub fn kill(&self) {
        if let Ok(mut child) = self.0.lock() {
            let _ = child.kill();
        }
    }
}

/// A pipe whose ends close on exec; the write end is made inheritable in the child only.
fn inheritable_pipe() -> Result<(OwnedFd, OwnedFd), String> {
    let mut fds = [0i32; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes; each is owned once below.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(format!("cannot make a pipe for the recording: {}", std::io::Error::last_os_error()));
    }
    // A 1 MiB pipe (Linux's default is 64 KiB): ffmpeg writes a group of pictures with fewer
    // waits for the reader. Where the system refuses, the default pipe works too.
    // SAFETY: fcntl on a descriptor just opened by pipe2.
    unsafe { libc::fcntl(fds[0], libc::F_SETPIPE_SZ, 1 << 20) };
    // SAFETY: both descriptors were just opened by pipe2 and belong to nothing else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Lets the child keep `fd` open across exec (it is close-on-exec in Watchpost).
fn keep_open_in_child(command: &mut std::process::Command, fd: i32) {
    use std::os::unix::process::CommandExt;
    // SAFETY: fcntl is async-signal-safe and changes only the child's own descriptor table.
    unsafe {
        command.pre_exec(move || {
            if libc::fcntl(fd, libc::F_SETFD, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Splits ffmpeg's MP4 into fragments for the viewers and the recorder, each with the init
/// segment it belongs to. After a broken stream it keeps reading to the end, so ffmpeg never
/// blocks on a full pipe; at the end the viewers learn that this run is over.
fn read_fragments(pipe: std::fs::File, sink: &CopySink, last_error: &Mutex<Option<CameraFault>>) {
    // Unbuffered: box headers are small reads, and the boxes themselves go straight into their
    // own buffer (a BufReader would copy every byte once more).
    let mut reader = ChunkReader::new(pipe);
    let mut init = None;
    loop {
        match reader.next_chunk() {
            Ok(Some(Chunk::Init(segment))) => {
                if !segment.track.is_h264_or_h265() {
                    tracing::warn!(
                        codec = %segment.track.codec,
                        "the copied stream is not H.264 or H.265: browsers cannot play it live or recorded"
                    );
                }
                init = Some(Arc::new(segment));
            }
            Ok(Some(Chunk::Fragment(fragment))) => {
                let Some(init) = init.clone() else { continue };
                let arrived_ms = chrono::Utc::now().timestamp_millis();
                sink.counters.fragments.fetch_add(1, Ordering::Relaxed);
                forget(last_error);
                let piece = StreamFragment { init, fragment: Arc::new(fragment), arrived_ms };
                sink.feed.publish(&piece);
                if let Some(recorder) = &sink.recorder
                    && let Err(mpsc::error::TrySendError::Full(_)) = recorder.try_send(piece)
                {
                    sink.counters.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok(None) => break,
            Err(why) => {
                tracing::warn!(target: "watchpost::ffmpeg", "the copied stream cannot be read: {why}");
                break;
            }
        }
    }
    sink.feed.end_run();
    let _ = std::io::copy(&mut reader.into_inner(), &mut std::io::sink());
}

fn read_frames(
    mut stdout: std::process::ChildStdout,
    width: u32,
    height: u32,
    sink: &FrameSink,
    last_error: &Mutex<Option<CameraFault>>,
) {
    let FrameSink { frames, recycle, counters, first_seq } = sink;
    let mut seq = *first_seq;
    let size = Frame::byte_len(width, height);
    loop {
        let mut data = recycle.try_recv().ok().filter(|b| b.len() == size).unwrap_or_else(|| vec![0; size]);
        if stdout.read_exact(&mut data).is_err() {
            return;
        }
        let time_ms = chrono::Utc::now().timestamp_millis();
        counters.frames.fetch_add(1, Ordering::Relaxed);
        forget(last_error);
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

/// Video arrived after ffmpeg's last error line, so that line (a damaged picture, a lost packet)
/// is not why the run will end.
fn forget(last_error: &Mutex<Option<CameraFault>>) {
    if let Ok(mut error) = last_error.lock() {
        error.take();
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

    const DETECT: Outputs = Outputs { frames: true, copy_fd: None };

    #[test]
    fn one_connection_gives_frames_and_a_copy_of_the_video_and_a_record_stream_is_not_decoded() {
        let cam = camera("rtsp://cam/main");
        let both = build_args(&cam, &FfmpegConfig::default(), &cam.url, Outputs { frames: true, copy_fd: Some(7) });
        let args = both.args.join(" ");
        assert_eq!(args.matches(" -i ").count(), 1, "{args}");
        assert!(
            args.ends_with(
                "-f rawvideo pipe:1 -map 0:v:0 -c:v copy -f mp4 \
                 -movflags empty_moov+default_base_moof+frag_every_frame pipe:7"
            ),
            "{args}"
        );
        let mut vaapi = cam.clone();
        vaapi.hwaccel = Some(HwAccel::Vaapi);
        let record_only = build_args(
            &vaapi,
            &FfmpegConfig::default(),
            "rtsp://cam/main",
            Outputs { frames: false, copy_fd: Some(7) },
        );
        let args = record_only.args.join(" ");
        assert!(!args.contains("rawvideo") && !args.contains("hwaccel"), "copying needs no decoder: {args}");
    }

    fn camera(url: &str) -> CameraConfig {
        toml::from_str(&format!("id = \"cam\"\nurl = \"{url}\"")).unwrap()
    }

    #[test]
    fn rtsp_uses_tcp_and_a_socket_timeout_and_its_url_never_reaches_the_arguments() {
        let cam = camera("rtsp://admin:s3cret@10.0.0.2/s");
        let invocation = build_args(&cam, &FfmpegConfig::default(), &cam.url, DETECT);
        let args = invocation.args.join(" ");
        assert!(!args.contains("s3cret") && !args.contains("10.0.0.2"), "{args}");
        assert!(args.contains("-f concat -safe 0 -i pipe:0"), "{args}");
        assert!(
            args.contains(&format!(
                "-map 0:v:0 -vf {},scale=640:360 -fps_mode passthrough -pix_fmt yuv420p -f rawvideo pipe:1",
                keep_rate(5)
            )),
            "{args}"
        );
        assert_eq!(
            invocation.stdin.as_deref(),
            Some(
                "ffconcat version 1.0\nfile 'rtsp://admin:s3cret@10.0.0.2/s'\noption rtsp_transport tcp\n\
                 option timeout 10000000\noption fflags nobuffer\n"
            )
        );
        let http = build_args(&camera("x"), &FfmpegConfig::default(), "http://u:p@10.0.0.3/stream", DETECT);
        let script = http.stdin.unwrap();
        assert!(
            script.contains("option rw_timeout 10000000") && script.contains("option use_wallclock_as_timestamps 1")
        );
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
        let invocation = build_args(&cam, &FfmpegConfig::default(), &cam.url, DETECT);
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
