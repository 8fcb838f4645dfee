//! Differential tests: every case in tests/cases/*.txt is sent to a real
//! redis-server and to rhea-server, and the replies must match byte for
//! byte (or as unordered collections, or by type, where the case says so).
//! `RHEA_CASES=strings` runs only files whose name contains "strings".

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{split_line, Reply, Server};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Exact,
    Unordered,
    TypeOnly,
}

#[derive(Debug)]
enum Step {
    Command { line: usize, text: String, mode: Mode, args: Vec<Vec<u8>> },
    Sleep(u64),
}

struct Case {
    file: String,
    line: usize,
    steps: Vec<Step>,
}

fn parse_file(path: &Path) -> Vec<Case> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let file = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
    let mut cases = Vec::new();
    let mut cur: Option<Case> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let l = raw.trim();
        if l.is_empty() {
            cases.extend(cur.take());
            continue;
        }
        if l.starts_with('#') {
            continue;
        }
        let case = cur.get_or_insert_with(|| Case { file: file.clone(), line, steps: Vec::new() });
        if let Some(ms) = l.strip_prefix("@sleep") {
            let ms = ms.trim().parse().unwrap_or_else(|_| panic!("{file}:{line}: bad @sleep"));
            case.steps.push(Step::Sleep(ms));
            continue;
        }
        let (mode, cmd) = if let Some(c) = l.strip_prefix("~ ") {
            (Mode::Unordered, c)
        } else if let Some(c) = l.strip_prefix("? ") {
            (Mode::TypeOnly, c)
        } else {
            (Mode::Exact, l)
        };
        let args = split_line(cmd).unwrap_or_else(|| panic!("{file}:{line}: unbalanced quotes"));
        assert!(!args.is_empty(), "{file}:{line}: empty command");
        case.steps.push(Step::Command { line, text: cmd.to_string(), mode, args });
    }
    cases.extend(cur);
    cases
}

fn case_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let filter = std::env::var("RHEA_CASES").unwrap_or_default();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().contains(&filter)))
        .collect();
    files.sort();
    files
}

fn show(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).replace("\r\n", "\\r\\n")
}

/// Runs one case on fresh connections; returns a description of each
/// mismatch.
fn run_case(redis: &Server, rhea: &Server, case: &Case) -> Vec<String> {
    let mut failures = Vec::new();
    for s in [redis, rhea] {
        let mut c = s.conn();
        let r = c.cmd(&["FLUSHALL"]).expect("FLUSHALL");
        assert_eq!(r, Reply::Simple("OK".into()), "FLUSHALL on {} before {}:{}", s.name, case.file, case.line);
    }
    let mut a = redis.conn();
    let mut b = rhea.conn();
    b.set_timeout(Duration::from_secs(5));
    for step in &case.steps {
        let (line, text, mode, args) = match step {
            Step::Sleep(ms) => {
                std::thread::sleep(Duration::from_millis(*ms));
                continue;
            }
            Step::Command { line, text, mode, args } => (line, text, mode, args),
        };
        let ra = a.send(args).and_then(|_| a.read_raw());
        let rb = b.send(args).and_then(|_| b.read_raw());
        let ((va, raw_a), (vb, raw_b)) = match (ra, rb) {
            (Ok(x), Ok(y)) => (x, y),
            (Err(e), _) => {
                failures.push(format!("{}:{line}: `{text}`: redis failed: {e}", case.file));
                return failures;
            }
            (_, Err(e)) => {
                failures.push(format!("{}:{line}: `{text}`: rhea failed ({e}); case aborted", case.file));
                return failures;
            }
        };
        let same = match mode {
            Mode::Exact => raw_a == raw_b,
            Mode::Unordered => va.sorted() == vb.sorted(),
            Mode::TypeOnly => va.kind() == vb.kind(),
        };
        if !same {
            failures.push(format!(
                "{}:{line}: `{text}` ({mode:?})\n    redis: {}\n    rhea:  {}",
                case.file,
                show(&raw_a),
                show(&raw_b)
            ));
        }
        if va == Reply::Closed || vb == Reply::Closed {
            break;
        }
    }
    failures
}

#[test]
fn replies_match_redis() {
    let redis = Server::redis(&[]);
    let rhea = Server::rhea(&[]);
    let files = case_files();
    assert!(!files.is_empty(), "no case files in tests/cases");
    let mut failures = Vec::new();
    let mut commands = 0;
    for f in &files {
        for case in parse_file(f) {
            commands += case.steps.iter().filter(|s| matches!(s, Step::Command { .. })).count();
            failures.extend(run_case(&redis, &rhea, &case));
        }
    }
    eprintln!("differential: {} files, {commands} commands, {} mismatches", files.len(), failures.len());
    assert!(failures.is_empty(), "{} replies differ from redis-server:\n{}", failures.len(), failures.join("\n"));
}
