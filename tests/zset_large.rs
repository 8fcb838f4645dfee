//! Large sorted sets against redis-server: the random differential test
//! keeps its sets to a handful of members, which never leaves one leaf of
//! the B+tree that orders a sorted set. Here seeded random writes grow a
//! set to ~20,000 members (three tree levels) and shrink it again, in
//! pipelined batches sent to both servers, and every reply is compared,
//! along with range, rank and count reads after each batch.
//!
//! Two shapes: scores drawn from a few values, so the members decide the
//! order among ties (and lex ranges are defined), and scores spread wide.
//! `RHEA_SEED` changes the base seed (default 1).

mod common;

use common::{Conn, Reply, Server};

struct Gen {
    rng: fastrand::Rng,
    /// Every score one of 0..ties (lex ranges are then well defined).
    ties: Option<i32>,
    members: usize,
}

impl Gen {
    fn member(&mut self) -> String {
        format!("m{:06}", self.rng.usize(..self.members))
    }

    fn score(&mut self) -> String {
        match self.ties {
            Some(n) => self.rng.i32(0..n).to_string(),
            None => format!("{:.3}", self.rng.f64() * 2000.0 - 1000.0),
        }
    }

    fn score_bound(&mut self) -> String {
        let s = self.score();
        match self.rng.usize(..6) {
            0 => "-inf".into(),
            1 => "+inf".into(),
            2 => format!("({s}"),
            _ => s,
        }
    }

    fn lex_bound(&mut self) -> String {
        match self.rng.usize(..6) {
            0 => "-".into(),
            1 => "+".into(),
            2 => format!("({}", self.member()),
            _ => format!("[{}", self.member()),
        }
    }

    fn index(&mut self, len: usize) -> i64 {
        let len = len as i64 + 5;
        self.rng.i64(-len..len)
    }

    /// A write; `grow` in 0..100 is how often it adds rather than removes.
    fn write(&mut self, grow: u32, len: usize) -> Vec<String> {
        let k = "z".to_string();
        if self.rng.u32(..100) < grow {
            return match self.rng.usize(..10) {
                0 => vec!["ZINCRBY".into(), k, self.score(), self.member()],
                _ => {
                    let mut a = vec!["ZADD".into(), k];
                    match self.rng.usize(..8) {
                        0 => a.push("NX".into()),
                        1 => a.push("XX".into()),
                        2 => a.extend(["GT".into(), "CH".into()]),
                        3 => a.push("LT".into()),
                        _ => {}
                    }
                    for _ in 0..self.rng.usize(1..60) {
                        a.push(self.score());
                        a.push(self.member());
                    }
                    a
                }
            };
        }
        match self.rng.usize(..12) {
            0 => {
                let start = self.index(len);
                vec!["ZREMRANGEBYRANK".into(), k, start.to_string(), (start + self.rng.i64(0..30)).to_string()]
            }
            // Narrow ranges: a wide one would empty the set at once.
            1 if self.ties.is_none() => {
                let s = self.score();
                vec!["ZREMRANGEBYSCORE".into(), k, s.clone(), s]
            }
            2 if self.ties == Some(1) => {
                let i = self.rng.usize(..self.members);
                let (min, max) = (format!("[m{i:06}"), format!("(m{:06}", i + self.rng.usize(..40)));
                vec!["ZREMRANGEBYLEX".into(), k, min, max]
            }
            3 => vec![if self.rng.bool() { "ZPOPMIN" } else { "ZPOPMAX" }.into(), k, self.rng.usize(1..20).to_string()],
            _ => {
                let mut a = vec!["ZREM".into(), k];
                for _ in 0..self.rng.usize(1..80) {
                    a.push(self.member());
                }
                a
            }
        }
    }

