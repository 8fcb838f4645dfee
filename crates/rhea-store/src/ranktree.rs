//! The ordered half of a sorted set: an order-statistic B+tree of
//! (score, member) pairs.
//!
//! Redis keeps this order in a skiplist, and so did Rhea until a set of
//! 100,000 members showed where a ZADD's time goes: a skiplist search is
//! a chain of ~25 dependent loads, one node each, nearly all of them cache
//! misses once the set outgrows the cache. Here a search reads three inner
//! nodes and one leaf for such a set, scanning each one's keys in
//! contiguous memory, and the upper levels are few enough to stay cached
//! (Dragonfly made the same move for the same reason).
//!
//! Each inner node keeps its children's element counts, so rank queries
//! and rank-addressed ranges stay O(log n). Leaves are chained both ways
//! for in-order walks. Nodes live in arenas addressed by `u32`, which keeps
//! the structure in safe Rust. A set that fits in one leaf is just that
//! leaf, a vector that grows with it, so small sets stay small.
//!
//! The shape depends only on the sequence of operations (nothing is
//! random), which replication and snapshots rely on no more than they did
//! on the skiplist's seeded levels: the shape never shows in a reply.

use crate::sds::Sds;

pub(crate) const NIL: u32 = u32::MAX;
/// Entries a leaf holds at most; a leaf of 32 is 1 KB, about the size at
/// which a binary search in it still costs fewer misses than another level.
const LEAF_CAP: usize = 32;
/// Children an inner node holds at most.
const FAN: usize = 32;
/// Below these a node is merged with or refilled from a sibling. A quarter
/// rather than a half leaves room between the split and merge points, so a
/// set that grows and shrinks around one size does not churn.
const LEAF_MIN: usize = LEAF_CAP / 4;
const INNER_MIN: usize = FAN / 4;
/// Inner levels at most: every inner node but the root has at least
/// INNER_MIN children, so 16 levels hold far more than u32 counts can.
const MAX_HEIGHT: usize = 16;

/// Does (a, am) sort before (b, bm)? Scores never are NaN.
#[inline]
pub(crate) fn precedes(a: f64, am: &[u8], b: f64, bm: &[u8]) -> bool {
    a < b || (a == b && am < bm)
}

fn empty() -> Sds {
    Sds::new(b"")
}

/// Inserts `v` at `i` of the first `len` elements of `a` (which has room
/// for one more), shifting the rest up.
fn put<T>(a: &mut [T], len: usize, i: usize, v: T) {
    a[i..=len].rotate_right(1);
    a[i] = v;
}

#[derive(Clone)]
struct Leaf {
    entries: Vec<(f64, Sds)>,
    prev: u32,
    next: u32,
}

impl Leaf {
    fn empty() -> Self {
        Leaf { entries: Vec::new(), prev: NIL, next: NIL }
    }
}

/// Child i holds the keys from separator i (inclusive) to separator i + 1
/// (exclusive); separator 0 is never read. A separator is a key that sorted
/// first in its child when it was set, which need not still be in the set:
/// every key of child i is >= separator i and < separator i + 1.
#[derive(Clone)]
struct Inner {
    len: usize,
    scores: [f64; FAN + 1],
    members: [Sds; FAN + 1],
    counts: [u32; FAN + 1],
    children: [u32; FAN + 1],
}

impl Inner {
    fn new() -> Self {
        Inner {
            len: 0,
            scores: [0.0; FAN + 1],
            members: std::array::from_fn(|_| empty()),
            counts: [0; FAN + 1],
            children: [NIL; FAN + 1],
        }
    }

    /// The child whose range holds (score, member): the last one whose
    /// separator does not sort after it.
    #[inline]
    fn child_for(&self, score: f64, member: &[u8]) -> usize {
        let mut i = 1;
        while i < self.len && !precedes(score, member, self.scores[i], &self.members[i]) {
            i += 1;
        }
        i - 1
    }

    fn total(&self) -> u32 {
        self.counts[..self.len].iter().sum()
    }

