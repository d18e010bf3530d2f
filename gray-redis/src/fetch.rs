//! Reading a namespace from Redis: the spec, the IP sets (in bulk, with `SSCAN`), the position
//! of the change log, and new log entries.

use std::collections::BTreeSet;
use std::time::Duration;

use gray_core::{Error, ErrorKind, Location, Result};
use redis::streams::StreamReadOptions;
use redis::{Commands, Connection, RedisError, Value};

use crate::change::Change;
use crate::keys::Keys;
use crate::state::{parse_spec_text, FleetState};
use gray_core::nepxion::Import;

/// Elements asked for per `SSCAN` call.
const SCAN_COUNT: usize = 20_000;

/// The id before every stream entry.
pub(crate) const LOG_START: &str = "0-0";

/// A Redis failure as a gray [`Error`] of kind [`ErrorKind::Source`].
pub(crate) fn redis_error(what: &str, e: &RedisError) -> Error {
    Error::at(ErrorKind::Source, "redis", format!("{what}: {e}"))
}

/// Opens a connection to `url` (5 s to connect) with `read_timeout`; a bad URL is an
/// `InvalidValue` error, a failed connect a `Source` error.
pub(crate) fn open(url: &str, read_timeout: Duration) -> gray_core::Result<Connection> {
    let client = redis::Client::open(url).map_err(|e| {
        Error::at(
            ErrorKind::InvalidValue,
            "redis",
            format!("bad Redis URL: {e}"),
        )
    })?;
    connect(&client, Duration::from_secs(5), read_timeout)
        .map_err(|e| redis_error("cannot connect", &e))
}

/// Opens a connection with connect and read timeouts.
pub(crate) fn connect(
    client: &redis::Client,
    connect_timeout: Duration,
    read_timeout: Duration,
) -> std::result::Result<Connection, RedisError> {
    let con = client.get_connection_with_timeout(connect_timeout)?;
    con.set_read_timeout(Some(read_timeout))?;
    con.set_write_timeout(Some(read_timeout))?;
    Ok(con)
}

/// A value read from Redis as text. Values are read as bytes, so that one that is not UTF-8 is
/// a bad value — rejected like any other bad spec, with an error naming the key and the first
/// bad byte — and not a failed read that would drop the connection.
///
/// ```text
/// syntax error at gray:{prod}:spec (line 12, column 6): the value is not UTF-8 text: byte 0xE9
/// at byte offset 306 is not valid UTF-8
/// ```
pub(crate) fn utf8_text(key: &str, bytes: Vec<u8>) -> Result<String> {
    String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        // The valid prefix tells the line and column of the bad byte.
        let before = String::from_utf8_lossy(&bytes[..offset]);
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        Error::new(
            ErrorKind::Syntax,
            Location::new(key, Some(line), Some(column)),
            format!(
                "the value is not UTF-8 text: {} at byte offset {offset} is not valid UTF-8",
                bad_byte(bytes, offset)
            ),
        )
    })
}

fn bad_byte(bytes: &[u8], offset: usize) -> String {
    bytes
        .get(offset)
        .map_or_else(|| "the end".to_string(), |b| format!("byte 0x{b:02X}"))
}

/// The members of a set as read: every member, and the first problem with one.
#[derive(Debug, Default)]
pub(crate) struct SetRead {
    /// The members; one that is not UTF-8 is kept with U+FFFD in place of the bad bytes, so
    /// that the set stays invalid (no IP has that form) until the member is removed.
    pub(crate) members: BTreeSet<String>,
    /// The first member that is not UTF-8.
    pub(crate) problem: Option<Error>,
}

/// Every member of set `key`, read in `SSCAN` batches so that Redis is never blocked for
/// long, whatever the set's size. Members are read as bytes: one that is not UTF-8 is a
/// problem of the set ([`SetRead::problem`]), not a failed read.
pub(crate) fn read_set(
    con: &mut Connection,
    key: &str,
) -> std::result::Result<SetRead, RedisError> {
    let mut out = SetRead::default();
    let mut cursor: u64 = 0;
    loop {
        let (next, batch): (u64, Vec<Vec<u8>>) = redis::cmd("SSCAN")
            .arg(key)
            .arg(cursor)
            .arg("COUNT")
            .arg(SCAN_COUNT)
            .query(con)?;
        for member in batch {
            match String::from_utf8(member) {
                Ok(m) => {
                    out.members.insert(m);
                }
                Err(e) => {
                    let offset = e.utf8_error().valid_up_to();
                    let shown = String::from_utf8_lossy(e.as_bytes()).into_owned();
                    out.problem.get_or_insert_with(|| {
                        Error::at(
                            ErrorKind::InvalidIp,
                            key,
                            format!(
                                "member {shown:?} is not UTF-8 text: {} at byte offset {offset} \
                                 is not valid UTF-8",
                                bad_byte(e.as_bytes(), offset)
                            ),
                        )
                    });
                    out.members.insert(shown);
                }
            }
        }
        if next == 0 {
            return Ok(out);
        }
        cursor = next;
    }
}

