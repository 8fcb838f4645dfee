#!/usr/bin/env python3
"""Resident memory of small values, 100,000 keys of each kind, on each
server given and on redis-server: a 5-member sorted set, a 5-field hash, a
5-member intset, a 5-element list and a short string (each in Redis's
small encoding: listpack, intset, embstr).

    python3 bench/small_memory.py [NAME=BINARY ...]   (default: rhea=target/release/rhea-server)

Prints bytes of RSS per key for each kind.
"""
import subprocess

from zset_memory import enc, for_each_server, rss, run, wait_port

KINDS = [
    ("zset5", lambda i: enc("ZADD", "z:%d" % i, 1, "a", 2, "b", 3, "c", 4, "d", 5, "e")),
    ("hash5", lambda i: enc("HSET", "h:%d" % i, "a", 1, "b", 2, "c", 3, "d", 4, "e", 5)),
    ("intset5", lambda i: enc("SADD", "s:%d" % i, 1, 2, 3, 4, 5)),
    ("list5", lambda i: enc("RPUSH", "l:%d" % i, "a", "b", "c", "d", "e")),
    ("string", lambda i: enc("SET", "k:%d" % i, "v")),
]


def measure(name, argv, port=29600):
    p = subprocess.Popen(argv + ["--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        out = []
        for kind, cmd in KINDS:
            before = rss(p.pid)
            run(port, [cmd(i) for i in range(100000)])
            out.append("%s %.0f" % (kind, (rss(p.pid) - before) / 1e5))
        print("%-8s B/key: %s" % (name, ", ".join(out)))
    finally:
        p.kill()
        p.wait()


def main():
    for_each_server(measure)


if __name__ == "__main__":
    main()