    /// Removes child `i` (with its separator and count).
    fn remove_child(&mut self, i: usize) {
        let len = self.len;
        self.children[i..len].rotate_left(1);
        self.counts[i..len].rotate_left(1);
        self.scores[i..len].rotate_left(1);
        self.members[i..len].rotate_left(1);
        self.members[len - 1] = empty();
        self.len -= 1;
    }

    /// Inserts a child at `i` with its separator and count.
    fn insert_child(&mut self, i: usize, child: u32, count: u32, score: f64, member: Sds) {
        let len = self.len;
        put(&mut self.children, len, i, child);
        put(&mut self.counts, len, i, count);
        put(&mut self.scores, len, i, score);
        put(&mut self.members, len, i, member);
        self.len += 1;
    }

    fn take_separator(&mut self, i: usize) -> (f64, Sds) {
        (self.scores[i], std::mem::replace(&mut self.members[i], empty()))
    }

    fn set_separator(&mut self, i: usize, (score, member): (f64, Sds)) {
        self.scores[i] = score;
        self.members[i] = member;
    }
}

/// Where a node of `len` elements that has just taken one at `at` splits:
/// in the middle, but when the new one is its last (or first), as when
/// scores are timestamps, the side that keeps growing gets only `min`
/// elements, so the nodes such a set leaves behind stay three quarters
/// full instead of half.
fn split_point(len: usize, at: usize, min: usize) -> usize {
    if at + 1 == len {
        len - min
    } else if at == 0 {
        min
    } else {
        len / 2
    }
}

/// Two distinct elements of a slice, both mutable.
fn two_mut<T>(v: &mut [T], a: usize, b: usize) -> (&mut T, &mut T) {
    debug_assert!(a != b);
    if a < b {
        let (x, y) = v.split_at_mut(b);
        (&mut x[a], &mut y[0])
    } else {
        let (x, y) = v.split_at_mut(a);
        (&mut y[0], &mut x[b])
    }
}

type Path = [(u32, usize); MAX_HEIGHT];

#[derive(Clone)]
pub(crate) struct RankTree {
    leaves: Vec<Leaf>,
    inners: Vec<Inner>,
    free_leaves: Vec<u32>,
    free_inners: Vec<u32>,
    root: u32,
    /// Inner levels above the leaves (0: the root is a leaf).
    height: usize,
    len: usize,
}

impl RankTree {
    pub(crate) fn new() -> Self {
        RankTree {
            leaves: vec![Leaf::empty()],
            inners: Vec::new(),
            free_leaves: Vec::new(),
            free_inners: Vec::new(),
            root: 0,
            height: 0,
            len: 0,
        }
    }

    /// Bytes of heap held by the nodes (not counting the members' own).
    pub(crate) fn node_bytes(&self) -> usize {
        self.leaves.iter().map(|l| l.entries.capacity() * std::mem::size_of::<(f64, Sds)>()).sum::<usize>()
            + self.leaves.capacity() * std::mem::size_of::<Leaf>()
            + self.inners.capacity() * std::mem::size_of::<Inner>()
    }

    fn alloc_leaf(&mut self, leaf: Leaf) -> u32 {
        match self.free_leaves.pop() {
            Some(id) => {
                self.leaves[id as usize] = leaf;
                id
            }
            None => {
                self.leaves.push(leaf);
                (self.leaves.len() - 1) as u32
            }
        }
    }

    fn free_leaf(&mut self, id: u32) {
        self.leaves[id as usize] = Leaf::empty();
        self.free_leaves.push(id);
    }

    fn alloc_inner(&mut self) -> u32 {
        match self.free_inners.pop() {
            Some(id) => id,
            None => {
                self.inners.push(Inner::new());
                (self.inners.len() - 1) as u32
            }
        }
    }

    fn free_inner(&mut self, id: u32) {
        let n = &mut self.inners[id as usize];
        for m in &mut n.members[..n.len] {
            *m = empty();
        }
        n.len = 0;
        self.free_inners.push(id);
    }