/// The id of the newest log entry, or [`LOG_START`] when the log is empty.
pub(crate) fn log_head(
    con: &mut Connection,
    keys: &Keys,
) -> std::result::Result<String, RedisError> {
    let reply: Value = con.xrevrange_count(keys.log(), "+", "-", 1)?;
    Ok(stream_entries(reply)
        .into_iter()
        .next()
        .map_or_else(|| LOG_START.to_string(), |(id, _)| id))
}

/// Whether entry `id` is still in the log (false once trimmed away or the log was deleted).
pub(crate) fn log_has(
    con: &mut Connection,
    keys: &Keys,
    id: &str,
) -> std::result::Result<bool, RedisError> {
    let reply: Value = con.xrange(keys.log(), id, id)?;
    Ok(!stream_entries(reply).is_empty())
}

/// A complete read of a namespace.
#[derive(Debug)]
pub(crate) struct FullRead {
    /// The state; its spec is `None` when the key is missing or does not parse.
    pub(crate) state: FleetState,
    /// The log position the state includes (later entries are replayed on top).
    pub(crate) log_id: String,
    /// Why the spec is missing or unusable.
    pub(crate) problem: Option<Error>,
}

/// A value as read from Redis, before it is checked to be text; `None` when the key is missing.
pub(crate) type RawValue = Option<Vec<u8>>;

/// The spec and Nepxion rule values (one `MGET`), as bytes (see [`utf8_text`]).
pub(crate) fn read_rule_texts(
    con: &mut Connection,
    keys: &Keys,
) -> std::result::Result<(RawValue, RawValue), RedisError> {
    redis::cmd("MGET")
        .arg(keys.spec())
        .arg(keys.nepxion())
        .query(con)
}

/// Parses the spec and Nepxion rule values; at least one must exist.
pub(crate) fn parse_rules(
    keys: &Keys,
    spec: RawValue,
    nepxion: RawValue,
) -> Result<(Option<gray_core::Spec>, Option<Import>)> {
    let nepxion = match nepxion {
        Some(bytes) => {
            let text = utf8_text(&keys.nepxion(), bytes)?;
            let import = gray_core::nepxion::import(&text)
                .map_err(|e| crate::located::prefix_path(e, &keys.nepxion()))?;
            for w in &import.warnings {
                tracing::info!(namespace = %keys.namespace(), "Nepxion rule: {w}");
            }
            Some(import)
        }
        None => None,
    };
    let spec = match spec {
        Some(bytes) => {
            let text = utf8_text(&keys.spec(), bytes)?;
            Some(parse_spec_text(&text).map_err(|e| crate::located::prefix_path(e, &keys.spec()))?)
        }
        None if nepxion.is_some() => None,
        None => return Err(missing_spec(keys)),
    };
    Ok((spec, nepxion))
}

/// Re-reads the spec and the Nepxion rule into `state`. Returns the IP sets to read, or the
/// problem with the rules (then `state` is left empty: nothing applies until they are fixed).
pub(crate) fn read_rules(
    con: &mut Connection,
    keys: &Keys,
    state: &mut FleetState,
) -> std::result::Result<std::result::Result<Vec<String>, Error>, RedisError> {
    let (spec, nepxion) = read_rule_texts(con, keys)?;
    Ok(match parse_rules(keys, spec, nepxion) {
        Ok((spec, nepxion)) => Ok(state.set_rules(spec, nepxion)),
        Err(e) => {
            *state = FleetState::default();
            Err(e)
        }
    })
}

/// Reads everything: first the log position, then the rules and their sets, so that replaying
/// the log from that position can only bring the state forward.
pub(crate) fn read_all(
    con: &mut Connection,
    keys: &Keys,
) -> std::result::Result<FullRead, RedisError> {
    let log_id = log_head(con, keys)?;
    let mut state = FleetState::default();
    let problem = match read_rules(con, keys, &mut state)? {
        Ok(sets) => {
            let mut problem = None;
            for name in sets {
                let read = read_set(con, &keys.ip_set(&name))?;
                state.replace_set(&name, read.members);
                problem = problem.or(read.problem);
            }
            problem
        }
        Err(e) => Some(e),
    };
    Ok(FullRead {
        state,
        log_id,
        problem,
    })
}

/// The error for a namespace without a spec.
pub(crate) fn missing_spec(keys: &Keys) -> Error {
    Error::at(
        ErrorKind::Source,
        keys.spec(),
        format!(
            "no spec in Redis for namespace {:?}; publish one with `gray-redis publish --ns {} FILE`",
            keys.namespace(),
            keys.namespace()
        ),
    )
}

/// A change-log entry id and its change (or why it could not be read).
pub(crate) type LogEntry = (String, std::result::Result<Change, String>);

