//! The server family: DBSIZE, FLUSHALL, FLUSHDB, SWAPDB, TIME, LASTSAVE,
//! SHUTDOWN, INFO, CONFIG and COMMAND.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use rhea_store::glob_match;

use super::connection::help_reply;
use super::{arg_i64, is};
use crate::config::{self, Config};
use crate::error::{CmdError, CmdResult};
use crate::generated::{self, info_field, Doc};
use crate::pubsub::Kind;
use crate::table::{flags::*, CommandSpec, CommandTable};
use crate::Ctx;

/// The Redis version Rhea answers as (HELLO, INFO): clients pick features
/// by it.
pub const REDIS_VERSION: &str = "7.0.15";

const fn server(name: &'static str, arity: i32, flags: u32, handler: crate::table::Handler) -> CommandSpec {
    let mut c = CommandSpec::new(name, arity, flags, handler);
    c.group = "server";
    c
}

const ADMIN_ACL: &[&str] = &["admin", "slow", "dangerous"];
const CMD_ACL: &[&str] = &["slow", "connection"];
const ALL_SHARDS_SUCCEEDED: &[&str] = &["request_policy:all_shards", "response_policy:all_succeeded"];

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        acl: &["keyspace", "read", "fast"],
        summary: "Return the number of keys in the selected database",
        complexity: "O(1)",
        tips: &["request_policy:all_shards", "response_policy:agg_sum"],
        ..server("dbsize", 1, READONLY | FAST, dbsize)
    },
    CommandSpec {
        acl: &["keyspace", "write", "slow", "dangerous"],
        summary: "Remove all keys from all databases",
        complexity: "O(N) where N is the total number of keys in all databases",
        tips: ALL_SHARDS_SUCCEEDED,
        ..server("flushall", -1, WRITE, flushall)
    },
    CommandSpec {
        acl: &["keyspace", "write", "slow", "dangerous"],
        summary: "Remove all keys from the current database",
        complexity: "O(N) where N is the number of keys in the selected database",
        tips: ALL_SHARDS_SUCCEEDED,
        ..server("flushdb", -1, WRITE, flushdb)
    },
    CommandSpec {
        acl: &["keyspace", "write", "fast", "dangerous"],
        summary: "Swaps two Redis databases",
        since: "4.0.0",
        complexity: "O(N) where N is the count of clients watching or blocking on keys from both databases.",
        ..server("swapdb", 3, WRITE | FAST, swapdb)
    },
    CommandSpec {
        acl: &["fast"],
        summary: "Return the current server time",
        since: "2.6.0",
        complexity: "O(1)",
        tips: &["nondeterministic_output"],
        ..server("time", 1, LOADING | STALE | FAST, time)
    },
    CommandSpec {
        acl: &["admin", "fast", "dangerous"],
        summary: "Get the UNIX time stamp of the last successful save to disk",
        complexity: "O(1)",
        tips: &["nondeterministic_output"],
        ..server("lastsave", 1, LOADING | STALE | FAST, lastsave)
    },
    CommandSpec {
        acl: ADMIN_ACL,
        summary: "Synchronously save the dataset to disk and then shut down the server",
        complexity:
            "O(N) when saving, where N is the total number of keys in all databases when saving data, otherwise O(1)",
        ..server("shutdown", -1, ADMIN | NOSCRIPT | LOADING | STALE | NO_MULTI | ALLOW_BUSY, shutdown)
    },
    CommandSpec {
        acl: &["slow", "dangerous"],
        summary: "Get information and statistics about the server",
        complexity: "O(1)",
        tips: &["nondeterministic_output", "request_policy:all_shards", "response_policy:special"],
        ..server("info", -1, LOADING | STALE, info)
    },
    CommandSpec {
        acl: &["slow"],
        summary: "A container for server configuration commands",
        since: "2.0.0",
        complexity: "Depends on subcommand.",
        subcommands: &[
            CommandSpec {
                acl: ADMIN_ACL,
                summary: "Get the values of configuration parameters",
                since: "2.0.0",
                complexity: "O(N) when N is the number of configuration parameters provided",
                ..server("get", -3, ADMIN | NOSCRIPT | LOADING | STALE, config_get)
            },
            CommandSpec {
                acl: ADMIN_ACL,
                summary: "Set configuration parameters to the given values",
                since: "2.0.0",
                complexity: "O(N) when N is the number of configuration parameters provided",
                tips: &["request_policy:all_nodes", "response_policy:all_succeeded"],
                ..server("set", -4, ADMIN | NOSCRIPT | LOADING | STALE, config_set)
            },
            CommandSpec {
                acl: ADMIN_ACL,
                summary: "Reset the stats returned by INFO",
                since: "2.0.0",
                complexity: "O(1)",
                ..server("resetstat", 2, ADMIN | NOSCRIPT | LOADING | STALE, config_resetstat)
            },
            CommandSpec {
                acl: &["slow"],
                summary: "Show helpful text about the different subcommands",
                since: "5.0.0",
                complexity: "O(1)",
                ..server("help", 2, LOADING | STALE, config_help)
            },
        ],
        ..server("config", -2, 0, container)
    },
    CommandSpec {
        acl: CMD_ACL,
        summary: "Get array of Redis command details",
        since: "2.8.13",
        complexity: "O(N) where N is the total number of Redis commands",
        tips: &["nondeterministic_output_order"],
        subcommands: &[
            CommandSpec {
                acl: CMD_ACL,
                summary: "Get total number of Redis commands",
                since: "2.8.13",
                complexity: "O(1)",
                ..server("count", 2, LOADING | STALE, command_count)
            },
            CommandSpec {
                acl: CMD_ACL,
                summary: "Get array of specific Redis command details, or all when no argument is given.",
                since: "2.8.13",
                complexity: "O(N) where N is the number of commands to look up",
                tips: &["nondeterministic_output_order"],
                ..server("info", -2, LOADING | STALE, command_info)
            },
            CommandSpec {
                acl: CMD_ACL,
                summary: "Get array of specific Redis command documentation",
                since: "7.0.0",
                complexity: "O(N) where N is the number of commands to look up",
                tips: &["nondeterministic_output_order"],
                ..server("docs", -2, LOADING | STALE, command_docs)
            },
            CommandSpec {
                acl: CMD_ACL,
                summary: "Get an array of Redis command names",
                since: "7.0.0",
                complexity: "O(N) where N is the total number of Redis commands",
                tips: &["nondeterministic_output_order"],
                ..server("list", -2, LOADING | STALE, command_list)
            },
            CommandSpec {
                acl: CMD_ACL,
                summary: "Extract keys given a full Redis command",
                since: "2.8.13",
                complexity: "O(N) where N is the number of arguments to the command",
                ..server("getkeys", -4, LOADING | STALE, command_getkeys)
            },
            CommandSpec {
                acl: CMD_ACL,
                summary: "Show helpful text about the different subcommands",
                since: "5.0.0",
                complexity: "O(1)",
                ..server("help", 2, LOADING | STALE, command_help)
            },
        ],
        ..server("command", -1, LOADING | STALE, command)
    },
];

