//! Compile jobs: what a request must be ([`Submission`]), the durable job store,
//! the pipeline a job runs (validate, generate the keymap's sources, build), the
//! builders, and the [`Service`] that ties them together for the HTTP server.

mod builder;
mod pipeline;
mod request;
mod service;
mod store;

pub use builder::{Builder, FirmwareBuilder};
pub use pipeline::{Artifact, NO_TOOLCHAIN, Outcome, Sources, run};
pub use request::{RequestError, Submission};
pub use service::{Download, Service, ServiceError, Settings, SubmitError, Unavailable};
pub use store::{Job, Status, Store, StoreError};
