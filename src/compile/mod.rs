//! Compile jobs: the durable store behind the compile API. (The builders and the
//! HTTP service over this store are the next steps of the compile-service issue.)

mod store;

pub use store::{Job, Status, Store, StoreError};
