//! The pubsub family: (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, PUBLISH, SPUBLISH
//! and the PUBSUB container. The registry itself is `crate::pubsub`.
//!
//! Rhea has a single shard, so shard channels behave like plain channels in
//! a namespace of their own (no pattern matching, a count of their own).

use bytes::Bytes;

use super::connection::help_reply;
use crate::error::{CmdError, CmdResult};
use crate::pubsub::Kind;
use crate::table::{flags::*, CommandSpec};
use crate::Ctx;

const fn ps(name: &'static str, arity: i32, flags: u32, handler: crate::table::Handler) -> CommandSpec {
    let mut c = CommandSpec::new(name, arity, flags, handler);
    c.group = "pubsub";
    c
}

const SLOW: &[&str] = &["pubsub", "slow"];
const SUB_FLAGS: u32 = PUBSUB | NOSCRIPT | LOADING | STALE;
const INFO_FLAGS: u32 = PUBSUB | LOADING | STALE;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        acl: SLOW,
        summary: "Listen for messages published to the given channels",
        since: "2.0.0",
        complexity: "O(N) where N is the number of channels to subscribe to.",
        ..ps("subscribe", -2, SUB_FLAGS, subscribe)
    },
    CommandSpec {
        acl: SLOW,
        summary: "Stop listening for messages posted to the given channels",
        since: "2.0.0",
        complexity: "O(N) where N is the number of clients already subscribed to a channel.",
        ..ps("unsubscribe", -1, SUB_FLAGS, unsubscribe)
    },
    CommandSpec {
        acl: SLOW,
        summary: "Listen for messages published to channels matching the given patterns",
        since: "2.0.0",
        complexity: "O(N) where N is the number of patterns the client is already subscribed to.",
        ..ps("psubscribe", -2, SUB_FLAGS, psubscribe)
    },
    CommandSpec {
        acl: SLOW,
        summary: "Stop listening for messages posted to channels matching the given patterns",
        since: "2.0.0",
        complexity: "O(N+M) where N is the number of patterns the client is already subscribed and M is the number \
                     of total patterns subscribed in the system (by any client).",
        ..ps("punsubscribe", -1, SUB_FLAGS, punsubscribe)
    },
    CommandSpec {
        acl: &["pubsub", "fast"],
        summary: "Post a message to a channel",
        since: "2.0.0",
        complexity: "O(N+M) where N is the number of clients subscribed to the receiving channel and M is the total \
                     number of subscribed patterns (by any client).",
        ..ps("publish", 3, PUBSUB | LOADING | STALE | FAST, publish)
    },
    CommandSpec {
        acl: SLOW,
        summary: "Listen for messages published to the given shard channels",
        since: "7.0.0",
        complexity: "O(N) where N is the number of shard channels to subscribe to.",
        ..ps("ssubscribe", -2, SUB_FLAGS, ssubscribe).keys(1, -1, 1)
    },
    CommandSpec {
        acl: SLOW,
        summary: "Stop listening for messages posted to the given shard channels",
        since: "7.0.0",
        complexity: "O(N) where N is the number of clients already subscribed to a shard channel.",
        ..ps("sunsubscribe", -1, SUB_FLAGS, sunsubscribe).keys(1, -1, 1)
    },
    CommandSpec {
        acl: &["pubsub", "fast"],
        summary: "Post a message to a shard channel",
        since: "7.0.0",
        complexity: "O(N) where N is the number of clients subscribed to the receiving shard channel.",
        ..ps("spublish", 3, PUBSUB | LOADING | STALE | FAST, spublish).keys(1, 1, 1)
    },
    CommandSpec {
        acl: &["slow"],
        summary: "A container for Pub/Sub commands",
        since: "2.8.0",
        complexity: "Depends on subcommand.",
        subcommands: &[
            CommandSpec {
                acl: SLOW,
                summary: "Get the count of unique patterns pattern subscriptions",
                since: "2.8.0",
                complexity: "O(1)",
                ..ps("numpat", 2, INFO_FLAGS, pubsub_numpat)
            },
            CommandSpec {
                acl: SLOW,
                summary: "List active shard channels",
                since: "7.0.0",
                complexity: "O(N) where N is the number of active shard channels, and assuming constant time \
                             pattern matching (relatively short shard channels).",
                ..ps("shardchannels", -2, INFO_FLAGS, pubsub_shardchannels)
            },
            CommandSpec {
                acl: SLOW,
                summary: "List active channels",
                since: "2.8.0",
                complexity: "O(N) where N is the number of active channels, and assuming constant time pattern \
                             matching (relatively short channels and patterns)",
                ..ps("channels", -2, INFO_FLAGS, pubsub_channels)
            },
            CommandSpec {
                acl: SLOW,
                summary: "Get the count of subscribers for channels",
                since: "2.8.0",
                complexity: "O(N) for the NUMSUB subcommand, where N is the number of requested channels",
                ..ps("numsub", -2, INFO_FLAGS, pubsub_numsub)
            },
            CommandSpec {
                acl: SLOW,
                summary: "Get the count of subscribers for shard channels",
                since: "7.0.0",
                complexity: "O(N) for the SHARDNUMSUB subcommand, where N is the number of requested shard channels",
                ..ps("shardnumsub", -2, INFO_FLAGS, pubsub_shardnumsub)
            },
            CommandSpec {
                acl: &["slow"],
                summary: "Show helpful text about the different subcommands",
                since: "6.2.0",
                complexity: "O(1)",
                ..ps("help", 2, LOADING | STALE, pubsub_help)
            },
        ],
        ..ps("pubsub", -2, 0, container)
    },
];

