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
use indexmap::map::Entry;
use indexmap::IndexMap;

use crate::sds::Sds;

const NIL: u32 = u32::MAX;
const HEAD: u32 = 0;
const MAX_LEVEL: usize = 32;
/// Levels stored inside the node. With p = 1/4 a node has more than 3
/// with probability 1/64; those few tall nodes are also the ones every
/// search passes, so their side table stays in cache.
const INLINE_LEVELS: usize = 3;
/// Links of a tall node's slot in the side table: room for every level, so
/// a slot is found by multiplication (one load per hop, as a node's own
/// links) and its levels share cache lines. 232 bytes for one node in 64.
const TALL_LINKS: usize = MAX_LEVEL - INLINE_LEVELS;

/// (forward, span) of one level: span counts the nodes the link jumps
/// over, the target included.
type Link = (u32, u32);

/// A skiplist node in exactly one cache line: a search hop compares the
/// score (and, on equal scores, the member) of the next node and then
/// follows one of its links, all in the same line. The levels above
/// `INLINE_LEVELS` live in `SkipList::tall`.
#[derive(Clone)]
#[repr(align(64))]
struct Node {
    score: f64,
    backward: u32,
    /// Index in `SkipList::tall` of the levels from `INLINE_LEVELS` up, or
    /// NIL for a node with no more than `INLINE_LEVELS` levels.
    tall: u32,
    next: [Link; INLINE_LEVELS],
    member: Sds,
}

impl Node {
    fn new(member: Sds, score: f64, tall: u32) -> Self {
        Node { score, backward: NIL, tall, next: [(NIL, 0); INLINE_LEVELS], member }
    }

    /// Does this node sort before (score, member)? The member is only read
    /// when the scores tie.
    #[inline]
    fn precedes(&self, score: f64, member: &[u8]) -> bool {
        self.score < score || (self.score == score && self.member.as_bytes() < member)
    }
}

/// What `ZSet::add` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddResult {
    Added,
    Updated,
    Unchanged,
}

/// The skiplist half of a sorted set: nodes in an arena addressed by `u32`.
#[derive(Clone)]
struct SkipList {
    nodes: Vec<Node>,
    free: Vec<u32>,
    /// Upper levels of the tall nodes (and of the head): slot t is
    /// `tall[t * TALL_LINKS..][..TALL_LINKS]`; free slots are listed.
    tall: Vec<Link>,
    tall_free: Vec<u32>,
    tail: u32,
    level: usize,
    len: usize,
    /// State of the generator of node levels. It is part of the value so
    /// that the shape of the skiplist depends only on the operations; the
    /// shape never shows in replies, only in speed.
    seed: u64,
}

/// Members with their scores, ordered by (score, member).
#[derive(Clone)]
pub struct ZSet {
    list: SkipList,
    index: IndexMap<Sds, u32, RandomState>,
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

impl SkipList {
    fn new() -> Self {
        SkipList {
            nodes: vec![Node::new(Sds::new(b""), 0.0, 0)],
            free: Vec::new(),
            tall: vec![(NIL, 0); TALL_LINKS],
            tall_free: Vec::new(),
            tail: NIL,
            level: 1,
            len: 0,
            seed: 0x9E37_79B9_7F4A_7C15,
        }
    }

    fn node(&self, i: u32) -> &Node {
        &self.nodes[i as usize]
    }

    fn node_mut(&mut self, i: u32) -> &mut Node {
        &mut self.nodes[i as usize]
    }

    #[inline]
    fn link(&self, x: u32, i: usize) -> Link {
        let n = self.node(x);
        if i < INLINE_LEVELS {
            n.next[i]
        } else {
            self.tall[n.tall as usize * TALL_LINKS + i - INLINE_LEVELS]
        }
    }

