//! What gray needs to know about a request, borrowed from whatever HTTP stack holds it.
//!
//! gray-core does not depend on an HTTP library. Adapters (the tower layer, the Python binding,
//! tests) implement [`RequestView`] over their own request type; every method returns borrowed
//! data, so deciding copies nothing. [`SimpleRequest`] is an owned implementation for tests,
//! explain calls and the admin API.
//!
//! ```
//! use gray_core::{RequestView, SimpleRequest};
//!
//! let req = SimpleRequest::new("10.0.0.7".parse()?)
//!     .with_path("/api/items")
//!     .with_query("uid=42")
//!     .with_header("Cookie", "canary=xaaa; other=1")
//!     .with_header("X-Forwarded-For", "1.2.3.4");
//! assert_eq!(req.cookie("canary"), Some("xaaa"));
//! assert_eq!(req.header("x-forwarded-for"), Some("1.2.3.4"));
//! assert_eq!(req.query_param("uid").as_deref(), Some("42"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The module also holds the readers adapters and conditions share: cookies ([`cookie`]), query
//! strings ([`query`]), byte scanning (`scan`), and the per-request index of the header,
//! cookie and query values a snapshot's conditions read (`field_index`).

pub mod cookie;
pub(crate) mod field_index;
pub mod query;
pub(crate) mod scan;
mod simple;
mod view;

pub use simple::SimpleRequest;
pub use view::RequestView;
