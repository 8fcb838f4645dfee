#!/usr/bin/env python3
"""Writes RESP commands (for `redis-cli --pipe`) that build a leaderboard:
sorted set `lb` of 100,000 members named as redis-benchmark's -r 100000
names them (member:000000000000 ...), with seeded random scores below
1,000,000, so neighbours are ~10 apart and an increment of 1 mostly keeps a
member's place. Usage: python3 bench/leaderboard.py > /tmp/lb.resp
"""
import random
import sys


def enc(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def main():
    rng = random.Random(1)
    out = sys.stdout.buffer
    for start in range(0, 100000, 500):
        args = ["ZADD", "lb"]
        for i in range(start, start + 500):
            args += [str(rng.randrange(1000000)), "member:%012d" % i]
        out.write(enc(*args))


if __name__ == "__main__":
    main()
