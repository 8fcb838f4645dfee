//! Blocking sorted-set pops (BZPOPMIN, BZPOPMAX, BZMPOP) across several real
//! connections, compared byte for byte with redis-server. Each scenario is a
//! script of steps run against both servers; steps that depend on a client
//! being blocked wait until INFO clients reports it (never a fixed sleep), so
//! events happen in the same order on both.

mod common;

use std::time::{Duration, Instant};

use common::scenario::{blocked_clients, same_as_redis, Step::*};
use common::Server;

#[test]
fn bzpopmin_and_bzpopmax_are_woken_by_zadd_from_another_client() {
    let r = same_as_redis(&[
        Send(0, &["BZPOPMIN", "z", "0"]),
        Blocked(1),
        Silent(0, 100),
        Cmd(1, &["ZADD", "z", "2", "b", "1", "a", "3", "c"]),
        Read(0),
        Blocked(0),
        Cmd(1, &["ZRANGE", "z", "0", "-1", "WITHSCORES"]),
        Cmd(1, &["DEL", "z"]),
        Send(0, &["BZPOPMAX", "z", "0"]),
        Blocked(1),
        Cmd(1, &["ZADD", "z", "2.5", "b", "-1", "a"]),
        Read(0),
        Cmd(1, &["ZRANGE", "z", "0", "-1", "WITHSCORES"]),
        // The last element: the key goes away.
        Send(0, &["BZPOPMIN", "y", "0"]),
        Blocked(1),
        Cmd(1, &["ZADD", "y", "7", "only"]),
        Read(0),
        Cmd(1, &["EXISTS", "y"]),
    ]);
    assert_eq!(r[0], "#2 0: silent");
    assert_eq!(r[2], "#4 0: *3 $1 z $1 a $1 1 ");
    assert_eq!(r[6], "#11 0: *3 $1 z $1 b $3 2.5 ");
    assert_eq!(r[9], "#16 0: *3 $1 y $4 only $1 7 ");
    assert_eq!(r[10], "#17 1: :0 ");
}

#[test]
fn bzmpop_is_woken_and_pops_up_to_count() {
    let r = same_as_redis(&[
        Send(0, &["BZMPOP", "0", "2", "a", "b", "MAX", "COUNT", "2"]),
        Blocked(1),
        Cmd(1, &["ZADD", "b", "1", "x", "2", "y", "3", "z"]),
        Read(0),
        Send(0, &["BZMPOP", "0", "2", "a", "b", "MIN", "COUNT", "5"]),
        Read(0),
        Cmd(1, &["EXISTS", "b"]),
        Send(0, &["BZMPOP", "0", "1", "a", "MIN"]),
        Blocked(1),
        Cmd(1, &["ZADD", "a", "1", "p", "2", "q"]),
        Read(0),
        Cmd(1, &["ZRANGE", "a", "0", "-1"]),
    ]);
    assert_eq!(r[1], "#3 0: *2 $1 b *2 *2 $1 z $1 3 *2 $1 y $1 2 ");
    assert_eq!(r[2], "#5 0: *2 $1 b *1 *2 $1 x $1 1 ");
    assert_eq!(r[5], "#10 0: *2 $1 a *1 *2 $1 p $1 1 ");
}

#[test]
fn clients_blocked_on_one_zset_are_served_in_arrival_order() {
    let r = same_as_redis(&[
        Send(0, &["BZPOPMIN", "z", "0"]),
        Blocked(1),
        Send(1, &["BZPOPMAX", "z", "0"]),
        Blocked(2),
        Send(2, &["BZMPOP", "0", "1", "z", "MIN", "COUNT", "10"]),
        Blocked(3),
        // One element wakes only the first in line.
        Cmd(3, &["ZADD", "z", "5", "first"]),
        Read(0),
        Silent(1, 100),
        Blocked(2),
        // Several elements serve everyone left, in order.
        Cmd(3, &["ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d"]),
        Read(1),
        Read(2),
        Blocked(0),
        Cmd(3, &["EXISTS", "z"]),
    ]);
    assert_eq!(r[1], "#7 0: *3 $1 z $5 first $1 5 ");
    assert_eq!(r[4], "#11 1: *3 $1 z $1 d $1 4 ");
    assert_eq!(r[5], "#12 2: *2 $1 z *3 *2 $1 a $1 1 *2 $1 b $1 2 *2 $1 c $1 3 ");
    assert_eq!(r[6], "#14 3: :0 ");
}

