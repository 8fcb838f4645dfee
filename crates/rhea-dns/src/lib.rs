//! A small authoritative DNS server for the cluster's own domain, so that
//! clients find the leader by name: `leader.<domain>` (A/AAAA, or a CNAME
//! when the leader advertises a host name), `replicas.<domain>`,
//! `nodes.<domain>`, `_redis._tcp.{leader,replicas,nodes}.<domain>` (SRV,
//! for the port), `node<id>.<domain>` (the SRV and NS targets), and SOA/NS
//! at the apex so a company DNS can delegate the subdomain.
//!
//! Every answer is computed from the node's current view (a `View` the
//! caller builds per query), so nothing is cached here. Messages are parsed
//! and written by hickory-proto; this crate only decides what to answer.

mod server;

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use hickory_proto::op::{Edns, Message, MessageType, Metadata, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, NS, SOA, SRV};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

pub use server::{serve, DnsError};

/// The largest UDP answer offered to EDNS clients (the DNS flag day 2020
/// figure, also hickory's default): no IP fragmentation on common paths.
const MAX_UDP_PAYLOAD: u16 = 1232;

/// One cluster member with a known client address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: u64,
    /// The advertised client address, `host:port` (`[v6]:port` for IPv6).
    pub addr: String,
}

/// What this node knows at query time.
#[derive(Debug, Clone, Default)]
pub struct View {
    /// The leader this node believes in, None while it knows none (an
    /// election, or cut off from the majority long enough to campaign).
    pub leader: Option<u64>,
    /// Every member whose client address is known, this node included.
    pub members: Vec<Member>,
    /// The SOA serial (the Raft term: it moves whenever leadership can).
    pub serial: u32,
}

/// The zone this node serves.
#[derive(Debug, Clone)]
pub struct Zone {
    apex: Name,
    ttl: u32,
}

impl Zone {
    /// `domain` like `cache.example.internal` (a trailing dot is optional).
    pub fn new(domain: &str, ttl: u32) -> Result<Zone, DnsError> {
        let mut apex = Name::from_ascii(domain).map_err(|e| DnsError::Domain(format!("{domain}: {e}")))?;
        if apex.is_root() {
            return Err(DnsError::Domain("the root zone is not ours to serve".into()));
        }
        apex.set_fqdn(true);
        Ok(Zone { apex: apex.to_lowercase(), ttl })
    }

    pub fn domain(&self) -> &Name {
        &self.apex
    }
}

/// Queries seen, by outcome (INFO and metrics read them).
#[derive(Debug, Default)]
pub struct Stats {
    pub queries: AtomicU64,
    pub noerror: AtomicU64,
    pub nxdomain: AtomicU64,
    pub servfail: AtomicU64,
    pub refused: AtomicU64,
    /// Malformed or unsupported requests (FORMERR, NOTIMP, or dropped).
    pub bad: AtomicU64,
}

