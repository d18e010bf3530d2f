//! A compiled mirror of a rule or a group (see [`crate::spec::MirrorSpec`]).

use std::time::Duration;

use super::key::Key;
use crate::sticky::StickyHasher;

/// Where copies of some requests go, and how many.
#[derive(Debug, Clone)]
pub(crate) struct Mirror {
    /// `rule ID` or `group NAME`: names the mirror in metrics and logs.
    pub(crate) id: Box<str>,
    /// The group the copies go to.
    pub(crate) to: u32,
    /// Sampled buckets of 10 000 (`percent` × 100).
    pub(crate) threshold: u32,
    /// Sticky sampling key; `None`: random.
    pub(crate) key: Option<Key>,
    /// [`crate::sticky::salt_prefix`] of the mirror's id.
    pub(crate) salted: StickyHasher,
    /// Upper-case methods that may be mirrored.
    pub(crate) methods: Box<[Box<str>]>,
    pub(crate) max_body: u64,
    pub(crate) max_in_flight: u32,
    pub(crate) timeout: Duration,
    /// Lower-case marker header name.
    pub(crate) header: Box<str>,
    pub(crate) host: Option<Box<str>>,
    pub(crate) compare: Option<Compare>,
}

/// A compiled `compare` section.
#[derive(Debug, Clone)]
pub(crate) struct Compare {
    /// The group of the baseline copy.
    pub(crate) baseline: Option<u32>,
    /// Lower-case header names.
    pub(crate) headers: Box<[Box<str>]>,
    pub(crate) body: crate::spec::CompareBody,
    pub(crate) ignore: Box<[String]>,
    pub(crate) max_body: u64,
}
