//! [`Publisher`]: validated writes to a namespace — what a CI job or an operator runs.
//!
//! Every write changes the state keys and appends to the change log in one `MULTI`/`EXEC`,
//! then announces itself on the events channel. A spec is validated before it is written: it
//! is parsed and compiled together with the IP set members already in Redis, exactly as the
//! engines will compile it, so a spec that any engine would reject never reaches Redis.

use std::collections::BTreeSet;
use std::time::Duration;

use gray_core::nepxion::{Import, Warning};
use gray_core::{Engine, Error, ErrorKind, Format, Result, Spec};
use redis::streams::StreamMaxlen;
use redis::{Commands, Connection};

use crate::change::{Change, MEMBERS_PER_ENTRY};
use crate::fetch::{self, redis_error};
use crate::keys::{check_name, Keys};
use crate::state::{canonical_entry, parse_spec_text, FleetState};

/// Change-log entries kept (approximately; older ones are trimmed). An engine that falls
/// further behind re-reads everything.
pub const LOG_MAX_LEN: usize = 10_000;

/// What a write did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// Members actually added or removed (those already present / absent do not count), or
    /// the size of a loaded set; 0 for a spec.
    pub changed: usize,
    /// The id of the last change-log entry written (empty when nothing changed).
    pub log_id: String,
}

/// Writes to one namespace.
///
/// ```no_run
/// use gray_redis::Publisher;
///
/// let mut p = Publisher::connect("redis://127.0.0.1:6379/0", "prod")?;
/// p.publish_spec(&std::fs::read_to_string("rules.yaml")?, gray_core::Format::Yaml)?;
/// p.ip_set_add("testers", ["192.168.2.20", "10.8.0.0/16"])?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Publisher {
    con: Connection,
    keys: Keys,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("namespace", &self.keys.namespace())
            .finish_non_exhaustive()
    }
}

impl Publisher {
    /// Connects (5 s timeout).
    pub fn connect(url: &str, namespace: &str) -> Result<Publisher> {
        let keys = Keys::new(namespace)?;
        let con = fetch::open(url, Duration::from_secs(60))?;
        Ok(Publisher { con, keys })
    }

    /// The namespace's keys.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// The value of `key` as text (read as bytes: a value that is not UTF-8 is an error naming
    /// the key, not a failed read).
    fn get(&mut self, key: &str) -> Result<Option<String>> {
        let bytes: Option<Vec<u8>> = self
            .con
            .get(key)
            .map_err(|e| redis_error("cannot read the rules", &e))?;
        bytes.map(|b| fetch::utf8_text(key, b)).transpose()
    }

    /// The spec in Redis now (an invalid one is an error naming the key).
    fn current_spec(&mut self) -> Result<Option<Spec>> {
        let key = self.keys.spec();
        self.get(&key)?
            .map(|t| parse_spec_text(&t).map_err(|e| crate::located::prefix_path(e, &key)))
            .transpose()
    }

    /// The Nepxion rule in Redis now.
    fn current_nepxion(&mut self) -> Result<Option<Import>> {
        let key = self.keys.nepxion();
        self.get(&key)?
            .map(|t| {
                gray_core::nepxion::import(&t).map_err(|e| crate::located::prefix_path(e, &key))
            })
            .transpose()
    }

    /// Combines rules with the IP set members in Redis and compiles the result, exactly as an
    /// engine will.
    fn validate(&mut self, spec: Option<Spec>, nepxion: Option<Import>) -> Result<Spec> {
        let mut state = FleetState::default();
        for name in state.set_rules(spec, nepxion) {
            let read = fetch::read_set(&mut self.con, &self.keys.ip_set(&name))
                .map_err(|e| redis_error("cannot read IP sets", &e))?;
            if let Some(problem) = read.problem {
                return Err(problem);
            }
            state.replace_set(&name, read.members);
        }
        let combined = state
            .build()
            .ok_or_else(|| fetch::missing_spec(&self.keys))?;
        Engine::new(combined.clone())?;
        Ok(combined)
    }

    /// Validates `text` against the IP sets and the Nepxion rule in Redis and returns the
    /// combined spec, without writing anything (`publish --dry-run`).
    ///
    /// A field the compile rejects is located in `text` (line and column, see
    /// [`gray_core::Error::located_in`]) unless a Nepxion rule in Redis is applied on top,
    /// which replaces parts of the spec.
    pub fn check_spec(&mut self, text: &str, format: Format) -> Result<Spec> {
        let spec = Spec::from_str(text, format)?;
        let nepxion = self.current_nepxion()?;
        let locate = nepxion.is_none();
        self.validate(Some(spec), nepxion).map_err(|e| {
            if locate && e.kind() != gray_core::ErrorKind::Source {
                e.located_in(text, format)
            } else {
                e
            }
        })
    }

