//! Blue-green and gray releases across a call chain: the native `release` section, compiled
//! into the snapshot, resolved per request into `n-d-*` values, and used to pick instances.
//!
//! This module is the public face of the feature; the parts live along the pipeline:
//!
//! * the spec types — [`crate::spec::release`] (re-exported here);
//! * validation and compiling — `compile/release.rs`;
//! * per-request resolution: blue-green, then gray, then `defaults` — `eval/release.rs`, whose
//!   trace types ([`ReleaseTrace`], [`ReleaseCondition`], [`ReleaseStep`]) are re-exported here;
//! * picking an instance of a service honouring the resolved values — [`crate::service`].

pub use crate::eval::release::{ReleaseCondition, ReleaseStep, ReleaseTrace};
pub use crate::spec::release::*;
