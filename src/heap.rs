//! How the process's memory allocators are set up, each before its first use.
//!
//! SQLite allocates with mimalloc ([`sqlite_mem_methods`]): sqlx copies every value of every row
//! on SQLite's threads and the web workers free them, and with glibc's malloc capped at two arenas
//! (below) those threads queued for the arenas' locks. With a million events under 50 connections
//! the web answered about 1,000 requests a second with SQLite on glibc's malloc and about 1,240 on
//! mimalloc (docs/performance.md). The rest of the process stays on glibc's malloc: with mimalloc
//! as Rust's allocator too the web answered 1,450 a second, but 24 idle cameras took 307 MiB
//! resident instead of 67.
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

/// SQLite's memory routines on mimalloc, for `SQLITE_CONFIG_MALLOC` (SQLite keeps a copy).
pub fn sqlite_mem_methods() -> libsqlite3_sys::sqlite3_mem_methods {
    use libmimalloc_sys as mi;
    use std::ffi::{c_int, c_void};

    // SQLite asks for sizes as ints and never for a negative one; a negative one gets nothing.
    unsafe extern "C" fn allocate(size: c_int) -> *mut c_void {
        match usize::try_from(size) {
            // SAFETY: any size may be asked of mimalloc; its blocks are aligned for any type.
            Ok(size) => unsafe { mi::mi_malloc(size) },
            Err(_) => std::ptr::null_mut(),
        }
    }
    unsafe extern "C" fn free(block: *mut c_void) {
        // SAFETY: SQLite frees only blocks `allocate` or `reallocate` gave it.
        unsafe { mi::mi_free(block) }
    }
    unsafe extern "C" fn reallocate(block: *mut c_void, size: c_int) -> *mut c_void {
        match usize::try_from(size) {
            // SAFETY: as `free`.
            Ok(size) => unsafe { mi::mi_realloc(block, size) },
            Err(_) => std::ptr::null_mut(),
        }
    }
    unsafe extern "C" fn size_of(block: *mut c_void) -> c_int {
        // SAFETY: as `free`. SQLite's blocks are far below 2 GiB.
        c_int::try_from(unsafe { mi::mi_usable_size(block) }).unwrap_or(c_int::MAX)
    }
    unsafe extern "C" fn round_up(size: c_int) -> c_int {
        usize::try_from(size)
            .ok()
            // SAFETY: mi_good_size only computes the block size a request of `size` gets.
            .and_then(|size| c_int::try_from(unsafe { mi::mi_good_size(size) }).ok())
            .unwrap_or(size)
    }
    unsafe extern "C" fn start(_: *mut c_void) -> c_int {
        libsqlite3_sys::SQLITE_OK
    }
    unsafe extern "C" fn stop(_: *mut c_void) {}

    libsqlite3_sys::sqlite3_mem_methods {
        xMalloc: Some(allocate),
        xFree: Some(free),
        xRealloc: Some(reallocate),
        xSize: Some(size_of),
        xRoundup: Some(round_up),
        xInit: Some(start),
        xShutdown: Some(stop),
        pAppData: std::ptr::null_mut(),
    }
}