fn container(_ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    // The dispatcher resolves subcommands before calling a handler; this
    // only answers if a container is ever called bare.
    Err(CmdError::UnknownSubcommand(
        String::from_utf8_lossy(argv.get(1).map(|a| &a[..]).unwrap_or(b"")).into_owned(),
        String::from_utf8_lossy(&argv[0]).to_uppercase(),
    ))
}

fn dbsize(ctx: &mut Ctx, _argv: &[Bytes]) -> CmdResult {
    let n = ctx.db().len();
    ctx.out.int(n as i64);
    Ok(())
}

/// FLUSHALL/FLUSHDB's optional ASYNC|SYNC. Both free synchronously here:
/// the store has no background freeing.
fn parse_flush(argv: &[Bytes]) -> CmdResult {
    match argv {
        [_] => Ok(()),
        [_, mode] if is(mode, "async") || is(mode, "sync") => Ok(()),
        _ => Err(CmdError::Syntax),
    }
}

fn flushall(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    parse_flush(argv)?;
    ctx.store.flush_all();
    ctx.out.ok();
    Ok(())
}

fn flushdb(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    parse_flush(argv)?;
    ctx.db().clear();
    ctx.out.ok();
    Ok(())
}

fn swapdb(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    // Indexes are C ints in Redis: a value beyond 32 bits is "invalid".
    let index = |a: &[u8], which: &str| {
        arg_i64(a)
            .ok()
            .and_then(|n| i32::try_from(n).ok())
            .ok_or_else(|| CmdError::err(format!("invalid {which} DB index")))
    };
    let a = index(&argv[1], "first")?;
    let b = index(&argv[2], "second")?;
    let n = ctx.store.dbs.len();
    if a < 0 || b < 0 || a as usize >= n || b as usize >= n {
        return Err(CmdError::DbIndexOutOfRange);
    }
    ctx.store.swap_dbs(a as usize, b as usize, ctx.now_ms);
    ctx.out.ok();
    Ok(())
}

fn time(ctx: &mut Ctx, _argv: &[Bytes]) -> CmdResult {
    // The request's stamp, not a fresh clock read: milliseconds precision.
    ctx.out.array(2);
    ctx.out.bulk_int(ctx.now_ms.div_euclid(1000));
    ctx.out.bulk_int(ctx.now_ms.rem_euclid(1000) * 1000);
    Ok(())
}

/// Unix seconds when the server started: with nothing ever saved, that is
/// what Redis reports as the last save.
fn start_time_secs(ctx: &Ctx) -> i64 {
    ctx.now_ms / 1000 - ctx.shared.started.elapsed().as_secs() as i64
}

fn lastsave(ctx: &mut Ctx, _argv: &[Bytes]) -> CmdResult {
    ctx.out.int(start_time_secs(ctx));
    Ok(())
}

fn shutdown(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let (mut nosave, mut save, mut other, mut abort) = (false, false, false, false);
    for a in &argv[1..] {
        if is(a, "nosave") {
            nosave = true;
        } else if is(a, "save") {
            save = true;
        } else if is(a, "now") || is(a, "force") {
            other = true;
        } else if is(a, "abort") {
            abort = true;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    if (abort && (nosave || save || other)) || (nosave && save) {
        return Err(CmdError::Syntax);
    }
    if abort {
        // Shutting down is immediate here: there is never one to abort.
        return Err(CmdError::err("No shutdown in progress."));
    }
    // Nothing to save (no persistence): Redis sends no reply on success,
    // the connection just closes as the server exits.
    ctx.shared.request_shutdown();
    ctx.client.close_after_reply = true;
    Ok(())
}

// ---------------------------------------------------------------- INFO

const SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "commandstats",
    "errorstats",
    "latencystats",
    "cluster",
    "keyspace",
];
const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "errorstats",
    "cluster",
    "keyspace",
];