    /// Inserts (score, member), which must not be present.
    pub(crate) fn insert(&mut self, score: f64, member: Sds) {
        let mut path: Path = [(NIL, 0); MAX_HEIGHT];
        let mut node = self.root;
        for step in path.iter_mut().take(self.height) {
            let n = &mut self.inners[node as usize];
            let i = n.child_for(score, &member);
            n.counts[i] += 1;
            *step = (node, i);
            node = n.children[i];
        }
        let leaf = &mut self.leaves[node as usize].entries;
        let pos = leaf.partition_point(|(s, m)| precedes(*s, m, score, &member));
        leaf.insert(pos, (score, member));
        self.len += 1;
        if leaf.len() > LEAF_CAP {
            self.split_leaf(node, pos, &path[..self.height]);
        }
    }

    fn split_leaf(&mut self, id: u32, at: usize, path: &[(u32, usize)]) {
        let left = &mut self.leaves[id as usize];
        let mid = split_point(left.entries.len(), at, LEAF_MIN);
        let mut entries = Vec::with_capacity(LEAF_CAP + 1);
        entries.extend(left.entries.drain(mid..));
        // A root leaf grew by doubling; a split leaf needs no more than this.
        left.entries.shrink_to(LEAF_CAP + 1);
        let next = left.next;
        let separator = (entries[0].0, entries[0].1.clone());
        let (lc, rc) = (left.entries.len() as u32, entries.len() as u32);
        let right = self.alloc_leaf(Leaf { entries, prev: id, next });
        self.leaves[id as usize].next = right;
        if next != NIL {
            self.leaves[next as usize].prev = right;
        }
        self.add_child(path, separator, id, right, lc, rc);
    }

    /// `left` (whose ancestors are `path`) has been split: `right`, holding
    /// the keys from `separator` on, goes in right after it.
    fn add_child(&mut self, path: &[(u32, usize)], separator: (f64, Sds), left: u32, right: u32, lc: u32, rc: u32) {
        match path.split_last() {
            None => {
                let root = self.alloc_inner();
                let n = &mut self.inners[root as usize];
                n.len = 2;
                n.children[..2].copy_from_slice(&[left, right]);
                n.counts[..2].copy_from_slice(&[lc, rc]);
                n.set_separator(1, separator);
                self.root = root;
                self.height += 1;
            }
            Some((&(parent, i), rest)) => {
                let n = &mut self.inners[parent as usize];
                n.counts[i] = lc;
                n.insert_child(i + 1, right, rc, separator.0, separator.1);
                if n.len > FAN {
                    self.split_inner(parent, i + 1, rest);
                }
            }
        }
    }

    fn split_inner(&mut self, id: u32, at: usize, path: &[(u32, usize)]) {
        let right = self.alloc_inner();
        let (l, r) = two_mut(&mut self.inners, id as usize, right as usize);
        let mid = split_point(l.len, at, INNER_MIN);
        let moved = l.len - mid;
        r.children[..moved].copy_from_slice(&l.children[mid..l.len]);
        r.counts[..moved].copy_from_slice(&l.counts[mid..l.len]);
        r.scores[..moved].copy_from_slice(&l.scores[mid..l.len]);
        for (to, from) in r.members[..moved].iter_mut().zip(&mut l.members[mid..l.len]) {
            *to = std::mem::replace(from, empty());
        }
        r.len = moved;
        l.len = mid;
        // The right node's first separator moves up; in it, it is unused.
        let separator = r.take_separator(0);
        let (lc, rc) = (l.total(), r.total());
        self.add_child(path, separator, id, right, lc, rc);
    }

