#!/usr/bin/env python3
"""Helper for bench/vs-redis.sh: runs redis-benchmark against several servers
interleaved, measures memory per key, and renders the results as Markdown.

Subcommands (the shell script drives them; they can also be used by hand):
  freeport                          print a free loopback TCP port
  wait PORT [SECONDS]               wait until PORT answers PING
  throughput SERVERS...             run the interleaved benchmark, print JSON
  subscribe PORT N                  N subscribers draining CHANNEL (used by publish50)
  memory NAME:PID:PORT...           load keys into each server, print JSON
  report THROUGHPUT.json MEMORY.json ENV.json   print the Markdown report

A SERVERS item is NAME:PORT. Settings come from the environment (see
vs-redis.sh for the list and defaults).
"""

import json
import os
import re
import socket
import statistics
import subprocess
import sys
import time

# Test name (TESTS) -> name shown in the report. The built-in ones are
# redis-benchmark's own tests (-t NAME); the others run a custom command
# (CUSTOM) after a setup step that makes the run self-contained.
TEST_NAMES = {
    "set": "SET", "get": "GET", "incr": "INCR", "mset": "MSET (10 keys)",
    "hset": "HSET", "lpush": "LPUSH", "lpop": "LPOP", "sadd": "SADD", "zadd": "ZADD",
    "zrange100": "ZRANGE 0 99 (10k zset)", "publish50": "PUBLISH (50 subscribers)",
}
# Title redis-benchmark --csv gives each test.
CSV_TITLES = {"set": "SET", "get": "GET", "incr": "INCR", "mset": "MSET (10 keys)", "hset": "HSET", "lpush": "LPUSH",
              "lpop": "LPOP", "sadd": "SADD", "zadd": "ZADD"}
ZSET_KEY, ZSET_SIZE = "bench:zset", 10000
CHANNEL, SUBSCRIBERS, MESSAGE = "bench:chan", 50, "hello"
CUSTOM = {
    "zrange100": ["ZRANGE", ZSET_KEY, "0", "99"],
    "publish50": ["PUBLISH", CHANNEL, MESSAGE],
}
# TESTS may name groups: TESTS=datatypes, or mix them: TESTS=default,datatypes.
TEST_GROUPS = {
    "default": ["set", "get", "incr", "mset"],
    "datatypes": ["hset", "lpush", "lpop", "sadd", "zadd", "zrange100", "publish50"],
}
TEST_GROUPS["all"] = TEST_GROUPS["default"] + TEST_GROUPS["datatypes"]


def expand_tests(spec):
    out = []
    for t in (x.strip() for x in spec.split(",")):
        for name in TEST_GROUPS.get(t, [t] if t else []):
            if name not in out:
                out.append(name)
    return out


def env_int(name, default):
    return int(os.environ.get(name, default))


