//! A counting global allocator: heap bytes and allocation calls, counted only
//! inside a measurement window (single-threaded scenarios only).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};

/// Delegates to [`System`]; counts while a window is open.
pub struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static CALLS: AtomicU64 = AtomicU64::new(0);
static LIVE: AtomicI64 = AtomicI64::new(0);

fn record(bytes: i64, call: bool) {
    if COUNTING.load(Relaxed) {
        LIVE.fetch_add(bytes, Relaxed);
        if call {
            CALLS.fetch_add(1, Relaxed);
        }
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged; the counters have no effect on the memory handed out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            record(layout.size() as i64, true);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            record(layout.size() as i64, true);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        record(-(layout.size() as i64), false);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            record(new_size as i64 - layout.size() as i64, true);
        }
        p
    }
}

/// What a window saw: allocation calls (including reallocations) and the
/// change of live heap bytes.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub calls: u64,
    pub live_bytes: i64,
}

/// Opens a window. Only one at a time; other threads must be idle.
pub fn start() {
    CALLS.store(0, Relaxed);
    LIVE.store(0, Relaxed);
    COUNTING.store(true, Relaxed);
}

/// Closes the window.
pub fn stop() -> Window {
    COUNTING.store(false, Relaxed);
    Window {
        calls: CALLS.load(Relaxed),
        live_bytes: LIVE.load(Relaxed),
    }
}