    /// A read whose reply both servers must give alike.
    fn read(&mut self, len: usize) -> Vec<String> {
        let k = "z".to_string();
        match self.rng.usize(..9) {
            0 => {
                let start = self.index(len);
                let mut a = vec!["ZRANGE".into(), k, start.to_string(), (start + self.rng.i64(-2..60)).to_string()];
                if self.rng.bool() {
                    a.push("REV".into());
                }
                a.push("WITHSCORES".into());
                a
            }
            1 => vec![if self.rng.bool() { "ZRANK" } else { "ZREVRANK" }.into(), k, self.member()],
            2 => vec!["ZCOUNT".into(), k, self.score_bound(), self.score_bound()],
            3 => {
                let (min, max) = (self.score_bound(), self.score_bound());
                let (cmd, a, b) =
                    if self.rng.bool() { ("ZRANGEBYSCORE", min, max) } else { ("ZREVRANGEBYSCORE", max, min) };
                let off = self.rng.usize(..len + 3).to_string();
                vec![cmd.into(), k, a, b, "WITHSCORES".into(), "LIMIT".into(), off, self.rng.usize(..40).to_string()]
            }
            4 if self.ties == Some(1) => {
                let (min, max) = (self.lex_bound(), self.lex_bound());
                let off = self.rng.usize(..len + 3).to_string();
                let cnt = self.rng.usize(..40).to_string();
                if self.rng.bool() {
                    vec!["ZRANGEBYLEX".into(), k, min, max, "LIMIT".into(), off, cnt]
                } else {
                    vec!["ZREVRANGEBYLEX".into(), k, max, min, "LIMIT".into(), off, cnt]
                }
            }
            5 if self.ties == Some(1) => vec!["ZLEXCOUNT".into(), k, self.lex_bound(), self.lex_bound()],
            6 => {
                let mut a = vec!["ZMSCORE".into(), k];
                for _ in 0..5 {
                    a.push(self.member());
                }
                a
            }
            _ => vec!["ZCARD".into(), k],
        }
    }
}

/// Sends the batch to both servers pipelined and compares reply by reply.
fn both(redis: &mut Conn, rhea: &mut Conn, batch: &[Vec<String>], what: &str) {
    for c in batch {
        redis.send(c).expect("send to redis");
        rhea.send(c).expect("send to rhea");
    }
    for c in batch {
        let want = redis.read().expect("redis reply");
        let got = rhea.read().expect("rhea reply");
        assert_eq!(got, want, "{what}: {c:?}");
    }
}

fn card(c: &mut Conn) -> usize {
    c.ok(&["ZCARD", "z"]).as_int().unwrap_or(0) as usize
}

#[test]
fn large_sorted_sets_match_redis_through_growth_and_shrinkage() {
    let base: u64 = std::env::var("RHEA_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(1);
    let redis_srv = Server::redis(&[]);
    let rhea_srv = Server::rhea(&[]);
    let (mut redis, mut rhea) = (redis_srv.conn(), rhea_srv.conn());
    for (i, ties) in [Some(1), Some(5), None].into_iter().enumerate() {
        let seed = base + i as u64;
        let mut g = Gen { rng: fastrand::Rng::with_seed(seed), ties, members: 30_000 };
        for c in [&mut redis, &mut rhea] {
            c.ok(&["FLUSHALL"]);
        }
        let mut peak = 0;
        // Grow past 20,000 members, churn, then shrink to a few hundred.
        for (phase, grow) in [(0, 95), (1, 50), (2, 8)] {
            for round in 0..12 {
                let len = card(&mut redis);
                peak = peak.max(len);
                if phase == 0 && len > 20_000 {
                    break;
                }
                if phase == 2 && len < 300 {
                    break;
                }
                let what = format!("seed {seed} ties {ties:?} phase {phase} round {round}");
                let writes: Vec<_> = (0..300).map(|_| g.write(grow, len)).collect();
                both(&mut redis, &mut rhea, &writes, &what);
                let len = card(&mut redis);
                let reads: Vec<_> = (0..150).map(|_| g.read(len)).collect();
                both(&mut redis, &mut rhea, &reads, &what);
            }
        }
        assert!(peak > 15_000, "seed {seed}: the set only reached {peak} members");
        let all = ["ZRANGE", "z", "0", "-1", "WITHSCORES"];
        let want = redis.ok(&all);
        assert_eq!(rhea.ok(&all), want, "seed {seed}: final contents");
        assert!(matches!(&want, Reply::Array(v) if !v.is_empty()));
    }
}
