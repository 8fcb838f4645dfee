//! The list-append checker, after Jepsen's Redis workload: clients RPUSH
//! unique values onto a few keys and read whole lists with LRANGE. Per key:
//!
//! - every read is a prefix of one total order (the longest read), holds no
//!   duplicate, and only values somebody tried to append, never a value
//!   whose append definitely failed;
//! - an acknowledged append that completed before a read began is in that
//!   read (no lost or stale acknowledged element);
//! - a read that completed before another began is a prefix of it (reads
//!   never go back in time);
//! - an append that completed before another began comes first in the
//!   order (no reordering), and an acknowledged RPUSH that returned length
//!   n sits at index n - 1.
//!
//! Final reads taken from every node after the cluster converged are just
//! more reads: record them after every other operation and the rules above
//! demand that every acknowledged append is on every node.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::history::{Input, Op, Outcome, Output};

/// Checks every key; Ok with a short report, or every anomaly found.
pub fn check_lists(ops: &[Op]) -> Result<String, Vec<String>> {
    let mut by_key: BTreeMap<&str, Vec<&Op>> = BTreeMap::new();
    for op in ops.iter().filter(|o| matches!(o.input, Input::Append(_) | Input::ReadList)) {
        by_key.entry(&op.key).or_default().push(op);
    }
    let mut anomalies = Vec::new();
    let mut report = Vec::new();
    for (key, key_ops) in &by_key {
        let before = anomalies.len();
        let longest = check_key(key, key_ops, &mut anomalies);
        if anomalies.len() == before {
            let reads = key_ops.iter().filter(|o| matches!(o.input, Input::ReadList) && o.is_ok()).count();
            report.push(format!("{key}: {longest} elements, {} ops, {reads} reads", key_ops.len()));
        }
    }
    if anomalies.is_empty() {
        return Ok(report.join("; "));
    }
    Err(anomalies)
}

fn read_of(op: &Op) -> Option<&[String]> {
    match (&op.input, &op.outcome) {
        (Input::ReadList, Outcome::Ok(Output::List(v))) => Some(v),
        _ => None,
    }
}

/// Returns the length of the longest read.
/// Collects anomalies, at most `CAP` per key (the rest are only counted).
struct Anomalies<'a> {
    out: &'a mut Vec<String>,
    n: usize,
}

const CAP: usize = 25;

impl Anomalies<'_> {
    fn push(&mut self, f: impl FnOnce() -> String) {
        self.n += 1;
        if self.n <= CAP {
            self.out.push(f());
        }
    }
}

fn check_key(key: &str, ops: &[&Op], out: &mut Vec<String>) -> usize {
    let mut anomalies = Anomalies { out, n: 0 };
    let n = check_key_into(key, ops, &mut anomalies);
    if anomalies.n > CAP {
        let more = anomalies.n - CAP;
        anomalies.out.push(format!("{key}: ... and {more} more anomalies"));
    }
    n
}

fn check_key_into(key: &str, ops: &[&Op], anomalies: &mut Anomalies) -> usize {
    // Appended values and their operations.
    let mut appends: HashMap<&str, &Op> = HashMap::new();
    for o in ops {
        if let Input::Append(v) = &o.input {
            if let Some(prev) = appends.insert(v, o) {
                anomalies.push(|| format!("{key}: harness bug: {v:?} appended twice ({prev} and {o})"));
            }
        }
    }
    let reads: Vec<(&Op, &[String])> = ops.iter().filter_map(|o| read_of(o).map(|r| (*o, r))).collect();

    // Each read on its own.
    for (o, r) in &reads {
        let mut seen = HashSet::new();
        for v in r.iter() {
            if !seen.insert(v) {
                anomalies.push(|| format!("{key}: duplicate element {v:?} in read {o}"));
            }
            match appends.get(v.as_str()) {
                None => anomalies.push(|| format!("{key}: element {v:?} was never appended, in read {o}")),
                Some(a) if a.is_fail() => {
                    anomalies.push(|| format!("{key}: append of {v:?} failed ({a}) but took effect: read {o}"))
                }
                Some(a) if a.invoke > o.complete => {
                    anomalies.push(|| format!("{key}: read {o} saw {v:?} before its append was invoked ({a})"))
                }
                _ => {}
            }
        }
    }

    // One total order: the longest read; every read must be a prefix of it.
    let Some(&(longest_op, longest)) = reads.iter().max_by_key(|(_, r)| r.len()) else {
        return 0;
    };
    for (o, r) in &reads {
        if let Some(i) = (0..r.len()).find(|&i| r[i] != longest[i]) {
            anomalies.push(|| {
                format!(
                    "{key}: reads disagree at index {i} ({:?} vs {:?}): {o} is not a prefix of {longest_op}",
                    r[i], longest[i]
                )
            });
        }
    }
    let position: HashMap<&str, usize> = longest.iter().enumerate().map(|(i, v)| (v.as_str(), i)).collect();

    // Real time: acknowledged appends before a read are in it.
    let mut acked: Vec<(&Op, &str)> = appends.iter().filter(|(_, a)| a.is_ok()).map(|(v, a)| (*a, *v)).collect();
    acked.sort_by_key(|(a, _)| a.complete);
    for (o, r) in &reads {
        let in_read: HashSet<&str> = r.iter().map(|s| s.as_str()).collect();
        for (a, v) in acked.iter().take_while(|(a, _)| a.complete < o.invoke) {
            if !in_read.contains(v) {
                anomalies.push(|| format!("{key}: acknowledged append {a} is missing from the later read {o}"));
            }
        }
    }
    // Reads never go back in time.
    let mut by_complete: Vec<&(&Op, &[String])> = reads.iter().collect();
    by_complete.sort_by_key(|(o, _)| o.complete);
    for (o2, r2) in &reads {
        // The longest read that completed before o2 began.
        if let Some((o1, r1)) =
            by_complete.iter().take_while(|(o1, _)| o1.complete < o2.invoke).max_by_key(|(_, r1)| r1.len())
        {
            if r1.len() > r2.len() {
                anomalies.push(|| {
                    format!(
                        "{key}: stale read: {o2} has {} elements but {o1} completed before it with {}",
                        r2.len(),
                        r1.len()
                    )
                });
            }
        }
    }
    // Appends in real-time order appear in that order; RPUSH's length is the index.
    let mut placed: Vec<(&Op, usize)> =
        appends.iter().filter(|(_, a)| !a.is_fail()).filter_map(|(v, a)| position.get(v).map(|&p| (*a, p))).collect();
    placed.sort_by_key(|(a, _)| a.invoke);
    for &(b, pb) in &placed {
        // Every append acknowledged before b began must precede it.
        for (a, v) in acked.iter().take_while(|(a, _)| a.complete < b.invoke) {
            match position.get(v) {
                None => anomalies.push(|| {
                    format!(
                        "{key}: lost: acknowledged append {a} completed before {b} began, \
                     which is in the list, but it is not"
                    )
                }),
                Some(&pa) if pa > pb => anomalies.push(|| {
                    format!("{key}: reordered: {a} completed before {b} began, yet sits at index {pa} after index {pb}")
                }),
                _ => {}
            }
        }
        if let Outcome::Ok(Output::Int(n)) = &b.outcome {
            if *n != pb as i64 + 1 {
                anomalies.push(|| format!("{key}: {b} returned length {n} but the element is at index {pb}"));
            }
        }
    }
    longest.len()
}
