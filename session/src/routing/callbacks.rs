//! How routing reaches the application: callbacks it calls on the task that delivers.
//! The api's handlers (`crate::handlers::IntoHandler`) produce exactly these types, so
//! nothing is wrapped on the way to a subscriber. (Queryables get a
//! [`super::query_exec::QueryCallback`].)

use std::sync::Arc;

use crate::reply::Reply;
use crate::sample::Sample;

/// Receives the samples of a local subscriber (or liveliness subscriber).
pub(crate) type SampleCallback = Arc<dyn Fn(Sample) + Send + Sync>;

/// Receives the replies of a local query (or liveliness query).
pub(crate) type ReplyCallback = Arc<dyn Fn(Reply) + Send + Sync>;
