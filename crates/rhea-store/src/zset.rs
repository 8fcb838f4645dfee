//! The sorted set type.
//!
//! A port of Redis's zset: a skiplist with spans (so rank queries and
//! rank-addressed ranges are O(log n)) ordered by (score, member bytes),
//! plus a member index. The skiplist nodes live in an arena addressed by
//! `u32`, which keeps the structure in safe Rust without reference cycles.
//!
//! The member index is an `IndexMap` so that everything that depends on
//! its order (ZSCAN cursors, ZRANDMEMBER picks) is a function of the
//! sequence of operations only, as replication requires. ZSCAN walks its
//! positions downwards: removal moves the last entry into the hole, so an
//! element present for a whole scan is always returned.

use std::fmt;

use ahash::RandomState;
use indexmap::IndexMap;

use crate::sds::Sds;

const NIL: u32 = u32::MAX;
const HEAD: u32 = 0;
const MAX_LEVEL: usize = 32;

#[derive(Clone)]
struct Node {
    member: Sds,
    score: f64,
    backward: u32,
    /// (forward, span) per level: span counts the nodes the link jumps over,
    /// the target included.
    next: smallvec::SmallVec<[(u32, u32); 3]>,
}

/// What `ZSet::add` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddResult {
    Added,
    Updated,
    Unchanged,
}

/// Members with their scores, ordered by (score, member).
#[derive(Clone)]
pub struct ZSet {
    nodes: Vec<Node>,
    free: Vec<u32>,
    tail: u32,
    level: usize,
    index: IndexMap<Sds, u32, RandomState>,
    /// State of the generator of node levels. It is part of the value so
    /// that the shape of the skiplist depends only on the operations; the
    /// shape never shows in replies, only in speed.
    seed: u64,
    /// Encoding reported by OBJECT ENCODING. The command layer switches it
    /// with Redis's rules (thresholds, conversions on store); the storage
    /// is the same either way.
    listpack: bool,
}

impl Default for ZSet {
    fn default() -> Self {
        ZSet::new()
    }
}

impl PartialEq for ZSet {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self.listpack == other.listpack
            && self.iter().zip(other.iter()).all(|(a, b)| a.0 == b.0 && a.1 == b.1)
    }
}

impl fmt::Debug for ZSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl ZSet {
    pub fn new() -> Self {
        let head =
            Node { member: Sds::new(b""), score: 0.0, backward: NIL, next: smallvec::smallvec![(NIL, 0); MAX_LEVEL] };
        ZSet {
            nodes: vec![head],
            free: Vec::new(),
            tail: NIL,
            level: 1,
            index: IndexMap::default(),
            seed: 0x9E37_79B9_7F4A_7C15,
            listpack: true,
        }
    }

    /// An empty set with the given encoding.
    pub fn with_encoding(listpack: bool) -> Self {
        let mut z = ZSet::new();
        z.listpack = listpack;
        z
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// What OBJECT ENCODING reports.
    pub fn encoding(&self) -> &'static str {
        if self.listpack {
            "listpack"
        } else {
            "skiplist"
        }
    }

    pub fn is_listpack(&self) -> bool {
        self.listpack
    }

    /// The state of the node-level generator (snapshots carry it so that a
    /// restored set keeps drawing the same levels as the original).
    pub(crate) fn level_seed(&self) -> u64 {
        self.seed
    }

    pub(crate) fn set_level_seed(&mut self, seed: u64) {
        self.seed = seed;
    }

    /// Switches the reported encoding. A listpack stores scores as text
    /// where -0 is written "0", so converting to one loses the sign of zero.
    pub fn set_listpack(&mut self, listpack: bool) {
        if listpack && !self.listpack {
            for n in self.nodes.iter_mut().skip(1) {
                if n.score == 0.0 {
                    n.score = 0.0;
                }
            }
        }
        self.listpack = listpack;
    }

    pub fn heap_size(&self) -> usize {
        self.nodes.iter().map(|n| 48 + n.next.len() * 8 + n.member.heap_size() * 2).sum::<usize>()
            + self.index.len() * 40
    }

