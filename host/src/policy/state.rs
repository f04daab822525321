//! The host-owned `state` capability: counters with expiry and reservation
//! pools, namespaced per slot. Policies reach it only through the WIT `state`
//! interface; because it lives here and not in a component, it survives a hot
//! swap, two instances of a policy share it, and it can later move to a store
//! shared by several gateways.

use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::bindings::tollgate::policy::state::{Host, PoolUsage};
use super::bindings::tollgate::policy::types;

/// Key of a counter or pool: (slot namespace, policy-chosen key).
type Key = (Arc<str>, String);

#[derive(Debug, Clone, Copy)]
struct Counter {
    value: i64,
    expires_at_ms: u64,
}

#[derive(Debug, Default)]
struct Pool {
    used: u64,
    reserved: u64,
    /// Open reservations by request id.
    reservations: HashMap<String, u64>,
}

#[derive(Default)]
struct Inner {
    counters: HashMap<Key, Counter>,
    pools: HashMap<Key, Pool>,
    /// Pools in which a request holds a reservation, so they can be released
    /// when the request ends without settling.
    by_request: HashMap<String, Vec<Key>>,
    /// Pools whose `used` changed since the last [`StateStore::take_dirty`].
    dirty: HashSet<Key>,
}

/// All policy state of one gateway. Every operation is atomic (one lock).
#[derive(Default)]
pub struct StateStore {
    inner: Mutex<Inner>,
}

/// A pool's usage and open reservations, for admin views and tests.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PoolSnapshot {
    pub namespace: String,
    pub pool: String,
    pub used: u64,
    pub reserved: u64,
    pub open_reservations: usize,
}

impl StateStore {
    /// A new, empty store.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Reads a counter (0 when absent or expired at `now_ms`).
    pub fn get(&self, ns: &Arc<str>, key: &str, now_ms: u64) -> i64 {
        let inner = self.inner.lock();
        live(inner.counters.get(&(ns.clone(), key.to_owned())), now_ms)
    }

    /// Adds `delta` unless the result would exceed `limit`.
    pub fn add(
        &self,
        ns: &Arc<str>,
        key: String,
        delta: i64,
        limit: Option<i64>,
        expires_at_ms: u64,
        now_ms: u64,
    ) -> Result<i64, i64> {
        let mut inner = self.inner.lock();
        let entry = inner.counters.entry((ns.clone(), key)).or_insert(Counter {
            value: 0,
            expires_at_ms,
        });
        let current = live(Some(entry), now_ms);
        let next = current.saturating_add(delta);
        if delta > 0 && limit.is_some_and(|l| next > l) {
            return Err(current);
        }
        *entry = Counter {
            value: next,
            expires_at_ms,
        };
        Ok(next)
    }

    /// Sets a counter to `new` if it holds `expected`.
    pub fn compare_and_swap(
        &self,
        ns: &Arc<str>,
        key: String,
        expected: i64,
        new: i64,
        expires_at_ms: u64,
        now_ms: u64,
    ) -> bool {
        let mut inner = self.inner.lock();
        let entry = inner.counters.entry((ns.clone(), key)).or_insert(Counter {
            value: 0,
            expires_at_ms: 0,
        });
        if live(Some(entry), now_ms) != expected {
            return false;
        }
        *entry = Counter {
            value: new,
            expires_at_ms,
        };
        true
    }

    /// Reserves `amount` in a pool for `request`, within `limit`.
    pub fn reserve(
        &self,
        ns: &Arc<str>,
        pool: String,
        request: &str,
        amount: u64,
        limit: u64,
    ) -> Result<(), PoolUsage> {
        let mut inner = self.inner.lock();
        let key = (ns.clone(), pool);
        let p = inner.pools.entry(key.clone()).or_default();
        let previous = p.reservations.get(request).copied().unwrap_or(0);
        let others = p.used.saturating_add(p.reserved - previous);
        if others.saturating_add(amount) > limit {
            return Err(PoolUsage {
                used: p.used,
                reserved: p.reserved,
            });
        }
        p.reserved = p.reserved - previous + amount;
        p.reservations.insert(request.to_owned(), amount);
        if previous == 0 && !p.reservations.is_empty() {
            inner
                .by_request
                .entry(request.to_owned())
                .or_default()
                .push(key);
        }
        Ok(())
    }

    /// Settles `request`'s reservation with the `actual` amount used.
    pub fn settle(&self, ns: &Arc<str>, pool: String, request: &str, actual: u64) {
        let mut inner = self.inner.lock();
        let key = (ns.clone(), pool);
        let p = inner.pools.entry(key.clone()).or_default();
        if let Some(reserved) = p.reservations.remove(request) {
            p.reserved -= reserved;
        }
        p.used = p.used.saturating_add(actual);
        inner.dirty.insert(key);
    }

