//! The consistency checkers on synthetic histories: ones that must pass and
//! ones that must fail (stale reads, lost writes, reordered lists...). A
//! checker that cannot fail proves nothing.

mod common;

use common::history::{History, Input, Op, Outcome, Output};
use common::linearizability::{check_registers, check_registers_with_budget};
use common::list_append::check_lists;

fn ok(o: Output) -> Outcome {
    Outcome::Ok(o)
}
fn val(v: &str) -> Outcome {
    Outcome::Ok(Output::Value(Some(v.into())))
}
fn nil() -> Outcome {
    Outcome::Ok(Output::Value(None))
}
fn done() -> Outcome {
    Outcome::Ok(Output::Done)
}
fn unknown() -> Outcome {
    Outcome::Unknown("timeout".into())
}
fn fail() -> Outcome {
    Outcome::Fail("CLUSTERDOWN No leader".into())
}
fn set(v: &str) -> Input {
    Input::Set(v.into())
}

/// Builds a history from (process, key, input, invoke, complete, outcome).
fn hist(ops: Vec<(usize, &str, Input, u64, u64, Outcome)>) -> Vec<Op> {
    let h = History::new();
    for (p, k, i, a, b, o) in ops {
        h.push(p, k, i, a, b, o);
    }
    h.ops()
}

fn linearizable(ops: Vec<(usize, &str, Input, u64, u64, Outcome)>) {
    let h = hist(ops);
    if let Err(e) = check_registers(&h) {
        panic!("expected linearizable, got: {e}");
    }
}

fn not_linearizable(ops: Vec<(usize, &str, Input, u64, u64, Outcome)>) -> String {
    let h = hist(ops);
    match check_registers(&h) {
        Ok(r) => panic!("expected a violation, the checker said: {r}"),
        Err(e) => {
            assert!(e.contains("not linearizable"), "{e}");
            e
        }
    }
}

#[test]
fn register_sequential_history_passes() {
    linearizable(vec![
        (0, "k", Input::Get, 0, 1, nil()),
        (0, "k", set("a"), 2, 3, done()),
        (0, "k", Input::Get, 4, 5, val("a")),
        (1, "k", set("b"), 6, 7, done()),
        (0, "k", Input::Get, 8, 9, val("b")),
    ]);
}

#[test]
fn register_concurrent_reads_may_see_old_or_new() {
    linearizable(vec![
        (0, "k", set("a"), 0, 1, done()),
        (0, "k", set("b"), 2, 20, done()),
        (1, "k", Input::Get, 3, 4, val("a")),
        (2, "k", Input::Get, 5, 6, val("b")),
        // Once p2 saw b, later reads must too; this one overlaps p2's, so a is fine.
        (3, "k", Input::Get, 4, 7, val("a")),
        (1, "k", Input::Get, 21, 22, val("b")),
    ]);
}

#[test]
fn register_stale_read_fails() {
    let e = not_linearizable(vec![
        (0, "k", set("a"), 0, 1, done()),
        (0, "k", set("b"), 2, 3, done()),
        (1, "k", Input::Get, 4, 5, val("a")),
    ]);
    assert!(e.contains("\"k\""), "{e}");
}

#[test]
fn register_lost_write_fails() {
    not_linearizable(vec![(0, "k", set("a"), 0, 1, done()), (1, "k", Input::Get, 2, 3, nil())]);
}

#[test]
fn register_read_from_the_future_fails() {
    not_linearizable(vec![(1, "k", Input::Get, 0, 1, val("a")), (0, "k", set("a"), 2, 3, done())]);
}

#[test]
fn register_new_then_old_inversion_fails() {
    // Both reads overlap the write of b, but the second begins after the
    // first ended, so it cannot see the older value.
    not_linearizable(vec![
        (0, "k", set("a"), 0, 1, done()),
        (0, "k", set("b"), 2, 10, done()),
        (1, "k", Input::Get, 3, 5, val("b")),
        (2, "k", Input::Get, 6, 7, val("a")),
    ]);
}

