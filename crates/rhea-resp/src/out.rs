use bytes::{BufMut, BytesMut};

use crate::number::fmt_double;

/// The reply buffer of one connection. Handlers write replies straight into
/// it, in the protocol version the client chose with HELLO; RESP3-only types
/// degrade to their RESP2 forms exactly as Redis degrades them.
#[derive(Debug, Default)]
pub struct Out {
    pub buf: BytesMut,
    pub resp3: bool,
    /// The code (first word) of every error reply written since the server
    /// last collected them, for INFO errorstats. Errors are rare, so the
    /// allocation stays off the hot path.
    pub error_codes: Vec<Box<str>>,
    /// How many of `error_codes` a command already counted as its own
    /// failure: an EXEC is not failed by the errors of the commands inside.
    pub errors_claimed: usize,
}

impl Out {
    pub fn new(resp3: bool) -> Self {
        Out { buf: BytesMut::with_capacity(16 * 1024), resp3, error_codes: Vec::new(), errors_claimed: 0 }
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    fn line(&mut self, prefix: u8, n: i64) {
        self.buf.put_u8(prefix);
        self.buf.extend_from_slice(itoa(n, &mut [0; 20]));
        self.buf.extend_from_slice(b"\r\n");
    }

    pub fn ok(&mut self) {
        self.buf.extend_from_slice(b"+OK\r\n");
    }

    /// `+<s>\r\n`. Any CR/LF in `s` is replaced by a space, as Redis does.
    pub fn simple(&mut self, s: &str) {
        self.buf.put_u8(b'+');
        self.put_line_text(s.as_bytes());
    }

    /// `-<msg>\r\n`. `msg` carries its own code (`ERR ...`, `WRONGTYPE ...`).
    pub fn error(&mut self, msg: &str) {
        // As Redis's afterErrorReply: the text before a space in the first
        // 32 bytes, else ERR.
        let head = &msg.as_bytes()[..msg.len().min(32)];
        let code = match head.iter().position(|&c| c == b' ') {
            Some(n) if n > 0 => &msg[..n],
            _ => "ERR",
        };
        self.error_codes.push(code.into());
        self.buf.put_u8(b'-');
        self.put_line_text(msg.as_bytes());
    }

    fn put_line_text(&mut self, s: &[u8]) {
        for &c in s {
            self.buf.put_u8(if c == b'\r' || c == b'\n' { b' ' } else { c });
        }
        self.buf.extend_from_slice(b"\r\n");
    }

    pub fn int(&mut self, n: i64) {
        self.line(b':', n);
    }

    pub fn bulk(&mut self, data: &[u8]) {
        self.line(b'$', data.len() as i64);
        self.buf.extend_from_slice(data);
        self.buf.extend_from_slice(b"\r\n");
    }

    pub fn bulk_str(&mut self, s: &str) {
        self.bulk(s.as_bytes());
    }

    pub fn bulk_int(&mut self, n: i64) {
        let mut tmp = [0u8; 20];
        let s = itoa(n, &mut tmp);
        self.line(b'$', s.len() as i64);
        self.buf.extend_from_slice(s);
        self.buf.extend_from_slice(b"\r\n");
    }

    /// The null of a missing bulk string: `$-1` in RESP2, `_` in RESP3.
    pub fn null(&mut self) {
        if self.resp3 {
            self.buf.extend_from_slice(b"_\r\n");
        } else {
            self.buf.extend_from_slice(b"$-1\r\n");
        }
    }

    /// The null of a missing array: `*-1` in RESP2, `_` in RESP3.
    pub fn null_array(&mut self) {
        if self.resp3 {
            self.buf.extend_from_slice(b"_\r\n");
        } else {
            self.buf.extend_from_slice(b"*-1\r\n");
        }
    }

    pub fn array(&mut self, n: usize) {
        self.line(b'*', n as i64);
    }

    /// A map of `n` pairs; a flat array of 2n elements in RESP2.
    pub fn map(&mut self, n: usize) {
        if self.resp3 {
            self.line(b'%', n as i64);
        } else {
            self.line(b'*', 2 * n as i64);
        }
    }

    /// A set of `n` elements; an array in RESP2.
    pub fn set(&mut self, n: usize) {
        self.line(if self.resp3 { b'~' } else { b'*' }, n as i64);
    }

    /// An out-of-band push message; an array in RESP2 (pub/sub messages).
    pub fn push(&mut self, n: usize) {
        self.line(if self.resp3 { b'>' } else { b'*' }, n as i64);
    }

    /// A double: `,<%.17g>` in RESP3, a bulk string in RESP2.
    pub fn double(&mut self, d: f64) {
        let s = fmt_double(d);
        if self.resp3 {
            self.buf.put_u8(b',');
            self.buf.extend_from_slice(s.as_bytes());
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(s.as_bytes());
        }
    }

    /// A boolean: `#t`/`#f` in RESP3, `:1`/`:0` in RESP2.
    pub fn boolean(&mut self, b: bool) {
        if self.resp3 {
            self.buf.extend_from_slice(if b { b"#t\r\n" } else { b"#f\r\n" });
        } else {
            self.int(b as i64);
        }
    }

    /// A verbatim string (`=len\r\ntxt:...`) in RESP3, a bulk string in RESP2.
    pub fn verbatim(&mut self, format: &str, text: &[u8]) {
        if self.resp3 {
            self.line(b'=', (text.len() + 4) as i64);
            self.buf.extend_from_slice(format.as_bytes());
            self.buf.put_u8(b':');
            self.buf.extend_from_slice(text);
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(text);
        }
    }

    /// Appends bytes that are already valid RESP.
    pub fn raw(&mut self, resp: &[u8]) {
        self.buf.extend_from_slice(resp);
    }
}

/// Formats an integer on the stack, without going through `fmt`.
pub(crate) fn itoa(n: i64, tmp: &mut [u8; 20]) -> &[u8] {
    let neg = n < 0;
    let mut v = n.unsigned_abs();
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if neg {
        i -= 1;
        tmp[i] = b'-';
    }
    &tmp[i..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resp2_and_resp3_forms() {
        let mut o = Out::new(false);
        o.map(1);
        o.null();
        o.null_array();
        o.double(1.5);
        o.boolean(true);
        o.int(i64::MIN);
        assert_eq!(&o.buf[..], b"*2\r\n$-1\r\n*-1\r\n$3\r\n1.5\r\n:1\r\n:-9223372036854775808\r\n");
        let mut o = Out::new(true);
        o.map(1);
        o.null();
        o.double(1.5);
        o.boolean(false);
        o.error("ERR a\r\nb");
        assert_eq!(&o.buf[..], b"%1\r\n_\r\n,1.5\r\n#f\r\n-ERR a  b\r\n");
    }
}
