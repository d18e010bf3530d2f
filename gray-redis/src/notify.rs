//! Keys edited behind the change log, seen within a second: Redis keyspace notifications.
//!
//! The change log carries every write made through gray (the CLI, [`crate::Publisher`]). A key
//! edited by hand (`redis-cli SADD gray:{prod}:ipset:testers …`) or by another tool writes no
//! log entry; the periodic full read finds it, but only every `resync_interval`. With keyspace
//! notifications the source learns of such an edit at once: a second connection subscribes to
//! `__keyspace@<db>__:gray:{<namespace>}:*`, and the follower re-reads just the key that changed
//! (the rules, or one IP set) through the same validated reload as every other change.
//!
//! A write made through gray produces both a notification and a log entry; the follower applies
//! the log entry and drops notifications that a log entry for the same key explains (within
//! [`SETTLE`] of each other), so a CLI change is not read twice. The source enables the
//! notification classes it needs (`K`, `$` strings, `s` sets, `g` generic: `DEL`, `RENAME`,
//! expiry) with `CONFIG SET notify-keyspace-events`, adding to what the server already has.
//! Where the server refuses `CONFIG` (a managed Redis, an ACL without `+config`), the source
//! says so in [`crate::SourceStatus::keyspace_notifications`] and a warning, and the periodic
//! resync remains the safety net. Notifications lost while the subscriber was disconnected are
//! covered by a full read on its reconnection.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use redis::{Connection, RedisError};

use crate::keys::Keys;

/// How long a notification waits for the log entry that may explain it.
pub(crate) const SETTLE: Duration = Duration::from_millis(250);

/// More pending notifications than this and the follower reads everything instead.
const MAX_PENDING: usize = 4096;

/// The notification classes the source needs: keyspace events for string, set and generic
/// commands.
const NEEDED: &[char] = &['K', '$', 's', 'g'];

/// A key of the namespace that the follower knows how to re-read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Touched {
    /// The spec or the Nepxion rule.
    Rules,
    /// One IP set.
    IpSet(String),
}

impl Touched {
    /// What `key` is, for the keys the follower re-reads (not the log, rollouts or events).
    pub(crate) fn of(keys: &Keys, key: &str) -> Option<Touched> {
        if key == keys.spec() || key == keys.nepxion() {
            return Some(Touched::Rules);
        }
        let set_prefix = keys.ip_set("");
        key.strip_prefix(&set_prefix)
            .filter(|name| !name.is_empty())
            .map(|name| Touched::IpSet(name.to_string()))
    }
}

/// What the subscriber hands to the follower.
#[derive(Debug, Default)]
pub(crate) struct Watch {
    pending: Mutex<Pending>,
    /// Notifications may have been missed (the subscriber reconnected, or too many piled up):
    /// the follower reads everything.
    pub(crate) resync: AtomicBool,
}

#[derive(Debug, Default)]
struct Pending {
    /// First notification time per key not yet handled.
    touched: HashMap<Touched, Instant>,
    /// When the follower last applied a log entry for each key.
    logged: HashMap<Touched, Instant>,
}

impl Watch {
    /// Notes a notification for `t`.
    pub(crate) fn notify(&self, t: Touched) {
        let mut p = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        if p.touched.len() >= MAX_PENDING {
            p.touched.clear();
            self.resync.store(true, Ordering::Release);
            return;
        }
        p.touched.entry(t).or_insert_with(Instant::now);
    }

    /// Notes that the change log carried a change of `t` (so its notification is explained).
    pub(crate) fn logged(&self, t: Touched) {
        let mut p = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        p.logged.insert(t, Instant::now());
    }

    /// The keys changed behind the log: notified at least [`SETTLE`] ago and not explained by
    /// a log entry within [`SETTLE`] of the notification.
    pub(crate) fn take_due(&self) -> Vec<Touched> {
        let now = Instant::now();
        let mut p = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        let Pending { touched, logged } = &mut *p;
        let mut due = Vec::new();
        touched.retain(|t, &mut at| {
            if now.duration_since(at) < SETTLE {
                return true;
            }
            let explained = logged.get(t).is_some_and(|&l| {
                let gap = if l > at { l - at } else { at - l };
                gap <= SETTLE
            });
            if !explained {
                due.push(t.clone());
            }
            false
        });
        logged.retain(|_, l| now.duration_since(*l) < SETTLE * 4);
        due
    }

    /// Forgets pending notifications (a full read covers them).
    pub(crate) fn clear(&self) {
        let mut p = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        p.touched.clear();
        self.resync.store(false, Ordering::Release);
    }
}

/// Makes sure the server sends the keyspace notifications the source needs: `Ok(Ok(()))` when
/// they are on (already, or switched on now), `Ok(Err(reason))` when the server will not (no
/// `CONFIG`, or read-only configuration), `Err` when the connection failed.
pub(crate) fn enable(con: &mut Connection) -> Result<Result<(), String>, RedisError> {
    let current: Result<Vec<String>, RedisError> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("notify-keyspace-events")
        .query(con);
    let current = match current {
        Ok(pair) => pair.get(1).cloned().unwrap_or_default(),
        Err(e) if e.is_io_error() => return Err(e),
        Err(e) => return Ok(Err(format!("CONFIG GET notify-keyspace-events: {e}"))),
    };
    let merged = merge_flags(&current);
    if merged == current {
        return Ok(Ok(()));
    }
    match redis::cmd("CONFIG")
        .arg("SET")
        .arg("notify-keyspace-events")
        .arg(&merged)
        .query::<()>(con)
    {
        Ok(()) => Ok(Ok(())),
        Err(e) if e.is_io_error() => Err(e),
        Err(e) => Ok(Err(format!(
            "CONFIG SET notify-keyspace-events {merged}: {e} (the server has {current:?})"
        ))),
    }
}

