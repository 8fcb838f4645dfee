use rhea_resp::Out;
use rhea_store::{Db, Store};

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

    /// The LRU clock: seconds, wrapping, as stored in entries.
    pub fn lru_clock(&self) -> u32 {
        (self.now_ms / 1000) as u32
    }
}
