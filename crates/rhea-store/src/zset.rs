//! The sorted set type.
//!
//! A set within Redis's listpack thresholds is one sorted vector of
//! (score, member) pairs, searched linearly as Redis searches a listpack.
//! Past them, members are ordered by (score, member bytes) in an
//! order-statistic B+tree (`ranktree`: rank queries and rank-addressed
//! ranges are O(log n)), beside a member index that maps each member to its
//! score, as Redis's dict beside its skiplist does.
//!
//! The member index is an `IndexMap` so that everything that depends on
//! its order (ZSCAN cursors, ZRANDMEMBER picks) is a function of the
//! sequence of operations only, as replication requires. ZSCAN walks its
//! positions downwards: removal moves the last entry into the hole, so an
//! element present for a whole scan is always returned. A listpack's index
//! is its order.

use std::fmt;

use ahash::RandomState;
use indexmap::map::Entry;
use indexmap::IndexMap;

use crate::ranktree::{self, precedes, RankTree};
use crate::sds::Sds;

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
    repr: Repr,
}

/// The storage follows the encoding OBJECT ENCODING reports, which the
/// command layer switches with Redis's rules (thresholds, conversions on
/// store).
#[derive(Clone)]
enum Repr {
    /// "listpack": the pairs in order in one vector, members found by a
    /// scan as in Redis's listpack. Small sets are most sets, and a tree
    /// and a hash index cost them ~1 KB each where this costs 32 bytes a
    /// member.
    Small(Vec<(f64, Sds)>),
    /// "skiplist": the tree and a member -> score index.
    Large(Box<Large>),
}

#[derive(Clone)]
struct Large {
    tree: RankTree,
    index: IndexMap<Sds, f64, RandomState>,
}

impl Large {
    /// A set holding the pairs of `sorted`, in order; the member index
    /// takes them in that order too.
    fn from_sorted(sorted: Vec<(f64, Sds)>) -> Large {
        let mut l = Large { tree: RankTree::new(), index: IndexMap::default() };
        l.index.reserve(sorted.len());
        for (score, member) in sorted {
            l.index.insert(member.clone(), score);
            l.tree.insert(score, member);
        }
        l
    }
}

/// Where `member` is in a listpack's vector: a scan, as in a listpack.
fn position(v: &[(f64, Sds)], member: &[u8]) -> Option<usize> {
    v.iter().position(|(_, m)| &m[..] == member)
}

/// A score as a listpack keeps it: written as text, -0 comes back as 0.
fn listpack_score(s: f64) -> f64 {
    if s == 0.0 {
        0.0
    } else {
        s
    }
}

impl Default for ZSet {
    fn default() -> Self {
        ZSet::new()
    }
}

