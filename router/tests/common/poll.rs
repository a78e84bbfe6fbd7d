//! The one place the tests ask another process for its state again and again.
//!
//! Where the state announces itself, the tests await that instead: a transport's Put or
//! Delete in the admin space (through the REST plugin's SSE), a log line, a sample. What
//! is left here lives in another process and changes without a word to anyone: another
//! router's mesh graph, weights and RTTs, counters read with SIGUSR1 or from `/metrics`,
//! a queryable's declaration reaching a router, the DOM of a page in a browser. For
//! those, asking at a modest pace within a bound is the wait.

use std::fmt::Display;
use std::time::Duration;

use tokio::time::timeout;

/// Asks `probe` until it returns `Ok(value)`, at most `within`, pausing `every` between
/// asks; returns that value, or panics naming `what` and the last `Err` it returned.
pub async fn until<T, L: Display>(
    what: &str,
    within: Duration,
    every: Duration,
    probe: impl AsyncFnMut() -> Result<T, L>,
) -> T {
    match ask(within, every, probe).await {
        Ok(value) => value,
        Err(Some(last)) => panic!("{what}: not within {within:?}; last answer: {last}"),
        Err(None) => panic!("{what}: not within {within:?}; no answer came"),
    }
}

/// [`until`] without the panic: `Err` holds the last `Err` the probe returned once
/// `within` has passed (`None` if no ask finished in time).
pub async fn ask<T, L>(
    within: Duration,
    every: Duration,
    mut probe: impl AsyncFnMut() -> Result<T, L>,
) -> Result<T, Option<L>> {
    let mut last = None;
    let found = timeout(within, async {
        loop {
            match probe().await {
                Ok(value) => return value,
                Err(l) => last = Some(l),
            }
            tokio::time::sleep(every).await;
        }
    })
    .await;
    found.map_err(|_| last)
}