    /// Length of the longest member (for the encoding thresholds).
    pub fn max_member_len(&self) -> usize {
        self.index.keys().map(|k| k.len()).max().unwrap_or(0)
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.index.get(member).map(|&n| self.node(n).score)
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        self.index.contains_key(member)
    }

    fn node(&self, i: u32) -> &Node {
        &self.nodes[i as usize]
    }

    fn node_mut(&mut self, i: u32) -> &mut Node {
        &mut self.nodes[i as usize]
    }

    fn random_level(&mut self) -> usize {
        // xorshift64*; each extra level with probability 1/4, as Redis.
        let mut level = 1;
        loop {
            self.seed ^= self.seed >> 12;
            self.seed ^= self.seed << 25;
            self.seed ^= self.seed >> 27;
            let r = self.seed.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32;
            if level < MAX_LEVEL && (r & 0xFFFF) < 0x4000 {
                level += 1;
            } else {
                return level;
            }
        }
    }

    /// Inserts a member that is not present, or gives an existing one a new
    /// score.
    pub fn add(&mut self, member: &[u8], score: f64) -> AddResult {
        // Listpacks write -0 as "0" (see `set_listpack`).
        let score = if self.listpack && score == 0.0 { 0.0 } else { score };
        if let Some(&n) = self.index.get(member) {
            let old = self.node(n).score;
            if old == score {
                return AddResult::Unchanged;
            }
            let key = self.node(n).member.clone();
            self.unlink(old, &key);
            let n = self.link(key, score);
            if let Some(slot) = self.index.get_mut(member) {
                *slot = n;
            }
            return AddResult::Updated;
        }
        let key = Sds::new(member);
        let n = self.link(key.clone(), score);
        self.index.insert(key, n);
        AddResult::Added
    }