/// Which INFO sections the arguments ask for, in Redis's output order.
fn info_sections(argv: &[Bytes]) -> Vec<&'static str> {
    if argv.len() == 1 {
        return DEFAULT_SECTIONS.to_vec();
    }
    let mut want = vec![false; SECTIONS.len()];
    for a in &argv[1..] {
        let a = String::from_utf8_lossy(a).to_ascii_lowercase();
        match a.as_str() {
            "all" | "everything" => want.iter_mut().for_each(|w| *w = true),
            "default" => {
                for (i, s) in SECTIONS.iter().enumerate() {
                    want[i] |= DEFAULT_SECTIONS.contains(s);
                }
            }
            name => {
                if let Some(i) = SECTIONS.iter().position(|s| *s == name) {
                    want[i] = true;
                }
            }
        }
    }
    SECTIONS.iter().zip(want).filter(|(_, w)| *w).map(|(s, _)| *s).collect()
}

fn info(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let mut text = String::new();
    for (i, section) in info_sections(argv).into_iter().enumerate() {
        if i > 0 {
            text.push_str("\r\n");
        }
        info_section(ctx, section, &mut text);
    }
    ctx.out.verbatim("txt", text.as_bytes());
    Ok(())
}

/// The text of one INFO section (without the verbatim wrapper), for the
/// metrics endpoint: it reports exactly what INFO reports.
pub fn info_section_text(shared: &crate::Shared, section: &str) -> String {
    let (info, _rx) = crate::ClientInfo::new(0, String::new(), String::new(), 0);
    let mut client = crate::Client::new(std::sync::Arc::new(info), true);
    let mut out = rhea_resp::Out::new(false);
    let mut store = shared.store.lock();
    let now_ms = crate::now_ms();
    let rng = fastrand::Rng::with_seed(0);
    let mut ctx = Ctx { store: &mut store, out: &mut out, client: &mut client, shared, now_ms, rng };
    let mut s = String::new();
    info_section(&mut ctx, section, &mut s);
    s
}

/// Redis's bytesToHuman.
pub fn bytes_to_human(n: u64) -> String {
    let d = n as f64;
    const UNITS: &[(f64, &str)] =
        &[(1024.0, "K"), (1048576.0, "M"), (1073741824.0, "G"), (1099511627776.0, "T"), (1125899906842624.0, "P")];
    if n < 1024 {
        return format!("{n}B");
    }
    for (i, (unit, suffix)) in UNITS.iter().enumerate() {
        if i + 1 == UNITS.len() || d < unit * 1024.0 {
            return format!("{:.2}{}", d / unit, suffix);
        }
    }
    format!("{n}B")
}

/// INFO memory, with Redis 7.0's fields and order. used_memory is what the
/// counting allocator holds (rhea_store::mem); Lua and functions are not
/// measured separately (they are inside used_memory).
fn info_memory(ctx: &mut Ctx, cfg: &Config, s: &mut String) {
    let f = crate::memory::figures(ctx.shared, ctx.store);
    let sysmem = total_system_memory();
    let (used, rss, peak) = (f.used, f.rss, f.peak);
    let _ = write!(
        s,
        "# Memory\r\nused_memory:{used}\r\nused_memory_human:{}\r\nused_memory_rss:{rss}\r\n\
         used_memory_rss_human:{}\r\nused_memory_peak:{peak}\r\nused_memory_peak_human:{}\r\n\
         used_memory_peak_perc:{:.2}%\r\nused_memory_overhead:{}\r\nused_memory_startup:{}\r\n\
         used_memory_dataset:{}\r\nused_memory_dataset_perc:{:.2}%\r\nallocator_allocated:{used}\r\n\
         allocator_active:{used}\r\nallocator_resident:{rss}\r\ntotal_system_memory:{sysmem}\r\n\
         total_system_memory_human:{}\r\nused_memory_lua:0\r\nused_memory_vm_eval:0\r\n\
         used_memory_lua_human:0B\r\nused_memory_scripts_eval:0\r\nnumber_of_cached_scripts:0\r\n\
         number_of_functions:0\r\nnumber_of_libraries:0\r\nused_memory_vm_functions:0\r\n\
         used_memory_vm_total:0\r\nused_memory_vm_total_human:0B\r\nused_memory_functions:0\r\n\
         used_memory_scripts:0\r\nused_memory_scripts_human:0B\r\nmaxmemory:{}\r\nmaxmemory_human:{}\r\n\
         maxmemory_policy:{}\r\nallocator_frag_ratio:1.00\r\nallocator_frag_bytes:0\r\n\
         allocator_rss_ratio:{:.2}\r\nallocator_rss_bytes:{}\r\nrss_overhead_ratio:1.00\r\n\
         rss_overhead_bytes:0\r\nmem_fragmentation_ratio:{:.2}\r\nmem_fragmentation_bytes:{}\r\n\
         mem_not_counted_for_evict:{}\r\nmem_replication_backlog:0\r\nmem_total_replication_buffers:0\r\n\
         mem_clients_slaves:0\r\nmem_clients_normal:0\r\nmem_cluster_links:0\r\nmem_aof_buffer:0\r\n\
         mem_allocator:{}\r\nactive_defrag_running:0\r\nlazyfree_pending_objects:0\r\nlazyfreed_objects:0\r\n",
        bytes_to_human(used),
        bytes_to_human(rss),
        bytes_to_human(peak),
        f.peak_perc(),
        f.overhead,
        f.startup,
        f.dataset(),
        f.dataset_perc(),
        bytes_to_human(sysmem),
        cfg.maxmemory,
        bytes_to_human(cfg.maxmemory),
        cfg.eviction.policy.name(),
        f.frag_ratio(),
        rss as i64 - used as i64,
        f.frag_ratio(),
        rss as i64 - used as i64,
        crate::memory::not_counted_for_evict(ctx.shared),
        rhea_store::mem::allocator_name(),
    );
}