def freeport():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command(port, *args, timeout=10.0):
    """Sends one command and returns the raw reply bytes (enough for the
    simple replies used here: PING, INFO, FLUSHALL, DBSIZE)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        req = b"*%d\r\n" % len(args)
        for a in args:
            a = a.encode() if isinstance(a, str) else a
            req += b"$%d\r\n%s\r\n" % (len(a), a)
        s.sendall(req)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
            if complete_reply(data):
                break
        return data


def complete_reply(data):
    if data[:1] in (b"+", b"-", b":"):
        return data.endswith(b"\r\n")
    if data[:1] == b"$":
        head, _, rest = data.partition(b"\r\n")
        n = int(head[1:])
        return n < 0 or len(rest) >= n + 2
    return data.endswith(b"\r\n")


def bulk_text(reply):
    if reply.startswith(b"$"):
        return reply.partition(b"\r\n")[2][:-2].decode(errors="replace")
    return reply.decode(errors="replace")


def wait(port, seconds=20.0):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if command(port, "PING", timeout=1.0).startswith(b"+PONG"):
                return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def run_benchmark(port, test, pipeline, requests, clients, keyspace, timeout):
    """One redis-benchmark run. Returns a dict with rps/p50/p99, or with
    'error' when the server replied with an error, hung or the output was
    unusable (redis-benchmark exits on the first error reply)."""
    cmd = [
        "redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-n", str(requests),
        "-c", str(clients), "-P", str(pipeline), "-r", str(keyspace), "--csv",
    ]
    cmd += CUSTOM[test] if test in CUSTOM else ["-t", test]
    if os.environ.get("DATA_SIZE"):
        cmd += ["-d", os.environ["DATA_SIZE"]]  # value size for SET (bench/eviction.sh)
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": "timeout after %ss" % timeout}
    want = CSV_TITLES.get(test) or " ".join(CUSTOM[test])
    for line in p.stdout.splitlines():
        cols = [c.strip('"') for c in line.split(",")]
        if cols and cols[0] == want and len(cols) >= 7:
            try:
                return {"rps": float(cols[1]), "p50": float(cols[4]), "p99": float(cols[6])}
            except ValueError:
                break
    err = (p.stderr.strip() or p.stdout.strip() or "no output").splitlines()
    msg = err[-1] if err else "no output"
    return {"error": "exit %d: %s" % (p.returncode, msg[:160])}


def encode(*args):
    req = b"*%d\r\n" % len(args)
    for a in args:
        a = a.encode() if isinstance(a, str) else a
        req += b"$%d\r\n%s\r\n" % (len(a), a)
    return req


def send_all(port, commands, timeout=60.0):
    """Pipelines commands whose replies are all integers or simple strings
    (setup: DEL, ZADD, LPUSH...) and waits for every reply; raises on an
    error reply."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(b"".join(encode(*c) for c in commands))
        data, seen = b"", 0
        while seen < len(commands):
            chunk = s.recv(65536)
            if not chunk:
                raise RuntimeError("connection closed during setup")
            data += chunk
            lines = data.split(b"\r\n")
            data = lines.pop()
            for line in lines:
                if line.startswith(b"-"):
                    raise RuntimeError("setup error: %s" % line.decode(errors="replace"))
                seen += 1


def int_reply(port, *args):
    reply = command(port, *args)
    if not reply.startswith(b":"):
        raise RuntimeError("%s: unexpected reply %r" % (" ".join(args), reply[:80]))
    return int(reply[1:].strip())


def setup_test(test, port, requests):
    """Makes a run independent of which tests ran before it (done before the
    CPU sample, so it is not measured)."""
    if test == "lpop":
        # redis-benchmark's LPOP pops from the list its LPUSH test fills:
        # make sure every pop finds an element.
        missing = requests - int_reply(port, "LLEN", "mylist")
        cmds = []
        while missing > 0:
            k = min(missing, 1000)
            cmds.append(["LPUSH", "mylist"] + ["xxx"] * k)
            missing -= k
        if cmds:
            send_all(port, cmds)
    elif test == "zrange100":
        if int_reply(port, "ZCARD", ZSET_KEY) != ZSET_SIZE:
            cmds = [["DEL", ZSET_KEY]]
            for start in range(0, ZSET_SIZE, 1000):
                args = ["ZADD", ZSET_KEY]
                for i in range(start, min(start + 1000, ZSET_SIZE)):
                    args += [str(i), "member:%05d" % i]
                cmds.append(args)
            send_all(port, cmds)
            if int_reply(port, "ZCARD", ZSET_KEY) != ZSET_SIZE:
                raise RuntimeError("could not load %s" % ZSET_KEY)


def message_bytes():
    """Size of one RESP2 message a subscriber receives."""
    return len(encode("message", CHANNEL, MESSAGE))


