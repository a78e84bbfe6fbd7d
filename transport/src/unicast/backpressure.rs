//! Back-pressure without blocking: producers that pushed beyond a queue's bound wait
//! (asynchronously) for its writer before they produce more.
//!
//! Pushing never blocks: the hot paths (a router forwards on the task that read the
//! bytes) stay synchronous. A stretch of synchronous code that may push to transports
//! runs inside a [`Scope`]; every transport that said [`Pushed::Over`] is noted in it,
//! and when the stretch ends, [`Scope::end`] gives a future that waits for each:
//!
//! - after a `Block` message, until its writer pulls again (it took what waited) or the
//!   transport closes; a writer that has been stuck in one write for `wait_before_close`
//!   gets its transport closed as a slow consumer, which ends the wait;
//! - after `Drop` messages only, at most `wait_before_drop` (or
//!   `max_wait_before_drop_fragments` for a fragmented one); past that the queue is marked
//!   congested, and later `Drop` messages to it are dropped at once until the writer
//!   pulls, so a stalled consumer costs the others one such wait per episode.
//!
//! A link's reader opens a scope around each read's batches, so a router holds back
//! the sources that fed a slow destination, one read's worth at a time; an async
//! publisher opens one around each publication. Code outside any scope gets a fixed
//! slack instead (see [`Pipeline::push`](crate::pipeline::Pipeline::push)).
//!
//! [`Pushed::Over`]: crate::pipeline::Pushed::Over

use std::cell::{Cell, RefCell};
use std::time::Duration;

use super::transport::Transport;
use crate::pipeline::SendOptions;
use crate::wire::Priority;

/// A transport noted in a scope.
struct Waiting {
    transport: Transport,
    /// The writer's pull count when the last message went beyond the bound.
    mark: u64,
    /// A `Block` message went beyond the bound.
    block: bool,
    /// The longest `Drop` wait asked for, and the priorities concerned (a bit each).
    drop_wait: Duration,
    drop_stages: u8,
}

/// The scopes of one thread: how deep they nest, and what they noted (the innermost
/// scope's entries start at `top`).
struct Scopes {
    depth: Cell<u32>,
    top: Cell<usize>,
    noted: RefCell<Vec<Waiting>>,
    /// A push on this thread woke a link's writer (see [`woke_writer`]).
    woke: Cell<bool>,
    /// Scopes begun on this thread (see [`scope_generation`]).
    generation: Cell<u64>,
}

thread_local! {
    static SCOPES: Scopes = const {
        Scopes {
            depth: Cell::new(0),
            top: Cell::new(0),
            noted: RefCell::new(Vec::new()),
            woke: Cell::new(false),
            generation: Cell::new(0),
        }
    };
}

/// Inside a [`Scope`] on this thread (such as a link's reader around one read's batches),
/// a number that changes with every scope begun; `None` outside any. What the same
/// number was seen with happened within one scope.
#[inline]
pub fn scope_generation() -> Option<u64> {
    SCOPES.with(|s| (s.depth.get() > 0).then(|| s.generation.get()))
}

/// Notes that a push on this thread woke a sleeping writer.
#[inline]
pub(crate) fn note_woke_writer() {
    SCOPES.with(|s| s.woke.set(true));
}

/// Whether a push on this thread woke a sleeping writer since the last call. A link's
/// reader that did yields before it reads on: the writer it woke waits in its worker's
/// LIFO slot, which other workers do not steal. A reader that woke no writer (a
/// subscriber's) does not yield: a yield wakes the runtime's idle worker for nothing,
/// a pair of context switches per read.
#[inline]
pub(crate) fn woke_writer() -> bool {
    SCOPES.with(|s| s.woke.replace(false))
}

/// True inside a [`Scope`] on this thread: pushes beyond a bound will be waited for.
pub(crate) fn in_scope() -> bool {
    SCOPES.with(|s| s.depth.get() > 0)
}

