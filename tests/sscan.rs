//! Set behaviour the line-by-line differential cases cannot pin down:
//! complete SSCAN iterations over hash-table sets (cursor values are Rhea's
//! own, so only the members a full scan returns are compared with Redis)
//! and the properties of SPOP/SRANDMEMBER, whose picks are random. The
//! property checks run against redis-server too, which proves the checks
//! themselves are right.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{Conn, Reply, Server};

type Members = BTreeSet<Vec<u8>>;

fn bulks(r: &Reply) -> Vec<Vec<u8>> {
    match r {
        Reply::Array(v) | Reply::Set(v) => {
            v.iter().map(|m| m.as_bulk().expect("member is a bulk string").to_vec()).collect()
        }
        other => panic!("expected an array of members, got {other:?}"),
    }
}

/// Runs `SSCAN key cursor <extra...>` until the cursor returns to 0, calling
/// `between` after each batch; returns every member returned (duplicates
/// included) and the number of calls.
fn full_sscan(
    c: &mut Conn,
    key: &str,
    extra: &[&str],
    mut between: impl FnMut(&mut Conn, &[Vec<u8>]),
) -> (Vec<Vec<u8>>, usize) {
    let mut cursor = b"0".to_vec();
    let mut all = Vec::new();
    let mut calls = 0;
    loop {
        let mut args: Vec<Vec<u8>> = vec![b"SSCAN".to_vec(), key.as_bytes().to_vec(), cursor.clone()];
        args.extend(extra.iter().map(|a| a.as_bytes().to_vec()));
        let r = c.ok(&args);
        calls += 1;
        assert!(calls < 100_000, "SSCAN never returned cursor 0");
        let Reply::Array(parts) = r else { panic!("SSCAN reply is not an array: {r:?}") };
        let [next, members] = &parts[..] else { panic!("SSCAN reply has {} elements", parts.len()) };
        let next = next.as_bulk().expect("cursor is a bulk string").to_vec();
        let batch = bulks(members);
        between(c, &batch);
        all.extend(batch);
        if next == b"0" {
            return (all, calls);
        }
        cursor = next;
    }
}

fn sadd(c: &mut Conn, key: &str, members: impl IntoIterator<Item = String>) {
    let members: Vec<String> = members.into_iter().collect();
    for chunk in members.chunks(200) {
        let mut args = vec!["SADD".to_string(), key.to_string()];
        args.extend(chunk.iter().cloned());
        c.ok(&args);
    }
}

fn populate(c: &mut Conn) {
    // A string-member table, an integer-only table (past the intset limit)
    // and an intset.
    sadd(c, "words", (0..1200).map(|i| format!("{}:{i}", ["user", "order", "session"][i % 3])));
    sadd(c, "ints", (0..700).map(|i| (i * 7 - 1000).to_string()));
    sadd(c, "small", (0..300).map(|i| (i * 13).to_string()));
}

fn smembers(c: &mut Conn, key: &str) -> Members {
    bulks(&c.ok(&["SMEMBERS", key])).into_iter().collect()
}

#[test]
fn full_sscans_return_the_same_members_as_redis() {
    let redis = Server::redis(&[]);
    let rhea = Server::rhea(&[]);
    let mut a = redis.conn();
    let mut b = rhea.conn();
    populate(&mut a);
    populate(&mut b);
    for key in ["words", "ints", "small"] {
        assert_eq!(a.ok(&["OBJECT", "ENCODING", key]), b.ok(&["OBJECT", "ENCODING", key]), "encoding of {key}");
    }
    let options: &[&[&str]] = &[
        &[],
        &["COUNT", "1"],
        &["COUNT", "7"],
        &["COUNT", "1000000"],
        &["MATCH", "user:*"],
        &["MATCH", "*:1?"],
        &["MATCH", "nothing*"],
        &["MATCH", "-*"],
        &["MATCH", "*5", "COUNT", "3"],
    ];
    for key in ["words", "ints", "small"] {
        for opts in options {
            let (ma, _) = full_sscan(&mut a, key, opts, |_, _| {});
            let (mb, calls) = full_sscan(&mut b, key, opts, |_, _| {});
            let (sa, sb): (Members, Members) = (ma.iter().cloned().collect(), mb.iter().cloned().collect());
            assert_eq!(sa, sb, "SSCAN {key} {opts:?}: different members");
            assert_eq!(mb.len(), sb.len(), "SSCAN {key} {opts:?}: rhea returned duplicates");
            if key == "small" {
                // An intset is returned whole, in one call, sorted.
                assert_eq!(calls, 1);
                assert_eq!(ma, mb, "SSCAN {key} {opts:?}: intset order");
            } else if opts.is_empty() {
                assert!(calls > 1, "a big hash-table scan with COUNT 10 should take several calls");
            }
        }
    }
}

