//! Reading a namespace from Redis: the spec, the IP sets (in bulk, with `SSCAN`), the position
//! of the change log, and new log entries.

use std::collections::BTreeSet;
use std::time::Duration;

use gray_core::{Error, ErrorKind, Result};
use redis::streams::{StreamReadOptions, StreamReadReply};
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

/// Every member of set `key`, read in `SSCAN` batches so that Redis is never blocked for
/// long, whatever the set's size.
pub(crate) fn read_set(
    con: &mut Connection,
    key: &str,
) -> std::result::Result<BTreeSet<String>, RedisError> {
    let mut out = BTreeSet::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SSCAN")
            .arg(key)
            .arg(cursor)
            .arg("COUNT")
            .arg(SCAN_COUNT)
            .query(con)?;
        out.extend(batch);
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
    let reply: redis::streams::StreamRangeReply = con.xrevrange_count(keys.log(), "+", "-", 1)?;
    Ok(reply
        .ids
        .into_iter()
        .next()
        .map_or_else(|| LOG_START.to_string(), |e| e.id))
}

/// Whether entry `id` is still in the log (false once trimmed away or the log was deleted).
pub(crate) fn log_has(
    con: &mut Connection,
    keys: &Keys,
    id: &str,
) -> std::result::Result<bool, RedisError> {
    let reply: redis::streams::StreamRangeReply = con.xrange(keys.log(), id, id)?;
    Ok(!reply.ids.is_empty())
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

/// The spec and Nepxion rule texts (one `MGET`).
pub(crate) fn read_rule_texts(
    con: &mut Connection,
    keys: &Keys,
) -> std::result::Result<(Option<String>, Option<String>), RedisError> {
    redis::cmd("MGET")
        .arg(keys.spec())
        .arg(keys.nepxion())
        .query(con)
}

/// Parses the spec and Nepxion rule texts; at least one must exist.
pub(crate) fn parse_rules(
    keys: &Keys,
    spec: Option<String>,
    nepxion: Option<String>,
) -> Result<(Option<gray_core::Spec>, Option<Import>)> {
    let nepxion = match nepxion {
        Some(text) => {
            let import = gray_core::nepxion::import(&text)
                .map_err(|e| crate::prefix_path(e, &keys.nepxion()))?;
            for w in &import.warnings {
                tracing::info!(namespace = %keys.namespace(), "Nepxion rule: {w}");
            }
            Some(import)
        }
        None => None,
    };
    let spec = match spec {
        Some(text) => {
            Some(parse_spec_text(&text).map_err(|e| crate::prefix_path(e, &keys.spec()))?)
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
            for name in sets {
                let members = read_set(con, &keys.ip_set(&name))?;
                state.replace_set(&name, members);
            }
            None
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
    let reply: Option<StreamReadReply> = con.xread_options(&[keys.log()], &[after], &opts)?;
    let mut out = Vec::new();
    for key in reply.map(|r| r.keys).unwrap_or_default() {
        for entry in key.ids {
            let fields: Vec<(String, String)> = entry
                .map
                .iter()
                .map(|(k, v)| (k.clone(), value_text(v)))
                .collect();
            let change = Change::from_fields(fields.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            out.push((entry.id, change));
        }
    }
    Ok(out)
}

fn value_text(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
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
