//! The face sender used in production: a transport, with the face's overflow queue in
//! front of it.
//!
//! `Block` messages that find the transport's queue full wait in the overflow queue,
//! drained in order by one task (later messages queue behind them); `Drop` messages are
//! dropped. The session counts the faces whose overflow is busy, so that a reader can
//! hold back while another face is behind (see `FaceHandler::backlog`).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use plexus_transport::wire::network::NetworkMessage;
use plexus_transport::wire::{CongestionControl, ZenohId};
use plexus_transport::{SendOptions, Transport};

use super::sender::FaceSender;
use crate::sync::lock;

/// A face's way to its remote process: the transport, and the queue of messages that
/// wait for room in it.
pub(crate) struct TransportTx {
    zid: ZenohId,
    transport: Transport,
    overflow: Arc<Overflow>,
}

/// Messages that wait for room in a face's transport queue, in order.
struct Overflow {
    queue: Mutex<OverflowQueue>,
    /// Mirrors `queue.draining` (written under its lock) so senders can skip the lock.
    busy: AtomicBool,
    /// The session's count of faces whose overflow is busy.
    held: Arc<AtomicUsize>,
    drained: tokio::sync::Notify,
}

#[derive(Default)]
struct OverflowQueue {
    messages: std::collections::VecDeque<(NetworkMessage, SendOptions)>,
    draining: bool,
}

impl Overflow {
    fn new(held: Arc<AtomicUsize>) -> Self {
        Overflow {
            queue: Mutex::new(OverflowQueue::default()),
            busy: AtomicBool::new(false),
            held,
            drained: tokio::sync::Notify::new(),
        }
    }

    /// Marks the queue as draining or not (call with its lock held).
    fn set_busy(&self, busy: bool) {
        if self.busy.swap(busy, Ordering::AcqRel) != busy {
            if busy {
                self.held.fetch_add(1, Ordering::AcqRel);
            } else {
                self.held.fetch_sub(1, Ordering::AcqRel);
            }
        }
    }

    async fn drain(self: Arc<Self>, transport: Transport) {
        loop {
            let next = {
                let mut q = lock(&self.queue);
                match q.messages.pop_front() {
                    Some(m) => m,
                    None => {
                        q.draining = false;
                        self.set_busy(false);
                        self.drained.notify_waiters();
                        return;
                    }
                }
            };
            if transport.send(&next.0, next.1).await.is_err() {
                let mut q = lock(&self.queue);
                q.messages.clear();
                q.draining = false;
                self.set_busy(false);
                self.drained.notify_waiters();
                return;
            }
        }
    }
}

impl TransportTx {
    /// A sender over `transport`; `held` counts the session's faces whose overflow is busy.
    pub(crate) fn new(transport: Transport, held: Arc<AtomicUsize>) -> Self {
        TransportTx {
            zid: transport.zid(),
            transport,
            overflow: Arc::new(Overflow::new(held)),
        }
    }

    /// Hands the message to the transport if nothing waits before it and there is
    /// room; else returns the locked overflow queue it must wait in.
    fn try_send(
        &self,
        msg: &NetworkMessage,
        opts: SendOptions,
    ) -> Option<std::sync::MutexGuard<'_, OverflowQueue>> {
        use plexus_transport::pipeline::Pushed;
        let attempt = |msg| match self.transport.try_send(msg, opts) {
            Ok(Pushed::Full) => false,
            Ok(_) => true,
            Err(e) => {
                tracing::debug!("send to {}: {e}", self.zid);
                true
            }
        };
        // Fast path, without the lock: nothing waits. (A sender racing this one is
        // not ordered with it anyway.)
        if !self.overflow.busy.load(Ordering::Acquire) && attempt(msg) {
            return None;
        }
        let ov = lock(&self.overflow.queue);
        if !ov.draining && attempt(msg) {
            // The queue drained meanwhile and there was room.
            return None;
        }
        (opts.congestion == CongestionControl::Block).then_some(ov)
    }

    /// Queues a message behind a full transport, starting the task that drains it.
    fn hold(
        &self,
        mut ov: std::sync::MutexGuard<'_, OverflowQueue>,
        msg: NetworkMessage,
        opts: SendOptions,
    ) {
        ov.messages.push_back((msg, opts));
        if !ov.draining {
            ov.draining = true;
            self.overflow.set_busy(true);
            let overflow = self.overflow.clone();
            let transport = self.transport.clone();
            tokio::spawn(async move { overflow.drain(transport).await });
        }
    }

    /// True while messages wait in the overflow queue (one atomic load).
    #[inline]
    pub(crate) fn holds_back(&self) -> bool {
        self.overflow.busy.load(Ordering::Acquire)
    }

    /// Waits until messages queued behind a full transport have been handed to it.
    pub(crate) async fn drained(&self) {
        loop {
            if !self.overflow.busy.load(Ordering::Acquire) {
                return;
            }
            let notified = self.overflow.drained.notified();
            if !lock(&self.overflow.queue).draining {
                return;
            }
            notified.await;
        }
    }
}

impl FaceSender for TransportTx {
    /// Queues a message for this face, in order. When the transport's queue is full,
    /// `Block` messages wait in the face's overflow queue, drained in order by one task
    /// (later messages queue behind them), and `Drop` messages are dropped.
    fn send(&self, msg: NetworkMessage, opts: SendOptions) {
        if let Some(ov) = self.try_send(&msg, opts) {
            self.hold(ov, msg, opts);
        }
    }

    /// [`FaceSender::send`] for a borrowed message, cloned only if it must wait.
    fn send_ref(&self, msg: &NetworkMessage, opts: SendOptions) {
        if let Some(ov) = self.try_send(msg, opts) {
            self.hold(ov, msg.clone(), opts);
        }
    }
}
