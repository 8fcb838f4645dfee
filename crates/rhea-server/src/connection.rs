use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use rhea_cluster::{Cluster, Proposal};
use rhea_commands::blocking::BlockWait;
use rhea_commands::client::ReplyMode;
use rhea_commands::obs::CmdIds;
use rhea_commands::replicated::{self, Kind, Reply, Request, Route};
use rhea_commands::table::flags;
use rhea_commands::CommandSpec;
use rhea_commands::{
    check, count_errors, disconnect, dispatch, execute, now_ms, Client, ClientInfo, CommandTable, Outcome, Shared,
};
use rhea_resp::{Out, RequestParser};
use rhea_store::Sds;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::futures::Notified;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::Notify;
use tracing::debug;

const READ_CHUNK: usize = 16 * 1024;
/// A pipelined run of writes longer than this is split over several log
/// entries, so one client cannot make an entry of unbounded size.
const MAX_WRITES_PER_ENTRY: usize = 1024;

/// One client connection: the socket, its buffers and its state.
struct Conn {
    stream: TcpStream,
    shared: Arc<Shared>,
    info: Arc<ClientInfo>,
    client: Client,
    parser: RequestParser,
    buf: BytesMut,
    out: Out,
    argv: Vec<Bytes>,
    /// Pub/sub messages and other pushes from other connections.
    push_rx: UnboundedReceiver<()>,
}

/// Why the connection ends.
struct Closed;

/// Serves one client until it quits, errs, is killed or the server stops.
///
/// Every request already in the read buffer is executed before the replies
/// are written in one go: a pipelined client costs one read and one write
/// per batch, not per command.
pub async fn serve(stream: TcpStream, shared: Arc<Shared>, info: Arc<ClientInfo>, push_rx: UnboundedReceiver<()>) {
    let (authenticated, max_bulk) = {
        let cfg = shared.config.read();
        (cfg.requirepass.is_empty(), cfg.proto_max_bulk_len)
    };
    let mut conn = Conn {
        stream,
        shared: shared.clone(),
        client: Client::new(info.clone(), authenticated),
        info,
        parser: RequestParser::new(max_bulk),
        buf: BytesMut::with_capacity(READ_CHUNK),
        out: Out::new(false),
        argv: Vec::with_capacity(8),
        push_rx,
    };
    let _ = conn.run().await;
    disconnect(&shared, &mut conn.client);
    let _ = conn.stream.shutdown().await;
}

/// Replies of a pipelined batch shorter than this wait for the other ready
/// connections (see `Conn::run`). Longer ones go out at once: holding
/// every connection's large replies until all are built lets the client
/// sit idle and then floods it, and the one wake-up saved is small beside
/// the bytes it must read anyway. redis-benchmark -P 16, 50 clients, two
/// rounds (bench/README.md, "Holding replies back"): ZRANGE 0 99 of a 10k
/// set (30 KB a batch) 122-161k rps held, 166-212k not (redis-server
/// 135-138k); ZADD (64 bytes) 504-592k held, 446-461k not.
const HOLD_REPLIES_BELOW: usize = 16 * 1024;

impl Conn {
    async fn run(&mut self) -> Result<(), Closed> {
        // Registered once: re-creating the waiter on every read cost ~6% of
        // the instructions per command.
        let info = self.info.clone();
        let killed = info.kill_notify.notified();
        tokio::pin!(killed);
        loop {
            reserve(&mut self.buf, self.parser.bulk_hint());
            tokio::select! {
                biased;
                _ = &mut killed => return Err(Closed),
                Some(()) = self.push_rx.recv() => {
                    let pushed = self.gather_pushes().await;
                    self.flush(pushed).await?;
                    continue;
                }
                r = self.stream.read_buf(&mut self.buf) => match r {
                    Ok(0) | Err(_) => return Err(Closed),
                    Ok(n) => {
                        self.shared.stats.total_net_input_bytes.fetch_add(n as u64, Ordering::Relaxed);
                        self.after_read()?;
                    }
                },
            }
            let requests = self.process_buffer(killed.as_mut()).await?;
            self.publish_buffer_sizes();
            if requests > 1 && self.out.len() < HOLD_REPLIES_BELOW {
                // A pipelined batch: let the other connections that are
                // ready run first, so their replies go out together, as
                // Redis writes all of an event-loop pass's replies at its
                // end. The client then wakes once for several replies
                // instead of once per connection: the wake-up inside the
                // socket write was ~11% of the CPU of pipelined ZADDs.
                tokio::task::yield_now().await;
            }
            self.flush(0).await?;
            if self.client.close_after_reply || self.info.killed.load(Ordering::Acquire) {
                return Err(Closed);
            }
        }
    }

