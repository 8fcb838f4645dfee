//! The cluster's DNS server, asked with Debian's `dig` (dnsutils) as an
//! operator or a resolver would: every node on its own loopback IP and the
//! same client port, answering for `cache.test.internal`.

mod common;

use std::collections::BTreeSet;
use std::net::UdpSocket;
use std::process::Command;
use std::time::{Duration, Instant};

use common::cluster::{Cluster, Options};
use common::{free_port, Conn, Reply};

const DOMAIN: &str = "cache.test.internal";

#[derive(Debug, Default, Clone)]
struct Rr {
    name: String,
    ttl: u32,
    rtype: String,
    data: String,
}

#[derive(Debug, Default, Clone)]
struct Dig {
    status: String,
    flags: Vec<String>,
    answer: Vec<Rr>,
    authority: Vec<Rr>,
    additional: Vec<Rr>,
}

impl Dig {
    fn data(&self, rtype: &str) -> BTreeSet<String> {
        self.answer.iter().filter(|r| r.rtype == rtype).map(|r| r.data.clone()).collect()
    }
}

/// One `dig` query; Err if dig got no answer at all (timeout).
fn dig(server: &str, port: u16, name: &str, qtype: &str, tcp: bool) -> Result<Dig, String> {
    let mut cmd = Command::new("dig");
    cmd.args([&format!("@{server}"), "-p", &port.to_string(), name, qtype]);
    // Two tries of 2 s: a loaded machine may drop or delay a datagram.
    cmd.args(["+norecurse", "+tries=2", "+time=2", "+noall", "+comments", "+answer", "+authority", "+additional"]);
    if tcp {
        cmd.arg("+tcp");
    }
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run dig ({e}); it comes from `apt-get install dnsutils`"));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut d = Dig::default();
    let mut section = "";
    for line in text.lines() {
        if let Some(rest) = line.split("status: ").nth(1) {
            d.status = rest.split(',').next().unwrap_or_default().to_string();
        } else if let Some(rest) = line.strip_prefix(";; flags: ") {
            d.flags = rest.split(';').next().unwrap_or_default().split_whitespace().map(String::from).collect();
        } else if line.starts_with(";; ANSWER SECTION") {
            section = "answer";
        } else if line.starts_with(";; AUTHORITY SECTION") {
            section = "authority";
        } else if line.starts_with(";; ADDITIONAL SECTION") {
            section = "additional";
        } else if !line.starts_with(';') && !line.trim().is_empty() {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 5 {
                continue;
            }
            let rr = Rr {
                name: f[0].to_ascii_lowercase(),
                ttl: f[1].parse().unwrap_or(u32::MAX),
                rtype: f[3].to_string(),
                data: f[4..].join(" "),
            };
            match section {
                "answer" => d.answer.push(rr),
                "authority" => d.authority.push(rr),
                "additional" => d.additional.push(rr),
                _ => {}
            }
        }
    }
    if d.status.is_empty() {
        return Err(format!("no answer from {server}#{port} for {name} {qtype}: {text}"));
    }
    Ok(d)
}

fn fqdn(label: &str) -> String {
    if label.is_empty() {
        format!("{DOMAIN}.")
    } else {
        format!("{label}.{DOMAIN}.")
    }
}

fn start(n: usize, dns_port: u16, extra: &[String]) -> Cluster {
    let mut extra_args: Vec<String> =
        ["--dns-port", &dns_port.to_string(), "--dns-domain", DOMAIN, "--dns-ttl", "1"].map(String::from).to_vec();
    extra_args.extend_from_slice(extra);
    Cluster::start_with(n, &Options { distinct_ips: true, extra_args, ..Options::default() })
}

/// The addresses `leader.`, `replicas.` and `nodes.` hold.
type Sets = (BTreeSet<String>, BTreeSet<String>, BTreeSet<String>);

/// (leader, replicas, nodes) as node `i` answers them over UDP.
fn sets(c: &Cluster, i: usize, dns_port: u16) -> Result<Sets, String> {
    let host = &c.nodes[i].host;
    let l = dig(host, dns_port, &fqdn("leader"), "A", false)?;
    let r = dig(host, dns_port, &fqdn("replicas"), "A", false)?;
    let n = dig(host, dns_port, &fqdn("nodes"), "A", false)?;
    Ok((l.data("A"), r.data("A"), n.data("A")))
}

