//! MEMORY: USAGE, STATS, DOCTOR, MALLOC-STATS, PURGE, HELP.

use bytes::Bytes;

use super::connection::help_reply;
use super::is;
use crate::error::{CmdError, CmdResult};
use crate::table::{flags::*, CommandSpec};
use crate::Ctx;

const fn sub(name: &'static str, arity: i32, flags: u32, handler: crate::table::Handler) -> CommandSpec {
    let mut c = CommandSpec::new(name, arity, flags, handler);
    c.group = "server";
    c.acl = &["slow"];
    c.since = "4.0.0";
    c.complexity = "O(1)";
    c
}

pub const COMMANDS: &[CommandSpec] = &[CommandSpec {
    summary: "A container for memory diagnostics commands",
    complexity: "Depends on subcommand.",
    subcommands: &[
        CommandSpec { summary: "Outputs memory problems report", ..sub("doctor", 2, 0, doctor) },
        CommandSpec {
            summary: "Show helpful text about the different subcommands",
            ..sub("help", 2, LOADING | STALE, help)
        },
        CommandSpec {
            summary: "Show allocator internal stats",
            complexity: "Depends on how much memory is allocated, could be slow",
            ..sub("malloc-stats", 2, 0, malloc_stats)
        },
        CommandSpec {
            summary: "Ask the allocator to release memory",
            complexity: "Depends on how much memory is allocated, could be slow",
            ..sub("purge", 2, 0, purge)
        },
        CommandSpec { summary: "Show memory usage details", ..sub("stats", 2, 0, stats) },
        CommandSpec {
            acl: &["read", "slow"],
            summary: "Estimate the memory usage of a key",
            complexity: "O(N) where N is the number of samples.",
            ..sub("usage", -3, READONLY, usage).keys(2, 2, 1)
        },
    ],
    ..sub("memory", -2, 0, memory)
}];

fn memory(_ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    // Only reached for a bare MEMORY, which the arity check refuses first.
    let sub = argv.get(1).map_or(String::new(), |s| String::from_utf8_lossy(s).into_owned());
    Err(CmdError::UnknownSubcommand(sub, "MEMORY".into()))
}

/// MEMORY USAGE key [SAMPLES n]: the bytes the key's slot, name and value
/// take. Rhea measures aggregates exactly, so SAMPLES is checked as Redis
/// does but does not change the answer. Like Redis, an expired key not yet
/// reclaimed is still measured.
fn usage(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let mut i = 3;
    while i < argv.len() {
        if is(&argv[i], "samples") && i + 1 < argv.len() {
            let n = super::arg_i64(&argv[i + 1])?;
            if n < 0 {
                return Err(CmdError::Syntax);
            }
            i += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    match ctx.db().memory_usage(&argv[2]) {
        Some(n) => ctx.out.int(n as i64),
        None => ctx.out.null(),
    }
    Ok(())
}

fn stats(ctx: &mut Ctx, _argv: &[Bytes]) -> CmdResult {
    crate::memory::write_stats(ctx.shared, ctx.store, ctx.out);
    Ok(())
}

/// A short version of Redis's memory doctor: the same texts for an almost
/// empty instance and for one without issues, and the issues Rhea can see.
fn doctor(ctx: &mut Ctx, _argv: &[Bytes]) -> CmdResult {
    let f = crate::memory::figures(ctx.shared, ctx.store);
    let text = if f.used < 5 << 20 {
        "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these \
         conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be \
         back to our programming as soon as I finished rebooting."
            .to_string()
    } else {
        let mut issues = Vec::new();
        if f.peak as f64 > f.used as f64 * 1.5 {
            issues.push(
                " * Peak memory: In the past this instance used more than 150% the memory that is currently using. \
                 The allocator is normally not able to release memory after a peak, so you can expect to see a big \
                 fragmentation ratio, however this is actually harmless and is only due to the memory peak, and if \
                 the Redis instance Resident Set Size (RSS) is currently bigger than expected, the memory will be \
                 used as soon as you fill the Redis instance with more data. If the memory peak was only occasional \
                 and you want to try to reclaim memory, please try the MEMORY PURGE command, otherwise the only \
                 other option is to shutdown and restart the instance.\n\n",
            );
        }
        if f.frag_ratio() > 1.4 {
            issues.push(
                " * High total RSS: This instance has a memory fragmentation and RSS overhead greater than 1.4 (this \
                 means that the Resident Set Size of the Redis process is much larger than the sum of the logical \
                 allocations Redis performed). This problem is usually due either to a large peak memory (check if \
                 there is a peak memory entry above in the report) or may result from a workload that causes the \
                 allocator to fragment memory a lot. If the problem is a large peak memory, then there is no issue. \
                 Otherwise, make sure you are using the Jemalloc allocator and not the default libc malloc.\n\n",
            );
        }
        if issues.is_empty() {
            "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base."
                .to_string()
        } else {
            format!(
                "Sam, I detected a few issues in this Redis instance memory implants:\n\n{}I'm here to keep you \
                 safe, Sam. I want to help you.\n",
                issues.concat()
            )
        }
    };
    ctx.out.verbatim("txt", text.as_bytes());
    Ok(())
}

fn malloc_stats(ctx: &mut Ctx, _argv: &[Bytes]) -> CmdResult {
    let text = format!(
        "allocator: {}\nallocated (counted by Rhea): {}\nresident: {}\n",
        rhea_store::mem::allocator_name(),
        crate::memory::used_memory(),
        crate::memory::rss_bytes()
    );
    ctx.out.verbatim("txt", text.as_bytes());
    Ok(())
}

fn purge(ctx: &mut Ctx, _argv: &[Bytes]) -> CmdResult {
    ctx.out.ok();
    Ok(())
}

const HELP: &[&str] = &[
    "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DOCTOR",
    "    Return memory problems reports.",
    "MALLOC-STATS",
    "    Return internal statistics report from the memory allocator.",
    "PURGE",
    "    Attempt to purge dirty pages for reclamation by the allocator.",
    "STATS",
    "    Return information about the memory usage of the server.",
    "USAGE <key> [SAMPLES <count>]",
    "    Return memory in bytes used by <key> and its value. Nested values are",
    "    sampled up to <count> times (default: 5, 0 means sample all).",
    "HELP",
    "    Prints this help.",
];

fn help(ctx: &mut Ctx, _argv: &[Bytes]) -> CmdResult {
    help_reply(ctx, HELP);
    Ok(())
}