    /// Removes (score, member); returns the member, None if absent.
    pub(crate) fn remove(&mut self, score: f64, member: &[u8]) -> Option<Sds> {
        let mut path: Path = [(NIL, 0); MAX_HEIGHT];
        let mut node = self.root;
        for step in path.iter_mut().take(self.height) {
            let n = &self.inners[node as usize];
            let i = n.child_for(score, member);
            *step = (node, i);
            node = n.children[i];
        }
        let leaf = &mut self.leaves[node as usize].entries;
        let pos = leaf.partition_point(|(s, m)| precedes(*s, m, score, member));
        match leaf.get(pos) {
            Some((s, m)) if *s == score && &m[..] == member => {}
            _ => return None,
        }
        let (_, out) = leaf.remove(pos);
        let path = &path[..self.height];
        for &(n, i) in path {
            self.inners[n as usize].counts[i] -= 1;
        }
        self.len -= 1;
        if self.len == 0 {
            // Nothing left: drop the arenas rather than keep free lists.
            *self = RankTree::new();
        } else {
            self.rebalance_leaf(node, path);
        }
        Some(out)
    }

    /// Child `i` of `parent` and its neighbour (the right one if it has
    /// one), left to right: their positions and their nodes.
    fn siblings(&self, parent: u32, i: usize) -> (usize, usize, u32, u32) {
        let p = &self.inners[parent as usize];
        let (li, ri) = if i + 1 < p.len { (i, i + 1) } else { (i - 1, i) };
        (li, ri, p.children[li], p.children[ri])
    }

    /// Child `ri` of `parent` has been merged into child `li`: it leaves
    /// the parent, which may now be too small in turn.
    fn merged(&mut self, parent: u32, li: usize, ri: usize, rest: &[(u32, usize)]) {
        let p = &mut self.inners[parent as usize];
        p.counts[li] += p.counts[ri];
        p.remove_child(ri);
        self.rebalance_inner(parent, rest);
    }

    /// Refills or merges leaf `id` if a removal left it too small.
    fn rebalance_leaf(&mut self, id: u32, path: &[(u32, usize)]) {
        let Some((&(parent, i), rest)) = path.split_last() else { return };
        if self.leaves[id as usize].entries.len() >= LEAF_MIN {
            return;
        }
        let (li, ri, lid, rid) = self.siblings(parent, i);
        let (l, r) = two_mut(&mut self.leaves, lid as usize, rid as usize);
        let total = l.entries.len() + r.entries.len();
        if total <= LEAF_CAP {
            l.entries.append(&mut r.entries);
            l.next = r.next;
            let next = l.next;
            if next != NIL {
                self.leaves[next as usize].prev = lid;
            }
            self.free_leaf(rid);
            self.merged(parent, li, ri, rest);
            return;
        }
        let half = total / 2;
        if l.entries.len() < half {
            let n = half - l.entries.len();
            l.entries.extend(r.entries.drain(..n));
        } else {
            let n = l.entries.len() - half;
            let at = l.entries.len() - n;
            r.entries.splice(..0, l.entries.drain(at..));
        }
        let (lc, rc) = (l.entries.len() as u32, r.entries.len() as u32);
        let separator = (r.entries[0].0, r.entries[0].1.clone());
        let p = &mut self.inners[parent as usize];
        p.counts[li] = lc;
        p.counts[ri] = rc;
        p.set_separator(ri, separator);
    }

