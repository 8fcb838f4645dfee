//! Cost of making one Ready durable: DiskStorage (the segment log) against a plain
//! append-only file with fdatasync, same bytes.
//!
//! `cargo run --release -p rhea-cluster --example log_fsync -- [dir] [readies] [entries-per-ready] [payload-bytes]`

#![allow(clippy::field_reassign_with_default)]

use std::io::Write;
use std::time::Instant;

use protobuf::Message as _;
use raft::prelude::{Entry, HardState};
use rhea_cluster::DiskStorage;

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let base = std::path::PathBuf::from(args.get(1).cloned().unwrap_or_else(|| "target/log-fsync-bench".into()));
    let readies: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(3000);
    let per: u64 = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(16);
    let payload: usize = args.get(4).and_then(|a| a.parse().ok()).unwrap_or(128);
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base)?;

    let make = |r: u64| -> Vec<Entry> {
        (0..per)
            .map(|i| {
                let mut e = Entry::default();
                e.index = r * per + i + 1;
                e.term = 1;
                e.data = vec![b'x'; payload].into();
                e
            })
            .collect()
    };

    // DiskStorage
    let storage = DiskStorage::open(base.join("log"))?;
    let mut lat = Vec::with_capacity(readies as usize);
    let mut flush = Vec::with_capacity(readies as usize);
    let start = Instant::now();
    for r in 0..readies {
        let ents = make(r);
        let t = Instant::now();
        storage.append(&ents)?;
        let mut hs = HardState::default();
        hs.term = 1;
        hs.commit = r * per;
        storage.set_hardstate(hs)?;
        let tf = Instant::now();
        storage.persist()?;
        flush.push(tf.elapsed().as_secs_f64() * 1e6);
        lat.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let total = start.elapsed().as_secs_f64();
    println!(
        "DiskStorage:       {readies} readies x {per} entries x {payload} B: p50 {:.0} us, p99 {:.0} us, max {:.0} us, {:.0} readies/s (flush alone p50 {:.0} us, p99 {:.0} us)",
        pct(&mut lat, 0.5),
        pct(&mut lat, 0.99),
        pct(&mut lat, 1.0),
        readies as f64 / total,
        pct(&mut flush, 0.5),
        pct(&mut flush, 0.99)
    );

    // append-only file + fdatasync
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(base.join("plain.log"))?;
    let mut lat = Vec::with_capacity(readies as usize);
    let start = Instant::now();
    let mut buf = Vec::new();
    for r in 0..readies {
        let ents = make(r);
        let t = Instant::now();
        buf.clear();
        for e in &ents {
            let body = e.write_to_bytes()?;
            buf.extend_from_slice(&(body.len() as u32).to_le_bytes());
            buf.extend_from_slice(&body);
        }
        f.write_all(&buf)?;
        f.sync_data()?;
        lat.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let total = start.elapsed().as_secs_f64();
    println!(
        "append-only file:  {readies} readies x {per} entries x {payload} B: p50 {:.0} us, p99 {:.0} us, max {:.0} us, {:.0} readies/s",
        pct(&mut lat, 0.5),
        pct(&mut lat, 0.99),
        pct(&mut lat, 1.0),
        readies as f64 / total
    );
    let _ = std::fs::remove_dir_all(&base);
    Ok(())
}
