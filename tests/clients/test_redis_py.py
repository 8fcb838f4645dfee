"""rhea-server driven by redis-py, the most used Python client.

Every expectation here is what redis-server 7.0 answers (run the suite with
RHEA_CLIENT_PORT=<port of a redis-server> to check that).
"""

import threading
import time

import pytest
import redis

ALL_BYTES = bytes(range(256))


# --- connection -----------------------------------------------------------


def test_ping_echo(r):
    assert r.ping() is True
    assert r.echo(b"hello") == b"hello"
    assert r.echo(b"") == b""


def test_select_via_db_argument(port):
    a = redis.Redis(port=port, protocol=2, db=0)
    b = redis.Redis(port=port, protocol=2, db=5)
    a.set("k", "zero")
    b.set("k", "five")
    assert a.get("k") == b"zero"
    assert b.get("k") == b"five"
    assert b.dbsize() == 1
    with pytest.raises(redis.ResponseError, match="^DB index is out of range$"):
        a.execute_command("SELECT", 16)
    with pytest.raises(redis.ResponseError, match="^value is not an integer or out of range$"):
        a.execute_command("SELECT", "x")


def test_client_name_and_list(r, rs):
    assert r.client_getname() is None
    assert r.client_setname("py-suite") is True
    assert r.client_getname() in ("py-suite", b"py-suite")  # decoded by redis-py 5+
    with pytest.raises(redis.ResponseError, match="^Client names cannot contain spaces, newlines or special characters.$"):
        r.client_setname("a b")
    my_id = r.client_id()
    assert isinstance(my_id, int) and my_id > 0
    clients = rs.client_list()
    assert len(clients) >= 2
    mine = [c for c in clients if c["name"] == "py-suite"]
    assert len(mine) == 1
    assert int(mine[0]["id"]) == my_id
    for field in ("addr", "laddr", "fd", "age", "idle", "flags", "db", "cmd", "resp"):
        assert field in mine[0], field
    assert mine[0]["db"] == "0"
    info = rs.client_info()
    assert info["name"] == "" and int(info["id"]) != my_id


def test_resp3_hello(port):
    c = redis.Redis(port=port, protocol=3, decode_responses=True)
    hello = c.execute_command("HELLO", 3)
    assert hello["proto"] == 3
    assert hello["server"] == "redis"
    assert isinstance(hello["id"], int)
    assert hello["mode"] == "standalone"
    assert hello["role"] == "master"
    assert hello["modules"] == []
    c.set("k", "v")
    assert c.get("k") == "v"
    assert c.get("missing") is None
    assert c.mget("k", "missing") == ["v", None]
    assert c.incrbyfloat("f", 1.5) == 1.5
    assert c.client_info()["resp"] == "3"
    c.close()


def test_resp3_versus_resp2_null(port):
    c3 = redis.Redis(port=port, protocol=3)
    conn = c3.connection_pool.get_connection()
    try:
        conn.send_command("GET", "missing")
        assert conn.read_response() is None
    finally:
        c3.connection_pool.release(conn)


def test_hello_errors(r):
    with pytest.raises(redis.ResponseError, match="^NOPROTO unsupported protocol version$"):
        r.execute_command("HELLO", 4)
    hello = r.execute_command("HELLO", 2)
    # RESP2 flattens the map into a list of alternating keys and values.
    assert hello[0:2] == [b"server", b"redis"]
    assert b"proto" in hello and hello[hello.index(b"proto") + 1] == 2


# --- strings --------------------------------------------------------------


def test_set_get(r):
    assert r.get("k") is None
    assert r.set("k", "v") is True
    assert r.get("k") == b"v"
    assert r.set("k", "") is True
    assert r.get("k") == b""
    assert r.set("k", 12) is True
    assert r.get("k") == b"12"
    assert r.strlen("k") == 2


