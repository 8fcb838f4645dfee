//! Operation histories for the consistency checkers: every client records
//! when it invoked an operation and how it completed, Jepsen-style.
//!
//! An operation completes in one of three ways:
//! - `Ok`: the server acknowledged it, with the value it returned;
//! - `Fail`: it definitely did not take effect (the server refused it, e.g.
//!   `-CLUSTERDOWN`, or the request was never sent);
//! - `Unknown`: nobody knows (timeout, connection dropped, an error the
//!   harness cannot classify). The checkers let an unknown write take effect
//!   at any point after its invocation, or never.
//!
//! Times are nanoseconds since the history was created, from one monotonic
//! clock shared by every client thread, taken before the request is sent
//! and after the reply is read, so real-time order between operations is
//! preserved conservatively.

use std::sync::Mutex;
use std::time::Instant;

/// What a client asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// GET key.
    Get,
    /// SET key value.
    Set(String),
    /// Compare-and-set by script: if GET key == from (None = absent) then SET key to.
    Cas { from: Option<String>, to: String },
    /// INCR key.
    Incr,
    /// RPUSH key value (values are unique per key).
    Append(String),
    /// LRANGE key 0 -1.
    ReadList,
}

/// What an acknowledged operation returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// GET's value (None = nil).
    Value(Option<String>),
    /// SET's +OK.
    Done,
    /// Whether a CAS swapped.
    Swapped(bool),
    /// INCR's new value, RPUSH's new length.
    Int(i64),
    /// LRANGE's elements.
    List(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ok(Output),
    /// Definitely did not happen; the text says why.
    Fail(String),
    /// May or may not have happened; the text says why.
    Unknown(String),
}

/// One operation of a history.
#[derive(Debug, Clone)]
pub struct Op {
    pub id: usize,
    /// The client (thread) that ran it; one operation at a time per process.
    pub process: usize,
    pub key: String,
    pub input: Input,
    /// Nanoseconds since the history began.
    pub invoke: u64,
    /// Nanoseconds since the history began; for an unknown operation, when
    /// the client gave up on it.
    pub complete: u64,
    pub outcome: Outcome,
}

impl Op {
    pub fn is_ok(&self) -> bool {
        matches!(self.outcome, Outcome::Ok(_))
    }
    pub fn is_unknown(&self) -> bool {
        matches!(self.outcome, Outcome::Unknown(_))
    }
    pub fn is_fail(&self) -> bool {
        matches!(self.outcome, Outcome::Fail(_))
    }
}

/// A list shown in full up to 10 elements, else its ends and its length.
pub fn short_list(v: &[String]) -> String {
    if v.len() <= 10 {
        format!("{v:?}")
    } else {
        format!("{:?} ... {:?} ({} elements)", &v[..4], &v[v.len() - 4..], v.len())
    }
}

impl std::fmt::Display for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |ns: u64| ns as f64 / 1e6;
        let outcome = match &self.outcome {
            Outcome::Ok(Output::List(v)) => format!("Ok(List({}))", short_list(v)),
            o => format!("{o:?}"),
        };
        write!(
            f,
            "#{} p{} [{:.3}ms..{:.3}ms] {} {:?} -> {outcome}",
            self.id,
            self.process,
            ms(self.invoke),
            ms(self.complete),
            self.key,
            self.input,
        )
    }
}

/// A history being recorded by several client threads.
pub struct History {
    start: Instant,
    ops: Mutex<Vec<Op>>,
}

/// An invoked operation waiting for its completion.
#[must_use = "complete the operation"]
pub struct Pending {
    id: usize,
}

impl Default for History {
    fn default() -> Self {
        Self::new()
    }
}

impl History {
    pub fn new() -> History {
        History { start: Instant::now(), ops: Mutex::new(Vec::new()) }
    }

    /// Nanoseconds since the history began.
    pub fn now(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Op>> {
        // A client thread that panicked mid-record leaves consistent data.
        self.ops.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records an invocation; call just before sending the request. Until
    /// completed the operation counts as unknown.
    pub fn invoke(&self, process: usize, key: &str, input: Input) -> Pending {
        let mut ops = self.lock();
        let id = ops.len();
        let t = self.now();
        ops.push(Op {
            id,
            process,
            key: key.to_string(),
            input,
            invoke: t,
            complete: u64::MAX,
            outcome: Outcome::Unknown("never completed".into()),
        });
        Pending { id }
    }

    /// Records the completion; call just after the reply was read.
    pub fn complete(&self, p: Pending, outcome: Outcome) {
        let t = self.now();
        let mut ops = self.lock();
        if let Some(op) = ops.get_mut(p.id) {
            op.complete = t;
            op.outcome = outcome;
        }
    }

    /// Adds an already finished operation (synthetic histories in tests).
    pub fn push(&self, process: usize, key: &str, input: Input, invoke: u64, complete: u64, outcome: Outcome) {
        let mut ops = self.lock();
        let id = ops.len();
        ops.push(Op { id, process, key: key.to_string(), input, invoke, complete, outcome });
    }

    /// A snapshot of every operation so far.
    pub fn ops(&self) -> Vec<Op> {
        let mut ops = self.lock().clone();
        for op in &mut ops {
            if op.complete == u64::MAX {
                op.complete = self.now();
            }
        }
        ops
    }

    /// "N ops: a ok, b failed, c unknown".
    pub fn summary(&self) -> String {
        summary(&self.ops())
    }
}

pub fn summary(ops: &[Op]) -> String {
    let ok = ops.iter().filter(|o| o.is_ok()).count();
    let fail = ops.iter().filter(|o| o.is_fail()).count();
    let unknown = ops.iter().filter(|o| o.is_unknown()).count();
    format!("{} ops: {ok} ok, {fail} failed, {unknown} unknown", ops.len())
}