    /// Validates and writes a spec. YAML and JSON text is stored as written (comments kept);
    /// TOML is stored as YAML, since engines read YAML or JSON.
    pub fn publish_spec(&mut self, text: &str, format: Format) -> Result<Published> {
        self.check_spec(text, format)?;
        let stored = match format {
            Format::Toml => Spec::from_str(text, format)?.to_yaml(),
            _ => text.to_string(),
        };
        let log_id = self.write(&[Change::Spec], |pipe, keys| {
            pipe.set(keys.spec(), &stored).ignore();
        })?;
        Ok(Published { changed: 0, log_id })
    }

    /// Validates a Nepxion rule (XML or JSON) on top of the spec and IP sets in Redis and
    /// returns the combined spec and the import warnings, without writing anything.
    pub fn check_nepxion(&mut self, text: &str) -> Result<(Spec, Vec<Warning>)> {
        let import = gray_core::nepxion::import(text)?;
        let warnings = import.warnings.clone();
        let spec = self.current_spec()?;
        Ok((self.validate(spec, Some(import))?, warnings))
    }

    /// Validates and writes a Nepxion rule, stored as written. Returns the import warnings
    /// (parts of the rule gray does not apply).
    pub fn publish_nepxion(&mut self, text: &str) -> Result<(Published, Vec<Warning>)> {
        let (_, warnings) = self.check_nepxion(text)?;
        let log_id = self.write(&[Change::Nepxion], |pipe, keys| {
            pipe.set(keys.nepxion(), text).ignore();
        })?;
        Ok((Published { changed: 0, log_id }, warnings))
    }

    /// Deletes the Nepxion rule (the spec alone applies again). Refused when there is no
    /// spec, since engines would have no rules left.
    pub fn remove_nepxion(&mut self) -> Result<Published> {
        let spec = self.current_spec()?;
        if spec.is_none() {
            return Err(fetch::missing_spec(&self.keys));
        }
        self.validate(spec, None)?;
        let log_id = self.write(&[Change::Nepxion], |pipe, keys| {
            pipe.del(keys.nepxion()).ignore();
        })?;
        Ok(Published { changed: 0, log_id })
    }

    /// The fleet's state of group `group`'s judged rollout and the engine judging it (`None`
    /// until an engine of the fleet has judged or an operator has acted).
    pub fn rollout_status(
        &mut self,
        group: &str,
    ) -> Result<(Option<crate::FleetRolloutState>, Option<String>)> {
        let key = self.keys.rollout_state(group);
        let state = self.get(&key)?;
        let lease = self.get(&self.keys.rollout_lease(group))?;
        let state = state
            .map(|t| crate::FleetRolloutState::parse(&t, &key))
            .transpose()?;
        Ok((state, lease))
    }

    /// An operator's call on the fleet's rollout of `group`: a new state version that every
    /// engine follows within a second. The rules are [`gray_core::rollout::RolloutState::after`]'s,
    /// applied to the fleet's state (a rollout the fleet has not moved yet is at step 1).
    /// Returns the state written, or the current one when the action changes nothing.
    pub fn rollout_action(
        &mut self,
        group: &str,
        action: gray_core::RolloutAction,
    ) -> Result<crate::FleetRolloutState> {
        let (current, _) = self.rollout_status(group)?;
        let state = current.as_ref().map_or(
            gray_core::rollout::RolloutState::Progressing { step: 0 },
            |c| c.state,
        );
        let Some(next) = state.after(action)? else {
            return Ok(current.unwrap_or(crate::FleetRolloutState {
                version: 0,
                state,
                reason: String::new(),
                by: String::new(),
            }));
        };
        let version: u64 = self
            .con
            .incr(self.keys.rollout_version(group), 1)
            .map_err(|e| redis_error("cannot version the rollout state", &e))?;
        let out = crate::FleetRolloutState {
            version,
            state: next,
            reason: format!("{action:?}"),
            by: "operator".to_string(),
        };
        let () = self
            .con
            .set(
                self.keys.rollout_state(group),
                serde_json::to_string(&out).expect("state serialises"),
            )
            .map_err(|e| redis_error("cannot write the rollout state", &e))?;
        Ok(out)
    }

    /// Adds members (addresses or CIDRs; stored in canonical form) to IP set `name`.
    pub fn ip_set_add<S: AsRef<str>>(
        &mut self,
        name: &str,
        members: impl IntoIterator<Item = S>,
    ) -> Result<Published> {
        self.members_change(name, members, true)
    }

    /// Removes members from IP set `name`.
    pub fn ip_set_remove<S: AsRef<str>>(
        &mut self,
        name: &str,
        members: impl IntoIterator<Item = S>,
    ) -> Result<Published> {
        self.members_change(name, members, false)
    }