def test_set_options(r):
    assert r.set("k", "a", nx=True) is True
    assert r.set("k", "b", nx=True) is None
    assert r.set("k", "c", xx=True) is True
    assert r.set("other", "c", xx=True) is None
    assert r.exists("other") == 0
    assert r.set("k", "d", get=True) == b"c"
    assert r.set("fresh", "x", get=True) is None
    assert r.set("k", "e", ex=100) is True
    assert 99 <= r.ttl("k") <= 100
    assert r.set("k", "f", keepttl=True) is True
    assert 99 <= r.ttl("k") <= 100
    assert r.set("k", "g") is True
    assert r.ttl("k") == -1
    assert r.set("k", "h", px=100000) is True
    assert 99000 <= r.pttl("k") <= 100000
    with pytest.raises(redis.ResponseError, match="^syntax error$"):
        r.execute_command("SET", "k", "v", "NX", "XX")
    with pytest.raises(redis.ResponseError, match="^invalid expire time in 'set' command$"):
        r.set("k", "v", ex=0)
    with pytest.raises(redis.ResponseError, match="^value is not an integer or out of range$"):
        r.execute_command("SET", "k", "v", "EX", "soon")


def test_set_variants(r):
    assert r.setnx("k", "1") is True
    assert r.setnx("k", "2") is False
    assert r.getset("k", "3") == b"1"
    assert r.execute_command("SETEX", "e", 50, "v") in (True, b"OK")
    assert 49 <= r.ttl("e") <= 50
    assert r.psetex("p", 50000, "v") is True
    assert 49000 <= r.pttl("p") <= 50000
    assert r.getdel("k") == b"3"
    assert r.getdel("k") is None
    r.set("g", "v")
    assert r.getex("g", ex=30) == b"v"
    assert 29 <= r.ttl("g") <= 30
    assert r.getex("g", persist=True) == b"v"
    assert r.ttl("g") == -1
    assert r.getex("missing", ex=30) is None


def test_mset_mget(r):
    assert r.mset({"a": "1", "b": "2", "c": ""}) is True
    assert r.mget("a", "b", "c", "nope") == [b"1", b"2", b"", None]
    assert r.msetnx({"c": "x", "d": "y"}) is False
    assert r.get("d") is None
    assert r.msetnx({"d": "x", "e": "y"}) is True
    assert r.mget(["d", "e"]) == [b"x", b"y"]
    with pytest.raises(redis.ResponseError, match="^wrong number of arguments for 'mset' command$"):
        r.execute_command("MSET", "a", "1", "b")


def test_incr_family(r):
    assert r.incr("n") == 1
    assert r.incr("n", 10) == 11
    assert r.decr("n") == 10
    assert r.decr("n", 20) == -10
    assert r.execute_command("DECRBY", "n", -5) == -5
    r.set("big", 2**63 - 1)
    with pytest.raises(redis.ResponseError, match="^increment or decrement would overflow$"):
        r.incr("big")
    r.set("small", -(2**63))
    with pytest.raises(redis.ResponseError, match="^increment or decrement would overflow$"):
        r.decr("small")
    r.set("s", "abc")
    with pytest.raises(redis.ResponseError, match="^value is not an integer or out of range$"):
        r.incr("s")
    r.set("sp", " 1")
    with pytest.raises(redis.ResponseError, match="^value is not an integer or out of range$"):
        r.incr("sp")
    assert r.get("big") == str(2**63 - 1).encode()


def test_incrbyfloat(r):
    assert r.incrbyfloat("f", 1.5) == 1.5
    assert r.incrbyfloat("f", "0.1") == 1.6
    assert r.get("f") == b"1.6"
    r.set("i", 10)
    assert r.incrbyfloat("i", "5.0e3") == 5010.0
    assert r.get("i") == b"5010"
    r.set("s", "abc")
    with pytest.raises(redis.ResponseError, match="^value is not a valid float$"):
        r.incrbyfloat("s", 1)
    with pytest.raises(redis.ResponseError, match="^increment would produce NaN or Infinity$"):
        r.incrbyfloat("f", "inf")


