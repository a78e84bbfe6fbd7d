//! The one declared handle: [`Declared`] holds the key, the handler and what undeclares
//! it, for every kind of declaration that lives in the routing tables (subscribers,
//! queryables, liveliness tokens and subscribers). Dropping it undeclares it.

use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, Weak};

use super::builder::sealed::Sealed;
use crate::error::SessionError;
use crate::key_expr::OwnedKeyExpr;
use crate::routing::Dispatcher;

/// What kind of declaration a [`Declared`] handle is (its name in `Debug`).
pub trait Kind: Sealed {
    /// The handle's name.
    const NAME: &'static str;
}

/// The kinds of declared handles.
pub mod kind {
    use super::{Kind, Sealed};

    macro_rules! kinds {
        ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
            $(#[$doc])*
            #[derive(Debug)]
            pub enum $name {}
            impl Sealed for $name {}
            impl Kind for $name {
                const NAME: &'static str = stringify!($name);
            }
        )*};
    }

    kinds!(
        /// A subscriber ([`crate::Subscriber`]).
        Subscriber,
        /// A queryable ([`crate::Queryable`]).
        Queryable,
        /// A liveliness token ([`crate::LivelinessToken`]).
        LivelinessToken,
        /// A liveliness subscriber ([`crate::LivelinessSubscriber`]).
        LivelinessSubscriber,
    );
}

/// A declared entity of kind `K` on a key, with the handler `H` it delivers to.
/// Dropping it undeclares it, locally and remotely; it dereferences to its handler.
///
/// The public names are aliases: [`crate::Subscriber`], [`crate::Queryable`],
/// [`crate::LivelinessToken`] and [`crate::LivelinessSubscriber`].
pub struct Declared<K: Kind, H = ()> {
    key: OwnedKeyExpr,
    handler: H,
    undeclarer: Undeclarer,
    _kind: PhantomData<fn() -> K>,
}

impl<K: Kind, H> Declared<K, H> {
    /// A handle for the entity `id` of `routing`, undeclared by `undo`.
    pub(crate) fn new(
        key: OwnedKeyExpr,
        handler: H,
        routing: &Arc<Dispatcher>,
        id: u32,
        undo: fn(&Dispatcher, u32),
    ) -> Self {
        Declared {
            key,
            handler,
            undeclarer: Undeclarer {
                routing: Arc::downgrade(routing),
                id,
                undo,
                done: false,
            },
            _kind: PhantomData,
        }
    }

    /// The declared key expression.
    pub fn key_expr(&self) -> &OwnedKeyExpr {
        &self.key
    }

    /// The receiving handle (e.g. a `flume::Receiver<Sample>`).
    pub fn handler(&self) -> &H {
        &self.handler
    }

    /// Undeclares it now.
    pub async fn undeclare(mut self) -> Result<(), SessionError> {
        self.undeclarer.undeclare();
        Ok(())
    }
}

impl<K: Kind, H> std::ops::Deref for Declared<K, H> {
    type Target = H;
    fn deref(&self) -> &H {
        &self.handler
    }
}

impl<K: Kind, H> fmt::Debug for Declared<K, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(K::NAME)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// Undeclares one declared entity exactly once: when asked, or when its handle is
/// dropped (if the session still exists).
struct Undeclarer {
    routing: Weak<Dispatcher>,
    id: u32,
    undo: fn(&Dispatcher, u32),
    done: bool,
}

impl Undeclarer {
    fn undeclare(&mut self) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        if let Some(routing) = self.routing.upgrade() {
            (self.undo)(&routing, self.id);
        }
    }
}

impl Drop for Undeclarer {
    fn drop(&mut self) {
        self.undeclare();
    }
}