/// Notes that `transport` took a message (sent with `opts`) beyond its bound, queued
/// when the writer's pull count was `mark` (read under the stage's lock: reading it here
/// instead could see the pull that already took the message, and wait for one more that
/// may never come).
pub(crate) fn note(transport: &Transport, opts: SendOptions, fragmented: bool, mark: u64) {
    SCOPES.with(|s| {
        if s.depth.get() == 0 {
            return;
        }
        let mut list = s.noted.borrow_mut();
        let top = s.top.get();
        let pos = match list[top..]
            .iter()
            .position(|w| w.transport.ptr_eq(transport))
        {
            Some(p) => top + p,
            None => {
                list.push(Waiting {
                    transport: transport.clone(),
                    mark,
                    block: false,
                    drop_wait: Duration::ZERO,
                    drop_stages: 0,
                });
                list.len() - 1
            }
        };
        let w = &mut list[pos];
        w.mark = mark;
        match transport.drop_wait(opts, fragmented) {
            None => w.block = true,
            Some(d) => {
                w.drop_wait = w.drop_wait.max(d);
                w.drop_stages |= 1 << (opts.priority as u8);
            }
        }
    });
}

/// Collects the transports that the synchronous code run between [`Scope::begin`] and
/// [`Scope::end`] on this thread pushed beyond their bound. Scopes nest (the inner one
/// collects until it ends). Dropped without [`Scope::end`], it collects nothing more
/// and what it noted is not waited for. Cheap: a few thread-local reads and writes.
#[derive(Debug)]
#[must_use = "end the scope and await what it returns"]
pub struct Scope {
    /// Where the enclosing scope's entries started.
    outer_top: usize,
    ended: bool,
}

impl Scope {
    /// Starts collecting on this thread.
    #[inline]
    pub fn begin() -> Scope {
        SCOPES.with(|s| {
            s.depth.set(s.depth.get() + 1);
            s.generation.set(s.generation.get().wrapping_add(1));
            let outer_top = s.top.replace(s.noted.borrow().len());
            Scope {
                outer_top,
                ended: false,
            }
        })
    }

    /// Stops collecting; returns a future to await if some transport must be waited for.
    ///
    /// The wait is boxed: it is rare, and a future that held it inline would be over a
    /// kilobyte, which every publication's future (built, moved and dropped per message)
    /// would then carry.
    #[inline]
    pub fn end(mut self) -> Option<Relief> {
        self.ended = true;
        let noted = self.close();
        (!noted.is_empty()).then(|| Box::pin(relieve(noted)) as Relief)
    }

    /// Leaves the scope; returns what it noted.
    fn close(&self) -> Vec<Waiting> {
        SCOPES.with(|s| {
            s.depth.set(s.depth.get().saturating_sub(1));
            let top = s.top.replace(self.outer_top);
            let mut list = s.noted.borrow_mut();
            if list.len() > top {
                list.drain(top..).collect()
            } else {
                Vec::new()
            }
        })
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        if !self.ended {
            drop(self.close());
        }
    }
}

/// The wait for the transports a [`Scope`] noted (see [`Scope::end`]).
pub type Relief = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'static>>;

/// Waits for every transport noted in a scope, as the module documentation says.
async fn relieve(list: Vec<Waiting>) {
    let start = tokio::time::Instant::now();
    for w in list {
        let t = &w.transport;
        if w.block {
            let wbc = t.inner.queue.wait_before_close;
            loop {
                if t.wait_pull(w.mark, tokio::time::Instant::now() + wbc).await {
                    break;
                }
                // Still nothing taken: stop waiting only for a writer that is stuck.
                if t.writer_stuck() {
                    t.close_slow_consumer();
                    break;
                }
            }
        } else if !t.wait_pull(w.mark, start + w.drop_wait).await {
            for p in Priority::ALL {
                if w.drop_stages & (1 << (p as u8)) != 0 {
                    t.inner.pipeline.set_congested(p);
                }
            }
        }
    }
}
