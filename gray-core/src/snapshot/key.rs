//! Request keys, compiled: where a sticky hash or percentage key is read from.

use crate::request::field_index::Slot;

/// Where a request key comes from (stickiness, hash selection).
#[derive(Debug, Clone)]
pub(crate) enum Key {
    Cookie(Box<str>, Slot),
    Header(Box<str>, Slot),
    Query(Box<str>, Slot),
    ClientIp,
}

impl Key {
    /// How explanations name the key.
    pub(crate) fn label(&self) -> String {
        match self {
            Key::Cookie(n, _) => format!("cookie {n:?}"),
            Key::Header(n, _) => format!("header {n:?}"),
            Key::Query(n, _) => format!("query {n:?}"),
            Key::ClientIp => "client IP".to_string(),
        }
    }
}