impl Stats {
    fn count(&self, rcode: ResponseCode) {
        let c = match rcode {
            ResponseCode::NoError => &self.noerror,
            ResponseCode::NXDomain => &self.nxdomain,
            ResponseCode::ServFail => &self.servfail,
            ResponseCode::Refused => &self.refused,
            _ => &self.bad,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// How the answer travels: UDP answers must fit the client's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// The wire answer to one request, or None when nothing should be sent
/// back (not even a header to answer, or a response rather than a query:
/// answering those could loop between two servers).
pub fn handle(
    zone: &Zone,
    view: &dyn Fn() -> View,
    packet: &[u8],
    transport: Transport,
    stats: &Stats,
) -> Option<Vec<u8>> {
    stats.queries.fetch_add(1, Ordering::Relaxed);
    let req = match Message::from_vec(packet) {
        Ok(m) => m,
        Err(_) => {
            stats.bad.fetch_add(1, Ordering::Relaxed);
            return formerr(packet);
        }
    };
    if req.metadata.message_type != MessageType::Query {
        stats.bad.fetch_add(1, Ordering::Relaxed);
        return None;
    }
    let resp = respond(zone, view, &req);
    stats.count(resp.metadata.response_code);
    let wire = resp.to_vec().ok()?;
    let limit = match (transport, &req.edns) {
        (Transport::Tcp, _) => u16::MAX as usize,
        (Transport::Udp, None) => 512,
        (Transport::Udp, Some(e)) => e.max_payload().clamp(512, MAX_UDP_PAYLOAD) as usize,
    };
    if wire.len() <= limit {
        return Some(wire);
    }
    // Too big for the client's buffer: the header and question with TC
    // set, and the client asks again over TCP (RFC 1035 4.2.1).
    resp.truncate().to_vec().ok()
}

/// FORMERR for a packet hickory cannot parse, if it has a header whose
/// id we can echo and it is not itself a response.
fn formerr(packet: &[u8]) -> Option<Vec<u8>> {
    if packet.len() < 12 || packet[2] & 0x80 != 0 {
        return None;
    }
    let id = u16::from_be_bytes([packet[0], packet[1]]);
    let op = OpCode::from_u8((packet[2] >> 3) & 0x0f);
    Message::error_msg(id, op, ResponseCode::FormErr).to_vec().ok()
}

/// Names that exist in the zone, relative to the apex.
enum Node {
    Apex,
    Leader,
    Replicas,
    Nodes,
    /// `_tcp.<set>`: exists (it has names below it) but holds no records.
    EmptyNonTerminal,
    Srv(Set),
    Member(u64),
}

#[derive(Clone, Copy)]
enum Set {
    Leader,
    Replicas,
    Nodes,
}

fn lookup(relative: &[String]) -> Option<Node> {
    let set = |s: &str| match s {
        "leader" => Some(Set::Leader),
        "replicas" => Some(Set::Replicas),
        "nodes" => Some(Set::Nodes),
        _ => None,
    };
    match relative {
        [] => Some(Node::Apex),
        [one] => match one.as_str() {
            "leader" => Some(Node::Leader),
            "replicas" => Some(Node::Replicas),
            "nodes" => Some(Node::Nodes),
            other => other
                .strip_prefix("node")
                // One spelling per id ("node1", not "node01"); "node0" is a
                // standalone server.
                .filter(|d| {
                    !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()) && (*d == "0" || !d.starts_with('0'))
                })
                .and_then(|d| d.parse().ok())
                .map(Node::Member),
        },
        [tcp, s] if tcp == "_tcp" => set(s).map(|_| Node::EmptyNonTerminal),
        [svc, tcp, s] if svc == "_redis" && tcp == "_tcp" => set(s).map(Node::Srv),
        _ => None,
    }
}

/// A member's advertised address split into what DNS can carry.
enum Host {
    Ip(IpAddr),
    Name(Name),
}

fn split_addr(addr: &str) -> Option<(Host, u16)> {
    let (host, port) = addr.rsplit_once(':')?;
    let port = port.parse().ok()?;
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Some((Host::Ip(ip), port));
    }
    let mut name = Name::from_ascii(host).ok()?;
    name.set_fqdn(true);
    Some((Host::Name(name), port))
}

fn address_rdata(ip: IpAddr) -> RData {
    match ip {
        IpAddr::V4(v4) => RData::A(A(v4)),
        IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
    }
}

struct Answer {
    rcode: ResponseCode,
    answers: Vec<Record>,
    additionals: Vec<Record>,
    /// NXDOMAIN and NODATA carry the SOA, so resolvers cache the negative
    /// answer for the SOA minimum (the TTL) and no longer (RFC 2308).
    negative: bool,
}

fn respond(zone: &Zone, view: &dyn Fn() -> View, req: &Message) -> Message {
    let mut resp = Message::response(req.metadata.id, req.metadata.op_code);
    resp.metadata = Metadata::response_from_request(&req.metadata);
    if let Some(req_edns) = &req.edns {
        let mut edns = Edns::new();
        edns.set_max_payload(MAX_UDP_PAYLOAD);
        resp.set_edns(edns);
        if req_edns.version() > 0 {
            // RFC 6891 6.1.3: only EDNS version 0 is spoken here.
            resp.metadata.response_code = ResponseCode::BADVERS;
            return resp;
        }
    }
    if req.metadata.op_code != OpCode::Query {
        resp.metadata.response_code = ResponseCode::NotImp;
        return resp;
    }
    let [query] = req.queries.as_slice() else {
        resp.metadata.response_code = ResponseCode::FormErr;
        return resp;
    };
    resp.add_query(query.clone());
    let qname = query.name().to_lowercase();
    let class_ok = matches!(query.query_class(), DNSClass::IN | DNSClass::ANY);
    let transfer = matches!(query.query_type(), RecordType::AXFR | RecordType::IXFR);
    if !zone.apex.zone_of(&qname) || !class_ok || transfer {
        // Not ours (or a zone transfer, which the zone has no use for:
        // every node computes the data itself).
        resp.metadata.response_code = ResponseCode::Refused;
        return resp;
    }
    resp.metadata.authoritative = true;
    let v = view();
    let a = answer(zone, &v, query);
    resp.metadata.response_code = a.rcode;
    resp.insert_answers(a.answers);
    resp.insert_additionals(a.additionals);
    if a.negative {
        resp.add_authority(soa(zone, &v));
    }
    resp
}

fn answer(zone: &Zone, v: &View, query: &Query) -> Answer {
    let qname = query.name().to_lowercase();
    let depth = qname.num_labels().saturating_sub(zone.apex.num_labels()) as usize;
    let relative: Vec<String> = qname.iter().take(depth).map(|l| String::from_utf8_lossy(l).into_owned()).collect();
    let fail =
        |rcode| Answer { rcode, answers: vec![], additionals: vec![], negative: rcode == ResponseCode::NXDomain };
    let Some(node) = lookup(&relative) else {
        return fail(ResponseCode::NXDomain);
    };
    let owner = query.name().clone();
    let rec = |data: RData| Record::from_rdata(owner.clone(), zone.ttl, data);
    let leader = v.leader.and_then(|id| v.members.iter().find(|m| m.id == id));
    let mut records: Vec<Record> = Vec::new();
    let mut additionals = Vec::new();
    match node {
        Node::Apex => {
            records.push(soa(zone, v));
            for m in &v.members {
                records.push(rec(RData::NS(NS(member_name(zone, m.id)))));
                additionals.extend(glue(zone, m));
            }
        }
        Node::Leader => {
            // No leader known (or not its address): SERVFAIL, which stub
            // resolvers report as a temporary failure and recursive
            // resolvers answer by asking another of the zone's servers,
            // one that may know the leader (README: "Finding the leader").
            let Some(l) = leader else { return fail(ResponseCode::ServFail) };
            match split_addr(&l.addr) {
                Some((Host::Ip(ip), _)) => records.push(rec(address_rdata(ip))),
                Some((Host::Name(n), _)) => records.push(rec(RData::CNAME(CNAME(n)))),
                None => return fail(ResponseCode::ServFail),
            }
        }
        Node::Replicas | Node::Nodes => {
            let replicas = matches!(node, Node::Replicas);
            if replicas && leader.is_none() {
                // Who is a replica is unknown until a leader is.
                return fail(ResponseCode::ServFail);
            }
            for m in members_of(v, replicas) {
                if let Some((Host::Ip(ip), _)) = split_addr(&m.addr) {
                    records.push(rec(address_rdata(ip)));
                }
            }
        }
        Node::EmptyNonTerminal => {}
        Node::Srv(set) => {
            let chosen: Vec<&Member> = match set {
                Set::Leader => match leader {
                    Some(l) => vec![l],
                    None => return fail(ResponseCode::ServFail),
                },
                Set::Replicas if leader.is_none() => return fail(ResponseCode::ServFail),
                Set::Replicas => members_of(v, true).collect(),
                Set::Nodes => members_of(v, false).collect(),
            };
            for m in chosen {
                let Some((host, port)) = split_addr(&m.addr) else { continue };
                let target = match host {
                    Host::Ip(_) => {
                        additionals.extend(glue(zone, m));
                        member_name(zone, m.id)
                    }
                    Host::Name(n) => n,
                };
                records.push(rec(RData::SRV(SRV::new(0, 0, port, target))));
            }
        }
        Node::Member(id) => {
            let Some(m) = v.members.iter().find(|m| m.id == id) else {
                return fail(ResponseCode::NXDomain);
            };
            match split_addr(&m.addr) {
                Some((Host::Ip(ip), _)) => records.push(rec(address_rdata(ip))),
                Some((Host::Name(n), _)) => records.push(rec(RData::CNAME(CNAME(n)))),
                None => {}
            }
        }
    }
    let qtype = query.query_type();
    let wanted =
        |r: &Record| qtype == RecordType::ANY || r.record_type() == qtype || r.record_type() == RecordType::CNAME;
    let answers: Vec<Record> = records.into_iter().filter(wanted).collect();
    if answers.is_empty() {
        additionals.clear();
    } else {
        // Glue only for the targets the answer names.
        additionals.retain(|g: &Record| {
            answers.iter().any(|a| match &a.data {
                RData::NS(NS(n)) => n == &g.name,
                RData::SRV(s) => s.target == g.name,
                _ => false,
            })
        });
    }
    let negative = answers.is_empty();
    Answer { rcode: ResponseCode::NoError, answers, additionals, negative }
}

/// The members a set names, in id order: the followers of the known leader,
/// or all.
fn members_of(v: &View, replicas_only: bool) -> impl Iterator<Item = &Member> {
    v.members.iter().filter(move |m| !replicas_only || Some(m.id) != v.leader)
}

fn member_name(zone: &Zone, id: u64) -> Name {
    // "node<id>" is one short label: it cannot fail to prepend to a valid apex.
    zone.apex.prepend_label(format!("node{id}")).unwrap_or_else(|_| zone.apex.clone())
}

/// The A/AAAA of `node<id>` when the member advertises an IP.
fn glue(zone: &Zone, m: &Member) -> Option<Record> {
    match split_addr(&m.addr)? {
        (Host::Ip(ip), _) => Some(Record::from_rdata(member_name(zone, m.id), zone.ttl, address_rdata(ip))),
        (Host::Name(_), _) => None,
    }
}

fn soa(zone: &Zone, v: &View) -> Record {
    // The primary is the lowest id: the same on every node that sees the
    // same members, whoever answers.
    let mname = v.members.iter().map(|m| m.id).min().map_or_else(|| zone.apex.clone(), |id| member_name(zone, id));
    let rname = zone.apex.prepend_label("hostmaster").unwrap_or_else(|_| zone.apex.clone());
    // refresh/retry/expire only matter to secondaries doing zone
    // transfers, which this zone refuses; minimum is the negative-caching
    // TTL, kept as short as the records'.
    let ttl = zone.ttl;
    let data = SOA::new(mname, rname, v.serial.max(1), 60, 10, 600, ttl);
    Record::from_rdata(zone.apex.clone(), ttl, RData::SOA(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> View {
        View {
            leader: Some(2),
            members: vec![
                Member { id: 1, addr: "127.0.0.1:6379".into() },
                Member { id: 2, addr: "127.0.0.2:6379".into() },
                Member { id: 3, addr: "cache3.example.com:7000".into() },
            ],
            serial: 7,
        }
    }

    fn ask(name: &str, qtype: RecordType, v: View) -> Message {
        let zone = Zone::new("Cache.Example.Internal", 1).expect("zone");
        let mut q = Message::query();
        q.add_query(Query::query(Name::from_ascii(name).expect("name"), qtype));
        let wire = q.to_vec().expect("encode");
        let stats = Stats::default();
        let out = handle(&zone, &move || v.clone(), &wire, Transport::Udp, &stats).expect("an answer");
        assert_eq!(stats.queries.load(Ordering::Relaxed), 1);
        Message::from_vec(&out).expect("decode")
    }

    #[test]
    fn leader_is_the_leaders_address_in_any_case() {
        let m = ask("LEADER.cache.example.internal.", RecordType::A, view());
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        assert!(m.metadata.authoritative);
        assert_eq!(m.answers.len(), 1);
        assert_eq!(m.answers[0].data, RData::A(A("127.0.0.2".parse().expect("ip"))));
    }

    #[test]
    fn no_leader_is_servfail_and_unknown_names_nxdomain_with_soa() {
        let mut v = view();
        v.leader = None;
        assert_eq!(
            ask("leader.cache.example.internal.", RecordType::A, v.clone()).metadata.response_code,
            ResponseCode::ServFail
        );
        assert_eq!(
            ask("replicas.cache.example.internal.", RecordType::A, v.clone()).metadata.response_code,
            ResponseCode::ServFail
        );
        let nodes = ask("nodes.cache.example.internal.", RecordType::A, v.clone());
        assert_eq!(nodes.answers.len(), 2, "hostname members have no A record");
        let nx = ask("nope.cache.example.internal.", RecordType::A, v.clone());
        assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);
        assert_eq!(nx.authorities.len(), 1);
        assert_eq!(nx.authorities[0].record_type(), RecordType::SOA);
        assert_eq!(nx.authorities[0].ttl, 1);
        let out = ask("leader.example.org.", RecordType::A, v);
        assert_eq!(out.metadata.response_code, ResponseCode::Refused);
        assert!(!out.metadata.authoritative);
    }

    #[test]
    fn srv_names_port_and_target_with_glue() {
        let m = ask("_redis._tcp.replicas.cache.example.internal.", RecordType::SRV, view());
        let srv: Vec<(u16, String)> = m
            .answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::SRV(s) => Some((s.port, s.target.to_ascii())),
                _ => None,
            })
            .collect();
        assert_eq!(srv, vec![(6379, "node1.cache.example.internal.".into()), (7000, "cache3.example.com.".into())]);
        assert_eq!(m.additionals.len(), 1, "glue for node1 only: {:?}", m.additionals);
        let etn = ask("_tcp.leader.cache.example.internal.", RecordType::SRV, view());
        assert_eq!(etn.metadata.response_code, ResponseCode::NoError);
        assert!(etn.answers.is_empty());
    }

