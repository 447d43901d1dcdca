//! The time that decides behaviour: when sessions and API tokens expire, whether an alert is
//! muted, cooling down or due for a retry. It is passed in ([`SharedClock`]) instead of read from
//! the system wherever such a decision is made, so that a test can move time (a day, across a
//! daylight-saving change) without waiting or rewriting stored rows. A leaf: it names nothing else.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// Tells the time, in milliseconds since the Unix epoch.
pub trait Clock: Send + Sync {
    fn now_ms(&self) -> i64;
}

/// The clock the parts of Watchpost share.
pub type SharedClock = Arc<dyn Clock>;

/// The system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        chrono::Utc::now().timestamp_millis()
    }
}

/// The system's clock, shared.
pub fn system() -> SharedClock {
    Arc::new(SystemClock)
}

/// A clock that stands still until told to move (tests, replays): it starts at the time given.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn starting_at(now_ms: i64) -> Self {
        Self(Arc::new(AtomicI64::new(now_ms)))
    }

    pub fn set(&self, now_ms: i64) {
        self.0.store(now_ms, Ordering::SeqCst);
    }

    pub fn advance(&self, by: std::time::Duration) {
        self.0.fetch_add(by.as_millis() as i64, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let clock = ManualClock::starting_at(1_000);
        let shared: SharedClock = Arc::new(clock.clone());
        assert_eq!(shared.now_ms(), 1_000);
        clock.advance(std::time::Duration::from_secs(90));
        assert_eq!(shared.now_ms(), 91_000);
        clock.set(5);
        assert_eq!(shared.now_ms(), 5);
        assert!(SystemClock.now_ms() > 1_700_000_000_000);
    }
}
