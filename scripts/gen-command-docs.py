#!/usr/bin/env python3
"""Generates crates/rhea-commands/src/generated/redis_commands.rs from a real
redis-server: every command's COMMAND INFO entry and COMMAND DOCS entry, read
in RESP3 so that each value keeps the exact reply type Redis uses (bulk or
simple string, array, set or map).

Usage: scripts/gen-command-docs.py [path/to/redis-server]

Stdlib only. Starts a throwaway server on a free loopback port with no
persistence and stops it afterwards.
"""

import os
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "crates/rhea-commands/src/generated/redis_commands.rs")


# ------------------------------------------------------------------ RESP3

class Reader:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _fill(self):
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise EOFError("connection closed")
        self.buf += chunk

    def line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        i = self.buf.index(b"\r\n")
        line, self.buf = self.buf[:i], self.buf[i + 2:]
        return line

    def exact(self, n):
        while len(self.buf) < n + 2:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def reply(self):
        """A reply as (kind, value): kind in bulk simple int array set map null."""
        line = self.line()
        t, rest = line[:1], line[1:]
        if t == b"$":
            n = int(rest)
            return ("null", None) if n < 0 else ("bulk", self.exact(n).decode("utf-8"))
        if t == b"+":
            return ("simple", rest.decode("utf-8"))
        if t == b"-":
            raise RuntimeError("error reply: " + rest.decode())
        if t == b":":
            return ("int", int(rest))
        if t == b"_":
            return ("null", None)
        if t in (b"*", b"~"):
            items = [self.reply() for _ in range(int(rest))]
            return ("array" if t == b"*" else "set", items)
        if t == b"%":
            n = int(rest)
            return ("map", [(self.reply(), self.reply()) for _ in range(n)])
        raise RuntimeError("unexpected reply type %r" % line)


def command(sock, reader, *args):
    req = b"*%d\r\n" % len(args)
    for a in args:
        a = a.encode()
        req += b"$%d\r\n%s\r\n" % (len(a), a)
    sock.sendall(req)
    return reader.reply()


# ------------------------------------------------------------- the server

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(server_bin):
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen(
            [server_bin, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", tmp, "--daemonize", "no", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL,
        )
        try:
            deadline = time.time() + 10
            while True:
                try:
                    sock = socket.create_connection(("127.0.0.1", port))
                    break
                except OSError:
                    if time.time() > deadline or proc.poll() is not None:
                        raise RuntimeError("redis-server did not start")
                    time.sleep(0.05)
            with sock:
                r = Reader(sock)
                hello = command(sock, r, "HELLO", "3")
                version = dict((k[1], v[1]) for k, v in hello[1])["version"]
                info = command(sock, r, "COMMAND", "INFO")
                docs = command(sock, r, "COMMAND", "DOCS")
            return version, info, docs
        finally:
            proc.terminate()
            proc.wait(10)


# ----------------------------------------------------------- normalising

def sort_info_subcommands(entry):
    """Sorts subcommands by name: Redis keeps them in a dict whose order
    changes from one process to the next, so no order is the true one."""
    kind, items = entry
    assert kind == "array" and len(items) == 10, entry
    sub_kind, subs = items[9]
    if subs:
        subs = sorted((sort_info_subcommands(s) for s in subs), key=lambda s: s[1][0][1])
        items = items[:9] + [(sub_kind, subs)]
    return (kind, items)


def sort_docs_subcommands(doc):
    kind, pairs = doc
    assert kind == "map", doc
    out = []
    for k, v in pairs:
        if k == ("bulk", "subcommands"):
            v = ("map", sorted(((sk, sort_docs_subcommands(sv)) for sk, sv in v[1]), key=lambda p: p[0][1]))
        out.append((k, v))
    return (kind, out)


# ------------------------------------------------------------- Rust output

def rust_str(s):
    out = ['"']
    for ch in s:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append("\\u{%x}" % ord(ch))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


class Emitter:
    """Writes nodes as Rust const expressions. A subtree used more than once
    (argument descriptions like `key`, key specs, flag sets) becomes a named
    const so the file stays small."""

    def __init__(self, roots):
        self.counts = {}
        for r in roots:
            self._count(r)
        self.names = {}
        self.defs = []

    def _count(self, node):
        key = repr(node)
        self.counts[key] = self.counts.get(key, 0) + 1
        if self.counts[key] > 1:
            return
        kind, v = node
        if kind in ("array", "set"):
            for c in v:
                self._count(c)
        elif kind == "map":
            for k, x in v:
                self._count(k)
                self._count(x)

    def expr(self, node):
        kind, v = node
        if kind == "bulk":
            return "B(%s)" % rust_str(v)
        if kind == "simple":
            return "S(%s)" % rust_str(v)
        if kind == "int":
            return "I(%d)" % v
        key = repr(node)
        if key in self.names:
            return self.names[key]
        if kind in ("array", "set"):
            body = "%s(&[%s])" % ("A" if kind == "array" else "T", ",".join(self.expr(c) for c in v))
        elif kind == "map":
            body = "M(&[%s])" % ",".join("(%s,%s)" % (self.expr(k), self.expr(x)) for k, x in v)
        else:
            raise RuntimeError("unexpected node %r" % (node,))
        if self.counts.get(key, 0) > 1 and len(body) > 12:
            name = "D%d" % len(self.names)
            self.names[key] = name
            self.defs.append("const %s:Doc=%s;" % (name, body))
            return name
        return body


def main():
    server_bin = sys.argv[1] if len(sys.argv) > 1 else "redis-server"
    version, info, docs = fetch(server_bin)

    infos = {}
    for entry in info[1]:
        entry = sort_info_subcommands(entry)
        infos[entry[1][0][1]] = entry
    docmap = {}
    for k, v in docs[1]:
        docmap[k[1]] = sort_docs_subcommands(v)
    names = sorted(infos)
    assert sorted(docmap) == names, set(docmap) ^ set(names)

    roots = [infos[n] for n in names] + [docmap[n] for n in names]
    em = Emitter(roots)
    rows = []
    for n in names:
        rows.append("(%s,%s,%s)," % (rust_str(n), em.expr(infos[n]), em.expr(docmap[n])))

    lines = [
        "// @generated by scripts/gen-command-docs.py — do not edit",
        "//! COMMAND INFO and COMMAND DOCS entries of every command of redis-server %s," % version,
        "//! read in RESP3 so each value keeps the reply type Redis uses. Subcommands",
        "//! are sorted by name (Redis's own order changes with each process).",
        "",
        "use super::Doc::{self, Array as A, Bulk as B, Int as I, Map as M, Set as T, Simple as S};",
        "",
        "/// The Redis version the data was generated from.",
        "pub const REDIS_VERSION: &str = %s;" % rust_str(version),
        "",
    ]
    lines.extend(em.defs)
    lines.append("")
    lines.append("/// (name, COMMAND INFO entry, COMMAND DOCS entry), sorted by name.")
    lines.append("pub static COMMANDS: &[(&str, Doc, Doc)] = &[")
    lines.extend(rows)
    lines.append("];")
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote %s: %d commands, %d shared subtrees, %d bytes"
          % (os.path.relpath(OUT, ROOT), len(names), len(em.defs), os.path.getsize(OUT)))


if __name__ == "__main__":
    main()