/// (user, system) CPU seconds of the process, from /proc/self/stat.
fn cpu_seconds() -> (f64, f64) {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return (0.0, 0.0);
    };
    // Fields after the parenthesised command name, which may hold spaces.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the file, 12 and 13 here,
    // in clock ticks (100 per second on Linux).
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0) / 100.0;
    (tick(11), tick(12))
}

fn total_system_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("MemTotal:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .map_or(0, |kb: u64| kb.saturating_mul(1024))
}

fn info_section(ctx: &mut Ctx, section: &str, s: &mut String) {
    let shared = ctx.shared;
    let stats = &shared.stats;
    let cfg = shared.config.read().clone();
    let uptime = shared.started.elapsed().as_secs();
    match section {
        "server" => {
            let _ = write!(
                s,
                "# Server\r\nredis_version:{REDIS_VERSION}\r\nrhea_version:{}\r\nredis_git_sha1:00000000\r\n\
                 redis_git_dirty:0\r\nredis_build_id:0\r\nredis_mode:standalone\r\nos:{} {}\r\narch_bits:{}\r\n\
                 monotonic_clock:POSIX clock_gettime\r\nmultiplexing_api:epoll\r\natomicvar_api:c11-builtin\r\n\
                 gcc_version:0.0.0\r\nprocess_id:{}\r\nprocess_supervised:no\r\nrun_id:{}\r\ntcp_port:{}\r\n\
                 server_time_usec:{}\r\nuptime_in_seconds:{}\r\nuptime_in_days:{}\r\nhz:{}\r\nconfigured_hz:{}\r\n\
                 lru_clock:{}\r\nexecutable:{}\r\nconfig_file:{}\r\nio_threads_active:0\r\n",
                env!("CARGO_PKG_VERSION"),
                std::env::consts::OS,
                std::env::consts::ARCH,
                usize::BITS,
                std::process::id(),
                shared.run_id,
                cfg.port,
                ctx.now_ms.saturating_mul(1000),
                uptime,
                uptime / 86400,
                cfg.hz,
                cfg.hz,
                (ctx.now_ms / 1000) & ((1 << 24) - 1),
                std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_default(),
                cfg.config_file,
            );
        }
        "clients" => {
            let blocked = shared.blocking.lock().len();
            let clients = shared.clients.snapshot();
            let _ = write!(
                s,
                "# Clients\r\nconnected_clients:{}\r\ncluster_connections:0\r\nmaxclients:{}\r\n\
                 client_recent_max_input_buffer:{}\r\nclient_recent_max_output_buffer:{}\r\nblocked_clients:{}\r\n\
                 tracking_clients:0\r\nclients_in_timeout_table:{}\r\n",
                shared.clients.len(),
                cfg.maxclients,
                // The largest input buffer and unwritten output among the
                // clients (Redis: over the last few seconds).
                clients.iter().map(|c| c.qbuf_cap.load(Ordering::Relaxed)).max().unwrap_or(0),
                clients
                    .iter()
                    .map(|c| c.obuf.load(Ordering::Relaxed) + c.push_pending.load(Ordering::Relaxed))
                    .max()
                    .unwrap_or(0),
                blocked,
                blocked,
            );
        }
        "memory" => info_memory(ctx, &cfg, s),
        "persistence" => {
            let _ = write!(
                s,
                "# Persistence\r\nloading:0\r\nasync_loading:0\r\ncurrent_cow_peak:0\r\ncurrent_cow_size:0\r\n\
                 current_cow_size_age:0\r\ncurrent_fork_perc:0.00\r\ncurrent_save_keys_processed:0\r\n\
                 current_save_keys_total:0\r\nrdb_changes_since_last_save:0\r\nrdb_bgsave_in_progress:0\r\n\
                 rdb_last_save_time:{}\r\nrdb_last_bgsave_status:ok\r\nrdb_last_bgsave_time_sec:-1\r\n\
                 rdb_current_bgsave_time_sec:-1\r\nrdb_saves:0\r\nrdb_last_cow_size:0\r\n\
                 rdb_last_load_keys_expired:0\r\nrdb_last_load_keys_loaded:0\r\naof_enabled:0\r\n\
                 aof_rewrite_in_progress:0\r\naof_rewrite_scheduled:0\r\naof_last_rewrite_time_sec:-1\r\n\
                 aof_current_rewrite_time_sec:-1\r\naof_last_bgrewrite_status:ok\r\naof_rewrites:0\r\n\
                 aof_rewrites_consecutive_failures:0\r\naof_last_write_status:ok\r\naof_last_cow_size:0\r\n\
                 module_fork_in_progress:0\r\nmodule_fork_last_cow_size:0\r\n",
                start_time_secs(ctx),
            );
        }
        "stats" => {
            let st = &ctx.store.stats;
            let expired = st.expired_keys + ctx.store.dbs.iter().map(|d| d.expired_keys).sum::<u64>();
            let ps = shared.pubsub.lock();
            let (ops, kin, kout) = shared.obs.instantaneous();
            let errors = shared.obs.total_error_replies.load(Ordering::Relaxed);
            let _ = write!(
                s,
                "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\n\
                 instantaneous_ops_per_sec:{ops}\r\ntotal_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\n\
                 total_net_repl_input_bytes:0\r\ntotal_net_repl_output_bytes:0\r\ninstantaneous_input_kbps:{kin:.2}\r\n\
                 instantaneous_output_kbps:{kout:.2}\r\ninstantaneous_input_repl_kbps:0.00\r\n\
                 instantaneous_output_repl_kbps:0.00\r\nrejected_connections:{}\r\nsync_full:0\r\n\
                 sync_partial_ok:0\r\nsync_partial_err:0\r\nexpired_keys:{expired}\r\nexpired_stale_perc:0.00\r\n\
                 expired_time_cap_reached_count:0\r\nexpire_cycle_cpu_milliseconds:0\r\nevicted_keys:{}\r\n\
                 evicted_clients:0\r\ntotal_eviction_exceeded_time:0\r\ncurrent_eviction_exceeded_time:0\r\n\
                 keyspace_hits:{}\r\nkeyspace_misses:{}\r\npubsub_channels:{}\r\npubsub_patterns:{}\r\n\
                 pubsubshard_channels:{}\r\nlatest_fork_usec:0\r\ntotal_forks:0\r\nmigrate_cached_sockets:0\r\n\
                 slave_expires_tracked_keys:0\r\nactive_defrag_hits:0\r\nactive_defrag_misses:0\r\n\
                 active_defrag_key_hits:0\r\nactive_defrag_key_misses:0\r\ntotal_active_defrag_time:0\r\n\
                 current_active_defrag_time:0\r\ntracking_total_keys:0\r\ntracking_total_items:0\r\n\
                 tracking_total_prefixes:0\r\nunexpected_error_replies:0\r\ntotal_error_replies:{errors}\r\n\
                 dump_payload_sanitizations:0\r\ntotal_reads_processed:0\r\ntotal_writes_processed:0\r\n\
                 io_threaded_reads_processed:0\r\nio_threaded_writes_processed:0\r\n",
                stats.total_connections_received.load(Ordering::Relaxed),
                stats.total_commands_processed.load(Ordering::Relaxed),
                stats.total_net_input_bytes.load(Ordering::Relaxed),
                stats.total_net_output_bytes.load(Ordering::Relaxed),
                stats.rejected_connections.load(Ordering::Relaxed),
                st.evicted_keys,
                st.keyspace_hits,
                st.keyspace_misses,
                ps.num_channels(Kind::Channel),
                ps.numpat(),
                ps.num_channels(Kind::Shard),
            );
        }
        "replication" => super::cluster::info_replication(ctx, s),
        "cpu" => {
            let (user, sys) = cpu_seconds();
            let _ = write!(
                s,
                "# CPU\r\nused_cpu_sys:{sys:.6}\r\nused_cpu_user:{user:.6}\r\nused_cpu_sys_children:0.000000\r\n\
                 used_cpu_user_children:0.000000\r\nused_cpu_sys_main_thread:{sys:.6}\r\n\
                 used_cpu_user_main_thread:{user:.6}\r\n"
            );
        }
        "modules" => s.push_str("# Modules\r\n"),
        "commandstats" => super::observability::info_commandstats(shared, s),
        "errorstats" => super::observability::info_errorstats(shared, s),
        "latencystats" => super::observability::info_latencystats(shared, s),
        "cluster" => s.push_str("# Cluster\r\ncluster_enabled:0\r\n"),
        "keyspace" => {
            s.push_str("# Keyspace\r\n");
            for (i, db) in ctx.store.dbs.iter().enumerate() {
                if !db.is_empty() {
                    let _ = write!(s, "db{i}:keys={},expires={},avg_ttl=0\r\n", db.len(), db.volatile_len());
                }
            }
        }
        _ => {}
    }
}

