//! Compile jobs: what a request must be ([`Submission`]), the durable job store
//! (SQLite on one machine, PostgreSQL across many), the pipeline a job runs (validate,
//! generate the keymap's sources, build), the builders, and the [`Service`] that ties
//! them together for the HTTP server and the worker nodes.

mod builder;
pub mod catalogue;
pub mod launch;
mod pipeline;
mod process;
mod request;
pub mod sandbox;
mod service;
mod slots;
pub mod store;
mod tree_state;
mod warm;

pub use builder::{
    Build, Builder, Containment, FirmwareBuilder, KeymapSource, Origin, REFERENCE_KEYMAP, Settings as BuildSettings,
    Target,
};
pub use pipeline::{Artifact, NO_TOOLCHAIN, Outcome, Sources, run};
pub use request::{RequestError, Submission};
pub use service::{
    Download, Service, ServiceError, Settings, SubmitError, Unavailable, firmware_filename, start_workers,
};
pub use store::{BuildRecord, Database, Job, JobStore, Status, StoreError};
