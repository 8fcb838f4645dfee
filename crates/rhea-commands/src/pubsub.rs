//! The pub/sub registry: who is subscribed to which channel, pattern and
//! shard channel, message delivery through each client's push channel, the
//! output-buffer limit that disconnects subscribers too slow to keep up, and
//! keyspace notifications.
//!
//! The registry lives in `Shared` behind its own mutex, taken after the
//! store lock (commands publish while the store is locked).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use ahash::RandomState;
use bytes::{Bytes, BytesMut};
use indexmap::{IndexMap, IndexSet};
use rhea_resp::Out;
use rhea_store::{glob_match, Store};
use tracing::warn;

use crate::client::ClientInfo;
use crate::Shared;

/// Keyspace notification classes, as Redis numbers them
/// (`notify-keyspace-events` letters in brackets).
pub mod notify {
    /// K: `__keyspace@<db>__:<key>` channels.
    pub const KEYSPACE: u32 = 1 << 0;
    /// E: `__keyevent@<db>__:<event>` channels.
    pub const KEYEVENT: u32 = 1 << 1;
    /// g: DEL, EXPIRE, RENAME... (type-independent commands).
    pub const GENERIC: u32 = 1 << 2;
    /// $
    pub const STRING: u32 = 1 << 3;
    /// l
    pub const LIST: u32 = 1 << 4;
    /// s
    pub const SET: u32 = 1 << 5;
    /// h
    pub const HASH: u32 = 1 << 6;
    /// z
    pub const ZSET: u32 = 1 << 7;
    /// x: a key removed because its TTL passed.
    pub const EXPIRED: u32 = 1 << 8;
    /// e: a key evicted for maxmemory.
    pub const EVICTED: u32 = 1 << 9;
    /// t
    pub const STREAM: u32 = 1 << 10;
    /// m: a read of a missing key (not part of A).
    pub const KEY_MISS: u32 = 1 << 11;
    /// d: module events.
    pub const MODULE: u32 = 1 << 13;
    /// n: a new key (not part of A).
    pub const NEW: u32 = 1 << 14;
    /// A
    pub const ALL: u32 = GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

    /// Parses a `notify-keyspace-events` value as Redis does; None on an
    /// unknown letter.
    pub fn parse(s: &str) -> Option<u32> {
        let mut flags = 0;
        for c in s.chars() {
            flags |= match c {
                'A' => ALL,
                'g' => GENERIC,
                '$' => STRING,
                'l' => LIST,
                's' => SET,
                'h' => HASH,
                'z' => ZSET,
                'x' => EXPIRED,
                'e' => EVICTED,
                'K' => KEYSPACE,
                'E' => KEYEVENT,
                't' => STREAM,
                'm' => KEY_MISS,
                'd' => MODULE,
                'n' => NEW,
                _ => return None,
            };
        }
        Some(flags)
    }

    /// The canonical text CONFIG GET shows (Redis 7.0 prints `A` alone for
    /// all classes, and then never `n`).
    pub fn to_string(flags: u32) -> String {
        let mut s = String::new();
        if flags & ALL == ALL {
            s.push('A');
        } else {
            for (f, c) in [
                (GENERIC, 'g'),
                (STRING, '$'),
                (LIST, 'l'),
                (SET, 's'),
                (HASH, 'h'),
                (ZSET, 'z'),
                (EXPIRED, 'x'),
                (EVICTED, 'e'),
                (STREAM, 't'),
                (MODULE, 'd'),
                (NEW, 'n'),
            ] {
                if flags & f != 0 {
                    s.push(c);
                }
            }
        }
        for (f, c) in [(KEYSPACE, 'K'), (KEYEVENT, 'E'), (KEY_MISS, 'm')] {
            if flags & f != 0 {
                s.push(c);
            }
        }
        s
    }
}

/// One `client-output-buffer-limit` class: a client is disconnected when
/// its pending output reaches `hard` bytes, or stays at or above `soft`
/// bytes for more than `soft_seconds` (0 disables a limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObufLimit {
    pub hard: u64,
    pub soft: u64,
    pub soft_seconds: u64,
}

/// The three kinds of subscription. Plain channels and patterns share the
/// subscription count of SUBSCRIBE replies; shard channels count apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Channel,
    Pattern,
    Shard,
}