// -------------------------------------------------------------- CONFIG

fn config_get(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let cfg = ctx.shared.config.read().clone();
    // Each parameter once, under the first spelling that found it: an exact
    // name is echoed as the client wrote it, a glob match by its own name.
    let mut seen: Vec<&'static str> = Vec::new();
    let mut found: Vec<(String, String)> = Vec::new();
    for pat in &argv[2..] {
        let is_glob = pat.iter().any(|c| matches!(c, b'*' | b'?' | b'['));
        if !is_glob {
            let given = String::from_utf8_lossy(pat);
            if let Some(name) = config::lookup_name(&given) {
                if !seen.contains(&name) {
                    seen.push(name);
                    found.push((given.into_owned(), config::get(&cfg, name)));
                }
            }
            continue;
        }
        for (name, get) in config::all_params() {
            if !seen.contains(&name) && glob_match(pat, name.as_bytes(), true) {
                seen.push(name);
                found.push((name.to_string(), get(&cfg)));
            }
        }
    }
    ctx.out.map(found.len());
    for (name, value) in found {
        ctx.out.bulk_str(&name);
        ctx.out.bulk_str(&value);
    }
    Ok(())
}

fn config_set(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    if !argv.len().is_multiple_of(2) {
        return Err(CmdError::Syntax);
    }
    let pairs: Vec<(String, String)> = argv[2..]
        .chunks(2)
        .map(|p| (String::from_utf8_lossy(&p[0]).into_owned(), String::from_utf8_lossy(&p[1]).into_owned()))
        .collect();
    // Validate everything and apply to a copy: CONFIG SET is all or nothing.
    let failed = |name: &str, why: &str| {
        CmdError::err(format!("CONFIG SET failed (possibly related to argument '{name}') - {why}"))
    };
    let mut seen: Vec<&'static str> = Vec::new();
    for (name, _) in &pairs {
        let Some(canonical) = config::lookup_name(name) else {
            return Err(CmdError::err(format!("Unknown option or number of arguments for CONFIG SET - '{name}'")));
        };
        if !config::is_mutable(canonical) {
            return Err(failed(name, "can't set immutable config"));
        }
        if seen.contains(&canonical) {
            return Err(failed(name, "duplicate parameter"));
        }
        seen.push(canonical);
    }
    let mut new_cfg: Config = ctx.shared.config.read().clone();
    for (name, value) in &pairs {
        config::set(&mut new_cfg, name, std::slice::from_ref(value)).map_err(|e| failed(name, &e))?;
    }
    ctx.shared.obs.sync_config(&new_cfg);
    ctx.shared.apply_config(ctx.store, new_cfg);
    ctx.out.ok();
    Ok(())
}