    /// Refills or merges inner node `id` if it lost a child and is now too
    /// small; a root left with one child gives way to it.
    fn rebalance_inner(&mut self, id: u32, path: &[(u32, usize)]) {
        let Some((&(parent, i), rest)) = path.split_last() else {
            if self.inners[id as usize].len == 1 {
                self.root = self.inners[id as usize].children[0];
                self.free_inner(id);
                self.height -= 1;
            }
            return;
        };
        if self.inners[id as usize].len >= INNER_MIN {
            return;
        }
        let (li, ri, lid, rid) = self.siblings(parent, i);
        let total = self.inners[lid as usize].len + self.inners[rid as usize].len;
        if total <= FAN {
            // The parent's separator comes down as the one of the right
            // node's first child.
            let separator = self.inners[parent as usize].take_separator(ri);
            let (l, r) = two_mut(&mut self.inners, lid as usize, rid as usize);
            let (at, n) = (l.len, r.len);
            l.children[at..at + n].copy_from_slice(&r.children[..n]);
            l.counts[at..at + n].copy_from_slice(&r.counts[..n]);
            l.scores[at..at + n].copy_from_slice(&r.scores[..n]);
            for (to, from) in l.members[at..at + n].iter_mut().zip(&mut r.members[..n]) {
                *to = std::mem::replace(from, empty());
            }
            l.len += n;
            l.set_separator(at, separator);
            r.len = 0;
            self.free_inner(rid);
            self.merged(parent, li, ri, rest);
            return;
        }
        // Rotate children through the parent's separator until even.
        let half = total / 2;
        while self.inners[lid as usize].len < half {
            let down = self.inners[parent as usize].take_separator(ri);
            let (l, r) = two_mut(&mut self.inners, lid as usize, rid as usize);
            let (child, count) = (r.children[0], r.counts[0]);
            let up = r.take_separator(1);
            r.remove_child(0);
            l.insert_child(l.len, child, count, down.0, down.1);
            let p = &mut self.inners[parent as usize];
            p.set_separator(ri, up);
            p.counts[li] += count;
            p.counts[ri] -= count;
        }
        while self.inners[lid as usize].len > half {
            let down = self.inners[parent as usize].take_separator(ri);
            let (l, r) = two_mut(&mut self.inners, lid as usize, rid as usize);
            let last = l.len - 1;
            let (child, count) = (l.children[last], l.counts[last]);
            let up = l.take_separator(last);
            l.remove_child(last);
            r.insert_child(0, child, count, 0.0, empty());
            r.set_separator(1, down);
            let p = &mut self.inners[parent as usize];
            p.set_separator(ri, up);
            p.counts[li] -= count;
            p.counts[ri] += count;
        }
    }

    /// How many elements, from the lowest, satisfy `pred`; `pred` must hold
    /// for a prefix of the order of all keys and fail after.
    pub(crate) fn count_while(&self, pred: impl Fn(f64, &[u8]) -> bool) -> usize {
        let mut node = self.root;
        let mut before = 0usize;
        for _ in 0..self.height {
            let n = &self.inners[node as usize];
            let mut i = 1;
            while i < n.len && pred(n.scores[i], &n.members[i]) {
                i += 1;
            }
            before += n.counts[..i - 1].iter().map(|&c| c as usize).sum::<usize>();
            node = n.children[i - 1];
        }
        before + self.leaves[node as usize].entries.partition_point(|(s, m)| pred(*s, m))
    }

    /// The leaf and position of the element at a 0-based rank, None past
    /// the end.
    fn locate(&self, rank: usize) -> Option<(u32, usize)> {
        if rank >= self.len {
            return None;
        }
        let mut rest = rank;
        let mut node = self.root;
        for _ in 0..self.height {
            let n = &self.inners[node as usize];
            let mut i = 0;
            while i + 1 < n.len && rest >= n.counts[i] as usize {
                rest -= n.counts[i] as usize;
                i += 1;
            }
            node = n.children[i];
        }
        Some((node, rest))
    }

    pub(crate) fn get(&self, rank: usize) -> Option<(&Sds, f64)> {
        let (leaf, pos) = self.locate(rank)?;
        self.leaves[leaf as usize].entries.get(pos).map(|(s, m)| (m, *s))
    }

