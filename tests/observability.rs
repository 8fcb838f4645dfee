//! Clients, connections and observability on real server processes: 1,000
//! connections against maxclients, CLIENT KILL's filters, CLIENT LIST's
//! fields, idle timeout, the output and query buffer limits, CLIENT PAUSE
//! and REPLY, MONITOR and SLOWLOG (compared with redis-server), INFO
//! commandstats/errorstats/latencystats, and the Prometheus endpoint.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{eventually, free_port, Conn, Reply, Server};

fn text(r: &Reply) -> String {
    let b = r.as_bulk().unwrap_or_else(|| panic!("expected a bulk or verbatim reply, got {r:?}"));
    String::from_utf8_lossy(b).into_owned()
}

/// `field:value` from an INFO reply.
fn info_field(c: &mut Conn, section: &str, field: &str) -> String {
    let t = text(&c.ok(&["INFO", section]));
    t.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in INFO {section}:\n{t}"))
        .trim()
        .to_string()
}

fn received(c: &mut Conn) -> u64 {
    info_field(c, "stats", "total_connections_received").parse().expect("total_connections_received")
}

fn connected(c: &mut Conn) -> usize {
    info_field(c, "clients", "connected_clients").parse().expect("connected_clients")
}

/// `key=value` fields of a CLIENT LIST line.
fn fields(line: &str) -> Vec<(String, String)> {
    line.split(' ').filter_map(|f| f.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn field(line: &str, key: &str) -> String {
    fields(line).into_iter().find(|(k, _)| k == key).map(|(_, v)| v).unwrap_or_else(|| panic!("no {key} in {line}"))
}

/// GET over plain HTTP/1.0; (status line, body).
fn http_get(port: u16, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to metrics port");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("read metrics response");
    let (head, body) = resp.split_once("\r\n\r\n").unwrap_or((&resp, ""));
    (head.lines().next().unwrap_or("").to_string(), body.to_string())
}

/// The value of one sample line (`name{labels} value`) of a scrape.
fn sample(body: &str, series: &str) -> Option<f64> {
    body.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Raises this process's open-file limit to `n` if it is lower, with the
/// `prlimit` tool (no unsafe setrlimit call in a test); the servers the
/// test starts inherit it.
fn ensure_fd_limit(n: u64) {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let soft: u64 = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3)?.parse().ok())
        .unwrap_or(0);
    if soft >= n {
        return;
    }
    let pid = std::process::id().to_string();
    let st = std::process::Command::new("prlimit").args(["--pid", &pid, &format!("--nofile={n}:")]).status();
    assert!(st.is_ok_and(|s| s.success()), "open-file limit {soft} < {n} and prlimit could not raise it");
}

#[test]
fn thousand_connections_maxclients_kill_filters_and_metrics() {
    ensure_fd_limit(4096);
    let mport = free_port();
    let s = Server::rhea(&["--maxclients", "1000", "--metrics-port", &mport.to_string()]);
    let mut conns: Vec<Conn> = Vec::with_capacity(1000);
    for i in 0..1000 {
        let mut c = s.conn();
        match i % 10 {
            0..=5 => c.ok(&["CLIENT", "SETNAME", "pool-a"]),
            6..=8 => c.ok(&["CLIENT", "SETINFO", "LIB-NAME", "jedis"]),
            _ => c.ok(&["PING"]),
        };
        conns.push(c);
    }
    // The 1001st is refused with Redis's error, then closed.
    let mut extra = Conn::connect(s.port).expect("connect");
    assert_eq!(extra.read().unwrap(), Reply::Error("ERR max number of clients reached".into()));
    assert_eq!(extra.read().unwrap(), Reply::Closed);
    assert_eq!(connected(&mut conns[0]), 1000);
    assert_eq!(info_field(&mut conns[0], "stats", "rejected_connections"), "1");
    // The refused one is not counted as received (1,000 plus the probe
    // connection that saw the server start).
    assert_eq!(info_field(&mut conns[0], "stats", "total_connections_received"), "1001");

    // The metrics endpoint reports them per name.
    let (status, body) = http_get(mport, "/metrics");
    assert!(status.contains("200"), "{status}");
    assert_eq!(sample(&body, r#"rhea_client_connections{client_name="pool-a"}"#), Some(600.0), "{body}");
    assert_eq!(sample(&body, r#"rhea_client_connections{client_name="jedis"}"#), Some(300.0));
    assert_eq!(sample(&body, r#"rhea_client_connections{client_name="unnamed"}"#), Some(100.0));
    assert_eq!(sample(&body, r#"rhea_client_connection_idle_seconds_count{client_name="pool-a"}"#), Some(600.0));
    assert_eq!(
        sample(&body, r#"rhea_client_connection_age_seconds_bucket{le="+Inf",client_name="jedis"}"#),
        Some(300.0)
    );
    assert_eq!(sample(&body, "rhea_rejected_connections_total"), Some(1.0));
    assert_eq!(sample(&body, "rhea_connected_clients"), Some(1000.0));
    assert!(sample(&body, r#"rhea_commands_total{cmd="client|setname"}"#).is_some_and(|n| n >= 600.0));
    assert!(body.contains(r#"rhea_command_duration_seconds_bucket{le="0.001",cmd="ping"}"#), "{body}");
    assert!(sample(&body, "rhea_memory_rss_bytes").is_some_and(|n| n > 0.0));
    assert!(http_get(mport, "/nope").0.contains("404"));

    // CLIENT LIST shows all of them with Redis's fields.
    let list = text(&conns[0].ok(&["CLIENT", "LIST"]));
    assert_eq!(list.lines().count(), 1000);
    assert_eq!(list.lines().filter(|l| l.contains(" name=pool-a ")).count(), 600);
    assert_eq!(list.lines().filter(|l| l.contains(" lib-name=jedis ")).count(), 300);
    let line = |c: &mut Conn| text(&c.ok(&["CLIENT", "INFO"])).trim_end().to_string();

    // ID.
    let victim = line(&mut conns[999]);
    let id = field(&victim, "id");
    assert_eq!(conns[0].ok(&["CLIENT", "KILL", "ID", &id]), Reply::Int(1));
    assert_eq!(conns[999].read().unwrap(), Reply::Closed);
    // ADDR, in the new and the old form.
    let addr = field(&line(&mut conns[998]), "addr");
    assert_eq!(conns[0].ok(&["CLIENT", "KILL", "ADDR", &addr]), Reply::Int(1));
    assert_eq!(conns[998].read().unwrap(), Reply::Closed);
    let addr = field(&line(&mut conns[997]), "addr");
    assert_eq!(conns[0].ok(&["CLIENT", "KILL", &addr]), Reply::Simple("OK".into()));
    assert_eq!(conns[997].read().unwrap(), Reply::Closed);
    assert!(eventually(Duration::from_secs(5), || connected(&mut conns[0]) == 997));
    // A slot is free again.
    let mut again = s.conn();
    again.ok(&["CLIENT", "SETNAME", "late"]);
    // MAXAGE: nobody is an hour old; everyone is at least 0 s old.
    assert_eq!(conns[0].ok(&["CLIENT", "KILL", "MAXAGE", "3600"]), Reply::Int(0));
    // TYPE pubsub kills only the subscriber.
    conns[1].ok(&["SUBSCRIBE", "ch"]);
    assert_eq!(conns[0].ok(&["CLIENT", "KILL", "TYPE", "pubsub"]), Reply::Int(1));
    assert_eq!(conns[1].read().unwrap(), Reply::Closed);
    // A whole pool by name, from CLIENT LIST (Redis has no name filter).
    let list = text(&conns[0].ok(&["CLIENT", "LIST"]));
    let pool_a: Vec<String> = list.lines().filter(|l| l.contains(" name=pool-a ")).map(|l| field(l, "id")).collect();
    let me = field(&line(&mut conns[0]), "id");
    let mut killed = 0;
    for id in pool_a.iter().filter(|id| **id != me) {
        killed += conns[0].ok(&["CLIENT", "KILL", "ID", id]).as_int().unwrap();
    }
    assert_eq!(killed as usize, pool_a.len() - 1);
    assert!(eventually(Duration::from_secs(5), || {
        let (_, body) = http_get(mport, "/metrics");
        sample(&body, r#"rhea_client_connections{client_name="pool-a"}"#) == Some(1.0)
            && sample(&body, r#"rhea_client_connections{client_name="late"}"#) == Some(1.0)
    }));
    // LADDR with SKIPME yes: everyone but the caller; USER with SKIPME no:
    // the caller too (after its reply).
    let laddr = field(&line(&mut conns[0]), "laddr");
    let n = conns[0].ok(&["CLIENT", "KILL", "LADDR", &laddr]).as_int().unwrap();
    assert!(n > 300, "{n}");
    assert!(eventually(Duration::from_secs(5), || connected(&mut conns[0]) == 1));
    assert_eq!(conns[0].ok(&["CLIENT", "KILL", "USER", "default", "SKIPME", "no"]), Reply::Int(1));
    assert_eq!(conns[0].read().unwrap(), Reply::Closed);
}

#[test]
fn client_list_fields_and_values_like_redis() {
    let redis = Server::redis(&[]);
    let rhea = Server::rhea(&[]);
    let mut lines = Vec::new();
    for s in [&redis, &rhea] {
        let mut c = s.conn();
        let l = text(&c.ok(&["CLIENT", "INFO"])).trim_end().to_string();
        lines.push(l);
    }
    let keys = |l: &str| fields(l).into_iter().map(|(k, _)| k).collect::<Vec<_>>();
    let mut rhea_keys = keys(&lines[1]);
    // Redis 7.2's library fields, which the 7.0 oracle lacks, come last.
    assert_eq!(rhea_keys.split_off(rhea_keys.len() - 2), ["lib-name", "lib-ver"]);
    assert_eq!(rhea_keys, keys(&lines[0]));
    for k in
        ["flags", "db", "multi", "qbuf", "argv-mem", "obl", "oll", "omem", "events", "cmd", "user", "redir", "resp"]
    {
        assert_eq!(field(&lines[1], k), field(&lines[0], k), "{k}: {} vs {}", lines[1], lines[0]);
    }
    assert!(field(&lines[1], "tot-mem").parse::<u64>().unwrap() > 0);

    // Flags and counters another client sees, on both servers.
    for s in [&redis, &rhea] {
        let mut watcher = s.conn();
        let mut m = s.conn();
        let mut sub = s.conn();
        let mut blocked = s.conn();
        let id = |c: &mut Conn| c.ok(&["CLIENT", "ID"]).as_int().unwrap().to_string();
        let (mid, sid, bid) = (id(&mut m), id(&mut sub), id(&mut blocked));
        m.ok(&["MULTI"]);
        m.ok(&["SET", "a", "b"]);
        m.ok(&["CLIENT", "NO-EVICT", "on"]);
        sub.ok(&["PSUBSCRIBE", "x*"]);
        blocked.send(&["BLPOP", "nothing", "0"]).unwrap();
        let get = |w: &mut Conn, id: &str| text(&w.ok(&["CLIENT", "LIST", "ID", id])).trim_end().to_string();
        assert!(eventually(Duration::from_secs(5), || field(&get(&mut watcher, &bid), "flags") == "b"), "{}", s.name);
        let ml = get(&mut watcher, &mid);
        assert_eq!((field(&ml, "flags"), field(&ml, "multi")), ("x".into(), "2".into()), "{}: {ml}", s.name);
        let sl = get(&mut watcher, &sid);
        assert_eq!((field(&sl, "flags"), field(&sl, "psub")), ("P".into(), "1".into()), "{}: {sl}", s.name);
        assert_eq!(field(&get(&mut watcher, &bid), "cmd"), "blpop");
    }
}

#[test]
fn idle_clients_are_closed_after_timeout() {
    let s = Server::rhea(&["--timeout", "1"]);
    let mut idle = s.conn();
    let mut busy = s.conn();
    let mut subscriber = s.conn();
    let mut blocked = s.conn();
    idle.ok(&["PING"]);
    subscriber.ok(&["SUBSCRIBE", "ch"]);
    blocked.send(&["BLPOP", "list", "0"]).unwrap();
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(2500) {
        busy.ok(&["PING"]);
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(idle.read().unwrap(), Reply::Closed);
    // Subscribers and blocked clients wait by design: not idle, as in Redis.
    busy.ok(&["PUBLISH", "ch", "m"]);
    assert!(matches!(subscriber.read().unwrap(), Reply::Array(_)));
    busy.ok(&["RPUSH", "list", "x"]);
    assert!(matches!(blocked.read().unwrap(), Reply::Array(_)));
}

/// Sends `n` pipelined GETs of a big value and never reads the replies.
fn flood_without_reading(port: u16, n: usize) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let req = b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n".repeat(n);
    let _ = s.write_all(&req);
    s
}

#[test]
fn normal_output_buffer_limit_disconnects_a_client_that_never_reads() {
    for s in [Server::redis(&[]), Server::rhea(&[])] {
        let mut c = s.conn();
        c.ok(&["CONFIG", "SET", "client-output-buffer-limit", "normal 1mb 0 0"]);
        c.ok(&["SET", "big", &"x".repeat(100_000)]);
        let before = received(&mut c);
        let mut sink = flood_without_reading(s.port, 200);
        // Accepted, then closed.
        let gone = eventually(Duration::from_secs(10), || received(&mut c) > before && connected(&mut c) == 1);
        assert!(gone, "{}: client still connected", s.name);
        // The connection ends: whatever was written, then EOF or a reset.
        sink.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0;
        loop {
            match sink.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
        assert!(total < 200 * 100_000, "{}: all {total} bytes arrived", s.name);
        // Without a limit the same client is served in full.
        c.ok(&["CONFIG", "SET", "client-output-buffer-limit", "normal 0 0 0"]);
        let mut reader = flood_without_reading(s.port, 50);
        std::thread::sleep(Duration::from_millis(300));
        reader.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut total = 0;
        while total < 50 * 100_011 {
            match reader.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
        assert_eq!(total, 50 * (100_000 + 2 + 2 + 6 + 1), "{}", s.name);
    }
}

#[test]
fn soft_output_buffer_limit_applies_after_its_seconds() {
    let s = Server::rhea(&[]);
    let mut c = s.conn();
    c.ok(&["CONFIG", "SET", "client-output-buffer-limit", "normal 0 256kb 1"]);
    c.ok(&["SET", "big", &"x".repeat(100_000)]);
    let start = Instant::now();
    let _sink = flood_without_reading(s.port, 500);
    assert!(eventually(Duration::from_secs(5), || connected(&mut c) == 2), "the flooding client never connected");
    assert!(eventually(Duration::from_secs(10), || connected(&mut c) == 1), "not closed by the soft limit");
    assert!(start.elapsed() >= Duration::from_millis(900), "closed before the soft limit's second");
}

#[test]
fn query_buffer_limit_closes_the_connection() {
    for s in [Server::redis(&[]), Server::rhea(&[])] {
        let mut c = s.conn();
        c.ok(&["CONFIG", "SET", "client-query-buffer-limit", "1mb"]);
        let mut big = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
        let _ = big.write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3000000\r\n");
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..32 {
            if big.write_all(&chunk).is_err() {
                break;
            }
        }
        big.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = [0u8; 64];
        let r = big.read(&mut buf);
        let closed = match &r {
            Ok(0) => true,
            Err(e) => !matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut),
            Ok(_) => false,
        };
        assert!(closed, "{}: connection still open: {r:?}", s.name);
        assert_eq!(connected(&mut c), 1, "{}", s.name);
        assert_eq!(c.cmd(&["EXISTS", "k"]).unwrap(), Reply::Int(0));
    }
}

/// MONITOR's lines with the timestamp and client ports masked.
fn monitor_transcript(s: &Server) -> Vec<String> {
    let mut mon = s.conn();
    assert_eq!(mon.cmd(&["MONITOR"]).unwrap(), Reply::Simple("OK".into()));
    let mut c = s.conn();
    c.ok(&["SET", "k", "v"]);
    c.ok(&["SELECT", "2"]);
    c.ok(&["SET", "a b", "x\"y\\z\x01\n\t"]);
    let _ = c.cmd(&["AUTH", "secret"]);
    let _ = c.cmd(&["INCR", "a b"]);
    c.ok(&["MULTI"]);
    c.ok(&["SET", "m", "1"]);
    c.ok(&["EXEC"]);
    c.ok(&["EVAL", "redis.call('set','q','1') return 1", "0"]);
    c.ok(&["CONFIG", "GET", "maxclients"]);
    // A blocking pop appears once, when called, not again when served.
    let mut b = s.conn();
    b.ok(&["SELECT", "2"]);
    b.send(&["BLPOP", "bl", "0"]).unwrap();
    assert!(eventually(Duration::from_secs(5), || info_field(&mut c, "clients", "blocked_clients") == "1"));
    c.ok(&["RPUSH", "bl", "x"]);
    assert!(matches!(b.read().unwrap(), Reply::Array(_)));
    c.ok(&["ECHO", "done"]);
    let stamp = regex_like_stamp;
    let mut lines = Vec::new();
    loop {
        let Reply::Simple(l) = mon.read().unwrap() else { panic!("{}: monitor stream ended", s.name) };
        let (ts, rest) = l.split_once(' ').unwrap_or(("", ""));
        assert!(stamp(ts), "{}: bad timestamp in {l:?}", s.name);
        let masked = mask_ports(rest);
        let done = masked.ends_with("\"ECHO\" \"done\"");
        lines.push(masked);
        if done {
            return lines;
        }
    }
}

/// `1700000000.123456`: seconds, a dot, six digits of microseconds.
fn regex_like_stamp(ts: &str) -> bool {
    ts.split_once('.').is_some_and(|(s, us)| {
        s.len() >= 10
            && s.bytes().all(|b| b.is_ascii_digit())
            && us.len() == 6
            && us.bytes().all(|b| b.is_ascii_digit())
    })
}

fn mask_ports(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("127.0.0.1:") {
        out.push_str(&rest[..i + 10]);
        rest = rest[i + 10..].trim_start_matches(|c: char| c.is_ascii_digit());
        out.push_str("PORT");
    }
    out.push_str(rest);
    out
}

#[test]
fn monitor_lines_match_redis() {
    let redis = monitor_transcript(&Server::redis(&[]));
    let rhea = monitor_transcript(&Server::rhea(&[]));
    assert_eq!(rhea, redis);
    assert!(rhea.iter().any(|l| l == "[0 127.0.0.1:PORT] \"SET\" \"k\" \"v\""), "{rhea:?}");
}

#[test]
fn monitor_client_cannot_touch_the_keyspace_and_is_closed_when_killed() {
    let s = Server::rhea(&[]);
    let mut mon = s.conn();
    mon.ok(&["MONITOR"]);
    assert_eq!(mon.cmd(&["GET", "k"]).unwrap(), Reply::Error("ERR Replica can't interact with the keyspace".into()));
    let mut c = s.conn();
    let list = text(&c.ok(&["CLIENT", "LIST"]));
    assert!(list.lines().any(|l| field(l, "flags") == "O"), "{list}");
    assert_eq!(c.ok(&["CLIENT", "KILL", "TYPE", "normal"]), Reply::Int(1));
    assert!(eventually(Duration::from_secs(5), || connected(&mut c) == 1));
}

/// The raw bytes a connection receives for `requests`, up to the reply to
/// a final `ECHO end`.
fn raw_exchange(port: u16, requests: &str) -> Vec<u8> {
    let mut c = Conn::connect(port).unwrap();
    c.send_raw(format!("{requests}CLIENT REPLY ON\r\nECHO end\r\n").as_bytes()).unwrap();
    let mut all = Vec::new();
    loop {
        let (r, raw) = c.read_raw().unwrap();
        all.extend_from_slice(&raw);
        if r == Reply::Bulk(b"end".to_vec()) || r == Reply::Closed {
            return all;
        }
    }
}

#[test]
fn client_reply_on_off_skip_like_redis() {
    let seq = "CLIENT REPLY OFF\r\nPING\r\nCLIENT REPLY SKIP\r\nPING\r\nCLIENT REPLY ON\r\nPING a\r\n\
               CLIENT REPLY SKIP\r\nPING b\r\nPING c\r\nCLIENT REPLY foo\r\nCLIENT REPLY OFF\r\nCLIENT REPLY foo\r\n\
               SET k v\r\nCLIENT REPLY ON\r\nGET k\r\n";
    let redis = raw_exchange(Server::redis(&[]).port, seq);
    let rhea = raw_exchange(Server::rhea(&[]).port, seq);
    assert_eq!(String::from_utf8_lossy(&rhea), String::from_utf8_lossy(&redis));
    assert!(redis.starts_with(b"+OK\r\n$1\r\na\r\n$1\r\nc\r\n"));
}

#[test]
fn client_pause_holds_writes_or_everything() {
    for s in [Server::redis(&[]), Server::rhea(&[])] {
        let mut admin = s.conn();
        let mut c = s.conn();
        c.ok(&["SET", "k", "v"]);
        // WRITE: reads pass at once, writes wait for the end of the pause.
        admin.ok(&["CLIENT", "PAUSE", "700", "WRITE"]);
        let t = Instant::now();
        c.ok(&["GET", "k"]);
        assert!(t.elapsed() < Duration::from_millis(400), "{}: read held", s.name);
        c.ok(&["SET", "k", "w"]);
        assert!(t.elapsed() >= Duration::from_millis(500), "{}: write not held", s.name);
        // EXEC of queued writes waits too.
        c.ok(&["MULTI"]);
        c.ok(&["INCR", "n"]);
        admin.ok(&["CLIENT", "PAUSE", "600", "WRITE"]);
        let t = Instant::now();
        c.ok(&["EXEC"]);
        assert!(t.elapsed() >= Duration::from_millis(400), "{}: EXEC not held", s.name);
        // UNPAUSE releases a waiting write early.
        admin.ok(&["CLIENT", "PAUSE", "20000", "WRITE"]);
        let port = s.port;
        let writer = std::thread::spawn(move || {
            let mut w = Conn::connect(port).unwrap();
            let t = Instant::now();
            w.ok(&["SET", "k", "x"]);
            t.elapsed()
        });
        std::thread::sleep(Duration::from_millis(300));
        admin.ok(&["CLIENT", "UNPAUSE"]);
        let waited = writer.join().unwrap();
        assert!(waited >= Duration::from_millis(200) && waited < Duration::from_secs(5), "{}: {waited:?}", s.name);
        // Keys are not actively expired during a pause.
        c.ok(&["PSETEX", "short", "50", "v"]);
        admin.ok(&["CLIENT", "PAUSE", "600", "WRITE"]);
        std::thread::sleep(Duration::from_millis(400));
        assert_eq!(info_field(&mut c, "keyspace", "db0").split(',').next(), Some("keys=3"), "{}", s.name);
        admin.ok(&["CLIENT", "UNPAUSE"]);
        // ALL: even PING waits.
        admin.ok(&["CLIENT", "PAUSE", "500", "ALL"]);
        let t = Instant::now();
        c.ok(&["PING"]);
        assert!(t.elapsed() >= Duration::from_millis(350), "{}: PING not held", s.name);
    }
}

/// SLOWLOG GET entries with ids, times, durations and ports masked.
fn slowlog_transcript(s: &Server) -> Vec<Reply> {
    let mut c = s.conn();
    c.ok(&["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
    c.ok(&["SLOWLOG", "RESET"]);
    c.ok(&["CLIENT", "SETNAME", "nm"]);
    let mut args: Vec<String> = vec!["RPUSH".into(), "l".into()];
    args.extend((0..40).map(|i| if i == 1 { "y".repeat(200) } else { i.to_string() }));
    c.ok(&args);
    c.ok(&["PING"]);
    let Reply::Array(entries) = c.ok(&["SLOWLOG", "GET", "3"]) else { panic!("not an array") };
    assert_eq!(c.ok(&["SLOWLOG", "LEN"]), Reply::Int(5), "{}", s.name);
    entries
        .into_iter()
        .map(|e| {
            let Reply::Array(mut f) = e else { panic!("entry not an array") };
            assert_eq!(f.len(), 6);
            for v in f.iter_mut().take(3) {
                assert!(v.as_int().is_some_and(|n| n >= 0), "{}: {v:?}", s.name);
                *v = Reply::Int(0);
            }
            let addr = String::from_utf8_lossy(f[4].as_bulk().unwrap()).into_owned();
            f[4] = Reply::Bulk(mask_ports(&addr).into_bytes());
            Reply::Array(f)
        })
        .collect()
}

#[test]
fn slowlog_entries_match_redis() {
    let redis = slowlog_transcript(&Server::redis(&[]));
    let rhea = slowlog_transcript(&Server::rhea(&[]));
    assert_eq!(rhea, redis);
    let Reply::Array(f) = &rhea[1] else { panic!() };
    let Reply::Array(argv) = &f[3] else { panic!() };
    assert_eq!(argv.len(), 32);
    assert_eq!(argv[31], Reply::Bulk(b"... (11 more arguments)".to_vec()));
}

#[test]
fn info_commandstats_errorstats_latencystats_and_rates() {
    let s = Server::rhea(&[]);
    let mut c = s.conn();
    c.ok(&["CONFIG", "RESETSTAT"]);
    for _ in 0..3 {
        c.ok(&["SET", "x", "1"]);
    }
    c.ok(&["LPUSH", "l", "a"]);
    assert!(c.cmd(&["GET"]).unwrap().is_error());
    assert!(c.cmd(&["INCR", "l"]).unwrap().is_error());
    c.ok(&["MULTI"]);
    c.ok(&["INCR", "l"]);
    assert!(matches!(c.ok(&["EXEC"]), Reply::Array(_)));
    let stats = text(&c.ok(&["INFO", "commandstats"]));
    let stat = |name: &str| {
        stats
            .lines()
            .find_map(|l| l.strip_prefix(&format!("cmdstat_{name}:")))
            .unwrap_or_else(|| panic!("no {name} in {stats}"))
            .to_string()
    };
    assert!(stat("set").starts_with("calls=3,usec="), "{stats}");
    assert!(stat("get").starts_with("calls=0,usec=0,usec_per_call=0.00,rejected_calls=1,failed_calls=0"), "{stats}");
    assert!(stat("incr").starts_with("calls=2,") && stat("incr").ends_with("rejected_calls=0,failed_calls=2"));
    // EXEC did not fail: the command inside it did.
    assert!(stat("exec").ends_with("failed_calls=0"), "{stats}");
    assert_eq!(info_field(&mut c, "errorstats", "errorstat_WRONGTYPE"), "count=2");
    assert_eq!(info_field(&mut c, "errorstats", "errorstat_ERR"), "count=1");
    assert_eq!(info_field(&mut c, "stats", "total_error_replies"), "3");
    let lat = info_field(&mut c, "latencystats", "latency_percentiles_usec_set");
    let keys: Vec<&str> = lat.split(',').map(|kv| kv.split('=').next().unwrap_or("")).collect();
    assert_eq!(keys, ["p50", "p99", "p99.9"], "{lat}");
    c.ok(&["CONFIG", "SET", "latency-tracking-info-percentiles", "90"]);
    assert!(info_field(&mut c, "latencystats", "latency_percentiles_usec_set").starts_with("p90="));

    // A burst of commands shows in the instantaneous rates.
    let mut ops = 0;
    let ok = eventually(Duration::from_secs(5), || {
        c.send_raw(&b"*1\r\n$4\r\nPING\r\n".repeat(500)).unwrap();
        for _ in 0..500 {
            c.read().unwrap();
        }
        ops = info_field(&mut c, "stats", "instantaneous_ops_per_sec").parse().unwrap();
        ops > 0
    });
    assert!(ok, "instantaneous_ops_per_sec stayed 0");
    let kbps: f64 = info_field(&mut c, "stats", "instantaneous_input_kbps").parse().unwrap();
    assert!(kbps > 0.0);

    c.ok(&["CONFIG", "RESETSTAT"]);
    assert!(!text(&c.ok(&["INFO", "commandstats"])).contains("cmdstat_set"));
    assert_eq!(info_field(&mut c, "stats", "total_error_replies"), "0");
}

#[test]
fn tcp_keepalive_is_set_on_client_sockets() {
    // `ss -o` shows the keepalive timer of the server's side of each
    // connection, counting down from the configured idle time.
    for (setting, want) in [("7", true), ("0", false)] {
        let s = Server::rhea(&["--tcp-keepalive", setting]);
        let mut c = s.conn();
        c.ok(&["PING"]);
        let filter = format!("( sport = :{} )", s.port);
        let out = std::process::Command::new("ss")
            .args(["-tnoH", "state", "established", &filter])
            .output()
            .expect("ss (iproute2) is needed to read socket timers");
        let t = String::from_utf8_lossy(&out.stdout);
        assert!(!t.trim().is_empty(), "ss shows no connection on port {}", s.port);
        assert_eq!(t.contains("keepalive"), want, "tcp-keepalive {setting}:\n{t}");
    }
}
