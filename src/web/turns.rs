//! Signed-in requests take turns at the database, in the order they came.
//!
//! The database pool is fair per query, not per request: a request that asks three queries (the
//! sign-in check, a search's batch, its page of events) queued three times behind everyone else,
//! so under load a search waited about twice as long as a plain page (measured with 50
//! connections on a million events: 82 against 42 ms). Each signed-in request now first waits for
//! one of as many turns as the database has connections, in arrival order, and keeps it while it
//! is served; its queries then rarely wait again, and every request waits about as long as the
//! others. A request still being served after [`Turns::MAX_HOLD`] (a live view waiting for its
//! camera, an export, a form being uploaded) passes its turn on and goes on without one, so slow
//! requests never hold the quick ones up for longer than that.

use std::future::Future;
use std::time::Duration;
use tokio::sync::Semaphore;

/// The turns of the requests being served.
#[derive(Debug)]
pub struct Turns {
    turns: Semaphore,
    max_hold: Duration,
}

impl Turns {
    /// How long a request keeps its turn at most.
    pub const MAX_HOLD: Duration = Duration::from_millis(250);

    /// `turns` requests served at once (the database's connections), each for `max_hold` at most.
    pub fn new(turns: usize, max_hold: Duration) -> Self {
        Self { turns: Semaphore::new(turns.max(1)), max_hold }
    }

    /// Serves a request: waits for a turn (first come, first served), then runs `request`,
    /// passing the turn on when it is done or has held it for `max_hold`.
    pub async fn serve<T>(&self, request: impl Future<Output = T>) -> T {
        // The semaphore is never closed, so no error can come; were it closed, the request would
        // simply be served without a turn.
        let turn = self.turns.acquire().await.ok();
        let mut request = std::pin::pin!(request);
        if turn.is_some() {
            tokio::select! {
                biased;
                served = &mut request => return served,
                _ = tokio::time::sleep(self.max_hold) => drop(turn),
            }
        }
        request.await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tokio::sync::oneshot;
    use tokio::task::JoinHandle;

    /// A request that takes the only turn and is served until `release` is sent.
    async fn held_request(
        turns: &Arc<Turns>,
    ) -> (oneshot::Sender<()>, JoinHandle<Result<(), oneshot::error::RecvError>>) {
        let (release, released) = oneshot::channel::<()>();
        let turns = turns.clone();
        let request = tokio::spawn(async move { turns.serve(released).await });
        tokio::task::yield_now().await;
        (release, request)
    }

    #[tokio::test]
    async fn turns_go_in_the_order_requests_came() {
        let turns = Arc::new(Turns::new(1, Duration::from_secs(60)));
        let (release, first) = held_request(&turns).await;
        let served = Arc::new(Mutex::new(Vec::new()));
        let mut waiting = Vec::new();
        for request in 0..5 {
            let (turns, served) = (turns.clone(), served.clone());
            waiting.push(tokio::spawn(async move {
                turns
                    .serve(async {
                        served.lock().unwrap().push(request);
                        tokio::task::yield_now().await;
                    })
                    .await
            }));
            // Let it queue before the next one comes.
            tokio::task::yield_now().await;
        }
        assert!(served.lock().unwrap().is_empty(), "nobody is served while the only turn is held");
        release.send(()).unwrap();
        first.await.unwrap().unwrap();
        for request in waiting {
            request.await.unwrap();
        }
        assert_eq!(*served.lock().unwrap(), vec![0, 1, 2, 3, 4]);
    }

    #[tokio::test]
    async fn a_slow_request_passes_its_turn_on() {
        let turns = Arc::new(Turns::new(1, Duration::from_millis(200)));
        let (release, slow) = held_request(&turns).await;
        let started = std::time::Instant::now();
        assert_eq!(turns.serve(async { "quick" }).await, "quick");
        assert!(started.elapsed() >= Duration::from_millis(150), "the quick request waited for the slow one's turn");
        assert!(!slow.is_finished(), "the slow request goes on without its turn");
        release.send(()).unwrap();
        slow.await.unwrap().unwrap();
    }
}
