//! The etcd v3 calls gray makes, over the JSON gateway ([`crate::http`]): range, put, delete,
//! lease grant / keep-alive / revoke and watch. Keys and values are base64 in JSON; revisions
//! and lease ids are 64-bit integers written as strings.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Value};

use crate::http::{self, Failure, Outcome, Stream};

/// One key-value pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Kv {
    pub key: String,
    pub value: String,
}

/// One watch event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    /// The key was written.
    Put(Kv),
    /// The key was deleted (or its lease expired).
    Delete(String),
}

/// What one watch message said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WatchMessage {
    /// The watch was created.
    Created,
    /// Events up to `revision`.
    Events { revision: i64, events: Vec<Event> },
    /// The start revision was compacted away; a full read is needed.
    Compacted(i64),
    /// The server ended the watch for another reason.
    Canceled(String),
}

/// An etcd endpoint.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    pub host: String,
    pub timeout: Duration,
}

fn b64(s: &str) -> String {
    B64.encode(s.as_bytes())
}

fn unb64(v: Option<&Value>) -> String {
    v.and_then(Value::as_str)
        .and_then(|s| B64.decode(s).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// An int64 as the gateway writes it (a string), or as a number; 0 when absent.
fn int(v: Option<&Value>) -> i64 {
    match v {
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        Some(v) => v.as_i64().unwrap_or(0),
        None => 0,
    }
}

/// The end of the range of keys starting with `prefix` (its last byte plus one).
pub(crate) fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

fn revision(v: &Value) -> i64 {
    int(v.get("header").and_then(|h| h.get("revision")))
}

impl Client {
    pub(crate) fn new(endpoint: &str, timeout: Duration) -> Outcome<Client> {
        Ok(Client {
            host: http::host_port(endpoint)?,
            timeout,
        })
    }

    fn call(&self, path: &str, body: Value) -> Outcome<Value> {
        http::call(&self.host, path, &body, self.timeout)
    }

    /// Every key under `prefix`, and the store revision they were read at.
    pub(crate) fn range_prefix(&self, prefix: &str) -> Outcome<(i64, Vec<Kv>)> {
        let v = self.call(
            "/v3/kv/range",
            json!({"key": b64(prefix), "range_end": B64.encode(prefix_end(prefix))}),
        )?;
        let kvs = v
            .get("kvs")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|kv| Kv {
                        key: unb64(kv.get("key")),
                        value: unb64(kv.get("value")),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok((revision(&v), kvs))
    }

    /// Writes `key`, attached to `lease` when not 0. Returns the new revision.
    pub(crate) fn put(&self, key: &str, value: &str, lease: i64) -> Outcome<i64> {
        let mut body = json!({"key": b64(key), "value": b64(value)});
        if lease != 0 {
            body["lease"] = json!(lease.to_string());
        }
        self.call("/v3/kv/put", body).map(|v| revision(&v))
    }

    /// Writes every pair in one transaction (one revision, one watch message). Returns the
    /// new revision.
    pub(crate) fn put_all(&self, pairs: &[(&str, &str)]) -> Outcome<i64> {
        let ops: Vec<Value> = pairs
            .iter()
            .map(|(k, v)| json!({"request_put": {"key": b64(k), "value": b64(v)}}))
            .collect();
        self.call("/v3/kv/txn", json!({"success": ops}))
            .map(|v| revision(&v))
    }

    /// Deletes `key`. Returns the new revision.
    pub(crate) fn delete(&self, key: &str) -> Outcome<i64> {
        self.call("/v3/kv/deleterange", json!({"key": b64(key)}))
            .map(|v| revision(&v))
    }

    /// Grants a lease of `ttl` seconds; returns its id.
    pub(crate) fn grant(&self, ttl: i64) -> Outcome<i64> {
        let v = self.call("/v3/lease/grant", json!({"TTL": ttl.to_string()}))?;
        match int(v.get("ID")) {
            0 => Err(Failure::new("etcd granted no lease")),
            id => Ok(id),
        }
    }

    /// Refreshes a lease; returns its remaining TTL (0: the lease is gone).
    pub(crate) fn keepalive(&self, lease: i64) -> Outcome<i64> {
        self.call("/v3/lease/keepalive", json!({"ID": lease.to_string()}))
            .map(|v| int(v.get("TTL")))
    }

    /// Revokes a lease, deleting its keys.
    pub(crate) fn revoke(&self, lease: i64) -> Outcome<()> {
        self.call("/v3/lease/revoke", json!({"ID": lease.to_string()}))
            .map(|_| ())
    }

    /// A cheap liveness check (`/v3/maintenance/status`).
    pub(crate) fn probe(&self) -> Outcome<()> {
        self.call("/v3/maintenance/status", json!({})).map(|_| ())
    }

    /// Watches every key under `prefix` from `start_revision`.
    pub(crate) fn watch(
        &self,
        prefix: &str,
        start_revision: i64,
        poll: Duration,
    ) -> Outcome<Stream> {
        let body = json!({"create_request": {
            "key": b64(prefix),
            "range_end": B64.encode(prefix_end(prefix)),
            "start_revision": start_revision.to_string(),
            "progress_notify": true,
        }});
        Stream::open(&self.host, "/v3/watch", &body, self.timeout, poll)
    }
}

/// Interprets one watch message.
pub(crate) fn watch_message(v: &Value) -> WatchMessage {
    let compact = int(v.get("compact_revision"));
    if compact > 0 {
        return WatchMessage::Compacted(compact);
    }
    if v.get("canceled").and_then(Value::as_bool) == Some(true) {
        let why = v
            .get("cancel_reason")
            .and_then(Value::as_str)
            .unwrap_or("watch canceled by the server");
        return WatchMessage::Canceled(why.to_string());
    }
    if v.get("created").and_then(Value::as_bool) == Some(true) {
        return WatchMessage::Created;
    }
    let events = v
        .get("events")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|e| {
                    let kv = e.get("kv");
                    let key = unb64(kv.and_then(|k| k.get("key")));
                    if e.get("type").and_then(Value::as_str) == Some("DELETE") {
                        Event::Delete(key)
                    } else {
                        Event::Put(Kv {
                            key,
                            value: unb64(kv.and_then(|k| k.get("value"))),
                        })
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    WatchMessage::Events {
        revision: revision(v),
        events,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watch_messages_as_etcd_3_4_writes_them() {
        let created = json!({"header":{"revision":"2"},"created":true});
        assert_eq!(watch_message(&created), WatchMessage::Created);
        let events = json!({"header":{"revision":"3"},"events":[
            {"kv":{"key":"L2dyYXkvYQ==","mod_revision":"2","value":"aGVsbG8="}},
            {"type":"DELETE","kv":{"key":"L2dyYXkvYQ==","mod_revision":"3"}}]});
        assert_eq!(
            watch_message(&events),
            WatchMessage::Events {
                revision: 3,
                events: vec![
                    Event::Put(Kv {
                        key: "/gray/a".into(),
                        value: "hello".into()
                    }),
                    Event::Delete("/gray/a".into()),
                ]
            }
        );
        let compacted = json!({"header":{},"canceled":true,"compact_revision":"5"});
        assert_eq!(watch_message(&compacted), WatchMessage::Compacted(5));
        // A progress notification: no events, the current revision.
        let progress = json!({"header":{"revision":"9"}});
        assert_eq!(
            watch_message(&progress),
            WatchMessage::Events {
                revision: 9,
                events: vec![]
            }
        );
    }

    #[test]
    fn prefix_ends() {
        assert_eq!(prefix_end("/gray/"), b"/gray0");
        assert_eq!(prefix_end("a\u{7f}"), b"a\x80");
    }
}