    /// Elements in ascending (or, with `rev`, descending) order, from the
    /// ascending rank `rank` on.
    pub(crate) fn iter_at(&self, rank: usize, rev: bool) -> Iter<'_> {
        let (leaf, pos) = self.locate(rank).unwrap_or((NIL, 0));
        Iter { tree: self, leaf, pos, rev }
    }

    /// Checks every structural invariant; for tests.
    #[cfg(test)]
    pub(crate) fn check(&self) {
        fn walk(t: &RankTree, node: u32, depth: usize, lo: Option<(f64, &[u8])>, leaves: &mut Vec<u32>) -> usize {
            if depth == t.height {
                let e = &t.leaves[node as usize].entries;
                assert!(node == t.root || e.len() >= LEAF_MIN, "leaf of {} entries", e.len());
                assert!(e.len() <= LEAF_CAP);
                assert!(e.windows(2).all(|w| precedes(w[0].0, &w[0].1, w[1].0, &w[1].1)));
                if let (Some((s, m)), Some(first)) = (lo, e.first()) {
                    assert!(!precedes(first.0, &first.1, s, m), "a key below its separator");
                }
                leaves.push(node);
                return e.len();
            }
            let n = &t.inners[node as usize];
            assert!(n.len >= if node == t.root { 2 } else { INNER_MIN } && n.len <= FAN);
            let mut sum = 0;
            for i in 0..n.len {
                let bound = if i == 0 { lo } else { Some((n.scores[i], &n.members[i][..])) };
                let c = walk(t, n.children[i], depth + 1, bound, leaves);
                assert_eq!(c, n.counts[i] as usize);
                sum += c;
            }
            sum
        }
        let mut leaves = Vec::new();
        assert_eq!(walk(self, self.root, 0, None, &mut leaves), self.len);
        for (k, w) in leaves.iter().enumerate() {
            let l = &self.leaves[*w as usize];
            assert_eq!(l.prev, if k == 0 { NIL } else { leaves[k - 1] });
            assert_eq!(l.next, leaves.get(k + 1).copied().unwrap_or(NIL));
        }
        let all: Vec<_> = self.iter_at(0, false).collect();
        assert!(all.windows(2).all(|w| precedes(w[0].1, w[0].0, w[1].1, w[1].0)));
        assert_eq!(all.len(), self.len);
    }
}

