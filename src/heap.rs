//! How the process's memory allocator is set up, before the first thread starts.
//!
//! glibc's malloc gives a thread that finds the heap busy an arena of its own, up to eight per
//! core, and keeps what is freed in each arena for that arena's next use. Watchpost's buffers are
//! made on some threads (ffmpeg's readers) and freed on others (the pipeline, the detector, live
//! view). With the default 16 arenas here, resident memory crept up 19 % in an hour's soak while
//! the live heap stayed level; with two it levels off (docs/reliability.md: the soak's memory), at
//! no cost the benchmarks can see (docs/performance.md). A `MALLOC_ARENA_MAX` in the environment
//! still wins.

/// The arenas glibc may make; see the module header for why two.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const ARENAS: libc::c_int = 2;

/// Caps glibc's arenas unless `MALLOC_ARENA_MAX` says otherwise. Call it first thing in `main`,
/// before any thread exists; elsewhere (another C library) it does nothing.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only changes a malloc setting; it is called before other threads start.
        unsafe { libc::mallopt(libc::M_ARENA_MAX, ARENAS) };
    }
}
