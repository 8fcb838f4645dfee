//! Sorted-set update speed without the network: a set of `members` members
//! (redis-benchmark's ZADD shape: integer scores below `members`, member
//! `element:N`) takes `ops` random ZADDs, timed; repeated `rounds` times.
//!
//! `cargo run --release -p rhea-store --example zset_update -- [members] [ops] [rounds]`

use std::time::Instant;

use rhea_store::zset::ZSet;

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let members = args.first().copied().unwrap_or(100_000);
    let ops = args.get(1).copied().unwrap_or(2_000_000);
    let rounds = args.get(2).copied().unwrap_or(5);
    let mut rng = fastrand::Rng::with_seed(1);
    let names: Vec<Vec<u8>> = (0..members).map(|i| format!("element:{i:012}").into_bytes()).collect();
    let mut z = ZSet::new();
    for n in &names {
        z.add(n, rng.usize(..members) as f64);
    }
    let mut best = f64::MAX;
    for r in 0..rounds {
        let t = Instant::now();
        for _ in 0..ops {
            let m = &names[rng.usize(..members)];
            z.add(m, rng.usize(..members) as f64);
        }
        let ns = t.elapsed().as_nanos() as f64 / ops as f64;
        best = best.min(ns);
        println!("round {r}: {ns:.0} ns per ZADD ({} members)", z.len());
    }
    println!("best {best:.0} ns per ZADD");
}
