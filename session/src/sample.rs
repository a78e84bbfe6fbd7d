//! What subscribers receive, and the quality-of-service knobs of publications.

use bytes::Bytes;

use crate::encoding::Encoding;
use crate::key_expr::OwnedKeyExpr;
pub use plexus_transport::wire::{CongestionControl, Priority, Reliability};

/// Whether a sample is a value or the removal of one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SampleKind {
    /// A value was put.
    Put,
    /// The value was deleted.
    Delete,
}

impl std::fmt::Display for SampleKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SampleKind::Put => "PUT",
            SampleKind::Delete => "DELETE",
        })
    }
}

/// Where a publication, subscription or query may reach or come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Locality {
    /// Only this session.
    SessionLocal,
    /// Only other processes.
    Remote,
    /// Both.
    #[default]
    Any,
}

impl Locality {
    pub(crate) fn allows_local(self) -> bool {
        matches!(self, Locality::SessionLocal | Locality::Any)
    }

    pub(crate) fn allows_remote(self) -> bool {
        matches!(self, Locality::Remote | Locality::Any)
    }

    /// Whether something from another process (`from_remote`) or from this session
    /// may pass.
    pub(crate) fn admits(self, from_remote: bool) -> bool {
        if from_remote {
            self.allows_remote()
        } else {
            self.allows_local()
        }
    }
}

/// A value (or its deletion) received on a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sample {
    pub(crate) key_expr: OwnedKeyExpr,
    pub(crate) payload: Bytes,
    pub(crate) kind: SampleKind,
    pub(crate) encoding: Encoding,
    pub(crate) timestamp: Option<uhlc::Timestamp>,
    pub(crate) attachment: Option<Bytes>,
    pub(crate) priority: Priority,
    pub(crate) congestion_control: CongestionControl,
    pub(crate) express: bool,
}

impl Sample {
    /// A sample of `kind` on `key_expr` carrying `payload`, with the defaults of a
    /// publication: no encoding, timestamp or attachment, `Data` priority, `Block`
    /// congestion control, not express.
    pub(crate) fn new(key_expr: OwnedKeyExpr, kind: SampleKind, payload: Bytes) -> Sample {
        Sample {
            key_expr,
            payload,
            kind,
            encoding: Encoding::default(),
            timestamp: None,
            attachment: None,
            priority: Priority::Data,
            congestion_control: CongestionControl::Block,
            express: false,
        }
    }

    /// The key the value was published on.
    pub fn key_expr(&self) -> &OwnedKeyExpr {
        &self.key_expr
    }

    /// The payload (empty for a deletion).
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }

    /// Put or Delete.
    pub fn kind(&self) -> SampleKind {
        self.kind
    }

    /// The payload's encoding.
    pub fn encoding(&self) -> &Encoding {
        &self.encoding
    }

    /// The publication's timestamp, if it carried one.
    pub fn timestamp(&self) -> Option<&uhlc::Timestamp> {
        self.timestamp.as_ref()
    }

    /// User bytes attached to the publication.
    pub fn attachment(&self) -> Option<&Bytes> {
        self.attachment.as_ref()
    }

    /// The priority it was published with.
    pub fn priority(&self) -> Priority {
        self.priority
    }

    /// The congestion control it was published with.
    pub fn congestion_control(&self) -> CongestionControl {
        self.congestion_control
    }

    /// True if it was published as express.
    pub fn express(&self) -> bool {
        self.express
    }
}