    /// Runs every complete request in the read buffer; returns how many
    /// there were. A blocked request holds back the ones after it until it
    /// is served or times out.
    async fn process_buffer(&mut self, mut killed: Pin<&mut Notified<'_>>) -> Result<usize, Closed> {
        if let Some(cluster) = self.shared.cluster.get() {
            let cluster = cluster.clone();
            return self.process_buffer_cluster(&cluster, killed).await;
        }
        let obuf_hard = self.shared.obs.obuf_normal[0].load(Ordering::Relaxed) as usize;
        let mut requests = 0;
        loop {
            match self.parser.parse(&mut self.buf, &mut self.argv) {
                Ok(true) => {
                    requests += 1;
                    if self.shared.obs.pause.until_ms.load(Ordering::Relaxed) != 0 {
                        self.wait_while_paused(killed.as_mut()).await?;
                    }
                    let reply_start = self.out.len();
                    let outcome = if may_run_a_script(&self.argv) {
                        self.dispatch_off_thread().await?
                    } else {
                        dispatch(&self.shared, &mut self.client, &self.argv, &mut self.out)
                    };
                    if let Outcome::Blocked(wait) = outcome {
                        self.flush(0).await?;
                        self.info.blocked.store(true, Ordering::Relaxed);
                        let r = self.wait_unblocked(wait, killed.as_mut()).await;
                        self.info.blocked.store(false, Ordering::Relaxed);
                        r?;
                    }
                    if self.client.reply != ReplyMode::On {
                        self.drop_reply(reply_start);
                    }
                    if obuf_hard > 0 && counted_obuf(self.out.len()) >= obuf_hard && self.normal_class() {
                        // Redis closes such a client without sending what it
                        // has buffered: the replies are lost anyway.
                        debug!(client = self.client.id, "output buffer limit reached, closing connection");
                        self.out.buf.clear();
                        return Err(Closed);
                    }
                    if self.client.close_after_reply {
                        break;
                    }
                }
                Ok(false) => break,
                Err(e) => {
                    debug!(client = self.client.id, error = %e, "protocol error, closing connection");
                    self.out.error(&format!("ERR {e}"));
                    self.client.close_after_reply = true;
                    break;
                }
            }
        }
        self.argv.clear();
        Ok(requests)
    }

