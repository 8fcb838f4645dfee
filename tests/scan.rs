//! SCAN as a whole iteration. Cursor values are Rhea's own (positions in its
//! keyspace vector), so they are never compared with Redis's: what must
//! match is the set of keys a complete scan returns, for every option
//! combination, and SCAN's guarantee that a key present for the whole
//! iteration is returned at least once even while others come and go.

mod common;

use std::collections::BTreeSet;

use common::{Conn, Reply, Server};

/// Runs `SCAN cursor <extra...>` until the cursor comes back to 0; returns
/// every key returned (with duplicates) and the number of calls.
fn full_scan(c: &mut Conn, extra: &[&str], mut between: impl FnMut(&mut Conn, &[Vec<u8>])) -> (Vec<Vec<u8>>, usize) {
    let mut cursor = b"0".to_vec();
    let mut all = Vec::new();
    let mut calls = 0;
    loop {
        let mut args: Vec<Vec<u8>> = vec![b"SCAN".to_vec(), cursor.clone()];
        args.extend(extra.iter().map(|a| a.as_bytes().to_vec()));
        let r = c.ok(&args);
        calls += 1;
        assert!(calls < 100_000, "SCAN never returned cursor 0");
        let Reply::Array(parts) = r else { panic!("SCAN reply is not an array: {r:?}") };
        let [next, keys] = &parts[..] else { panic!("SCAN reply has {} elements", parts.len()) };
        let next = next.as_bulk().expect("cursor is a bulk string").to_vec();
        let Reply::Array(keys) = keys else { panic!("SCAN keys are not an array: {keys:?}") };
        let batch: Vec<Vec<u8>> = keys.iter().map(|k| k.as_bulk().expect("key is a bulk string").to_vec()).collect();
        between(c, &batch);
        all.extend(batch);
        if next == b"0" {
            return (all, calls);
        }
        cursor = next;
    }
}

/// Sends all commands, then reads all replies (one round trip per batch).
fn pipeline(c: &mut Conn, cmds: &[Vec<String>]) {
    for cmd in cmds {
        c.send(cmd).expect("send");
    }
    for cmd in cmds {
        let r = c.read().expect("read");
        assert!(!r.is_error(), "{cmd:?} failed: {r:?}");
    }
}

fn populate(c: &mut Conn) {
    let mut cmds = Vec::new();
    for i in 0..1500 {
        let prefix = ["user", "order", "session"][i % 3];
        cmds.push(vec!["SET".into(), format!("{prefix}:{i}"), format!("v{i}")]);
    }
    // Expired keys must never be returned.
    for i in 0..200 {
        cmds.push(vec!["SET".into(), format!("gone:{i}"), "x".into(), "PX".into(), "1".into()]);
    }
    pipeline(c, &cmds);
    std::thread::sleep(std::time::Duration::from_millis(20));
}

fn as_set(keys: &[Vec<u8>]) -> BTreeSet<Vec<u8>> {
    keys.iter().cloned().collect()
}

#[test]
fn full_scans_return_the_same_keys_as_redis() {
    let redis = Server::redis(&[]);
    let rhea = Server::rhea(&[]);
    let mut a = redis.conn();
    let mut b = rhea.conn();
    populate(&mut a);
    populate(&mut b);
    let options: &[&[&str]] = &[
        &[],
        &["COUNT", "1"],
        &["COUNT", "7"],
        &["COUNT", "1000000"],
        &["MATCH", "user:*"],
        &["MATCH", "*:1?"],
        &["MATCH", "nothing*"],
        &["MATCH", "gone:*"],
        &["TYPE", "string"],
        &["TYPE", "list"],
        &["MATCH", "order:1*", "COUNT", "3", "TYPE", "STRING"],
    ];
    for opts in options {
        let (ka, _) = full_scan(&mut a, opts, |_, _| {});
        let (kb, calls) = full_scan(&mut b, opts, |_, _| {});
        let (sa, sb) = (as_set(&ka), as_set(&kb));
        assert_eq!(sa.len(), sb.len(), "SCAN {opts:?}: redis returned {} keys, rhea {}", sa.len(), sb.len());
        assert_eq!(sa, sb, "SCAN {opts:?}: different keys");
        // Without concurrent changes Rhea returns each key exactly once.
        assert_eq!(kb.len(), sb.len(), "SCAN {opts:?}: rhea returned duplicates");
        if opts.is_empty() {
            assert_eq!(sb.len(), 1500);
            assert!(calls > 1, "a 1500-key scan with COUNT 10 should take several calls");
        }
    }
}

#[test]
fn keys_present_throughout_are_returned_despite_changes() {
    let rhea = Server::rhea(&[]);
    let mut c = rhea.conn();
    populate(&mut c);
    let mut deleted = BTreeSet::new();
    let mut added = 0;
    let (keys, _) = full_scan(&mut c, &["COUNT", "5"], |c, batch| {
        // Delete a key just returned and one not returned yet; add new ones.
        if let Some(k) = batch.first() {
            c.ok(&[b"DEL".as_slice(), k.as_slice()]);
            deleted.insert(k.clone());
        }
        let victim = format!("user:{}", added * 3);
        c.ok(&["DEL", &victim]);
        deleted.insert(victim.into_bytes());
        c.ok(&["SET", &format!("new:{added}"), "v"]);
        added += 1;
    });
    let seen = as_set(&keys);
    let mut missing = Vec::new();
    for i in 0..1500 {
        let prefix = ["user", "order", "session"][i % 3];
        let k = format!("{prefix}:{i}").into_bytes();
        if !deleted.contains(&k) && !seen.contains(&k) {
            missing.push(String::from_utf8_lossy(&k).into_owned());
        }
    }
    assert!(missing.is_empty(), "keys present for the whole scan but never returned: {missing:?}");
    assert!(!seen.iter().any(|k| k.starts_with(b"gone:")), "expired keys returned");
}
