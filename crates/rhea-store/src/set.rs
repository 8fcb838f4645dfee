//! The set type: Redis 7.0's intset (sorted integers, small sets of
//! integers; SMEMBERS then returns them sorted) or a hash table.
//!
//! Conversion rules follow 7.0's `setTypeCreate`/`setTypeAdd`: a set starts
//! as an intset when its first member is a canonical integer, stays one
//! while every member is and its size does not exceed
//! `set-max-intset-entries`, and once a hash table never goes back.

use ahash::RandomState;
use indexmap::IndexSet;

use crate::sds::Sds;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Set {
    /// Sorted ascending, no duplicates.
    Intset(Vec<i64>),
    /// Removal swaps the last member into the hole: members never move to a
    /// higher position, which keeps the positional SCAN cursor's guarantee
    /// (see [`Set::scan`]), and the order depends only on the operations.
    /// Boxed so that an intset, the small case, is not the size of a table.
    Table(Box<IndexSet<Sds, RandomState>>),
}

impl Default for Set {
    fn default() -> Self {
        Set::Intset(Vec::new())
    }
}

/// A member as stored: intset members are integers, rendered in decimal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Member<'a> {
    Int(i64),
    Bytes(&'a [u8]),
}

impl Member<'_> {
    pub fn to_sds(self) -> Sds {
        match self {
            Member::Int(i) => {
                let mut buf = [0u8; 20];
                Sds::new(fmt_i64(i, &mut buf))
            }
            Member::Bytes(b) => Sds::new(b),
        }
    }

    /// Calls `f` with the member's bytes (integers formatted on the stack).
    pub fn with_bytes<R>(self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            Member::Int(i) => {
                let mut buf = [0u8; 20];
                f(fmt_i64(i, &mut buf))
            }
            Member::Bytes(b) => f(b),
        }
    }
}

fn fmt_i64(v: i64, buf: &mut [u8; 20]) -> &[u8] {
    let mut n = v.unsigned_abs();
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        i -= 1;
        buf[i] = b'-';
    }
    &buf[i..]
}