    /// Removes a member; returns its score.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let n = self.index.swap_remove(member)?;
        let score = self.node(n).score;
        let key = self.node(n).member.clone();
        self.unlink(score, &key);
        Some(score)
    }

    fn less(a_score: f64, a_member: &[u8], score: f64, member: &[u8]) -> bool {
        a_score < score || (a_score == score && a_member < member)
    }

    fn link(&mut self, member: Sds, score: f64) -> u32 {
        let mut update = [HEAD; MAX_LEVEL];
        let mut rank = [0usize; MAX_LEVEL];
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            rank[i] = if i == self.level - 1 { 0 } else { rank[i + 1] };
            loop {
                let (fwd, span) = self.node(x).next[i];
                if fwd != NIL && Self::less(self.node(fwd).score, &self.node(fwd).member, score, &member) {
                    rank[i] += span as usize;
                    x = fwd;
                } else {
                    break;
                }
            }
            update[i] = x;
        }
        let level = self.random_level();
        if level > self.level {
            let len = self.len() as u32;
            for i in self.level..level {
                rank[i] = 0;
                update[i] = HEAD;
                self.node_mut(HEAD).next[i].1 = len;
            }
            self.level = level;
        }
        let node = Node { member, score, backward: NIL, next: smallvec::smallvec![(NIL, 0); level] };
        let id = match self.free.pop() {
            Some(id) => {
                self.nodes[id as usize] = node;
                id
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        };
        for i in 0..level {
            let (fwd, span) = self.node(update[i]).next[i];
            let behind = (rank[0] - rank[i]) as u32;
            self.node_mut(id).next[i] = (fwd, span - behind);
            self.node_mut(update[i]).next[i] = (id, behind + 1);
        }
        for (i, &u) in update.iter().enumerate().take(self.level).skip(level) {
            self.node_mut(u).next[i].1 += 1;
        }
        self.node_mut(id).backward = if update[0] == HEAD { NIL } else { update[0] };
        let fwd = self.node(id).next[0].0;
        if fwd != NIL {
            self.node_mut(fwd).backward = id;
        } else {
            self.tail = id;
        }
        id
    }

    /// Removes the node of (score, member) from the skiplist (not from the
    /// index).
    fn unlink(&mut self, score: f64, member: &[u8]) {
        let mut update = [HEAD; MAX_LEVEL];
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let fwd = self.node(x).next[i].0;
                if fwd != NIL && Self::less(self.node(fwd).score, &self.node(fwd).member, score, member) {
                    x = fwd;
                } else {
                    break;
                }
            }
            update[i] = x;
        }
        let target = self.node(x).next[0].0;
        if target == NIL || self.node(target).score != score || &self.node(target).member[..] != member {
            return;
        }
        for (i, &u) in update.iter().enumerate().take(self.level) {
            let (fwd, span) = self.node(u).next[i];
            if fwd == target {
                let (tfwd, tspan) = self.node(target).next[i];
                self.node_mut(u).next[i] = (tfwd, span + tspan - 1);
            } else {
                self.node_mut(u).next[i].1 = span - 1;
            }
        }
        let (fwd, back) = (self.node(target).next[0].0, self.node(target).backward);
        if fwd != NIL {
            self.node_mut(fwd).backward = back;
        } else {
            self.tail = back;
        }
        while self.level > 1 && self.node(HEAD).next[self.level - 1].0 == NIL {
            self.level -= 1;
        }
        let t = self.node_mut(target);
        t.member = Sds::new(b"");
        t.next = smallvec::SmallVec::new();
        self.free.push(target);
        if self.index.is_empty() {
            // Nothing left: drop the arena rather than keep a free list.
            self.nodes.truncate(1);
            self.free.clear();
        }
    }

    /// How many elements, from the lowest, satisfy `pred`; `pred` must hold
    /// for a prefix of the order and fail after (e.g. "score < min").
    pub fn count_while(&self, pred: impl Fn(f64, &[u8]) -> bool) -> usize {
        let mut x = HEAD;
        let mut traversed = 0usize;
        for i in (0..self.level).rev() {
            loop {
                let (fwd, span) = self.node(x).next[i];
                if fwd != NIL && pred(self.node(fwd).score, &self.node(fwd).member) {
                    traversed += span as usize;
                    x = fwd;
                } else {
                    break;
                }
            }
        }
        traversed
    }

    /// 0-based rank of a member in ascending order.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        let score = self.score(member)?;
        Some(self.count_while(|s, m| Self::less(s, m, score, member)))
    }

    fn node_at(&self, rank: usize) -> u32 {
        if rank >= self.len() {
            return NIL;
        }
        let want = rank + 1;
        let mut x = HEAD;
        let mut traversed = 0usize;
        for i in (0..self.level).rev() {
            loop {
                let (fwd, span) = self.node(x).next[i];
                if fwd != NIL && traversed + span as usize <= want {
                    traversed += span as usize;
                    x = fwd;
                } else {
                    break;
                }
            }
            if traversed == want {
                return x;
            }
        }
        NIL
    }

    /// The element at a 0-based ascending rank.
    pub fn get_by_rank(&self, rank: usize) -> Option<(&Sds, f64)> {
        let n = self.node_at(rank);
        (n != NIL).then(|| (&self.node(n).member, self.node(n).score))
    }

    /// Elements in ascending order, from `rank` on.
    pub fn iter_from(&self, rank: usize) -> Iter<'_> {
        Iter { z: self, cur: self.node_at(rank), rev: false }
    }

    /// Elements in descending order, from ascending `rank` down.
    pub fn iter_rev_from(&self, rank: usize) -> Iter<'_> {
        Iter { z: self, cur: self.node_at(rank), rev: true }
    }

    pub fn iter(&self) -> Iter<'_> {
        Iter { z: self, cur: self.node(HEAD).next[0].0, rev: false }
    }

    /// Members and scores of the ascending ranks `start..end`, owned (for
    /// removals).
    pub fn range_owned(&self, start: usize, end: usize) -> Vec<(Sds, f64)> {
        self.iter_from(start).take(end.saturating_sub(start)).map(|(m, s)| (m.clone(), s)).collect()
    }

    /// Removes the ascending ranks `start..end`; returns how many went.
    pub fn remove_range(&mut self, start: usize, end: usize) -> usize {
        let doomed = self.range_owned(start, end);
        for (m, _) in &doomed {
            self.remove(m);
        }
        doomed.len()
    }

    /// The element at a position of the member index (ZRANDMEMBER, ZSCAN).
    pub fn get_index(&self, pos: usize) -> Option<(&Sds, f64)> {
        self.index.get_index(pos).map(|(m, &n)| (m, self.node(n).score))
    }
}

