//! Judged rollouts across a fleet: the fleet acts as one rollout.
//!
//! Each engine of a fleet sees only its share of the traffic; judged alone, a canary that
//! fails one request in five on every engine may never reach `min_requests` anywhere, and
//! engines that judge alone can disagree (one aborts, another promotes). [`FleetRollouts`] makes
//! the fleet one rollout, through four keys per judged group `G` (see [`Keys`]):
//!
//! | key | type | holds |
//! |---|---|---|
//! | `gray:{NS}:rollout:G:counts` | hash | per engine id: its running totals of canary and baseline traffic, as JSON, and when it wrote them |
//! | `gray:{NS}:rollout:G:lease` | string | the id of the engine that judges, with an expiry (`SET NX PX`) |
//! | `gray:{NS}:rollout:G:state` | string | the fleet's state as JSON: `version`, `state`, `reason` |
//! | `gray:{NS}:rollout:G:version` | string | the counter behind `version` (`INCR`) |
//!
//! Every second ([`FleetRollouts::step`]) each engine adds the 10-second slots it completed to
//! its running totals and writes them; follows the published state when its version is newer
//! than the one it applied; then takes or renews the lease. The engine holding the lease judges
//! each interval on the fleet's sum: per engine, the growth of its totals since the previous
//! judgement. When it moves the rollout it publishes the new state, and every engine follows it
//! within a second. Engines never judge alone ([`gray_core::Engine::set_fleet_judged`]). If the
//! judging engine dies its lease expires, another engine takes it within the lease time, and
//! judges from the next interval on (the interval in which it took over is judged on what it
//! saw since, so it is usually inconclusive). An operator's call (`gray-redis rollout pause G`,
//! [`crate::Publisher::rollout_action`]) is a new state version: every engine follows it.
//!
//! Totals count completed slots only, so the fleet's judgement trails the traffic by up to one
//! slot (10 s) more than an engine judging alone.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use gray_core::rollout::RolloutState;
use gray_core::traffic::WindowCounts;
use gray_core::{Engine, Error, ErrorKind, Result};
use redis::Commands;
use serde::{Deserialize, Serialize};

use crate::fetch::{self, redis_error};
use crate::keys::Keys;

/// The fleet's state of one rollout, as stored in its `state` key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetRolloutState {
    /// Grows with every change; engines apply a state once.
    pub version: u64,
    /// The state.
    pub state: RolloutState,
    /// Why (the judgement, or the operator's call).
    pub reason: String,
    /// Who wrote it: an engine id, or `operator`.
    pub by: String,
}

impl FleetRolloutState {
    /// Reads the JSON of the state key `key`; a bad value is an `InvalidValue` error naming
    /// the key.
    pub fn parse(text: &str, key: &str) -> Result<FleetRolloutState> {
        serde_json::from_str(text).map_err(|e| {
            Error::at(
                ErrorKind::InvalidValue,
                key,
                format!("not a rollout state: {e}"),
            )
        })
    }
}

/// One engine's totals, as stored in the `counts` hash.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Totals {
    canary: WindowCounts,
    baseline: WindowCounts,
    /// When written (Unix ms).
    at_unix_ms: u64,
}

/// This engine's view of one rollout.
#[derive(Debug, Default)]
struct Group {
    /// The last slot added to `mine`.
    last_slot: Option<u64>,
    mine: Totals,
    /// The state version applied.
    applied: u64,
    leader: bool,
    /// The fleet's totals per engine at the previous judgement (leader only).
    judged_at: Option<HashMap<String, Totals>>,
    /// The transitions count of the local rollout after the last state this engine wrote or
    /// applied: more means its own judgement moved it.
    transitions: u64,
}

/// Makes a fleet of engines one judged rollout per group; see the module docs.
pub struct FleetRollouts {
    engine: Arc<Engine>,
    con: redis::Connection,
    keys: Keys,
    id: String,
    lease: Duration,
    groups: HashMap<String, Group>,
}