#[test]
fn several_keys_are_served_from_the_key_that_got_data() {
    let r = same_as_redis(&[
        Send(0, &["BZPOPMIN", "k1", "k2", "k3", "0"]),
        Blocked(1),
        Cmd(1, &["ZADD", "k3", "1", "x"]),
        Read(0),
        // Two keys fed by one transaction: the first one fed serves.
        Send(0, &["BZPOPMAX", "k1", "k2", "0"]),
        Blocked(1),
        Cmd(1, &["MULTI"]),
        Cmd(1, &["ZADD", "k2", "1", "a"]),
        Cmd(1, &["ZADD", "k1", "2", "b"]),
        Cmd(1, &["EXEC"]),
        Read(0),
        Cmd(1, &["ZRANGE", "k1", "0", "-1"]),
        Cmd(1, &["EXISTS", "k2"]),
    ]);
    assert_eq!(r[1], "#3 0: *3 $2 k3 $1 x $1 1 ");
    assert_eq!(r[6], "#10 0: *3 $2 k2 $1 a $1 1 ");
}

#[test]
fn zset_timeouts_reply_a_null_array() {
    let redis = Server::redis(&[]);
    let rhea = Server::rhea(&[]);
    let cmds: &[&[&str]] = &[
        &["BZPOPMIN", "k", "0.3"],
        &["BZPOPMAX", "a", "b", "0.3"],
        &["BZMPOP", "0.3", "2", "a", "k", "MIN", "COUNT", "2"],
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
        assert_eq!(replies[1], b"*-1\r\n", "{cmd:?}");
        assert_eq!(blocked_clients(&mut rhea.conn()), Some(0), "{cmd:?}: still counted as blocked");
    }
}

#[test]
fn zset_blocking_pops_inside_multi_do_not_block() {
    let r = same_as_redis(&[
        Cmd(0, &["MULTI"]),
        Cmd(0, &["BZPOPMIN", "z", "0"]),
        Cmd(0, &["BZPOPMAX", "z", "0"]),
        Cmd(0, &["BZMPOP", "0", "1", "z", "MIN"]),
        Cmd(0, &["ZADD", "z", "1", "a"]),
        Cmd(0, &["BZPOPMAX", "z", "0"]),
        Cmd(0, &["EXEC"]),
        Blocked(0),
        Cmd(0, &["PING"]),
    ]);
    assert_eq!(r[6], "#6 0: *5 *-1 *-1 *-1 :1 *3 $1 z $1 a $1 1 ");
}

#[test]
fn a_zadd_inside_exec_wakes_the_client_after_exec() {
    let r = same_as_redis(&[
        Send(0, &["BZPOPMIN", "z", "0"]),
        Blocked(1),
        Cmd(1, &["MULTI"]),
        Cmd(1, &["ZADD", "z", "1", "x"]),
        Silent(0, 100),
        Cmd(1, &["ZCARD", "z"]),
        Cmd(1, &["EXEC"]),
        Read(0),
        Cmd(1, &["ZCARD", "z"]),
    ]);
    assert_eq!(r[4], "#6 1: *2 :1 :1 ");
    assert_eq!(r[5], "#7 0: *3 $1 z $1 x $1 1 ");
    assert_eq!(r[6], "#8 1: :0 ");
}

#[test]
fn every_command_creating_a_zset_wakes_blocked_clients() {
    let r = same_as_redis(&[
        Cmd(3, &["ZADD", "src", "1", "a", "2", "b"]),
        Send(0, &["BZPOPMIN", "d1", "0"]),
        Blocked(1),
        Cmd(3, &["ZUNIONSTORE", "d1", "1", "src"]),
        Read(0),
        Send(0, &["BZPOPMIN", "d2", "0"]),
        Blocked(1),
        Cmd(3, &["ZINTERSTORE", "d2", "1", "src", "WEIGHTS", "3"]),
        Read(0),
        Send(0, &["BZPOPMAX", "d3", "0"]),
        Blocked(1),
        Cmd(3, &["ZDIFFSTORE", "d3", "1", "src"]),
        Read(0),
        Send(0, &["BZPOPMAX", "d4", "0"]),
        Blocked(1),
        Cmd(3, &["ZRANGESTORE", "d4", "src", "0", "0"]),
        Read(0),
        Send(0, &["BZMPOP", "0", "1", "d5", "MIN"]),
        Blocked(1),
        Cmd(3, &["ZINCRBY", "d5", "2.5", "m"]),
        Read(0),
        // A store of an empty result creates nothing and wakes nobody.
        Send(0, &["BZPOPMIN", "d6", "0"]),
        Blocked(1),
        Cmd(3, &["ZINTERSTORE", "d6", "2", "src", "missing"]),
        Silent(0, 100),
        Cmd(3, &["ZADD", "d6", "XX", "1", "a"]),
        Cmd(3, &["ZADD", "d6", "NX", "1", "a"]),
        Read(0),
    ]);
    assert_eq!(r[2], "#4 0: *3 $2 d1 $1 a $1 1 ");
    assert_eq!(r[10], "#20 0: *2 $2 d5 *1 *2 $1 m $3 2.5 ");
    assert_eq!(r[12], "#24 0: silent");
}

