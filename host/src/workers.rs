//! Workers: the execution slots. The [`Scheduler`] holds the count of
//! running requests and the priority queue under one lock, applies the
//! [`admission`](crate::admission) decision, and hands the next queued request
//! to a slot as soon as one frees. The async side (running a job on a
//! backend) lives in [`crate::gateway`].

use parking_lot::Mutex;
use std::time::Duration;

use crate::admission::{self, Admission};
use crate::queue::{PriorityQueue, Waiting};

/// What [`Scheduler::submit`] did with a job.
#[derive(Debug)]
pub enum Submit<J> {
    /// Run it now (a slot was taken for it).
    Run(J),
    /// It waits in the queue.
    Queued,
    /// The queue is full; here it is back.
    Rejected(J),
}

/// What [`Scheduler::next`] hands to a slot that just finished.
#[derive(Debug)]
pub enum Next<J> {
    /// Run this queued job in the freed slot.
    Run(Waiting<J>),
    /// Nothing waits; the slot was released.
    Idle,
}

struct Inner<J> {
    active: usize,
    max_active: usize,
    queue: PriorityQueue<J>,
}

/// Execution slots plus the waiting queue.
pub struct Scheduler<J> {
    inner: Mutex<Inner<J>>,
}

/// Counts for `/queue/status` and the policies' load view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub active: usize,
    pub max_active: usize,
    pub queued: usize,
    pub max_queue: usize,
}

impl<J> Scheduler<J> {
    /// `max_active` slots, a queue of `max_queue`, `aging` per priority point.
    pub fn new(max_active: usize, max_queue: usize, aging: Duration) -> Self {
        Self {
            inner: Mutex::new(Inner {
                active: 0,
                max_active,
                queue: PriorityQueue::new(max_queue, aging),
            }),
        }
    }

    /// The current counts.
    pub fn counts(&self) -> Counts {
        let s = self.inner.lock();
        Counts {
            active: s.active,
            max_active: s.max_active,
            queued: s.queue.len(),
            max_queue: s.queue.capacity(),
        }
    }

    /// Applies new limits (config reload).
    pub fn set_limits(&self, max_active: usize, max_queue: usize) {
        let mut s = self.inner.lock();
        s.max_active = max_active;
        s.queue.set_capacity(max_queue);
    }

    /// Admits a job. `record` runs under the lock with the decision, before
    /// any worker can see the job, so the request's record always exists
    /// before its first update.
    pub fn submit(
        &self,
        job: J,
        score: i64,
        now_ms: u64,
        record: impl FnOnce(Admission),
    ) -> Submit<J> {
        let mut s = self.inner.lock();
        let decision = admission::decide(s.active, s.max_active, s.queue.len(), s.queue.capacity());
        record(decision);
        match decision {
            Admission::Run => {
                s.active += 1;
                Submit::Run(job)
            }
            Admission::Queue => match s.queue.push(job, score, now_ms) {
                Ok(()) => Submit::Queued,
                Err(job) => Submit::Rejected(job),
            },
            Admission::Reject => Submit::Rejected(job),
        }
    }

    /// Called by a slot whose job ended: the next queued job to run in it, or
    /// the slot is released. Jobs that waited past `max_wait` are returned in
    /// `expired` (they must be ended as timed out) and never run.
    pub fn next(&self, now_ms: u64, max_wait: Duration, expired: &mut Vec<Waiting<J>>) -> Next<J> {
        let mut s = self.inner.lock();
        expired.extend(s.queue.drain_expired(now_ms, max_wait));
        if s.active <= s.max_active
            && let Some(w) = s.queue.pop()
        {
            return Next::Run(w);
        }
        s.active -= 1;
        Next::Idle
    }

    /// Takes the jobs that waited past `max_wait` out of the queue.
    pub fn expire(&self, now_ms: u64, max_wait: Duration) -> Vec<Waiting<J>> {
        self.inner.lock().queue.drain_expired(now_ms, max_wait)
    }

    /// Queued jobs that can start because slots are free (after a limit was raised).
    pub fn start_free(&self) -> Vec<Waiting<J>> {
        let mut s = self.inner.lock();
        let mut out = Vec::new();
        while s.active < s.max_active {
            let Some(w) = s.queue.pop() else { break };
            s.active += 1;
            out.push(w);
        }
        out
    }

    /// Empties the queue (shutdown).
    pub fn drain(&self) -> Vec<Waiting<J>> {
        self.inner.lock().queue.drain()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_limit_covers_inline_and_queued_work() {
        let s = Scheduler::new(2, 2, Duration::from_secs(2));
        let mut log = Vec::new();
        assert!(matches!(
            s.submit("a", 5, 0, |d| log.push(d)),
            Submit::Run("a")
        ));
        assert!(matches!(
            s.submit("b", 5, 0, |d| log.push(d)),
            Submit::Run("b")
        ));
        assert!(matches!(
            s.submit("low", 1, 0, |d| log.push(d)),
            Submit::Queued
        ));
        assert!(matches!(
            s.submit("high", 12, 0, |d| log.push(d)),
            Submit::Queued
        ));
        assert!(matches!(
            s.submit("x", 5, 0, |d| log.push(d)),
            Submit::Rejected("x")
        ));
        assert_eq!(
            log,
            [
                Admission::Run,
                Admission::Run,
                Admission::Queue,
                Admission::Queue,
                Admission::Reject
            ]
        );
        let mut expired = Vec::new();
        // "a" finishes: its slot goes to the highest-priority waiting job.
        match s.next(10, Duration::from_secs(30), &mut expired) {
            Next::Run(w) => assert_eq!(w.item, "high"),
            Next::Idle => panic!("queue not empty"),
        }
        assert_eq!(
            s.counts().active,
            2,
            "the slot was handed over, not released"
        );
        assert!(matches!(
            s.next(10, Duration::from_secs(30), &mut expired),
            Next::Run(_)
        ));
        assert!(matches!(
            s.next(10, Duration::from_secs(30), &mut expired),
            Next::Idle
        ));
        assert_eq!(s.counts().active, 1);
    }

    #[test]
    fn expired_jobs_never_run() {
        let s = Scheduler::new(1, 5, Duration::from_secs(2));
        assert!(matches!(s.submit("running", 5, 0, |_| {}), Submit::Run(_)));
        assert!(matches!(s.submit("old", 5, 0, |_| {}), Submit::Queued));
        assert!(matches!(s.submit("new", 5, 20_000, |_| {}), Submit::Queued));
        let mut expired = Vec::new();
        match s.next(31_000, Duration::from_secs(30), &mut expired) {
            Next::Run(w) => assert_eq!(w.item, "new"),
            Next::Idle => panic!(),
        }
        assert_eq!(expired.iter().map(|w| w.item).collect::<Vec<_>>(), ["old"]);
    }
}
