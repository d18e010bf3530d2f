//! # gray-redis
//!
//! Fleet configuration for gray: every gateway of a fleet follows one Redis namespace holding
//! the rule spec and the IP sets (gray lists), so one `gray-redis publish` or
//! `gray-redis ipset add` reaches every engine within a second — without a Redis round trip
//! per request and without routing going down with Redis.
//!
//! * [`RedisSource`] keeps an [`gray_core::Engine`] in step with a namespace from a background
//!   thread: bulk read at start, then the change log (a Redis stream) followed with a blocking
//!   `XREAD`; IP set changes are applied member by member; each change goes through the
//!   engine's validated reload, so a bad rule is rejected by every engine (the old snapshot
//!   keeps serving) and reported in [`SourceStatus`].
//! * Every accepted state is written atomically to a last-known-good [`dump`]; an engine that
//!   starts while Redis is down serves the dump and reconnects with capped, jittered
//!   [`Backoff`], then re-reads everything.
//! * [`Publisher`] (and the `gray-redis` command) validates a spec — or a Nepxion rule (XML or
//!   JSON) applied on top of it — exactly as the engines will before writing it, and edits IP
//!   sets.
//!
//! The key layout is described in [`Keys`], the change log in [`Change`].
//!
//! ```no_run
//! use gray_core::SimpleRequest;
//! use gray_redis::{Publisher, RedisSource, SourceConfig};
//!
//! // CI: publish validated rules.
//! let mut publisher = Publisher::connect("redis://127.0.0.1:6379/0", "prod")?;
//! publisher.publish_spec("version: 1\nip_sets: { testers: {} }\n\
//!     groups: { stable: { nodes: [{ address: \"10.0.1.10:8080\" }] }, canary: { nodes: [{ address: \"10.0.2.10:8080\" }] } }\n\
//!     rules: [{ id: testers, when: { ip: [testers] }, route: canary }]\ndefault: stable\n",
//!     gray_core::Format::Yaml)?;
//!
//! // Every gateway: an engine that follows the namespace.
//! let config = SourceConfig::new("redis://127.0.0.1:6379/0", "prod").dump("/var/lib/gray/prod.json");
//! let (engine, source) = RedisSource::start(config)?;
//!
//! // An operator adds a tester; every engine routes them to canary within a second.
//! publisher.ip_set_add("testers", ["192.168.2.20"])?;
//! # std::thread::sleep(std::time::Duration::from_secs(1));
//! assert_eq!(engine.decide(&SimpleRequest::new("192.168.2.20".parse()?)).group(), "canary");
//! println!("{}", source.metrics());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The client is the `redis` crate's synchronous API on one dedicated thread per source: the
//! work is a single long-lived connection mostly blocked in `XREAD`, so an async runtime would
//! add nothing, and gray stays usable from non-tokio programs and from Python.
//!
//! Engines follow the change-log *stream* rather than a pub/sub channel: pub/sub drops every
//! message sent while a subscriber is disconnected, while a stream is ordered, replayable from
//! the last id seen and carries the changed members. (Each write is still announced on the
//! `events` channel for people and tools.) Keys edited by hand, behind the log, are seen through
//! keyspace notifications, which the source switches on where the server allows, and re-read
//! within about a second; the periodic full read ([`SourceConfig::resync_interval`]) remains
//! the safety net where notifications are unavailable.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod backoff;
mod change;
mod config;
pub mod dump;
mod fetch;
mod keys;
mod located;
mod notify;
mod publish;
mod rollout;
mod source;
mod state;
mod status;

pub use backoff::Backoff;
pub use change::{Change, MEMBERS_PER_ENTRY};
pub use config::SourceConfig;
pub use fetch::load_spec;
pub use keys::{check_name, Keys};
pub use located::prefix_path;
pub use publish::{Published, Publisher, LOG_MAX_LEN};
pub use rollout::{FleetHandle, FleetRolloutState, FleetRollouts};
pub use source::RedisSource;
pub use state::{canonical_entry, parse_spec_text, FleetState};
pub use status::{Origin, SourceStatus};
