//! A recording face sender for the routing unit tests: no transport, no sockets.

use std::sync::Mutex;

use plexus_transport::SendOptions;
use plexus_transport::wire::network::NetworkMessage;

use super::sender::FaceSender;
use crate::sync::lock;

/// Keeps every message sent to a face, in order.
#[derive(Default)]
pub(crate) struct Recorder {
    sent: Mutex<Vec<(NetworkMessage, SendOptions)>>,
}

impl Recorder {
    /// Takes what was sent since the last call.
    pub(crate) fn take(&self) -> Vec<NetworkMessage> {
        std::mem::take(&mut *lock(&self.sent))
            .into_iter()
            .map(|(m, _)| m)
            .collect()
    }
}

impl FaceSender for Recorder {
    fn send(&self, msg: NetworkMessage, opts: SendOptions) {
        lock(&self.sent).push((msg, opts));
    }

    fn send_ref(&self, msg: &NetworkMessage, opts: SendOptions) {
        self.send(msg.clone(), opts);
    }
}
