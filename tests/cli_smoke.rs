//! redis-cli against rhea-server: one-shot commands, commands read from
//! stdin, `--pipe` mass insertion, `--no-raw` formatting and `-3` (RESP3).
//! Most checks run the same redis-cli invocation against redis-server too
//! and require identical output, so redis-cli's formatting of every reply
//! type is covered without hard-coding it.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::Server;

struct Out {
    stdout: String,
    stderr: String,
    ok: bool,
}

fn cli(port: u16, args: &[&str], stdin: &[u8]) -> Out {
    let mut child = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run redis-cli ({e}); it comes from `apt-get install redis-tools`"));
    let mut input = child.stdin.take().expect("stdin");
    let data = stdin.to_vec();
    // Written from a thread so a large input cannot deadlock against a
    // full stdout pipe.
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().expect("redis-cli output");
    let _ = writer.join();
    Out {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        ok: out.status.success(),
    }
}

/// The server under test: rhea, or redis-server with
/// `RHEA_CLIENT_TARGET=redis` (to check the expectations themselves).
fn target() -> Server {
    match std::env::var("RHEA_CLIENT_TARGET").as_deref() {
        Ok("redis") => Server::redis(&[]),
        _ => Server::rhea(&[]),
    }
}

fn run(s: &Server, args: &[&str]) -> String {
    let o = cli(s.port, args, b"");
    assert!(o.ok, "redis-cli {args:?} against {} failed: {}", s.name, o.stderr);
    o.stdout
}

/// Runs each invocation against both servers (fresh state on both) and
/// requires the same output; returns rhea's outputs.
fn same_output(steps: &[&[&str]]) -> Vec<String> {
    let redis = Server::redis(&[]);
    let rhea = Server::rhea(&[]);
    let mut outs = Vec::new();
    let mut diffs = Vec::new();
    for args in steps {
        let a = run(&redis, args);
        let b = run(&rhea, args);
        if a != b {
            diffs.push(format!("redis-cli {args:?}\n  redis: {a:?}\n  rhea:  {b:?}"));
        }
        outs.push(b);
    }
    assert!(diffs.is_empty(), "redis-cli output differs:\n{}", diffs.join("\n"));
    outs
}

#[test]
fn ping_set_get_raw() {
    let rhea = target();
    assert_eq!(run(&rhea, &["ping"]), "PONG\n");
    assert_eq!(run(&rhea, &["set", "k", "hello world"]), "OK\n");
    assert_eq!(run(&rhea, &["get", "k"]), "hello world\n");
    assert_eq!(run(&rhea, &["get", "missing"]), "\n");
    assert_eq!(run(&rhea, &["incr", "n"]), "1\n");
    assert_eq!(run(&rhea, &["-n", "3", "set", "k", "three"]), "OK\n");
    assert_eq!(run(&rhea, &["-n", "3", "get", "k"]), "three\n");
    assert_eq!(run(&rhea, &["get", "k"]), "hello world\n");
    assert_eq!(run(&rhea, &["nosuch", "a"]), "ERR unknown command 'nosuch', with args beginning with: 'a' \n\n");
}

#[test]
fn commands_from_stdin() {
    let rhea = target();
    let o = cli(rhea.port, &[], b"set a 1\nincr a\nget a\nset \"sp ace\" \"x y\"\nget \"sp ace\"\nincr \"sp ace\"\n");
    assert!(o.ok, "{}", o.stderr);
    assert_eq!(o.stdout, "OK\n2\n2\nOK\nx y\nERR value is not an integer or out of range\n\n");
}

#[test]
fn no_raw_formatting_matches_redis() {
    let outs = same_output(&[
        &["--no-raw", "set", "k", "v"],
        &["--no-raw", "get", "k"],
        &["--no-raw", "get", "missing"],
        &["--no-raw", "incr", "n"],
        &["--no-raw", "mget", "k", "missing", "n"],
        &["--no-raw", "set", "bin", "a\tb\x01\"c"],
        &["--no-raw", "get", "bin"],
        &["--no-raw", "get"],
        &["--no-raw", "incr", "k"],
        &["--no-raw", "exists", "k", "n", "nope"],
        &["--no-raw", "keys", "missing*"],
        &["--no-raw", "echo", ""],
        &["--no-raw", "set", "k", "v", "nx"],
    ]);
    assert_eq!(outs[1], "\"v\"\n");
    assert_eq!(outs[2], "(nil)\n");
    assert_eq!(outs[3], "(integer) 1\n");
    assert_eq!(outs[4], "1) \"v\"\n2) (nil)\n3) \"1\"\n");
}

#[test]
fn resp3_mode() {
    let outs = same_output(&[
        &["-3", "--no-raw", "set", "k", "v"],
        &["-3", "--no-raw", "get", "k"],
        &["-3", "--no-raw", "get", "missing"],
        &["-3", "--no-raw", "mget", "k", "missing"],
        &["-3", "--no-raw", "incrbyfloat", "f", "1.5"],
        &["-3", "--no-raw", "ping"],
        &["-3", "get", "k"],
        &["-3", "get", "missing"],
    ]);
    assert_eq!(outs[2], "(nil)\n");
    let rhea = Server::rhea(&[]);
    let hello = run(&rhea, &["-3", "--no-raw", "hello", "3"]);
    assert!(hello.starts_with("1# \"server\" => \"redis\"\n"), "{hello}");
    assert!(hello.contains("# \"proto\" => (integer) 3\n"), "{hello}");
    assert!(hello.contains("# \"modules\" => (empty array)\n"), "{hello}");
}

/// The mass-insertion format of the Redis docs: raw RESP on stdin.
fn resp_commands(n: usize) -> Vec<u8> {
    let mut buf = Vec::new();
    for i in 0..n {
        let (k, v) = (format!("key:{i}"), format!("value:{i}"));
        buf.extend_from_slice(format!("*3\r\n$3\r\nSET\r\n${}\r\n{k}\r\n${}\r\n{v}\r\n", k.len(), v.len()).as_bytes());
    }
    buf
}

#[test]
fn pipe_mass_insertion() {
    let rhea = target();
    let o = cli(rhea.port, &["--pipe"], &resp_commands(10_000));
    assert!(o.ok, "--pipe failed: {}\n{}", o.stdout, o.stderr);
    assert!(o.stdout.contains("errors: 0, replies: 10000"), "{}", o.stdout);
    assert_eq!(run(&rhea, &["dbsize"]), "10000\n");
    assert_eq!(run(&rhea, &["get", "key:9999"]), "value:9999\n");
    assert_eq!(run(&rhea, &["get", "key:0"]), "value:0\n");
}

#[test]
fn pipe_counts_errors() {
    let mut input = resp_commands(100);
    for _ in 0..7 {
        input.extend_from_slice(b"*2\r\n$4\r\nINCR\r\n$5\r\nkey:1\r\n");
    }
    input.extend_from_slice(b"INCR counter\r\nINCR counter\r\n");
    for s in [Server::redis(&[]), Server::rhea(&[])] {
        let o = cli(s.port, &["--pipe"], &input);
        assert!(o.stdout.contains("errors: 7, replies: 109"), "{}: {}", s.name, o.stdout);
        assert!(!o.ok, "{}: --pipe exits non-zero when a reply is an error", s.name);
        assert_eq!(run(&s, &["get", "counter"]), "2\n", "{}", s.name);
    }
}
