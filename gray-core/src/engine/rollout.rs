//! The engine's judged rollouts: the judgement tick and the operator's controls (see
//! [`crate::rollout`]).

use super::Engine;
use crate::error::{Error, ErrorKind, Result};
use crate::rollout::judge::tick;
use crate::rollout::{RolloutAction, RolloutState, RolloutStatus};
use crate::snapshot::group::{Group, JudgedRollout};
use crate::snapshot::Snapshot;
use crate::traffic::{WindowCounts, SLOT_MS};

impl Engine {
    /// Judges every rollout whose interval has ended and moves it (advance, promote, abort,
    /// pause): call it every second or so (the gateway does). It also notes which rules
    /// matched since the last tick, for [`Engine::rules`]. Reads the live windows of the
    /// canary and the baseline since the interval started. Cheap when no interval ended.
    pub fn tick(&self) {
        let snap = self.snapshot();
        // Also the clock of the rules' last hit times.
        self.note_rule_hits(&snap, |_, _| {});
        if self.fleet_judged.load(std::sync::atomic::Ordering::Relaxed) {
            // A fleet judges: see `judge_rollout` and `follow_rollout`.
            return;
        }
        let now = self.sources.now_ms();
        for g in snap.groups.iter() {
            let Some(j) = g.rollout.as_ref().and_then(|r| r.judged.as_ref()) else {
                continue;
            };
            tick(
                &j.control,
                &j.analysis,
                now,
                self.sources.unix_ms(),
                |from, to| windows(&snap, g, j, now, from, to),
            );
        }
    }

    /// The status and history of every judged rollout, in group order.
    pub fn rollouts(&self) -> Vec<RolloutStatus> {
        let snap = self.snapshot();
        snap.groups
            .iter()
            .filter_map(|g| {
                let j = g.rollout.as_ref()?.judged.as_ref()?;
                Some(self.status_of(&snap, g, j))
            })
            .collect()
    }

    fn status_of(&self, snap: &Snapshot, g: &Group, j: &JudgedRollout) -> RolloutStatus {
        let mut st = j
            .control
            .status_at(&g.name, &j.analysis, self.sources.now_ms());
        st.canary = j
            .canary
            .iter()
            .map(|&i| g.nodes[i as usize].address.to_string())
            .collect();
        st.baseline = j.baseline.map(|b| snap.groups[b as usize].name.to_string());
        st
    }

    /// Pauses, resumes, promotes or aborts the judged rollout of `group`. Errors:
    /// `UnknownGroup`, and `InvalidValue` (path `group`) when the group has no judged rollout.
    pub fn rollout_action(&self, group: &str, action: RolloutAction) -> Result<RolloutStatus> {
        let snap = self.snapshot();
        let (g, j) = judged(&snap, group)?;
        let (now, unix) = (self.sources.now_ms(), self.sources.unix_ms());
        {
            let mut p = j.control.lock();
            if let Some(to) = p.state.after(action)? {
                let why = format!("operator: {action:?}");
                j.control.transition(&mut p, to, why, now, unix);
            }
        }
        Ok(self.status_of(&snap, g, j))
    }
}

/// For a fleet of engines that judges each rollout once, on the sum of every engine's traffic
/// (`gray-redis`'s `FleetRollouts`): one engine judges on counts it gathers, every engine
/// follows the state the judging one publishes.
impl Engine {
    /// Hands judging to the fleet: [`Engine::tick`] no longer judges rollouts (it still notes
    /// rule hits); [`Engine::judge_rollout`] and [`Engine::follow_rollout`] move them.
    pub fn set_fleet_judged(&self, on: bool) {
        self.fleet_judged
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// This engine's counts of the canary and the baseline of `group`'s judged rollout in the
    /// 10-second slots completed after slot `after` (all completed slots still in the window
    /// when `None`), and the number of the last completed slot: call again with it to get only
    /// what is new. Errors as [`Engine::rollout_action`].
    pub fn rollout_completed(
        &self,
        group: &str,
        after: Option<u64>,
    ) -> Result<(u64, WindowCounts, WindowCounts)> {
        let snap = self.snapshot();
        let (g, j) = judged(&snap, group)?;
        let now = self.sources.now_ms();
        let last = (now / SLOT_MS).saturating_sub(1);
        let from = after.map_or(0, |a| (a + 1) * SLOT_MS);
        let (c, b) = windows(&snap, g, j, now, from, (last + 1) * SLOT_MS);
        Ok((last, c, b))
    }

    /// Judges `group`'s rollout as [`Engine::tick`] would, when its interval has ended, on the
    /// counts `read(from_ms, to_ms)` returns (the fleet's sum) rather than this engine's.
    pub fn judge_rollout(
        &self,
        group: &str,
        read: impl FnOnce(u64, u64) -> (WindowCounts, WindowCounts),
    ) -> Result<RolloutStatus> {
        let snap = self.snapshot();
        let (g, j) = judged(&snap, group)?;
        tick(
            &j.control,
            &j.analysis,
            self.sources.now_ms(),
            self.sources.unix_ms(),
            read,
        );
        Ok(self.status_of(&snap, g, j))
    }

    /// Puts `group`'s rollout in `state` (the fleet's), recording `reason` when it changes.
    pub fn follow_rollout(
        &self,
        group: &str,
        state: RolloutState,
        reason: &str,
    ) -> Result<RolloutStatus> {
        let snap = self.snapshot();
        let (g, j) = judged(&snap, group)?;
        if let RolloutState::Progressing { step } | RolloutState::Paused { step } = state {
            if step >= j.control.steps() {
                return Err(Error::at(
                    ErrorKind::InvalidValue,
                    "state.step",
                    format!(
                        "step {step} is past the rollout's {} steps",
                        j.control.steps()
                    ),
                ));
            }
        }
        {
            let mut p = j.control.lock();
            let (now, unix) = (self.sources.now_ms(), self.sources.unix_ms());
            j.control
                .transition(&mut p, state, reason.to_string(), now, unix);
        }
        Ok(self.status_of(&snap, g, j))
    }
}

/// The group and judged rollout named `group`.
fn judged<'s>(snap: &'s Snapshot, group: &str) -> Result<(&'s Group, &'s JudgedRollout)> {
    let g = &snap.groups[snap.group_named(group)? as usize];
    match g.rollout.as_ref().and_then(|r| r.judged.as_ref()) {
        Some(j) => Ok((g, j)),
        None => Err(Error::at(
            ErrorKind::InvalidValue,
            "group",
            format!("group {group:?} has no rollout with an analysis section"),
        )),
    }
}

/// The canary's and the baseline's windows of the periods in `[from_ms, to_ms)`.
fn windows(
    snap: &Snapshot,
    g: &Group,
    j: &JudgedRollout,
    now_ms: u64,
    from_ms: u64,
    to_ms: u64,
) -> (WindowCounts, WindowCounts) {
    let mut canary = WindowCounts::default();
    let mut baseline = WindowCounts::default();
    for (i, n) in g.nodes.iter().enumerate() {
        if j.canary.contains(&(i as u32)) {
            n.traffic.window_into(now_ms, from_ms, to_ms, &mut canary);
        } else if j.baseline.is_none() {
            n.traffic.window_into(now_ms, from_ms, to_ms, &mut baseline);
        }
    }
    if let Some(b) = j.baseline {
        for n in snap.groups[b as usize].nodes.iter() {
            n.traffic.window_into(now_ms, from_ms, to_ms, &mut baseline);
        }
    }
    (canary, baseline)
}
