//! A linearizability checker for single-key registers (GET, SET, a CAS
//! script, INCR): the Wing & Gong search with Lowe's memoization, as
//! Porcupine implements it, run per key (registers are independent, so a
//! history is linearizable iff each key's sub-history is).
//!
//! Failed operations (definitely not executed) are dropped, as are reads
//! whose outcome is unknown (they have no effect). An unknown write gets an
//! infinite completion time: it may be linearized anywhere after its
//! invocation, including after every other operation, which is the same as
//! never taking effect.

use std::collections::{BTreeMap, HashSet};

use super::history::{Input, Op, Outcome, Output};

/// The register's value (None = key absent).
type State = Option<String>;

/// The model: the state after `op`, or None if `op`'s recorded output is
/// impossible in `state`.
fn step(state: &State, op: &Op) -> Option<State> {
    let out = match &op.outcome {
        Outcome::Ok(o) => Some(o),
        Outcome::Unknown(_) => None,
        Outcome::Fail(_) => return None,
    };
    match (&op.input, out) {
        (Input::Get, Some(Output::Value(v))) => (v == state).then(|| state.clone()),
        (Input::Get, _) => None,
        (Input::Set(v), None | Some(Output::Done)) => Some(Some(v.clone())),
        (Input::Cas { from, to }, None) => Some(if state == from { Some(to.clone()) } else { state.clone() }),
        (Input::Cas { from, to }, Some(Output::Swapped(true))) => (state == from).then(|| Some(to.clone())),
        (Input::Cas { from, .. }, Some(Output::Swapped(false))) => (state != from).then(|| state.clone()),
        (Input::Incr, out) => {
            let cur = match state {
                None => 0,
                Some(s) => s.parse::<i64>().ok()?,
            };
            let next = cur.checked_add(1)?;
            match out {
                None => Some(Some(next.to_string())),
                Some(Output::Int(n)) if *n == next => Some(Some(next.to_string())),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Operations the register model understands.
fn is_register_op(op: &Op) -> bool {
    matches!(op.input, Input::Get | Input::Set(_) | Input::Cas { .. } | Input::Incr)
}

/// Outcome of a check.
#[derive(Debug)]
pub enum Verdict {
    Linearizable,
    /// Not linearizable; a human-readable explanation.
    Violation(String),
    /// The search exceeded its budget (too many concurrent unknown ops).
    GaveUp(String),
}

/// Checks every key's register history; Ok with per-key op counts, or the
/// first key that is not linearizable with an explanation.
pub fn check_registers(ops: &[Op]) -> Result<String, String> {
    check_registers_with_budget(ops, 50_000_000)
}

pub fn check_registers_with_budget(ops: &[Op], budget: u64) -> Result<String, String> {
    let mut by_key: BTreeMap<&str, Vec<&Op>> = BTreeMap::new();
    for op in ops.iter().filter(|o| is_register_op(o)) {
        by_key.entry(&op.key).or_default().push(op);
    }
    let mut report = Vec::new();
    for (key, key_ops) in &by_key {
        match check_key(key_ops, budget) {
            Verdict::Linearizable => report.push(format!("{key}: {} ops linearizable", key_ops.len())),
            Verdict::Violation(why) => return Err(format!("key {key:?} is not linearizable: {why}")),
            Verdict::GaveUp(why) => return Err(format!("key {key:?}: checker gave up: {why}")),
        }
    }
    Ok(report.join("; "))
}

const NIL: usize = usize::MAX;

/// Wall-clock limit of one key's search.
const TIME_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

struct Entry {
    /// Index into the key's op list.
    op: usize,
    is_call: bool,
    /// For a call: the index of its return entry.
    matching: usize,
    prev: usize,
    next: usize,
}

/// Checks one key's operations (any order).
pub fn check_key(all: &[&Op], budget: u64) -> Verdict {
    let ops: Vec<&Op> =
        all.iter().copied().filter(|o| !(o.is_fail() || o.is_unknown() && matches!(o.input, Input::Get))).collect();
    if ops.is_empty() {
        return Verdict::Linearizable;
    }
    // Events: (time, kind (0 = call, 1 = return), op). Calls sort before
    // returns at equal times, so touching operations count as concurrent.
    let mut events: Vec<(u64, u8, usize)> = Vec::with_capacity(ops.len() * 2);
    for (i, o) in ops.iter().enumerate() {
        let ret = if o.is_unknown() { u64::MAX } else { o.complete.max(o.invoke) };
        events.push((o.invoke, 0, i));
        events.push((ret, 1, i));
    }
    events.sort();
    // Entry 0 is the list head; event k is entry k + 1.
    let mut entries: Vec<Entry> = Vec::with_capacity(events.len() + 1);
    entries.push(Entry { op: NIL, is_call: false, matching: NIL, prev: NIL, next: 1 });
    let mut ret_entry = vec![NIL; ops.len()];
    for (k, &(_, kind, op)) in events.iter().enumerate() {
        let idx = k + 1;
        if kind == 1 {
            ret_entry[op] = idx;
        }
        let next = if k + 1 < events.len() { idx + 1 } else { NIL };
        entries.push(Entry { op, is_call: kind == 0, matching: NIL, prev: idx - 1, next });
    }
    for e in entries.iter_mut().skip(1) {
        if e.is_call {
            e.matching = ret_entry[e.op];
        }
    }

    let words = ops.len().div_ceil(64);
    let mut linearized = vec![0u64; words];
    let mut cache: HashSet<(Vec<u64>, State)> = HashSet::new();
    let mut stack: Vec<(usize, State)> = Vec::new();
    let mut state: State = None;
    let mut entry = entries[0].next;
    let mut steps: u64 = 0;
    let started = std::time::Instant::now();
    // The deepest point reached, for the explanation.
    let mut best: (usize, Vec<u64>, State) = (0, linearized.clone(), None);

    fn lift(entries: &mut [Entry], e: usize) {
        let (p, n) = (entries[e].prev, entries[e].next);
        entries[p].next = n;
        if n != NIL {
            entries[n].prev = p;
        }
        let m = entries[e].matching;
        let (mp, mn) = (entries[m].prev, entries[m].next);
        entries[mp].next = mn;
        if mn != NIL {
            entries[mn].prev = mp;
        }
    }
    fn unlift(entries: &mut [Entry], e: usize) {
        let m = entries[e].matching;
        let (mp, mn) = (entries[m].prev, entries[m].next);
        entries[mp].next = m;
        if mn != NIL {
            entries[mn].prev = m;
        }
        let (p, n) = (entries[e].prev, entries[e].next);
        entries[p].next = e;
        if n != NIL {
            entries[n].prev = e;
        }
    }

    while entries[0].next != NIL {
        steps += 1;
        if steps > budget || (steps & 0xFFFF == 0 && started.elapsed() > TIME_LIMIT) {
            return Verdict::GaveUp(format!(
                "{} ops, {steps} search steps in {:?} without a verdict",
                ops.len(),
                started.elapsed()
            ));
        }
        if entry == NIL {
            // Cannot happen: a return always follows its call.
            return Verdict::GaveUp("internal error: ran off the event list".into());
        }
        if entries[entry].is_call {
            let o = entries[entry].op;
            if let Some(next_state) = step(&state, ops[o]) {
                let mut next_lin = linearized.clone();
                next_lin[o / 64] |= 1 << (o % 64);
                if cache.insert((next_lin.clone(), next_state.clone())) {
                    stack.push((entry, state));
                    state = next_state;
                    linearized = next_lin;
                    if stack.len() > best.0 {
                        best = (stack.len(), linearized.clone(), state.clone());
                    }
                    lift(&mut entries, entry);
                    entry = entries[0].next;
                    continue;
                }
            }
            entry = entries[entry].next;
        } else {
            // A return whose call was not linearized yet: backtrack.
            let Some((e, s)) = stack.pop() else {
                return Verdict::Violation(explain(&ops, &best.1, &best.2));
            };
            let o = entries[e].op;
            linearized[o / 64] &= !(1 << (o % 64));
            state = s;
            unlift(&mut entries, e);
            entry = entries[e].next;
        }
    }
    Verdict::Linearizable
}

/// Describes the deepest linearization found: its length, the register's
/// value there, and the earliest operations that could not follow it.
fn explain(ops: &[&Op], lin: &[u64], state: &State) -> String {
    let done = |i: usize| lin[i / 64] & (1 << (i % 64)) != 0;
    let n_done = (0..ops.len()).filter(|&i| done(i)).count();
    let mut rest: Vec<&Op> = (0..ops.len()).filter(|&i| !done(i)).map(|i| ops[i]).collect();
    rest.sort_by_key(|o| (if o.is_unknown() { u64::MAX } else { o.complete }, o.invoke));
    let mut s = format!(
        "{} ops; the longest linearizable prefix has {n_done}, leaving the value {state:?}; \
         the first operations that cannot follow it (by completion):",
        ops.len()
    );
    for o in rest.iter().take(8) {
        s.push_str(&format!("\n    {o}"));
    }
    let last_done: Vec<&Op> = {
        let mut v: Vec<&Op> = (0..ops.len()).filter(|&i| done(i)).map(|i| ops[i]).collect();
        v.sort_by_key(|o| std::cmp::Reverse(o.complete));
        v.into_iter().take(4).collect()
    };
    if !last_done.is_empty() {
        s.push_str("\n  latest operations of that prefix:");
        for o in last_done {
            s.push_str(&format!("\n    {o}"));
        }
    }
    s
}
