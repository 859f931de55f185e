//! Compile jobs: the durable job store, and the pipeline a job runs (validate,
//! then generate the keymap's sources). The HTTP service over these, and the QMK
//! firmware builder, are the next steps of the compile-service issue.

mod pipeline;
mod store;

pub use pipeline::{Artifact, NO_TOOLCHAIN, Outcome, keymap_only};
pub use store::{Job, Status, Store, StoreError};
