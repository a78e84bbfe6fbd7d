//! Settings: [`TransportConfig`] for a [`TransportManager`](super::TransportManager), and
//! [`QueueConfig`] for the TX queues of its transports.
//!
//! Its own module so that the manager (`unicast`) and each transport (`transport`)
//! both read them without depending on each other.

use std::sync::Arc;
use std::time::Duration;

use plexus_link::LinkConfig;

use crate::auth::UsrPwd;
use crate::handshake::HandshakeConfig;
use crate::multilink::MultilinkKey;
use crate::wire::{WhatAmI, ZenohId};

/// Settings of a [`TransportManager`](super::TransportManager).
#[derive(Clone, Debug)]
pub struct TransportConfig {
    /// This process's id.
    pub zid: ZenohId,
    /// This process's kind.
    pub whatami: WhatAmI,
    /// Our lease, announced in OPEN: the peer drops a link after this long without input.
    pub lease: Duration,
    /// Keep-alives per lease: one is sent after `lease / keep_alive` without output.
    pub keep_alive: u32,
    /// Largest batch we accept and send (further bounded by each link's MTU).
    pub batch_size: u16,
    /// Offer one channel per priority.
    pub qos: bool,
    /// How long the handshake may take on a link we open.
    pub open_timeout: Duration,
    /// How long the handshake may take on a link we accept.
    pub accept_timeout: Duration,
    /// Most handshakes of accepted links in progress at once (Zenoh's
    /// `transport/unicast/accept_pending`); links accepted beyond it are closed at once.
    pub accept_pending: usize,
    /// Most transports open at once (Zenoh's `transport/unicast/max_sessions`): a
    /// handshake that would open one more is refused with CLOSE(MAX_SESSIONS).
    pub max_sessions: usize,
    /// Most links a transport accepts (Zenoh's `transport/unicast/max_links`; links we
    /// open are not counted). Above 1, a link that joins a transport must prove, with
    /// Zenoh's multilink extension, that it comes from the process that opened it.
    pub max_links: usize,
    /// The multilink key pair to prove our links with (used when `max_links` > 1);
    /// `None`: a fresh one is made when the manager starts.
    pub multilink_key: Option<Arc<MultilinkKey>>,
    /// Largest reassembled message, and the most bytes a transport's incomplete
    /// fragment series may hold together (see [`crate::defrag`]).
    pub max_message_size: usize,
    /// How long an incomplete fragment series may go without a new fragment before it
    /// is dropped (Plexus's own limit, see [`crate::defrag`]).
    pub defrag_timeout: Duration,
    /// The TX queues' bounds and congestion control.
    pub queue: QueueConfig,
    /// Measure each link's round-trip time with OAM probes (answered by Plexus peers).
    pub rtt_probes: bool,
    /// usrpwd authentication (Zenoh's `transport/auth/usrpwd`): off by default.
    pub auth: Option<Arc<UsrPwd>>,
    /// Link-layer settings (TLS certificates included).
    pub link: LinkConfig,
}

impl TransportConfig {
    /// Defaults for a process with this id and kind.
    pub fn new(zid: ZenohId, whatami: WhatAmI) -> Self {
        TransportConfig {
            zid,
            whatami,
            lease: Duration::from_secs(10),
            keep_alive: 4,
            batch_size: u16::MAX,
            qos: true,
            open_timeout: Duration::from_secs(10),
            accept_timeout: Duration::from_secs(10),
            accept_pending: DEFAULT_ACCEPT_PENDING,
            max_sessions: DEFAULT_MAX_SESSIONS,
            max_links: DEFAULT_MAX_LINKS,
            multilink_key: None,
            max_message_size: crate::defrag::DEFAULT_MAX_MESSAGE_SIZE,
            defrag_timeout: crate::defrag::DEFAULT_DEFRAG_TIMEOUT,
            queue: QueueConfig::default(),
            rtt_probes: true,
            auth: None,
            link: LinkConfig::default(),
        }
    }

    /// The handshake settings for a link with this `mtu`, within `timeout`, proving
    /// `multilink` if given.
    pub(super) fn handshake(
        &self,
        mtu: u16,
        timeout: Duration,
        multilink: Option<Arc<MultilinkKey>>,
    ) -> HandshakeConfig {
        HandshakeConfig {
            zid: self.zid,
            whatami: self.whatami,
            lease: self.lease,
            batch_size: self.batch_size.min(mtu),
            resolution: crate::wire::transport::DEFAULT_RESOLUTION,
            qos: self.qos,
            patch: 1,
            timeout,
            // The same on every link: a link that joins a transport must announce the SN
            // the transport's TX channels already use, since the peer may have opened its
            // side of the transport with that link (e.g. when both sides connect at once).
            // Zenoh likewise derives its initial SN from the zids (`compute_sn`).
            initial_sn: Some(stable_initial_sn(self.zid)),
            auth: self.auth.clone(),
            nonce: None,
            multilink,
        }
    }
}

/// Default of [`TransportConfig::accept_pending`] (Zenoh's).
pub const DEFAULT_ACCEPT_PENDING: usize = 100;
/// Default of [`TransportConfig::max_sessions`] (Zenoh's).
pub const DEFAULT_MAX_SESSIONS: usize = 1000;
/// Default of [`TransportConfig::max_links`] (Zenoh's).
pub const DEFAULT_MAX_LINKS: usize = 1;

/// The TX queues' bounds and congestion control (Zenoh's `transport/link/tx/queue/*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueConfig {
    /// Finished batches that may wait per priority (indexed by `Priority as usize`)
    /// before congestion control applies; at least 1.
    pub size: [usize; 8],
    /// How long a producer of `Drop` messages waits for room before the queue counts as
    /// congested (later `Drop` messages to it are then dropped until the writer frees it).
    pub wait_before_drop: Duration,
    /// The same for a `Drop` message cut into fragments.
    pub max_wait_before_drop_fragments: Duration,
    /// How long a link's writer may make no progress while a `Block` message waits
    /// before the transport is closed as a slow consumer.
    pub wait_before_close: Duration,
    /// Whether a link's writer may hold a batch back for more messages while producers
    /// keep adding to it; without, it writes what waits as soon as it is free.
    pub batching: bool,
    /// The longest it holds a batch back (it goes sooner once full, or when the producers
    /// were not adding to it).
    pub batching_time_limit: Duration,
}

impl Default for QueueConfig {
    /// Plexus's defaults: 16 batches per priority (Zenoh: 2), and Zenoh's waits (1 ms,
    /// 50 ms, 5 s) and batching time limit (1 ms).
    fn default() -> Self {
        QueueConfig {
            size: [16; 8],
            wait_before_drop: Duration::from_millis(1),
            max_wait_before_drop_fragments: Duration::from_millis(50),
            wait_before_close: Duration::from_secs(5),
            batching: true,
            batching_time_limit: Duration::from_millis(1),
        }
    }
}

/// An initial SN that depends only on our zid (reduced to the agreed mask later).
fn stable_initial_sn(zid: ZenohId) -> u32 {
    let v = zid.to_u128();
    let folded = (v ^ (v >> 64)) as u64;
    let mixed = (folded ^ (folded >> 32)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (mixed >> 32) as u32
}
