use rhea_resp::Out;
use rhea_store::{Db, Sds, Store};

use crate::blocking::{BlockRequest, TimeoutReply};

use crate::pubsub::{self, SelfOut};
use crate::{client::Client, shared::Shared};

/// Everything a command handler may touch while it runs.
pub struct Ctx<'a> {
    /// The keyspace, locked for the duration of the command.
    pub store: &'a mut Store,
    /// Where the reply goes.
    pub out: &'a mut Out,
    /// The calling connection's state (selected db, name, protocol...).
    pub client: &'a mut Client,
    /// Server-wide state (config, clients, stats).
    pub shared: &'a Shared,
    /// The time stamped on this request, unix milliseconds. Handlers use it
    /// instead of reading the clock so that replaying a request is exact.
    pub now_ms: i64,
    /// The only source of randomness a handler may use (SPOP, RANDOMKEY,
    /// SRANDMEMBER...). It is seeded once per request by the node that
    /// stamps the request, so replaying the request with the same seed on a
    /// replica makes the same choices: aggregates iterate in operation order
    /// (IndexMap/IndexSet), never in hash order.
    pub rng: fastrand::Rng,
}

impl Ctx<'_> {
    /// The client's selected database.
    pub fn db(&mut self) -> &mut Db {
        let i = self.client.db;
        &mut self.store.dbs[i]
    }

    /// May a blocking command block now? Not inside MULTI/EXEC or a script,
    /// nor while being re-run for a client that was already blocked: there
    /// it behaves as if its timeout had passed, as in Redis.
    pub fn can_block(&self) -> bool {
        !self.client.in_exec && !self.client.serving_blocked
    }

    /// Asks to block the client on `keys` until data arrives or the absolute
    /// `deadline_ms` (None = forever). The handler writes no reply.
    pub fn block(&mut self, keys: Vec<Sds>, deadline_ms: Option<i64>, timeout_reply: TimeoutReply) {
        self.client.block = Some(BlockRequest { keys, deadline_ms, timeout_reply });
    }

    /// Tells blocked clients that `key` (in the client's db) got data.
    pub fn signal_ready(&mut self, key: &[u8]) {
        let db = self.client.db;
        self.store.signal_ready(db, key);
    }

    /// Delivers `msg` to the subscribers of `channel` (a shard channel if
    /// `shard`) and of matching patterns; returns how many received it.
    pub fn publish(&mut self, shard: bool, channel: &[u8], msg: &[u8]) -> usize {
        let limit = self.shared.config.read().obuf_limits[2];
        let mut me = SelfOut { id: self.client.id, out: self.out };
        self.shared.pubsub.lock().publish(shard, channel, msg, Some(&mut me), limit, self.now_ms)
    }

    /// Redis's `notifyKeyspaceEvent` for `key` in the client's database:
    /// `class` is one of `crate::pubsub::notify`'s classes (GENERIC,
    /// STRING, LIST, SET, HASH, ZSET...), `event` the event name ("set",
    /// "del", "expire", "lpush"...). Costs one config read when disabled.
    pub fn notify(&mut self, class: u32, event: &str, key: &[u8]) {
        let db = self.client.db;
        self.notify_db(class, event, key, db);
    }

    /// `notify` for a key of another database (MOVE's `move_to`, COPY ...
    /// DB's `copy_to`).
    pub fn notify_db(&mut self, class: u32, event: &str, key: &[u8], db: usize) {
        let flags = self.shared.config.read().notify_keyspace_events;
        if flags & class == 0 {
            return;
        }
        let mut me = SelfOut { id: self.client.id, out: self.out };
        // Keys this command expired on its way come first, as in Redis
        // where lookups publish `expired` at once.
        pubsub::flush_expired(self.shared, self.store, Some(&mut me), self.now_ms);
        pubsub::notify_event(self.shared, flags, class, event, key, db, Some(&mut me), self.now_ms);
    }

    /// Publishes `expired` events for keys expired since the last call.
    pub(crate) fn flush_expired(&mut self) {
        let mut me = SelfOut { id: self.client.id, out: self.out };
        pubsub::flush_expired(self.shared, self.store, Some(&mut me), self.now_ms);
    }
}
