//! # gray-etcd
//!
//! Service discovery for gray through etcd. Instances register themselves as keys under a
//! lease ([`Registration`], or `gray.etcd.register` in Python); every engine follows the prefix
//! ([`EtcdSource`]) and applies each change as one atomic, validated node update — no restart,
//! no polling delay. A dead instance stops renewing its lease and disappears when the TTL runs
//! out. The rules can live in etcd too (`<prefix>/spec`), validated exactly like the Redis
//! source's: a bad spec is rejected, the previous rules keep serving and the status says why.
//!
//! ```no_run
//! use std::time::Duration;
//! use gray_core::Spec;
//! use gray_etcd::{EtcdConfig, EtcdSource, Instance, Registration};
//!
//! // A service instance announces itself.
//! let _reg = Registration::start("http://127.0.0.1:2379", "/gray/shop", "canary",
//!     Instance::new("10.0.2.10:8080").version("1.1"), Duration::from_secs(10))?;
//!
//! // A gateway: rules from a file (or etcd's /gray/shop/spec), nodes from etcd.
//! let rules = Spec::from_str("version: 1\ngroups: { stable: {}, canary: {} }\ndefault: stable\n",
//!     gray_core::Format::Yaml)?;
//! let config = EtcdConfig::new("http://127.0.0.1:2379", "/gray/shop").rules(rules);
//! let (engine, source) = EtcdSource::start(config)?;
//! assert_eq!(engine.nodes("canary")?.nodes.len(), 1);
//! println!("{}", source.metrics());
//! # Ok::<(), gray_core::Error>(())
//! ```
//!
//! The client speaks etcd's v3 JSON gateway (`/v3/kv/range`, `/v3/watch`, `/v3/lease/*`) over
//! plain HTTP/1.1 from one dedicated thread per source, like gray-redis: no gRPC stack, no
//! async runtime, usable from any program. TLS and authentication are not supported yet.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod client;
mod config;
mod http;
mod instance;
mod register;
mod source;
mod state;
mod status;
mod store;
mod wait;

pub use config::EtcdConfig;
pub use instance::{Instance, Layout, Slot};
pub use register::Registration;
pub use source::EtcdSource;
pub use status::EtcdStatus;
pub use store::Store;
