//! Peers authenticate with the shared cluster secret: a node started with
//! the wrong one is not part of the cluster (it receives no write and never
//! leads), and the other two carry on; with the right one it catches up.

mod common;

use std::time::Duration;

use common::cluster::{Cluster, Options};
use common::writers::{tally, verify_nodes, Writers};

#[test]
fn a_node_with_the_wrong_secret_is_kept_out() {
    let opts = Options { secret: Some("right-secret".into()), ..Options::default() };
    let mut c = Cluster::start_with(3, &opts);
    let leader = c.leader(Duration::from_secs(15)).expect("no leader with a shared secret");
    let outsider = (leader + 1) % 3;
    c.kill(outsider);
    c.set_arg(outsider, "cluster-secret", "wrong-secret");
    c.restart(outsider);
    let others: Vec<u16> = (0..3).filter(|&i| i != outsider).map(|i| c.port(i)).collect();
    let writers = Writers::start(&others, 2, Duration::from_secs(1));
    std::thread::sleep(Duration::from_millis(2000));
    let writes = writers.stop();
    eprintln!("{}", tally(&writes));
    assert!(writes.iter().filter(|w| w.acked()).count() > 20, "the two good nodes stopped: {}", tally(&writes));
    let l = c.leader(Duration::from_secs(5)).expect("no leader among the good nodes");
    assert_ne!(l, outsider, "the node with the wrong secret leads");
    let dump = c.dump(outsider).expect("dump the outsider");
    assert!(
        !writes.iter().any(|w| dump.contains_key(&w.key)),
        "a node with the wrong secret received writes ({} keys)",
        dump.len()
    );

    c.kill(outsider);
    c.set_arg(outsider, "cluster-secret", "right-secret");
    c.restart(outsider);
    if let Err(e) = c.wait_converged(Duration::from_secs(30)) {
        panic!("the node with the right secret did not catch up: {e}");
    }
    let problems = verify_nodes(&c, &writes);
    assert!(problems.is_empty(), "after readmitting the node:\n{}", problems.join("\n"));
}