    /// `process_buffer` on a cluster node: writes go through the Raft log
    /// (a run of pipelined writes as one entry), reads wait for a read
    /// barrier, and the rest runs here. Replies stay in request order.
    async fn process_buffer_cluster(
        &mut self,
        cluster: &Cluster,
        mut killed: Pin<&mut Notified<'_>>,
    ) -> Result<usize, Closed> {
        let mut writes = replicated::Batch::default();
        let mut requests = 0;
        loop {
            match self.parser.parse(&mut self.buf, &mut self.argv) {
                Ok(true) => {
                    requests += 1;
                    if self.shared.obs.pause.until_ms.load(Ordering::Relaxed) != 0 {
                        self.propose_batch(cluster, &mut writes).await;
                        self.wait_while_paused(killed.as_mut()).await?;
                    }
                    let reply_start = self.out.len();
                    let checked = check(&self.shared, &mut self.client, &self.argv, &mut self.out);
                    count_errors(&self.shared, &mut self.out);
                    let Some((cmd, sub)) = checked else { continue };
                    if cmd.name == "rhea" {
                        if let Some(change) = rhea_commands::families::cluster::parse_membership(&self.argv) {
                            self.propose_batch(cluster, &mut writes).await;
                            match change {
                                Ok(change) => match cluster.change_membership(change).await {
                                    Ok(()) => self.out.ok(),
                                    Err(e) => self.out.error(&e.to_string()),
                                },
                                Err(e) => self.out.error(&e.to_string()),
                            }
                            continue;
                        }
                    }
                    let route = replicated::route(cmd, sub, &self.argv, &self.client);
                    let spec = sub.unwrap_or(cmd);
                    if route == Route::Write && spec.has(flags::BLOCKING) {
                        self.propose_batch(cluster, &mut writes).await;
                        self.propose_blocking(cluster, spec, killed.as_mut()).await?;
                        continue;
                    }
                    if route == Route::Write && cmd.name != "exec" {
                        writes.push(&self.argv);
                        if writes.len() >= MAX_WRITES_PER_ENTRY {
                            self.propose_batch(cluster, &mut writes).await;
                        }
                        continue;
                    }
                    self.propose_batch(cluster, &mut writes).await;
                    if route == Route::Write {
                        self.propose_exec(cluster).await;
                        continue;
                    }
                    if route == Route::Read && !self.client.readonly {
                        if let Err(e) = cluster.read_barrier().await {
                            self.out.error(&e.to_string());
                            continue;
                        }
                    }
                    let outcome = if may_run_a_script(&self.argv) {
                        self.dispatch_off_thread().await?
                    } else {
                        execute(&self.shared, &mut self.client, &self.argv, &mut self.out, cmd, sub)
                    };
                    count_errors(&self.shared, &mut self.out);
                    if let Outcome::Blocked(wait) = outcome {
                        self.flush(0).await?;
                        self.info.blocked.store(true, Ordering::Relaxed);
                        let r = self.wait_unblocked(wait, killed.as_mut()).await;
                        self.info.blocked.store(false, Ordering::Relaxed);
                        r?;
                    }
                    // Replies of writes batched into the log are not
                    // dropped here: CLIENT REPLY OFF is honoured for what
                    // runs locally.
                    if self.client.reply != ReplyMode::On {
                        self.drop_reply(reply_start);
                    }
                    if self.client.close_after_reply {
                        break;
                    }
                }
                Ok(false) => break,
                Err(e) => {
                    debug!(client = self.client.id, error = %e, "protocol error, closing connection");
                    self.propose_batch(cluster, &mut writes).await;
                    self.out.error(&format!("ERR {e}"));
                    self.client.close_after_reply = true;
                    break;
                }
            }
        }
        self.propose_batch(cluster, &mut writes).await;
        self.argv.clear();
        Ok(requests)
    }

    /// Proposes the pipelined writes gathered so far as one log entry and
    /// writes the replies it got.
    async fn propose_batch(&mut self, cluster: &Cluster, writes: &mut replicated::Batch) {
        let n = writes.len();
        if let Some(p) = writes.take(self.out.resp3, self.client.db as u32, now_ms(), fastrand::u64(..)) {
            self.propose(cluster, p, n).await;
        }
    }

    /// Proposes one log entry (`n` replies) and writes the replies it got.
    async fn propose(&mut self, cluster: &Cluster, proposal: Proposal, n: usize) {
        match cluster.propose(proposal).await {
            Ok(reply) => match replicated::decode_reply(&reply) {
                Some(Reply::Done { db, resp }) => {
                    self.client.select(db);
                    self.out.raw(resp);
                }
                // Only a blocking command blocks, and those go through
                // `propose_blocking`.
                Some(Reply::Block { timeout_reply, .. }) => timeout_reply.write(&mut self.out),
                None => self.out.error("ERR internal error: unreadable reply from the log"),
            },
            Err(e) => {
                let msg = e.to_string();
                for _ in 0..n {
                    self.out.error(&msg);
                }
            }
        }
    }