impl Kind {
    pub fn subscribe_name(self) -> &'static str {
        match self {
            Kind::Channel => "subscribe",
            Kind::Pattern => "psubscribe",
            Kind::Shard => "ssubscribe",
        }
    }

    pub fn unsubscribe_name(self) -> &'static str {
        match self {
            Kind::Channel => "unsubscribe",
            Kind::Pattern => "punsubscribe",
            Kind::Shard => "sunsubscribe",
        }
    }

    fn index(self) -> usize {
        match self {
            Kind::Channel => 0,
            Kind::Pattern => 1,
            Kind::Shard => 2,
        }
    }
}

type Subscribers = IndexMap<u64, Arc<ClientInfo>, RandomState>;

/// One client's subscriptions, in the order it made them.
struct ClientSubs {
    info: Arc<ClientInfo>,
    sets: [IndexSet<Bytes, RandomState>; 3],
}

impl ClientSubs {
    fn total(&self) -> usize {
        self.sets.iter().map(|s| s.len()).sum()
    }
}

/// Every subscription of every client.
#[derive(Default)]
pub struct PubSub {
    /// Channel (or pattern, or shard channel) -> subscribers in the order
    /// they subscribed (the delivery order, as Redis's lists keep it).
    by_name: [IndexMap<Bytes, Subscribers, RandomState>; 3],
    clients: IndexMap<u64, ClientSubs, RandomState>,
}

/// Where a publish delivers to the publishing client itself: straight into
/// its reply buffer, so that a client subscribed to what it publishes sees
/// the message before the command's reply, as in Redis.
pub struct SelfOut<'a> {
    pub id: u64,
    pub out: &'a mut Out,
}

impl PubSub {
    /// Subscribes; returns whether it is new, and the count Redis's reply
    /// shows (channels + patterns, or shard channels).
    pub fn subscribe(&mut self, info: &Arc<ClientInfo>, kind: Kind, name: &Bytes) -> (bool, usize) {
        let subs =
            self.clients.entry(info.id).or_insert_with(|| ClientSubs { info: info.clone(), sets: Default::default() });
        let added = subs.sets[kind.index()].insert(name.clone());
        if added {
            self.by_name[kind.index()].entry(name.clone()).or_default().insert(info.id, info.clone());
            sync_counts(subs);
        }
        (added, self.count(info.id, kind))
    }

    /// Unsubscribes; returns whether it was subscribed, and the count left.
    pub fn unsubscribe(&mut self, id: u64, kind: Kind, name: &[u8]) -> (bool, usize) {
        let mut removed = false;
        if let Some(subs) = self.clients.get_mut(&id) {
            removed = subs.sets[kind.index()].shift_remove(name);
            if removed {
                sync_counts(subs);
                if subs.total() == 0 {
                    self.clients.swap_remove(&id);
                }
            }
        }
        if removed {
            let map = &mut self.by_name[kind.index()];
            if let Some(s) = map.get_mut(name) {
                s.shift_remove(&id);
                if s.is_empty() {
                    map.swap_remove(name);
                }
            }
        }
        (removed, self.count(id, kind))
    }

    /// The client's channels (or patterns, or shard channels), in the order
    /// it subscribed.
    pub fn subscriptions(&self, id: u64, kind: Kind) -> Vec<Bytes> {
        self.clients.get(&id).map(|s| s.sets[kind.index()].iter().cloned().collect()).unwrap_or_default()
    }

    /// The number a (un)subscribe reply carries for `kind`.
    pub fn count(&self, id: u64, kind: Kind) -> usize {
        self.clients.get(&id).map_or(0, |s| match kind {
            Kind::Shard => s.sets[2].len(),
            _ => s.sets[0].len() + s.sets[1].len(),
        })
    }

    /// All subscriptions of the client, of every kind (subscribed mode).
    pub fn total(&self, id: u64) -> usize {
        self.clients.get(&id).map_or(0, |s| s.total())
    }

    /// Drops every subscription of a client (disconnect, RESET, or a
    /// subscriber disconnected for its output buffer).
    pub fn remove_client(&mut self, id: u64) {
        let Some(subs) = self.clients.swap_remove(&id) else { return };
        for (k, set) in subs.sets.iter().enumerate() {
            let map = &mut self.by_name[k];
            for name in set {
                if let Some(s) = map.get_mut(name) {
                    s.shift_remove(&id);
                    if s.is_empty() {
                        map.swap_remove(name);
                    }
                }
            }
        }
        for c in [&subs.info.sub_count, &subs.info.psub_count, &subs.info.ssub_count] {
            c.store(0, Ordering::Relaxed);
        }
    }

