//! How the routing layer sends to a face: the [`FaceSender`] trait, implemented by the
//! transport-backed sender (`transport.rs`) and by the unit tests' recorder (`fake.rs`).
//! A face holds one of them in a `FaceTx` (`face.rs`).

use plexus_transport::SendOptions;
use plexus_transport::wire::network::NetworkMessage;

/// Something that carries a face's messages to its remote process, in order.
pub(crate) trait FaceSender {
    /// Queues `msg`; never waits (congestion is handled behind this call).
    fn send(&self, msg: NetworkMessage, opts: SendOptions);
    /// [`FaceSender::send`] for a borrowed message (one message serves several faces).
    fn send_ref(&self, msg: &NetworkMessage, opts: SendOptions);
}
