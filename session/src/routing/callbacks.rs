//! How routing reaches the application: callbacks it calls on the task that delivers.
//! They are the callbacks the api's handlers produce (`crate::handlers::Callback`), so
//! nothing is wrapped on the way to a subscriber. (Queryables get a
//! [`super::query_exec::QueryCallback`].)

use crate::handlers::Callback;
use crate::reply::Reply;
use crate::sample::Sample;

/// Receives the samples of a local subscriber (or liveliness subscriber).
pub(crate) type SampleCallback = Callback<Sample>;

/// Receives the replies of a local query (or liveliness query).
pub(crate) type ReplyCallback = Callback<Reply>;
