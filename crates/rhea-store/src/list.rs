//! The list type: a deque of elements. Redis 7.0 always encodes lists as
//! quicklists; the encoding is not observable beyond OBJECT ENCODING, so a
//! `VecDeque` gives the same O(1) pushes and pops at both ends.

use std::collections::VecDeque;

use crate::sds::Sds;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct List {
    pub items: VecDeque<Sds>,
}

/// Which end of a list (LEFT = head, RIGHT = tail).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Left,
    Right,
}

impl List {
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// What OBJECT ENCODING reports: Redis 7.0 lists are always quicklists.
    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }

    pub fn heap_size(&self) -> usize {
        self.items.capacity() * std::mem::size_of::<Sds>() + self.items.iter().map(Sds::heap_size).sum::<usize>()
    }

    pub fn push(&mut self, end: End, v: Sds) {
        match end {
            End::Left => self.items.push_front(v),
            End::Right => self.items.push_back(v),
        }
    }

    pub fn pop(&mut self, end: End) -> Option<Sds> {
        match end {
            End::Left => self.items.pop_front(),
            End::Right => self.items.pop_back(),
        }
    }

    /// Pops up to `n` elements from `end`, in pop order.
    pub fn pop_many(&mut self, end: End, n: usize) -> Vec<Sds> {
        let n = n.min(self.items.len());
        match end {
            End::Left => self.items.drain(..n).collect(),
            End::Right => {
                let at = self.items.len() - n;
                self.items.drain(at..).rev().collect()
            }
        }
    }

    /// Position of a Redis index (negative counts from the tail).
    fn position(&self, index: i64) -> Option<usize> {
        let len = self.items.len() as i64;
        let i = if index < 0 { index.checked_add(len)? } else { index };
        if (0..len).contains(&i) {
            Some(i as usize)
        } else {
            None
        }
    }

    /// LINDEX.
    pub fn get(&self, index: i64) -> Option<&Sds> {
        self.position(index).and_then(|i| self.items.get(i))
    }

    /// LSET: false when the index is out of range.
    pub fn set(&mut self, index: i64, v: Sds) -> bool {
        match self.position(index).and_then(|i| self.items.get_mut(i)) {
            Some(slot) => {
                *slot = v;
                true
            }
            None => false,
        }
    }

    /// The inclusive range LRANGE selects for `start`..=`end`, Redis's
    /// rules (negative indexes from the tail, clamped); None when empty.
    pub fn range_bounds(&self, start: i64, end: i64) -> Option<(usize, usize)> {
        let len = self.items.len() as i64;
        let mut start = if start < 0 { start.saturating_add(len) } else { start };
        let mut end = if end < 0 { end.saturating_add(len) } else { end };
        if start < 0 {
            start = 0;
        }
        if start > end || start >= len {
            return None;
        }
        if end >= len {
            end = len - 1;
        }
        Some((start as usize, end as usize))
    }

    /// LRANGE.
    pub fn range(&self, start: i64, end: i64) -> impl ExactSizeIterator<Item = &Sds> + DoubleEndedIterator {
        let (a, b) = match self.range_bounds(start, end) {
            Some((a, b)) => (a, b + 1),
            None => (0, 0),
        };
        self.items.range(a..b)
    }

    /// LTRIM: keeps only `start`..=`end` (Redis's index rules).
    pub fn trim(&mut self, start: i64, end: i64) {
        match self.range_bounds(start, end) {
            Some((a, b)) => {
                self.items.truncate(b + 1);
                self.items.drain(..a);
            }
            None => self.items.clear(),
        }
    }

    /// LINSERT: inserts `v` before or after the first occurrence of `pivot`
    /// from the head; false if the pivot is absent.
    pub fn insert(&mut self, pivot: &[u8], v: Sds, before: bool) -> bool {
        match self.items.iter().position(|e| &e[..] == pivot) {
            Some(i) => {
                self.items.insert(if before { i } else { i + 1 }, v);
                true
            }
            None => false,
        }
    }

    /// LREM: removes up to |count| occurrences of `v`, from the head when
    /// count > 0, from the tail when count < 0, all when 0. Returns how many.
    pub fn remove(&mut self, v: &[u8], count: i64) -> usize {
        let limit = if count == 0 { usize::MAX } else { usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX) };
        let mut removed = 0;
        if count >= 0 {
            let mut i = 0;
            while i < self.items.len() && removed < limit {
                if &self.items[i][..] == v {
                    self.items.remove(i);
                    removed += 1;
                } else {
                    i += 1;
                }
            }
        } else {
            let mut i = self.items.len();
            while i > 0 && removed < limit {
                i -= 1;
                if &self.items[i][..] == v {
                    self.items.remove(i);
                    removed += 1;
                }
            }
        }
        removed
    }

    /// LPOS: indexes of the matches of `v`, as Redis's `lposCommand`
    /// computes them (including its wrapping arithmetic for RANK
    /// -9223372036854775808, which 7.0 accepts). `rank` != 0; `count` None =
    /// the option was not given (stop at the first selected match), Some(0) =
    /// all; `maxlen` 0 = no limit.
    pub fn positions(&self, v: &[u8], rank: i64, count: Option<u64>, maxlen: u64) -> Vec<usize> {
        let from_tail = rank < 0;
        let rank = if from_tail { rank.wrapping_neg() } else { rank };
        let len = self.items.len();
        let mut found = Vec::new();
        let mut matches: i64 = 0;
        for index in 0..len {
            if maxlen != 0 && index as u64 >= maxlen {
                break;
            }
            let pos = if from_tail { len - index - 1 } else { index };
            if &self.items[pos][..] != v {
                continue;
            }
            matches += 1;
            if matches >= rank {
                found.push(pos);
                match count {
                    None => break,
                    Some(c) => {
                        let served = matches.wrapping_sub(rank).wrapping_add(1);
                        if c != 0 && served >= 0 && served as u64 >= c {
                            break;
                        }
                    }
                }
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> List {
        List { items: items.iter().map(|s| Sds::new(s.as_bytes())).collect() }
    }

    fn strs<'a>(it: impl Iterator<Item = &'a Sds>) -> Vec<String> {
        it.map(|s| String::from_utf8_lossy(s).into_owned()).collect()
    }

    #[test]
    fn ranges_follow_redis_index_rules() {
        let l = list(&["a", "b", "c", "d"]);
        assert_eq!(strs(l.range(0, -1)), ["a", "b", "c", "d"]);
        assert_eq!(strs(l.range(-2, -1)), ["c", "d"]);
        assert_eq!(strs(l.range(-100, 1)), ["a", "b"]);
        assert_eq!(strs(l.range(2, 100)), ["c", "d"]);
        assert!(l.range(3, 2).next().is_none());
        assert!(l.range(4, 10).next().is_none());
        assert!(l.range(i64::MIN, i64::MIN).next().is_none());
        assert_eq!(strs(l.range(i64::MIN, i64::MAX)), ["a", "b", "c", "d"]);
        assert_eq!(strs(l.range(1, 2).rev()), ["c", "b"]);
    }

    #[test]
    fn trim_keeps_the_range() {
        let mut l = list(&["a", "b", "c", "d", "e"]);
        l.trim(1, -2);
        assert_eq!(strs(l.items.iter()), ["b", "c", "d"]);
        l.trim(5, 10);
        assert!(l.is_empty());
        let mut l = list(&["a", "b"]);
        l.trim(-1, 100);
        assert_eq!(strs(l.items.iter()), ["b"]);
    }

    #[test]
    fn index_and_set() {
        let mut l = list(&["a", "b", "c"]);
        assert_eq!(l.get(-1).map(|s| &s[..]), Some(&b"c"[..]));
        assert_eq!(l.get(-4), None);
        assert_eq!(l.get(3), None);
        assert_eq!(l.get(i64::MIN), None);
        assert!(l.set(-3, Sds::new(b"x")));
        assert!(!l.set(3, Sds::new(b"x")));
        assert_eq!(strs(l.items.iter()), ["x", "b", "c"]);
    }

    #[test]
    fn remove_by_direction() {
        let mut l = list(&["a", "x", "b", "x", "c", "x"]);
        assert_eq!(l.remove(b"x", -2), 2);
        assert_eq!(strs(l.items.iter()), ["a", "x", "b", "c"]);
        let mut l = list(&["x", "a", "x", "x"]);
        assert_eq!(l.remove(b"x", 2), 2);
        assert_eq!(strs(l.items.iter()), ["a", "x"]);
        let mut l = list(&["x", "a", "x", "x"]);
        assert_eq!(l.remove(b"x", 0), 3);
        assert_eq!(l.remove(b"x", i64::MIN), 0);
        assert_eq!(strs(l.items.iter()), ["a"]);
    }

    #[test]
    fn insert_and_pop_many() {
        let mut l = list(&["a", "b", "b"]);
        assert!(l.insert(b"b", Sds::new(b"x"), true));
        assert!(l.insert(b"b", Sds::new(b"y"), false));
        assert!(!l.insert(b"z", Sds::new(b"y"), false));
        assert_eq!(strs(l.items.iter()), ["a", "x", "b", "y", "b"]);
        assert_eq!(strs(l.pop_many(End::Right, 2).iter()), ["b", "y"]);
        assert_eq!(strs(l.pop_many(End::Left, 10).iter()), ["a", "x", "b"]);
        assert!(l.is_empty());
    }

    #[test]
    fn positions_with_rank_count_maxlen() {
        let l = list(&["a", "b", "c", "1", "2", "3", "c", "c"]);
        assert_eq!(l.positions(b"c", 1, None, 0), [2]);
        assert_eq!(l.positions(b"c", 2, None, 0), [6]);
        assert_eq!(l.positions(b"c", -1, None, 0), [7]);
        assert_eq!(l.positions(b"c", 1, Some(0), 0), [2, 6, 7]);
        assert_eq!(l.positions(b"c", 2, Some(1), 0), [6]);
        assert_eq!(l.positions(b"c", -2, Some(0), 0), [6, 2]);
        assert_eq!(l.positions(b"c", 1, Some(0), 7), [2, 6]);
        assert_eq!(l.positions(b"c", -1, Some(0), 2), [7, 6]);
        assert!(l.positions(b"c", 4, Some(0), 0).is_empty());
        // 7.0 negates i64::MIN with wrapping: every match from the tail qualifies.
        assert_eq!(l.positions(b"c", i64::MIN, None, 0), [7]);
        assert_eq!(l.positions(b"c", i64::MIN, Some(1), 0), [7, 6, 2]);
    }
}