/// Redis's `string2ll` as used by `isSdsRepresentableAsLongLong`: only the
/// canonical decimal form of an i64 ("12", "-3", "0"; not "+1", "01", "-0",
/// " 1") can live in an intset, so a member always reads back identically.
pub fn canonical_int(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (neg, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    if neg {
        if v > i64::MAX as u64 + 1 {
            None
        } else {
            Some((v as i64).wrapping_neg())
        }
    } else {
        i64::try_from(v).ok()
    }
}

impl Set {
    /// An empty set of the encoding Redis's `setTypeCreate` picks for a set
    /// whose first member is `first`.
    pub fn for_member(first: &[u8]) -> Set {
        if canonical_int(first).is_some() {
            Set::Intset(Vec::new())
        } else {
            Set::Table(Box::default())
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Set::Intset(v) => v.len(),
            Set::Table(s) => s.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            Set::Intset(_) => "intset",
            Set::Table(_) => "hashtable",
        }
    }

    pub fn heap_size(&self) -> usize {
        match self {
            Set::Intset(v) => v.capacity() * 8,
            Set::Table(s) => s.len() * 40 + s.iter().map(Sds::heap_size).sum::<usize>(),
        }
    }

    pub fn contains(&self, m: &[u8]) -> bool {
        match self {
            Set::Intset(v) => canonical_int(m).is_some_and(|i| v.binary_search(&i).is_ok()),
            Set::Table(s) => s.contains(m),
        }
    }

    /// Adds `m`; true if it was not there. An intset becomes a hash table
    /// when `m` is not a canonical integer or the set grows past
    /// `max_intset` members.
    pub fn insert(&mut self, m: &[u8], max_intset: usize) -> bool {
        if let Set::Intset(v) = self {
            match canonical_int(m) {
                Some(i) => {
                    let Err(pos) = v.binary_search(&i) else {
                        return false;
                    };
                    // Grown a member at a time, as Redis's intset is.
                    v.reserve_exact(1);
                    v.insert(pos, i);
                    if v.len() > max_intset {
                        self.convert_to_table();
                    }
                    return true;
                }
                None => self.convert_to_table(),
            }
        }
        match self {
            Set::Table(s) => s.insert(Sds::new(m)),
            Set::Intset(_) => false,
        }
    }

    /// Removes `m`; true if it was there.
    pub fn remove(&mut self, m: &[u8]) -> bool {
        match self {
            Set::Intset(v) => match canonical_int(m).map(|i| v.binary_search(&i)) {
                Some(Ok(pos)) => {
                    v.remove(pos);
                    true
                }
                _ => false,
            },
            Set::Table(s) => s.swap_remove(m),
        }
    }

    fn convert_to_table(&mut self) {
        if let Set::Intset(v) = self {
            let table: IndexSet<Sds, RandomState> = v.iter().map(|&i| Member::Int(i).to_sds()).collect();
            *self = Set::Table(Box::new(table));
        }
    }

    /// The member at position `i` (intset: ascending order; table: its
    /// internal order).
    pub fn get_index(&self, i: usize) -> Option<Member<'_>> {
        match self {
            Set::Intset(v) => v.get(i).map(|&x| Member::Int(x)),
            Set::Table(s) => s.get_index(i).map(|m| Member::Bytes(m)),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = Member<'_>> {
        let (ints, table) = match self {
            Set::Intset(v) => (Some(v.iter()), None),
            Set::Table(s) => (None, Some(s.iter())),
        };
        ints.into_iter().flatten().map(|&i| Member::Int(i)).chain(table.into_iter().flatten().map(|m| Member::Bytes(m)))
    }

    /// Removes the members at the given positions (distinct, in range;
    /// others are ignored) and returns them in the order given.
    pub fn remove_indices(&mut self, indices: &[usize]) -> Vec<Sds> {
        let out: Vec<Sds> = indices.iter().filter_map(|&i| self.get_index(i)).map(Member::to_sds).collect();
        let mut sorted: Vec<usize> = indices.iter().copied().filter(|&i| i < self.len()).collect();
        sorted.sort_unstable();
        sorted.dedup();
        match self {
            Set::Intset(v) => {
                // One pass keeps this O(n) however many members go.
                let mut k = 0;
                let mut pos = 0;
                v.retain(|_| {
                    let drop = sorted.get(k) == Some(&pos);
                    if drop {
                        k += 1;
                    }
                    pos += 1;
                    !drop
                });
            }
            Set::Table(s) => {
                // Descending: each swap_remove moves the current last member,
                // which is never one still to be removed, into the hole.
                for &i in sorted.iter().rev() {
                    s.swap_remove_index(i);
                }
            }
        }
        out
    }

    /// One SSCAN step. An intset returns everything at once with cursor 0,
    /// as Redis does for its small encodings. A table visits about `count`
    /// positions below `cursor` (0 = start) and returns the next cursor
    /// (0 = done); a member present for the whole scan is always returned.
    pub fn scan<'a>(&'a self, cursor: u64, count: usize, mut f: impl FnMut(Member<'a>)) -> u64 {
        match self {
            Set::Intset(v) => {
                v.iter().for_each(|&i| f(Member::Int(i)));
                0
            }
            Set::Table(s) => {
                let len = s.len() as u64;
                let mut pos = if cursor == 0 || cursor > len { len } else { cursor };
                let mut visited = 0;
                while pos > 0 && visited < count.max(1) {
                    pos -= 1;
                    visited += 1;
                    if let Some(m) = s.get_index(pos as usize) {
                        f(Member::Bytes(m));
                    }
                }
                pos
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An intset holds its members and no more: no table, no spare room.
    #[test]
    fn small_intsets_stay_small() {
        let mut s = Set::default();
        for m in [&b"3"[..], b"1", b"2"] {
            assert!(s.insert(m, 512));
        }
        let Set::Intset(v) = &s else { panic!("not an intset") };
        assert_eq!((v.as_slice(), v.capacity()), (&[1, 2, 3][..], 3));
        assert!(std::mem::size_of::<Set>() <= 32);
    }

    fn members(s: &Set) -> Vec<Vec<u8>> {
        s.iter().map(|m| m.with_bytes(|b| b.to_vec())).collect()
    }

    #[test]
    fn canonical_integers_only() {
        assert_eq!(canonical_int(b"0"), Some(0));
        assert_eq!(canonical_int(b"-1"), Some(-1));
        assert_eq!(canonical_int(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(canonical_int(b"-9223372036854775808"), Some(i64::MIN));
        for bad in
            [&b"9223372036854775808"[..], b"-9223372036854775809", b"-0", b"01", b"+1", b" 1", b"1 ", b"", b"-", b"1a"]
        {
            assert_eq!(canonical_int(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn formats_integers() {
        for v in [0, 7, -7, 1234567890, i64::MAX, i64::MIN] {
            assert_eq!(Member::Int(v).with_bytes(|b| b.to_vec()), v.to_string().into_bytes());
        }
    }

    #[test]
    fn intset_stays_sorted_and_converts() {
        let mut s = Set::for_member(b"5");
        assert!(s.insert(b"5", 3));
        assert!(s.insert(b"-2", 3));
        assert!(!s.insert(b"5", 3));
        assert!(s.insert(b"3", 3));
        assert_eq!(s.encoding(), "intset");
        assert_eq!(members(&s), vec![b"-2".to_vec(), b"3".to_vec(), b"5".to_vec()]);
        assert!(s.contains(b"3") && !s.contains(b"03") && !s.contains(b"x"));
        // A fourth member exceeds max_intset = 3.
        assert!(s.insert(b"4", 3));
        assert_eq!(s.encoding(), "hashtable");
        assert!(s.contains(b"4") && s.contains(b"-2"));
        // Never back to an intset.
        assert!(s.remove(b"4") && s.remove(b"3"));
        assert_eq!(s.encoding(), "hashtable");

        let mut t = Set::for_member(b"1");
        t.insert(b"1", 512);
        assert!(t.insert(b"01", 512));
        assert_eq!(t.encoding(), "hashtable");
        assert_eq!(t.len(), 2);
        assert!(Set::for_member(b"a").encoding() == "hashtable");
    }

    #[test]
    fn remove_indices_both_encodings() {
        let mut s = Set::default();
        for i in 0..10 {
            s.insert(i.to_string().as_bytes(), 512);
        }
        let got = s.remove_indices(&[9, 0, 4]);
        assert_eq!(got, vec![Sds::new(b"9"), Sds::new(b"0"), Sds::new(b"4")]);
        assert_eq!(members(&s), ["1", "2", "3", "5", "6", "7", "8"].map(|x| x.as_bytes().to_vec()));

        let mut t = Set::for_member(b"a");
        for m in ["a", "b", "c", "d", "e", "f"] {
            t.insert(m.as_bytes(), 512);
        }
        let got = t.remove_indices(&[5, 1, 4]);
        assert_eq!(got, vec![Sds::new(b"f"), Sds::new(b"b"), Sds::new(b"e")]);
        let mut rest = members(&t);
        rest.sort();
        assert_eq!(rest, ["a", "c", "d"].map(|x| x.as_bytes().to_vec()));
    }

    #[test]
    fn table_scan_sees_stable_members_despite_removals() {
        let mut t = Set::for_member(b"m");
        for i in 0..100 {
            t.insert(format!("m{i}").as_bytes(), 0);
        }
        let mut seen = std::collections::BTreeSet::new();
        let mut cursor = 0;
        let mut removed = 0;
        loop {
            let mut batch = Vec::new();
            cursor = t.scan(cursor, 7, |m| batch.push(m.to_sds()));
            seen.extend(batch);
            // Remove a member that was already returned, plus one never
            // returned yet: the others must all still be seen.
            if removed < 10 {
                let victim = format!("m{removed}");
                t.remove(victim.as_bytes());
                removed += 1;
            }
            if cursor == 0 {
                break;
            }
        }
        for i in 10..100 {
            assert!(seen.contains(&Sds::new(format!("m{i}").as_bytes())), "m{i} missed");
        }
    }
}