def test_append_strlen_ranges(r):
    assert r.append("k", "Hello") == 5
    assert r.append("k", " World") == 11
    assert r.strlen("k") == 11
    assert r.strlen("missing") == 0
    assert r.getrange("k", 0, 4) == b"Hello"
    assert r.getrange("k", -5, -1) == b"World"
    assert r.getrange("k", 5, 2) == b""
    assert r.getrange("k", 0, 1000) == b"Hello World"
    assert r.getrange("missing", 0, -1) == b""
    assert r.setrange("k", 6, "Redis") == 11
    assert r.get("k") == b"Hello Redis"
    assert r.setrange("pad", 3, "x") == 4
    assert r.get("pad") == b"\x00\x00\x00x"
    assert r.setrange("empty", 5, "") == 0
    assert r.exists("empty") == 0
    with pytest.raises(redis.ResponseError, match="^offset is out of range$"):
        r.setrange("k", -1, "x")
    with pytest.raises(redis.ResponseError, match="^string exceeds maximum allowed size \\(proto-max-bulk-len\\)$"):
        r.setrange("k", 512 * 1024 * 1024, "x")


def test_binary_safe_values_and_keys(r):
    r.set("bin", ALL_BYTES)
    assert r.get("bin") == ALL_BYTES
    assert r.strlen("bin") == 256
    assert r.getrange("bin", 10, 12) == bytes([10, 11, 12])
    r.set(ALL_BYTES, b"key-is-binary")
    assert r.get(ALL_BYTES) == b"key-is-binary"
    assert r.exists(ALL_BYTES) == 1
    for b in range(256):
        key = b"k" + bytes([b])
        r.set(key, bytes([b]) * 3)
    assert r.dbsize() == 258
    for b in range(256):
        assert r.get(b"k" + bytes([b])) == bytes([b]) * 3
    crlf = b"\r\n$5\r\nhello\r\n*1\r\n"
    r.set("crlf", crlf)
    assert r.get("crlf") == crlf
    assert r.append("crlf", b"\x00") == len(crlf) + 1


def test_large_values(r):
    mb = bytes(i % 251 for i in range(1024 * 1024))
    assert r.set("big", mb) is True
    assert r.get("big") == mb
    assert r.strlen("big") == len(mb)
    assert r.append("big", mb) == 2 * len(mb)
    assert r.get("big") == mb + mb
    assert r.getrange("big", len(mb) - 2, len(mb) + 1) == mb[-2:] + mb[:2]
    r.mset({"b1": mb, "b2": mb[::-1]})
    assert r.mget("b1", "b2") == [mb, mb[::-1]]


# --- keys -----------------------------------------------------------------


def test_del_exists_type(r):
    r.mset({"a": 1, "b": 2})
    assert r.exists("a", "b", "a", "nope") == 3
    assert r.type("a") == b"string"
    assert r.type("nope") == b"none"
    assert r.delete("a", "nope") == 1
    assert r.unlink("b", "a") == 1
    assert r.exists("a", "b") == 0
    r.set("t", "v")
    assert r.touch("t", "x") == 1


def test_expire_ttl_persist(r):
    assert r.expire("missing", 10) is False
    assert r.ttl("missing") == -2
    assert r.pttl("missing") == -2
    r.set("k", "v")
    assert r.ttl("k") == -1
    assert r.expire("k", 100) is True
    assert 99 <= r.ttl("k") <= 100
    assert r.persist("k") is True
    assert r.persist("k") is False
    assert r.ttl("k") == -1
    assert r.pexpire("k", 100000) is True
    assert 99000 <= r.pttl("k") <= 100000
    at = int(time.time()) + 200
    assert r.expireat("k", at) is True
    assert r.expiretime("k") == at
    assert r.pexpiretime("k") == at * 1000
    assert r.expiretime("missing") == -2
    r.set("p", "v")
    assert r.expiretime("p") == -1
    assert r.expire("k", -1) is True
    assert r.exists("k") == 0