/// What the subscriber needs of its source.
pub(crate) struct Subscriber<'a> {
    pub(crate) client: &'a redis::Client,
    pub(crate) keys: &'a Keys,
    pub(crate) watch: &'a Watch,
    pub(crate) connect_timeout: Duration,
    /// How often a waiting subscriber checks `stopped`.
    pub(crate) poll: Duration,
    pub(crate) stopped: &'a dyn Fn() -> bool,
    pub(crate) sleep: &'a dyn Fn(Duration),
    /// Reports whether notifications are on, and why not.
    pub(crate) report: &'a dyn Fn(bool, Option<String>),
}

impl Subscriber<'_> {
    /// Subscribes and feeds the watch until stopped, reconnecting with `backoff`; returns early
    /// (notifications off, the resync remains) when the server refuses to send them.
    pub(crate) fn run(&self, backoff: &mut crate::backoff::Backoff) {
        let mut first = true;
        while !(self.stopped)() {
            match self.session(&mut first, backoff) {
                Ok(Ok(())) => {}
                Ok(Err(reason)) => {
                    tracing::warn!(namespace = %self.keys.namespace(), %reason,
                        "keyspace notifications unavailable; edits behind the change log wait for the periodic resync");
                    (self.report)(false, Some(reason));
                    return;
                }
                Err(e) => {
                    tracing::debug!(namespace = %self.keys.namespace(), error = %e,
                        "keyspace subscriber lost Redis; retrying");
                    (self.report)(false, None);
                    (self.sleep)(backoff.next_delay());
                }
            }
        }
    }

    /// One connection: enable, subscribe, read until an error or stop.
    fn session(
        &self,
        first: &mut bool,
        backoff: &mut crate::backoff::Backoff,
    ) -> Result<Result<(), String>, RedisError> {
        let mut con = self
            .client
            .get_connection_with_timeout(self.connect_timeout)?;
        con.set_read_timeout(Some(self.connect_timeout))?;
        if let Err(reason) = enable(&mut con)? {
            return Ok(Err(reason));
        }
        let db = self.client.get_connection_info().redis_settings().db();
        let mut pubsub = con.as_pubsub();
        pubsub.psubscribe(pattern(self.keys, db))?;
        pubsub.set_read_timeout(Some(self.poll))?;
        if !std::mem::take(first) {
            // Edits made while no one listened: the follower reads everything.
            self.watch.resync.store(true, Ordering::Release);
        }
        backoff.reset();
        (self.report)(true, None);
        while !(self.stopped)() {
            match pubsub.get_message() {
                Ok(msg) => {
                    if let Some(t) = key_of_channel(msg.get_channel_name())
                        .and_then(|key| Touched::of(self.keys, key))
                    {
                        self.watch.notify(t);
                    }
                }
                Err(e) if e.is_timeout() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Ok(()))
    }
}

/// `current` with the classes the source needs added (`A` already covers `$`, `s` and `g`).
fn merge_flags(current: &str) -> String {
    let mut out = current.to_string();
    let all = current.contains('A');
    for &c in NEEDED {
        let covered = current.contains(c) || (all && c != 'K');
        if !covered {
            out.push(c);
        }
    }
    out
}

/// The keyspace channel pattern of the namespace in database `db`.
pub(crate) fn pattern(keys: &Keys, db: i64) -> String {
    format!(
        "__keyspace@{db}__:{}*",
        keys.spec().trim_end_matches("spec")
    )
}

/// The key a keyspace channel names.
pub(crate) fn key_of_channel(channel: &str) -> Option<&str> {
    channel
        .strip_prefix("__keyspace@")
        .and_then(|rest| rest.split_once("__:"))
        .map(|(_, key)| key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_added_not_replaced() {
        assert_eq!(merge_flags(""), "K$sg");
        assert_eq!(merge_flags("Ex"), "ExK$sg");
        assert_eq!(merge_flags("KA"), "KA");
        assert_eq!(merge_flags("AE"), "AEK");
        assert_eq!(merge_flags("Kg$s"), "Kg$s");
    }

    #[test]
    fn channels_and_keys() {
        let keys = Keys::new("prod").unwrap();
        assert_eq!(pattern(&keys, 3), "__keyspace@3__:gray:{prod}:*");
        assert_eq!(
            key_of_channel("__keyspace@0__:gray:{prod}:ipset:testers"),
            Some("gray:{prod}:ipset:testers")
        );
        assert_eq!(key_of_channel("other"), None);
        assert_eq!(Touched::of(&keys, &keys.spec()), Some(Touched::Rules));
        assert_eq!(Touched::of(&keys, &keys.nepxion()), Some(Touched::Rules));
        assert_eq!(
            Touched::of(&keys, &keys.ip_set("testers")),
            Some(Touched::IpSet("testers".into()))
        );
        assert_eq!(Touched::of(&keys, &keys.log()), None);
        assert_eq!(Touched::of(&keys, &keys.rollout_state("web")), None);
    }

    #[test]
    fn a_logged_change_explains_its_notification() {
        let w = Watch::default();
        w.notify(Touched::Rules);
        w.logged(Touched::Rules);
        w.notify(Touched::IpSet("a".into()));
        assert!(
            w.take_due().is_empty(),
            "too early: the log entry may follow"
        );
        std::thread::sleep(SETTLE + Duration::from_millis(20));
        assert_eq!(w.take_due(), [Touched::IpSet("a".into())]);
        assert!(w.take_due().is_empty());
    }
}