    /// Channels (or shard channels) with at least one subscriber, matching
    /// `pattern` if given (PUBSUB CHANNELS).
    pub fn channels(&self, kind: Kind, pattern: Option<&[u8]>) -> Vec<Bytes> {
        self.by_name[kind.index()].keys().filter(|c| pattern.is_none_or(|p| glob_match(p, c, false))).cloned().collect()
    }

    /// Subscribers of one channel, patterns excluded (PUBSUB NUMSUB).
    pub fn numsub(&self, kind: Kind, name: &[u8]) -> usize {
        self.by_name[kind.index()].get(name).map_or(0, |s| s.len())
    }

    /// Distinct patterns subscribed to (PUBSUB NUMPAT, INFO pubsub_patterns).
    pub fn numpat(&self) -> usize {
        self.by_name[1].len()
    }

    /// Channels with subscribers (INFO pubsub_channels / pubsubshard_channels).
    pub fn num_channels(&self, kind: Kind) -> usize {
        self.by_name[kind.index()].len()
    }

    /// Delivers `msg` to the subscribers of `channel` and then to those of
    /// every matching pattern (a client subscribed both ways gets it twice,
    /// as in Redis). Returns the number of deliveries.
    pub fn publish(
        &mut self,
        shard: bool,
        channel: &[u8],
        msg: &[u8],
        mut me: Option<&mut SelfOut>,
        limit: ObufLimit,
        now_ms: i64,
    ) -> usize {
        let mut receivers = 0;
        let mut too_slow = Vec::new();
        let kind = if shard { Kind::Shard } else { Kind::Channel };
        if let Some(subs) = self.by_name[kind.index()].get(channel) {
            let head: &[&[u8]] = &[if shard { b"smessage" } else { b"message" }, channel, msg];
            let mut frames = Frames::new(head);
            for (id, info) in subs {
                deliver(info, *id, &mut frames, &mut me, limit, now_ms, &mut too_slow);
                receivers += 1;
            }
        }
        if !shard {
            for (pattern, subs) in &self.by_name[Kind::Pattern.index()] {
                if !glob_match(pattern, channel, false) {
                    continue;
                }
                let head: [&[u8]; 4] = [b"pmessage", pattern, channel, msg];
                let mut frames = Frames::new(&head);
                for (id, info) in subs {
                    deliver(info, *id, &mut frames, &mut me, limit, now_ms, &mut too_slow);
                    receivers += 1;
                }
            }
        }
        for id in too_slow {
            self.remove_client(id);
        }
        receivers
    }

    /// Is anyone subscribed to anything? (Notifications are skipped cheaply
    /// when not.)
    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }
}

fn sync_counts(subs: &ClientSubs) {
    let i = &subs.info;
    i.sub_count.store(subs.sets[0].len(), Ordering::Relaxed);
    i.psub_count.store(subs.sets[1].len(), Ordering::Relaxed);
    i.ssub_count.store(subs.sets[2].len(), Ordering::Relaxed);
}

/// A message encoded at most once per protocol version.
struct Frames<'a> {
    parts: &'a [&'a [u8]],
    resp2: Option<BytesMut>,
    resp3: Option<BytesMut>,
}

impl<'a> Frames<'a> {
    fn new(parts: &'a [&'a [u8]]) -> Self {
        Frames { parts, resp2: None, resp3: None }
    }

    /// The message encoded for one protocol, built on first use; every
    /// subscriber's queue copies it.
    fn get(&mut self, resp3: bool) -> &[u8] {
        let parts = self.parts;
        let slot = if resp3 { &mut self.resp3 } else { &mut self.resp2 };
        slot.get_or_insert_with(|| {
            let size = 16 + parts.iter().map(|p| p.len() + 16).sum::<usize>();
            let mut out = Out { buf: BytesMut::with_capacity(size), resp3, ..Default::default() };
            out.push(parts.len());
            for p in parts {
                out.bulk(p);
            }
            out.buf
        })
    }
}

fn deliver(
    info: &Arc<ClientInfo>,
    id: u64,
    frames: &mut Frames,
    me: &mut Option<&mut SelfOut>,
    limit: ObufLimit,
    now_ms: i64,
    too_slow: &mut Vec<u64>,
) {
    if let Some(me) = me.as_deref_mut().filter(|m| m.id == id) {
        me.out.raw(frames.get(me.out.resp3));
        return;
    }
    if info.killed.load(Ordering::Relaxed) {
        return;
    }
    let resp3 = info.resp.load(Ordering::Relaxed) == 3;
    info.push(frames.get(resp3));
    if over_limit(info, limit, now_ms) {
        warn!(
            client = id,
            addr = %info.addr,
            "client scheduled to be closed ASAP for overcoming of output buffer limits"
        );
        info.kill();
        too_slow.push(id);
    }
}

