//! Sign-in rate limiting: at most [`MAX_FAILURES`] attempts per minute from one address and against
//! one account that did not prove the right password; the next attempt is refused with the time to
//! wait.
//!
//! An attempt is counted when it starts, before the slow password check ([`LoginLimiter::reserve`]),
//! and given back only when the password was right ([`LoginLimiter::release`]). So a burst of
//! parallel sign-ins cannot slip past the limit while their passwords are being checked: the
//! sixth request in flight is refused at once.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const MAX_FAILURES: usize = 5;
const WINDOW: Duration = Duration::from_secs(60);

#[derive(Default)]
pub struct LoginLimiter {
    attempts: Mutex<HashMap<String, VecDeque<Instant>>>,
}

/// An attempt counted against its keys until [`LoginLimiter::release`] gives it back; dropping it
/// leaves it counted as a failure.
#[must_use = "a reservation that is not released counts as a failed attempt"]
pub struct Reservation {
    keys: Vec<String>,
    at: Instant,
}

impl LoginLimiter {
    /// Counts an attempt against every key of `keys`, or `Err(wait)` (counting nothing) when any
    /// of them has used up its attempts.
    pub fn reserve(&self, keys: &[String]) -> Result<Reservation, Duration> {
        let now = Instant::now();
        let mut attempts = self.attempts.lock().unwrap_or_else(|e| e.into_inner());
        let mut wait = Duration::ZERO;
        for key in keys {
            if let Some(times) = attempts.get_mut(key) {
                while times.front().is_some_and(|t| now.duration_since(*t) >= WINDOW) {
                    times.pop_front();
                }
                if times.len() >= MAX_FAILURES
                    && let Some(oldest) = times.front()
                {
                    wait = wait.max(WINDOW.saturating_sub(now.duration_since(*oldest)));
                }
            }
        }
        attempts.retain(|_, times| !times.is_empty());
        if !wait.is_zero() {
            return Err(wait);
        }
        for key in keys {
            attempts.entry(key.clone()).or_default().push_back(now);
        }
        Ok(Reservation { keys: keys.to_vec(), at: now })
    }

    /// The password was right: the attempt is given back, and `forget` (the account's key) loses
    /// every failure counted against it.
    pub fn release(&self, reservation: Reservation, forget: &str) {
        let mut attempts = self.attempts.lock().unwrap_or_else(|e| e.into_inner());
        for key in &reservation.keys {
            if let Some(times) = attempts.get_mut(key)
                && let Some(position) = times.iter().position(|t| *t == reservation.at)
            {
                times.remove(position);
            }
        }
        attempts.remove(forget);
        attempts.retain(|_, times| !times.is_empty());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sixth_attempt_in_a_minute_is_refused() {
        let limiter = LoginLimiter::default();
        let keys = vec!["ip:10.0.0.1".to_string(), "user:anna".to_string()];
        for _ in 0..MAX_FAILURES {
            let _failed = limiter.reserve(&keys).unwrap();
        }
        let wait = limiter.reserve(&keys).err().unwrap();
        assert!(wait > Duration::from_secs(50) && wait <= WINDOW, "{wait:?}");
        assert!(limiter.reserve(&["ip:10.0.0.2".to_string()]).is_ok(), "other addresses are not affected");
    }

    #[test]
    fn attempts_in_flight_count_before_their_password_is_checked() {
        let limiter = LoginLimiter::default();
        let keys = vec!["ip:10.0.0.1".to_string(), "user:anna".to_string()];
        let in_flight: Vec<_> = (0..MAX_FAILURES).map(|_| limiter.reserve(&keys).unwrap()).collect();
        assert!(limiter.reserve(&keys).is_err(), "a sixth attempt in flight is refused at once");
        let mut in_flight = in_flight.into_iter();
        limiter.release(in_flight.next().unwrap(), "user:anna");
        assert!(limiter.reserve(&["user:anna".to_string()]).is_ok(), "a right password clears the account");
        let ip = ["ip:10.0.0.1".to_string()];
        let _fifth = limiter.reserve(&ip).expect("the released attempt is free again");
        assert!(limiter.reserve(&ip).is_err(), "the address keeps its four failures");
    }
}