def test_expire_options(r):
    r.set("k", "v")
    assert r.expire("k", 100, xx=True) is False
    assert r.expire("k", 100, nx=True) is True
    assert r.expire("k", 50, nx=True) is False
    assert r.expire("k", 50, gt=True) is False
    assert r.expire("k", 200, gt=True) is True
    assert r.expire("k", 300, lt=True) is False
    assert r.expire("k", 150, lt=True) is True
    assert 149 <= r.ttl("k") <= 150
    with pytest.raises(redis.ResponseError, match="^NX and XX, GT or LT options at the same time are not compatible$"):
        r.execute_command("EXPIRE", "k", 10, "NX", "XX")
    with pytest.raises(redis.ResponseError, match="^GT and LT options at the same time are not compatible$"):
        r.execute_command("EXPIRE", "k", 10, "GT", "LT")
    with pytest.raises(redis.ResponseError, match="^Unsupported option foo$"):
        r.execute_command("EXPIRE", "k", 10, "foo")


def test_expiry_happens(r):
    r.set("k", "v", px=50)
    time.sleep(0.15)
    assert r.get("k") is None
    assert r.exists("k") == 0
    r.set("k2", "v", px=50)
    time.sleep(0.15)
    assert r.ttl("k2") == -2


def test_rename_copy_move(r):
    r.set("a", "1", ex=100)
    assert r.rename("a", "b") is True
    assert r.get("b") == b"1" and 99 <= r.ttl("b") <= 100
    with pytest.raises(redis.ResponseError, match="^no such key$"):
        r.rename("nope", "x")
    r.set("c", "3")
    assert r.renamenx("b", "c") is False
    assert r.renamenx("b", "d") is True
    assert r.copy("d", "e") is True
    assert r.copy("d", "c") is False
    assert r.copy("d", "c", replace=True) is True
    assert r.get("c") == b"1"
    assert r.copy("d", "e", destination_db=3) is True
    assert r.move("e", 4) is True
    assert r.move("nope", 4) is False
    d4 = redis.Redis(port=r.connection_pool.connection_kwargs["port"], protocol=2, db=4)
    assert d4.get("e") == b"1"
    d3 = redis.Redis(port=r.connection_pool.connection_kwargs["port"], protocol=2, db=3)
    assert d3.get("e") == b"1"
    assert r.swapdb(0, 3) is True
    assert r.keys("*") == [b"e"]


def test_keys_randomkey_dbsize_flush(r):
    assert r.randomkey() is None
    r.mset({"one": 1, "two": 2, "three": 3, "four": 4})
    assert sorted(r.keys("*o*")) == [b"four", b"one", b"two"]
    assert sorted(r.keys("t??")) == [b"two"]
    assert r.randomkey() in {b"one", b"two", b"three", b"four"}
    assert r.dbsize() == 4
    assert r.flushdb() is True
    assert r.dbsize() == 0


def test_object_encoding(r):
    r.set("int", 12345)
    r.set("short", "hello")
    r.set("long", "x" * 100)
    assert r.object("encoding", "int") == b"int"
    assert r.object("encoding", "short") == b"embstr"
    assert r.object("encoding", "long") == b"raw"
    r.append("short", "!")
    assert r.object("encoding", "short") == b"raw"
    assert r.object("encoding", "missing") is None


def test_scan_iter_each_key_once(r):
    with r.pipeline(transaction=False) as p:
        for i in range(1000):
            p.set(f"key:{i}", i)
        p.execute()
    seen = list(r.scan_iter(count=37))
    assert len(seen) == 1000
    assert set(seen) == {f"key:{i}".encode() for i in range(1000)}
    matched = list(r.scan_iter(match="key:1??", count=100))
    assert sorted(matched) == sorted(f"key:{i}".encode() for i in range(100, 200))
    assert len(list(r.scan_iter(_type="string"))) == 1000
    assert list(r.scan_iter(_type="list")) == []


# --- pipelines and errors -------------------------------------------------


def test_pipeline_hundreds(r):
    with r.pipeline(transaction=False) as p:
        for i in range(500):
            p.set(f"p{i}", i)
            p.incr("counter")
            p.get(f"p{i}")
        out = p.execute()
    assert len(out) == 1500
    for i in range(500):
        assert out[3 * i] is True
        assert out[3 * i + 1] == i + 1
        assert out[3 * i + 2] == str(i).encode()
    assert r.get("counter") == b"500"


