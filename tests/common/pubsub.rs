//! Bounded waits on Plexus samples, and the access-control checks built on them ("a
//! denied message is followed by a marker, and the marker is what arrives"). Shared by
//! the root tests and (through `#[path]`) by `plexusd`'s, with the including module's
//! `WAIT` as the bound.

use std::time::Duration;

use plexus::{Sample, Session};
use tokio::time::timeout;

use super::WAIT;

/// The next item (sample, query…), within [`WAIT`].
pub async fn recv<T>(rx: &flume::Receiver<T>) -> T {
    timeout(WAIT, rx.recv_async())
        .await
        .expect("nothing received within 10 s")
        .expect("channel closed")
}

/// Retries `probe` (which publishes, or queries, once) until `arrived` says the far
/// side got it, within [`WAIT`]: declarations travel asynchronously.
pub async fn until<F, Fut>(what: &str, mut probe: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let done = timeout(WAIT, async {
        loop {
            if probe().await {
                return;
            }
        }
    })
    .await;
    assert!(done.is_ok(), "{what}: nothing arrived within 10 s");
}

/// Waits (bounded) for up to 100 ms for `rx` to yield an item.
pub async fn arrived<T>(rx: &flume::Receiver<T>) -> bool {
    matches!(
        timeout(Duration::from_millis(100), rx.recv_async()).await,
        Ok(Ok(_))
    )
}

/// Publishes probes on `key` until the far subscriber `rx` sees one (the subscription
/// was routed), then empties `rx`.
pub async fn until_routed(put_on: &Session, key: &str, rx: &flume::Receiver<Sample>) {
    until("the subscription reaching the publisher", || async {
        put_on.put(key, "probe").await.expect("put");
        arrived(rx).await
    })
    .await;
    while rx.try_recv().is_ok() {}
}

/// A put on `denied` that access control drops: `publisher` puts there, then on
/// `marker`; the marker is the next sample each of `rxs` receives (`what` names the
/// failure).
pub async fn put_denied(
    publisher: &Session,
    denied: &str,
    marker: &str,
    rxs: &[&flume::Receiver<Sample>],
    what: &str,
) {
    publisher.put(denied, "denied").await.expect("put");
    publisher.put(marker, "marker").await.expect("put");
    for rx in rxs {
        assert_eq!(recv(rx).await.key_expr().as_str(), marker, "{what}");
    }
}

/// Egress denied to one subscriber: a put and a delete of `key` by `publisher` reach
/// `allowed` and not `denied`; the put on `marker` after them reaches both.
pub async fn egress_denied(
    publisher: &Session,
    key: &str,
    marker: &str,
    allowed: &flume::Receiver<Sample>,
    denied: &flume::Receiver<Sample>,
) {
    publisher.put(key, "not for you").await.expect("put");
    publisher.delete(key).await.expect("delete");
    publisher.put(marker, "marker").await.expect("put");
    assert_eq!(recv(allowed).await.key_expr().as_str(), key);
    assert_eq!(recv(allowed).await.key_expr().as_str(), key);
    assert_eq!(recv(allowed).await.key_expr().as_str(), marker);
    assert_eq!(
        recv(denied).await.key_expr().as_str(),
        marker,
        "a put denied on egress reached its subscriber"
    );
}
