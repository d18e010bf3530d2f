//! The engine's judged rollouts: the judgement tick and the operator's controls (see
//! [`crate::rollout`]).

use super::Engine;
use crate::error::{Error, ErrorKind, Result};
use crate::rollout::judge::tick;
use crate::rollout::{RolloutAction, RolloutState, RolloutStatus};
use crate::snapshot::group::{Group, JudgedRollout};
use crate::snapshot::Snapshot;
use crate::traffic::WindowCounts;

impl Engine {
    /// Judges every rollout whose interval has ended and moves it (advance, promote, abort,
    /// pause): call it every second or so (the gateway does). It also notes which rules
    /// matched since the last tick, for [`Engine::rules`]. Reads the live windows of the
    /// canary and the baseline since the interval started. Cheap when no interval ended.
    pub fn tick(&self) {
        let snap = self.snapshot();
        // Also the clock of the rules' last hit times.
        self.note_rule_hits(&snap);
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
        let gi = snap.group_named(group)?;
        let g = &snap.groups[gi as usize];
        let Some(j) = g.rollout.as_ref().and_then(|r| r.judged.as_ref()) else {
            return Err(Error::at(
                ErrorKind::InvalidValue,
                "group",
                format!("group {group:?} has no rollout with an analysis section"),
            ));
        };
        let (now, unix) = (self.sources.now_ms(), self.sources.unix_ms());
        {
            let mut p = j.control.lock();
            let to = match (action, p.state) {
                (RolloutAction::Pause, RolloutState::Progressing { step }) => {
                    Some(RolloutState::Paused { step })
                }
                (RolloutAction::Resume, RolloutState::Paused { step }) => {
                    Some(RolloutState::Progressing { step })
                }
                (RolloutAction::Resume, RolloutState::Aborted) => {
                    Some(RolloutState::Progressing { step: 0 })
                }
                (RolloutAction::Promote, RolloutState::Promoted)
                | (RolloutAction::Abort, RolloutState::Aborted) => None,
                (RolloutAction::Promote, _) => Some(RolloutState::Promoted),
                (RolloutAction::Abort, _) => Some(RolloutState::Aborted),
                (_, state) => {
                    return Err(Error::at(
                        ErrorKind::InvalidValue,
                        "action",
                        format!("cannot {action:?} a rollout that is {}", state.name()),
                    ))
                }
            };
            if let Some(to) = to {
                let why = format!("operator: {action:?}");
                j.control.transition(&mut p, to, why, now, unix);
            }
        }
        Ok(self.status_of(&snap, g, j))
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