#[test]
fn register_unknown_write_may_apply_late_or_never() {
    linearizable(vec![
        (0, "k", set("x"), 0, 1, unknown()),
        (1, "k", Input::Get, 10, 11, nil()),
        (1, "k", Input::Get, 20, 21, nil()),
        // Taking effect long after the client gave up is allowed.
        (1, "k", Input::Get, 30, 31, val("x")),
    ]);
    linearizable(vec![(0, "k", set("x"), 0, 1, unknown()), (1, "k", Input::Get, 10, 11, nil())]);
}

#[test]
fn register_unknown_write_cannot_apply_before_invocation_or_twice() {
    not_linearizable(vec![(1, "k", Input::Get, 0, 1, val("x")), (0, "k", set("x"), 5, 6, unknown())]);
    // Seen, then gone again with no other writer: impossible.
    not_linearizable(vec![
        (0, "k", set("x"), 0, 1, unknown()),
        (1, "k", Input::Get, 10, 11, val("x")),
        (1, "k", Input::Get, 12, 13, nil()),
    ]);
}

#[test]
fn register_failed_write_must_not_take_effect() {
    linearizable(vec![(0, "k", set("x"), 0, 1, fail()), (1, "k", Input::Get, 2, 3, nil())]);
    not_linearizable(vec![(0, "k", set("x"), 0, 1, fail()), (1, "k", Input::Get, 2, 3, val("x"))]);
}

#[test]
fn register_unknown_read_is_ignored() {
    linearizable(vec![
        (0, "k", set("a"), 0, 1, done()),
        (1, "k", Input::Get, 2, 3, Outcome::Unknown("timeout".into())),
        (1, "k", Input::Get, 4, 5, val("a")),
    ]);
}

#[test]
fn register_cas() {
    let cas = |from: Option<&str>, to: &str| Input::Cas { from: from.map(Into::into), to: to.into() };
    linearizable(vec![
        (0, "k", set("1"), 0, 1, done()),
        (0, "k", cas(Some("1"), "2"), 2, 3, ok(Output::Swapped(true))),
        (1, "k", cas(Some("1"), "3"), 4, 5, ok(Output::Swapped(false))),
        (1, "k", Input::Get, 6, 7, val("2")),
        (2, "k", cas(None, "z"), 8, 9, ok(Output::Swapped(false))),
    ]);
    // Two CAS from the same value cannot both succeed.
    not_linearizable(vec![
        (0, "k", set("1"), 0, 1, done()),
        (0, "k", cas(Some("1"), "2"), 2, 5, ok(Output::Swapped(true))),
        (1, "k", cas(Some("1"), "3"), 2, 5, ok(Output::Swapped(true))),
    ]);
    // A CAS that failed although the value matched.
    not_linearizable(vec![
        (0, "k", set("1"), 0, 1, done()),
        (1, "k", cas(Some("1"), "3"), 2, 3, ok(Output::Swapped(false))),
    ]);
    // An unknown CAS may have swapped.
    linearizable(vec![
        (0, "k", set("1"), 0, 1, done()),
        (1, "k", cas(Some("1"), "3"), 2, 3, unknown()),
        (0, "k", Input::Get, 4, 5, val("3")),
    ]);
}

#[test]
fn register_incr() {
    linearizable(vec![
        (0, "n", Input::Incr, 0, 10, ok(Output::Int(2))),
        (1, "n", Input::Incr, 1, 9, ok(Output::Int(1))),
        (2, "n", Input::Get, 11, 12, val("2")),
    ]);
    not_linearizable(vec![
        (0, "n", Input::Incr, 0, 10, ok(Output::Int(1))),
        (1, "n", Input::Incr, 1, 9, ok(Output::Int(1))),
    ]);
    // An unknown increment that is later observed.
    linearizable(vec![(0, "n", Input::Incr, 0, 1, unknown()), (1, "n", Input::Incr, 5, 6, ok(Output::Int(2)))]);
}

#[test]
fn register_keys_are_checked_independently() {
    let e = not_linearizable(vec![
        (0, "good", set("a"), 0, 1, done()),
        (1, "good", Input::Get, 2, 3, val("a")),
        (0, "bad", set("a"), 0, 1, done()),
        (1, "bad", Input::Get, 2, 3, val("zzz")),
    ]);
    assert!(e.contains("\"bad\""), "{e}");
}