    #[inline]
    fn link_mut(&mut self, x: u32, i: usize) -> &mut Link {
        let n = &mut self.nodes[x as usize];
        if i < INLINE_LEVELS {
            &mut n.next[i]
        } else {
            &mut self.tall[n.tall as usize * TALL_LINKS + i - INLINE_LEVELS]
        }
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

    /// A slot in `tall` for a tall node (its links are set by `insert`;
    /// the ones above its level are never read).
    fn alloc_tall(&mut self) -> u32 {
        match self.tall_free.pop() {
            Some(t) => t,
            None => {
                self.tall.resize(self.tall.len() + TALL_LINKS, (NIL, 0));
                (self.tall.len() / TALL_LINKS - 1) as u32
            }
        }
    }

    /// Inserts (score, member), which must not be present; returns its node.
    fn insert(&mut self, member: Sds, score: f64) -> u32 {
        let mut update = [HEAD; MAX_LEVEL];
        let mut rank = [0usize; MAX_LEVEL];
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            rank[i] = if i == self.level - 1 { 0 } else { rank[i + 1] };
            loop {
                let (fwd, span) = self.link(x, i);
                if fwd != NIL && self.node(fwd).precedes(score, &member) {
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
            let len = self.len as u32;
            for i in self.level..level {
                rank[i] = 0;
                update[i] = HEAD;
                self.link_mut(HEAD, i).1 = len;
            }
            self.level = level;
        }
        let tall = if level > INLINE_LEVELS { self.alloc_tall() } else { NIL };
        let node = Node::new(member, score, tall);
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
        for (i, &u) in update.iter().enumerate().take(level) {
            let (fwd, span) = self.link(u, i);
            let behind = (rank[0] - rank[i]) as u32;
            *self.link_mut(id, i) = (fwd, span - behind);
            *self.link_mut(u, i) = (id, behind + 1);
        }
        for (i, &u) in update.iter().enumerate().take(self.level).skip(level) {
            self.link_mut(u, i).1 += 1;
        }
        self.node_mut(id).backward = if update[0] == HEAD { NIL } else { update[0] };
        let fwd = self.node(id).next[0].0;
        if fwd != NIL {
            self.node_mut(fwd).backward = id;
        } else {
            self.tail = id;
        }
        self.len += 1;
        id
    }

    /// Removes the node of (score, member); returns its member (so that an
    /// update can re-insert it without a copy), None if it is not there.
    fn remove(&mut self, score: f64, member: &[u8]) -> Option<Sds> {
        let mut update = [HEAD; MAX_LEVEL];
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let fwd = self.link(x, i).0;
                if fwd != NIL && self.node(fwd).precedes(score, member) {
                    x = fwd;
                } else {
                    break;
                }
            }
            update[i] = x;
        }
        let target = self.node(x).next[0].0;
        if target == NIL || self.node(target).score != score || &self.node(target).member[..] != member {
            return None;
        }
        for (i, &u) in update.iter().enumerate().take(self.level) {
            let (fwd, span) = self.link(u, i);
            if fwd == target {
                let (tfwd, tspan) = self.link(target, i);
                *self.link_mut(u, i) = (tfwd, span + tspan - 1);
            } else {
                self.link_mut(u, i).1 = span - 1;
            }
        }
        let (fwd, back) = (self.node(target).next[0].0, self.node(target).backward);
        if fwd != NIL {
            self.node_mut(fwd).backward = back;
        } else {
            self.tail = back;
        }
        while self.level > 1 && self.link(HEAD, self.level - 1).0 == NIL {
            self.level -= 1;
        }
        let t = self.node_mut(target);
        let member = std::mem::replace(&mut t.member, Sds::new(b""));
        let tall = std::mem::replace(&mut t.tall, NIL);
        if tall != NIL {
            self.tall_free.push(tall);
        }
        self.free.push(target);
        self.len -= 1;
        if self.len == 0 {
            // Nothing left: drop the arena rather than keep free lists.
            self.nodes.truncate(1);
            self.free.clear();
            self.tall.truncate(TALL_LINKS);
            self.tall_free.clear();
        }
        Some(member)
    }