/// In-order iteration over (member, score).
pub struct Iter<'a> {
    tree: &'a RankTree,
    leaf: u32,
    pos: usize,
    rev: bool,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a Sds, f64);

    fn next(&mut self) -> Option<Self::Item> {
        let leaf = self.tree.leaves.get(self.leaf as usize)?;
        let (score, member) = leaf.entries.get(self.pos)?;
        if self.rev {
            if self.pos > 0 {
                self.pos -= 1;
            } else {
                self.leaf = leaf.prev;
                self.pos = self.tree.leaves.get(leaf.prev as usize).map_or(0, |l| l.entries.len().saturating_sub(1));
            }
        } else if self.pos + 1 < leaf.entries.len() {
            self.pos += 1;
        } else {
            self.leaf = leaf.next;
            self.pos = 0;
        }
        Some((member, *score))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// (score bits made orderable, member): the model's key.
    type Key = (i64, Vec<u8>);

    fn key(score: f64, member: &[u8]) -> Key {
        // Total order of non-NaN floats that agrees with `<` (and puts
        // -0 with 0, as the tree's comparisons do).
        let score = if score == 0.0 { 0.0 } else { score };
        let b = score.to_bits() as i64;
        (if b < 0 { b ^ i64::MAX } else { b }, member.to_vec())
    }

    fn score_of(k: &Key) -> f64 {
        let b = if k.0 < 0 { k.0 ^ i64::MAX } else { k.0 };
        f64::from_bits(b as u64)
    }

    /// Grows a tree to several levels, shrinks it to nothing and regrows
    /// it, checking every invariant and every rank against a model. The
    /// scores are drawn from few values, so separators often tie on score
    /// and the members decide.
    #[test]
    fn grows_and_shrinks_through_every_level_like_a_sorted_model() {
        for (seed, scores, members) in [(1u64, 7i32, 60_000usize), (2, 100_000, 60_000), (3, 1, 20_000)] {
            let mut rng = fastrand::Rng::with_seed(seed);
            let mut t = RankTree::new();
            let mut model: BTreeSet<Key> = BTreeSet::new();
            // The same keys in no order, to pick a random one to remove.
            let mut present: Vec<Key> = Vec::new();
            let mut max_height = 0;
            // Phases: insert-heavy, mixed, delete-heavy (to empty), regrow.
            for (phase, steps, p_insert) in [(0, 80_000, 90), (1, 40_000, 50), (2, 120_000, 5), (3, 30_000, 80)] {
                for step in 0..steps {
                    let member = format!("m{}", rng.usize(..members)).into_bytes();
                    let score = rng.i32(0..scores) as f64;
                    if rng.u32(..100) < p_insert {
                        let k = key(score, &member);
                        if model.insert(k.clone()) {
                            t.insert(score, Sds::new(&member));
                            present.push(k);
                        }
                    } else if !present.is_empty() {
                        let k = present.swap_remove(rng.usize(..present.len()));
                        model.remove(&k);
                        let got = t.remove(score_of(&k), &k.1);
                        assert_eq!(got.as_deref(), Some(&k.1[..]));
                    } else {
                        assert!(t.remove(score, &member).is_none());
                    }
                    assert_eq!(t.len, model.len());
                    max_height = max_height.max(t.height);
                    if step % 4999 == 0 {
                        t.check();
                        let sorted: Vec<Key> = model.iter().cloned().collect();
                        let all: Vec<Key> = t.iter_at(0, false).map(|(m, s)| key(s, m)).collect();
                        assert_eq!(all, sorted, "phase {phase}");
                        for r in (0..sorted.len()).step_by(211) {
                            let (m, s) = t.get(r).expect("rank in range");
                            assert_eq!(key(s, m), sorted[r]);
                            assert_eq!(t.count_while(|s2, m2| precedes(s2, m2, s, m)), r);
                            let back: Vec<Key> = t.iter_at(r, true).take(40).map(|(m, s)| key(s, m)).collect();
                            let want: Vec<Key> = sorted[..=r].iter().rev().take(40).cloned().collect();
                            assert_eq!(back, want);
                        }
                        assert!(t.get(sorted.len()).is_none());
                        assert_eq!(t.iter_at(sorted.len(), false).count(), 0);
                    }
                }
                if phase == 2 {
                    // Drain whatever is left, then it must be a bare leaf.
                    for k in std::mem::take(&mut present) {
                        model.remove(&k);
                        assert!(t.remove(score_of(&k), &k.1).is_some());
                    }
                    assert_eq!((t.len, t.height, t.leaves.len(), t.inners.len()), (0, 0, 1, 0));
                }
            }
            t.check();
            assert!(max_height >= 2, "seed {seed}: the tree never grew past one inner level");
        }
    }

    /// Scores that only grow (timestamps) or only shrink fill the nodes
    /// they leave behind to three quarters, not half.
    #[test]
    fn sequential_inserts_leave_full_nodes() {
        for descending in [false, true] {
            let mut t = RankTree::new();
            let n = 20_000;
            for i in 0..n {
                let v = if descending { n - i } else { i };
                t.insert(f64::from(v), Sds::new(format!("m{v}").as_bytes()));
            }
            t.check();
            let leaves = t.leaves.len() - t.free_leaves.len();
            assert!(leaves * (LEAF_CAP - LEAF_MIN) <= n as usize + LEAF_CAP, "{leaves} leaves for {n}");
            for i in (0..n).step_by(2) {
                let v = if descending { n - i } else { i };
                assert!(t.remove(f64::from(v), format!("m{v}").as_bytes()).is_some());
            }
            t.check();
            assert_eq!(t.get(0).map(|(m, _)| m.to_vec()), Some(b"m1".to_vec()));
        }
    }

    #[test]
    fn absent_keys_are_not_removed() {
        let mut t = RankTree::new();
        for i in 0..1000 {
            t.insert(f64::from(i), Sds::new(format!("m{i}").as_bytes()));
        }
        assert!(t.remove(5.0, b"m6").is_none());
        assert!(t.remove(5.5, b"m5").is_none());
        assert!(t.remove(1e9, b"zz").is_none());
        assert_eq!(t.len, 1000);
        t.check();
        assert_eq!(t.remove(5.0, b"m5").as_deref(), Some(&b"m5"[..]));
        t.check();
    }
}