#[test]
fn every_node_answers_the_zone_and_leader_follows_failover() {
    let dns_port = free_port();
    let mut c = start(3, dns_port, &[]);
    let leader = c.leader(Duration::from_secs(15)).unwrap_or_else(|| panic!("no leader\n{}", c.log_tails(20)));
    let hosts: Vec<String> = c.nodes.iter().map(|n| n.host.clone()).collect();
    let ip = |i: usize| hosts[i].clone();
    let all: BTreeSet<String> = (0..3).map(ip).collect();
    let want_leader: BTreeSet<String> = [ip(leader)].into();
    let want_replicas: BTreeSet<String> = (0..3).filter(|&i| i != leader).map(ip).collect();

    // Peers learn each other's client addresses as they connect: wait
    // (bounded) until every node gives the same three answers.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let views: Vec<_> = (0..3).map(|i| sets(&c, i, dns_port)).collect();
        let want = Ok((want_leader.clone(), want_replicas.clone(), all.clone()));
        if views.iter().all(|v| *v == want) {
            break;
        }
        assert!(Instant::now() < deadline, "nodes never agreed: {views:?}, want {want:?}");
        std::thread::sleep(Duration::from_millis(100));
    }

    let leader_id = c.nodes[leader].id;
    for i in 0..3 {
        let host = ip(i);
        let q = |name: &str, qtype: &str| dig(&host, dns_port, name, qtype, false).expect("dig answered");

        // Over TCP, in mixed case, with the 1 s TTL and the aa flag.
        let d = dig(&host, dns_port, &fqdn("LeAdEr").to_uppercase(), "A", true).expect("dig +tcp answered");
        assert_eq!(d.status, "NOERROR", "node {i}: {d:?}");
        assert!(d.flags.contains(&"aa".to_string()), "node {i} not authoritative: {d:?}");
        assert_eq!(d.data("A"), want_leader, "node {i} over TCP");
        assert!(d.answer.iter().all(|r| r.ttl == 1), "node {i} TTL: {d:?}");
        let d = dig(&host, dns_port, &fqdn("nodes"), "A", true).expect("dig +tcp answered");
        assert_eq!(d.data("A"), all, "node {i} nodes. over TCP");

        let soa = q(&fqdn(""), "SOA");
        assert_eq!(soa.status, "NOERROR");
        let soa_rr = soa.data("SOA");
        let soa_rr = soa_rr.iter().next().unwrap_or_else(|| panic!("node {i}: no SOA: {soa:?}"));
        let fields: Vec<&str> = soa_rr.split_whitespace().collect();
        assert_eq!(fields.first().copied(), Some(fqdn("node1").as_str()), "SOA primary: {soa_rr}");
        assert_eq!(fields.last().copied(), Some("1"), "SOA minimum (negative TTL) is the TTL: {soa_rr}");

        let ns = q(&fqdn(""), "NS");
        let want_ns: BTreeSet<String> = (1..=3).map(|id| fqdn(&format!("node{id}"))).collect();
        assert_eq!(ns.data("NS"), want_ns, "node {i} NS");
        let glue: BTreeSet<String> = ns.additional.iter().filter(|r| r.rtype == "A").map(|r| r.data.clone()).collect();
        assert_eq!(glue, all, "node {i} NS glue");

        let srv = q(&fqdn("_redis._tcp.leader"), "SRV");
        let want_srv: BTreeSet<String> =
            [format!("0 0 {} {}", c.nodes[leader].port, fqdn(&format!("node{leader_id}")))].into();
        assert_eq!(srv.data("SRV"), want_srv, "node {i} SRV");
        let glue_name = fqdn(&format!("node{leader_id}"));
        assert!(
            srv.additional.iter().any(|r| r.rtype == "A" && r.name == glue_name && r.data == ip(leader)),
            "node {i} SRV glue: {srv:?}"
        );
        let srv = q(&fqdn("_redis._tcp.nodes"), "SRV");
        assert_eq!(srv.data("SRV").len(), 3, "node {i} nodes SRV: {srv:?}");

        let node = q(&fqdn(&format!("node{}", c.nodes[i].id)), "A");
        assert_eq!(node.data("A"), [host.clone()].into(), "node {i} own name");

        // A name in the zone that holds no record of the type: NODATA.
        let nodata = q(&fqdn("leader"), "TXT");
        assert_eq!((nodata.status.as_str(), nodata.answer.len()), ("NOERROR", 0), "node {i}: {nodata:?}");
        assert!(nodata.authority.iter().any(|r| r.rtype == "SOA"), "node {i} NODATA carries the SOA");

        let nx = q(&fqdn("nope"), "A");
        assert_eq!(nx.status, "NXDOMAIN", "node {i}: {nx:?}");
        assert!(nx.authority.iter().any(|r| r.rtype == "SOA"), "node {i} NXDOMAIN carries the SOA: {nx:?}");
        assert_eq!(q(&fqdn("node9"), "A").status, "NXDOMAIN", "node {i}: not a member");

        let out = q("leader.example.org.", "A");
        assert_eq!(out.status, "REFUSED", "node {i}: {out:?}");
        assert!(!out.flags.contains(&"aa".to_string()));
        assert_eq!(q(DOMAIN, "AXFR").status, "REFUSED", "node {i}: no zone transfers");
    }

    // The answer is usable: the A record's IP and the SRV port reach the leader.
    let mut conn = Conn::connect_host_timeout(&ip(leader), c.nodes[leader].port, Duration::from_secs(2))
        .expect("connect to the address DNS gave");
    match conn.cmd(&["ROLE"]) {
        Ok(Reply::Array(items)) => assert!(matches!(items.first(), Some(Reply::Bulk(b)) if b == b"master")),
        other => panic!("ROLE at the DNS leader: {other:?}"),
    }
    match conn.cmd(&["CONFIG", "GET", "dns-*"]) {
        Ok(Reply::Array(items)) => {
            let text: Vec<String> =
                items.iter().filter_map(|r| r.as_bulk().map(|b| String::from_utf8_lossy(b).into_owned())).collect();
            for want in ["dns-port", &dns_port.to_string(), "dns-domain", DOMAIN, "dns-ttl", "1"] {
                assert!(text.iter().any(|t| t == want), "CONFIG GET dns-*: {text:?}");
            }
        }
        other => panic!("CONFIG GET dns-*: {other:?}"),
    }
    drop(conn);

    // SIGKILL the leader; the survivors must name the new leader soon, and
    // never the dead one once a new leader is known.
    let killed_ip = ip(leader);
    c.kill(leader);
    let killed_at = Instant::now();
    let survivors: Vec<usize> = (0..3).filter(|&i| i != leader).collect();
    let mut new_leader_known: Option<(usize, Instant)> = None;
    let mut servfails = 0;
    let deadline = killed_at + Duration::from_secs(15);
    let agreed_at = loop {
        if new_leader_known.is_none() {
            new_leader_known = c.leader_now().filter(|&l| l != leader).map(|l| (l, Instant::now()));
        }
        let mut answers = Vec::new();
        for &i in &survivors {
            let d = dig(&ip(i), dns_port, &fqdn("leader"), "A", false).expect("a survivor answers DNS");
            if d.status == "SERVFAIL" {
                servfails += 1;
            }
            if new_leader_known.is_some() {
                assert!(
                    !d.data("A").contains(&killed_ip),
                    "node {i} named the killed leader after the election: {d:?}"
                );
            }
            answers.push(d.data("A"));
        }
        if let Some((l, _)) = new_leader_known {
            if answers.iter().all(|a| *a == [ip(l)].into()) {
                break Instant::now();
            }
        }
        assert!(Instant::now() < deadline, "no new leader in DNS: {answers:?}\n{}", c.log_tails(20));
        std::thread::sleep(Duration::from_millis(50));
    };
    let (new_leader, elected_at) = new_leader_known.expect("set before the loop ends");
    let took = agreed_at - killed_at;
    eprintln!(
        "failover: DNS names node {new_leader} on every survivor {:.0} ms after the SIGKILL \
         ({:.0} ms after the harness saw the election); {servfails} SERVFAIL answers meanwhile",
        took.as_secs_f64() * 1e3,
        agreed_at.saturating_duration_since(elected_at).as_secs_f64() * 1e3,
    );
    // dig asks the nodes themselves (no cache in between), so this is the
    // election time (0.3-0.6 s timeout, a pre-vote and a vote round); a
    // resolver's cache would add up to the 1 s TTL. Room for a loaded
    // 2-core machine.
    assert!(took < Duration::from_secs(8), "DNS took {took:?} to name the new leader");
    for &i in &survivors {
        let (l, r, _) = sets(&c, i, dns_port).expect("survivor answers");
        assert_eq!(l, [ip(new_leader)].into(), "node {i} leader after failover");
        assert!(!r.contains(&ip(new_leader)), "node {i}: the leader is no replica: {r:?}");
    }

    // Down to one node of three: it knows no leader, so `leader.` and
    // `replicas.` are SERVFAIL (resolvers retry) while `nodes.` still answers.
    let last = survivors[0];
    let other = survivors[1];
    c.kill(other);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let d = dig(&ip(last), dns_port, &fqdn("leader"), "A", false).expect("the last node answers DNS");
        if d.status == "SERVFAIL" {
            assert!(d.answer.is_empty());
            break;
        }
        assert!(Instant::now() < deadline, "the minority node kept naming a leader: {d:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(dig(&ip(last), dns_port, &fqdn("replicas"), "A", false).expect("answers").status, "SERVFAIL");
    let n = dig(&ip(last), dns_port, &fqdn("nodes"), "A", true).expect("answers");
    assert_eq!((n.status.as_str(), n.data("A")), ("NOERROR", all), "nodes. stays answerable");
}

