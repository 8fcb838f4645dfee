//! Server and connection behaviour a differential case file cannot express:
//! authentication with `requirepass`, killing another connection, SHUTDOWN
//! and SIGTERM ending the process, a config file on the command line, CLIENT
//! SETINFO (which the Redis 7.0 oracle lacks) and CLIENT LIST's contents.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{eventually, free_port, rhea_bin, Conn, Reply, Server};

fn simple(s: &str) -> Reply {
    Reply::Simple(s.into())
}

fn err(s: &str) -> Reply {
    Reply::Error(s.into())
}

fn bulk(s: &str) -> Reply {
    Reply::Bulk(s.as_bytes().to_vec())
}

/// A connection is closed when the server says so or the socket errs.
fn is_closed(c: &mut Conn) -> bool {
    match c.cmd(&["PING"]) {
        Ok(Reply::Closed) | Err(_) => true,
        Ok(_) => false,
    }
}

fn text(r: &Reply) -> String {
    String::from_utf8_lossy(r.as_bulk().unwrap_or_default()).into_owned()
}

#[test]
fn requirepass_gates_commands_until_auth() {
    let s = Server::rhea(&["--requirepass", "s3cret"]);
    let mut c = s.conn();
    assert_eq!(c.cmd(&["GET", "k"]).unwrap(), err("NOAUTH Authentication required."));
    assert_eq!(c.cmd(&["PING"]).unwrap(), err("NOAUTH Authentication required."));
    assert_eq!(
        c.cmd(&["AUTH", "wrong"]).unwrap(),
        err("WRONGPASS invalid username-password pair or user is disabled.")
    );
    assert_eq!(
        c.cmd(&["AUTH", "other", "s3cret"]).unwrap(),
        err("WRONGPASS invalid username-password pair or user is disabled.")
    );
    assert_eq!(c.cmd(&["SET", "k", "v"]).unwrap(), err("NOAUTH Authentication required."));
    assert_eq!(c.cmd(&["AUTH", "s3cret"]).unwrap(), simple("OK"));
    assert_eq!(c.cmd(&["SET", "k", "v"]).unwrap(), simple("OK"));
    // RESET drops the authentication again.
    assert_eq!(c.cmd(&["RESET"]).unwrap(), simple("RESET"));
    assert_eq!(c.cmd(&["GET", "k"]).unwrap(), err("NOAUTH Authentication required."));
    assert_eq!(c.cmd(&["AUTH", "default", "s3cret"]).unwrap(), simple("OK"));
    assert_eq!(c.cmd(&["GET", "k"]).unwrap(), bulk("v"));

    // HELLO without AUTH is refused; with it, authenticates and switches.
    let mut h = s.conn();
    let r = h.cmd(&["HELLO", "3"]).unwrap();
    assert!(matches!(&r, Reply::Error(e) if e.starts_with("NOAUTH HELLO must be called")), "{r:?}");
    assert_eq!(
        h.cmd(&["HELLO", "3", "AUTH", "default", "nope"]).unwrap(),
        err("WRONGPASS invalid username-password pair or user is disabled.")
    );
    let r = h.cmd(&["HELLO", "3", "AUTH", "default", "s3cret", "SETNAME", "h"]).unwrap();
    assert!(matches!(r, Reply::Map(_)), "{r:?}");
    assert_eq!(h.cmd(&["GET", "nosuch"]).unwrap(), Reply::Nil);
    let (_, raw) = {
        h.send(&["GET", "nosuch"]).unwrap();
        h.read_raw().unwrap()
    };
    assert_eq!(raw, b"_\r\n");
    assert_eq!(h.cmd(&["CLIENT", "GETNAME"]).unwrap(), bulk("h"));

    // A new password applies to new connections; existing ones stay in.
    assert_eq!(c.cmd(&["CONFIG", "SET", "requirepass", ""]).unwrap(), simple("OK"));
    let mut d = s.conn();
    assert_eq!(d.cmd(&["GET", "k"]).unwrap(), bulk("v"));
}

