use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};

const INLINE: usize = 22;

/// An immutable byte string that stores up to 22 bytes inline (no heap
/// allocation) in 24 bytes; typical cache keys and small values fit.
/// Named after Redis's `sds`, which plays the same role there.
#[derive(Clone)]
pub enum Sds {
    Inline { len: u8, buf: [u8; INLINE] },
    Heap(Box<[u8]>),
}

impl Sds {
    pub fn new(data: &[u8]) -> Self {
        if data.len() <= INLINE {
            let mut buf = [0u8; INLINE];
            buf[..data.len()].copy_from_slice(data);
            Sds::Inline { len: data.len() as u8, buf }
        } else {
            Sds::Heap(data.into())
        }
    }

    pub fn from_vec(data: Vec<u8>) -> Self {
        if data.len() <= INLINE {
            Sds::new(&data)
        } else {
            Sds::Heap(data.into_boxed_slice())
        }
    }

    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Sds::Inline { len, buf } => &buf[..*len as usize],
            Sds::Heap(b) => b,
        }
    }

    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of heap memory owned beyond the 24 bytes of the value itself.
    pub fn heap_size(&self) -> usize {
        match self {
            Sds::Inline { .. } => 0,
            Sds::Heap(b) => b.len(),
        }
    }
}

impl std::ops::Deref for Sds {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl Borrow<[u8]> for Sds {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

// Hash and Eq must agree with `[u8]`'s so maps keyed by Sds can be queried
// with plain byte slices.
impl Hash for Sds {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state)
    }
}

impl PartialEq for Sds {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Sds {}

/// Byte-wise order, as Redis compares strings (memcmp).
impl Ord for Sds {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl PartialOrd for Sds {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Debug for Sds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

impl From<&[u8]> for Sds {
    fn from(d: &[u8]) -> Self {
        Sds::new(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_and_heap() {
        assert_eq!(std::mem::size_of::<Sds>(), 24);
        assert!(matches!(Sds::new(b"0123456789012345678901"), Sds::Inline { .. }));
        let big = Sds::new(b"01234567890123456789012");
        assert!(matches!(big, Sds::Heap(_)));
        assert_eq!(&big[..], b"01234567890123456789012");
        assert_eq!(Sds::new(b""), Sds::from_vec(vec![]));
    }
}
