//! `rhea-server [configfile] [--option value ...]`, like redis-server.

use anyhow::Context;

#[cfg(all(feature = "jemalloc", feature = "mimalloc"))]
compile_error!("choose one allocator feature: jemalloc or mimalloc");

// Every allocation is counted (INFO used_memory, maxmemory): see
// rhea_store::mem for why a counter rather than the allocator's statistics.
#[cfg(feature = "jemalloc")]
#[global_allocator]
static GLOBAL: rhea_store::mem::Counting<alloc::Jemalloc> = rhea_store::mem::Counting(alloc::Jemalloc);
#[cfg(all(feature = "mimalloc", not(feature = "jemalloc")))]
#[global_allocator]
static GLOBAL: rhea_store::mem::Counting<alloc::Mimalloc> = rhea_store::mem::Counting(alloc::Mimalloc);
#[cfg(not(any(feature = "jemalloc", feature = "mimalloc")))]
#[global_allocator]
static GLOBAL: rhea_store::mem::Counting<rhea_store::mem::System> = rhea_store::mem::Counting(rhea_store::mem::System);

mod alloc {
    #[cfg(any(feature = "jemalloc", feature = "mimalloc"))]
    use std::alloc::{GlobalAlloc, Layout};

    /// jemalloc, whose `nallocx` gives the size class of a layout without
    /// touching any allocation (a table lookup).
    #[cfg(feature = "jemalloc")]
    pub struct Jemalloc;

    // SAFETY: forwarded unchanged to tikv_jemallocator::Jemalloc.
    #[cfg(feature = "jemalloc")]
    unsafe impl GlobalAlloc for Jemalloc {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            // SAFETY: forwarded unchanged.
            unsafe { tikv_jemallocator::Jemalloc.alloc(layout) }
        }
        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            // SAFETY: forwarded unchanged.
            unsafe { tikv_jemallocator::Jemalloc.alloc_zeroed(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: forwarded unchanged.
            unsafe { tikv_jemallocator::Jemalloc.dealloc(ptr, layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            // SAFETY: forwarded unchanged.
            unsafe { tikv_jemallocator::Jemalloc.realloc(ptr, layout, new_size) }
        }
    }

    // SAFETY: nallocx is a pure function of (size, flags); the flags are
    // the ones tikv_jemallocator passes for the same layout.
    #[cfg(feature = "jemalloc")]
    unsafe impl rhea_store::mem::SizeClass for Jemalloc {
        const NAME: &'static str = "jemalloc-5.3.0";
        fn usable_size(&self, layout: Layout) -> usize {
            let flags = if layout.align() <= 16 && layout.align() <= layout.size() {
                0
            } else {
                layout.align().trailing_zeros() as std::os::raw::c_int
            };
            // SAFETY: nallocx reads no memory of ours; a size jemalloc
            // cannot serve gives 0, counted as such.
            unsafe { tikv_jemalloc_sys::nallocx(layout.size().max(1), flags) }
        }
    }

    /// mimalloc, whose `mi_good_size` gives the size class of a request.
    #[cfg(feature = "mimalloc")]
    pub struct Mimalloc;

    // SAFETY: forwarded unchanged to mimalloc::MiMalloc.
    #[cfg(feature = "mimalloc")]
    unsafe impl GlobalAlloc for Mimalloc {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            // SAFETY: forwarded unchanged.
            unsafe { mimalloc::MiMalloc.alloc(layout) }
        }
        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            // SAFETY: forwarded unchanged.
            unsafe { mimalloc::MiMalloc.alloc_zeroed(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: forwarded unchanged.
            unsafe { mimalloc::MiMalloc.dealloc(ptr, layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            // SAFETY: forwarded unchanged.
            unsafe { mimalloc::MiMalloc.realloc(ptr, layout, new_size) }
        }
    }

    // SAFETY: mi_good_size is a pure function of the size.
    #[cfg(feature = "mimalloc")]
    unsafe impl rhea_store::mem::SizeClass for Mimalloc {
        const NAME: &'static str = "mimalloc";
        fn usable_size(&self, layout: Layout) -> usize {
            // SAFETY: reads no memory of ours.
            unsafe { libmimalloc_sys::mi_good_size(layout.size().max(layout.align())) }
        }
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--version" || a == "-v") {
        println!("rhea-server v={}", env!("CARGO_PKG_VERSION"));
        return Ok(());
    }
    let config = rhea_server::Config::from_args(&args).map_err(anyhow::Error::msg).context("bad configuration")?;
    let level = match config.loglevel.as_str() {
        "debug" => "debug",
        "verbose" => "info",
        "warning" => "warn",
        "nothing" => "off",
        _ => "info",
    };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| level.into()))
        .init();
    // One worker means a single-threaded runtime: no work stealing and no
    // cross-thread wake-ups, which is what a single keyspace lock favours.
    let mut rt = match config.io_threads {
        1 => tokio::runtime::Builder::new_current_thread(),
        n => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            if n > 0 {
                b.worker_threads(n);
            }
            b
        }
    };
    let rt = rt.enable_all().build().context("starting the runtime")?;
    rt.block_on(rhea_server::run(config))?;
    Ok(())
}