fn config_resetstat(ctx: &mut Ctx, _argv: &[Bytes]) -> CmdResult {
    let st = &ctx.shared.stats;
    for c in [
        &st.total_connections_received,
        &st.total_commands_processed,
        &st.rejected_connections,
        &st.total_net_input_bytes,
        &st.total_net_output_bytes,
    ] {
        c.store(0, Ordering::Relaxed);
    }
    ctx.shared.obs.reset();
    ctx.store.stats = Default::default();
    for db in &mut ctx.store.dbs {
        db.expired_keys = 0;
    }
    ctx.out.ok();
    Ok(())
}

const CONFIG_HELP: &[&str] = &[
    "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET <pattern>",
    "    Return parameters matching the glob-like <pattern> and their values.",
    "SET <directive> <value>",
    "    Set the configuration <directive> to <value>.",
    "RESETSTAT",
    "    Reset statistics reported by the INFO command.",
    "REWRITE",
    "    Rewrite the configuration file.",
    "HELP",
    "    Prints this help.",
];

fn config_help(ctx: &mut Ctx, _argv: &[Bytes]) -> CmdResult {
    help_reply(ctx, CONFIG_HELP);
    Ok(())
}

// ------------------------------------------------------------- COMMAND

/// A command by full name: `get`, or `client|list` for a subcommand.
fn find_command(name: &[u8]) -> Option<(String, &'static CommandSpec)> {
    let table = CommandTable::get();
    let name = String::from_utf8_lossy(name).to_ascii_lowercase();
    match name.split_once('|') {
        None => table.lookup(name.as_bytes()).map(|c| (c.name.to_string(), c)),
        Some((parent, sub)) => {
            let p = table.lookup(parent.as_bytes())?;
            p.subcommands.iter().find(|s| s.name == sub).map(|s| (format!("{}|{}", p.name, s.name), s))
        }
    }
}

/// A command's COMMAND INFO entry: Redis's own (generated) entry for the
/// commands Redis has, so key specs and tips are exact; the table's for
/// Rhea-only ones.
fn write_command_info(ctx: &mut Ctx, full_name: &str, c: &CommandSpec) {
    match generated::info(full_name) {
        Some(doc) => write_generated_info(ctx, doc, c),
        None => write_table_info(ctx, full_name, c),
    }
}

/// Redis's entry with its subcommand list cut down to the subcommands Rhea
/// implements, so a client never sees one it cannot call.
fn write_generated_info(ctx: &mut Ctx, doc: &'static Doc, c: &CommandSpec) {
    let fields = doc.items();
    let redis_subs = fields.get(info_field::SUBCOMMANDS).map_or(&[][..], Doc::items);
    if redis_subs.is_empty() && c.subcommands.is_empty() {
        doc.write(ctx.out);
        return;
    }
    ctx.out.array(fields.len());
    for f in fields.iter().take(info_field::SUBCOMMANDS) {
        f.write(ctx.out);
    }
    let subs: Vec<(String, &CommandSpec)> =
        c.subcommands.iter().map(|s| (format!("{}|{}", c.name, s.name), s)).collect();
    // Redis answers an empty set for "no subcommands" and an array otherwise.
    if subs.is_empty() {
        ctx.out.set(0);
        return;
    }
    ctx.out.array(subs.len());
    for (full, s) in generated_first(subs, redis_subs.iter().filter_map(|e| e.items().first()?.as_str())) {
        write_command_info(ctx, &full, s);
    }
}