/// A DNS query for `name`/A with id `id`, built by hand (RFC 1035 4.1).
fn query(id: u16, name: &str) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[0x00, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0]);
    for label in name.trim_end_matches('.').split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0x00, 0x01, 0x00, 0x01]);
    q
}

/// (id, rcode, answer count) of a reply.
fn header(reply: &[u8]) -> (u16, u8, u16) {
    assert!(reply.len() >= 12, "short reply {reply:?}");
    (u16::from_be_bytes([reply[0], reply[1]]), reply[3] & 0x0f, u16::from_be_bytes([reply[6], reply[7]]))
}

#[test]
fn malformed_packets_get_formerr_or_silence_and_the_server_keeps_answering() {
    let dns_port = free_port();
    let metrics_port = free_port();
    let c = start(1, dns_port, &["--metrics-port".into(), metrics_port.to_string()]);
    c.leader(Duration::from_secs(15)).unwrap_or_else(|| panic!("no leader\n{}", c.log_tails(20)));
    let server = format!("{}:{dns_port}", c.nodes[0].host);
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind a client socket");
    sock.set_read_timeout(Some(Duration::from_secs(2))).expect("timeout");
    let mut buf = [0u8; 4096];
    let mut ask = |packet: &[u8]| -> Option<Vec<u8>> {
        sock.send_to(packet, &server).expect("send");
        sock.recv_from(&mut buf).ok().map(|(n, _)| buf[..n].to_vec())
    };
    // Asked again on silence, as a resolver does: after the junk flood
    // below the kernel may drop a datagram while the server's receive
    // buffer is still full (seen in CI), which is UDP, not a server fault.
    let good = |ask: &mut dyn FnMut(&[u8]) -> Option<Vec<u8>>, id: u16| {
        let reply = (0..5).find_map(|_| ask(&query(id, &fqdn("leader")))).expect("the server still answers");
        assert_eq!(header(&reply), (id, 0, 1), "leader. after garbage");
    };
    good(&mut ask, 1);

    // Header only, claiming a question that is not there: FORMERR, same id.
    let reply = ask(&[0xbe, 0xef, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0]).expect("FORMERR");
    assert_eq!(header(&reply), (0xbeef, 1, 0));
    good(&mut ask, 2);
    // A label running past the end.
    let mut cut = query(0x0102, &fqdn("leader"));
    cut.truncate(20);
    cut[12] = 63;
    assert_eq!(header(&ask(&cut).expect("FORMERR")).1, 1);
    good(&mut ask, 3);
    // A compression pointer to itself.
    let mut looped = vec![0x0a, 0x0b, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1];
    assert_eq!(header(&ask(&looped).expect("FORMERR")).1, 1);
    looped.truncate(3);
    // Too short to have a header, a response (never answered: no loops
    // between servers), random bytes and an oversized datagram.
    assert_eq!(ask(&looped), None, "3 bytes");
    let mut response = query(0x0c0d, &fqdn("leader"));
    response[2] |= 0x80;
    assert_eq!(ask(&response), None, "a response");
    let mut rng = fastrand::Rng::with_seed(7);
    for _ in 0..200 {
        let len = rng.usize(0..600);
        let junk: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
        sock_send_only(&server, &junk);
    }
    sock_send_only(&server, &vec![0xff; 3000]);
    good(&mut ask, 4);

    // TCP: a garbage frame ends that connection; a new one is answered.
    use std::io::{Read, Write};
    let mut t = std::net::TcpStream::connect(&server).expect("tcp connect");
    t.set_read_timeout(Some(Duration::from_secs(2))).expect("timeout");
    t.write_all(&[0x00, 0x05, 1, 2, 3, 4, 5]).expect("write");
    let mut two = [0u8; 2];
    let _ = t.read(&mut two);
    let mut t = std::net::TcpStream::connect(&server).expect("tcp connect");
    t.set_read_timeout(Some(Duration::from_secs(2))).expect("timeout");
    // Two queries in one write: both answered, in order, on one connection.
    let mut frames = Vec::new();
    for (id, name) in [(0x7777, "nodes"), (0x7778, "leader")] {
        let q = query(id, &fqdn(name));
        frames.extend_from_slice(&(q.len() as u16).to_be_bytes());
        frames.extend_from_slice(&q);
    }
    t.write_all(&frames).expect("write");
    for id in [0x7777, 0x7778] {
        t.read_exact(&mut two).expect("length");
        let mut reply = vec![0u8; u16::from_be_bytes(two) as usize];
        t.read_exact(&mut reply).expect("reply");
        assert_eq!(header(&reply), (id, 0, 1), "query {id:#x} over TCP after garbage");
    }
    // An EDNS version this server does not speak: BADVERS (dig's own
    // version negotiation turned off, or it would retry with version 0).
    let out = Command::new("dig")
        .args([&format!("@{}", c.nodes[0].host), "-p", &dns_port.to_string(), &fqdn("leader")])
        .args(["+edns=1", "+noednsneg", "+tries=1", "+time=1"])
        .output()
        .expect("run dig");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("status: BADVERS"), "{text}");
    assert!(c.panics().is_empty(), "{:?}", c.panics());

    // The metrics endpoint counts them: at least the 5 good queries and the
    // 5 hand-made bad packets (the random ones may parse, mostly not).
    let mut m = std::net::TcpStream::connect((c.nodes[0].host.as_str(), metrics_port)).expect("metrics connect");
    m.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").expect("send");
    let mut body = String::new();
    m.read_to_string(&mut body).expect("read metrics");
    let count = |rcode: &str| -> f64 {
        let name = format!("rhea_dns_queries_total{{rcode=\"{rcode}\"}} ");
        body.lines().find_map(|l| l.strip_prefix(&name)?.parse().ok()).unwrap_or_else(|| panic!("no {name} in\n{body}"))
    };
    assert!(count("noerror") >= 5.0, "noerror {}", count("noerror"));
    assert!(count("other") >= 5.0, "other {}", count("other"));
}

fn sock_send_only(server: &str, packet: &[u8]) {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let _ = s.send_to(packet, server);
}

/// A standalone server (no Raft) with DNS on names itself as the leader.
#[test]
fn a_standalone_server_answers_for_itself() {
    let dns_port = free_port();
    let s = common::Server::rhea(&["--dns-port", &dns_port.to_string(), "--dns-domain", DOMAIN]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let leader = loop {
        match dig("127.0.0.1", dns_port, &fqdn("leader"), "A", false) {
            Ok(d) => break d,
            Err(e) => assert!(Instant::now() < deadline, "{e}"),
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(leader.data("A"), ["127.0.0.1".to_string()].into(), "{leader:?}");
    assert_eq!(dig("127.0.0.1", dns_port, &fqdn("replicas"), "A", false).expect("dig").answer.len(), 0);
    let srv = dig("127.0.0.1", dns_port, &fqdn("_redis._tcp.leader"), "SRV", true).expect("dig +tcp");
    assert_eq!(srv.data("SRV"), [format!("0 0 {} {}", s.port, fqdn("node0"))].into(), "{srv:?}");
    assert_eq!(dig("127.0.0.1", dns_port, &fqdn("node0"), "A", false).expect("dig").data("A").len(), 1);
}
