//! Client workloads that record histories for the checkers: single-key
//! registers (GET, SET, CAS by script) and list appends (RPUSH of unique
//! values, LRANGE 0 -1), as in Jepsen's Redis tests.
//!
//! Keys rotate: every `epoch` a new set of keys is used, so no key's
//! history grows past what the linearizability search handles quickly,
//! however long the run.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use super::cluster::{dump_server, CallResult, ClusterClient};
use super::history::{History, Input, Outcome, Output};
use super::Reply;

/// Compare-and-set: KEYS[1], ARGV[1] = expected ("" with ARGV[3] = "nil"
/// for an absent key), ARGV[2] = new value. Returns 1 if it swapped.
pub const CAS_SCRIPT: &str = "local v = redis.call('GET', KEYS[1]) \
    if (ARGV[3] == 'nil' and v == false) or (ARGV[3] ~= 'nil' and v == ARGV[1]) then \
    redis.call('SET', KEYS[1], ARGV[2]) return 1 else return 0 end";

#[derive(Clone, Debug)]
pub struct Spec {
    /// Keys in use at a time.
    pub keys: usize,
    /// How long one set of keys is used.
    pub epoch: Duration,
    /// Pause between a process's operations.
    pub think: Duration,
    /// Stop after this many operations per process (a safety bound).
    pub max_ops: usize,
}

impl Default for Spec {
    fn default() -> Self {
        Spec { keys: 3, epoch: Duration::from_secs(3), think: Duration::from_millis(2), max_ops: 100_000 }
    }
}

/// Makes every written value unique across processes and runs.
static SEQ: AtomicU64 = AtomicU64::new(0);

fn unique(process: usize) -> String {
    format!("{process}-{}", SEQ.fetch_add(1, Ordering::SeqCst))
}

fn epoch(h: &History, spec: &Spec) -> u64 {
    h.now() / spec.epoch.as_nanos().max(1) as u64
}

/// The register keys of one epoch.
pub fn register_key(epoch: u64, i: usize) -> String {
    format!("reg:{epoch}:{i}")
}

/// The list keys of one epoch.
pub fn list_key(epoch: u64, i: usize) -> String {
    format!("list:{epoch}:{i}")
}

fn outcome(r: CallResult, ok: impl FnOnce(Reply) -> Option<Output>) -> Outcome {
    match r {
        CallResult::Ok(reply) => {
            let shown = format!("{reply:?}");
            match ok(reply) {
                Some(o) => Outcome::Ok(o),
                None => Outcome::Unknown(format!("unexpected reply {shown}")),
            }
        }
        CallResult::Fail(e) => Outcome::Fail(e),
        CallResult::Unknown(e) => Outcome::Unknown(e),
    }
}

fn bulk_text(r: &Reply) -> Option<String> {
    r.as_bulk().map(|b| String::from_utf8_lossy(b).into_owned())
}