    /// A blocking command (BLPOP...) on a cluster node: proposed alone; if
    /// it finds nothing, the client waits here until an applied write gives
    /// one of its keys data, then the command is proposed again, until it
    /// gets something or its deadline (from the first attempt) passes. The
    /// keys are watched before the first proposal, so no write in between
    /// is missed. Nothing is popped except by an entry whose reply goes to
    /// this client.
    async fn propose_blocking(
        &mut self,
        cluster: &Cluster,
        spec: &CommandSpec,
        mut killed: Pin<&mut Notified<'_>>,
    ) -> Result<(), Closed> {
        let argv = std::mem::take(&mut self.argv);
        let keys: Vec<Sds> = spec.key_positions(&argv).into_iter().map(|i| Sds::new(&argv[i])).collect();
        let db = self.client.db;
        let notify = Arc::new(Notify::new());
        self.shared.wakeups.register(&mut self.shared.store.lock(), db, &keys, &notify);
        let mut deadline: Option<Option<i64>> = None;
        let result = loop {
            let req = Request {
                kind: Kind::Batch,
                resp3: self.out.resp3,
                db: db as u32,
                now_ms: now_ms(),
                seed: fastrand::u64(..),
                cmds: vec![argv.clone()],
            };
            let reply = match cluster.propose(req.encode()).await {
                Ok(r) => r,
                Err(e) => {
                    self.out.error(&e.to_string());
                    break Ok(());
                }
            };
            let (first_deadline, timeout_reply) = match replicated::decode_reply(&reply) {
                Some(Reply::Done { db, resp }) => {
                    self.client.select(db);
                    self.out.raw(resp);
                    break Ok(());
                }
                Some(Reply::Block { deadline_ms, timeout_reply }) => (deadline_ms, timeout_reply),
                None => {
                    self.out.error("ERR internal error: unreadable reply from the log");
                    break Ok(());
                }
            };
            let deadline_ms = *deadline.get_or_insert(first_deadline);
            if let Some(d) = deadline_ms {
                if d <= now_ms() {
                    timeout_reply.write(&mut self.out);
                    break Ok(());
                }
            }
            self.flush(0).await?;
            // Marked blocked while it waits, so that a leadership switch
            // (and CLIENT LIST) sees it.
            self.info.blocked.store(true, Ordering::Relaxed);
            let waited = self.wait_for_data(&notify, deadline_ms, killed.as_mut()).await;
            self.info.blocked.store(false, Ordering::Relaxed);
            match waited {
                Ok(true) => continue,
                Ok(false) => {
                    timeout_reply.write(&mut self.out);
                    break Ok(());
                }
                Err(c) => break Err(c),
            }
        };
        self.shared.wakeups.unregister(&mut self.shared.store.lock(), db, &keys, &notify);
        result
    }

    /// Waits for `notify` (true) or the deadline (false); pushes are
    /// delivered meanwhile and a hang-up or kill ends the wait.
    async fn wait_for_data(
        &mut self,
        notify: &Notify,
        deadline_ms: Option<i64>,
        mut killed: Pin<&mut Notified<'_>>,
    ) -> Result<bool, Closed> {
        let timeout = deadline_ms.map(|d| Duration::from_millis(d.saturating_sub(now_ms()).max(0) as u64));
        let sleep = tokio::time::sleep(timeout.unwrap_or(Duration::from_secs(365 * 24 * 3600)));
        tokio::pin!(sleep);
        loop {
            reserve(&mut self.buf, None);
            tokio::select! {
                biased;
                _ = &mut killed => return Err(Closed),
                _ = notify.notified() => return Ok(true),
                Some(()) = self.push_rx.recv() => {
                    let pushed = self.gather_pushes().await;
                    self.flush(pushed).await?;
                }
                _ = &mut sleep, if timeout.is_some() => return Ok(false),
                r = self.stream.read_buf(&mut self.buf) => match r {
                    Ok(0) | Err(_) => return Err(Closed),
                    Ok(n) => {
                        self.shared.stats.total_net_input_bytes.fetch_add(n as u64, Ordering::Relaxed);
                    }
                },
            }
        }
    }