fn container(_ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    // The dispatcher resolves subcommands; this only runs if called bare.
    Err(CmdError::UnknownSubcommand(
        String::from_utf8_lossy(argv.get(1).map(|a| &a[..]).unwrap_or(b"")).into_owned(),
        "PUBSUB".into(),
    ))
}

/// Replies one `[kind, channel, count]` confirmation per argument.
fn do_subscribe(ctx: &mut Ctx, argv: &[Bytes], kind: Kind) -> CmdResult {
    let mut ps = ctx.shared.pubsub.lock();
    for ch in &argv[1..] {
        let (_, count) = ps.subscribe(&ctx.client.info, kind, ch);
        ctx.out.push(3);
        ctx.out.bulk_str(kind.subscribe_name());
        ctx.out.bulk(ch);
        ctx.out.int(count as i64);
    }
    ctx.client.subscriptions = ps.total(ctx.client.id);
    Ok(())
}

/// With no argument, unsubscribes from every channel of the kind (one
/// confirmation each, or one with a nil channel when there was none).
fn do_unsubscribe(ctx: &mut Ctx, argv: &[Bytes], kind: Kind) -> CmdResult {
    let mut ps = ctx.shared.pubsub.lock();
    let id = ctx.client.id;
    let names: Vec<Bytes> = if argv.len() > 1 { argv[1..].to_vec() } else { ps.subscriptions(id, kind) };
    if names.is_empty() {
        ctx.out.push(3);
        ctx.out.bulk_str(kind.unsubscribe_name());
        ctx.out.null();
        ctx.out.int(ps.count(id, kind) as i64);
    }
    for ch in &names {
        let (_, count) = ps.unsubscribe(id, kind, ch);
        ctx.out.push(3);
        ctx.out.bulk_str(kind.unsubscribe_name());
        ctx.out.bulk(ch);
        ctx.out.int(count as i64);
    }
    ctx.client.subscriptions = ps.total(id);
    Ok(())
}

fn subscribe(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    do_subscribe(ctx, argv, Kind::Channel)
}

fn psubscribe(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    do_subscribe(ctx, argv, Kind::Pattern)
}

fn ssubscribe(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    // Redis refuses it inside MULTI (a "deny blocking" context), unlike
    // SUBSCRIBE and PSUBSCRIBE.
    if ctx.client.in_exec {
        return Err(CmdError::err("SSUBSCRIBE isn't allowed for a DENY BLOCKING client"));
    }
    do_subscribe(ctx, argv, Kind::Shard)
}

fn unsubscribe(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    do_unsubscribe(ctx, argv, Kind::Channel)
}

fn punsubscribe(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    do_unsubscribe(ctx, argv, Kind::Pattern)
}

fn sunsubscribe(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    do_unsubscribe(ctx, argv, Kind::Shard)
}

fn publish(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let n = ctx.publish(false, &argv[1], &argv[2]);
    ctx.out.int(n as i64);
    Ok(())
}

fn spublish(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    let n = ctx.publish(true, &argv[1], &argv[2]);
    ctx.out.int(n as i64);
    Ok(())
}

fn subcommand_syntax(argv: &[Bytes]) -> CmdError {
    CmdError::err(format!(
        "unknown subcommand or wrong number of arguments for '{}'. Try PUBSUB HELP.",
        String::from_utf8_lossy(&argv[1])
    ))
}

fn list_channels(ctx: &mut Ctx, argv: &[Bytes], kind: Kind) -> CmdResult {
    if argv.len() > 3 {
        return Err(subcommand_syntax(argv));
    }
    let names = ctx.shared.pubsub.lock().channels(kind, argv.get(2).map(|p| &p[..]));
    ctx.out.array(names.len());
    for n in &names {
        ctx.out.bulk(n);
    }
    Ok(())
}

fn count_subscribers(ctx: &mut Ctx, argv: &[Bytes], kind: Kind) -> CmdResult {
    let ps = ctx.shared.pubsub.lock();
    // A flat array even in RESP3, as Redis 7.0 replies.
    ctx.out.array(2 * (argv.len() - 2));
    for ch in &argv[2..] {
        ctx.out.bulk(ch);
        ctx.out.int(ps.numsub(kind, ch) as i64);
    }
    Ok(())
}

fn pubsub_channels(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    list_channels(ctx, argv, Kind::Channel)
}

fn pubsub_shardchannels(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    list_channels(ctx, argv, Kind::Shard)
}

fn pubsub_numsub(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    count_subscribers(ctx, argv, Kind::Channel)
}

fn pubsub_shardnumsub(ctx: &mut Ctx, argv: &[Bytes]) -> CmdResult {
    count_subscribers(ctx, argv, Kind::Shard)
}

fn pubsub_numpat(ctx: &mut Ctx, _argv: &[Bytes]) -> CmdResult {
    let n = ctx.shared.pubsub.lock().numpat();
    ctx.out.int(n as i64);
    Ok(())
}

const PUBSUB_HELP: &[&str] = &[
    "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CHANNELS [<pattern>]",
    "    Return the currently active channels matching a <pattern> (default: '*').",
    "NUMPAT",
    "    Return number of subscriptions to patterns.",
    "NUMSUB [<channel> ...]",
    "    Return the number of subscribers for the specified channels, excluding",
    "    pattern subscriptions(default: no channels).",
    "SHARDCHANNELS [<pattern>]",
    "    Return the currently active shard level channels matching a <pattern> (default: '*').",
    "SHARDNUMSUB [<shardchannel> ...]",
    "    Return the number of subscribers for the specified shard level channel(s)",
    "HELP",
    "    Prints this help.",
];

fn pubsub_help(ctx: &mut Ctx, _argv: &[Bytes]) -> CmdResult {
    help_reply(ctx, PUBSUB_HELP);
    Ok(())
}