/// In-order iteration over (member, score).
pub struct Iter<'a> {
    z: &'a ZSet,
    cur: u32,
    rev: bool,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a Sds, f64);

    fn next(&mut self) -> Option<Self::Item> {
        if self.cur == NIL {
            return None;
        }
        let n = self.z.node(self.cur);
        self.cur = if self.rev { n.backward } else { n.next[0].0 };
        Some((&n.member, n.score))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The naive model: a sorted vector of (score, member).
    fn model_sorted(m: &std::collections::BTreeMap<Vec<u8>, f64>) -> Vec<(f64, Vec<u8>)> {
        let mut v: Vec<(f64, Vec<u8>)> = m.iter().map(|(k, &s)| (s, k.clone())).collect();
        v.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal).then_with(|| a.1.cmp(&b.1)));
        v
    }

    #[test]
    fn random_operations_match_a_naive_model() {
        let mut rng = fastrand::Rng::with_seed(7);
        let mut z = ZSet::new();
        let mut model = std::collections::BTreeMap::new();
        for step in 0..20_000 {
            let member = format!("m{}", rng.usize(..300)).into_bytes();
            let score = [rng.i32(-20..20) as f64, f64::INFINITY, f64::NEG_INFINITY, rng.f64()][rng.usize(..4)];
            match rng.usize(..10) {
                0..=5 => {
                    let expected = match model.insert(member.clone(), score) {
                        None => AddResult::Added,
                        Some(old) if old == score => AddResult::Unchanged,
                        Some(_) => AddResult::Updated,
                    };
                    assert_eq!(z.add(&member, score), expected);
                }
                6..=7 => assert_eq!(z.remove(&member), model.remove(&member)),
                8 => {
                    let sorted = model_sorted(&model);
                    let start = rng.usize(..sorted.len() + 2);
                    let end = rng.usize(start..sorted.len() + 3).min(start + 5);
                    let removed = z.remove_range(start, end);
                    let expect: Vec<_> = sorted.iter().skip(start).take(end - start).collect();
                    assert_eq!(removed, expect.len());
                    for (_, m) in expect {
                        model.remove(m);
                    }
                }
                _ => {
                    let sorted = model_sorted(&model);
                    let limit = rng.i32(-20..20) as f64;
                    assert_eq!(z.count_while(|s, _| s < limit), sorted.iter().filter(|e| e.0 < limit).count());
                }
            }
            assert_eq!(z.len(), model.len());
            if step % 97 == 0 {
                let sorted = model_sorted(&model);
                let got: Vec<(f64, Vec<u8>)> = z.iter().map(|(m, s)| (s, m.to_vec())).collect();
                assert_eq!(got, sorted);
                let back: Vec<(f64, Vec<u8>)> =
                    z.iter_rev_from(z.len().saturating_sub(1)).map(|(m, s)| (s, m.to_vec())).collect();
                assert_eq!(back, sorted.iter().rev().cloned().collect::<Vec<_>>());
                for (r, (s, m)) in sorted.iter().enumerate() {
                    assert_eq!(z.rank(m), Some(r));
                    assert_eq!(z.score(m), Some(*s));
                    let (gm, gs) = z.get_by_rank(r).expect("rank in range");
                    assert_eq!((&gm[..], gs), (&m[..], *s));
                }
                assert!(z.get_by_rank(sorted.len()).is_none());
            }
        }
    }

    #[test]
    fn emptied_set_releases_its_arena() {
        let mut z = ZSet::new();
        for i in 0..100 {
            z.add(format!("{i}").as_bytes(), i as f64);
        }
        for i in 0..100 {
            assert_eq!(z.remove(format!("{i}").as_bytes()), Some(i as f64));
        }
        assert!(z.is_empty());
        assert_eq!(z.nodes.len(), 1);
        assert_eq!(z.iter().count(), 0);
        z.add(b"a", 1.0);
        assert_eq!(z.get_by_rank(0).map(|(m, s)| (m.to_vec(), s)), Some((b"a".to_vec(), 1.0)));
    }
}