/// A random history of a real (linearizable) register: each operation takes
/// effect at a random instant inside its interval, several processes
/// overlapping, some writes unknown.
fn random_history(seed: u64, procs: usize, per_proc: usize) -> Vec<(usize, String, Input, u64, u64, Outcome)> {
    let mut rng = fastrand::Rng::with_seed(seed);
    // (effect time, process, invoke, complete, input, unknown)
    let mut planned = Vec::new();
    for p in 0..procs {
        let mut t = rng.u64(0..50);
        for n in 0..per_proc {
            let len = rng.u64(1..200);
            let effect = t + rng.u64(0..=len);
            let input = match rng.u8(0..10) {
                0..=4 => Input::Get,
                5..=8 => Input::Set(format!("{p}-{n}")),
                _ => Input::Cas {
                    from: Some(format!("{}-{}", rng.usize(0..procs), rng.usize(0..=n))),
                    to: format!("c{p}-{n}"),
                },
            };
            // 0: acknowledged; 1: unknown but applied; 2: unknown, never applied.
            let unknown =
                if matches!(input, Input::Get) { 0 } else { [0, 0, 0, 0, 0, 0, 0, 0, 1, 2][rng.usize(0..10)] };
            planned.push((effect, p, t, t + len, input, unknown));
            t += len + rng.u64(1..30);
        }
    }
    planned.sort_by_key(|x| x.0);
    let mut state: Option<String> = None;
    let mut out = Vec::new();
    for (_, p, a, b, input, unknown) in planned {
        if unknown == 2 {
            out.push((p, "r".to_string(), input, a, b, Outcome::Unknown("timeout".into())));
            continue;
        }
        let output = match &input {
            Input::Get => Output::Value(state.clone()),
            Input::Set(v) => {
                state = Some(v.clone());
                Output::Done
            }
            Input::Cas { from, to } => {
                let hit = state.as_ref() == from.as_ref();
                if hit {
                    state = Some(to.clone());
                }
                Output::Swapped(hit)
            }
            _ => unreachable!(),
        };
        let outcome = if unknown == 1 { Outcome::Unknown("lost".into()) } else { Outcome::Ok(output) };
        out.push((p, "r".to_string(), input, a, b, outcome));
    }
    out
}

#[test]
fn register_random_linearizable_histories_pass_and_corrupted_ones_fail() {
    for seed in 0..20 {
        let ops = random_history(seed, 5, 100);
        let h = History::new();
        for (p, k, i, a, b, o) in &ops {
            h.push(*p, k, i.clone(), *a, *b, o.clone());
        }
        let t = std::time::Instant::now();
        if let Err(e) = check_registers_with_budget(&h.ops(), 5_000_000) {
            panic!("seed {seed}: a generated linearizable history was rejected: {e}");
        }
        assert!(t.elapsed() < std::time::Duration::from_secs(10), "seed {seed}: too slow: {:?}", t.elapsed());

        // Corrupt one acknowledged read so it returns a value nobody wrote.
        let mut bad = ops.clone();
        let idx = bad.iter().position(|o| matches!(o.5, Outcome::Ok(Output::Value(_)))).expect("a read");
        bad[idx].5 = val("never-written");
        let h = History::new();
        for (p, k, i, a, b, o) in &bad {
            h.push(*p, k, i.clone(), *a, *b, o.clone());
        }
        assert!(check_registers(&h.ops()).is_err(), "seed {seed}: corrupted history accepted");
    }
}

// ---- list append ----

fn app(v: &str) -> Input {
    Input::Append(v.into())
}
fn len(n: i64) -> Outcome {
    ok(Output::Int(n))
}
fn list(v: &[&str]) -> Outcome {
    ok(Output::List(v.iter().map(|s| s.to_string()).collect()))
}

fn lists_ok(ops: Vec<(usize, &str, Input, u64, u64, Outcome)>) {
    if let Err(e) = check_lists(&hist(ops)) {
        panic!("expected valid, got:\n{}", e.join("\n"));
    }
}

fn lists_bad(ops: Vec<(usize, &str, Input, u64, u64, Outcome)>, needle: &str) {
    match check_lists(&hist(ops)) {
        Ok(r) => panic!("expected an anomaly ({needle}), the checker said: {r}"),
        Err(e) => assert!(e.iter().any(|a| a.contains(needle)), "expected {needle:?} among:\n{}", e.join("\n")),
    }
}