    /// EXEC of a transaction that writes: one log entry. WATCHed keys are
    /// checked here after a read barrier, and their state travels with the
    /// entry, which is discarded where it is applied if one of them changed
    /// in between.
    async fn propose_exec(&mut self, cluster: &Cluster) {
        if !self.client.watched.is_empty() {
            if let Err(e) = cluster.read_barrier().await {
                self.out.error(&e.to_string());
                return;
            }
        }
        match replicated::take_transaction(&self.shared, &mut self.client) {
            Some((kind, cmds)) => {
                let req = Request {
                    kind,
                    resp3: self.out.resp3,
                    db: self.client.db as u32,
                    now_ms: now_ms(),
                    seed: fastrand::u64(..),
                    cmds,
                };
                self.propose(cluster, req.encode(), 1).await
            }
            // A watched key changed: EXEC's own path answers (nil) and
            // cleans up.
            None => {
                let argv = [Bytes::from_static(b"EXEC")];
                dispatch(&self.shared, &mut self.client, &argv, &mut self.out);
            }
        }
    }

    /// Checks the unparsed input against `client-query-buffer-limit`: a
    /// client that sends more than that without completing a request is
    /// disconnected, as Redis does.
    fn after_read(&mut self) -> Result<(), Closed> {
        let limit = self.shared.obs.query_buffer_limit.load(Ordering::Relaxed);
        if limit > 0 && self.buf.len() as u64 > limit {
            tracing::warn!(client = self.client.id, addr = %self.info.addr, "closing client that reached max query buffer length");
            return Err(Closed);
        }
        self.info.qbuf.store(self.buf.len(), Ordering::Relaxed);
        self.info.qbuf_cap.store(self.buf.capacity(), Ordering::Relaxed);
        // Once per read, as Redis stamps `lastinteraction` when it reads:
        // a clock read per command was a third of the ~9% of CPU that
        // pipelined LPUSHes spent reading the clock.
        self.info.last_interaction_ms.store(now_ms(), Ordering::Relaxed);
        Ok(())
    }

    /// Records the buffer figures CLIENT LIST shows, once per batch.
    fn publish_buffer_sizes(&self) {
        let i = &self.info;
        let qbuf = self.buf.len();
        i.qbuf.store(qbuf, Ordering::Relaxed);
        i.qbuf_cap.store(self.buf.capacity(), Ordering::Relaxed);
        if qbuf > i.qbuf_peak.load(Ordering::Relaxed) {
            i.qbuf_peak.store(qbuf, Ordering::Relaxed);
        }
        i.obuf_cap.store(self.out.buf.capacity(), Ordering::Relaxed);
        match &self.client.multi {
            None => i.multi.store(-1, Ordering::Relaxed),
            Some(q) => {
                i.multi.store(q.len() as i64, Ordering::Relaxed);
                let mem: usize = q.iter().flat_map(|argv| argv.iter().map(|a| a.len())).sum();
                i.multi_mem.store(mem, Ordering::Relaxed);
            }
        }
    }

    /// Output-buffer class: pub/sub and MONITOR clients have their own
    /// limits, checked where their messages are queued.
    fn normal_class(&self) -> bool {
        self.client.subscriptions == 0 && !self.info.monitor.load(Ordering::Relaxed)
    }

    /// CLIENT REPLY OFF/SKIP: drops the reply of the command just run.
    fn drop_reply(&mut self, reply_start: usize) {
        self.out.buf.truncate(reply_start);
        self.client.reply = match self.client.reply {
            // Set by this very command: the next one is skipped too.
            ReplyMode::SkipNext => ReplyMode::Skip,
            ReplyMode::Skip => ReplyMode::On,
            m => m,
        };
    }

