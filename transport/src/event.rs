//! Events that the transport layer reports to the layer above.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use plexus_link::LinkInfo;

use crate::unicast::Transport;
use crate::wire::network::{NetworkMessage, Push};
use crate::wire::transport::CloseReason;

/// Why a link or a transport went away.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseCause {
    /// Closed on this side (by the application or the manager).
    Local,
    /// The remote process sent CLOSE with this reason.
    ByPeer(CloseReason),
    /// Nothing was received for the remote's lease.
    LeaseExpired,
    /// The remote process sent undecodable or invalid input.
    Malformed(String),
    /// The link failed (reset, end of stream, I/O error).
    LinkFailed(String),
    /// The remote process stopped reading: a link's writer made no progress for
    /// `wait_before_close` while a `Block` message waited for room.
    SlowConsumer,
}

impl fmt::Display for CloseCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseCause::Local => f.write_str("closed locally"),
            CloseCause::ByPeer(reason) => write!(f, "closed by peer ({reason})"),
            CloseCause::LeaseExpired => f.write_str("lease expired"),
            CloseCause::Malformed(what) => write!(f, "malformed input: {what}"),
            CloseCause::LinkFailed(what) => write!(f, "link failed: {what}"),
            CloseCause::SlowConsumer => f.write_str("slow consumer"),
        }
    }
}

/// A link of a transport, as reported in events and by [`Transport::links`].
#[derive(Clone, Debug)]
pub struct LinkSnapshot {
    /// Stable id for the link's life (unique in this process).
    pub id: u64,
    /// Facts from the link layer (src, dst, group, mtu, reliability, streaming).
    pub info: Arc<LinkInfo>,
    /// When the link joined its transport.
    pub created_at: SystemTime,
    /// Last measured round-trip time in microseconds, if known.
    pub rtt_us: Option<u64>,
    /// Bytes written to the link so far (batches, prefixes included).
    pub tx_bytes: u64,
    /// Bytes read from the link so far.
    pub rx_bytes: u64,
    /// Who the peer proved to be on this link: the common name of its TLS certificate,
    /// else the user the transport's peer proved with usrpwd ([`Transport::auth_user`]).
    pub auth_identifier: Option<String>,
}

/// A change in a transport's life, in the order they happen.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum TransportEvent {
    /// A link joined the transport (the first one right after the transport opened).
    LinkAdded(LinkSnapshot),
    /// A link left the transport.
    LinkRemoved {
        /// The link.
        link: LinkSnapshot,
        /// Why.
        cause: CloseCause,
    },
    /// The transport closed; no more events or messages follow.
    Closed {
        /// Why.
        cause: CloseCause,
    },
}

/// Receives what one transport delivers: network messages and events.
///
/// `message` and `push` run on the task that read the bytes, so they must not block for
/// long; what they send to other transports beyond their queues' bounds is waited for
/// (asynchronously) by that task before it reads more (see
/// [`backpressure`](crate::unicast::backpressure)).
pub trait PeerHandler: Send + Sync + 'static {
    /// A network message arrived.
    fn message(&self, msg: NetworkMessage);
    /// A PUSH arrived (the hot path). The handler may take what it needs out of
    /// `push`, which is dropped afterwards; by default a copy goes to
    /// [`PeerHandler::message`].
    fn push(&self, push: &mut Push) {
        self.message(NetworkMessage::Push(push.clone()));
    }
    /// One batch arrived: the handler calls `read` once, with where the batch's PUSHes
    /// go, and `read` decodes the batch, giving each PUSH to the sink and anything else
    /// to [`PeerHandler::message`], in order. A handler can so look up once per batch
    /// what every PUSH needs (a batch of small messages holds hundreds, usually on one
    /// key). By default each PUSH goes to [`PeerHandler::push`].
    fn batch(&self, read: &mut dyn FnMut(&mut dyn PushSink)) {
        read(&mut EachPush(self));
    }
    /// The transport's links or state changed.
    fn event(&self, event: TransportEvent);
}

/// Where the PUSHes of one batch go (see [`PeerHandler::batch`]).
pub trait PushSink {
    /// A PUSH arrived; what the sink does not take out of `push` is dropped afterwards.
    fn push(&mut self, push: &mut Push);
}

/// Gives each PUSH to its handler's [`PeerHandler::push`].
pub(crate) struct EachPush<'a, H: ?Sized>(pub(crate) &'a H);

impl<H: PeerHandler + ?Sized> PushSink for EachPush<'_, H> {
    fn push(&mut self, push: &mut Push) {
        self.0.push(push);
    }
}

/// Receives new transports from the manager.
pub trait TransportHandler: Send + Sync + 'static {
    /// A transport opened. The returned handler receives its messages and events,
    /// starting with [`TransportEvent::LinkAdded`] for its first link.
    fn opened(&self, transport: &Transport) -> Arc<dyn PeerHandler>;
}
