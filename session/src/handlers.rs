//! How received items reach the application: a callback, a bounded FIFO channel, or a
//! ring channel that keeps only the newest items.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use crate::sync::lock;

/// A callback that receives items on the task that delivered them.
pub type Callback<T> = Arc<dyn Fn(T) + Send + Sync>;

/// Turns a handler description into the callback the session calls and the handle the
/// application keeps.
pub trait IntoHandler<T> {
    /// What the application receives items from.
    type Handler;
    /// Splits into the callback and the handle.
    fn into_handler(self) -> (Callback<T>, Self::Handler);
}

impl<T, F> IntoHandler<T> for F
where
    F: Fn(T) + Send + Sync + 'static,
{
    type Handler = ();
    fn into_handler(self) -> (Callback<T>, ()) {
        (Arc::new(self), ())
    }
}

/// A bounded FIFO channel (flume). When it is full, delivery waits for room, so a slow
/// consumer slows its publishers down rather than losing data.
#[derive(Clone, Copy, Debug)]
pub struct FifoChannel(pub usize);

impl Default for FifoChannel {
    fn default() -> Self {
        FifoChannel(256)
    }
}

impl<T: Send + 'static> IntoHandler<T> for FifoChannel {
    type Handler = flume::Receiver<T>;
    fn into_handler(self) -> (Callback<T>, flume::Receiver<T>) {
        let (tx, rx) = flume::bounded(self.0.max(1));
        (
            Arc::new(move |item| {
                let _ = tx.send(item);
            }),
            rx,
        )
    }
}

/// A channel that keeps the newest `capacity` items, dropping the oldest when full.
#[derive(Clone, Copy, Debug)]
pub struct RingChannel(pub usize);

impl Default for RingChannel {
    fn default() -> Self {
        RingChannel(1)
    }
}

/// The receiving end of a [`RingChannel`].
#[derive(Debug)]
pub struct RingReceiver<T> {
    state: Arc<RingState<T>>,
}

#[derive(Debug)]
struct RingState<T> {
    items: Mutex<VecDeque<T>>,
    capacity: usize,
    ready: tokio::sync::Notify,
    senders_gone: std::sync::atomic::AtomicBool,
}

struct RingSender<T> {
    state: Arc<RingState<T>>,
}

impl<T> Drop for RingSender<T> {
    fn drop(&mut self) {
        self.state
            .senders_gone
            .store(true, std::sync::atomic::Ordering::Release);
        self.state.ready.notify_waiters();
    }
}

impl<T> RingReceiver<T> {
    /// The oldest kept item, if any, without waiting.
    pub fn try_recv(&self) -> Option<T> {
        lock(&self.state.items).pop_front()
    }

    /// Waits for an item; `None` once the sender side is gone and nothing is left.
    pub async fn recv_async(&self) -> Option<T> {
        loop {
            let notified = self.state.ready.notified();
            if let Some(item) = self.try_recv() {
                return Some(item);
            }
            if self
                .state
                .senders_gone
                .load(std::sync::atomic::Ordering::Acquire)
            {
                return None;
            }
            notified.await;
        }
    }
}

impl<T: Send + 'static> IntoHandler<T> for RingChannel {
    type Handler = RingReceiver<T>;
    fn into_handler(self) -> (Callback<T>, RingReceiver<T>) {
        let state = Arc::new(RingState {
            items: Mutex::new(VecDeque::new()),
            capacity: self.0.max(1),
            ready: tokio::sync::Notify::new(),
            senders_gone: std::sync::atomic::AtomicBool::new(false),
        });
        let sender = RingSender {
            state: state.clone(),
        };
        (
            Arc::new(move |item| {
                let s = &sender.state;
                {
                    let mut items = lock(&s.items);
                    if items.len() == s.capacity {
                        items.pop_front();
                    }
                    items.push_back(item);
                }
                s.ready.notify_one();
            }),
            RingReceiver { state },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ring_keeps_the_newest() {
        let (cb, rx) = RingChannel(2).into_handler();
        for i in 0..5 {
            cb(i);
        }
        assert_eq!(rx.try_recv(), Some(3));
        assert_eq!(rx.recv_async().await, Some(4));
        drop(cb);
        assert_eq!(rx.recv_async().await, None);
    }

    #[test]
    fn fifo_is_bounded_and_ordered() {
        let (cb, rx) = FifoChannel(3).into_handler();
        for i in 0..3 {
            cb(i);
        }
        assert_eq!(rx.len(), 3);
        assert_eq!(rx.try_recv().ok(), Some(0));
        assert_eq!(rx.try_recv().ok(), Some(1));
    }
}