    /// CLIENT PAUSE: holds the current request while the pause covers it
    /// (every command in ALL mode; writes, and EXEC of queued writes, in
    /// WRITE mode), until the pause ends or CLIENT UNPAUSE.
    async fn wait_while_paused(&mut self, mut killed: Pin<&mut Notified<'_>>) -> Result<(), Closed> {
        let pause = &self.shared.obs.pause;
        let write = self.is_pausable_write();
        loop {
            let woken = pause.notify.notified();
            let Some(until) = pause.holds(now_ms(), write) else { return Ok(()) };
            let left = Duration::from_millis(until.saturating_sub(now_ms()).max(1) as u64);
            tokio::select! {
                _ = &mut killed => return Err(Closed),
                _ = woken => {}
                _ = tokio::time::sleep(left) => {}
            }
        }
    }

    fn is_pausable_write(&self) -> bool {
        let ids = CmdIds::get();
        let pausable = |argv: &[Bytes]| match CommandTable::get().resolve(argv) {
            Ok((cmd, sub)) => ids.metas.get(ids.index(sub.unwrap_or(cmd))).is_some_and(|m| m.pausable_write),
            Err(_) => false,
        };
        if pausable(&self.argv) {
            // Queued inside MULTI, a write still waits, as in Redis 7.0.
            return true;
        }
        let is_exec = self.argv.first().is_some_and(|a| a.eq_ignore_ascii_case(b"exec"));
        is_exec && self.client.multi.as_ref().is_some_and(|q| q.iter().any(|argv| pausable(argv)))
    }

    /// Runs the current request on the blocking pool instead of the runtime
    /// thread. A script may run for seconds; meanwhile the runtime must keep
    /// serving other clients so they get BUSY and can send SCRIPT KILL (with
    /// one worker thread, the default, running it inline froze the server).
    async fn dispatch_off_thread(&mut self) -> Result<Outcome, Closed> {
        let stand_in = Client::new(self.info.clone(), false);
        let mut client = std::mem::replace(&mut self.client, stand_in);
        let mut out = std::mem::take(&mut self.out);
        let argv = std::mem::take(&mut self.argv);
        let shared = self.shared.clone();
        let (client, out, argv, outcome) = tokio::task::spawn_blocking(move || {
            let outcome = dispatch(&shared, &mut client, &argv, &mut out);
            (client, out, argv, outcome)
        })
        .await
        .map_err(|_| Closed)?;
        self.client = client;
        self.out = out;
        self.argv = argv;
        Ok(outcome)
    }

    /// Waits for a blocked command's reply: served by another client's
    /// write, or the timeout reply once the deadline passes. Pushes are
    /// still delivered, and a client that hangs up is noticed.
    async fn wait_unblocked(&mut self, wait: BlockWait, mut killed: Pin<&mut Notified<'_>>) -> Result<(), Closed> {
        let BlockWait { mut reply, deadline_ms, timeout_reply } = wait;
        let timeout = deadline_ms.map(|d| Duration::from_millis(d.saturating_sub(now_ms()).max(0) as u64));
        let sleep = tokio::time::sleep(timeout.unwrap_or(Duration::from_secs(365 * 24 * 3600)));
        tokio::pin!(sleep);
        loop {
            reserve(&mut self.buf, None);
            tokio::select! {
                biased;
                _ = &mut killed => return Err(Closed),
                r = &mut reply => {
                    let bytes = r.map_err(|_| Closed)?;
                    self.out.raw(&bytes);
                    return Ok(());
                }
                Some(()) = self.push_rx.recv() => {
                    let pushed = self.gather_pushes().await;
                    self.flush(pushed).await?;
                }
                _ = &mut sleep, if timeout.is_some() => {
                    let cancelled = {
                        let mut store = self.shared.store.lock();
                        self.shared.blocking.lock().cancel(&mut store, self.client.id)
                    };
                    if cancelled {
                        timeout_reply.write(&mut self.out);
                        return Ok(());
                    }
                    // Served in the meantime: the reply is already sent.
                    let bytes = reply.await.map_err(|_| Closed)?;
                    self.out.raw(&bytes);
                    return Ok(());
                }
                // Later pipelined requests wait in the buffer; a hang-up ends
                // the wait (and `disconnect` unregisters the client).
                r = self.stream.read_buf(&mut self.buf) => match r {
                    Ok(0) | Err(_) => return Err(Closed),
                    Ok(n) => {
                        self.shared.stats.total_net_input_bytes.fetch_add(n as u64, Ordering::Relaxed);
                        self.after_read()?;
                    }
                },
            }
        }
    }