/// GET/SET/CAS on the epoch's register keys until `stop`.
pub fn register_client(
    client: &mut ClusterClient,
    h: &History,
    process: usize,
    spec: &Spec,
    stop: &AtomicBool,
    seed: u64,
) {
    let mut rng = fastrand::Rng::with_seed(seed);
    // The last value this process saw per key, for CAS to expect.
    let mut last_seen: std::collections::HashMap<String, Option<String>> = Default::default();
    for _ in 0..spec.max_ops {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let key = register_key(epoch(h, spec), rng.usize(0..spec.keys));
        let roll = rng.u8(0..10);
        let failed = if roll < 5 {
            let p = h.invoke(process, &key, Input::Get);
            let r = client.call(&["GET", &key]);
            let o = outcome(r, |r| match r {
                Reply::Nil => Some(Output::Value(None)),
                r => bulk_text(&r).map(|s| Output::Value(Some(s))),
            });
            if let Outcome::Ok(Output::Value(v)) = &o {
                last_seen.insert(key.clone(), v.clone());
            }
            let failed = !matches!(o, Outcome::Ok(_));
            h.complete(p, o);
            failed
        } else if roll < 8 {
            let v = unique(process);
            let p = h.invoke(process, &key, Input::Set(v.clone()));
            let r = client.call(&["SET", &key, &v]);
            let o = outcome(r, |r| (r == Reply::Simple("OK".into())).then_some(Output::Done));
            if o == Outcome::Ok(Output::Done) {
                last_seen.insert(key.clone(), Some(v));
            }
            let failed = !matches!(o, Outcome::Ok(_));
            h.complete(p, o);
            failed
        } else {
            let from = if rng.u8(0..4) > 0 { last_seen.get(&key).cloned().flatten() } else { None };
            let to = unique(process);
            let p = h.invoke(process, &key, Input::Cas { from: from.clone(), to: to.clone() });
            let (expected, flag) = match &from {
                Some(v) => (v.as_str(), "val"),
                None => ("", "nil"),
            };
            let r = client.call(&["EVAL", CAS_SCRIPT, "1", &key, expected, &to, flag]);
            let o = outcome(r, |r| match r {
                Reply::Int(1) => Some(Output::Swapped(true)),
                Reply::Int(0) => Some(Output::Swapped(false)),
                _ => None,
            });
            if o == Outcome::Ok(Output::Swapped(true)) {
                last_seen.insert(key.clone(), Some(to));
            }
            let failed = !matches!(o, Outcome::Ok(_));
            h.complete(p, o);
            failed
        };
        // Back off while the cluster is refusing or timing out.
        std::thread::sleep(if failed { Duration::from_millis(50) } else { spec.think });
    }
}

/// RPUSH unique values and LRANGE whole lists on the epoch's list keys until `stop`.
pub fn list_client(client: &mut ClusterClient, h: &History, process: usize, spec: &Spec, stop: &AtomicBool, seed: u64) {
    let mut rng = fastrand::Rng::with_seed(seed);
    for _ in 0..spec.max_ops {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let key = list_key(epoch(h, spec), rng.usize(0..spec.keys));
        let o = if rng.u8(0..10) < 6 {
            let v = unique(process);
            let p = h.invoke(process, &key, Input::Append(v.clone()));
            let r = client.call(&["RPUSH", &key, &v]);
            let o = outcome(r, |r| r.as_int().map(Output::Int));
            h.complete(p, o.clone());
            o
        } else {
            let p = h.invoke(process, &key, Input::ReadList);
            let r = client.call(&["LRANGE", &key, "0", "-1"]);
            let o = outcome(r, |r| match r {
                Reply::Array(v) => v.iter().map(bulk_text).collect::<Option<Vec<_>>>().map(Output::List),
                _ => None,
            });
            h.complete(p, o.clone());
            o
        };
        std::thread::sleep(if matches!(o, Outcome::Ok(_)) { spec.think } else { Duration::from_millis(50) });
    }
}

/// Reads every register and list key the history mentions on the server
/// at `port` locally (READONLY) and records the values as reads of process
/// `process` (an absent key reads as nil / empty), so the checkers demand
/// that they agree with everything acknowledged before.
/// `readonly`: send READONLY first (a cluster node; false for a plain server).
pub fn record_final_reads(h: &History, process: usize, port: u16, readonly: bool) -> Result<usize, String> {
    let mut keys: Vec<String> = h.ops().into_iter().map(|o| o.key).collect();
    keys.sort();
    keys.dedup();
    let t0 = h.now();
    let dump = dump_server(port, readonly)?;
    let t1 = h.now();
    let mut n = 0;
    for k in keys {
        let v = dump.get(&k);
        if k.starts_with("reg:") {
            let val = match v {
                None => None,
                Some(v) => {
                    Some(v.strip_prefix("string:").ok_or_else(|| format!("{k} is not a string: {v}"))?.to_string())
                }
            };
            h.push(process, &k, Input::Get, t0, t1, Outcome::Ok(Output::Value(val)));
            n += 1;
        } else if k.starts_with("list:") {
            let items = match v {
                None => Vec::new(),
                Some(v) => {
                    let val = v.strip_prefix("list:").ok_or_else(|| format!("{k} is not a list: {v}"))?;
                    val.split(',').filter(|s| !s.is_empty()).map(String::from).collect()
                }
            };
            h.push(process, &k, Input::ReadList, t0, t1, Outcome::Ok(Output::List(items)));
            n += 1;
        }
    }
    Ok(n)
}