def start_subscribers(port):
    """Starts SUBSCRIBERS subscriber connections (a child process that keeps
    draining them) and waits until all are subscribed."""
    p = subprocess.Popen([sys.executable, os.path.abspath(__file__), "subscribe", str(port), str(SUBSCRIBERS)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline().strip()
    if line != "ready":
        p.kill()
        p.wait()
        raise RuntimeError("subscribers did not start: %r" % line)
    return p


def finish_subscribers(p, requests):
    """Tells the subscriber process how many bytes to expect, waits until it
    has drained them (or stalled), stops it and checks delivery."""
    want = SUBSCRIBERS * requests * message_bytes()
    try:
        out, _ = p.communicate("%d\n" % want, timeout=120)
        got = json.loads(out.strip().splitlines()[-1])
    except (subprocess.TimeoutExpired, ValueError, IndexError) as e:
        p.kill()
        p.wait()
        return {"error": "subscribers: %s" % e}
    res = {"delivered": got["bytes"] / want, "closed": got["closed"]}
    if got["closed"] or got["bytes"] != want:
        res["error"] = "subscribers: %d of %d disconnected by the server, %.1f%% of messages delivered" % (
            got["closed"], SUBSCRIBERS, 100.0 * got["bytes"] / want)
    return res


def subscribe(port, n):
    """Child process: n connections SUBSCRIBEd to CHANNEL, drained as fast as
    possible so the server never sees a slow subscriber. Prints "ready" once
    all are subscribed; then reads the number of bytes to expect on stdin,
    drains until that many arrived (or nothing came for 5 s) and prints
    {"bytes", "closed"}. Exits on stdin EOF (the parent is gone)."""
    import selectors
    sel = selectors.DefaultSelector()
    confirm = b"*3\r\n$9\r\nsubscribe\r\n$%d\r\n%s\r\n:1\r\n" % (len(CHANNEL), CHANNEL.encode())
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(encode("SUBSCRIBE", CHANNEL))
        got = b""
        while len(got) < len(confirm):
            chunk = s.recv(len(confirm) - len(got))
            if not chunk:
                sys.exit("connection closed while subscribing")
            got += chunk
        if got != confirm:
            sys.exit("unexpected SUBSCRIBE reply %r" % got)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        socks.append(s)
    print("ready", flush=True)
    sel.register(0, selectors.EVENT_READ)
    buf = bytearray(1 << 20)
    total = closed = 0
    want = None
    stdin_data = b""
    last_data = time.time()
    while True:
        events = sel.select(timeout=1.0)
        for key, _ in events:
            if key.fileobj == 0:
                chunk = os.read(0, 64)
                if not chunk:
                    return
                stdin_data += chunk
                if b"\n" in stdin_data:
                    want = int(stdin_data.split(b"\n")[0])
                    sel.unregister(0)
                continue
            k = key.fileobj.recv_into(buf)
            if k == 0:
                closed += 1
                sel.unregister(key.fileobj)
                key.fileobj.close()
            else:
                total += k
                last_data = time.time()
        if want is not None and (total >= want or time.time() - last_data > 5 or closed == n):
            break
    print(json.dumps({"bytes": total, "closed": closed}), flush=True)


def throughput(servers):
    tests = expand_tests(os.environ.get("TESTS", "default"))
    pipelines = [int(p) for p in os.environ.get("PIPELINES", "1 16").split()]
    rounds = env_int("ROUNDS", 5)
    requests = env_int("REQUESTS", 100000)
    clients = env_int("CLIENTS", 50)
    keyspace = env_int("KEYSPACE", 100000)
    timeout = env_int("RUN_TIMEOUT", 120)
    names = [s.split(":")[0] for s in servers]
    ports = {s.split(":")[0]: int(s.split(":")[1]) for s in servers}
    pids = {s.split(":")[0]: int(s.split(":")[2]) for s in servers if s.count(":") >= 2}
    for t in tests:
        if t not in TEST_NAMES:
            sys.exit("unknown test %r (known: %s)" % (t, ", ".join(TEST_NAMES)))
    runs = {}  # "test|pipeline|server" -> list of run results
    for r in range(rounds):
        for t in tests:
            for p in pipelines:
                # Alternate which server goes first so neither systematically
                # benefits from a warmer cache or a quieter moment.
                order = names if (r % 2 == 0) else list(reversed(names))
                for n in order:
                    setup_test(t, ports[n], requests)
                    subs = start_subscribers(ports[n]) if t == "publish50" else None
                    try:
                        cpu0 = cpu_ns(pids.get(n))
                        res = run_benchmark(ports[n], t, p, requests, clients, keyspace, timeout)
                        if subs:
                            # Delivering the messages is part of PUBLISH's
                            # cost: sample CPU after the subscribers drained.
                            sub = finish_subscribers(subs, requests)
                            res.update(sub if "rps" in res else {})
                            if "error" in res:
                                res.pop("rps", None)
                    finally:
                        if subs and subs.poll() is None:
                            subs.kill()
                            subs.wait()
                    cpu1 = cpu_ns(pids.get(n))
                    if "rps" in res and cpu0 is not None and cpu1 is not None:
                        # Server CPU time (user + system) per request: less
                        # sensitive to other load on the machine than rps.
                        res["cpu_us"] = (cpu1 - cpu0) / 1e3 / requests
                    runs.setdefault("%s|%d|%s" % (t, p, n), []).append(res)
                    shown = "%.0f rps" % res["rps"] if "rps" in res else "ERROR " + res["error"]
                    if "delivered" in res:
                        shown += ", %.1f%% delivered to %d subscribers" % (100 * res["delivered"], SUBSCRIBERS)
                    print("round %d/%d %-5s P=%-2d %-10s %s" % (r + 1, rounds, t, p, n, shown), file=sys.stderr)
    summary = {}
    for key, results in runs.items():
        ok = [x for x in results if "rps" in x]
        errors = [x["error"] for x in results if "error" in x]
        if ok and not errors:
            summary[key] = {
                "rps": statistics.median(x["rps"] for x in ok),
                "p50": statistics.median(x["p50"] for x in ok),
                "p99": statistics.median(x["p99"] for x in ok),
                "rounds": len(ok),
                "rps_min": min(x["rps"] for x in ok),
                "rps_max": max(x["rps"] for x in ok),
                "cpu_us": statistics.median(x["cpu_us"] for x in ok) if all("cpu_us" in x for x in ok) else None,
            }
        else:
            summary[key] = {"error": errors[0] if errors else "no result", "failed_rounds": len(errors)}
    json.dump(
        {"tests": tests, "pipelines": pipelines, "servers": names, "rounds": rounds, "requests": requests,
         "clients": clients, "keyspace": keyspace, "results": summary},
        sys.stdout, indent=1)


def proc_status_kb(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError("no %s for pid %d" % (field, pid))


def cpu_ns(pid):
    """CPU time used so far by all threads of a process, in ns: the sum of
    the per-thread schedstat run times (ns precision, where /proc/PID/stat
    only has 10 ms ticks)."""
    if pid is None:
        return None
    total = 0
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return None
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                total += int(f.read().split()[0])
        except (OSError, IndexError, ValueError):
            pass  # thread exited meanwhile
    return total


def vm_rss_kb(pid):
    return proc_status_kb(pid, "VmRSS")


def used_memory(port):
    """INFO memory's used_memory, or None if the server doesn't report it or
    only reports its RSS there (no allocator accounting)."""
    try:
        info = bulk_text(command(port, "INFO", "memory"))
    except OSError:
        return None
    fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
    try:
        used = int(fields["used_memory"])
        if used == int(fields.get("used_memory_rss", -1)):
            return None
        return used
    except (KeyError, ValueError):
        return None


def dbsize(port):
    reply = command(port, "DBSIZE")
    return int(reply[1:].strip()) if reply.startswith(b":") else None


def load_file(path, nkeys, value_size):
    """RESP for nkeys SETs of distinct keys in redis-benchmark's key format
    (key:%012d, 16 bytes) with value_size-byte values."""
    value = (b"v" * value_size)
    vhead = b"$%d\r\n" % value_size
    with open(path, "wb") as f:
        batch = []
        for i in range(nkeys):
            batch.append(b"*3\r\n$3\r\nSET\r\n$16\r\nkey:%012d\r\n%s%s\r\n" % (i, vhead, value))
            if len(batch) == 10000:
                f.write(b"".join(batch))
                batch = []
        f.write(b"".join(batch))


def memory(specs):
    nkeys = env_int("MEM_KEYS", 1000000)
    value_size = env_int("VALUE_SIZE", 16)
    path = os.environ.get("LOAD_FILE", "/tmp/rhea-bench-load-%d.resp" % os.getpid())
    load_file(path, nkeys, value_size)
    out = {"keys": nkeys, "value_size": value_size, "servers": {}}
    try:
        for spec in specs:
            name, pid, port = spec.split(":")
            pid, port = int(pid), int(port)
            time.sleep(0.5)
            rss0, used0 = vm_rss_kb(pid), used_memory(port)
            t0 = time.time()
            with open(path, "rb") as f:
                p = subprocess.run(["redis-cli", "-p", str(port), "--pipe"], stdin=f, capture_output=True,
                                   text=True, timeout=env_int("RUN_TIMEOUT", 120) * 5)
            secs = time.time() - t0
            time.sleep(1.0)  # let a background cron settle before sampling
            rss1, used1 = vm_rss_kb(pid), used_memory(port)
            n = dbsize(port)
            res = {"rss_before_kb": rss0, "rss_after_kb": rss1, "rss_peak_kb": proc_status_kb(pid, "VmHWM"),
                   "vm_size_kb": proc_status_kb(pid, "VmSize"), "dbsize": n, "load_secs": round(secs, 2),
                   "rss_per_key": (rss1 - rss0) * 1024 / nkeys, "pipe": p.stdout.strip().splitlines()[-1:]}
            if used0 is not None and used1 is not None:
                res["used_memory_per_key"] = (used1 - used0) / nkeys
            if p.returncode != 0 or n != nkeys:
                res["error"] = "redis-cli --pipe exit %d, dbsize %s: %s" % (p.returncode, n, p.stderr.strip()[-200:])
            out["servers"][name] = res
            print("memory %-8s %s" % (name, json.dumps(res)), file=sys.stderr)
    finally:
        os.unlink(path)
    json.dump(out, sys.stdout, indent=1)


def fmt_rps(x):
    return "%.0f" % x


def report(tp_path, mem_path, env_path):
    tp = json.load(open(tp_path)) if tp_path != "-" else None
    mem = json.load(open(mem_path)) if mem_path != "-" else None
    env = json.load(open(env_path))
    lines = ["# Rhea vs redis-server", ""]
    lines.append("- date: %s" % env["date"])
    lines.append("- machine: %s, nproc %s, load average before %s / after %s"
                 % (env["cpu"], env["nproc"], env["load_before"], env.get("load_after", "?")))
    lines.append("- redis-server: %s" % env["redis_version"])
    lines.append("- rhea: commit %s, %s" % (env["rhea_commit"], env["rustc"]))
    lines.append("- command: `%s`" % env["command"])
    if tp:
        lines.append("- redis-benchmark: %d requests per run, %d clients, -r %d, median of %d interleaved rounds"
                     % (tp["requests"], tp["clients"], tp["keyspace"], tp["rounds"]))
        rhea = [s for s in tp["servers"] if s != "redis"]
        main = rhea[0]
        lines.append("")
        lines.append("## Throughput and latency (%s)" % env["variants"].get(main, main))
        lines.append("")
        lines.append("| test | pipeline | redis rps | rhea rps | rhea/redis | redis p50/p99 ms | rhea p50/p99 ms "
                     "| redis CPU µs/req | rhea CPU µs/req |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        res = tp["results"]
        for t in tp["tests"]:
            for p in tp["pipelines"]:
                r = res.get("%s|%d|redis" % (t, p), {"error": "missing"})
                h = res.get("%s|%d|%s" % (t, p, main), {"error": "missing"})
                lines.append("| %s | %d | %s | %s | %s | %s | %s | %s | %s |" % (
                    TEST_NAMES[t], p, cell_rps(r), cell_rps(h), ratio(h, r), cell_lat(r), cell_lat(h), cell_cpu(r),
                    cell_cpu(h)))
        # One line per server and error text (arguments stripped: they are random keys).
        errors = sorted({(k.split("|")[2], re.sub(r", with args beginning with:.*", "", v["error"]))
                         for k, v in res.items() if "error" in v})
        if len(rhea) > 1:
            lines.append("")
            lines.append("## Rhea worker threads (io-threads)")
            lines.append("")
            lines.append("| test | pipeline | redis rps | " + " | ".join("%s: rps (/redis), p99 ms, CPU/req"
                                                                   % env["variants"].get(s, s)
                                                                   for s in rhea) + " |")
            lines.append("|---|---:|---:|" + "---:|" * len(rhea))
            for t in tp["tests"]:
                for p in tp["pipelines"]:
                    r = res.get("%s|%d|redis" % (t, p), {"error": "missing"})
                    cells = []
                    for s in rhea:
                        h = res.get("%s|%d|%s" % (t, p, s), {"error": "missing"})
                        cells.append("%s (%s), p99 %.3f, CPU %s µs" % (cell_rps(h), ratio(h, r), h["p99"], cell_cpu(h))
                                     if "rps" in h else cell_rps(h))
                    lines.append("| %s | %d | %s | %s |" % (TEST_NAMES[t], p, cell_rps(r), " | ".join(cells)))
            lines.append("")
            lines.append("Geometric mean of rhea/redis over the tests that ran on every server: " + ", ".join(
                "%s %s" % (env["variants"].get(s, s), geomean_ratio(tp, s)) for s in rhea))
        if errors:
            lines.append("")
            lines.append("Errors:")
            for s, e in errors:
                lines.append("- %s: %s" % (s, e))
    if mem:
        lines.append("")
        lines.append("## Memory per key (%d keys, 16-byte keys, %d-byte values)" % (mem["keys"], mem["value_size"]))
        lines.append("")
        lines.append("| server | RSS before MB | RSS after MB | peak RSS MB | RSS bytes/key | used_memory bytes/key "
                     "| load s |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|")
        sv = mem["servers"]
        for name, m in sv.items():
            um = "%.1f" % m["used_memory_per_key"] if "used_memory_per_key" in m else "n/a (reports RSS)"
            lines.append("| %s | %.1f | %.1f | %.1f | %.1f | %s | %.2f |" % (
                name, m["rss_before_kb"] / 1024, m["rss_after_kb"] / 1024, m["rss_peak_kb"] / 1024, m["rss_per_key"],
                um, m["load_secs"]))
        if "redis" in sv:
            for name, m in sv.items():
                if name != "redis":
                    lines.append("")
                    lines.append("RSS per key %s/redis: **%.2f**" % (name, m["rss_per_key"] / sv["redis"]["rss_per_key"]))
        for name, m in sv.items():
            if "error" in m:
                lines.append("")
                lines.append("Memory load error on %s: %s" % (name, m["error"]))
    print("\n".join(lines))


def cell_rps(x):
    return fmt_rps(x["rps"]) if "rps" in x else "ERROR"


def cell_cpu(x):
    return "%.2f" % x["cpu_us"] if x.get("cpu_us") is not None else "-"


def cell_lat(x):
    return "%.3f / %.3f" % (x["p50"], x["p99"]) if "rps" in x else "-"


def ratio(h, r):
    return "%.2f" % (h["rps"] / r["rps"]) if "rps" in h and "rps" in r else "-"


def geomean_ratio(tp, server):
    rs = []
    for t in tp["tests"]:
        for p in tp["pipelines"]:
            if all("rps" in tp["results"].get("%s|%d|%s" % (t, p, s), {}) for s in tp["servers"]):
                rs.append(tp["results"]["%s|%d|%s" % (t, p, server)]["rps"] / tp["results"]["%s|%d|redis" % (t, p)]["rps"])
    return "%.2f" % statistics.geometric_mean(rs) if rs else "-"


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "freeport":
        print(freeport())
    elif cmd == "wait":
        sys.exit(0 if wait(int(args[0]), float(args[1]) if len(args) > 1 else 20.0) else 1)
    elif cmd == "subscribe":
        subscribe(int(args[0]), int(args[1]))
    elif cmd == "throughput":
        throughput(args)
    elif cmd == "memory":
        memory(args)
    elif cmd == "report":
        report(*args)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