    /// Replaces IP set `name` as a whole (an empty list empties it).
    pub fn ip_set_load<S: AsRef<str>>(
        &mut self,
        name: &str,
        members: impl IntoIterator<Item = S>,
    ) -> Result<Published> {
        check_name("ip set name", name)?;
        let list: Vec<String> = canonical_list(members)?.into_iter().collect();
        let key = self.keys.ip_set(name);
        let log_id = self.write(
            &[Change::Load {
                set: name.to_string(),
            }],
            |pipe, _| {
                pipe.del(&key).ignore();
                for chunk in list.chunks(MEMBERS_PER_ENTRY) {
                    pipe.sadd(&key, chunk).ignore();
                }
            },
        )?;
        Ok(Published {
            changed: list.len(),
            log_id,
        })
    }

    /// The members of IP set `name` in Redis. A member that is not UTF-8 is an error naming the
    /// set's key and the member (remove it with `redis-cli SREM`).
    pub fn ip_set_members(&mut self, name: &str) -> Result<BTreeSet<String>> {
        check_name("ip set name", name)?;
        let read = fetch::read_set(&mut self.con, &self.keys.ip_set(name))
            .map_err(|e| redis_error("cannot read the set", &e))?;
        match read.problem {
            Some(problem) => Err(problem),
            None => Ok(read.members),
        }
    }

    fn members_change<S: AsRef<str>>(
        &mut self,
        name: &str,
        members: impl IntoIterator<Item = S>,
        add: bool,
    ) -> Result<Published> {
        check_name("ip set name", name)?;
        let wanted = canonical_list(members)?;
        let key = self.keys.ip_set(name);
        // Log only the members that change, so the log stays small (replaying is idempotent).
        let present: Vec<bool> = {
            let list: Vec<&String> = wanted.iter().collect();
            let mut out = Vec::with_capacity(list.len());
            for chunk in list.chunks(MEMBERS_PER_ENTRY) {
                let flags: Vec<bool> = redis::cmd("SMISMEMBER")
                    .arg(&key)
                    .arg(chunk)
                    .query(&mut self.con)
                    .map_err(|e| redis_error("cannot read the set", &e))?;
                out.extend(flags);
            }
            out
        };
        let delta: Vec<String> = wanted
            .into_iter()
            .zip(present)
            .filter(|(_, p)| *p != add)
            .map(|(m, _)| m)
            .collect();
        if delta.is_empty() {
            return Ok(Published {
                changed: 0,
                log_id: String::new(),
            });
        }
        let changes: Vec<Change> = delta
            .chunks(MEMBERS_PER_ENTRY)
            .map(|c| {
                let (set, members) = (name.to_string(), c.to_vec());
                if add {
                    Change::Add { set, members }
                } else {
                    Change::Remove { set, members }
                }
            })
            .collect();
        let log_id = self.write(&changes, |pipe, _| {
            for chunk in delta.chunks(MEMBERS_PER_ENTRY) {
                if add {
                    pipe.sadd(&key, chunk).ignore();
                } else {
                    pipe.srem(&key, chunk).ignore();
                }
            }
        })?;
        Ok(Published {
            changed: delta.len(),
            log_id,
        })
    }

    /// One `MULTI`/`EXEC`: the state changes from `fill`, the log entries, the announcement.
    fn write(
        &mut self,
        changes: &[Change],
        fill: impl FnOnce(&mut redis::Pipeline, &Keys),
    ) -> Result<String> {
        let mut pipe = redis::pipe();
        pipe.atomic();
        fill(&mut pipe, &self.keys);
        for c in changes {
            pipe.xadd_maxlen(
                self.keys.log(),
                StreamMaxlen::Approx(LOG_MAX_LEN),
                "*",
                &c.to_fields(),
            );
        }
        let summary = match changes.first() {
            Some(Change::Spec) => "spec".to_string(),
            Some(Change::Nepxion) => "nepxion".to_string(),
            Some(Change::Add { set, .. }) => format!("add {set}"),
            Some(Change::Remove { set, .. }) => format!("remove {set}"),
            Some(Change::Load { set }) => format!("load {set}"),
            None => String::new(),
        };
        pipe.publish(self.keys.events(), summary).ignore();
        let ids: Vec<String> = pipe
            .query(&mut self.con)
            .map_err(|e| redis_error("cannot write", &e))?;
        Ok(ids.last().cloned().unwrap_or_default())
    }
}

/// Validates and canonicalises members; the error names the first bad one.
fn canonical_list<S: AsRef<str>>(members: impl IntoIterator<Item = S>) -> Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    for (i, m) in members.into_iter().enumerate() {
        let c = canonical_entry(m.as_ref())
            .map_err(|e| Error::at(ErrorKind::InvalidIp, format!("members[{i}]"), e.to_string()))?;
        out.insert(c);
    }
    Ok(out)
}