/// Rhea's subcommands in the order Redis's generated entry lists them, then
/// any Rhea-only ones.
fn generated_first(
    mut subs: Vec<(String, &CommandSpec)>,
    redis_order: impl Iterator<Item = &'static str>,
) -> Vec<(String, &CommandSpec)> {
    let mut ordered = Vec::with_capacity(subs.len());
    for name in redis_order {
        if let Some(i) = subs.iter().position(|(full, _)| full == name) {
            ordered.push(subs.remove(i));
        }
    }
    ordered.append(&mut subs);
    ordered
}

/// The entry built from the table, for commands Redis does not have.
fn write_table_info(ctx: &mut Ctx, full_name: &str, c: &CommandSpec) {
    let out = &mut *ctx.out;
    out.array(10);
    out.bulk_str(full_name);
    out.int(c.arity as i64);
    let flag_names: Vec<&str> = NAMES.iter().filter(|(f, _)| c.flags & f != 0).map(|(_, n)| *n).collect();
    out.set(flag_names.len());
    for n in flag_names {
        out.simple(n);
    }
    out.int(c.first_key as i64);
    out.int(c.last_key as i64);
    out.int(c.step as i64);
    out.set(c.acl.len());
    for a in c.acl {
        out.simple(&format!("@{a}"));
    }
    out.set(c.tips.len());
    for t in c.tips {
        out.bulk_str(t);
    }
    // Key specs are not declared in the table.
    out.set(0);
    if c.subcommands.is_empty() {
        out.set(0);
    } else {
        out.array(c.subcommands.len());
        for s in c.subcommands {
            write_command_info(ctx, &format!("{}|{}", c.name, s.name), s);
        }
    }
}

fn command(ctx: &mut Ctx, _argv: &[Bytes]) -> CmdResult {
    let all = &CommandTable::get().all;
    ctx.out.array(all.len());
    for c in all {
        write_command_info(ctx, c.name, c);
    }
    Ok(())
}

fn command_count(ctx: &mut Ctx, _argv: &[Bytes]) -> CmdResult {
    ctx.out.int(CommandTable::get().all.len() as i64);
    Ok(())
}