#[test]
fn list_valid_histories_pass() {
    lists_ok(vec![
        (0, "l", app("1"), 0, 1, len(1)),
        (1, "l", Input::ReadList, 2, 3, list(&["1"])),
        (0, "l", app("2"), 4, 5, len(2)),
        (0, "l", app("3"), 6, 7, len(3)),
        (1, "l", Input::ReadList, 8, 9, list(&["1", "2", "3"])),
    ]);
    // Concurrent appends land in either order; a concurrent read may miss them.
    lists_ok(vec![
        (0, "l", app("a"), 0, 10, len(2)),
        (1, "l", app("b"), 0, 10, len(1)),
        (2, "l", Input::ReadList, 1, 2, list(&[])),
        (2, "l", Input::ReadList, 11, 12, list(&["b", "a"])),
    ]);
    // Unknown appends may appear, late or never; failed ones never do.
    lists_ok(vec![
        (0, "l", app("a"), 0, 1, unknown()),
        (0, "l", app("b"), 2, 3, fail()),
        (1, "l", Input::ReadList, 4, 5, list(&[])),
        (0, "l", app("c"), 6, 7, len(2)),
        (1, "l", Input::ReadList, 8, 9, list(&["a", "c"])),
    ]);
}

#[test]
fn list_lost_append_fails() {
    lists_bad(
        vec![(0, "l", app("1"), 0, 1, len(1)), (1, "l", Input::ReadList, 2, 3, list(&[]))],
        "missing from the later read",
    );
    // Lost although no read came strictly after it: a later append is there.
    lists_bad(
        vec![
            (0, "l", app("1"), 0, 1, len(1)),
            (1, "l", app("2"), 2, 9, len(1)),
            (2, "l", Input::ReadList, 0, 10, list(&["2"])),
        ],
        "lost",
    );
}

#[test]
fn list_reordered_fails() {
    lists_bad(
        vec![
            (0, "l", app("1"), 0, 1, unknown()),
            (0, "l", app("x"), 1, 2, len(1)),
            (0, "l", app("2"), 3, 4, unknown()),
            (1, "l", Input::ReadList, 5, 6, list(&["2", "x", "1"])),
        ],
        "reordered",
    );
}

#[test]
fn list_divergent_reads_fail() {
    lists_bad(
        vec![
            (0, "l", app("1"), 0, 10, unknown()),
            (1, "l", app("2"), 0, 10, unknown()),
            (2, "l", Input::ReadList, 1, 9, list(&["1"])),
            (3, "l", Input::ReadList, 1, 9, list(&["2", "1"])),
        ],
        "not a prefix",
    );
}

#[test]
fn list_duplicate_and_phantom_elements_fail() {
    lists_bad(vec![(0, "l", app("1"), 0, 1, len(1)), (1, "l", Input::ReadList, 2, 3, list(&["1", "1"]))], "duplicate");
    lists_bad(vec![(1, "l", Input::ReadList, 2, 3, list(&["ghost"]))], "never appended");
    lists_bad(vec![(0, "l", app("1"), 0, 1, fail()), (1, "l", Input::ReadList, 2, 3, list(&["1"]))], "failed");
}

#[test]
fn list_stale_read_fails() {
    lists_bad(
        vec![
            (0, "l", app("1"), 0, 10, unknown()),
            (1, "l", Input::ReadList, 1, 2, list(&["1"])),
            (2, "l", Input::ReadList, 3, 4, list(&[])),
        ],
        "stale read",
    );
}

#[test]
fn list_wrong_rpush_length_fails() {
    lists_bad(
        vec![
            (0, "l", app("1"), 0, 1, len(1)),
            (0, "l", app("2"), 2, 3, len(5)),
            (1, "l", Input::ReadList, 4, 5, list(&["1", "2"])),
        ],
        "returned length 5",
    );
}

#[test]
fn list_keys_are_independent() {
    lists_ok(vec![
        (0, "a", app("1"), 0, 1, len(1)),
        (0, "b", app("1"), 0, 1, len(1)),
        (1, "a", Input::ReadList, 2, 3, list(&["1"])),
        (1, "b", Input::ReadList, 2, 3, list(&["1"])),
    ]);
}