    /// How many elements, from the lowest, satisfy `pred`; `pred` must hold
    /// for a prefix of the order and fail after.
    fn count_while(&self, pred: impl Fn(f64, &[u8]) -> bool) -> usize {
        let mut x = HEAD;
        let mut traversed = 0usize;
        for i in (0..self.level).rev() {
            loop {
                let (fwd, span) = self.link(x, i);
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

    fn node_at(&self, rank: usize) -> u32 {
        if rank >= self.len {
            return NIL;
        }
        let want = rank + 1;
        let mut x = HEAD;
        let mut traversed = 0usize;
        for i in (0..self.level).rev() {
            loop {
                let (fwd, span) = self.link(x, i);
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
}

impl ZSet {
    pub fn new() -> Self {
        ZSet { list: SkipList::new(), index: IndexMap::default(), listpack: true }
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
        self.list.seed
    }

    pub(crate) fn set_level_seed(&mut self, seed: u64) {
        self.list.seed = seed;
    }

    /// Switches the reported encoding. A listpack stores scores as text
    /// where -0 is written "0", so converting to one loses the sign of zero.
    pub fn set_listpack(&mut self, listpack: bool) {
        if listpack && !self.listpack {
            for n in self.list.nodes.iter_mut().skip(1) {
                if n.score == 0.0 {
                    n.score = 0.0;
                }
            }
        }
        self.listpack = listpack;
    }

    pub fn heap_size(&self) -> usize {
        self.list.nodes.len() * std::mem::size_of::<Node>()
            + self.list.tall.len() * std::mem::size_of::<Link>()
            + self.list.nodes.iter().map(|n| n.member.heap_size() * 2).sum::<usize>()
            + self.index.len() * 40
    }

    /// Length of the longest member (for the encoding thresholds).
    pub fn max_member_len(&self) -> usize {
        self.index.keys().map(|k| k.len()).max().unwrap_or(0)
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.index.get(member).map(|&n| self.list.node(n).score)
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        self.index.contains_key(member)
    }

    /// Inserts a member that is not present, or gives an existing one a new
    /// score.
    pub fn add(&mut self, member: &[u8], score: f64) -> AddResult {
        self.upsert(member, |_| Some(score))
    }

    /// Adds or updates `member` with the score `decide` picks from its
    /// current one (None if absent); `decide` returning None leaves the set
    /// as it is. The member is hashed once.
    pub fn upsert(&mut self, member: &[u8], decide: impl FnOnce(Option<f64>) -> Option<f64>) -> AddResult {
        // Listpacks write -0 as "0" (see `set_listpack`).
        let listpack = self.listpack;
        let normal = |score: f64| if listpack && score == 0.0 { 0.0 } else { score };
        match self.index.entry(Sds::new(member)) {
            Entry::Occupied(mut e) => {
                let old = self.list.node(*e.get()).score;
                let Some(score) = decide(Some(old)).map(normal) else {
                    return AddResult::Unchanged;
                };
                if old == score {
                    return AddResult::Unchanged;
                }
                // Always present: the index and the list hold the same members.
                let key = self.list.remove(old, member).unwrap_or_else(|| e.key().clone());
                *e.get_mut() = self.list.insert(key, score);
                AddResult::Updated
            }
            Entry::Vacant(e) => {
                let Some(score) = decide(None).map(normal) else {
                    return AddResult::Unchanged;
                };
                let n = self.list.insert(e.key().clone(), score);
                e.insert(n);
                AddResult::Added
            }
        }
    }

    /// Removes a member; returns its score.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let n = self.index.swap_remove(member)?;
        let score = self.list.node(n).score;
        self.list.remove(score, member);
        Some(score)
    }

    fn less(a_score: f64, a_member: &[u8], score: f64, member: &[u8]) -> bool {
        a_score < score || (a_score == score && a_member < member)
    }

    /// How many elements, from the lowest, satisfy `pred`; `pred` must hold
    /// for a prefix of the order and fail after (e.g. "score < min").
    pub fn count_while(&self, pred: impl Fn(f64, &[u8]) -> bool) -> usize {
        self.list.count_while(pred)
    }

    /// 0-based rank of a member in ascending order.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        let score = self.score(member)?;
        Some(self.count_while(|s, m| Self::less(s, m, score, member)))
    }

    /// The element at a 0-based ascending rank.
    pub fn get_by_rank(&self, rank: usize) -> Option<(&Sds, f64)> {
        let n = self.list.node_at(rank);
        (n != NIL).then(|| (&self.list.node(n).member, self.list.node(n).score))
    }

    /// Elements in ascending order, from `rank` on.
    pub fn iter_from(&self, rank: usize) -> Iter<'_> {
        Iter { list: &self.list, cur: self.list.node_at(rank), rev: false }
    }

    /// Elements in descending order, from ascending `rank` down.
    pub fn iter_rev_from(&self, rank: usize) -> Iter<'_> {
        Iter { list: &self.list, cur: self.list.node_at(rank), rev: true }
    }

    pub fn iter(&self) -> Iter<'_> {
        Iter { list: &self.list, cur: self.list.node(HEAD).next[0].0, rev: false }
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
        self.index.get_index(pos).map(|(m, &n)| (m, self.list.node(n).score))
    }
}

/// In-order iteration over (member, score).
pub struct Iter<'a> {
    list: &'a SkipList,
    cur: u32,
    rev: bool,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a Sds, f64);

