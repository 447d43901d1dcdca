//! CPU time from getrusage, for the benchmarks that compare Watchpost with ffmpeg alone.

/// User plus system CPU seconds of `who` (`libc::RUSAGE_SELF` or `libc::RUSAGE_CHILDREN`).
pub fn cpu_seconds(who: i32) -> f64 {
    // SAFETY: getrusage only writes into the struct we pass.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(who, &mut usage);
        usage
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}
