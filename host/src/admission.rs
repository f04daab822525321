//! Admission: whether an allowed request runs now, waits in the queue, or is
//! refused. One limit, `max_active_requests`, covers inline and queued
//! execution alike (the seed's workers ignored it). A request runs at once
//! only when nothing is waiting, so new arrivals never overtake the queue.

/// The admission decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// An execution slot is free and nobody is waiting.
    Run,
    /// Wait for a slot.
    Queue,
    /// The queue is full: 503 `queue_full`.
    Reject,
}

/// Decides from the current counts.
pub fn decide(active: usize, max_active: usize, queued: usize, max_queue: usize) -> Admission {
    if active < max_active && queued == 0 {
        Admission::Run
    } else if queued < max_queue {
        Admission::Queue
    } else {
        Admission::Reject
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_table_plus_no_overtaking() {
        assert_eq!(decide(0, 1, 0, 1), Admission::Run);
        assert_eq!(decide(1, 1, 0, 1), Admission::Queue);
        assert_eq!(decide(1, 1, 1, 1), Admission::Reject);
        assert_eq!(
            decide(0, 2, 1, 5),
            Admission::Queue,
            "a free slot with a waiting queue: join the queue"
        );
        assert_eq!(decide(0, 0, 0, 0), Admission::Reject);
    }
}