def test_pipeline_errors_in_place(r):
    r.set("s", "text")
    with r.pipeline(transaction=False) as p:
        p.set("a", 1)
        p.incr("s")
        p.get("a")
        p.execute_command("NOSUCHCMD", "x")
        out = p.execute(raise_on_error=False)
    assert out[0] is True
    assert isinstance(out[1], redis.ResponseError)
    assert str(out[1]) == "value is not an integer or out of range"
    assert out[2] == b"1"
    assert isinstance(out[3], redis.ResponseError)
    with r.pipeline(transaction=False) as p:
        p.incr("s")
        with pytest.raises(redis.ResponseError):
            p.execute()


def test_error_texts(r):
    with pytest.raises(redis.ResponseError) as e:
        r.execute_command("NOSUCHCMD", "a", "b")
    assert str(e.value) == "unknown command 'NOSUCHCMD', with args beginning with: 'a' 'b' "
    with pytest.raises(redis.ResponseError) as e:
        r.execute_command("GET")
    assert str(e.value) == "wrong number of arguments for 'get' command"
    with pytest.raises(redis.ResponseError) as e:
        r.execute_command("SET", "k", "v", "BOGUS")
    assert str(e.value) == "syntax error"
    # The connection is still usable after errors.
    assert r.ping() is True


# --- info -----------------------------------------------------------------


def test_info_parsing(r):
    r.set("a", 1)
    r.set("b", 2, ex=100)
    info = r.info()
    assert info["redis_version"].startswith("7.")
    assert isinstance(info["tcp_port"], int)
    assert info["tcp_port"] == r.connection_pool.connection_kwargs["port"]
    assert isinstance(info["uptime_in_seconds"], int)
    assert info["connected_clients"] >= 1
    assert info["db0"]["keys"] == 2
    assert info["db0"]["expires"] == 1
    keyspace = r.info("keyspace")
    assert set(keyspace) == {"db0"}
    server = r.info("server")
    assert "redis_version" in server and "used_memory" not in server
    stats = r.info("stats")
    assert isinstance(stats["total_commands_processed"], int)
    assert "keyspace_hits" in stats
    assert r.info("nosuchsection") == {}


# --- concurrency ----------------------------------------------------------


def test_pool_with_threads(port):
    pool = redis.ConnectionPool(port=port, protocol=2, max_connections=8)
    errors = []

    def work(t):
        c = redis.Redis(connection_pool=pool)
        try:
            for i in range(200):
                c.incr("shared")
                c.set(f"t{t}:{i}", i)
                if c.get(f"t{t}:{i}") != str(i).encode():
                    errors.append((t, i))
        except Exception as exc:  # pragma: no cover - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    c = redis.Redis(connection_pool=pool)
    assert c.get("shared") == b"1600"
    assert c.dbsize() == 1 + 8 * 200
    pool.disconnect()


def test_resp3_pipeline(r3):
    with r3.pipeline(transaction=False) as p:
        for i in range(300):
            p.set(f"k{i}", i)
            p.get(f"k{i}")
            p.get("missing")
        out = p.execute()
    assert out[0::3] == [True] * 300
    assert out[1::3] == [str(i) for i in range(300)]
    assert out[2::3] == [None] * 300


def test_server_commands(rs):
    assert rs.config_get("maxmemory") == {"maxmemory": "0"}
    assert rs.config_get("timeout") == {"timeout": "0"}
    assert rs.config_set("timeout", 300) is True
    assert rs.config_get("timeout") == {"timeout": "300"}
    assert rs.config_set("timeout", 0) is True
    assert rs.config_get("proto-max-bulk-len") == {"proto-max-bulk-len": "536870912"}
    assert rs.config_set("proto-max-bulk-len", "1mb") is True
    assert rs.config_get("proto-max-bulk-len") == {"proto-max-bulk-len": "1048576"}
    assert rs.config_set("proto-max-bulk-len", "512mb") is True
    with pytest.raises(redis.ResponseError, match="^Unknown option or number of arguments for CONFIG SET - 'nosuch'$"):
        rs.config_set("nosuch", "1")
    secs, micros = rs.time()
    assert abs(secs - time.time()) < 5 and 0 <= micros < 1_000_000
    assert rs.command_count() > 10
    assert rs.lastsave() is not None
