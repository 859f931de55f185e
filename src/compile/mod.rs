//! Compile jobs: what a request must be ([`Submission`]), the durable job store,
//! the pipeline a job runs (validate, generate the keymap's sources, build), the
//! builders, and the [`Service`] that ties them together for the HTTP server.

mod builder;
pub mod launch;
mod pipeline;
mod request;
mod service;
mod store;
mod tree_state;

pub use builder::{Builder, FirmwareBuilder, Warm};
pub use pipeline::{Artifact, NO_TOOLCHAIN, Outcome, Sources, run};
pub use request::{RequestError, Submission};
pub use service::{Download, Service, ServiceError, Settings, SubmitError, Unavailable, firmware_filename};
pub use store::{Job, Status, Store, StoreError};
