#!/usr/bin/env python3
"""The write flood of tests/eviction.rs against any running server, for
comparing with redis-server: 4 connections each send 100,000 pipelined SETs
of 1 KB values (400 MB in all, batches of 1,000) while VmRSS of the server
process is sampled every 5 ms; prints the peak.

    python3 bench/flood.py PORT PID

Start the server with a limit first, e.g.
`redis-server --port 7000 --save '' --maxmemory 100mb --maxmemory-policy allkeys-lru`.
"""
import socket, sys, threading, time
port, pid = int(sys.argv[1]), int(sys.argv[2])
peak = [0]; done = [False]
def rss():
    for l in open("/proc/%d/status" % pid):
        if l.startswith("VmRSS:"): return int(l.split()[1]) * 1024
def sampler():
    while not done[0]:
        peak[0] = max(peak[0], rss()); time.sleep(0.005)
def writer(w):
    s = socket.create_connection(("127.0.0.1", port)); v = b"x" * 1024
    for b in range(100):
        buf = b"".join(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$1024\r\n%s\r\n" % (len(k), k, v) for k in (b"w%d:%d:%d" % (w, b, i) for i in range(1000)))
        s.sendall(buf); got = 0
        while got < 5000: got += len(s.recv(65536))
t = threading.Thread(target=sampler); t.start()
ws = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
[x.start() for x in ws]; [x.join() for x in ws]; done[0] = True; t.join()
print("peak RSS %.1f MB" % (max(peak[0], rss()) / 1048576))