impl PartialEq for ZSet {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self.is_listpack() == other.is_listpack()
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
        ZSet { repr: Repr::Small(Vec::new()) }
    }

    /// An empty set with the given encoding.
    pub fn with_encoding(listpack: bool) -> Self {
        let mut z = ZSet::new();
        z.set_listpack(listpack);
        z
    }

    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Small(v) => v.len(),
            Repr::Large(l) => l.index.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// What OBJECT ENCODING reports.
    pub fn encoding(&self) -> &'static str {
        if self.is_listpack() {
            "listpack"
        } else {
            "skiplist"
        }
    }

    pub fn is_listpack(&self) -> bool {
        matches!(self.repr, Repr::Small(_))
    }

    /// Switches the encoding, converting the storage. A listpack stores
    /// scores as text where -0 is written "0", so converting to one loses
    /// the sign of zero.
    pub fn set_listpack(&mut self, listpack: bool) {
        match (&mut self.repr, listpack) {
            (Repr::Large(l), true) => {
                let mut v: Vec<(f64, Sds)> = Vec::with_capacity(l.index.len());
                v.extend(l.tree.iter_at(0, false).map(|(m, s)| (listpack_score(s), m.clone())));
                self.repr = Repr::Small(v);
            }
            (Repr::Small(v), false) => {
                self.repr = Repr::Large(Box::new(Large::from_sorted(std::mem::take(v))));
            }
            _ => {}
        }
    }

    pub fn heap_size(&self) -> usize {
        match &self.repr {
            Repr::Small(v) => {
                v.capacity() * std::mem::size_of::<(f64, Sds)>() + v.iter().map(|(_, m)| m.heap_size()).sum::<usize>()
            }
            Repr::Large(l) => {
                std::mem::size_of::<Large>()
                    + l.tree.node_bytes()
                    + l.index.iter().map(|(m, _)| m.heap_size() * 2).sum::<usize>()
                    + l.index.len() * 40
            }
        }
    }

    /// Length of the longest member (for the encoding thresholds).
    pub fn max_member_len(&self) -> usize {
        self.iter().map(|(m, _)| m.len()).max().unwrap_or(0)
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match &self.repr {
            Repr::Small(v) => position(v, member).map(|i| v[i].0),
            Repr::Large(l) => l.index.get(member).copied(),
        }
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        self.score(member).is_some()
    }

    /// Inserts a member that is not present, or gives an existing one a new
    /// score.
    pub fn add(&mut self, member: &[u8], score: f64) -> AddResult {
        self.upsert(member, |_| Some(score))
    }

    /// Adds or updates `member` with the score `decide` picks from its
    /// current one (None if absent); `decide` returning None leaves the set
    /// as it is. The member is looked up once.
    pub fn upsert(&mut self, member: &[u8], decide: impl FnOnce(Option<f64>) -> Option<f64>) -> AddResult {
        match &mut self.repr {
            Repr::Small(v) => {
                let at = position(v, member);
                let old = at.map(|i| v[i].0);
                let Some(score) = decide(old).map(listpack_score) else {
                    return AddResult::Unchanged;
                };
                let (m, result) = match at {
                    Some(i) if v[i].0 == score => return AddResult::Unchanged,
                    Some(i) => (v.remove(i).1, AddResult::Updated),
                    None => (Sds::new(member), AddResult::Added),
                };
                let pos = v.partition_point(|(s, m)| precedes(*s, m, score, member));
                // Grown a pair at a time, as a listpack is (see Hash::set).
                v.reserve_exact(1);
                v.insert(pos, (score, m));
                result
            }
            Repr::Large(l) => match l.index.entry(Sds::new(member)) {
                Entry::Occupied(mut e) => {
                    let old = *e.get();
                    let Some(score) = decide(Some(old)) else {
                        return AddResult::Unchanged;
                    };
                    if old == score {
                        return AddResult::Unchanged;
                    }
                    // Always present: the index and the tree hold the same members.
                    let key = l.tree.remove(old, member).unwrap_or_else(|| e.key().clone());
                    l.tree.insert(score, key);
                    *e.get_mut() = score;
                    AddResult::Updated
                }
                Entry::Vacant(e) => {
                    let Some(score) = decide(None) else {
                        return AddResult::Unchanged;
                    };
                    l.tree.insert(score, e.key().clone());
                    e.insert(score);
                    AddResult::Added
                }
            },
        }
    }

    /// Removes a member; returns its score.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        match &mut self.repr {
            Repr::Small(v) => {
                let i = position(v, member)?;
                Some(v.remove(i).0)
            }
            Repr::Large(l) => {
                let score = l.index.swap_remove(member)?;
                l.tree.remove(score, member);
                Some(score)
            }
        }
    }

    /// How many elements, from the lowest, satisfy `pred`; `pred` must hold
    /// for a prefix of the order and fail after (e.g. "score < min").
    pub fn count_while(&self, pred: impl Fn(f64, &[u8]) -> bool) -> usize {
        match &self.repr {
            Repr::Small(v) => v.partition_point(|(s, m)| pred(*s, m)),
            Repr::Large(l) => l.tree.count_while(pred),
        }
    }

    /// 0-based rank of a member in ascending order.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        match &self.repr {
            Repr::Small(v) => position(v, member),
            Repr::Large(l) => {
                let score = *l.index.get(member)?;
                Some(l.tree.count_while(|s, m| precedes(s, m, score, member)))
            }
        }
    }

    /// The element at a 0-based ascending rank.
    pub fn get_by_rank(&self, rank: usize) -> Option<(&Sds, f64)> {
        match &self.repr {
            Repr::Small(v) => v.get(rank).map(|(s, m)| (m, *s)),
            Repr::Large(l) => l.tree.get(rank),
        }
    }

    /// Elements in ascending order, from `rank` on.
    pub fn iter_from(&self, rank: usize) -> Iter<'_> {
        self.iter_at(rank, false)
    }

    /// Elements in descending order, from ascending `rank` down.
    pub fn iter_rev_from(&self, rank: usize) -> Iter<'_> {
        self.iter_at(rank, true)
    }

    pub fn iter(&self) -> Iter<'_> {
        self.iter_at(0, false)
    }

    fn iter_at(&self, rank: usize, rev: bool) -> Iter<'_> {
        match &self.repr {
            Repr::Small(v) => Iter::Small { v, next: (rank < v.len()).then_some(rank), rev },
            Repr::Large(l) => Iter::Large(l.tree.iter_at(rank, rev)),
        }
    }

    /// Members and scores of the ascending ranks `start..end`, owned (for
    /// removals).
    pub fn range_owned(&self, start: usize, end: usize) -> Vec<(Sds, f64)> {
        self.iter_from(start).take(end.saturating_sub(start)).map(|(m, s)| (m.clone(), s)).collect()
    }

    /// Removes the ascending ranks `start..end`; returns how many went.
    pub fn remove_range(&mut self, start: usize, end: usize) -> usize {
        if let Repr::Small(v) = &mut self.repr {
            let end = end.min(v.len());
            let start = start.min(end);
            v.drain(start..end);
            return end - start;
        }
        let doomed = self.range_owned(start, end);
        for (m, _) in &doomed {
            self.remove(m);
        }
        doomed.len()
    }

    /// The element at a position of the member index (ZRANDMEMBER, ZSCAN):
    /// a listpack's index is its order.
    pub fn get_index(&self, pos: usize) -> Option<(&Sds, f64)> {
        match &self.repr {
            Repr::Small(v) => v.get(pos).map(|(s, m)| (m, *s)),
            Repr::Large(l) => l.index.get_index(pos).map(|(m, &s)| (m, s)),
        }
    }
}