/// Redis's `checkClientOutputBufferLimits` applied to the bytes queued for
/// a client and not yet written to its socket.
pub fn over_limit(info: &ClientInfo, limit: ObufLimit, now_ms: i64) -> bool {
    let pending = info.push_pending.load(Ordering::Relaxed) as u64;
    if limit.hard > 0 && pending >= limit.hard {
        return true;
    }
    if limit.soft > 0 && pending >= limit.soft {
        let since = info.soft_limit_since_ms.load(Ordering::Relaxed);
        if since == 0 {
            info.soft_limit_since_ms.store(now_ms.max(1), Ordering::Relaxed);
            return false;
        }
        return now_ms.saturating_sub(since) > limit.soft_seconds.saturating_mul(1000) as i64;
    }
    info.soft_limit_since_ms.store(0, Ordering::Relaxed);
    false
}

/// Publishes one keyspace event (Redis's `notifyKeyspaceEvent`) if `flags`
/// (`notify-keyspace-events`) enables its class.
#[allow(clippy::too_many_arguments)]
pub fn notify_event(
    shared: &Shared,
    flags: u32,
    class: u32,
    event: &str,
    key: &[u8],
    db: usize,
    mut me: Option<&mut SelfOut>,
    now_ms: i64,
) {
    if flags & class == 0 || flags & (notify::KEYSPACE | notify::KEYEVENT) == 0 {
        return;
    }
    let limit = shared.config.read().obuf_limits[2];
    let mut ps = shared.pubsub.lock();
    if ps.is_empty() {
        return;
    }
    for (chan, payload) in keyspace_channels(flags, class, event, key, db) {
        ps.publish(false, &chan, &payload, me.as_deref_mut(), limit, now_ms);
    }
}

/// Publishes `expired` events for the keys the databases expired since the
/// last call (lazily while a command ran, or in the active expiry cycle),
/// and forgets them.
pub fn flush_expired(shared: &Shared, store: &mut Store, mut me: Option<&mut SelfOut>, now_ms: i64) {
    if !store.take_expired_pending() {
        return;
    }
    let flags = shared.config.read().notify_keyspace_events;
    for (i, db) in store.dbs.iter_mut().enumerate() {
        if !db.has_expired() {
            continue;
        }
        for key in db.take_expired() {
            notify_event(shared, flags, notify::EXPIRED, "expired", &key, i, me.as_deref_mut(), now_ms);
        }
    }
}