/// Log entries after `after`, waiting up to `block` for the first; at most `count`.
/// Entries that do not parse are returned as errors in place, so one bad entry does not hide
/// the others.
pub(crate) fn read_log(
    con: &mut Connection,
    keys: &Keys,
    after: &str,
    block: Duration,
    count: usize,
) -> std::result::Result<Vec<LogEntry>, RedisError> {
    let opts = StreamReadOptions::default()
        .block(block.as_millis().try_into().unwrap_or(usize::MAX))
        .count(count);
    let reply: Value = con.xread_options(&[keys.log()], &[after], &opts)?;
    let mut out = Vec::new();
    // One stream was asked for: RESP2 `[[key, entries]]`, RESP3 `{key: entries}`.
    let streams = match reply {
        Value::Array(streams) => streams
            .into_iter()
            .filter_map(|s| match s {
                Value::Array(mut kv) if kv.len() == 2 => kv.pop(),
                _ => None,
            })
            .collect(),
        Value::Map(streams) => streams.into_iter().map(|(_, v)| v).collect(),
        _ => Vec::new(),
    };
    for entries in streams {
        for (id, fields) in stream_entries(entries) {
            let change = Change::from_fields(fields.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            out.push((id, change));
        }
    }
    Ok(out)
}

/// The entries of a stream reply (`XRANGE`, or one stream of `XREAD`): id and fields. Read
/// from the raw reply, with text that is not UTF-8 replaced by U+FFFD, so that a malformed
/// entry is one entry that does not parse (and is skipped), never a reply that cannot be read.
fn stream_entries(v: Value) -> Vec<(String, Vec<(String, String)>)> {
    let Value::Array(entries) = v else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        let Value::Array(mut parts) = e else { continue };
        if parts.is_empty() {
            continue;
        }
        let fields = if parts.len() > 1 {
            parts.swap_remove(1)
        } else {
            Value::Nil
        };
        let id = value_text(&parts[0]);
        let fields = match fields {
            Value::Array(flat) => flat
                .chunks(2)
                .filter_map(|kv| match kv {
                    [k, v] => Some((value_text(k), value_text(v))),
                    _ => None,
                })
                .collect(),
            Value::Map(pairs) => pairs
                .iter()
                .map(|(k, v)| (value_text(k), value_text(v)))
                .collect(),
            _ => Vec::new(),
        };
        out.push((id, fields));
    }
    out
}

fn value_text(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        Value::VerbatimString { text, .. } => text.clone(),
        Value::Int(i) => i.to_string(),
        _ => String::new(),
    }
}

/// Loads a namespace's combined spec (spec plus IP set members) once, without an engine.
///
/// ```no_run
/// let spec = gray_redis::load_spec("redis://127.0.0.1:6379/0", "prod")?;
/// println!("{}", spec.to_yaml());
/// # Ok::<(), gray_core::Error>(())
/// ```
pub fn load_spec(url: &str, namespace: &str) -> Result<gray_core::Spec> {
    let keys = Keys::new(namespace)?;
    let client = redis::Client::open(url).map_err(|e| redis_error("bad Redis URL", &e))?;
    let mut con = connect(&client, Duration::from_secs(5), Duration::from_secs(30))
        .map_err(|e| redis_error("cannot connect", &e))?;
    let read = read_all(&mut con, &keys).map_err(|e| redis_error("cannot read", &e))?;
    if let Some(p) = read.problem {
        return Err(p);
    }
    read.state.build().ok_or_else(|| missing_spec(&keys))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_that_is_not_utf8_names_the_key_line_column_and_byte() {
        assert_eq!(utf8_text("k", b"a: 1\n".to_vec()).unwrap(), "a: 1\n");
        let e = utf8_text("gray:{prod}:spec", b"version: 1\n# caf\xe9\n".to_vec()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Syntax);
        assert_eq!(
            e.to_string(),
            "syntax error at gray:{prod}:spec (line 2, column 6): the value is not UTF-8 text: \
             byte 0xE9 at byte offset 16 is not valid UTF-8"
        );
        // A sequence cut short at the end, after multi-byte characters on the line.
        let e = utf8_text("k", b"\xc3\xa9\xc3".to_vec()).unwrap_err();
        assert_eq!((e.location().line, e.location().column), (Some(1), Some(2)));
        assert!(e.message().contains("byte 0xC3 at byte offset 2"), "{e}");
    }

    #[test]
    fn stream_entries_survive_bad_text() {
        let bulk = |b: &[u8]| Value::BulkString(b.to_vec());
        let reply = Value::Array(vec![
            Value::Array(vec![
                bulk(b"1-0"),
                Value::Array(vec![bulk(b"o\xffp"), bulk(b"spec")]),
            ]),
            Value::Array(vec![
                bulk(b"2-0"),
                Value::Array(vec![bulk(b"op"), bulk(b"spec"), bulk(b"odd")]),
            ]),
            Value::Int(3),
            Value::Array(vec![]),
        ]);
        let entries = stream_entries(reply);
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].0, "1-0");
        assert_eq!(
            entries[0].1,
            [("o\u{fffd}p".to_string(), "spec".to_string())]
        );
        assert_eq!(entries[1].1, [("op".to_string(), "spec".to_string())]);
        assert!(stream_entries(Value::Nil).is_empty());
    }
}
