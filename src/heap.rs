//! How the process's memory allocators are set up, each before its first use.
//!
//! Rust's blocks under 64 KiB and all of SQLite's come from mimalloc ([`Allocator`],
//! [`sqlite_mem_methods`]); larger blocks (frames, tensors, recording buffers) from glibc's malloc.
//! sqlx copies every value of every row on SQLite's threads and the web workers free them; on
//! glibc's malloc, capped at two arenas (below), those threads queued for the arenas' locks, where
//! mimalloc frees a block made on another thread without a lock. With a million events under 50
//! connections: about 1,000 requests a second on glibc's malloc, about 1,240 with SQLite on
//! mimalloc, and about 15 % more again with Rust's small blocks too (docs/performance.md). Frames
//! stay on glibc's malloc: with every block on mimalloc 24 idle cameras took 307 MiB resident
//! instead of 67; split by size, 74. mimalloc commits its arenas as they are used
//! (`SET_UP_BEFORE_MAIN`): committed whole, as it does on Linux by default, 151.
//!
//! glibc's malloc gives a thread that finds the heap busy an arena of its own, up to eight per
//! core, and keeps what is freed in each arena for that arena's next use. Watchpost's buffers are
//! made on some threads (ffmpeg's readers) and freed on others (the pipeline, the detector, live
//! view). With the default 16 arenas here, resident memory crept up 19 % in an hour's soak while
//! the live heap stayed level; with two it levels off (docs/reliability.md: the soak's memory), at
//! no cost the benchmarks can see (docs/performance.md). A `MALLOC_ARENA_MAX` in the environment
//! still wins.

use libmimalloc_sys as mi;
use std::alloc::{GlobalAlloc, Layout, System};
use std::ffi::c_void;

/// The arenas glibc may make; see the module header for why two.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const ARENAS: libc::c_int = 2;

/// mimalloc's option number for committing a whole arena when it is reserved
/// (`mi_option_arena_eager_commit` in mimalloc.h; libmimalloc-sys names no constant for it).
#[cfg(target_os = "linux")]
const MI_OPTION_ARENA_EAGER_COMMIT: mi::mi_option_t = 4;

/// Sets both allocators up, before `main` and before mimalloc starts (it reserves its first
/// arena before `main`, with the settings it had then), for every program linked with Watchpost:
/// - glibc's malloc gets at most two arenas unless `MALLOC_ARENA_MAX` says otherwise;
/// - mimalloc commits its arenas as they are used, not whole when reserved, unless
///   `MIMALLOC_ARENA_EAGER_COMMIT` says otherwise: committed whole (its default on Linux), the
///   pages freed by 24 idle cameras' threads stayed resident and Watchpost took 151 MiB instead
///   of 74 (docs/performance.md).
///
/// It runs from the ELF initialisers with priority 101, ahead of mimalloc's own (which has none),
/// so it allocates nothing: the environment is read with `getenv`. (ELF initialisers are Linux's;
/// the arena cap is glibc's.)
#[cfg(target_os = "linux")]
#[used]
#[unsafe(link_section = ".init_array.00101")]
static SET_UP_BEFORE_MAIN: extern "C" fn() = set_up;

#[cfg(target_os = "linux")]
extern "C" fn set_up() {
    // SAFETY: getenv reads the environment, which nothing writes this early; mallopt and
    // mi_option_set only change settings (neither is thread-safe: no other thread exists yet).
    unsafe {
        #[cfg(target_env = "gnu")]
        if libc::getenv(c"MALLOC_ARENA_MAX".as_ptr()).is_null() {
            libc::mallopt(libc::M_ARENA_MAX, ARENAS);
        }
        if libc::getenv(c"MIMALLOC_ARENA_EAGER_COMMIT".as_ptr()).is_null() {
            mi::mi_option_set(MI_OPTION_ARENA_EAGER_COMMIT, 0);
        }
    }
}

/// The global allocator of Watchpost's binaries (`#[global_allocator] static ALLOCATOR:
/// watchpost::heap::Allocator = watchpost::heap::Allocator;` in `main.rs` and in the benchmarks
/// that run Watchpost in their own process): blocks under [`SMALL_BLOCK_LIMIT`] from mimalloc,
/// larger ones from glibc's malloc. Which one a block came from follows from its size, which Rust
/// passes back when it frees or grows it.
pub struct Allocator;

/// Blocks smaller than this come from mimalloc, the others from glibc's malloc.
pub const SMALL_BLOCK_LIMIT: usize = 64 * 1024;

fn is_small(size: usize) -> bool {
    size < SMALL_BLOCK_LIMIT
}

