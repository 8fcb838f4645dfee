//! Active expiry: keys with a TTL that no client ever touches again are
//! reclaimed by the server's periodic cycle, not only on access.

mod common;

use std::time::{Duration, Instant};

use common::{eventually, Conn, Server};

fn dbsize(c: &mut Conn) -> i64 {
    c.ok(&["DBSIZE"]).as_int().expect("DBSIZE is an integer")
}

#[test]
fn untouched_volatile_keys_are_reclaimed() {
    let rhea = Server::rhea(&[]);
    let mut c = rhea.conn();
    // The TTL leaves ample time to load and count the keys on a busy machine.
    // 3000 short-lived keys in db 0 and 500 in db 3, plus 100 persistent
    // and 100 long-lived ones that must survive.
    let mut cmds: Vec<Vec<String>> = Vec::new();
    for i in 0..3000 {
        cmds.push(vec!["SET".into(), format!("short:{i}"), "v".into(), "PX".into(), "3000".into()]);
    }
    for i in 0..100 {
        cmds.push(vec!["SET".into(), format!("keep:{i}"), "v".into()]);
        cmds.push(vec!["SET".into(), format!("long:{i}"), "v".into(), "EX".into(), "1000".into()]);
    }
    for cmd in &cmds {
        c.send(cmd).expect("send");
    }
    for _ in &cmds {
        assert!(!c.read().expect("read").is_error());
    }
    c.ok(&["SELECT", "3"]);
    for i in 0..500 {
        c.send(&["SET", &format!("other:{i}"), "v", "PX", "3000"]).expect("send");
    }
    for _ in 0..500 {
        assert!(!c.read().expect("read").is_error());
    }
    assert_eq!(dbsize(&mut c), 500);
    c.ok(&["SELECT", "0"]);
    assert_eq!(dbsize(&mut c), 3200, "keys must still be there before their TTL");

    // Only DBSIZE from here on: it does not look any key up, so whatever
    // disappears was removed by the server on its own.
    let start = Instant::now();
    let reclaimed = eventually(Duration::from_secs(10), || dbsize(&mut c) == 200);
    assert!(reclaimed, "db 0 still has {} keys after {:?}", dbsize(&mut c), start.elapsed());
    c.ok(&["SELECT", "3"]);
    assert!(eventually(Duration::from_secs(5), || dbsize(&mut c) == 0), "db 3 still has {} keys", dbsize(&mut c));
    c.ok(&["SELECT", "0"]);
    assert_eq!(c.ok(&["EXISTS", "keep:7", "long:7"]).as_int(), Some(2));
}
