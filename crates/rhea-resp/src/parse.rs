use bytes::{Buf, Bytes, BytesMut};

/// Longest inline command or multibulk/bulk header Redis accepts before it
/// gives up on the client (PROTO_INLINE_MAX_SIZE in networking.c).
pub const PROTO_INLINE_MAX_SIZE: usize = 64 * 1024;

/// A malformed request. Redis answers `-ERR Protocol error: <msg>` and closes
/// the connection once the reply is written; so does Rhea.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Protocol error: {0}")]
pub struct ProtocolError(pub String);

/// Incremental parser for client requests.
///
/// It keeps its position inside a partly received multibulk request, so a
/// command whose arguments arrive in many small reads (or one 512 MB bulk
/// arriving over seconds) is scanned once, not once per read.
#[derive(Debug)]
pub struct RequestParser {
    /// `proto-max-bulk-len`: larger bulk arguments are a protocol error.
    pub max_bulk_len: usize,
    /// Arguments of the multibulk request being read, as ranges of `buf`.
    spans: Vec<(usize, usize)>,
    /// Arguments still to read of the current multibulk request (0 = none).
    remaining: usize,
    /// Length of the bulk whose header was read but whose data was not.
    bulklen: Option<usize>,
    /// Where in `buf` the next unread part of the current request starts.
    pos: usize,
}

impl Default for RequestParser {
    fn default() -> Self {
        Self::new(512 * 1024 * 1024)
    }
}

impl RequestParser {
    pub fn new(max_bulk_len: usize) -> Self {
        RequestParser { max_bulk_len, spans: Vec::new(), remaining: 0, bulklen: None, pos: 0 }
    }

    /// How many bytes the buffer should be able to hold to finish the bulk
    /// argument being read, so the caller can reserve it in one step.
    pub fn bulk_hint(&self) -> Option<usize> {
        self.bulklen.map(|l| self.pos + l + 2)
    }

    /// Parses the next complete request from `buf` into `argv` and removes its
    /// bytes from `buf`. Returns `Ok(false)` when more input is needed. Empty
    /// requests (`*0`, `*-1`, blank inline lines) are skipped, as Redis does.
    pub fn parse(&mut self, buf: &mut BytesMut, argv: &mut Vec<Bytes>) -> Result<bool, ProtocolError> {
        argv.clear();
        loop {
            if self.remaining == 0 {
                if buf.is_empty() {
                    return Ok(false);
                }
                if buf[0] == b'*' {
                    match self.multibulk_header(buf)? {
                        Some(0) => continue,
                        Some(_) => {}
                        None => return Ok(false),
                    }
                } else {
                    match inline(buf)? {
                        Some(args) if args.is_empty() => continue,
                        Some(args) => {
                            argv.extend(args.into_iter().map(Bytes::from));
                            return Ok(true);
                        }
                        None => return Ok(false),
                    }
                }
            }
            if !self.bulks(buf)? {
                return Ok(false);
            }
            let frame = buf.split_to(self.pos).freeze();
            argv.extend(self.spans.drain(..).map(|(s, e)| frame.slice(s..e)));
            self.pos = 0;
            return Ok(true);
        }
    }

    /// Reads `*<n>\r\n`. Returns the argument count, `Some(0)` for an empty
    /// request that was consumed, or `None` if the line is incomplete.
    fn multibulk_header(&mut self, buf: &mut BytesMut) -> Result<Option<usize>, ProtocolError> {
        let Some(nl) = find_cr(buf, 0) else {
            if buf.len() > PROTO_INLINE_MAX_SIZE {
                return Err(perr("too big mbulk count string"));
            }
            return Ok(None);
        };
        if nl + 1 >= buf.len() {
            return Ok(None);
        }
        let n = match parse_i64(&buf[1..nl]) {
            Some(n) if n <= i32::MAX as i64 => n,
            _ => return Err(perr("invalid multibulk length")),
        };
        if n <= 0 {
            buf.advance(nl + 2);
            return Ok(Some(0));
        }
        self.pos = nl + 2;
        self.remaining = n as usize;
        self.bulklen = None;
        self.spans.clear();
        // Cap the preallocation: the count is client-controlled.
        self.spans.reserve((n as usize).min(1024));
        Ok(Some(n as usize))
    }

    /// Reads bulk arguments; true once all of them are in.
    fn bulks(&mut self, buf: &BytesMut) -> Result<bool, ProtocolError> {
        while self.remaining > 0 {
            let len = match self.bulklen {
                Some(len) => len,
                None => {
                    let Some(nl) = find_cr(buf, self.pos) else {
                        if buf.len() - self.pos > PROTO_INLINE_MAX_SIZE {
                            return Err(perr("too big bulk count string"));
                        }
                        return Ok(false);
                    };
                    if nl + 1 >= buf.len() {
                        return Ok(false);
                    }
                    if buf[self.pos] != b'$' {
                        return Err(ProtocolError(format!("expected '$', got '{}'", buf[self.pos] as char)));
                    }
                    let len = match parse_i64(&buf[self.pos + 1..nl]) {
                        Some(l) if l >= 0 && (l as u64) <= self.max_bulk_len as u64 => l as usize,
                        _ => return Err(perr("invalid bulk length")),
                    };
                    self.pos = nl + 2;
                    self.bulklen = Some(len);
                    len
                }
            };
            // Like Redis, the two bytes after the data are assumed to be CRLF.
            if buf.len() - self.pos < len + 2 {
                return Ok(false);
            }
            self.spans.push((self.pos, self.pos + len));
            self.pos += len + 2;
            self.bulklen = None;
            self.remaining -= 1;
        }
        Ok(true)
    }
}

