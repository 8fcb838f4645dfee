//! Blocking list commands across several real connections. Each scenario is
//! a script of steps run against redis-server and rhea-server; the raw bytes
//! of every reply must match. Steps that depend on a client being blocked
//! wait until INFO clients reports it (never on a fixed sleep), so the order
//! of events is the same on both servers.

mod common;

use std::time::{Duration, Instant};

use common::scenario::{blocked_clients, same_as_redis, Step::*};
use common::{eventually, Reply, Server};

#[test]
fn blpop_is_woken_by_a_push_from_another_client() {
    let r = same_as_redis(&[
        Send(0, &["BLPOP", "k", "0"]),
        Blocked(1),
        Silent(0, 100),
        Cmd(1, &["LPUSH", "k", "a", "b"]),
        Read(0),
        Blocked(0),
        Cmd(1, &["LRANGE", "k", "0", "-1"]),
        Cmd(1, &["LPOP", "k"]),
        Send(0, &["BRPOP", "k", "0"]),
        Blocked(1),
        Cmd(1, &["RPUSH", "k", "z"]),
        Read(0),
        Cmd(1, &["EXISTS", "k"]),
    ]);
    assert_eq!(r[0], "#2 0: silent");
    assert_eq!(r[2], "#4 0: *2 $1 k $1 b ");
    assert_eq!(r[6], "#11 0: *2 $1 k $1 z ");
    assert_eq!(r[7], "#12 1: :0 ");
}

#[test]
fn clients_blocked_on_one_key_are_served_in_arrival_order() {
    let r = same_as_redis(&[
        Send(0, &["BLPOP", "k", "0"]),
        Blocked(1),
        Send(1, &["BLPOP", "k", "0"]),
        Blocked(2),
        Send(2, &["BRPOP", "k", "0"]),
        Blocked(3),
        // One element wakes only the first in line.
        Cmd(3, &["RPUSH", "k", "first"]),
        Read(0),
        Silent(1, 100),
        Blocked(2),
        // Several elements serve everyone left, in order.
        Cmd(3, &["RPUSH", "k", "1", "2", "3"]),
        Read(1),
        Read(2),
        Blocked(0),
        Cmd(3, &["LRANGE", "k", "0", "-1"]),
    ]);
    assert_eq!(r[1], "#7 0: *2 $1 k $5 first ");
    assert_eq!(r[4], "#11 1: *2 $1 k $1 1 ");
    assert_eq!(r[5], "#12 2: *2 $1 k $1 3 ");
    assert_eq!(r[6], "#14 3: *1 $1 2 ");
}

#[test]
fn blpop_on_several_keys_is_served_from_the_key_that_got_data() {
    let r = same_as_redis(&[
        Send(0, &["BLPOP", "k1", "k2", "k3", "0"]),
        Blocked(1),
        Cmd(1, &["RPUSH", "k3", "x"]),
        Read(0),
        // Two keys fed by one transaction: the first one fed serves.
        Send(0, &["BLPOP", "k1", "k2", "0"]),
        Blocked(1),
        Cmd(1, &["MULTI"]),
        Cmd(1, &["RPUSH", "k2", "a"]),
        Cmd(1, &["RPUSH", "k1", "b"]),
        Cmd(1, &["EXEC"]),
        Read(0),
        Cmd(1, &["LRANGE", "k1", "0", "-1"]),
        Cmd(1, &["EXISTS", "k2"]),
    ]);
    assert_eq!(r[1], "#3 0: *2 $2 k3 $1 x ");
    assert_eq!(r[6], "#10 0: *2 $2 k2 $1 a ");
}

#[test]
fn timeouts_reply_nil_after_about_the_timeout() {
    let redis = Server::redis(&[]);
    let rhea = Server::rhea(&[]);
    let cmds: &[&[&str]] = &[
        &["BLPOP", "k", "0.3"],
        &["BRPOP", "a", "b", "0.3"],
        &["BLMOVE", "k", "d", "LEFT", "RIGHT", "0.3"],
        &["BRPOPLPUSH", "k", "d", "0.3"],
        &["BLMPOP", "0.3", "2", "a", "k", "LEFT", "COUNT", "2"],
    ];
    for cmd in cmds {
        let mut replies = Vec::new();
        for s in [&redis, &rhea] {
            let mut c = s.conn();
            let t = Instant::now();
            let raw = c.send(cmd).and_then(|_| c.read_raw()).map(|x| x.1).expect("reply");
            let took = t.elapsed();
            assert!(took >= Duration::from_millis(290), "{}: {cmd:?} answered after {took:?}", s.name);
            assert!(took < Duration::from_millis(2500), "{}: {cmd:?} answered after {took:?}", s.name);
            replies.push(raw);
        }
        assert_eq!(replies[0], replies[1], "{cmd:?}");
        assert_eq!(replies[1], b"*-1\r\n", "{cmd:?}: every timed-out list pop replies a null array");
        assert_eq!(blocked_clients(&mut rhea.conn()), Some(0), "{cmd:?}: still counted as blocked");
    }
}

