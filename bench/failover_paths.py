"""Failover as a real client sees it (bench/failover-paths.sh runs this).

For each path, `--trials` times: a fresh cluster, a redis-py client writing
unique keys one at a time (OK = acknowledged), SIGKILL of the leader (or
Redis master), and the time from the kill to the first OK of a write sent
after it; then the acknowledged keys are checked on the new leader. Paths:

  sentinel    Rhea, redis-py Sentinel(...).master_for on the nodes' sentinel ports
  any-node    Rhea, a plain client on a follower; on an error it moves to the next node
  dns         Rhea, the client resolves leader.<domain> against the nodes' DNS port
              on every reconnect (dnspython); skipped when rhea-server has no dns-port
  redis-sentinel-default / redis-sentinel-1000
              redis-server 7 (1 master, 2 replicas) + 3 redis-sentinel, default
              settings / down-after-milliseconds 1000, client as for `sentinel`

Client settings are the same on every path: socket timeouts 0.5 s, and
redis-py's own retries off (Retry(NoBackoff(), 0)) so the application loop
retries every 10 ms; `--stock` keeps redis-py's default retry policy
instead (10 retries, exponential backoff capped at 1 s), which mostly
measures that backoff.
"""

import argparse
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "clients"))
from rhea_cluster import RheaCluster, Writer, free_port  # noqa: E402


def client_kwargs(stock):
    kw = {"socket_timeout": 0.5, "socket_connect_timeout": 0.5}
    if not stock:
        kw["retry"] = Retry(NoBackoff(), 0)
    return kw


def percentile(xs, p):
    """Linear interpolation between ranks (numpy's default)."""
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def run_writer_through_kill(writer, kill, warmup=200, recover_timeout=90.0):
    """Starts `writer`, kills after `warmup` acks, returns the gap (None if
    it never wrote again within `recover_timeout`)."""
    writer.start()
    deadline = time.monotonic() + 20
    while len(writer.acked) < warmup and time.monotonic() < deadline:
        time.sleep(0.02)
    if len(writer.acked) < warmup:
        writer.stop()
        raise RuntimeError(f"only {len(writer.acked)} writes before the kill")
    t = time.monotonic()
    writer.killed_at = t
    kill()
    deadline = t + recover_timeout
    while writer.first_ack_after(t) is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)
    writer.stop()
    return writer.first_ack_after(t)


def lost_on(port, keys):
    c = redis.Redis(port=port, socket_timeout=5, protocol=2)
    lost = 0
    for i in range(0, len(keys), 500):
        chunk = keys[i:i + 500]
        lost += sum(1 for v in c.mget(chunk) if v is None)
    c.close()
    return lost


# --- Rhea paths -------------------------------------------------------------

