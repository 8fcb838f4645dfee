//! HSCAN over hash-table hashes as whole iterations (cursor values are
//! Rhea's own, so only the pairs a complete scan returns are compared with
//! Redis), and HRANDFIELD's properties, which a differential case can only
//! check by type: distinct fields for a positive count, the whole hash when
//! the count exceeds it, repeats allowed and every field reachable for a
//! negative count, values belonging to their fields.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{Conn, Reply, Server};

/// Runs `HSCAN key cursor <extra...>` until the cursor comes back to 0;
/// returns every (field, value) pair returned, duplicates included.
fn full_hscan(
    c: &mut Conn,
    key: &str,
    extra: &[&str],
    mut between: impl FnMut(&mut Conn, &[(Vec<u8>, Vec<u8>)]),
) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut cursor = b"0".to_vec();
    let mut all = Vec::new();
    let mut calls = 0;
    loop {
        let mut args: Vec<Vec<u8>> = vec![b"HSCAN".to_vec(), key.as_bytes().to_vec(), cursor.clone()];
        args.extend(extra.iter().map(|a| a.as_bytes().to_vec()));
        let r = c.ok(&args);
        calls += 1;
        assert!(calls < 100_000, "HSCAN never returned cursor 0");
        let Reply::Array(parts) = r else { panic!("HSCAN reply is not an array: {r:?}") };
        let [next, items] = &parts[..] else { panic!("HSCAN reply has {} elements", parts.len()) };
        let next = next.as_bulk().expect("cursor is a bulk string").to_vec();
        let Reply::Array(items) = items else { panic!("HSCAN items are not an array: {items:?}") };
        assert!(items.len() % 2 == 0, "HSCAN returned an odd number of items");
        let batch: Vec<(Vec<u8>, Vec<u8>)> = items
            .chunks(2)
            .map(|p| (p[0].as_bulk().expect("field").to_vec(), p[1].as_bulk().expect("value").to_vec()))
            .collect();
        between(c, &batch);
        all.extend(batch);
        if next == b"0" {
            return all;
        }
        cursor = next;
    }
}

fn populate(c: &mut Conn, key: &str, n: usize) {
    for chunk in (0..n).collect::<Vec<_>>().chunks(100) {
        let mut args = vec!["HSET".to_string(), key.to_string()];
        for i in chunk {
            let prefix = ["user", "order", "session"][i % 3];
            args.push(format!("{prefix}:{i}"));
            args.push(format!("v{i}"));
        }
        c.ok(&args);
    }
}

fn as_map(pairs: &[(Vec<u8>, Vec<u8>)]) -> BTreeMap<Vec<u8>, Vec<u8>> {
    pairs.iter().cloned().collect()
}

#[test]
fn full_hscans_return_the_same_pairs_as_redis() {
    let redis = Server::redis(&[]);
    let rhea = Server::rhea(&[]);
    let mut a = redis.conn();
    let mut b = rhea.conn();
    populate(&mut a, "h", 1000);
    populate(&mut b, "h", 1000);
    assert_eq!(b.ok(&["OBJECT", "ENCODING", "h"]), Reply::Bulk(b"hashtable".to_vec()));
    let options: &[&[&str]] = &[
        &[],
        &["COUNT", "1"],
        &["COUNT", "7"],
        &["COUNT", "1000000"],
        &["MATCH", "user:*"],
        &["MATCH", "*:1?"],
        &["MATCH", "nothing*"],
        &["MATCH", "order:1*", "COUNT", "3"],
    ];
    for opts in options {
        let pa = full_hscan(&mut a, "h", opts, |_, _| {});
        let pb = full_hscan(&mut b, "h", opts, |_, _| {});
        let (ma, mb) = (as_map(&pa), as_map(&pb));
        assert_eq!(ma.len(), mb.len(), "HSCAN {opts:?}: redis returned {} pairs, rhea {}", ma.len(), mb.len());
        assert_eq!(ma, mb, "HSCAN {opts:?}: different pairs");
        // Without concurrent changes Rhea returns each pair exactly once.
        assert_eq!(pb.len(), mb.len(), "HSCAN {opts:?}: rhea returned duplicates");
    }
    // A small hash is listpack-encoded and scanned in one call.
    b.ok(&["HSET", "small", "a", "1", "b", "2"]);
    let r = b.ok(&["HSCAN", "small", "0", "COUNT", "1"]);
    let Reply::Array(parts) = r else { panic!("not an array") };
    assert_eq!(parts[0], Reply::Bulk(b"0".to_vec()));
}