#[test]
fn timeout_zero_waits_until_a_later_push() {
    let r = same_as_redis(&[
        Send(0, &["BLPOP", "k", "0"]),
        Blocked(1),
        Silent(0, 700),
        Cmd(1, &["RPUSH", "k", "late"]),
        Read(0),
        Blocked(0),
    ]);
    assert_eq!(r[2], "#4 0: *2 $1 k $4 late ");
}

#[test]
fn a_client_that_hangs_up_while_blocked_is_cancelled() {
    let r = same_as_redis(&[
        Send(0, &["BLPOP", "k", "0"]),
        Blocked(1),
        Send(1, &["BLMOVE", "k", "d", "LEFT", "LEFT", "0"]),
        Blocked(2),
        Close(0),
        Close(1),
        Blocked(0),
        Cmd(2, &["RPUSH", "k", "kept"]),
        Cmd(2, &["LRANGE", "k", "0", "-1"]),
        Cmd(2, &["EXISTS", "d"]),
    ]);
    assert_eq!(r[1], "#8 2: *1 $4 kept ");
}

#[test]
fn client_kill_of_a_blocked_client() {
    let r = same_as_redis(&[
        Send(0, &["BLPOP", "k", "0"]),
        Blocked(1),
        Send(1, &["BLPOP", "k", "0"]),
        Blocked(2),
        Kill(0),
        Read(0),
        Blocked(1),
        Cmd(2, &["RPUSH", "k", "v", "w"]),
        Read(1),
        Cmd(2, &["LRANGE", "k", "0", "-1"]),
    ]);
    assert_eq!(r[0], "#4 kill 0: Int(1)");
    assert_eq!(r[1], "#5 0: <closed>");
    assert_eq!(r[3], "#8 1: *2 $1 k $1 v ");
}

#[test]
fn blmove_feeds_another_clients_blpop() {
    let r = same_as_redis(&[
        Send(0, &["BLMOVE", "a", "b", "LEFT", "RIGHT", "0"]),
        Blocked(1),
        Send(1, &["BLPOP", "b", "0"]),
        Blocked(2),
        Send(2, &["BRPOPLPUSH", "b", "c", "0"]),
        Blocked(3),
        Cmd(3, &["RPUSH", "a", "1", "2", "3"]),
        Read(0),
        Read(1),
        Silent(2, 100),
        Blocked(1),
        Cmd(3, &["LRANGE", "a", "0", "-1"]),
        Cmd(3, &["EXISTS", "b"]),
        // A chain: a -> b (BLMOVE) -> c (BRPOPLPUSH, still waiting on b).
        Send(0, &["BLMOVE", "a2", "b", "RIGHT", "LEFT", "0"]),
        Blocked(2),
        Cmd(3, &["LPUSH", "a2", "x"]),
        Read(0),
        Read(2),
        Blocked(0),
        Cmd(3, &["LRANGE", "c", "0", "-1"]),
        Cmd(3, &["EXISTS", "a2", "b"]),
    ]);
    assert_eq!(r[1], "#7 0: $1 1 ");
    assert_eq!(r[2], "#8 1: *2 $1 b $1 1 ");
    assert_eq!(r[9], "#19 3: *1 $1 x ");
}

#[test]
fn blmove_onto_its_own_source_and_onto_a_wrong_type() {
    same_as_redis(&[
        Send(0, &["BLMOVE", "k", "k", "LEFT", "RIGHT", "0"]),
        Blocked(1),
        Cmd(1, &["RPUSH", "k", "x", "y"]),
        Read(0),
        Cmd(1, &["LRANGE", "k", "0", "-1"]),
        // The destination became a string: served with WRONGTYPE, the
        // element stays in the source.
        Send(0, &["BLMOVE", "src", "dst", "LEFT", "LEFT", "0"]),
        Blocked(1),
        Cmd(1, &["SET", "dst", "str"]),
        Cmd(1, &["RPUSH", "src", "a"]),
        Read(0),
        Blocked(0),
        Cmd(1, &["LRANGE", "src", "0", "-1"]),
    ]);
}