impl std::fmt::Debug for FleetRollouts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FleetRollouts")
            .field("id", &self.id)
            .field("namespace", &self.keys.namespace())
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

/// Renews a lease only while this engine holds it.
const RENEW: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0";

/// Entries older than this in a `counts` hash belong to engines that are gone.
const STALE: Duration = Duration::from_secs(600);

impl FleetRollouts {
    /// Joins the fleet of `namespace` as engine `id` (unique in the fleet: a host name and a
    /// process id, say). From now on `engine` judges no rollout alone. Lease time 5 s.
    pub fn connect(engine: Arc<Engine>, url: &str, namespace: &str, id: &str) -> Result<Self> {
        let keys = Keys::new(namespace)?;
        crate::keys::check_name("engine id", id)?;
        let con = fetch::open(url, Duration::from_secs(5))?;
        engine.set_fleet_judged(true);
        Ok(FleetRollouts {
            engine,
            con,
            keys,
            id: id.to_string(),
            lease: Duration::from_secs(5),
            groups: HashMap::new(),
        })
    }

    /// How long the judging engine's lease lasts without renewal (at least 1 s; the default
    /// is 5 s): the longest a fleet goes without a judge when that engine dies.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(Duration::from_millis(100));
        self
    }

    /// True while this engine judges `group`'s rollout for the fleet.
    pub fn is_leader(&self, group: &str) -> bool {
        self.groups.get(group).is_some_and(|g| g.leader)
    }

    /// One round for every judged rollout: publish this engine's totals, follow the fleet's
    /// state, take or renew the lease, and judge when holding it. Call it every second
    /// ([`FleetRollouts::spawn`] does).
    pub fn step(&mut self) -> Result<()> {
        let groups: Vec<String> = self
            .engine
            .rollouts()
            .into_iter()
            .map(|r| r.group)
            .collect();
        self.groups.retain(|g, _| groups.contains(g));
        for g in groups {
            self.step_group(&g)?;
        }
        Ok(())
    }

    fn step_group(&mut self, group: &str) -> Result<()> {
        let now_unix = unix_ms();
        let counts_key = self.keys.rollout_counts(group);
        let state_key = self.keys.rollout_state(group);
        let lease_key = self.keys.rollout_lease(group);
        let st = self.groups.entry(group.to_string()).or_default();

        // 1. This engine's totals, slot by completed slot.
        let (last, c, b) = self.engine.rollout_completed(group, st.last_slot)?;
        if st.last_slot.is_some() {
            st.mine.canary.merge(&c);
            st.mine.baseline.merge(&b);
        }
        st.last_slot = Some(last);
        st.mine.at_unix_ms = now_unix;
        let json = serde_json::to_string(&st.mine).expect("totals serialise");
        let () = self
            .con
            .hset(&counts_key, &self.id, json)
            .map_err(|e| redis_error("cannot write rollout counts", &e))?;

        // 2. The fleet's state.
        let state: Option<String> = self
            .con
            .get(&state_key)
            .map_err(|e| redis_error("cannot read the rollout state", &e))?;
        if let Some(text) = state {
            let fleet = FleetRolloutState::parse(&text, &state_key)?;
            if fleet.version > st.applied {
                let reason = format!("fleet ({}): {}", fleet.by, fleet.reason);
                let status = self.engine.follow_rollout(group, fleet.state, &reason)?;
                st.applied = fleet.version;
                st.transitions = status.transitions;
            }
        }

        // 3. The lease.
        let ms = self.lease.as_millis() as u64;
        let took: Option<String> = redis::cmd("SET")
            .arg(&lease_key)
            .arg(&self.id)
            .arg("NX")
            .arg("PX")
            .arg(ms)
            .query(&mut self.con)
            .map_err(|e| redis_error("cannot take the rollout lease", &e))?;
        let held = took.is_some() || {
            let renewed: i64 = redis::cmd("EVAL")
                .arg(RENEW)
                .arg(1)
                .arg(&lease_key)
                .arg(&self.id)
                .arg(ms)
                .query(&mut self.con)
                .map_err(|e| redis_error("cannot renew the rollout lease", &e))?;
            renewed == 1
        };
        if !held {
            st.leader = false;
            st.judged_at = None;
            return Ok(());
        }
        if !st.leader {
            st.leader = true;
            tracing::info!(group, engine = %self.id, "judging the fleet's rollout");
        }

        // 4. Judge on the fleet's sum.
        let all: HashMap<String, String> = self
            .con
            .hgetall(&counts_key)
            .map_err(|e| redis_error("cannot read rollout counts", &e))?;
        let mut fleet: HashMap<String, Totals> = HashMap::new();
        let mut stale = Vec::new();
        for (id, text) in all {
            match serde_json::from_str::<Totals>(&text) {
                Ok(t) if now_unix.saturating_sub(t.at_unix_ms) <= STALE.as_millis() as u64 => {
                    fleet.insert(id, t);
                }
                Ok(_) => stale.push(id),
                Err(e) => {
                    tracing::warn!(group, engine = %id, "ignoring unreadable rollout counts: {e}");
                }
            }
        }
        if !stale.is_empty() {
            let _: std::result::Result<(), _> = self.con.hdel(&counts_key, stale);
        }
        let Some(before) = st.judged_at.take() else {
            // Just took the lease: judge on what comes from now on.
            st.judged_at = Some(fleet);
            return Ok(());
        };
        let mut judged = false;
        let status = self.engine.judge_rollout(group, |_, _| {
            judged = true;
            let (mut canary, mut baseline) = (WindowCounts::default(), WindowCounts::default());
            for (id, t) in &fleet {
                let zero = Totals::default();
                let prev = before.get(id).unwrap_or(&zero);
                canary.merge(&t.canary.since(&prev.canary));
                baseline.merge(&t.baseline.since(&prev.baseline));
            }
            (canary, baseline)
        })?;
        st.judged_at = Some(if judged { fleet } else { before });
        if status.transitions > st.transitions {
            let reason = status
                .history
                .last()
                .map(|t| t.reason.clone())
                .unwrap_or_default();
            let version: u64 = self
                .con
                .incr(self.keys.rollout_version(group), 1)
                .map_err(|e| redis_error("cannot version the rollout state", &e))?;
            let out = FleetRolloutState {
                version,
                state: status.state,
                reason,
                by: self.id.clone(),
            };
            let () = self
                .con
                .set(
                    &state_key,
                    serde_json::to_string(&out).expect("state serialises"),
                )
                .map_err(|e| redis_error("cannot publish the rollout state", &e))?;
            st.applied = version;
            st.transitions = status.transitions;
            tracing::info!(
                group,
                state = status.state.name(),
                "published the fleet's rollout state"
            );
        }
        Ok(())
    }

    /// Runs [`FleetRollouts::step`] every `every` on a thread of its own until the handle is
    /// dropped; a failed round (Redis away) is logged and retried next time. Fails only when
    /// the thread cannot be started.
    pub fn spawn(mut self, every: Duration) -> std::io::Result<FleetHandle> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("gray-fleet-rollouts".into())
            .spawn(move || {
                let mut failing = false;
                while !flag.load(Ordering::Relaxed) {
                    match self.step() {
                        Ok(()) => failing = false,
                        Err(e) if !failing => {
                            failing = true;
                            tracing::warn!("fleet rollouts: {e}");
                        }
                        Err(_) => {}
                    }
                    std::thread::sleep(every);
                }
            })?;
        Ok(FleetHandle {
            stop,
            thread: Some(thread),
        })
    }
}

/// Stops the fleet thread when dropped.
#[derive(Debug)]
pub struct FleetHandle {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for FleetHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
