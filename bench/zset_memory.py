#!/usr/bin/env python3
"""Resident memory of sorted sets: one set of 1,000,000 members with
ascending scores, then 100,000 sets of 5 members each in the listpack
encoding, then 100,000 more forced out of it (zset-max-listpack-entries 0),
on each server given, one after the other.

    python3 bench/zset_memory.py [NAME=BINARY ...]
    python3 bench/zset_memory.py old=/tmp/rhea-old new=target/release/rhea-server

redis-server is always measured last. Prints bytes of RSS per member of the
big set and per key of the small ones.
"""
import socket
import subprocess
import sys
import time


def enc(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def run(port, cmds):
    """Sends the commands in pipelined chunks of 1000, waiting for each
    chunk's replies (every reply here is one line)."""
    s = socket.create_connection(("127.0.0.1", port))
    for i in range(0, len(cmds), 1000):
        chunk = cmds[i:i + 1000]
        s.sendall(b"".join(chunk))
        buf = b""
        while buf.count(b"\r\n") < len(chunk):
            got = s.recv(1 << 20)
            if not got:
                raise SystemExit("server closed the connection")
            buf += got
        if b"-ERR" in buf:
            raise SystemExit("error reply: %r" % buf[:200])
    s.close()


def rss(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) * 1024
    return 0


def wait_port(port):
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port)).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("server on %d did not start" % port)


def measure(name, argv, port=29500):
    p = subprocess.Popen(argv + ["--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        base = rss(p.pid)
        big = [enc("ZADD", "big", *sum([[str(j), "member:%07d" % j] for j in range(i, i + 100)], []))
               for i in range(0, 1000000, 100)]
        run(port, big)
        after_big = rss(p.pid)
        five = [1, "a", 2, "b", 3, "c", 4, "d", 5, "e"]
        run(port, [enc("ZADD", "l:%d" % i, *five) for i in range(100000)])
        after_listpack = rss(p.pid)
        run(port, [enc("CONFIG", "SET", "zset-max-listpack-entries", "0")])
        run(port, [enc("ZADD", "s:%d" % i, *five) for i in range(100000)])
        after_small = rss(p.pid)
        print("%-8s 1M ascending members: %.1f B/member; 100k sets of 5: %.0f B/key (listpack), %.0f B/key (skiplist)"
              % (name, (after_big - base) / 1e6, (after_listpack - after_big) / 1e5,
                 (after_small - after_listpack) / 1e5))
    finally:
        p.kill()
        p.wait()


def for_each_server(measure):
    """Calls measure(name, argv) for each NAME=BINARY argument (default: this
    build's release binary), then for redis-server."""
    servers = [a.split("=", 1) for a in sys.argv[1:]] or [["rhea", "target/release/rhea-server"]]
    for name, binary in servers:
        measure(name, [binary, "--loglevel", "warning"])
    measure("redis", ["redis-server", "--save", "", "--appendonly", "no"])


def main():
    for_each_server(measure)


if __name__ == "__main__":
    main()
