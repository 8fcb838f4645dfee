//! Memory accounting: a global-allocator wrapper that keeps a running total
//! of the bytes the process holds from its allocator, as Redis's zmalloc
//! does. `maxmemory` is checked against it before every command that may
//! grow the dataset, so reading it must cost one atomic load: asking the
//! allocator (jemalloc's `stats.allocated` after an `epoch` refresh) costs
//! microseconds, which is too much to pay per command.
//!
//! The count is of *usable* sizes (the allocator's size class, not the size
//! asked for): a 1,027-byte value costs jemalloc 1,280 bytes, and counting
//! the 1,027 would let resident memory run 25% over `maxmemory`.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

static USED: AtomicUsize = AtomicUsize::new(0);
static INSTALLED: AtomicBool = AtomicBool::new(false);
static NAME: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();

/// Bytes currently allocated through the counting allocator, or None if the
/// process does not use one (unit tests, a library user's own allocator).
pub fn used_memory() -> Option<usize> {
    INSTALLED.load(Ordering::Relaxed).then(|| USED.load(Ordering::Relaxed))
}

/// The allocator's name for INFO `mem_allocator` ("jemalloc-5.3.0",
/// "mimalloc", "libc").
pub fn allocator_name() -> &'static str {
    NAME.get().copied().unwrap_or("libc")
}

/// An allocator that can tell, from a layout alone, how many bytes an
/// allocation of that layout really takes.
///
/// # Safety
/// `usable_size` must be a pure function of the layout (the same layout
/// gives the same answer at allocation and deallocation), or the running
/// total drifts. It is never used for memory safety, only for counting.
pub unsafe trait SizeClass: GlobalAlloc {
    const NAME: &'static str;
    fn usable_size(&self, layout: Layout) -> usize;
}

/// Wraps an allocator and counts what it hands out.
pub struct Counting<A>(pub A);

// SAFETY: every method forwards to the wrapped allocator with the caller's
// arguments unchanged and returns its result unchanged, so the wrapped
// allocator's guarantees are the wrapper's. The only addition is a relaxed
// atomic add or subtract, which neither allocates nor panics (wrapping
// arithmetic on usize), so it cannot recurse into the allocator.
unsafe impl<A: SizeClass> GlobalAlloc for Counting<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout (see the impl comment).
        let p = unsafe { self.0.alloc(layout) };
        if !p.is_null() {
            self.add(layout);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as `alloc`.
        let p = unsafe { self.0.alloc_zeroed(layout) };
        if !p.is_null() {
            self.add(layout);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        USED.fetch_sub(self.0.usable_size(layout), Ordering::Relaxed);
        // SAFETY: the caller's pointer and layout, as GlobalAlloc requires.
        unsafe { self.0.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's arguments, as GlobalAlloc requires.
        let p = unsafe { self.0.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            // On failure the old block is untouched and still counted.
            USED.fetch_sub(self.0.usable_size(layout), Ordering::Relaxed);
            // A valid new layout: GlobalAlloc::realloc requires new_size,
            // rounded up to the alignment, not to overflow isize.
            if let Ok(new) = Layout::from_size_align(new_size, layout.align()) {
                self.add(new);
            }
        }
        p
    }
}

impl<A: SizeClass> Counting<A> {
    #[inline]
    fn add(&self, layout: Layout) {
        USED.fetch_add(self.0.usable_size(layout), Ordering::Relaxed);
        if !INSTALLED.load(Ordering::Relaxed) {
            INSTALLED.store(true, Ordering::Relaxed);
            let _ = NAME.set(A::NAME);
        }
    }
}

/// The system allocator (glibc malloc on Linux), with glibc's chunk sizes:
/// an 8-byte header, 16-byte granularity, 32 bytes at least.
pub struct System;

// SAFETY: GlobalAlloc is forwarded to std's System allocator unchanged;
// usable_size is a pure function of the layout.
unsafe impl GlobalAlloc for System {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged.
        unsafe { std::alloc::System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged.
        unsafe { std::alloc::System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged.
        unsafe { std::alloc::System.realloc(ptr, layout, new_size) }
    }
}

// SAFETY: a pure function of the layout.
unsafe impl SizeClass for System {
    const NAME: &'static str = "libc";
    #[inline]
    fn usable_size(&self, layout: Layout) -> usize {
        // The chunk glibc carves: size + 8-byte header, 16-byte granularity;
        // over-aligned blocks waste up to the alignment on top.
        let extra = if layout.align() > 16 { layout.align() } else { 0 };
        ((layout.size() + 8 + 15) & !15).max(32) + extra
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glibc_chunk_sizes() {
        let s = |n| System.usable_size(Layout::from_size_align(n, 8).unwrap());
        assert_eq!(s(1), 32);
        assert_eq!(s(24), 32);
        assert_eq!(s(25), 48);
        assert_eq!(s(1027), 1040);
    }
}
