//! The bounded priority queue of requests waiting for an execution slot.
//!
//! Order: the seed's score (priority weight + 2 for interactive, − 1 for
//! batch), highest first, FIFO among equals — plus **aging**: every
//! `aging` interval a request has waited is worth one more point, so batch
//! work is never starved forever. Because every waiting request ages at the
//! same rate, comparing `score + waited / aging` at any instant is the same as
//! comparing `score × aging − enqueued_at`, a key that never changes: the
//! queue is an ordinary ordered map, no re-sorting as time passes.
//!
//! The queue only stores and orders; it does not decide admission and does
//! no I/O.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::config::{Priority, PriorityWeights};

/// The seed's priority score: weight of the class, +2 interactive, −1 batch.
pub fn score(weights: &PriorityWeights, priority: Priority, batch: bool) -> i64 {
    weights.weight(priority) + if batch { -1 } else { 2 }
}

/// Ordering key: higher `rank` first, then lower `seq` (FIFO).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    /// Negated rank so the map's first entry is the most important.
    neg_rank: i128,
    seq: u64,
}

/// A waiting entry.
#[derive(Debug)]
pub struct Waiting<T> {
    pub item: T,
    pub score: i64,
    pub enqueued_at_ms: u64,
}

/// A bounded priority queue with aging.
#[derive(Debug)]
pub struct PriorityQueue<T> {
    entries: BTreeMap<Key, Waiting<T>>,
    capacity: usize,
    aging_ms: u64,
    seq: u64,
}

impl<T> PriorityQueue<T> {
    /// An empty queue holding at most `capacity` entries; `aging` is the wait
    /// worth one priority point.
    pub fn new(capacity: usize, aging: Duration) -> Self {
        Self {
            entries: BTreeMap::new(),
            capacity,
            aging_ms: aging.as_millis().max(1) as u64,
            seq: 0,
        }
    }

    /// Number of waiting entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The maximum number of entries.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Changes the capacity (a config reload); entries above it stay queued.
    pub fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity;
    }

    /// Adds an entry; gives it back when the queue is full.
    pub fn push(&mut self, item: T, score: i64, now_ms: u64) -> Result<(), T> {
        if self.entries.len() >= self.capacity {
            return Err(item);
        }
        self.seq += 1;
        let rank = score as i128 * self.aging_ms as i128 - now_ms as i128;
        self.entries.insert(
            Key {
                neg_rank: -rank,
                seq: self.seq,
            },
            Waiting {
                item,
                score,
                enqueued_at_ms: now_ms,
            },
        );
        Ok(())
    }

    /// Removes the most important entry.
    pub fn pop(&mut self) -> Option<Waiting<T>> {
        self.entries.pop_first().map(|(_, w)| w)
    }

    /// Removes and returns every entry that has waited longer than `max_wait` at `now_ms`.
    pub fn drain_expired(&mut self, now_ms: u64, max_wait: Duration) -> Vec<Waiting<T>> {
        let Some(deadline_ms) = now_ms.checked_sub(max_wait.as_millis() as u64) else {
            return Vec::new();
        };
        let expired: Vec<Key> = self
            .entries
            .iter()
            .filter(|(_, w)| w.enqueued_at_ms < deadline_ms)
            .map(|(k, _)| *k)
            .collect();
        expired
            .into_iter()
            .filter_map(|k| self.entries.remove(&k))
            .collect()
    }

    /// Removes every entry.
    pub fn drain(&mut self) -> Vec<Waiting<T>> {
        std::mem::take(&mut self.entries).into_values().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weights() -> PriorityWeights {
        PriorityWeights {
            high: 10,
            normal: 5,
            low: 1,
        }
    }

    #[test]
    fn seed_scores() {
        let w = weights();
        assert_eq!(score(&w, Priority::High, false), 12);
        assert_eq!(score(&w, Priority::Normal, false), 7);
        assert_eq!(score(&w, Priority::Normal, true), 4);
        assert_eq!(score(&w, Priority::Low, true), 0);
    }

    #[test]
    fn highest_score_first_fifo_on_ties() {
        let mut q = PriorityQueue::new(10, Duration::from_secs(2));
        q.push("low", 1, 0).unwrap();
        q.push("high-a", 10, 0).unwrap();
        q.push("high-b", 10, 0).unwrap();
        let order: Vec<_> = std::iter::from_fn(|| q.pop().map(|w| w.item)).collect();
        assert_eq!(order, ["high-a", "high-b", "low"]);
    }

    #[test]
    fn aging_lets_old_batch_work_overtake_new_interactive_work() {
        let mut q = PriorityQueue::new(10, Duration::from_secs(2));
        q.push("batch", 0, 0).unwrap(); // low batch, waiting since t=0
        q.push("fresh-normal", 7, 13_000).unwrap(); // 6.5 points of waiting < 7
        assert_eq!(q.pop().unwrap().item, "fresh-normal");
        q.push("batch-2", 0, 13_000).unwrap();
        q.push("later-normal", 7, 15_000).unwrap(); // batch waited 7.5 points > 7
        assert_eq!(q.pop().unwrap().item, "batch");
    }

    #[test]
    fn bounded_and_expiring() {
        let mut q = PriorityQueue::new(2, Duration::from_secs(2));
        q.push(1, 5, 0).unwrap();
        q.push(2, 5, 100).unwrap();
        assert_eq!(q.push(3, 5, 200), Err(3));
        let expired: Vec<_> = q
            .drain_expired(150, Duration::from_millis(100))
            .into_iter()
            .map(|w| w.item)
            .collect();
        assert_eq!(expired, [1]);
        assert_eq!(q.len(), 1);
    }
}