    fn next(&mut self) -> Option<Self::Item> {
        if self.cur == NIL {
            return None;
        }
        let n = self.list.node(self.cur);
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
            // Small integers (ties), infinities, near-equal scores, huge
            // ones and -0.
            let score = [
                rng.i32(-20..20) as f64,
                f64::INFINITY,
                f64::NEG_INFINITY,
                rng.f64(),
                1.0 + rng.f64() * 1e-9,
                [1e39, -1e39, f64::MAX, -f64::MAX, 1e300][rng.usize(..5)],
                -0.0,
            ][rng.usize(..7)];
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
    fn node_is_one_cache_line() {
        assert_eq!(std::mem::size_of::<Node>(), 64);
        assert_eq!(std::mem::align_of::<Node>(), 64);
    }

    #[test]
    fn tall_nodes_keep_order_and_ranks() {
        // Enough members for levels above INLINE_LEVELS (1 node in 64),
        // with updates and removals that recycle their side-table slots.
        let mut z = ZSet::new();
        for i in 0..5000u32 {
            z.add(format!("m{i}").as_bytes(), f64::from((i * 7919) % 1000));
        }
        assert!(z.list.tall.len() > 20 * TALL_LINKS);
        for i in (0..5000u32).step_by(3) {
            assert_eq!(z.add(format!("m{i}").as_bytes(), f64::from(1000 + i % 17)), AddResult::Updated);
        }
        for i in (0..5000u32).step_by(5) {
            assert!(z.remove(format!("m{i}").as_bytes()).is_some());
        }
        let all: Vec<(f64, Vec<u8>)> = z.iter().map(|(m, s)| (s, m.to_vec())).collect();
        assert_eq!(all.len(), z.len());
        assert!(all.windows(2).all(|w| w[0].0 < w[1].0 || (w[0].0 == w[1].0 && w[0].1 < w[1].1)));
        for (r, (s, m)) in all.iter().enumerate().step_by(37) {
            assert_eq!(z.rank(m), Some(r));
            assert_eq!(z.get_by_rank(r).map(|(gm, gs)| (gm.to_vec(), gs)), Some((m.clone(), *s)));
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
        assert_eq!(z.list.nodes.len(), 1);
        assert_eq!(z.iter().count(), 0);
        z.add(b"a", 1.0);
        assert_eq!(z.get_by_rank(0).map(|(m, s)| (m.to_vec(), s)), Some((b"a".to_vec(), 1.0)));
    }
}
