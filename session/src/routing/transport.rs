//! The face sender used in production: the transport itself.
//!
//! Congestion control is the transport's: a message that finds its queue full still
//! goes beyond it, and the producer (a link's reader, an async publication, a reply)
//! waits for the writer afterwards, inside a back-pressure scope; a writer stuck for
//! `wait_before_close` closes its transport as a slow consumer. See
//! [`plexus_transport::unicast::backpressure`].

use plexus_transport::pipeline::Pushed;
use plexus_transport::wire::ZenohId;
use plexus_transport::wire::network::NetworkMessage;
use plexus_transport::{SendOptions, Transport};

use super::sender::FaceSender;

/// A face's way to its remote process: its transport.
pub(crate) struct TransportTx {
    zid: ZenohId,
    transport: Transport,
}

impl TransportTx {
    /// A sender over `transport`.
    pub(crate) fn new(transport: Transport) -> Self {
        TransportTx {
            zid: transport.zid(),
            transport,
        }
    }
}

impl FaceSender for TransportTx {
    /// Queues a message for this face, in order (see [`FaceSender::send`]).
    #[inline]
    fn send(&self, msg: NetworkMessage, opts: SendOptions) {
        self.send_ref(&msg, opts);
    }

    /// [`FaceSender::send`] for a borrowed message.
    #[inline]
    fn send_ref(&self, msg: &NetworkMessage, opts: SendOptions) {
        match self.transport.try_send(msg, opts) {
            Ok(Pushed::Queued | Pushed::Over { .. } | Pushed::Dropped) => {}
            Ok(Pushed::Full) => {
                tracing::debug!("send to {}: queue full, message dropped", self.zid)
            }
            Ok(Pushed::Closed) | Err(_) => {
                tracing::debug!("send to {}: transport closed", self.zid)
            }
        }
    }
}
