//! Single flight: one provider call per key at a time in this process; every concurrent
//! request for the same key waits for that call's result. (Across nodes, the vault's
//! leases do the same for refreshes; see `federation.rs`.)

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

use tokio::sync::watch;

use super::data::lock;
use crate::error::{Error, Result};

type Flight<T> = watch::Receiver<Option<Result<T>>>;

pub(super) struct Flights<T> {
    map: Mutex<HashMap<String, Flight<T>>>,
}

impl<T> Default for Flights<T> {
    fn default() -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
        }
    }
}

/// Removes a flight when its leader finishes or is cancelled.
struct Guard<'a, T> {
    map: &'a Mutex<HashMap<String, Flight<T>>>,
    key: &'a str,
}

impl<T> Drop for Guard<'_, T> {
    fn drop(&mut self) {
        lock(self.map).remove(self.key);
    }
}

impl<T: Clone> Flights<T> {
    /// Run `call` as the one call for `key`, or wait for the one already running and
    /// take its result (for at most `follow_limit`, then ThrottlingException). `None`
    /// when the call being waited for was cancelled (its request went away): the caller
    /// decides whether to try again.
    pub async fn run<F, Fut>(
        &self,
        key: &str,
        follow_limit: Option<std::time::Duration>,
        call: F,
    ) -> Option<Result<T>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let (tx, mut rx) = {
            let mut map = lock(&self.map);
            match map.get(key) {
                Some(rx) => (None, rx.clone()),
                None => {
                    let (tx, rx) = watch::channel(None);
                    map.insert(key.to_string(), rx.clone());
                    (Some(tx), rx)
                }
            }
        };
        let Some(tx) = tx else {
            let follow = async {
                loop {
                    if let Some(r) = rx.borrow_and_update().clone() {
                        return Some(r);
                    }
                    if rx.changed().await.is_err() {
                        return None;
                    }
                }
            };
            return match follow_limit {
                None => follow.await,
                Some(limit) => tokio::time::timeout(limit, follow)
                    .await
                    .unwrap_or_else(|_| {
                        Some(Err(Error::Throttling(
                            "Another request is still fetching this token; retry".into(),
                        )))
                    }),
            };
        };
        let _guard = Guard {
            map: &self.map,
            key,
        };
        let r = call().await;
        tx.send_replace(Some(r.clone()));
        Some(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[tokio::test]
    async fn concurrent_callers_share_one_call() {
        let flights = Arc::new(Flights::<u32>::default());
        let calls = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let (flights, calls) = (flights.clone(), calls.clone());
            tasks.push(tokio::spawn(async move {
                flights
                    .run("k", None, || async {
                        calls.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        Ok(7)
                    })
                    .await
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap(), Some(Ok(7)));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // Finished flights are gone: the next call runs again.
        flights.run("k", None, || async { Ok(8) }).await;
        assert_eq!(
            flights.run("k", None, || async { Ok(9) }).await,
            Some(Ok(9))
        );
    }
}
