//! How the routing layer sends to a face: the [`FaceSender`] trait, and [`FaceTx`], the
//! senders a face can have (the transport in production; a recording fake in the unit
//! tests).
//!
//! `FaceTx` is an enum rather than a `dyn FaceSender` so that the per-message path
//! (`Face::send_ref` for every publication) stays a direct, inlinable call: outside
//! `cfg(test)` it has one variant.

use plexus_transport::SendOptions;
use plexus_transport::wire::network::NetworkMessage;

use super::transport::TransportTx;

/// Something that carries a face's messages to its remote process, in order.
pub(crate) trait FaceSender {
    /// Queues `msg`; never waits (congestion is handled behind this call).
    fn send(&self, msg: NetworkMessage, opts: SendOptions);
    /// [`FaceSender::send`] for a borrowed message (one message serves several faces).
    fn send_ref(&self, msg: &NetworkMessage, opts: SendOptions);
}

/// The sender of one face.
pub(crate) enum FaceTx {
    /// A transport to a remote process.
    Transport(TransportTx),
    /// Records what is sent (routing unit tests).
    #[cfg(test)]
    Fake(std::sync::Arc<super::fake::Recorder>),
}

impl FaceSender for FaceTx {
    #[inline]
    fn send(&self, msg: NetworkMessage, opts: SendOptions) {
        match self {
            FaceTx::Transport(t) => t.send(msg, opts),
            #[cfg(test)]
            FaceTx::Fake(f) => f.send(msg, opts),
        }
    }

    #[inline]
    fn send_ref(&self, msg: &NetworkMessage, opts: SendOptions) {
        match self {
            FaceTx::Transport(t) => t.send_ref(msg, opts),
            #[cfg(test)]
            FaceTx::Fake(f) => f.send_ref(msg, opts),
        }
    }
}

impl FaceTx {
    /// True while messages wait behind a full transport.
    #[inline]
    pub(crate) fn holds_back(&self) -> bool {
        match self {
            FaceTx::Transport(t) => t.holds_back(),
            #[cfg(test)]
            FaceTx::Fake(_) => false,
        }
    }

    /// Waits until messages that waited behind a full transport have been handed to it.
    pub(crate) async fn drained(&self) {
        match self {
            FaceTx::Transport(t) => t.drained().await,
            #[cfg(test)]
            FaceTx::Fake(_) => {}
        }
    }
}