#[test]
fn members_present_throughout_are_returned_despite_changes() {
    let rhea = Server::rhea(&[]);
    let mut c = rhea.conn();
    populate(&mut c);
    let original = smembers(&mut c, "words");
    let mut removed = BTreeSet::new();
    let mut added = 0;
    let (seen, _) = full_sscan(&mut c, "words", &["COUNT", "5"], |c, batch| {
        // Remove a member just returned and one maybe not returned yet;
        // add new ones.
        if let Some(m) = batch.first() {
            c.ok(&[b"SREM".as_slice(), b"words", m.as_slice()]);
            removed.insert(m.clone());
        }
        let victim = format!("user:{}", added * 3);
        c.ok(&["SREM", "words", &victim]);
        removed.insert(victim.into_bytes());
        c.ok(&["SADD", "words", &format!("new:{added}")]);
        added += 1;
    });
    let seen: Members = seen.into_iter().collect();
    let missing: Vec<String> = original
        .iter()
        .filter(|m| !removed.contains(*m) && !seen.contains(*m))
        .map(|m| String::from_utf8_lossy(m).into_owned())
        .collect();
    assert!(missing.is_empty(), "members present for the whole scan but never returned: {missing:?}");
}

/// Fills `key` with `n` members: integers (an intset while small) or words
/// (a hash table).
fn fill(c: &mut Conn, key: &str, n: usize, ints: bool) -> Members {
    c.ok(&["DEL", key]);
    let members: Vec<String> = (0..n).map(|i| if ints { i.to_string() } else { format!("m{i}") }).collect();
    sadd(c, key, members.iter().cloned());
    members.into_iter().map(String::into_bytes).collect()
}

fn check_random_properties(c: &mut Conn, server: &str) {
    for ints in [true, false] {
        let what = format!("{server}, {}", if ints { "intset" } else { "hashtable" });
        let all = fill(c, "s", 20, ints);
        let enc = c.ok(&["OBJECT", "ENCODING", "s"]);
        assert_eq!(enc.as_bulk(), Some(if ints { &b"intset"[..] } else { &b"hashtable"[..] }), "{what}");

        // SRANDMEMBER with 0 < count < size: distinct members of the set,
        // nothing removed.
        for count in [1usize, 2, 5, 10, 15, 19] {
            let got = bulks(&c.ok(&["SRANDMEMBER", "s", &count.to_string()]));
            let distinct: Members = got.iter().cloned().collect();
            assert_eq!(got.len(), count, "{what}: SRANDMEMBER {count} length");
            assert_eq!(distinct.len(), count, "{what}: SRANDMEMBER {count} repeated a member");
            assert!(distinct.is_subset(&all), "{what}: SRANDMEMBER {count} invented a member");
        }
        assert_eq!(smembers(c, "s"), all, "{what}: SRANDMEMBER changed the set");

        // count >= size: the whole set, once each.
        for count in ["20", "21", "1000", "9223372036854775807"] {
            let got = bulks(&c.ok(&["SRANDMEMBER", "s", count]));
            assert_eq!(got.len(), 20, "{what}: SRANDMEMBER {count} length");
            assert_eq!(got.into_iter().collect::<Members>(), all, "{what}: SRANDMEMBER {count}");
        }

        // Negative count: exactly |count| members, repeats allowed, and
        // over many draws every member shows up and some repeat.
        let got = bulks(&c.ok(&["SRANDMEMBER", "s", "-1000"]));
        assert_eq!(got.len(), 1000, "{what}: SRANDMEMBER -1000 length");
        let mut freq: BTreeMap<Vec<u8>, usize> = BTreeMap::new();
        for m in &got {
            assert!(all.contains(m), "{what}: SRANDMEMBER -1000 invented a member");
            *freq.entry(m.clone()).or_default() += 1;
        }
        assert_eq!(freq.len(), 20, "{what}: 1000 draws from 20 members missed some");
        assert!(freq.values().all(|&n| n < 200), "{what}: draws far from uniform: {freq:?}");
        let got = bulks(&c.ok(&["SRANDMEMBER", "s", "-3"]));
        assert_eq!(got.len(), 3, "{what}: SRANDMEMBER -3");

        // Single SRANDMEMBER calls are random too, not stuck on one member.
        let singles: Members =
            (0..200).map(|_| c.ok(&["SRANDMEMBER", "s"]).as_bulk().expect("a member").to_vec()).collect();
        assert!(singles.len() > 10, "{what}: 200 SRANDMEMBER calls saw only {} members", singles.len());

        // SPOP with count < size removes exactly those members.
        let mut left = all.clone();
        for count in [1usize, 4, 7] {
            let got = bulks(&c.ok(&["SPOP", "s", &count.to_string()]));
            let popped: Members = got.iter().cloned().collect();
            assert_eq!(got.len(), count, "{what}: SPOP {count} length");
            assert_eq!(popped.len(), count, "{what}: SPOP {count} repeated a member");
            assert!(popped.is_subset(&left), "{what}: SPOP {count} returned a member not in the set");
            for m in &popped {
                left.remove(m);
                let r = c.ok(&[b"SISMEMBER".as_slice(), b"s", m.as_slice()]);
                assert_eq!(r, Reply::Int(0), "{what}: SPOP {count} left a popped member");
            }
            assert_eq!(smembers(c, "s"), left, "{what}: after SPOP {count}");
        }
        // SPOP without count.
        let one = c.ok(&["SPOP", "s"]).as_bulk().expect("a member").to_vec();
        assert!(left.remove(&one), "{what}: SPOP returned a member not in the set");
        assert_eq!(smembers(c, "s"), left, "{what}: after SPOP");
        // count >= size pops everything and deletes the key.
        let rest: Members = bulks(&c.ok(&["SPOP", "s", "100"])).into_iter().collect();
        assert_eq!(rest, left, "{what}: SPOP 100");
        assert_eq!(c.ok(&["EXISTS", "s"]), Reply::Int(0), "{what}: emptied set still exists");

        // Repeated SPOP of a fresh set picks different first members.
        let mut firsts = Members::new();
        for _ in 0..30 {
            fill(c, "s", 20, ints);
            firsts.insert(c.ok(&["SPOP", "s"]).as_bulk().expect("a member").to_vec());
        }
        assert!(firsts.len() > 3, "{what}: 30 SPOPs of a fresh set always popped one of {firsts:?}");
    }
}

