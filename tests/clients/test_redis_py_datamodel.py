"""redis-py against the data-model features with several connections at once:
hashes/lists/sets/zsets, blocking pops woken by another connection, WATCH
with concurrent writers, pub/sub and Lua scripts.

Every expectation here is what redis-server 7.0 answers (run the suite with
RHEA_CLIENT_PORT=<port of a redis-server> to check that). Every wait is
bounded: a server that never answers fails the test instead of hanging it.
"""

import threading
import time

import pytest
import redis

WAIT = 5.0  # seconds any cross-connection event may take before the test fails


def _until(predicate, timeout=WAIT, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError(f"{what} not reached within {timeout}s")


def _blocked_clients(c):
    return int(c.info("clients")["blocked_clients"])


def _client(port, protocol=2, **kw):
    return redis.Redis(port=port, protocol=protocol, socket_timeout=10, **kw)


class _Bg:
    """Runs a call on its own thread (its own connection) and keeps its result."""

    def __init__(self, fn):
        self.result = None
        self.error = None
        self._t = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self._t.start()

    def _run(self, fn):
        try:
            self.result = fn()
        except Exception as e:  # surfaced by join()
            self.error = e

    def join(self, timeout=WAIT):
        self._t.join(timeout)
        assert not self._t.is_alive(), "background call still running"
        if self.error is not None:
            raise self.error
        return self.result


def _next_message(p, timeout=WAIT):
    """The next message of a PubSub (confirmations included), or fail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = p.get_message(timeout=min(0.2, max(0.0, deadline - time.monotonic())))
        if m is not None:
            return m
    raise AssertionError(f"no pub/sub message within {timeout}s")


# --- typed round trips ------------------------------------------------------


@pytest.mark.parametrize("protocol", [2, 3])
def test_hash_round_trip(port, protocol):
    c = _client(port, protocol, decode_responses=True)
    assert c.hset("h", mapping={"a": "1", "b": "2", "c": "3"}) == 3
    assert c.hset("h", "a", "10") == 0
    assert c.hgetall("h") == {"a": "10", "b": "2", "c": "3"}
    assert c.hgetall("missing") == {}
    assert c.hget("h", "b") == "2"
    assert c.hget("h", "zz") is None
    assert c.hmget("h", ["a", "zz", "c"]) == ["10", None, "3"]
    assert c.hkeys("h") == ["a", "b", "c"]  # listpack: insertion order
    assert c.hvals("h") == ["10", "2", "3"]
    assert c.hlen("h") == 3
    assert c.hexists("h", "a") is True
    assert c.hexists("h", "zz") is False
    assert c.hincrby("h", "b", 5) == 7
    assert c.hincrbyfloat("h", "c", 0.5) == 3.5
    assert not c.hsetnx("h", "a", "x")
    assert c.hdel("h", "a", "b", "c", "zz") == 3
    assert c.exists("h") == 0  # an emptied hash is deleted
    c.set("s", "v")
    with pytest.raises(redis.ResponseError, match="^WRONGTYPE Operation against a key holding the wrong kind of value$"):
        c.hgetall("s")
    c.close()


@pytest.mark.parametrize("protocol", [2, 3])
def test_list_round_trip(port, protocol):
    c = _client(port, protocol)
    assert c.rpush("l", "a", "b", "c") == 3
    assert c.lpush("l", "z") == 4
    assert c.lrange("l", 0, -1) == [b"z", b"a", b"b", b"c"]
    assert c.lrange("missing", 0, -1) == []
    assert c.llen("l") == 4
    assert c.lindex("l", -1) == b"c"
    assert c.lindex("l", 9) is None
    assert c.lpos("l", "b") == 2
    assert c.lset("l", 0, "y") is True
    assert c.lpop("l") == b"y"
    assert c.rpop("l", 2) == [b"c", b"b"]
    assert c.lmove("l", "dst", "LEFT", "RIGHT") == b"a"
    assert c.exists("l") == 0
    assert c.lpop("l") is None
    assert c.lrange("dst", 0, -1) == [b"a"]
    c.close()


@pytest.mark.parametrize("protocol", [2, 3])
def test_set_round_trip(port, protocol):
    c = _client(port, protocol, decode_responses=True)
    assert c.sadd("s", "a", "b", "c", "a") == 3
    assert c.smembers("s") == {"a", "b", "c"}
    assert c.smembers("missing") == set()
    assert c.sismember("s", "a") in (True, 1)
    assert c.smismember("s", ["a", "zz"]) in ([True, False], [1, 0])
    assert c.scard("s") == 3
    c.sadd("t", "b", "c", "d")
    assert c.sinter("s", "t") == {"b", "c"}
    assert c.sunion("s", "t") == {"a", "b", "c", "d"}
    assert c.sdiff("s", "t") == {"a"}
    assert c.srem("s", "a", "zz") == 1
    c.sadd("ints", 3, 1, 2)
    assert c.smembers("ints") == {"1", "2", "3"}
    assert c.object("encoding", "ints") == "intset"
    assert c.spop("ints", 3) is not None and c.exists("ints") == 0
    c.close()


@pytest.mark.parametrize("protocol", [2, 3])
def test_zset_round_trip(port, protocol):
    c = _client(port, protocol, decode_responses=True)
    assert c.zadd("z", {"a": 1, "b": 2.5, "c": -3}) == 3
    assert [tuple(x) for x in c.zrange("z", 0, -1, withscores=True)] == [("c", -3.0), ("a", 1.0), ("b", 2.5)]
    assert c.zrange("z", 0, -1) == ["c", "a", "b"]
    assert [tuple(x) for x in c.zrevrange("z", 0, 0, withscores=True)] == [("b", 2.5)]
    assert c.zrangebyscore("z", 0, "+inf") == ["a", "b"]
    assert c.zscore("z", "b") == 2.5
    assert c.zscore("z", "zz") is None
    assert c.zincrby("z", 10, "a") == 11.0
    assert c.zrank("z", "a") == 2
    assert c.zcard("z") == 3
    assert c.zadd("z", {"a": 0}, xx=True, ch=True) == 1
    assert [tuple(x) for x in c.zpopmin("z", 1)] == [("c", -3.0)]
    assert c.zrem("z", "a", "b") == 2
    assert c.exists("z") == 0
    c.close()


# --- blocking pops ------------------------------------------------------------


def test_blpop_woken_by_push(r, port):
    pusher = _client(port)
    bg = _Bg(lambda: _client(port).blpop(["q1", "q2"], timeout=5))
    _until(lambda: _blocked_clients(r) == 1, what="BLPOP blocked")
    assert pusher.rpush("q2", "x", "y") == 2
    assert tuple(bg.join()) == (b"q2", b"x")
    assert r.lrange("q2", 0, -1) == [b"y"]
    _until(lambda: _blocked_clients(r) == 0, what="no blocked client")


def test_brpop_blmove_bzpopmin_woken(r, port):
    bg = _Bg(lambda: _client(port).brpop("l", timeout=5))
    _until(lambda: _blocked_clients(r) == 1, what="BRPOP blocked")
    r.rpush("l", "a", "b")
    assert tuple(bg.join()) == (b"l", b"b")

    bg = _Bg(lambda: _client(port).blmove("src", "dst", 5, "RIGHT", "LEFT"))
    _until(lambda: _blocked_clients(r) == 1, what="BLMOVE blocked")
    r.lpush("src", "m")
    assert bg.join() == b"m"
    assert r.lrange("dst", 0, -1) == [b"m"]
    assert r.exists("src") == 0

    bg = _Bg(lambda: _client(port, 3).bzpopmin("z", timeout=5))
    _until(lambda: _blocked_clients(r) == 1, what="BZPOPMIN blocked")
    r.zadd("z", {"hi": 9, "lo": -1.5})
    assert tuple(bg.join()) == (b"z", b"lo", -1.5)
    assert r.zrange("z", 0, -1) == [b"hi"]


def test_blocked_clients_served_in_order(r, port):
    first = _Bg(lambda: _client(port).blpop("q", timeout=5))
    _until(lambda: _blocked_clients(r) == 1, what="first blocked")
    second = _Bg(lambda: _client(port).blpop("q", timeout=5))
    _until(lambda: _blocked_clients(r) == 2, what="second blocked")
    r.rpush("q", "one", "two", "three")
    assert tuple(first.join()) == (b"q", b"one")
    assert tuple(second.join()) == (b"q", b"two")
    assert r.lrange("q", 0, -1) == [b"three"]


def test_blocking_timeouts(r):
    t0 = time.monotonic()
    assert r.blpop("nothing", timeout=0.2) is None
    assert r.brpop(["a", "b"], timeout=0.1) is None
    assert r.blmove("a", "b", 0.1) is None
    assert r.bzpopmin("z", timeout=0.1) is None
    assert r.bzpopmax("z", timeout=0.1) is None
    elapsed = time.monotonic() - t0
    assert 0.5 <= elapsed < 5, elapsed
    with pytest.raises(redis.ResponseError, match="^timeout is negative$"):
        r.blpop("q", timeout=-1)
    with pytest.raises(redis.ResponseError, match="^timeout is not a float or out of range$"):
        r.execute_command("BLPOP", "q", "soon")


def test_blocked_client_disconnects(r, port):
    gone = redis.Connection(port=port, socket_timeout=10)
    gone.send_command("BLPOP", "q", 0)
    _until(lambda: _blocked_clients(r) == 1, what="BLPOP blocked")
    gone.disconnect()
    _until(lambda: _blocked_clients(r) == 0, what="blocked client released")
    assert r.lpush("q", "kept") == 1
    # Nobody took the element: the disconnected client was forgotten.
    assert r.llen("q") == 1
    assert r.lrange("q", 0, -1) == [b"kept"]


def test_blocked_client_disconnects_before_another_waiter(r, port):
    gone = redis.Connection(port=port, socket_timeout=10)
    gone.send_command("BLPOP", "q", 0)
    _until(lambda: _blocked_clients(r) == 1, what="first blocked")
    stays = _Bg(lambda: _client(port).blpop("q", timeout=5))
    _until(lambda: _blocked_clients(r) == 2, what="second blocked")
    gone.disconnect()
    _until(lambda: _blocked_clients(r) == 1, what="first released")
    r.rpush("q", "v")
    assert tuple(stays.join()) == (b"q", b"v")
    assert r.llen("q") == 0


def test_blpop_in_transaction_does_not_block(r):
    p = r.pipeline(transaction=True)
    p.blpop("q", timeout=0)
    p.rpush("q", "a")
    p.blpop("q", timeout=0)
    assert p.execute() == [None, 1, (b"q", b"a")]


# --- WATCH / MULTI -------------------------------------------------------------


def test_watch_concurrent_write_aborts(r, port):
    other = _client(port)
    r.set("k", "1")
    with r.pipeline(transaction=True) as pipe:
        pipe.watch("k")
        assert pipe.get("k") == b"1"
        other.set("k", "changed")
        pipe.multi()
        pipe.set("k", "mine")
        with pytest.raises(redis.WatchError):
            pipe.execute()
    assert r.get("k") == b"changed"
    # A write on a watched hash from another connection aborts too.
    r.hset("h", "f", "v")
    with r.pipeline(transaction=True) as pipe:
        pipe.watch("h")
        other.hincrby("h", "n", 1)
        pipe.multi()
        pipe.hset("h", "f", "mine")
        with pytest.raises(redis.WatchError):
            pipe.execute()
    assert r.hget("h", "f") == b"v"


def test_watch_without_concurrent_write_succeeds(r, port):
    other = _client(port)
    r.set("k", "1")
    with r.pipeline(transaction=True) as pipe:
        pipe.watch("k", "absent")
        v = int(pipe.get("k"))
        other.set("unrelated", "x")
        other.get("k")  # reads do not invalidate a WATCH
        pipe.multi()
        pipe.set("k", v + 1)
        pipe.lpush("absent", "a")
        assert pipe.execute() == [True, 1]
    assert r.get("k") == b"2"


def test_watch_sees_blocking_pop_and_expiry(r, port):
    other = _client(port)
    r.rpush("l", "a")
    with r.pipeline(transaction=True) as pipe:
        pipe.watch("l")
        assert other.blpop("l", timeout=1) == (b"l", b"a")
        pipe.multi()
        pipe.rpush("l", "b")
        with pytest.raises(redis.WatchError):
            pipe.execute()
    assert r.exists("l") == 0


def test_optimistic_counter_with_threads(port):
    threads, per_thread = 8, 25
    retries = [0] * threads

    def work(t):
        c = _client(port)

        def incr(pipe):
            v = int(pipe.get("counter") or 0)
            pipe.multi()
            pipe.set("counter", v + 1)
            pipe.rpush("log", t)

        for _ in range(per_thread):
            while True:
                try:
                    with c.pipeline(transaction=True) as pipe:
                        pipe.watch("counter")
                        incr(pipe)
                        pipe.execute()
                        break
                except redis.WatchError:
                    retries[t] += 1
        c.close()

    workers = [threading.Thread(target=work, args=(t,), daemon=True) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
        assert not w.is_alive(), "counter worker stuck"
    c = _client(port)
    assert int(c.get("counter")) == threads * per_thread
    assert c.llen("log") == threads * per_thread
    # redis-py's helper does the same retry loop (the function runs between
    # WATCH and MULTI, so it reads immediately and queues after multi()).
    def bump(pipe):
        v = int(pipe.get("counter"))
        pipe.multi()
        pipe.set("counter", v + 1)

    assert c.transaction(bump, "counter") == [True]
    assert int(c.get("counter")) == threads * per_thread + 1


# --- pub/sub --------------------------------------------------------------------


@pytest.mark.parametrize("protocol", [2, 3])
def test_pubsub_subscribe_and_receive(port, protocol):
    sub = _client(port, protocol, decode_responses=True)
    pub = _client(port, decode_responses=True)
    p = sub.pubsub()
    p.subscribe("news", "sport")
    assert _next_message(p) == {"type": "subscribe", "pattern": None, "channel": "news", "data": 1}
    assert _next_message(p) == {"type": "subscribe", "pattern": None, "channel": "sport", "data": 2}
    p.psubscribe("n*")
    assert _next_message(p) == {"type": "psubscribe", "pattern": None, "channel": "n*", "data": 3}
    assert pub.publish("news", "hello") == 2  # channel + pattern
    assert _next_message(p) == {"type": "message", "pattern": None, "channel": "news", "data": "hello"}
    assert _next_message(p) == {"type": "pmessage", "pattern": "n*", "channel": "news", "data": "hello"}
    assert pub.publish("sport", "") == 1
    assert _next_message(p) == {"type": "message", "pattern": None, "channel": "sport", "data": ""}
    assert pub.publish("weather", "x") == 0
    assert p.get_message(timeout=0.2) is None
    assert pub.pubsub_numsub("news", "sport", "weather") == [("news", 1), ("sport", 1), ("weather", 0)]
    assert pub.pubsub_numpat() == 1
    assert sorted(pub.pubsub_channels()) == ["news", "sport"]
    p.unsubscribe("news")
    assert _next_message(p) == {"type": "unsubscribe", "pattern": None, "channel": "news", "data": 2}
    p.punsubscribe()
    assert _next_message(p) == {"type": "punsubscribe", "pattern": None, "channel": "n*", "data": 1}
    assert pub.publish("news", "late") == 0
    assert pub.publish("sport", "still") == 1
    assert _next_message(p)["data"] == "still"
    p.close()
    sub.close()


def test_pubsub_many_subscribers_and_binary(port):
    pub = _client(port)
    subs = []
    for _ in range(5):
        p = _client(port).pubsub()
        p.subscribe("ch")
        assert _next_message(p)["type"] == "subscribe"
        subs.append(p)
    payload = bytes(range(256))
    assert pub.publish("ch", payload) == 5
    for p in subs:
        assert _next_message(p) == {"type": "message", "pattern": None, "channel": b"ch", "data": payload}
        p.close()


def test_pubsub_subscriber_disconnects(port):
    pub = _client(port)
    p = _client(port).pubsub()
    p.subscribe("ch")
    p.psubscribe("c*")
    _next_message(p)
    _next_message(p)
    assert pub.pubsub_numsub("ch") == [(b"ch", 1)]
    assert pub.pubsub_numpat() == 1
    p.close()  # closes the connection without unsubscribing
    _until(lambda: pub.pubsub_numsub("ch") == [(b"ch", 0)], what="NUMSUB back to 0")
    _until(lambda: pub.pubsub_numpat() == 0, what="NUMPAT back to 0")
    assert pub.publish("ch", "nobody") == 0


def test_pubsub_thread_worker(port):
    got = []
    p = _client(port).pubsub()
    p.subscribe(**{"ch": lambda m: got.append(m["data"])})
    worker = p.run_in_thread(sleep_time=0.01, daemon=True)
    try:
        pub = _client(port)
        _until(lambda: pub.pubsub_numsub("ch") == [(b"ch", 1)], what="subscribed")
        for i in range(20):
            pub.publish("ch", i)
        _until(lambda: len(got) == 20, what="20 messages")
        assert got == [str(i).encode() for i in range(20)]
    finally:
        worker.stop()
        worker.join(WAIT)
        p.close()


def test_keyspace_notifications(port):
    admin = _client(port, decode_responses=True)
    p = _client(port, decode_responses=True).pubsub()
    p.psubscribe("__key*@0__:*")
    _next_message(p)
    admin.config_set("notify-keyspace-events", "KEA")
    try:
        admin.hset("h", "f", "v")
        assert _next_message(p) == {"type": "pmessage", "pattern": "__key*@0__:*", "channel": "__keyspace@0__:h", "data": "hset"}
        assert _next_message(p) == {"type": "pmessage", "pattern": "__key*@0__:*", "channel": "__keyevent@0__:hset", "data": "h"}
        admin.rpush("l", "a")
        admin.lpop("l")  # pops the last element: lpop then del
        events = [_next_message(p)["data"] for _ in range(6)]
        assert events == ["rpush", "l", "lpop", "l", "del", "l"]
        admin.zadd("z", {"m": 1})
        admin.expire("z", 100)
        events = [(_next_message(p)["channel"]) for _ in range(4)]
        assert events == ["__keyspace@0__:z", "__keyevent@0__:zadd", "__keyspace@0__:z", "__keyevent@0__:expire"]
        admin.config_set("notify-keyspace-events", "")
        admin.sadd("s", "x")
        assert p.get_message(timeout=0.2) is None
    finally:
        admin.config_set("notify-keyspace-events", "")
        p.close()


def test_keyspace_notification_wakes_nothing_else(port):
    """A blocked BLPOP and a keyspace subscriber both see one RPUSH."""
    admin = _client(port, decode_responses=True)
    admin.config_set("notify-keyspace-events", "Kl")
    p = _client(port, decode_responses=True).pubsub()
    try:
        p.subscribe("__keyspace@0__:q")
        _next_message(p)
        bg = _Bg(lambda: _client(port).blpop("q", timeout=5))
        _until(lambda: _blocked_clients(admin) == 1, what="BLPOP blocked")
        admin.rpush("q", "v")
        assert tuple(bg.join()) == (b"q", b"v")
        assert [_next_message(p)["data"] for _ in range(2)] == ["rpush", "lpop"]
    finally:
        admin.config_set("notify-keyspace-events", "")
        p.close()


# --- scripts --------------------------------------------------------------------


def test_eval_with_keys_and_args(r):
    assert r.eval("return {KEYS[1], KEYS[2], ARGV[1], ARGV[2]}", 2, "k1", "k2", "a1", "a2") == [b"k1", b"k2", b"a1", b"a2"]
    assert r.eval("return redis.call('SET', KEYS[1], ARGV[1])", 1, "k", "v") == b"OK"
    assert r.eval("return redis.call('GET', KEYS[1])", 1, "k") == b"v"
    assert r.eval("return 3.99", 0) == 3  # Lua numbers become integers
    assert r.eval("return nil", 0) is None
    assert r.eval("return {1, 'two', {3}}", 0) == [1, b"two", [3]]
    r.hset("h", mapping={"a": "1"})
    assert r.eval("return redis.call('HGETALL', KEYS[1])", 1, "h") == [b"a", b"1"]


def test_register_script_and_evalsha(r, port):
    other = _client(port)
    script = r.register_script("return redis.call('INCRBY', KEYS[1], ARGV[1])")
    assert script(keys=["n"], args=[5]) == 5
    assert script(keys=["n"], args=[2]) == 7
    sha = script.sha
    assert r.script_exists(sha) == [True]
    # Another connection sees the cached script.
    assert other.evalsha(sha, 1, "n", 1) == 8
    assert other.script_flush() is True
    assert r.script_exists(sha) == [False]
    with pytest.raises(redis.exceptions.NoScriptError):
        r.evalsha(sha, 1, "n", 1)
    # The Script object reloads the body by itself after NOSCRIPT.
    assert script(keys=["n"], args=[1]) == 9
    assert r.script_exists(sha) == [True]
    assert r.script_load("return 1") == "e0e1f9fabfc9d4800c877a703b823ac0578ff8db"


def test_script_errors(r):
    r.set("s", "text")
    with pytest.raises(redis.ResponseError, match="value is not an integer or out of range"):
        r.eval("return redis.call('INCR', KEYS[1])", 1, "s")
    with pytest.raises(redis.ResponseError, match="^my failure$"):
        r.eval("return redis.error_reply('my failure')", 0)
    with pytest.raises(redis.ResponseError, match="Error compiling script"):
        r.eval("return +", 0)
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        r.eval("return redis.call('LPUSH', KEYS[1], 'x')", 1, "s")
    # pcall turns the error into a table the script can inspect.
    assert r.eval("local e = redis.pcall('INCR', KEYS[1]); return e['err']", 1, "s") == b"ERR value is not an integer or out of range"
    assert r.get("s") == b"text"
    assert r.ping() is True


def test_script_atomicity(port):
    writer = _client(port)
    script = writer.register_script(
        "redis.call('INCR', KEYS[1]); "
        "for i = 1, 200 do redis.call('RPUSH', KEYS[3], i) end; "
        "redis.call('DEL', KEYS[3]); "
        "return redis.call('INCR', KEYS[2])"
    )
    stop = threading.Event()
    seen = []

    def read():
        c = _client(port)
        while not stop.is_set():
            a, b, l = c.mget("a", "b", "scratch")
            seen.append((a, b, l))
        c.close()

    readers = [threading.Thread(target=read, daemon=True) for _ in range(2)]
    for t in readers:
        t.start()
    try:
        for i in range(200):
            assert script(keys=["a", "b", "scratch"]) == i + 1
    finally:
        stop.set()
        for t in readers:
            t.join(WAIT)
    assert seen, "readers never ran"
    for a, b, l in seen:
        assert a == b, (a, b)  # never half-done
        assert l is None
    assert writer.mget("a", "b") == [b"200", b"200"]


def test_script_wakes_blocked_client(r, port):
    bg = _Bg(lambda: _client(port).blpop("q", timeout=5))
    _until(lambda: _blocked_clients(r) == 1, what="BLPOP blocked")
    assert r.eval("redis.call('RPUSH', KEYS[1], 'a', 'b'); return redis.call('LLEN', KEYS[1])", 1, "q") == 2
    # The waiter is served only after the script, so it sees the first element.
    assert tuple(bg.join()) == (b"q", b"a")
    assert r.lrange("q", 0, -1) == [b"b"]


def test_script_publish(port):
    p = _client(port).pubsub()
    p.subscribe("ch")
    _next_message(p)
    c = _client(port)
    assert c.eval("return redis.call('PUBLISH', KEYS[1], ARGV[1])", 1, "ch", "from-lua") == 1
    assert _next_message(p)["data"] == b"from-lua"
    p.close()