// SAFETY: each block is freed or grown by the allocator that made it, told apart by the size Rust
// hands back (the layout it was made with); a block that changes sides when it grows is copied.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !is_small(layout.size()) {
            // SAFETY: the caller's layout, as GlobalAlloc requires.
            return unsafe { System.alloc(layout) };
        }
        // SAFETY: mimalloc takes any size and a power-of-two alignment, which a Layout is (its
        // aligned calls take the plain path when the alignment allows).
        unsafe { mi::mi_malloc_aligned(layout.size(), layout.align()) as *mut u8 }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !is_small(layout.size()) {
            // SAFETY: as `alloc`.
            return unsafe { System.alloc_zeroed(layout) };
        }
        // SAFETY: as `alloc`.
        unsafe { mi::mi_zalloc_aligned(layout.size(), layout.align()) as *mut u8 }
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        if is_small(layout.size()) {
            // SAFETY: a small block came from mimalloc (`alloc`, `realloc`).
            unsafe { mi::mi_free(block as *mut c_void) }
        } else {
            // SAFETY: a large block came from glibc's malloc through `System`.
            unsafe { System.dealloc(block, layout) }
        }
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        match (is_small(layout.size()), is_small(new_size)) {
            // SAFETY: the block is mimalloc's (`dealloc`); the alignment is the one it was made with.
            (true, true) => unsafe {
                mi::mi_realloc_aligned(block as *mut c_void, new_size, layout.align()) as *mut u8
            },
            // SAFETY: the block is glibc's (`dealloc`).
            (false, false) => unsafe { System.realloc(block, layout, new_size) },
            _ => {
                // SAFETY: GlobalAlloc's caller guarantees new_size with this alignment is a valid
                // layout; the old block is read before it is freed by the side that made it.
                unsafe {
                    let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
                    let moved = self.alloc(new_layout);
                    if !moved.is_null() {
                        std::ptr::copy_nonoverlapping(block, moved, layout.size().min(new_size));
                        self.dealloc(block, layout);
                    }
                    moved
                }
            }
        }
    }
}

/// SQLite's memory routines on mimalloc, for `SQLITE_CONFIG_MALLOC` (SQLite keeps a copy).
pub fn sqlite_mem_methods() -> libsqlite3_sys::sqlite3_mem_methods {
    use std::ffi::c_int;

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

#[cfg(test)]
mod tests {
    use super::*;

    fn in_mimalloc(block: *mut u8) -> bool {
        // SAFETY: mi_is_in_heap_region only compares the address with mimalloc's regions.
        unsafe { mi::mi_is_in_heap_region(block as *const c_void) }
    }

    fn aligned(block: *mut u8, align: usize) -> bool {
        (block as usize).is_multiple_of(align)
    }

    #[test]
    fn small_blocks_come_from_mimalloc_and_large_ones_from_glibc() {
        for (size, align, mimalloc) in [
            (24, 8, true),
            (8, 16, true),
            (SMALL_BLOCK_LIMIT - 1, 8, true),
            (4096, 4096, true),
            (SMALL_BLOCK_LIMIT, 8, false),
            (640 * 360 * 3 / 2, 64, false),
        ] {
            let layout = Layout::from_size_align(size, align).unwrap();
            // SAFETY: a non-zero layout; the block is freed with the layout it was made with.
            unsafe {
                let block = Allocator.alloc(layout);
                assert!(!block.is_null() && aligned(block, align), "{size} bytes aligned to {align}");
                assert_eq!(in_mimalloc(block), mimalloc, "{size} bytes");
                Allocator.dealloc(block, layout);
                let zeroed = Allocator.alloc_zeroed(layout);
                assert!(std::slice::from_raw_parts(zeroed, size).iter().all(|&b| b == 0), "{size} bytes zeroed");
                assert_eq!(in_mimalloc(zeroed), mimalloc, "{size} bytes zeroed");
                Allocator.dealloc(zeroed, layout);
            }
        }
    }

    #[test]
    fn a_block_growing_or_shrinking_across_the_limit_keeps_its_bytes_and_changes_side() {
        let small = Layout::from_size_align(1000, 32).unwrap();
        // SAFETY: each block is grown, shrunk and freed with the layout it has at that moment.
        unsafe {
            let block = Allocator.alloc(small);
            for i in 0..1000 {
                *block.add(i) = (i % 251) as u8;
            }
            let grown = Allocator.realloc(block, small, 2 * SMALL_BLOCK_LIMIT);
            assert!(!in_mimalloc(grown) && aligned(grown, 32));
            assert!((0..1000).all(|i| *grown.add(i) == (i % 251) as u8));
            let large = Layout::from_size_align(2 * SMALL_BLOCK_LIMIT, 32).unwrap();
            let shrunk = Allocator.realloc(grown, large, 500);
            assert!(in_mimalloc(shrunk) && aligned(shrunk, 32));
            assert!((0..500).all(|i| *shrunk.add(i) == (i % 251) as u8));
            Allocator.dealloc(shrunk, Layout::from_size_align(500, 32).unwrap());
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn mimalloc_commits_arenas_as_used_from_before_main() {
        if std::env::var_os("MIMALLOC_ARENA_EAGER_COMMIT").is_none() {
            // SAFETY: mi_option_get only reads a setting.
            assert_eq!(unsafe { mi::mi_option_get(MI_OPTION_ARENA_EAGER_COMMIT) }, 0);
        }
    }
}
