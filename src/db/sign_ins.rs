//! Sign-in checks answered from memory for a moment.
//!
//! Every signed-in request looks its session or API token up with its user, one query each time,
//! and the same few are asked for over and over: a browser showing a grid of cameras asks for
//! each camera's picture every second, and under load the look-up was a third of the queries
//! (docs/performance.md, "A million events"). A row found is remembered for
//! [`SIGN_IN_REMEMBERED_FOR`]. Every change this process makes to users, sessions or tokens
//! forgets them all once it is written, and a look-up that overlapped such a change is not
//! remembered, so a sign-out, a revoked token or a disabled user takes effect at once. A change
//! made by another process (the `watchpost user` and `watchpost token` commands) is seen within
//! [`SIGN_IN_REMEMBERED_FOR`]. Only rows found are remembered: an unknown cookie is looked up every
//! time, and cannot fill the memory.

use super::entities::{api_token, session, user};
use crate::error::Result;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a row read is used without asking the database again.
pub const SIGN_IN_REMEMBERED_FOR: Duration = Duration::from_secs(1);

/// Rows kept before those past [`SIGN_IN_REMEMBERED_FOR`] are dropped (and all of them, were every one
/// still fresh).
const MOST_KEPT: usize = 1024;

/// The sessions and API tokens last read, each with its user (absent when the account is gone).
#[derive(Debug, Default)]
pub(super) struct SignIns {
    pub sessions: Remembered<(session::Model, Option<user::Model>)>,
    pub tokens: Remembered<(api_token::Model, Option<user::Model>)>,
}

impl SignIns {
    /// After a change to users, sessions or tokens: every row is read again.
    pub fn forget_all(&self) {
        self.sessions.forget_all();
        self.tokens.forget_all();
    }

    /// Forgets every row when the returned guard is dropped: after a change, however it ends.
    pub fn forget_when_dropped(&self) -> ForgetWhenDropped<'_> {
        ForgetWhenDropped(self)
    }
}

/// See [`SignIns::forget_when_dropped`].
pub(super) struct ForgetWhenDropped<'a>(&'a SignIns);

impl Drop for ForgetWhenDropped<'_> {
    fn drop(&mut self) {
        self.0.forget_all();
    }
}

/// Rows of one kind (sessions or tokens, with their users) by id, as last read.
#[derive(Debug)]
pub(super) struct Remembered<T> {
    inner: Mutex<Inner<T>>,
}

#[derive(Debug)]
struct Inner<T> {
    /// Counts the changes: a read is kept only if none came while it was made.
    generation: u64,
    rows: HashMap<String, (Instant, T)>,
}

impl<T> Default for Remembered<T> {
    fn default() -> Self {
        Self { inner: Mutex::new(Inner { generation: 0, rows: HashMap::new() }) }
    }
}

impl<T: Clone> Remembered<T> {
    /// The row `key` names: from memory while fresh, else from `read` (remembered when found).
    pub async fn get_or_read(&self, key: &str, read: impl Future<Output = Result<Option<T>>>) -> Result<Option<T>> {
        let generation = {
            let inner = self.lock();
            match inner.rows.get(key) {
                Some((at, row)) if at.elapsed() < SIGN_IN_REMEMBERED_FOR => return Ok(Some(row.clone())),
                _ => inner.generation,
            }
        };
        let row = read.await?;
        if let Some(row) = &row {
            let mut inner = self.lock();
            if inner.generation == generation {
                if inner.rows.len() >= MOST_KEPT {
                    inner.rows.retain(|_, (at, _)| at.elapsed() < SIGN_IN_REMEMBERED_FOR);
                    if inner.rows.len() >= MOST_KEPT {
                        inner.rows.clear();
                    }
                }
                inner.rows.insert(key.to_string(), (Instant::now(), row.clone()));
            }
        }
        Ok(row)
    }

    /// Forgets every row, and any read still under way.
    pub fn forget_all(&self) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.rows.clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<T>> {
        // A panic while the lock was held leaves at worst a row that is read again.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A read that counts itself and finds `found`.
    async fn read(reads: &AtomicUsize, found: Option<&str>) -> Result<Option<String>> {
        reads.fetch_add(1, Ordering::SeqCst);
        Ok(found.map(str::to_string))
    }

    #[tokio::test]
    async fn a_row_found_is_read_once_until_forgotten() {
        let remembered = Remembered::<String>::default();
        let reads = AtomicUsize::new(0);
        for _ in 0..3 {
            let row = remembered.get_or_read("s1", read(&reads, Some("alice"))).await.unwrap();
            assert_eq!(row.as_deref(), Some("alice"));
        }
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        remembered.forget_all();
        let row = remembered.get_or_read("s1", read(&reads, Some("bob"))).await.unwrap();
        assert_eq!((row.as_deref(), reads.load(Ordering::SeqCst)), (Some("bob"), 2));
    }

    #[tokio::test]
    async fn rows_not_found_and_reads_overlapping_a_change_are_not_kept() {
        let remembered = Remembered::<String>::default();
        let reads = AtomicUsize::new(0);
        for _ in 0..2 {
            assert_eq!(remembered.get_or_read("unknown", read(&reads, None)).await.unwrap(), None);
        }
        assert_eq!(reads.load(Ordering::SeqCst), 2);
        // A change is written while the read is under way: what it read may be the old row.
        let overlapped = remembered
            .get_or_read("s1", async {
                remembered.forget_all();
                read(&reads, Some("before the change")).await
            })
            .await
            .unwrap();
        assert_eq!(overlapped.as_deref(), Some("before the change"));
        let row = remembered.get_or_read("s1", read(&reads, Some("after"))).await.unwrap();
        assert_eq!((row.as_deref(), reads.load(Ordering::SeqCst)), (Some("after"), 4));
    }

    #[tokio::test]
    async fn a_row_is_read_again_after_a_second() {
        let remembered = Remembered::<String>::default();
        let reads = AtomicUsize::new(0);
        remembered.get_or_read("t1", read(&reads, Some("token"))).await.unwrap();
        tokio::time::sleep(SIGN_IN_REMEMBERED_FOR + Duration::from_millis(50)).await;
        remembered.get_or_read("t1", read(&reads, Some("token"))).await.unwrap();
        assert_eq!(reads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_change_dropped_part_way_still_forgets() {
        let sign_ins = SignIns::default();
        let reads = AtomicUsize::new(0);
        let read_session = || async {
            reads.fetch_add(1, Ordering::SeqCst);
            let session = session::Model {
                id: "s1".into(),
                user_id: 1,
                csrf: "c".into(),
                created_ms: 0,
                last_seen_ms: 0,
                ip: None,
                user_agent: None,
            };
            Ok(Some((session, None)))
        };
        sign_ins.sessions.get_or_read("s1", read_session()).await.unwrap();
        // A change whose request is dropped while it waits (after its write, say).
        let change = async {
            let _forget = sign_ins.forget_when_dropped();
            std::future::pending::<()>().await
        };
        assert!(tokio::time::timeout(Duration::from_millis(10), change).await.is_err());
        sign_ins.sessions.get_or_read("s1", read_session()).await.unwrap();
        assert_eq!(reads.load(Ordering::SeqCst), 2, "read again after the dropped change");
    }

    #[tokio::test]
    async fn memory_stays_bounded() {
        let remembered = Remembered::<String>::default();
        let reads = AtomicUsize::new(0);
        for n in 0..MOST_KEPT * 3 {
            remembered.get_or_read(&format!("s{n}"), read(&reads, Some("x"))).await.unwrap();
        }
        assert!(remembered.lock().rows.len() <= MOST_KEPT);
    }
}