#[test]
fn a_key_emptied_or_retyped_before_serving_keeps_clients_blocked() {
    same_as_redis(&[
        Send(0, &["BLPOP", "k", "0"]),
        Blocked(1),
        Send(1, &["BLPOP", "k", "0"]),
        Blocked(2),
        Cmd(2, &["MULTI"]),
        Cmd(2, &["LPUSH", "k", "x"]),
        Cmd(2, &["DEL", "k"]),
        Cmd(2, &["SET", "k", "s"]),
        Cmd(2, &["EXEC"]),
        Silent(0, 150),
        Blocked(2),
        Cmd(2, &["MULTI"]),
        Cmd(2, &["DEL", "k"]),
        Cmd(2, &["RPUSH", "k", "a", "b"]),
        Cmd(2, &["RPOP", "k"]),
        Cmd(2, &["EXEC"]),
        Read(0),
        Silent(1, 150),
        Blocked(1),
        Cmd(2, &["RPUSH", "k", "c"]),
        Read(1),
        Blocked(0),
    ]);
}

#[test]
fn blocking_commands_inside_multi_do_not_block() {
    let r = same_as_redis(&[
        Cmd(0, &["MULTI"]),
        Cmd(0, &["BLPOP", "k", "0"]),
        Cmd(0, &["BLMOVE", "k", "d", "LEFT", "LEFT", "0"]),
        Cmd(0, &["BLMPOP", "0", "1", "k", "RIGHT"]),
        Cmd(0, &["BRPOPLPUSH", "k", "d", "0"]),
        Cmd(0, &["EXEC"]),
        Blocked(0),
        Cmd(0, &["PING"]),
    ]);
    assert_eq!(r[5], "#5 0: *4 *-1 $-1 *-1 $-1 ");
}

#[test]
fn a_push_inside_exec_wakes_the_client_after_exec() {
    let r = same_as_redis(&[
        Send(0, &["BLPOP", "k", "0"]),
        Blocked(1),
        Cmd(1, &["MULTI"]),
        Cmd(1, &["RPUSH", "k", "x"]),
        Silent(0, 100),
        Cmd(1, &["LLEN", "k"]),
        Cmd(1, &["EXEC"]),
        Read(0),
        Cmd(1, &["LLEN", "k"]),
    ]);
    // Inside EXEC the element is still there; the pop happens after it.
    assert_eq!(r[4], "#6 1: *2 :1 :1 ");
    assert_eq!(r[5], "#7 0: *2 $1 k $1 x ");
    assert_eq!(r[6], "#8 1: :0 ");
}

#[test]
fn pipelined_commands_after_a_blocked_one_wait_for_it() {
    let r = same_as_redis(&[
        Raw(0, b"*3\r\n$5\r\nBLPOP\r\n$1\r\nk\r\n$1\r\n0\r\n*1\r\n$4\r\nPING\r\n*3\r\n$5\r\nLPUSH\r\n$1\r\nk\r\n$4\r\nmine\r\n"),
        Blocked(1),
        Silent(0, 200),
        Cmd(1, &["LLEN", "k"]),
        Cmd(1, &["RPUSH", "k", "v"]),
        Read(0),
        Read(0),
        Read(0),
        Cmd(1, &["LRANGE", "k", "0", "-1"]),
    ]);
    assert_eq!(r[0], "#2 0: silent");
    assert_eq!(r[3], "#5 0: *2 $1 k $1 v ");
    assert_eq!(r[4], "#6 0: +PONG ");
    assert_eq!(r[6], "#8 1: *1 $4 mine ");
}

#[test]
fn info_counts_blocked_clients() {
    let rhea = Server::rhea(&[]);
    let mut ctl = rhea.conn();
    let mut a = rhea.conn();
    let mut b = rhea.conn();
    assert_eq!(blocked_clients(&mut ctl), Some(0));
    a.send(&["BLPOP", "x", "y", "0"]).expect("send");
    assert!(eventually(Duration::from_secs(5), || blocked_clients(&mut ctl) == Some(1)));
    b.send(&["BLMPOP", "0", "2", "y", "z", "LEFT"]).expect("send");
    assert!(eventually(Duration::from_secs(5), || blocked_clients(&mut ctl) == Some(2)));
    ctl.ok(&["RPUSH", "y", "1"]);
    assert_eq!(a.read().expect("reply"), Reply::Array(vec![Reply::Bulk(b"y".to_vec()), Reply::Bulk(b"1".to_vec())]));
    assert!(eventually(Duration::from_secs(5), || blocked_clients(&mut ctl) == Some(1)));
    ctl.ok(&["RPUSH", "z", "2"]);
    assert!(b.read().is_ok());
    assert!(eventually(Duration::from_secs(5), || blocked_clients(&mut ctl) == Some(0)));
}

