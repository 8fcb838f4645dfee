#!/usr/bin/env python3
"""What one append + fdatasync costs on this disk, appending to a growing
file (as the Raft log's segments do now) or overwriting a file written
beforehand (etcd-style preallocated segments): CPU of the calling thread
and wall time per call. The journal work a growing file causes runs partly
in the kernel's jbd2 thread, so the CPU saving is at least this.

    python3 bench/fsync.py [DIR]      # DIR defaults to /tmp; N=3000 SIZE=1000
"""
import os
import sys
import tempfile
import time

N = int(os.environ.get("N", 3000))
SIZE = int(os.environ.get("SIZE", 1000))


def run(directory, prewritten):
    fd, path = tempfile.mkstemp(dir=directory)
    try:
        if prewritten:
            os.write(fd, b"\0" * (N * SIZE + 4096))
            os.fsync(fd)
            os.lseek(fd, 0, os.SEEK_SET)
        buf = b"x" * SIZE
        cpu, wall = time.process_time(), time.time()
        for _ in range(N):
            os.write(fd, buf)
            os.fdatasync(fd)
        return (time.process_time() - cpu) / N * 1e6, (time.time() - wall) / N * 1e6
    finally:
        os.close(fd)
        os.unlink(path)


def main():
    directory = sys.argv[1] if len(sys.argv) > 1 else "/tmp"
    for _ in range(2):
        for prewritten in (False, True):
            cpu, wall = run(directory, prewritten)
            kind = "overwriting a written file" if prewritten else "appending to a growing file"
            print(f"{kind:28}: {cpu:6.1f} us CPU, {wall:6.1f} us wall per {SIZE}-byte write + fdatasync")


if __name__ == "__main__":
    main()
