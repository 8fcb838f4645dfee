//! Sorted-set behaviour the line-by-line differential cases cannot pin down:
//! complete ZSCAN iterations over skiplist-encoded sets (cursor values are
//! Rhea's own, so only the member/score pairs a full scan returns are
//! compared with Redis), the scan guarantee while members come and go, and
//! the properties of ZRANDMEMBER's random picks. Every check also runs
//! against redis-server, which proves the checks themselves are right.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{Conn, Reply, Server};

type Pairs = BTreeMap<Vec<u8>, Vec<u8>>;
type Pair = (Vec<u8>, Vec<u8>);

fn bulks(r: &Reply) -> Vec<Vec<u8>> {
    match r {
        Reply::Array(v) => v.iter().map(|m| m.as_bulk().expect("element is a bulk string").to_vec()).collect(),
        other => panic!("expected an array, got {other:?}"),
    }
}

/// Runs `ZSCAN key cursor <extra...>` until the cursor returns to 0, calling
/// `between` after each batch; returns every (member, score) returned,
/// duplicates included, and the number of calls.
fn full_zscan(
    c: &mut Conn,
    key: &str,
    extra: &[&str],
    mut between: impl FnMut(&mut Conn, &[Pair]),
) -> (Vec<Pair>, usize) {
    let mut cursor = b"0".to_vec();
    let mut all = Vec::new();
    let mut calls = 0;
    loop {
        let mut args: Vec<Vec<u8>> = vec![b"ZSCAN".to_vec(), key.as_bytes().to_vec(), cursor.clone()];
        args.extend(extra.iter().map(|a| a.as_bytes().to_vec()));
        let r = c.ok(&args);
        calls += 1;
        assert!(calls < 100_000, "ZSCAN never returned cursor 0");
        let Reply::Array(parts) = r else { panic!("ZSCAN reply is not an array: {r:?}") };
        let [next, items] = &parts[..] else { panic!("ZSCAN reply has {} elements", parts.len()) };
        let next = next.as_bulk().expect("cursor is a bulk string").to_vec();
        let flat = bulks(items);
        assert!(flat.len() & 1 == 0, "odd number of ZSCAN elements");
        let batch: Vec<Pair> = flat.chunks(2).map(|p| (p[0].clone(), p[1].clone())).collect();
        between(c, &batch);
        all.extend(batch);
        if next == b"0" {
            return (all, calls);
        }
        cursor = next;
    }
}

fn populate(c: &mut Conn, key: &str, n: usize) {
    let mut args = vec!["ZADD".to_string(), key.to_string()];
    for i in 0..n {
        let score = match i % 4 {
            0 => format!("{i}"),
            1 => format!("{}.5", i),
            2 => format!("-{i}e-3"),
            _ => "0.1".to_string(),
        };
        args.push(score);
        args.push(format!("member:{i}"));
    }
    assert_eq!(c.ok(&args), Reply::Int(n as i64));
}

/// The pairs ZRANGE 0 -1 WITHSCORES reports, the reference for a scan.
fn range_pairs(c: &mut Conn, key: &str) -> Pairs {
    let flat = bulks(&c.ok(&["ZRANGE", key, "0", "-1", "WITHSCORES"]));
    flat.chunks(2).map(|p| (p[0].clone(), p[1].clone())).collect()
}

fn check_full_scans(s: &Server) {
    let mut c = s.conn();
    c.ok(&["FLUSHALL"]);
    populate(&mut c, "big", 1000);
    assert_eq!(c.ok(&["OBJECT", "ENCODING", "big"]), Reply::Bulk(b"skiplist".to_vec()));
    let want = range_pairs(&mut c, "big");
    assert_eq!(want.len(), 1000);
    for extra in [&[][..], &["COUNT", "1"], &["COUNT", "7"], &["COUNT", "1000"], &["COUNT", "5000"]] {
        let (got, calls) = full_zscan(&mut c, "big", extra, |_, _| {});
        let got_map: Pairs = got.iter().cloned().collect();
        assert_eq!(got_map, want, "{}: ZSCAN {extra:?} misses or changes members", s.name);
        if extra.is_empty() {
            assert!(calls > 10, "{}: a default COUNT should take many calls, took {calls}", s.name);
        }
    }
    let (got, _) = full_zscan(&mut c, "big", &["MATCH", "member:1*", "COUNT", "50"], |_, _| {});
    let got_map: Pairs = got.into_iter().collect();
    let want_match: Pairs =
        want.iter().filter(|(m, _)| m.starts_with(b"member:1")).map(|(m, s)| (m.clone(), s.clone())).collect();
    assert_eq!(got_map, want_match, "{}: ZSCAN MATCH", s.name);
}