#[test]
fn client_kill_closes_other_connections() {
    let s = Server::rhea(&[]);
    let mut me = s.conn();
    let mut victim = s.conn();
    let mut other = s.conn();
    let victim_id = victim.cmd(&["CLIENT", "ID"]).unwrap().as_int().unwrap();
    let other_id = other.cmd(&["CLIENT", "ID"]).unwrap().as_int().unwrap();
    assert_eq!(me.cmd(&["CLIENT", "KILL", "ID", &victim_id.to_string()]).unwrap(), Reply::Int(1));
    assert!(eventually(Duration::from_secs(5), || is_closed(&mut victim)));
    assert!(!is_closed(&mut other));

    // The old form, by address, replies OK.
    let info = text(&other.cmd(&["CLIENT", "INFO"]).unwrap());
    let addr = info.split(' ').find_map(|f| f.strip_prefix("addr=")).unwrap().to_string();
    assert_eq!(me.cmd(&["CLIENT", "KILL", &addr]).unwrap(), simple("OK"));
    assert!(eventually(Duration::from_secs(5), || is_closed(&mut other)));
    assert_eq!(me.cmd(&["CLIENT", "KILL", &addr]).unwrap(), err("ERR No such client"));
    assert_eq!(me.cmd(&["CLIENT", "KILL", "ID", &other_id.to_string()]).unwrap(), Reply::Int(0));

    // Filters: SKIPME yes (the default) spares the caller, SKIPME no does not.
    let mut a = s.conn();
    let _ = a.cmd(&["PING"]);
    assert_eq!(me.cmd(&["CLIENT", "KILL", "TYPE", "normal"]).unwrap(), Reply::Int(1));
    assert!(eventually(Duration::from_secs(5), || is_closed(&mut a)));
    assert!(!is_closed(&mut me));
    let r = me.cmd(&["CLIENT", "KILL", "USER", "default", "SKIPME", "no"]).unwrap();
    assert_eq!(r, Reply::Int(1));
    assert!(is_closed(&mut me));
}

#[test]
fn client_list_shows_name_db_and_last_command() {
    let s = Server::rhea(&[]);
    let mut a = s.conn();
    let mut b = s.conn();
    a.ok(&["CLIENT", "SETNAME", "alpha"]);
    a.ok(&["SELECT", "3"]);
    a.ok(&["SET", "k", "v"]);
    let id_a = a.cmd(&["CLIENT", "ID"]).unwrap().as_int().unwrap();
    let _ = a.cmd(&["GET", "k"]);
    let list = text(&b.cmd(&["CLIENT", "LIST"]).unwrap());
    let line = list.lines().find(|l| l.starts_with(&format!("id={id_a} "))).expect("client a listed");
    let keys: Vec<&str> = line.split(' ').map(|f| f.split('=').next().unwrap_or("")).collect();
    assert_eq!(
        keys,
        [
            "id",
            "addr",
            "laddr",
            "fd",
            "name",
            "age",
            "idle",
            "flags",
            "db",
            "sub",
            "psub",
            "ssub",
            "multi",
            "qbuf",
            "qbuf-free",
            "argv-mem",
            "multi-mem",
            "rbs",
            "rbp",
            "obl",
            "oll",
            "omem",
            "tot-mem",
            "events",
            "cmd",
            "user",
            "redir",
            "resp",
            "lib-name",
            "lib-ver"
        ]
    );
    assert!(line.contains(" name=alpha "), "{line}");
    assert!(line.contains(" db=3 "), "{line}");
    assert!(line.contains(" cmd=get "), "{line}");
    assert!(list.ends_with('\n'));
    let mine = text(&b.cmd(&["CLIENT", "INFO"]).unwrap());
    assert!(mine.contains(" cmd=client|info "), "{mine}");
    assert_eq!(mine.lines().count(), 1);
    let only = text(&b.cmd(&["CLIENT", "LIST", "ID", &id_a.to_string()]).unwrap());
    assert_eq!(only.lines().count(), 1);
    assert!(only.starts_with(&format!("id={id_a} ")));
    // HELLO 3 shows in `resp`, and CLIENT LIST becomes a verbatim string.
    let _ = a.cmd(&["HELLO", "3"]);
    let r = a.cmd(&["CLIENT", "INFO"]).unwrap();
    assert!(matches!(&r, Reply::Verbatim(_)), "{r:?}");
    assert!(text(&r).contains(" resp=3"));
}

#[test]
fn client_setinfo_as_redis_7_2() {
    let s = Server::rhea(&[]);
    let mut c = s.conn();
    assert_eq!(c.cmd(&["CLIENT", "SETINFO", "LIB-NAME", "redis-py"]).unwrap(), simple("OK"));
    assert_eq!(c.cmd(&["CLIENT", "SETINFO", "lib-ver", "5.0.1"]).unwrap(), simple("OK"));
    assert_eq!(c.cmd(&["CLIENT", "SETINFO", "lib-ver", ""]).unwrap(), simple("OK"));
    assert_eq!(c.cmd(&["CLIENT", "SETINFO", "foo", "x"]).unwrap(), err("ERR Unrecognized option 'foo'"));
    assert_eq!(
        c.cmd(&["CLIENT", "SETINFO", "lib-name", "a b"]).unwrap(),
        err("ERR lib-name cannot contain spaces, newlines or special characters.")
    );
    assert_eq!(
        c.cmd(&["CLIENT", "SETINFO", "lib-name"]).unwrap(),
        err("ERR wrong number of arguments for 'client|setinfo' command")
    );
}

