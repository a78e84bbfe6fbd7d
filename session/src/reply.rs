//! What a query gets back ([`Reply`], [`ReplyError`]) and how a query is aimed and its
//! replies merged ([`QueryTarget`], [`ConsolidationMode`]): plain data, shared by the
//! handles users hold (`crate::api`) and the routing layer that carries queries.

use bytes::Bytes;
use plexus_transport::wire::network::QueryTarget as WireTarget;
use plexus_transport::wire::zenoh::Consolidation as WireConsolidation;
use plexus_transport::wire::{UnknownExts, ZenohId};

use crate::encoding::Encoding;
use crate::sample::Sample;

/// Which queryables a query goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum QueryTarget {
    /// One complete queryable if there is one, else every matching queryable.
    #[default]
    BestMatching,
    /// Every matching queryable.
    All,
    /// Every complete queryable whose key includes the query's.
    AllComplete,
}

/// How replies for the same key are merged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ConsolidationMode {
    /// `Latest`, unless the selector asks for a time range (`_time=`), then `None`.
    #[default]
    Auto,
    /// Every reply as it comes.
    None,
    /// A reply only if newer than the last one delivered for its key.
    Monotonic,
    /// Only the newest reply per key, delivered when the query ends.
    Latest,
}

impl ConsolidationMode {
    pub(crate) fn resolve(self, parameters: &str) -> ConsolidationMode {
        match self {
            ConsolidationMode::Auto if parameters.contains("_time=") => ConsolidationMode::None,
            ConsolidationMode::Auto => ConsolidationMode::Latest,
            other => other,
        }
    }

    pub(crate) fn to_wire(self) -> WireConsolidation {
        match self {
            ConsolidationMode::Auto => WireConsolidation::Auto,
            ConsolidationMode::None => WireConsolidation::None,
            ConsolidationMode::Monotonic => WireConsolidation::Monotonic,
            ConsolidationMode::Latest => WireConsolidation::Latest,
        }
    }
}

pub(crate) fn target_to_wire(t: QueryTarget) -> WireTarget {
    match t {
        QueryTarget::BestMatching => WireTarget::BestMatching,
        QueryTarget::All => WireTarget::All,
        QueryTarget::AllComplete => WireTarget::AllComplete,
    }
}

pub(crate) fn target_from_wire(t: WireTarget) -> QueryTarget {
    match t {
        WireTarget::BestMatching => QueryTarget::BestMatching,
        WireTarget::All => QueryTarget::All,
        WireTarget::AllComplete => QueryTarget::AllComplete,
    }
}

/// An error reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplyError {
    pub(crate) payload: Bytes,
    pub(crate) encoding: Encoding,
}

impl ReplyError {
    /// The error's payload.
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }

    /// The payload's encoding.
    pub fn encoding(&self) -> &Encoding {
        &self.encoding
    }
}

/// One reply to a `get`.
#[derive(Clone, Debug)]
pub struct Reply {
    pub(crate) result: Result<Sample, ReplyError>,
    pub(crate) replier_id: Option<ZenohId>,
    /// What a routed reply carries on (empty for a session's own replies).
    pub(crate) passed: PassedExts,
}

/// The extensions Plexus does not model that a routed query or reply carries on
/// unchanged: the network message's (REQUEST, RESPONSE), its zenoh body's (QUERY,
/// REPLY or ERR), and those of the PUT or DEL inside a REPLY.
#[derive(Clone, Debug, Default)]
pub(crate) struct PassedExts {
    pub(crate) net: UnknownExts,
    pub(crate) body: UnknownExts,
    pub(crate) value: UnknownExts,
}

impl Reply {
    pub(crate) fn new(result: Result<Sample, ReplyError>, replier_id: Option<ZenohId>) -> Self {
        Reply {
            result,
            replier_id,
            passed: PassedExts::default(),
        }
    }

    /// The sample, or the error the queryable replied with.
    pub fn result(&self) -> Result<&Sample, &ReplyError> {
        self.result.as_ref()
    }

    /// Consumes the reply into its result.
    pub fn into_result(self) -> Result<Sample, ReplyError> {
        self.result
    }

    /// The id of the session that replied, when known.
    pub fn replier_id(&self) -> Option<ZenohId> {
        self.replier_id
    }
}