#[test]
fn a_key_emptied_or_retyped_before_serving_keeps_clients_blocked() {
    let r = same_as_redis(&[
        Send(0, &["BZPOPMIN", "z", "0"]),
        Blocked(1),
        Cmd(1, &["MULTI"]),
        Cmd(1, &["ZADD", "z", "1", "a"]),
        Cmd(1, &["DEL", "z"]),
        Cmd(1, &["SET", "z", "str"]),
        Cmd(1, &["EXEC"]),
        Silent(0, 100),
        Blocked(1),
        Cmd(1, &["MULTI"]),
        Cmd(1, &["ZADD", "w", "1", "a"]),
        Cmd(1, &["ZREM", "w", "a"]),
        Cmd(1, &["EXEC"]),
        Cmd(1, &["DEL", "z"]),
        Cmd(1, &["ZADD", "z", "4", "d"]),
        Read(0),
    ]);
    assert_eq!(r[5], "#7 0: silent");
    assert_eq!(r[12], "#15 0: *3 $1 z $1 d $1 4 ");
}

#[test]
fn a_client_that_hangs_up_or_is_killed_while_blocked_is_cancelled() {
    same_as_redis(&[
        Send(0, &["BZPOPMIN", "z", "0"]),
        Send(1, &["BZMPOP", "0", "1", "z", "MAX"]),
        Blocked(2),
        Close(0),
        Blocked(1),
        Kill(1),
        Blocked(0),
        Send(2, &["BZPOPMAX", "z", "0"]),
        Blocked(1),
        Cmd(3, &["ZADD", "z", "1", "a", "2", "b"]),
        Read(2),
        Cmd(3, &["ZRANGE", "z", "0", "-1"]),
    ]);
}

#[test]
fn resp3_blocked_zset_replies() {
    let r = same_as_redis(&[
        Send(0, &["HELLO", "3"]),
        ReadKind(0),
        Send(0, &["BZPOPMIN", "z", "0"]),
        Blocked(1),
        Cmd(1, &["ZADD", "z", "1.5", "v"]),
        Read(0),
        Send(0, &["BZMPOP", "0", "1", "z", "MAX", "COUNT", "3"]),
        Blocked(1),
        Cmd(1, &["ZADD", "z", "1", "a", "2", "b"]),
        Read(0),
        Send(0, &["BZPOPMAX", "z", "0.1"]),
        Read(0),
        Send(0, &["BZMPOP", "0.1", "1", "z", "MIN"]),
        Read(0),
    ]);
    assert_eq!(r[0], "#1 0: kind map");
    assert_eq!(r[2], "#5 0: *3 $1 z $1 v ,1.5 ");
    assert_eq!(r[5], "#11 0: _ ");
    assert_eq!(r[6], "#13 0: _ ");
}

#[test]
fn zset_clients_block_per_database() {
    same_as_redis(&[
        Cmd(0, &["SELECT", "1"]),
        Send(0, &["BZPOPMIN", "z", "0"]),
        Blocked(1),
        Cmd(1, &["ZADD", "z", "1", "db0"]),
        Silent(0, 150),
        Cmd(1, &["SELECT", "1"]),
        Cmd(1, &["ZADD", "z", "1", "db1"]),
        Read(0),
        Cmd(1, &["SELECT", "0"]),
        Cmd(1, &["ZRANGE", "z", "0", "-1"]),
    ]);
}

#[test]
fn keyspace_events_of_a_served_blocked_pop() {
    let r = same_as_redis(&[
        Cmd(3, &["CONFIG", "SET", "notify-keyspace-events", "KEA"]),
        Cmd(2, &["PSUBSCRIBE", "__keyevent@0__:*"]),
        Send(0, &["BZPOPMIN", "z", "0"]),
        Blocked(1),
        Cmd(1, &["ZADD", "z", "1", "a"]),
        Read(0),
        Read(2),
        Read(2),
        Read(2),
        Silent(2, 100),
        Cmd(3, &["CONFIG", "SET", "notify-keyspace-events", ""]),
    ]);
    assert!(r[4].contains("zadd"), "{}", r[4]);
    assert!(r[5].contains("zpopmin"), "{}", r[5]);
    assert!(r[6].contains("keyevent@0__:del"), "{}", r[6]);
}

#[test]
fn list_and_zset_waiters_on_one_key_are_served_by_type() {
    let r = same_as_redis(&[
        Send(0, &["BLPOP", "k", "0"]),
        Blocked(1),
        Send(1, &["BZPOPMIN", "k", "0"]),
        Blocked(2),
        Send(2, &["BLMPOP", "0", "1", "k", "LEFT"]),
        Blocked(3),
        // The zset waiter is served although list waiters came first.
        Cmd(3, &["ZADD", "k", "1", "a"]),
        Read(1),
        Silent(0, 100),
        Blocked(2),
        Cmd(3, &["RPUSH", "k", "x", "y"]),
        Read(0),
        Read(2),
        Blocked(0),
    ]);
    assert_eq!(r[1], "#7 1: *3 $1 k $1 a $1 1 ");
    assert_eq!(r[5], "#12 2: *2 $1 k *1 $1 y ");
}