    /// Drops `request`'s reservation in a pool.
    pub fn release(&self, ns: &Arc<str>, pool: String, request: &str) {
        let mut inner = self.inner.lock();
        if let Some(p) = inner.pools.get_mut(&(ns.clone(), pool))
            && let Some(reserved) = p.reservations.remove(request)
        {
            p.reserved -= reserved;
        }
    }

    /// Reads a pool.
    pub fn pool(&self, ns: &Arc<str>, pool: String) -> PoolUsage {
        let inner = self.inner.lock();
        inner
            .pools
            .get(&(ns.clone(), pool))
            .map(|p| PoolUsage {
                used: p.used,
                reserved: p.reserved,
            })
            .unwrap_or(PoolUsage {
                used: 0,
                reserved: 0,
            })
    }

    /// Releases every reservation `request` still holds (a request that ended
    /// without its policies settling). Returns how many were released.
    pub fn release_request(&self, request: &str) -> usize {
        let mut inner = self.inner.lock();
        let Some(keys) = inner.by_request.remove(request) else {
            return 0;
        };
        let mut released = 0;
        for key in keys {
            if let Some(p) = inner.pools.get_mut(&key)
                && let Some(reserved) = p.reservations.remove(request)
            {
                p.reserved -= reserved;
                released += 1;
            }
        }
        released
    }

    /// The pools whose settled total changed since the last call, with their
    /// totals: what the accounting writer persists.
    pub fn take_dirty(&self) -> Vec<PoolSnapshot> {
        let mut guard = self.inner.lock();
        let inner = &mut *guard;
        inner
            .dirty
            .drain()
            .filter_map(|key| {
                let p = inner.pools.get(&key)?;
                Some(PoolSnapshot {
                    namespace: key.0.to_string(),
                    pool: key.1.clone(),
                    used: p.used,
                    reserved: p.reserved,
                    open_reservations: p.reservations.len(),
                })
            })
            .collect()
    }

    /// Restores a pool's settled total (at start, from the accounting database).
    pub fn restore_pool(&self, namespace: &str, pool: &str, used: u64) {
        let mut inner = self.inner.lock();
        inner
            .pools
            .entry((Arc::from(namespace), pool.to_owned()))
            .or_default()
            .used = used;
    }

    /// Releases `request`'s reservations and removes the pools that are left
    /// empty (used by the probe call of a hot-swap candidate, which must
    /// leave no trace).
    pub fn discard_request(&self, request: &str) {
        let mut guard = self.inner.lock();
        let inner = &mut *guard;
        let Some(keys) = inner.by_request.remove(request) else {
            return;
        };
        for key in keys {
            if let Some(p) = inner.pools.get_mut(&key) {
                if let Some(reserved) = p.reservations.remove(request) {
                    p.reserved -= reserved;
                }
                if p.used == 0 && p.reserved == 0 && p.reservations.is_empty() {
                    inner.pools.remove(&key);
                }
            }
        }
    }

    /// Removes expired counters; returns how many were removed.
    pub fn sweep(&self, now_ms: u64) -> usize {
        let mut inner = self.inner.lock();
        let before = inner.counters.len();
        inner.counters.retain(|_, c| c.expires_at_ms > now_ms);
        before - inner.counters.len()
    }

    /// Every pool, sorted by namespace and name.
    pub fn pools(&self) -> Vec<PoolSnapshot> {
        let inner = self.inner.lock();
        let mut out: Vec<_> = inner
            .pools
            .iter()
            .map(|((ns, name), p)| PoolSnapshot {
                namespace: ns.to_string(),
                pool: name.clone(),
                used: p.used,
                reserved: p.reserved,
                open_reservations: p.reservations.len(),
            })
            .collect();
        out.sort_by(|a, b| (&a.namespace, &a.pool).cmp(&(&b.namespace, &b.pool)));
        out
    }

    /// Forgets all counters and pools (test runs, `tollgate stress --variants`).
    pub fn reset(&self) {
        *self.inner.lock() = Inner::default();
    }
}

fn live(c: Option<&Counter>, now_ms: u64) -> i64 {
    match c {
        Some(c) if c.expires_at_ms > now_ms => c.value,
        _ => 0,
    }
}

/// What one policy instance sees of the store: its slot's namespace, and the
/// request and time of the call in progress (set by the runtime before each call).
pub struct StateView {
    pub(crate) store: Arc<StateStore>,
    pub(crate) namespace: Arc<str>,
    pub(crate) request_id: String,
    pub(crate) now_ms: u64,
}