#[test]
fn fields_present_throughout_are_returned_despite_changes() {
    let rhea = Server::rhea(&[]);
    let mut c = rhea.conn();
    populate(&mut c, "h", 1000);
    let mut deleted = BTreeSet::new();
    let mut added = 0;
    let pairs = full_hscan(&mut c, "h", &["COUNT", "5"], |c, batch| {
        // Delete a field just returned and one not returned yet; add new ones.
        if let Some((f, _)) = batch.first() {
            c.ok(&[b"HDEL".as_slice(), b"h", f.as_slice()]);
            deleted.insert(f.clone());
        }
        let victim = format!("user:{}", added * 3);
        c.ok(&["HDEL", "h", &victim]);
        deleted.insert(victim.into_bytes());
        c.ok(&["HSET", "h", &format!("new:{added}"), "v"]);
        added += 1;
    });
    let seen = as_map(&pairs);
    let mut missing = Vec::new();
    for i in 0..1000 {
        let prefix = ["user", "order", "session"][i % 3];
        let f = format!("{prefix}:{i}").into_bytes();
        if !deleted.contains(&f) && !seen.contains_key(&f) {
            missing.push(String::from_utf8_lossy(&f).into_owned());
        }
    }
    assert!(missing.is_empty(), "fields present for the whole scan but never returned: {missing:?}");
}

fn bulks(r: &Reply) -> Vec<Vec<u8>> {
    let Reply::Array(items) = r else { panic!("not an array: {r:?}") };
    items.iter().map(|i| i.as_bulk().expect("bulk").to_vec()).collect()
}

/// HRANDFIELD's guarantees, for a listpack and for a hash table.
#[test]
fn hrandfield_counts_behave_as_documented() {
    let rhea = Server::rhea(&[]);
    let mut c = rhea.conn();
    // "lp": 10 fields, listpack; "ht": 200 fields, hash table.
    populate(&mut c, "lp", 10);
    populate(&mut c, "ht", 200);
    assert_eq!(c.ok(&["OBJECT", "ENCODING", "lp"]), Reply::Bulk(b"listpack".to_vec()));
    assert_eq!(c.ok(&["OBJECT", "ENCODING", "ht"]), Reply::Bulk(b"hashtable".to_vec()));
    for (key, size) in [("lp", 10usize), ("ht", 200)] {
        let all: BTreeMap<Vec<u8>, Vec<u8>> = {
            let r = c.ok(&["HGETALL", key]);
            let v = bulks(&r);
            v.chunks(2).map(|p| (p[0].clone(), p[1].clone())).collect()
        };
        assert_eq!(all.len(), size);

        // Positive counts below the size: distinct fields, exactly count.
        for count in [1, 2, size / 3, size / 2, size - 1] {
            for _ in 0..20 {
                let fields = bulks(&c.ok(&["HRANDFIELD", key, &count.to_string()]));
                assert_eq!(fields.len(), count, "{key} HRANDFIELD {count}");
                let distinct: BTreeSet<_> = fields.iter().collect();
                assert_eq!(distinct.len(), count, "{key} HRANDFIELD {count} repeated a field: {fields:?}");
                assert!(fields.iter().all(|f| all.contains_key(f)));
            }
        }
        // Count at or above the size: the whole hash.
        for count in [size, size + 1, 1_000_000] {
            let fields = bulks(&c.ok(&["HRANDFIELD", key, &count.to_string()]));
            assert_eq!(fields.iter().cloned().collect::<BTreeSet<_>>(), all.keys().cloned().collect());
            assert_eq!(fields.len(), size);
        }
        // WITHVALUES: each value is its field's.
        let flat = bulks(&c.ok(&["HRANDFIELD", key, "-50", "WITHVALUES"]));
        assert_eq!(flat.len(), 100);
        for p in flat.chunks(2) {
            assert_eq!(all.get(&p[0]), Some(&p[1]), "value does not belong to its field");
        }
        let flat = bulks(&c.ok(&["HRANDFIELD", key, "5", "WITHVALUES"]));
        assert_eq!(flat.len(), 10);
        for p in flat.chunks(2) {
            assert_eq!(all.get(&p[0]), Some(&p[1]), "value does not belong to its field");
        }
        // Negative counts: exactly |count| picks, repeats allowed, and
        // (over many picks) roughly uniform over every field.
        let picks = size * 100;
        let fields = bulks(&c.ok(&["HRANDFIELD", key, &format!("-{picks}")]));
        assert_eq!(fields.len(), picks);
        let mut hits: BTreeMap<Vec<u8>, usize> = BTreeMap::new();
        for f in fields {
            *hits.entry(f).or_default() += 1;
        }
        assert_eq!(hits.len(), size, "{key}: some field never picked");
        assert!(hits.values().all(|&n| (40..=160).contains(&n)), "{key}: skewed picks {hits:?}");
        // A single random field is one of the hash's.
        let r = c.ok(&["HRANDFIELD", key]);
        assert!(all.contains_key(r.as_bulk().expect("bulk")));
    }
    // Positive counts pick every field over many calls (no field starved).
    let mut seen = BTreeSet::new();
    for _ in 0..300 {
        seen.extend(bulks(&c.ok(&["HRANDFIELD", "ht", "20"])));
    }
    assert_eq!(seen.len(), 200, "HRANDFIELD ht 20 never returned some fields");
}