fn perr(msg: &str) -> ProtocolError {
    ProtocolError(msg.to_string())
}

fn find_cr(buf: &[u8], from: usize) -> Option<usize> {
    buf[from..].iter().position(|&b| b == b'\r').map(|p| p + from)
}

/// An inline (telnet-style) request: one line, split like `sdssplitargs`.
fn inline(buf: &mut BytesMut) -> Result<Option<Vec<Vec<u8>>>, ProtocolError> {
    let Some(nl) = buf.iter().position(|&b| b == b'\n') else {
        if buf.len() > PROTO_INLINE_MAX_SIZE {
            return Err(perr("too big inline request"));
        }
        return Ok(None);
    };
    let end = if nl > 0 && buf[nl - 1] == b'\r' { nl - 1 } else { nl };
    let args = split_args(&buf[..end]).ok_or_else(|| perr("unbalanced quotes in request"))?;
    buf.advance(nl + 1);
    Ok(Some(args))
}

/// Splits a line into arguments with the quoting rules of Redis's
/// `sdssplitargs`: "double quotes" with \n \r \t \b \a \\ \" and \xHH escapes,
/// 'single quotes' with only \' as an escape. `None` means unbalanced quotes
/// (or a closing quote not followed by a space).
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut args = Vec::new();
    let mut i = 0;
    let n = line.len();
    loop {
        while i < n && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= n {
            return Some(args);
        }
        let mut cur = Vec::new();
        let (mut inq, mut insq) = (false, false);
        loop {
            if inq {
                if i >= n {
                    return None;
                }
                let c = line[i];
                if c == b'\\' && i + 3 < n && line[i + 1] == b'x' && is_hex(line[i + 2]) && is_hex(line[i + 3]) {
                    cur.push(hex(line[i + 2]) * 16 + hex(line[i + 3]));
                    i += 3;
                } else if c == b'\\' && i + 1 < n {
                    i += 1;
                    cur.push(match line[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        other => other,
                    });
                } else if c == b'"' {
                    if i + 1 < n && !line[i + 1].is_ascii_whitespace() {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(c);
                }
            } else if insq {
                if i >= n {
                    return None;
                }
                let c = line[i];
                if c == b'\\' && i + 1 < n && line[i + 1] == b'\'' {
                    i += 1;
                    cur.push(b'\'');
                } else if c == b'\'' {
                    if i + 1 < n && !line[i + 1].is_ascii_whitespace() {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(c);
                }
            } else {
                if i >= n {
                    break;
                }
                match line[i] {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => break,
                    b'"' => inq = true,
                    b'\'' => insq = true,
                    c => cur.push(c),
                }
            }
            i += 1;
        }
        args.push(cur);
    }
}

fn is_hex(c: u8) -> bool {
    c.is_ascii_hexdigit()
}

fn hex(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => c - b'A' + 10,
    }
}

use crate::number::parse_i64;

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(input: &[u8]) -> Result<Vec<Vec<Vec<u8>>>, ProtocolError> {
        let mut p = RequestParser::default();
        let mut buf = BytesMut::from(input);
        let mut argv = Vec::new();
        let mut out = Vec::new();
        while p.parse(&mut buf, &mut argv)? {
            out.push(argv.iter().map(|a| a.to_vec()).collect());
        }
        Ok(out)
    }

    #[test]
    fn multibulk_and_pipelining() {
        let got = parse_all(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nPING\r\n").unwrap();
        assert_eq!(got, vec![vec![b"GET".to_vec(), b"k".to_vec()], vec![b"PING".to_vec()]]);
    }

    #[test]
    fn byte_at_a_time() {
        let input = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\nPING\r\n";
        let mut p = RequestParser::default();
        let mut buf = BytesMut::new();
        let mut argv = Vec::new();
        let mut cmds = Vec::new();
        for &b in input.iter() {
            buf.extend_from_slice(&[b]);
            while p.parse(&mut buf, &mut argv).unwrap() {
                cmds.push(argv.clone());
            }
        }
        assert_eq!(cmds.len(), 2);
        assert_eq!(cmds[0][2], Bytes::from_static(b"hello"));
        assert_eq!(cmds[1][0], Bytes::from_static(b"PING"));
    }

    #[test]
    fn errors_match_redis() {
        assert_eq!(parse_all(b"*x\r\n").unwrap_err().to_string(), "Protocol error: invalid multibulk length");
        assert_eq!(parse_all(b"*1\r\n+x\r\n").unwrap_err().to_string(), "Protocol error: expected '$', got '+'");
        assert_eq!(parse_all(b"*1\r\n$-3\r\n").unwrap_err().to_string(), "Protocol error: invalid bulk length");
        assert_eq!(parse_all(b"\"abc\r\n").unwrap_err().to_string(), "Protocol error: unbalanced quotes in request");
        let mut p = RequestParser::new(10);
        let mut buf = BytesMut::from(&b"*1\r\n$11\r\n"[..]);
        assert!(p.parse(&mut buf, &mut Vec::new()).is_err());
    }

    #[test]
    fn inline_quoting_and_empty_requests() {
        let got = parse_all(b"\r\n*0\r\nset \"a b\" 'c\\'d' \"\\x41\\n\"\n").unwrap();
        assert_eq!(got, vec![vec![b"set".to_vec(), b"a b".to_vec(), b"c'd".to_vec(), b"A\n".to_vec()]]);
    }
}