/// The `types` interface has no functions; the impl only satisfies the linker.
impl types::Host for StateView {}

impl Host for StateView {
    fn get(&mut self, key: String) -> i64 {
        self.store.get(&self.namespace, &key, self.now_ms)
    }

    fn add(
        &mut self,
        key: String,
        delta: i64,
        limit: Option<i64>,
        expires_at_ms: u64,
    ) -> Result<i64, i64> {
        self.store.add(
            &self.namespace,
            key,
            delta,
            limit,
            expires_at_ms,
            self.now_ms,
        )
    }

    fn compare_and_swap(
        &mut self,
        key: String,
        expected: i64,
        new: i64,
        expires_at_ms: u64,
    ) -> bool {
        self.store.compare_and_swap(
            &self.namespace,
            key,
            expected,
            new,
            expires_at_ms,
            self.now_ms,
        )
    }

    fn reserve(&mut self, pool: String, amount: u64, limit: u64) -> Result<(), PoolUsage> {
        self.store
            .reserve(&self.namespace, pool, &self.request_id, amount, limit)
    }

    fn settle(&mut self, pool: String, actual: u64) {
        self.store
            .settle(&self.namespace, pool, &self.request_id, actual)
    }

    fn release(&mut self, pool: String) {
        self.store.release(&self.namespace, pool, &self.request_id)
    }

    fn pool(&mut self, pool: String) -> PoolUsage {
        self.store.pool(&self.namespace, pool)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns() -> Arc<str> {
        Arc::from("slot")
    }

    #[test]
    fn counters_respect_limit_and_expiry() {
        let s = StateStore::new();
        assert_eq!(s.add(&ns(), "k".into(), 2, Some(3), 100, 0), Ok(2));
        assert_eq!(s.add(&ns(), "k".into(), 2, Some(3), 100, 10), Err(2));
        assert_eq!(s.get(&ns(), "k", 10), 2);
        assert_eq!(s.get(&ns(), "k", 100), 0, "expired at 100");
        assert_eq!(
            s.add(&ns(), "k".into(), 3, Some(3), 200, 100),
            Ok(3),
            "an expired counter starts at 0"
        );
        assert_eq!(
            s.get(&Arc::from("other"), "k", 150),
            0,
            "namespaces are separate"
        );
        assert_eq!(
            s.add(&ns(), "k".into(), -1, Some(0), 200, 150),
            Ok(2),
            "a decrement always applies"
        );
    }

    #[test]
    fn compare_and_swap_checks_the_live_value() {
        let s = StateStore::new();
        assert!(s.compare_and_swap(&ns(), "t".into(), 0, 5, 100, 0));
        assert!(!s.compare_and_swap(&ns(), "t".into(), 0, 6, 100, 1));
        assert!(s.compare_and_swap(&ns(), "t".into(), 5, 6, 100, 1));
        assert!(
            s.compare_and_swap(&ns(), "t".into(), 0, 1, 300, 100),
            "expired reads as 0"
        );
    }

    #[test]
    fn reservations_cannot_overshoot_and_settle_or_release() {
        let s = StateStore::new();
        assert!(s.reserve(&ns(), "p".into(), "a", 600, 1000).is_ok());
        assert_eq!(
            s.reserve(&ns(), "p".into(), "b", 600, 1000),
            Err(PoolUsage {
                used: 0,
                reserved: 600
            })
        );
        assert!(
            s.reserve(&ns(), "p".into(), "a", 700, 1000).is_ok(),
            "re-reserving replaces the amount"
        );
        s.settle(&ns(), "p".into(), "a", 450);
        assert_eq!(
            s.pool(&ns(), "p".into()),
            PoolUsage {
                used: 450,
                reserved: 0
            }
        );
        assert!(s.reserve(&ns(), "p".into(), "b", 500, 1000).is_ok());
        s.release(&ns(), "p".into(), "b");
        assert_eq!(
            s.pool(&ns(), "p".into()),
            PoolUsage {
                used: 450,
                reserved: 0
            }
        );
    }

    #[test]
    fn release_request_frees_what_was_left_open() {
        let s = StateStore::new();
        s.reserve(&ns(), "tokens".into(), "r1", 10, 100).unwrap();
        s.reserve(&ns(), "budget".into(), "r1", 20, 100).unwrap();
        s.settle(&ns(), "tokens".into(), "r1", 8);
        assert_eq!(s.release_request("r1"), 1);
        assert_eq!(
            s.pool(&ns(), "budget".into()),
            PoolUsage {
                used: 0,
                reserved: 0
            }
        );
        assert_eq!(
            s.pool(&ns(), "tokens".into()),
            PoolUsage {
                used: 8,
                reserved: 0
            }
        );
    }
}