fn command_info(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    if argv.len() == 2 {
        return command(ctx, argv);
    }
    ctx.out.array(argv.len() - 2);
    for name in &argv[2..] {
        match find_command(name) {
            Some((full, c)) => write_command_info(ctx, &full, c),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

/// A command's COMMAND DOCS name and entry, generated from Redis where Redis
/// has the command (arguments, history, doc flags...), else from the table.
fn write_command_docs(ctx: &mut Ctx, full_name: &str, c: &CommandSpec) {
    ctx.out.bulk_str(full_name);
    let Some(doc) = generated::docs(full_name) else {
        return write_table_docs(ctx, c);
    };
    let redis_subs = doc.get("subcommands");
    if redis_subs.is_none() && c.subcommands.is_empty() {
        doc.write(ctx.out);
        return;
    }
    let subs: Vec<(String, &CommandSpec)> =
        c.subcommands.iter().map(|s| (format!("{}|{}", c.name, s.name), s)).collect();
    let others: Vec<&(Doc, Doc)> = doc.pairs().iter().filter(|(k, _)| k.as_str() != Some("subcommands")).collect();
    // Redis leaves the field out when there are no subcommands.
    ctx.out.map(others.len() + !subs.is_empty() as usize);
    for (k, v) in others {
        k.write(ctx.out);
        v.write(ctx.out);
    }
    if subs.is_empty() {
        return;
    }
    ctx.out.bulk_str("subcommands");
    ctx.out.map(subs.len());
    let redis_order = redis_subs.map_or(&[][..], Doc::pairs).iter().filter_map(|(k, _)| k.as_str());
    for (full, s) in generated_first(subs, redis_order) {
        write_command_docs(ctx, &full, s);
    }
}

fn write_table_docs(ctx: &mut Ctx, c: &CommandSpec) {
    let out = &mut *ctx.out;
    let has_subs = !c.subcommands.is_empty();
    out.map(4 + has_subs as usize);
    for (k, v) in [("summary", c.summary), ("since", c.since), ("group", c.group), ("complexity", c.complexity)] {
        out.bulk_str(k);
        out.bulk_str(v);
    }
    if has_subs {
        out.bulk_str("subcommands");
        out.map(c.subcommands.len());
        for s in c.subcommands {
            write_command_docs(ctx, &format!("{}|{}", c.name, s.name), s);
        }
    }
}

fn command_docs(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    if argv.len() == 2 {
        let all = &CommandTable::get().all;
        ctx.out.map(all.len());
        for c in all {
            write_command_docs(ctx, c.name, c);
        }
        return Ok(());
    }
    let found: Vec<_> = argv[2..].iter().filter_map(|n| find_command(n)).collect();
    ctx.out.map(found.len());
    for (full, c) in found {
        write_command_docs(ctx, &full, c);
    }
    Ok(())
}

/// COMMAND LIST's filter.
enum ListFilter<'a> {
    All,
    Module,
    AclCat(&'a [u8]),
    Pattern(&'a [u8]),
}

fn command_list(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let filter = match argv {
        [_, _] => ListFilter::All,
        [_, _, by, kind, arg] if is(by, "filterby") => {
            if is(kind, "module") {
                ListFilter::Module
            } else if is(kind, "aclcat") {
                ListFilter::AclCat(arg)
            } else if is(kind, "pattern") {
                ListFilter::Pattern(arg)
            } else {
                return Err(CmdError::Syntax);
            }
        }
        _ => return Err(CmdError::Syntax),
    };
    let mut names = Vec::new();
    for c in &CommandTable::get().all {
        let entries = std::iter::once((c.name.to_string(), *c))
            .chain(c.subcommands.iter().map(|s| (format!("{}|{}", c.name, s.name), s)));
        for (full, spec) in entries {
            let keep = match filter {
                ListFilter::All => true,
                ListFilter::Module => false,
                ListFilter::AclCat(cat) => spec.acl.iter().any(|a| a.as_bytes().eq_ignore_ascii_case(cat)),
                ListFilter::Pattern(p) => glob_match(p, full.as_bytes(), true),
            };
            if keep {
                names.push(full);
            }
        }
    }
    ctx.out.array(names.len());
    for n in names {
        ctx.out.bulk_str(&n);
    }
    Ok(())
}

/// COMMAND GETKEYS, checking in Redis's order: known command, a command
/// that can have keys at all, arity, then the keys of these arguments.
fn command_getkeys(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let cmd_argv = &argv[2..];
    let table = CommandTable::get();
    let (spec, full_name) = match table.resolve(cmd_argv) {
        Ok((cmd, Some(sub))) => (sub, format!("{}|{}", cmd.name, sub.name)),
        Ok((cmd, None)) => (cmd, cmd.name.to_string()),
        Err(_) => return Err(CmdError::err("Invalid command specified")),
    };
    if !has_key_args(&full_name, spec) {
        return Err(CmdError::err("The command has no key arguments"));
    }
    if !spec.arity_ok(cmd_argv.len()) {
        return Err(CmdError::err("Invalid number of arguments specified for command"));
    }
    let keys = spec.key_positions(cmd_argv);
    if keys.is_empty() {
        // EVAL with zero keys and the like: Redis flags them no_mandatory_keys.
        let optional = generated::info(&full_name)
            .and_then(|e| e.items().get(info_field::FLAGS))
            .is_some_and(|f| f.items().iter().any(|x| x.as_str() == Some("no_mandatory_keys")));
        if optional {
            ctx.out.array(0);
            return Ok(());
        }
        return Err(CmdError::err("Invalid arguments specified for command"));
    }
    ctx.out.array(keys.len());
    for i in keys {
        ctx.out.bulk(&cmd_argv[i]);
    }
    Ok(())
}

/// Redis's doesCommandHaveKeys: a key spec that is not a channel (SPUBLISH
/// and SSUBSCRIBE declare their channels as `not_key` specs, so they have
/// none). Rhea-only commands go by the table.
fn has_key_args(full_name: &str, spec: &CommandSpec) -> bool {
    match generated::info(full_name).and_then(|e| e.items().get(info_field::KEY_SPECS)) {
        Some(specs) => specs
            .items()
            .iter()
            .any(|ks| !ks.get("flags").is_some_and(|f| f.items().iter().any(|x| x.as_str() == Some("not_key")))),
        None => spec.first_key > 0 || spec.keys_fn.is_some(),
    }
}

const COMMAND_HELP: &[&str] = &[
    "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "(no subcommand)",
    "    Return details about all Redis commands.",
    "COUNT",
    "    Return the total number of commands in this Redis server.",
    "LIST",
    "    Return a list of all commands in this Redis server.",
    "INFO [<command-name> ...]",
    "    Return details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "DOCS [<command-name> ...]",
    "    Return documentation details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "GETKEYS <full-command>",
    "    Return the keys from a full Redis command.",
    "GETKEYSANDFLAGS <full-command>",
    "    Return the keys and the access flags from a full Redis command.",
    "HELP",
    "    Prints this help.",
];

fn command_help(ctx: &mut Ctx, _argv: &[Bytes]) -> CmdResult {
    help_reply(ctx, COMMAND_HELP);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes_like_redis() {
        assert_eq!(bytes_to_human(0), "0B");
        assert_eq!(bytes_to_human(1023), "1023B");
        assert_eq!(bytes_to_human(1510264), "1.44M");
        assert_eq!(bytes_to_human(25276063744), "23.54G");
    }

    #[test]
    fn info_section_selection() {
        let args = |v: &[&str]| v.iter().map(|s| Bytes::copy_from_slice(s.as_bytes())).collect::<Vec<_>>();
        assert_eq!(info_sections(&args(&["info", "KEYSPACE", "server"])), vec!["server", "keyspace"]);
        assert_eq!(info_sections(&args(&["info", "nosuch"])), Vec::<&str>::new());
        assert_eq!(info_sections(&args(&["info"])), DEFAULT_SECTIONS.to_vec());
        assert_eq!(info_sections(&args(&["info", "everything"])).len(), SECTIONS.len());
        assert!(info_sections(&args(&["info", "default", "commandstats"])).contains(&"commandstats"));
    }
}