/// The channels a keyspace event goes to, with their payloads, if `flags`
/// enables `class`.
pub fn keyspace_channels(flags: u32, class: u32, event: &str, key: &[u8], db: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut v = Vec::new();
    if flags & class == 0 {
        return v;
    }
    if flags & notify::KEYSPACE != 0 {
        let mut chan = format!("__keyspace@{db}__:").into_bytes();
        chan.extend_from_slice(key);
        v.push((chan, event.as_bytes().to_vec()));
    }
    if flags & notify::KEYEVENT != 0 {
        v.push((format!("__keyevent@{db}__:{event}").into_bytes(), key.to_vec()));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_flags_round_trip_like_redis() {
        assert_eq!(notify::parse("KEA").map(notify::to_string).as_deref(), Some("AKE"));
        assert_eq!(notify::parse("gn$lKEm").map(notify::to_string).as_deref(), Some("g$lnKEm"));
        assert_eq!(notify::parse("ndt").map(notify::to_string).as_deref(), Some("tdn"));
        assert_eq!(notify::parse("Anm").map(notify::to_string).as_deref(), Some("Am"));
        assert_eq!(notify::parse("").map(notify::to_string).as_deref(), Some(""));
        assert_eq!(notify::parse("Q"), None);
    }

    #[test]
    fn keyspace_channels_follow_k_and_e() {
        let f = notify::parse("K$").unwrap_or(0);
        assert_eq!(
            keyspace_channels(f, notify::STRING, "set", b"k", 3),
            vec![(b"__keyspace@3__:k".to_vec(), b"set".to_vec())]
        );
        assert!(keyspace_channels(f, notify::GENERIC, "del", b"k", 0).is_empty());
        let f = notify::parse("AE").unwrap_or(0);
        assert_eq!(
            keyspace_channels(f, notify::GENERIC, "del", b"k", 0),
            vec![(b"__keyevent@0__:del".to_vec(), b"k".to_vec())]
        );
        assert!(keyspace_channels(notify::ALL, notify::GENERIC, "del", b"k", 0).is_empty());
    }

    fn client(id: u64) -> (Arc<ClientInfo>, tokio::sync::mpsc::UnboundedReceiver<()>) {
        let (info, rx) = ClientInfo::new(id, "a".into(), "b".into(), 0);
        (Arc::new(info), rx)
    }

    #[test]
    fn subscriptions_counts_and_delivery() {
        let mut ps = PubSub::default();
        let (a, mut ra) = client(1);
        let (b, mut rb) = client(2);
        let ch = Bytes::from_static(b"news");
        assert_eq!(ps.subscribe(&a, Kind::Channel, &ch), (true, 1));
        assert_eq!(ps.subscribe(&a, Kind::Channel, &ch), (false, 1));
        assert_eq!(ps.subscribe(&a, Kind::Pattern, &Bytes::from_static(b"n*")), (true, 2));
        assert_eq!(ps.subscribe(&b, Kind::Pattern, &Bytes::from_static(b"n*")), (true, 1));
        assert_eq!(ps.subscribe(&b, Kind::Shard, &ch), (true, 1));
        assert_eq!(ps.numpat(), 1);
        assert_eq!(ps.numsub(Kind::Channel, b"news"), 1);
        let none = ObufLimit { hard: 0, soft: 0, soft_seconds: 0 };
        assert_eq!(ps.publish(false, b"news", b"hi", None, none, 0), 3);
        // One ring for both of a's messages: the queue was empty once.
        assert!(ra.try_recv().is_ok());
        assert!(ra.try_recv().is_err());
        let mut got = BytesMut::new();
        assert_eq!(a.take_pushes(&mut got), got.len());
        let message = b"*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$2\r\nhi\r\n";
        let pmessage = b"*4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnews\r\n$2\r\nhi\r\n";
        assert_eq!(&got[..], [&message[..], &pmessage[..]].concat());
        assert_eq!(a.take_pushes(&mut got), 0, "taken");
        assert!(rb.try_recv().is_ok());
        let mut got = BytesMut::new();
        b.take_pushes(&mut got);
        assert_eq!(&got[..], &pmessage[..]);
        assert_eq!(ps.publish(true, b"news", b"x", None, none, 0), 1);
        assert_eq!(ps.unsubscribe(1, Kind::Channel, b"news"), (true, 1));
        assert_eq!(ps.unsubscribe(1, Kind::Channel, b"news"), (false, 1));
        ps.remove_client(2);
        assert_eq!(ps.numpat(), 1);
        ps.remove_client(1);
        assert_eq!(ps.numpat(), 0);
        assert!(ps.is_empty());
        assert!(ps.channels(Kind::Channel, None).is_empty());
    }

    #[test]
    fn slow_subscriber_is_dropped_at_the_hard_limit() {
        let mut ps = PubSub::default();
        let (a, _ra) = client(1);
        ps.subscribe(&a, Kind::Channel, &Bytes::from_static(b"c"));
        let limit = ObufLimit { hard: 1000, soft: 0, soft_seconds: 0 };
        let msg = vec![b'x'; 300];
        let mut delivered = 0;
        for _ in 0..10 {
            delivered += ps.publish(false, b"c", &msg, None, limit, 0);
        }
        assert_eq!(delivered, 4, "dropped once over 1000 pending bytes");
        assert!(a.killed.load(Ordering::Relaxed));
        assert!(ps.is_empty());
    }

    #[test]
    fn soft_limit_needs_time() {
        let (a, _ra) = client(1);
        let limit = ObufLimit { hard: 0, soft: 10, soft_seconds: 2 };
        a.push(b"0123456789ab");
        assert!(!over_limit(&a, limit, 1000));
        assert!(!over_limit(&a, limit, 3000));
        assert!(over_limit(&a, limit, 3001));
        a.push_pending.store(0, Ordering::Relaxed);
        assert!(!over_limit(&a, limit, 9000));
        a.push_pending.store(20, Ordering::Relaxed);
        assert!(!over_limit(&a, limit, 9500), "the soft timer restarted");
    }
}