def rhea_has_setting(binary, name):
    port = free_port()
    p = subprocess.Popen([str(binary), "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                return bool(redis.Redis(port=port, socket_timeout=0.5).config_get(name))
            except redis.exceptions.ConnectionError:
                time.sleep(0.05)
        return False
    finally:
        p.kill()
        p.wait()


def rhea_trial(binary, path, stock, dns_domain):
    if path == "dns":
        # Distinct loopback addresses and one client port: the leader's
        # name resolves to the leader's address, as in a real deployment.
        dns_ports = [free_port() for _ in range(3)]
        hosts = [f"127.0.0.{11 + i}" for i in range(3)]
        c = RheaCluster(binary, hosts=hosts, per_node=lambda i: ["--dns-port", str(dns_ports[i])])
    else:
        c = RheaCluster(binary)
    try:
        old = c.settle()
        kw = client_kwargs(stock)
        if path == "sentinel":
            s = Sentinel([("127.0.0.1", p) for p in c.sentinel_ports], sentinel_kwargs=dict(kw), **kw)
            master = s.master_for("mymaster", **kw)

            def client(reset):
                return master
        elif path == "any-node":
            # Starts on a follower; moves on to the next node on an error.
            state = {"i": (old + 1) % len(c)}

            def client(reset):
                if reset:
                    state["i"] = (state["i"] + 1) % len(c)
                return redis.Redis(port=c.ports[state["i"]], protocol=2, **kw)
        elif path == "dns":
            import dns.resolver  # dnspython

            # As a resolver does: the server that answered last is asked
            # first, the others in turn.
            order = list(range(len(dns_ports)))

            def client(reset):
                for i in list(order):
                    r = dns.resolver.Resolver(configure=False)
                    r.nameservers = [c.hosts[i]]
                    r.port = dns_ports[i]
                    r.lifetime = 0.5
                    try:
                        host = r.resolve(f"leader.{dns_domain}", "A")[0].to_text()
                    except Exception:  # noqa: BLE001 - ask the next node's DNS port
                        continue
                    order.remove(i)
                    order.insert(0, i)
                    return redis.Redis(host=host, port=c.ports[0], protocol=2, **kw)
                raise redis.exceptions.ConnectionError("no node answered the DNS query")
        else:
            raise ValueError(path)
        w = Writer(client, "b")
        gap = run_writer_through_kill(w, lambda: c.kill(old))
        if gap is None:
            return None, None
        new = c.leader(exclude=(old,))
        lost = len(c.missing([k for k, _, _ in w.acked]).get(new, []))
        return gap, lost
    finally:
        c.close()


# --- Redis + redis-sentinel -------------------------------------------------

class RedisSentinelSetup:
    def __init__(self, down_after_ms):
        self.dir = Path(tempfile.mkdtemp(prefix="redis-sentinel-bench-"))
        self.ports = [free_port() for _ in range(3)]
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.procs = {}
        base = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--loglevel", "warning"]
        for i, p in enumerate(self.ports):
            args = ["redis-server", "--port", str(p), "--dir", str(self.dir), *base]
            if i > 0:
                args += ["--replicaof", "127.0.0.1", str(self.ports[0])]
            self.procs[("redis", i)] = subprocess.Popen(args, stdout=subprocess.DEVNULL)
        for i, p in enumerate(self.sentinel_ports):
            conf = self.dir / f"sentinel{i}.conf"
            lines = [f"port {p}", "bind 127.0.0.1", f"sentinel monitor mymaster 127.0.0.1 {self.ports[0]} 2"]
            if down_after_ms is not None:
                lines.append(f"sentinel down-after-milliseconds mymaster {down_after_ms}")
            conf.write_text("\n".join(lines) + "\n")
            self.procs[("sentinel", i)] = subprocess.Popen(
                ["redis-server", str(conf), "--sentinel"], stdout=subprocess.DEVNULL
            )
        # Ready once both replicas finished their initial sync (diskless, 5 s
        # after they connect: before that a killed master loses everything)
        # and every sentinel knows both replicas and both other sentinels.
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            try:
                info = redis.Redis(port=self.ports[0], socket_timeout=0.5).info("replication")
                online = sum(1 for k, v in info.items() if k.startswith("slave") and isinstance(v, dict)
                             and v.get("state") == "online")
                ok = online == 2 and all(
                    (m := redis.Redis(port=sp, socket_timeout=0.5).sentinel_master("mymaster"))["num-slaves"] == 2
                    and m["num-other-sentinels"] == 2
                    for sp in self.sentinel_ports
                )
                if ok:
                    return
            except redis.exceptions.RedisError:
                pass
            time.sleep(0.2)
        self.close()
        raise RuntimeError("redis-sentinel setup not ready")

    def kill_master(self):
        p = self.procs.pop(("redis", 0))
        p.send_signal(signal.SIGKILL)
        p.wait()

    def close(self):
        for p in self.procs.values():
            p.kill()
            p.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def redis_trial(down_after_ms, stock):
    s = RedisSentinelSetup(down_after_ms)
    try:
        kw = client_kwargs(stock)
        sentinel = Sentinel([("127.0.0.1", p) for p in s.sentinel_ports], sentinel_kwargs=dict(kw), **kw)
        master = sentinel.master_for("mymaster", **kw)
        w = Writer(lambda reset: master, "b")
        gap = run_writer_through_kill(w, s.kill_master, recover_timeout=120.0)
        if gap is None:
            return None, None
        host, port = sentinel.discover_master("mymaster")
        lost = lost_on(port, [k for k, _, _ in w.acked])
        if lost:
            # Where they were: asynchronous replication loses the tail of
            # what the old master acknowledged before it died.
            c = redis.Redis(port=port, socket_timeout=5, protocol=2)
            gone = [t0 for (k, t0, _), v in zip(w.acked, c.mget([k for k, _, _ in w.acked])) if v is None]
            c.close()
            print(f"  lost writes sent {min(gone) - w.killed_at:+.3f} s to {max(gone) - w.killed_at:+.3f} s "
                  "from the kill", flush=True)
        return gap, lost
    finally:
        s.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rhea-bin", required=True)
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--redis-default-trials", type=int, default=None,
                    help="trials for Redis + Sentinel with default settings (30 s each; default: --trials)")
    ap.add_argument("--paths", default="sentinel,any-node,dns,redis-sentinel-1000,redis-sentinel-default")
    ap.add_argument("--stock", action="store_true", help="redis-py's default retry policy")
    ap.add_argument("--dns-domain", default="rhea.internal")
    ap.add_argument("--json", help="also write the results here")
    a = ap.parse_args()
    binary = Path(a.rhea_bin).resolve()
    results = {}
    for path in a.paths.split(","):
        trials = a.trials
        if path == "dns" and not rhea_has_setting(binary, "dns-port"):
            print(f"{path}: skipped (this rhea-server has no dns-port setting)", flush=True)
            continue
        if path == "dns":
            try:
                import dns.resolver  # noqa: F401
            except ImportError:
                print(f"{path}: skipped (needs dnspython: pip install dnspython)", flush=True)
                continue
        if path == "redis-sentinel-default" and a.redis_default_trials is not None:
            trials = a.redis_default_trials
        gaps, lost, failed = [], 0, 0
        for t in range(trials):
            if path.startswith("redis-sentinel"):
                gap, l = redis_trial(1000 if path.endswith("1000") else None, a.stock)
            else:
                gap, l = rhea_trial(binary, path, a.stock, a.dns_domain)
            if gap is None:
                failed += 1
                print(f"{path} trial {t + 1}: never recovered", flush=True)
                continue
            gaps.append(gap)
            lost += l
            print(f"{path} trial {t + 1}: {gap * 1000:.0f} ms without a write, {l} acknowledged writes lost", flush=True)
        results[path] = {"trials": trials, "gaps": gaps, "lost": lost, "failed": failed}
    print()
    print("| path | trials | p50 unavailable | p99 unavailable | max | lost acknowledged writes |")
    print("|---|---|---|---|---|---|")
    for path, r in results.items():
        g = r["gaps"]
        fail = f" ({r['failed']} never recovered)" if r["failed"] else ""
        print(f"| {path} | {len(g)}{fail} | {percentile(g, 50):.2f} s | {percentile(g, 99):.2f} s | "
              f"{max(g) if g else float('nan'):.2f} s | {r['lost']} |")
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