#[test]
fn resp3_blocked_replies() {
    let r = same_as_redis(&[
        Send(0, &["HELLO", "3"]),
        ReadKind(0),
        Send(0, &["BLPOP", "k", "0"]),
        Blocked(1),
        Cmd(1, &["RPUSH", "k", "v"]),
        Read(0),
        Send(0, &["BLMPOP", "0", "1", "k", "RIGHT", "COUNT", "3"]),
        Blocked(1),
        Cmd(1, &["RPUSH", "k", "a", "b"]),
        Read(0),
        Send(0, &["BLMOVE", "k", "d", "LEFT", "LEFT", "0.1"]),
        Read(0),
        Send(0, &["BLPOP", "k", "0.1"]),
        Read(0),
    ]);
    assert_eq!(r[0], "#1 0: kind map");
    assert_eq!(r[2], "#5 0: *2 $1 k $1 v ");
    assert_eq!(r[5], "#11 0: _ ");
    assert_eq!(r[6], "#13 0: _ ");
}

#[test]
fn clients_block_per_database() {
    same_as_redis(&[
        Cmd(0, &["SELECT", "1"]),
        Send(0, &["BLPOP", "k", "0"]),
        Blocked(1),
        Cmd(1, &["RPUSH", "k", "db0"]),
        Silent(0, 150),
        Cmd(1, &["SELECT", "1"]),
        Cmd(1, &["RPUSH", "k", "db1"]),
        Read(0),
        Cmd(1, &["SELECT", "0"]),
        Cmd(1, &["LRANGE", "k", "0", "-1"]),
    ]);
}

#[test]
fn other_list_writes_wake_blocked_clients() {
    same_as_redis(&[
        Cmd(1, &["RPUSH", "src", "a", "b"]),
        Send(0, &["BLPOP", "dst", "0"]),
        Blocked(1),
        Cmd(1, &["RPOPLPUSH", "src", "dst"]),
        Read(0),
        Send(0, &["BRPOP", "dst", "0"]),
        Blocked(1),
        Cmd(1, &["LMOVE", "src", "dst", "LEFT", "RIGHT"]),
        Read(0),
        Send(0, &["BLMPOP", "0", "2", "x", "dst", "LEFT", "COUNT", "5"]),
        Blocked(1),
        Cmd(1, &["LPUSH", "dst", "1", "2", "3"]),
        Read(0),
        Blocked(0),
        Cmd(1, &["EXISTS", "src", "dst"]),
    ]);
}

#[test]
fn a_list_moved_in_by_rename_move_copy_or_swapdb_wakes_blocked_clients() {
    same_as_redis(&[
        // RENAME of a list onto the key a client waits on.
        Send(0, &["BLPOP", "k", "0"]),
        Blocked(1),
        Cmd(1, &["RPUSH", "src", "a"]),
        Cmd(1, &["RENAME", "src", "k"]),
        Read(0),
        // A string renamed onto it does not wake anyone (only list types do).
        Send(0, &["BLPOP", "k", "0"]),
        Blocked(1),
        Cmd(1, &["SET", "s", "x"]),
        Cmd(1, &["RENAME", "s", "k"]),
        Silent(0, 200),
        Cmd(1, &["DEL", "k"]),
        // COPY, and MOVE from another database.
        Cmd(1, &["RPUSH", "src", "b"]),
        Cmd(1, &["COPY", "src", "k"]),
        Read(0),
        Send(0, &["BLPOP", "k", "0"]),
        Blocked(1),
        Cmd(1, &["SELECT", "1"]),
        Cmd(1, &["RPUSH", "k", "c"]),
        Cmd(1, &["MOVE", "k", "0"]),
        Read(0),
        // SWAPDB bringing a list into the waiting client's database.
        Send(0, &["BLPOP", "w", "0"]),
        Blocked(1),
        Cmd(1, &["RPUSH", "w", "d"]),
        Cmd(1, &["SWAPDB", "0", "1"]),
        Read(0),
    ]);
}