#[test]
fn full_zscan_of_a_skiplist_returns_every_member_with_its_score() {
    let redis = Server::redis(&[]);
    let rhea = Server::rhea(&[]);
    check_full_scans(&redis);
    check_full_scans(&rhea);
}

/// Members present for the whole scan are returned even while others are
/// removed and added between calls.
fn check_scan_guarantee(s: &Server) {
    let mut c = s.conn();
    c.ok(&["FLUSHALL"]);
    populate(&mut c, "z", 600);
    let mut step = 0;
    let (got, _) = full_zscan(&mut c, "z", &["COUNT", "13"], |c, _| {
        // Remove one of the first 100 and add a newcomer on every call.
        if step < 100 {
            c.ok(&["ZREM", "z", &format!("member:{step}")]);
        }
        c.ok(&["ZADD", "z", "7", &format!("new:{step}")]);
        step += 1;
    });
    let seen: BTreeSet<Vec<u8>> = got.into_iter().map(|(m, _)| m).collect();
    for i in 100..600 {
        let m = format!("member:{i}").into_bytes();
        assert!(seen.contains(&m), "{}: member:{i} was present throughout but not returned", s.name);
    }
}

#[test]
fn zscan_returns_stable_members_despite_changes() {
    let redis = Server::redis(&[]);
    let rhea = Server::rhea(&[]);
    check_scan_guarantee(&redis);
    check_scan_guarantee(&rhea);
}

/// ZRANDMEMBER: distinct picks for a positive count, repetitions allowed for
/// a negative one, every pick a member with its real score, and over many
/// calls every member gets picked.
fn check_randmember(s: &Server, encoding_entries: &str) {
    let mut c = s.conn();
    c.ok(&["FLUSHALL"]);
    c.ok(&["CONFIG", "SET", "zset-max-listpack-entries", encoding_entries]);
    populate(&mut c, "z", 50);
    let want = range_pairs(&mut c, "z");
    let mut seen = BTreeSet::new();
    for _ in 0..200 {
        let flat = bulks(&c.ok(&["ZRANDMEMBER", "z", "10", "WITHSCORES"]));
        assert_eq!(flat.len(), 20);
        let members: BTreeSet<&Vec<u8>> = flat.chunks(2).map(|p| &p[0]).collect();
        assert_eq!(members.len(), 10, "{}: positive count gave duplicates", s.name);
        for p in flat.chunks(2) {
            assert_eq!(want.get(&p[0]), Some(&p[1]), "{}: wrong score for a pick", s.name);
            seen.insert(p[0].clone());
        }
        let flat = bulks(&c.ok(&["ZRANDMEMBER", "z", "-80"]));
        assert_eq!(flat.len(), 80);
        assert!(flat.iter().all(|m| want.contains_key(m)));
        let distinct: BTreeSet<&Vec<u8>> = flat.iter().collect();
        assert!(distinct.len() < 80, "{}: 80 picks out of 50 must repeat", s.name);
        let flat = bulks(&c.ok(&["ZRANDMEMBER", "z", "45"]));
        let distinct: BTreeSet<&Vec<u8>> = flat.iter().collect();
        assert_eq!(distinct.len(), 45, "{}: count close to the size must still be distinct", s.name);
    }
    assert_eq!(seen.len(), 50, "{}: some members were never picked", s.name);
    c.ok(&["CONFIG", "SET", "zset-max-listpack-entries", "128"]);
}

#[test]
fn zrandmember_picks_have_the_right_shape() {
    let redis = Server::redis(&[]);
    let rhea = Server::rhea(&[]);
    for entries in ["128", "1"] {
        check_randmember(&redis, entries);
        check_randmember(&rhea, entries);
    }
}
