//! WATCH in a cluster: optimistic increments (WATCH, GET, MULTI, SET, EXEC)
//! from clients on every node lose no update. The EXEC entry carries the
//! state of its WATCHed keys as the proposing node saw it, and every node
//! discards the transaction if a write committed in between changed one.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::cluster::Cluster;
use common::Reply;

#[test]
fn concurrent_watch_increments_lose_no_update() {
    let c = Cluster::start(3);
    c.leader(Duration::from_secs(15)).expect("no leader");
    // Every node must know the leader before the clients start.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while (0..3).any(|i| c.info(i).is_none_or(|r| r.leader_id == 0)) {
        assert!(std::time::Instant::now() < deadline, "not every node knows the leader");
        std::thread::sleep(Duration::from_millis(50));
    }
    let committed = Arc::new(AtomicUsize::new(0));
    let ports = c.ports();
    let threads: Vec<_> = (0..6)
        .map(|t| {
            let port = ports[t % 3];
            let committed = committed.clone();
            std::thread::spawn(move || {
                let mut conn = common::Conn::connect(port).expect("connect");
                for _ in 0..60 {
                    conn.cmd(&["WATCH", "counter"]).expect("watch");
                    let v = match conn.cmd(&["GET", "counter"]).expect("get") {
                        Reply::Bulk(b) => String::from_utf8_lossy(&b).parse::<u64>().expect("a number"),
                        Reply::Nil => 0,
                        other => panic!("GET -> {other:?}"),
                    };
                    conn.cmd(&["MULTI"]).expect("multi");
                    conn.cmd(&["SET", "counter", &(v + 1).to_string()]).expect("set");
                    match conn.cmd(&["EXEC"]).expect("exec") {
                        Reply::Array(_) => {
                            committed.fetch_add(1, Ordering::SeqCst);
                        }
                        Reply::Nil => {}
                        other => panic!("EXEC -> {other:?}"),
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("a client thread failed");
    }
    let n = committed.load(Ordering::SeqCst);
    assert!(n > 20, "only {n} transactions committed");
    c.wait_converged(Duration::from_secs(20)).expect("no convergence");
    for i in 0..3 {
        let mut conn = c.conn(i, Duration::from_secs(5)).expect("connect");
        let v = conn.cmd(&["GET", "counter"]).expect("get");
        assert_eq!(v, Reply::Bulk(n.to_string().into_bytes()), "node {i}: {n} increments committed");
    }
}