#[test]
fn spop_and_srandmember_properties() {
    let redis = Server::redis(&[]);
    let rhea = Server::rhea(&[]);
    check_random_properties(&mut redis.conn(), "redis");
    check_random_properties(&mut rhea.conn(), "rhea");
}

#[test]
fn spop_keeps_a_big_intset_consistent() {
    // SPOP on an intset removes positions in one pass; check it against
    // SMEMBERS on a set near the intset limit.
    let rhea = Server::rhea(&[]);
    let mut c = rhea.conn();
    let mut left = fill(&mut c, "s", 500, true);
    while !left.is_empty() {
        let popped: Members = bulks(&c.ok(&["SPOP", "s", "37"])).into_iter().collect();
        assert!(popped.len() == 37 || popped.len() == left.len());
        assert!(popped.is_subset(&left));
        left.retain(|m| !popped.contains(m));
        if !left.is_empty() {
            assert_eq!(smembers(&mut c, "s"), left);
            assert_eq!(c.ok(&["OBJECT", "ENCODING", "s"]).as_bulk(), Some(&b"intset"[..]));
        }
    }
    assert_eq!(c.ok(&["EXISTS", "s"]), Reply::Int(0));
}

fn hits_misses(c: &mut Conn) -> (i64, i64) {
    let info = c.ok(&["INFO", "stats"]);
    let text = String::from_utf8_lossy(info.as_bulk().expect("INFO is a bulk string")).into_owned();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse::<i64>().ok()))
            .unwrap_or_else(|| panic!("no {name} in INFO stats"))
    };
    (field("keyspace_hits:"), field("keyspace_misses:"))
}

#[test]
fn keyspace_hits_and_misses_match_redis() {
    // Which commands count hits and misses (lookupKeyRead) and which do not
    // (lookupKeyWrite) is visible in INFO: compare the deltas per command.
    let redis = Server::redis(&[]);
    let rhea = Server::rhea(&[]);
    let script: &[&[&str]] = &[
        &["SADD", "a", "1", "2"],
        &["SADD", "b", "2", "x"],
        &["SREM", "a", "9"],
        &["SREM", "missing", "9"],
        &["SMEMBERS", "a"],
        &["SMEMBERS", "missing"],
        &["SISMEMBER", "a", "1"],
        &["SMISMEMBER", "missing", "1"],
        &["SCARD", "b"],
        &["SRANDMEMBER", "a"],
        &["SRANDMEMBER", "missing", "3"],
        &["SPOP", "missing"],
        &["SPOP", "b", "0"],
        &["SMOVE", "a", "c", "1"],
        &["SMOVE", "missing", "c", "1"],
        &["SINTER", "a", "missing", "b"],
        &["SUNION", "a", "b"],
        &["SDIFF", "missing", "a"],
        &["SINTERSTORE", "d", "a", "b"],
        &["SUNIONSTORE", "d", "a", "missing"],
        &["SDIFFSTORE", "d", "b", "a"],
        &["SINTERCARD", "2", "a", "missing"],
        &["SSCAN", "a", "0"],
        &["SSCAN", "missing", "0"],
    ];
    let (mut a, mut b) = (redis.conn(), rhea.conn());
    for cmd in script {
        let (ha, hb) = (hits_misses(&mut a), hits_misses(&mut b));
        a.ok(cmd);
        b.ok(cmd);
        let (ha2, hb2) = (hits_misses(&mut a), hits_misses(&mut b));
        assert_eq!(
            (ha2.0 - ha.0, ha2.1 - ha.1),
            (hb2.0 - hb.0, hb2.1 - hb.1),
            "{cmd:?}: (hits, misses) deltas differ (left redis, right rhea)"
        );
    }
}
