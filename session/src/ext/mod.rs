//! Extensions built on the session API, mirroring `zenoh-ext`.
//!
//! - [`QueryingSubscriber`]: a subscriber that also queries for what was published
//!   before it existed, and merges both into one de-duplicated, ordered stream.

mod querying_subscriber;

pub use querying_subscriber::{
    QueryingSubscriber, QueryingSubscriberBuilder, QueryingSubscriberOptions, SessionExt,
};