#[test]
fn shutdown_exits_without_reply() {
    let mut s = Server::rhea(&[]);
    let mut c = s.conn();
    c.ok(&["SET", "k", "v"]);
    assert_eq!(c.cmd(&["SHUTDOWN", "ABORT"]).unwrap(), err("ERR No shutdown in progress."));
    assert_eq!(c.cmd(&["SHUTDOWN", "NOSAVE", "SAVE"]).unwrap(), err("ERR syntax error"));
    c.send(&["SHUTDOWN", "NOSAVE", "NOW"]).unwrap();
    let r = c.read();
    assert!(matches!(r, Ok(Reply::Closed) | Err(_)), "SHUTDOWN replied {r:?}");
    let status = s.wait_exit(Duration::from_secs(10)).expect("server did not exit after SHUTDOWN");
    assert!(status.success(), "{status:?}");
}

#[test]
fn sigterm_exits_cleanly() {
    let mut s = Server::rhea(&[]);
    let mut c = s.conn();
    c.ok(&["PING"]);
    s.signal("TERM");
    let status = s.wait_exit(Duration::from_secs(10)).expect("server did not exit after SIGTERM");
    assert!(status.success(), "{status:?}");
    assert!(is_closed(&mut c));
}

/// A rhea-server started with a config file as its first argument.
struct FileServer {
    child: Child,
    port: u16,
}

impl Drop for FileServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn config_file_on_the_command_line() {
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("rhea-server-test-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("rhea.conf");
    let conf = "# a redis.conf style file\nrequirepass \"pass word\"\ntimeout 120\n\nhz 20\nsave \"\"\nappendonly no\n";
    std::fs::write(&path, conf).unwrap();
    let child = Command::new(rhea_bin())
        .arg(&path)
        .args(["--port", &port.to_string(), "--maxclients", "50"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let s = FileServer { child, port };
    let mut c = None;
    assert!(eventually(Duration::from_secs(10), || {
        c = Conn::connect(s.port).ok();
        c.is_some()
    }));
    let mut c = c.unwrap();
    assert_eq!(c.cmd(&["PING"]).unwrap(), err("NOAUTH Authentication required."));
    assert_eq!(c.cmd(&["AUTH", "pass word"]).unwrap(), simple("OK"));
    let get = |c: &mut Conn, name: &str| match c.cmd(&["CONFIG", "GET", name]).unwrap() {
        Reply::Array(v) if v.len() == 2 => text(&v[1]),
        r => panic!("CONFIG GET {name}: {r:?}"),
    };
    assert_eq!(get(&mut c, "timeout"), "120");
    assert_eq!(get(&mut c, "hz"), "20");
    assert_eq!(get(&mut c, "maxclients"), "50");
    assert_eq!(get(&mut c, "port"), port.to_string());
    let info = text(&c.cmd(&["INFO", "server"]).unwrap());
    let canonical = std::fs::canonicalize(&path).unwrap();
    assert!(info.contains(&format!("config_file:{}\r\n", canonical.display())), "{info}");
    assert!(info.contains(&format!("tcp_port:{port}\r\n")), "{info}");
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);

    // A bad file is refused at startup with a non-zero exit.
    let bad = std::env::temp_dir().join(format!("rhea-bad-{}-{port}.conf", std::process::id()));
    std::fs::write(&bad, "nosuchdirective 1\n").unwrap();
    let out = Command::new(rhea_bin()).arg(&bad).args(["--port", &free_port().to_string()]).output().unwrap();
    assert!(!out.status.success());
    let _ = std::fs::remove_file(&bad);
}

#[test]
fn info_stats_count_connections_and_commands() {
    let s = Server::rhea(&[]);
    let mut c = s.conn();
    for _ in 0..5 {
        c.ok(&["PING"]);
    }
    let field = |c: &mut Conn, section: &str, name: &str| -> i64 {
        let info = text(&c.cmd(&["INFO", section]).unwrap());
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {info}"))
    };
    assert!(field(&mut c, "stats", "total_commands_processed") >= 5);
    assert!(field(&mut c, "stats", "total_connections_received") >= 1);
    assert_eq!(field(&mut c, "clients", "connected_clients"), 1);
    c.ok(&["SET", "a", "1"]);
    let _ = c.cmd(&["GET", "a"]);
    let _ = c.cmd(&["GET", "nosuch"]);
    assert_eq!(field(&mut c, "stats", "keyspace_hits"), 1);
    assert_eq!(field(&mut c, "stats", "keyspace_misses"), 1);
    assert!(field(&mut c, "memory", "used_memory_rss") > 0);
    c.ok(&["CONFIG", "RESETSTAT"]);
    assert_eq!(field(&mut c, "stats", "keyspace_hits"), 0);
    assert!(field(&mut c, "stats", "total_commands_processed") <= 2);
    let all = text(&c.cmd(&["INFO", "everything"]).unwrap());
    for header in
        ["# Server", "# Clients", "# Memory", "# Persistence", "# Stats", "# Replication", "# CPU", "# Keyspace"]
    {
        assert!(all.contains(header), "missing {header}");
    }
    assert!(all.contains("role:master\r\n") && all.contains("loading:0\r\n") && all.contains("redis_version:7.0.15"));
}
