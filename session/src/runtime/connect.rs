//! Connecting to `connect/endpoints`, at open and again after every loss.
//!
//! At open, each endpoint is tried once (a client tries them in order until one
//! answers: it talks to one router at a time). If that fails, Zenoh's keys decide:
//! with `connect/exit_on_failure`, opening keeps trying (with the backoff below) for
//! `connect/timeout_ms` (0: no retry, negative: until it connects) and fails after;
//! without it, opening returns and the session connects in the background.
//!
//! Then, for the session's whole life, a connector task per endpoint (peers and
//! routers) or one for all of them (a client) watches the transport and, when it is
//! lost, reconnects: at once, then after `connect/retry/period_init_ms`, the delay
//! growing by `period_increase_factor` up to `period_max_ms`, forever. (Zenoh retries
//! in the background only when `timeout_ms` is not 0; Plexus always does after open.)
//! A new transport gets every declaration of the session, as any new transport does.

use std::sync::Arc;
use std::time::Duration;

use plexus_link::Endpoint;
use plexus_transport::wire::WhatAmI;
use plexus_transport::{Transport, TransportError, TransportManager};

use super::Runtime;
use crate::config::{Config, RetryConf};
use crate::error::SessionError;

/// Connects at open as the module documentation says and starts the connectors;
/// returns the transports opened now.
pub(super) async fn start(
    inner: &Arc<Runtime>,
    manager: &TransportManager,
    config: &Config,
) -> Result<Vec<Transport>, SessionError> {
    let endpoints = config.connect_endpoints().to_vec();
    if endpoints.is_empty() {
        return Ok(Vec::new());
    }
    let retry = config.connect_retry();
    // A client keeps one router; peers and routers keep every endpoint.
    let groups: Vec<Vec<Endpoint>> = if inner.whatami == WhatAmI::Client {
        vec![endpoints]
    } else {
        endpoints.into_iter().map(|e| vec![e]).collect()
    };
    let mut connected = Vec::new();
    for group in groups {
        let first = match attempt(manager, &group).await {
            Ok(t) => Some(t),
            Err(e) if retry.exit_on_failure => {
                let retried = match retry.timeout {
                    Some(limit) if limit.is_zero() => None,
                    Some(limit) => {
                        tokio::time::timeout(limit, with_backoff(manager, &group, &retry, true))
                            .await
                            .ok()
                            .flatten()
                    }
                    None => with_backoff(manager, &group, &retry, true).await,
                };
                match retried {
                    Some(t) => Some(t),
                    None => return Err(e.into()),
                }
            }
            Err(e) => {
                tracing::info!(
                    "connect to {} failed ({e}); retrying in the background",
                    names(&group)
                );
                None
            }
        };
        connected.extend(first.clone());
        let manager = manager.clone();
        inner.spawn(async move { keep_connected(manager, group, retry, first).await });
    }
    Ok(connected)
}

/// One attempt on each endpoint in order; the first transport, or the last error.
async fn attempt(
    manager: &TransportManager,
    endpoints: &[Endpoint],
) -> Result<Transport, TransportError> {
    let mut last = TransportError::ManagerClosed;
    for ep in endpoints {
        match manager.connect(ep).await {
            Ok(t) => return Ok(t),
            Err(e) => {
                tracing::debug!("connect to {ep}: {e}");
                last = e;
            }
        }
    }
    Err(last)
}

/// Tries the endpoints with the retry backoff until one answers (`None` once the
/// manager is closed). With `wait_first`, waits one period before the first round.
async fn with_backoff(
    manager: &TransportManager,
    endpoints: &[Endpoint],
    retry: &RetryConf,
    wait_first: bool,
) -> Option<Transport> {
    let mut period = retry.period_init;
    if wait_first {
        tokio::time::sleep(period).await;
        period = retry.next_period(period);
    }
    loop {
        match attempt(manager, endpoints).await {
            Ok(t) => return Some(t),
            Err(TransportError::ManagerClosed) => return None,
            Err(_) => {}
        }
        tokio::time::sleep(period).await;
        period = retry.next_period(period).max(Duration::from_millis(1));
    }
}

/// Keeps a transport to one of `endpoints` for the session's life.
async fn keep_connected(
    manager: TransportManager,
    endpoints: Vec<Endpoint>,
    retry: RetryConf,
    mut current: Option<Transport>,
) {
    loop {
        let lost = match current.take() {
            Some(t) => {
                t.closed().await;
                let cause = t.close_cause().map(|c| c.to_string()).unwrap_or_default();
                Some((t.zid(), cause))
            }
            None => None,
        };
        // At once after a loss; after a failed start, the first period has passed.
        let Some(t) = with_backoff(&manager, &endpoints, &retry, lost.is_none()).await else {
            return;
        };
        match lost {
            Some((zid, cause)) => tracing::info!(
                "reconnected to {} ({}) after losing {zid} ({cause})",
                names(&endpoints),
                t.zid()
            ),
            None => tracing::info!("connected to {} ({})", names(&endpoints), t.zid()),
        }
        current = Some(t);
    }
}

fn names(endpoints: &[Endpoint]) -> String {
    endpoints
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