    #[test]
    fn ipv6_members_get_aaaa_and_unknown_edns_versions_badvers() {
        let mut v = view();
        v.members.push(Member { id: 4, addr: "[::1]:7000".into() });
        let m = ask("nodes.cache.example.internal.", RecordType::AAAA, v.clone());
        assert_eq!(m.answers.len(), 1);
        assert_eq!(m.answers[0].data, RData::AAAA(AAAA("::1".parse().expect("ip"))));
        let zone = Zone::new("cache.example.internal", 1).expect("zone");
        let mut q = Message::query();
        q.add_query(Query::query(Name::from_ascii("leader.cache.example.internal.").expect("name"), RecordType::A));
        let mut edns = Edns::new();
        edns.set_version(1);
        q.set_edns(edns);
        let out = handle(&zone, &move || v.clone(), &q.to_vec().expect("encode"), Transport::Udp, &Stats::default());
        let m = Message::from_vec(&out.expect("an answer")).expect("decode");
        // 16 is both BADVERS and BADSIG (RFC 6895); hickory decodes it as the latter.
        assert_eq!(u16::from(m.metadata.response_code), u16::from(ResponseCode::BADVERS));
        assert_eq!(m.edns.map(|e| e.version()), Some(0));
    }

    #[test]
    fn a_standalone_server_is_node0_and_leads() {
        let v = View { leader: Some(0), members: vec![Member { id: 0, addr: "127.0.0.5:6379".into() }], serial: 1 };
        let srv = ask("_redis._tcp.leader.cache.example.internal.", RecordType::SRV, v.clone());
        assert_eq!(srv.answers.len(), 1);
        let node0 = ask("node0.cache.example.internal.", RecordType::A, v.clone());
        assert_eq!(node0.answers.len(), 1, "{node0:?}");
        assert_eq!(
            ask("node00.cache.example.internal.", RecordType::A, v).metadata.response_code,
            ResponseCode::NXDomain
        );
    }

    #[test]
    fn hostname_leader_is_a_cname() {
        let mut v = view();
        v.leader = Some(3);
        let m = ask("leader.cache.example.internal.", RecordType::A, v);
        assert_eq!(m.answers.len(), 1);
        assert_eq!(m.answers[0].data, RData::CNAME(CNAME(Name::from_ascii("cache3.example.com.").expect("name"))));
    }

    #[test]
    fn garbage_gets_formerr_or_nothing() {
        let zone = Zone::new("cache.example.internal", 1).expect("zone");
        let stats = Stats::default();
        let v = || view();
        assert!(handle(&zone, &v, b"\x01", Transport::Udp, &stats).is_none());
        let mut bad = vec![0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0];
        bad.extend_from_slice(&[0x3f, b'a']);
        let out = handle(&zone, &v, &bad, Transport::Udp, &stats).expect("formerr");
        let m = Message::from_vec(&out).expect("decode");
        assert_eq!(m.metadata.id, 0x1234);
        assert_eq!(m.metadata.response_code, ResponseCode::FormErr);
        assert_eq!(stats.bad.load(Ordering::Relaxed), 2);
    }
}