    /// Takes every push queued for the client into one write, after
    /// letting the publishers that are ready in this tick run: one syscall
    /// per burst, as Redis writes once per event-loop pass, not one per
    /// message. Returns the bytes taken (none if a late ring found them
    /// taken already).
    async fn gather_pushes(&mut self) -> usize {
        tokio::task::yield_now().await;
        // Rings for bytes about to be taken; one that comes after this
        // finds them gone, which is harmless.
        while self.push_rx.try_recv().is_ok() {}
        self.info.take_pushes(&mut self.out.buf)
    }

    /// Writes the output buffer; `pushed` bytes of it came through the push
    /// channel and stop counting as pending once written.
    async fn flush(&mut self, pushed: usize) -> Result<(), Closed> {
        if self.out.is_empty() {
            return Ok(());
        }
        self.shared.stats.total_net_output_bytes.fetch_add(self.out.len() as u64, Ordering::Relaxed);
        // A client that does not read (a slow subscriber) can keep this
        // write pending forever: a kill (output buffer limit, CLIENT KILL)
        // must still end it. `kill` wakes every registered waiter.
        let killed = self.info.kill_notify.notified();
        if self.info.killed.load(Ordering::Acquire) {
            return Err(Closed);
        }
        self.info.obuf.store(self.out.len(), Ordering::Relaxed);
        // The normal class's soft limit: a client that leaves more than
        // `soft` bytes unread for `soft_seconds` is disconnected.
        let soft = self.shared.obs.obuf_normal[1].load(Ordering::Relaxed) as usize;
        if soft > 0 && counted_obuf(self.out.len()) >= soft && self.normal_class() {
            let soft_after = Duration::from_secs(self.shared.obs.obuf_normal[2].load(Ordering::Relaxed));
            tokio::select! {
                r = self.stream.write_all(&self.out.buf) => r.map_err(|_| Closed)?,
                _ = killed => return Err(Closed),
                _ = tokio::time::sleep(soft_after) => {
                    debug!(client = self.client.id, "output buffer soft limit reached, closing connection");
                    return Err(Closed);
                }
            }
        } else {
            // No timer here: arming one per write costs on every reply.
            tokio::select! {
                r = self.stream.write_all(&self.out.buf) => r.map_err(|_| Closed)?,
                _ = killed => return Err(Closed),
            }
        }
        self.info.obuf.store(0, Ordering::Relaxed);
        self.out.buf.clear();
        if pushed > 0 {
            self.info.push_pending.fetch_sub(pushed, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// The part of a reply buffer that counts against the output buffer
/// limits. Redis counts only its reply list, not the 16 KB buffer every
/// client has, so a small limit (`normal 3 3 3`) still lets ordinary
/// replies through; Rhea does the same.
fn counted_obuf(len: usize) -> usize {
    len.saturating_sub(16 * 1024)
}

/// Requests that can run a Lua script (EXEC may hold EVALs).
fn may_run_a_script(argv: &[Bytes]) -> bool {
    argv.first().is_some_and(|name| {
        ["eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro", "exec"]
            .iter()
            .any(|c| name.eq_ignore_ascii_case(c.as_bytes()))
    })
}

/// Makes room for the next read: a fixed chunk normally, geometrically more
/// while a large bulk argument is arriving (never the client-announced size
/// up front, so a lying header cannot make us allocate 512 MB).
fn reserve(buf: &mut BytesMut, bulk_hint: Option<usize>) {
    let spare = buf.capacity() - buf.len();
    let want = match bulk_hint {
        Some(total) if total > buf.len() => (total - buf.len()).min(buf.len().max(READ_CHUNK)),
        _ => READ_CHUNK,
    };
    if spare < want.min(READ_CHUNK) || (bulk_hint.is_some() && spare < want) {
        buf.reserve(want);
    }
}
