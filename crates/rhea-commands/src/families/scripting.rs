//! The scripting family: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT.
//! The engine itself lives in `crate::scripting`.

use bytes::Bytes;

use crate::error::{CmdError, CmdResult};
use crate::families::is;
use crate::scripting;
use crate::table::{flags::*, CommandSpec};
use crate::Ctx;

const fn sc(name: &'static str, arity: i32, flags: u32, handler: crate::table::Handler) -> CommandSpec {
    let mut c = CommandSpec::new(name, arity, flags, handler);
    c.group = "scripting";
    c.acl = &["slow", "scripting"];
    c
}

/// Keys of EVAL-style commands: `numkeys` at argv[2], keys after it.
fn eval_keys(argv: &[Bytes]) -> Vec<usize> {
    let n = argv.get(2).and_then(|a| rhea_resp::parse_i64(a)).unwrap_or(0);
    if n <= 0 {
        return Vec::new();
    }
    (3..3usize.saturating_add(n as usize)).take_while(|&i| i < argv.len()).collect()
}

const EVAL_COMPLEXITY: &str = "Depends on the script that is executed.";

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        summary: "Execute a Lua script server side",
        since: "2.6.0",
        complexity: EVAL_COMPLEXITY,
        keys_fn: Some(eval_keys),
        ..sc("eval", -3, NOSCRIPT | SKIP_MONITOR | STALE, eval)
    },
    CommandSpec {
        summary: "Execute a Lua script server side",
        since: "2.6.0",
        complexity: EVAL_COMPLEXITY,
        keys_fn: Some(eval_keys),
        ..sc("evalsha", -3, NOSCRIPT | SKIP_MONITOR | STALE, evalsha)
    },
    CommandSpec {
        summary: "Execute a read-only Lua script server side",
        since: "7.0.0",
        complexity: EVAL_COMPLEXITY,
        keys_fn: Some(eval_keys),
        ..sc("eval_ro", -3, READONLY | NOSCRIPT | SKIP_MONITOR | STALE, eval_ro)
    },
    CommandSpec {
        summary: "Execute a read-only Lua script server side",
        since: "7.0.0",
        complexity: EVAL_COMPLEXITY,
        keys_fn: Some(eval_keys),
        ..sc("evalsha_ro", -3, READONLY | NOSCRIPT | SKIP_MONITOR | STALE, evalsha_ro)
    },
    CommandSpec {
        acl: &["slow"],
        summary: "A container for Lua scripts management commands",
        since: "2.6.0",
        complexity: "Depends on subcommand.",
        subcommands: &[
            CommandSpec {
                summary: "Set the debug mode for executed scripts.",
                since: "3.2.0",
                complexity: "O(1)",
                ..sc("debug", 3, NOSCRIPT, script_debug)
            },
            CommandSpec {
                summary: "Check existence of scripts in the script cache.",
                since: "2.6.0",
                complexity: "O(N) with N being the number of scripts to check (so checking a single script is an O(1) operation).",
                ..sc("exists", -3, NOSCRIPT, script_exists)
            },
            CommandSpec {
                summary: "Remove all the scripts from the script cache.",
                since: "2.6.0",
                complexity: "O(N) with N being the number of scripts in cache",
                ..sc("flush", -2, NOSCRIPT, script_flush)
            },
            CommandSpec {
                acl: &["slow", "scripting"],
                summary: "Show helpful text about the different subcommands",
                since: "5.0.0",
                complexity: "O(1)",
                ..sc("help", 2, LOADING | STALE, script_help)
            },
            CommandSpec {
                summary: "Kill the script currently in execution.",
                since: "2.6.0",
                complexity: "O(1)",
                ..sc("kill", 2, NOSCRIPT | ALLOW_BUSY, script_kill)
            },
            CommandSpec {
                summary: "Load the specified Lua script into the script cache.",
                since: "2.6.0",
                complexity: "O(N) with N being the length in bytes of the script body.",
                ..sc("load", 3, NOSCRIPT | STALE, script_load)
            },
        ],
        ..sc("script", -2, 0, container)
    },
];

fn container(_ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    Err(CmdError::UnknownSubcommand(
        String::from_utf8_lossy(argv.get(1).map(|a| &a[..]).unwrap_or(b"")).into_owned(),
        String::from_utf8_lossy(&argv[0]).to_uppercase(),
    ))
}

fn eval(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    scripting::eval(ctx, argv, false, false)
}

fn evalsha(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    scripting::eval(ctx, argv, true, false)
}

fn eval_ro(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    scripting::eval(ctx, argv, false, true)
}

fn evalsha_ro(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    scripting::eval(ctx, argv, true, true)
}

fn script_load(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let sha = scripting::load(ctx, &argv[2])?;
    ctx.out.bulk_str(&sha);
    Ok(())
}

fn script_exists(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let found: Vec<bool> = argv[2..].iter().map(|sha| scripting::exists(ctx, sha)).collect();
    ctx.out.array(found.len());
    for f in found {
        ctx.out.int(f as i64);
    }
    Ok(())
}

fn script_flush(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    if argv.len() > 3 || (argv.len() == 3 && !is(&argv[2], "sync") && !is(&argv[2], "async")) {
        return Err(CmdError::err("SCRIPT FLUSH only support SYNC|ASYNC option"));
    }
    ctx.shared.scripting.flush();
    ctx.out.ok();
    Ok(())
}

/// Reached only when no script runs (a running script holds the store; the
/// dispatcher answers SCRIPT KILL itself then).
fn script_kill(ctx: &mut Ctx, _argv: &[Bytes]) -> CmdResult {
    match ctx.shared.scripting.status.request_kill() {
        Ok(()) => {
            ctx.out.ok();
            Ok(())
        }
        Err(e) => Err(CmdError::Other(e.into())),
    }
}

fn script_debug(_ctx: &mut Ctx, _argv: &[Bytes]) -> CmdResult {
    Err(CmdError::err("SCRIPT DEBUG is not supported"))
}

const SCRIPT_HELP: &[&str] = &[
    "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DEBUG (YES|SYNC|NO)",
    "    Set the debug mode for subsequent scripts executed.",
    "EXISTS <sha1> [<sha1> ...]",
    "    Return information about the existence of the scripts in the script cache.",
    "FLUSH [ASYNC|SYNC]",
    "    Flush the Lua scripts cache. Very dangerous on replicas.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the scripts cache.",
    "    * SYNC: Synchronously flush the scripts cache.",
    "KILL",
    "    Kill the currently executing Lua script.",
    "LOAD <script>",
    "    Load a script into the scripts cache without executing it.",
    "HELP",
    "    Prints this help.",
];

fn script_help(ctx: &mut Ctx, _argv: &[Bytes]) -> CmdResult {
    ctx.out.array(SCRIPT_HELP.len());
    for line in SCRIPT_HELP {
        ctx.out.simple(line);
    }
    Ok(())
}