/// In-order iteration over (member, score).
pub enum Iter<'a> {
    Small { v: &'a [(f64, Sds)], next: Option<usize>, rev: bool },
    Large(ranktree::Iter<'a>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a Sds, f64);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Iter::Small { v, next, rev } => {
                let i = (*next)?;
                let (score, member) = v.get(i)?;
                *next = if *rev { i.checked_sub(1) } else { Some(i + 1).filter(|&j| j < v.len()) };
                Some((member, *score))
            }
            Iter::Large(it) => it.next(),
        }
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
        for listpack in [false, true] {
            random_operations_match_a_naive_model_in(listpack);
        }
    }

    fn random_operations_match_a_naive_model_in(listpack: bool) {
        let mut rng = fastrand::Rng::with_seed(7);
        let mut z = ZSet::with_encoding(listpack);
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
    fn large_sets_keep_order_and_ranks() {
        // Enough members for several tree levels, with updates and removals
        // that move members between leaves and merge them.
        let mut z = ZSet::with_encoding(false);
        for i in 0..5000u32 {
            z.add(format!("m{i}").as_bytes(), f64::from((i * 7919) % 1000));
        }
        for i in (0..5000u32).step_by(3) {
            assert_eq!(z.add(format!("m{i}").as_bytes(), f64::from(1000 + i % 17)), AddResult::Updated);
        }
        for i in (0..5000u32).step_by(5) {
            assert!(z.remove(format!("m{i}").as_bytes()).is_some());
        }
        let Repr::Large(l) = &z.repr else { panic!("a listpack") };
        l.tree.check();
        let all: Vec<(f64, Vec<u8>)> = z.iter().map(|(m, s)| (s, m.to_vec())).collect();
        assert_eq!(all.len(), z.len());
        assert!(all.windows(2).all(|w| w[0].0 < w[1].0 || (w[0].0 == w[1].0 && w[0].1 < w[1].1)));
        for (r, (s, m)) in all.iter().enumerate().step_by(37) {
            assert_eq!(z.rank(m), Some(r));
            assert_eq!(z.score(m), Some(*s));
            assert_eq!(z.get_by_rank(r).map(|(gm, gs)| (gm.to_vec(), gs)), Some((m.clone(), *s)));
        }
    }

    #[test]
    fn emptied_set_releases_its_arena() {
        let mut z = ZSet::with_encoding(false);
        for i in 0..100 {
            z.add(format!("{i}").as_bytes(), i as f64);
        }
        for i in 0..100 {
            assert_eq!(z.remove(format!("{i}").as_bytes()), Some(i as f64));
        }
        assert!(z.is_empty());
        let Repr::Large(l) = &z.repr else { panic!("a listpack") };
        assert_eq!(l.tree.node_bytes(), RankTree::new().node_bytes());
        assert_eq!(z.iter().count(), 0);
        z.add(b"a", 1.0);
        assert_eq!(z.get_by_rank(0).map(|(m, s)| (m.to_vec(), s)), Some((b"a".to_vec(), 1.0)));
    }

    #[test]
    fn conversions_keep_every_member_and_listpacks_drop_negative_zero() {
        let mut z = ZSet::with_encoding(false);
        for i in 0..300u32 {
            z.add(format!("m{}", (i * 7) % 300).as_bytes(), f64::from(i % 13) - 6.0);
        }
        z.add(b"negzero", -0.0);
        let before: Vec<(Vec<u8>, f64)> = z.iter().map(|(m, s)| (m.to_vec(), s)).collect();
        assert!(z.score(b"negzero").is_some_and(|s| s.is_sign_negative()));
        z.set_listpack(true);
        assert!(z.is_listpack());
        let small: Vec<(Vec<u8>, f64)> = z.iter().map(|(m, s)| (m.to_vec(), s)).collect();
        assert_eq!(small, before);
        assert!(z.score(b"negzero").is_some_and(|s| s.is_sign_positive()));
        for (r, (m, _)) in before.iter().enumerate().step_by(17) {
            assert_eq!(z.rank(m), Some(r));
            assert_eq!(z.get_index(r).map(|(gm, _)| gm.to_vec()), Some(m.clone()));
        }
        z.set_listpack(false);
        assert!(!z.is_listpack());
        let back: Vec<(Vec<u8>, f64)> = z.iter().map(|(m, s)| (m.to_vec(), s)).collect();
        assert_eq!(back, small);
        assert_eq!(z.len(), 301);
        assert_eq!(z.remove_range(10, 20), 10);
        assert_eq!(z.len(), 291);
    }

    /// A small set costs a few hundred bytes, not a tree and a hash index.
    #[test]
    fn small_sets_stay_small() {
        let mut z = ZSet::new();
        for (i, m) in [&b"a"[..], b"b", b"c", b"d", b"e"].into_iter().enumerate() {
            z.add(m, i as f64);
        }
        assert_eq!(z.heap_size(), 5 * std::mem::size_of::<(f64, Sds)>());
        assert!(std::mem::size_of::<ZSet>() <= 32);
    }
}
