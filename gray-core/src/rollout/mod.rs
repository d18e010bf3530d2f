//! The state of a rollout that judges itself: which step is in force, whether it progresses,
//! is paused, promoted or aborted, and why.
//!
//! A leaf of the crate. The engine keeps one rollout control per group whose rollout has an
//! `analysis` section, across reloads for as long as the rollout itself does not change; the
//! compiled group reads the selector in force from it with one atomic load per decision.
//! [`crate::Engine::tick`] judges (see `judge.rs`) and moves the state; the admin calls pause,
//! resume, promote and abort it.

pub(crate) mod judge;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};

use crate::traffic::SLOT_MS;

/// An operator's call on a rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RolloutAction {
    /// Hold the current step; nothing is judged until resumed.
    Pause,
    /// Judge and progress again (a paused rollout; or an aborted one from step 1).
    Resume,
    /// Put the last step in force for good.
    Promote,
    /// Send all new traffic to the baseline.
    Abort,
}

/// Transitions kept per rollout.
const HISTORY: usize = 64;

/// The step and interval clocks before the first tick.
pub(crate) const NOT_STARTED: u64 = u64::MAX;

/// Where a rollout is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum RolloutState {
    /// Step `step` is in force and the canary is judged.
    Progressing {
        /// The step (0-based).
        step: usize,
    },
    /// Step `step` stays in force; nothing is judged until resumed.
    Paused {
        /// The step (0-based).
        step: usize,
    },
    /// The last step is in force for good.
    Promoted,
    /// The canary gets no new traffic: the baseline serves.
    Aborted,
}

impl RolloutState {
    /// `progressing`, `paused`, `promoted` or `aborted`.
    pub fn name(&self) -> &'static str {
        match self {
            RolloutState::Progressing { .. } => "progressing",
            RolloutState::Paused { .. } => "paused",
            RolloutState::Promoted => "promoted",
            RolloutState::Aborted => "aborted",
        }
    }

    /// The state an operator's `action` leads to: `None` when it is there already (promote a
    /// promoted rollout, abort an aborted one); an `InvalidValue` error (path `action`) when
    /// the action does not apply (pause a paused rollout, resume a progressing one, pause a
    /// promoted one).
    ///
    /// ```
    /// use gray_core::rollout::RolloutState;
    /// use gray_core::RolloutAction;
    ///
    /// let s = RolloutState::Progressing { step: 1 };
    /// assert_eq!(s.after(RolloutAction::Pause)?, Some(RolloutState::Paused { step: 1 }));
    /// assert_eq!(RolloutState::Aborted.after(RolloutAction::Resume)?, Some(RolloutState::Progressing { step: 0 }));
    /// assert_eq!(RolloutState::Promoted.after(RolloutAction::Promote)?, None);
    /// assert!(RolloutState::Promoted.after(RolloutAction::Pause).is_err());
    /// # Ok::<(), gray_core::Error>(())
    /// ```
    pub fn after(self, action: RolloutAction) -> Result<Option<RolloutState>> {
        Ok(match (action, self) {
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
        })
    }

    /// The gauge value of `gray_rollout_state`: 0 progressing, 1 paused, 2 promoted, 3 aborted.
    pub fn code(&self) -> u8 {
        match self {
            RolloutState::Progressing { .. } => 0,
            RolloutState::Paused { .. } => 1,
            RolloutState::Promoted => 2,
            RolloutState::Aborted => 3,
        }
    }
}

/// One change of a rollout's state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Transition {
    /// When, in milliseconds since the Unix epoch.
    pub at_unix_ms: u64,
    /// The state before.
    pub from: RolloutState,
    /// The state after.
    pub to: RolloutState,
    /// Why: the judgement and its figures, or the operator's call.
    pub reason: String,
}

/// A rollout's status, as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RolloutStatus {
    /// The group.
    pub group: String,
    /// Where it is.
    pub state: RolloutState,
    /// The number of steps.
    pub steps: usize,
    /// Failing intervals in a row.
    pub failures: u32,
    /// The last judgement, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_judgement: Option<String>,
    /// Transitions since the rollout started (more than `history` holds once it is full).
    pub transitions: u64,
    /// The transitions so far, oldest first (the last 64).
    pub history: Vec<Transition>,
    /// The canary nodes (addresses in the group).
    pub canary: Vec<String>,
    /// The baseline: a group name, or `None` for the group's other nodes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<String>,
    /// Time until the current interval is judged (progressing rollouts whose clock runs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_judgement_in_ms: Option<u64>,
    /// The earliest the next step can start: the later of the next judgement and the end of
    /// this step's hold (it starts then if that judgement passes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_step_in_ms: Option<u64>,
}

/// The mutable part, behind the lock (off the request path).
#[derive(Debug)]
pub(crate) struct Progress {
    pub(crate) state: RolloutState,
    /// When the current step started (monotonic ms).
    pub(crate) step_started_ms: u64,
    /// When the current interval started (monotonic ms).
    pub(crate) interval_started_ms: u64,
    /// Consecutive failing intervals.
    pub(crate) failures: u32,
    /// Whether an interval of the current step passed.
    pub(crate) passed_in_step: bool,
    pub(crate) last_judgement: Option<String>,
    pub(crate) history: VecDeque<Transition>,
    pub(crate) transitions: u64,
}

/// The shared state of one rollout.
#[derive(Debug)]
pub(crate) struct RolloutControl {
    /// The selector in force: a step index, or `steps` for the aborted weights.
    selector: AtomicU32,
    steps: usize,
    progress: Mutex<Progress>,
}

impl RolloutControl {
    /// A rollout of `steps` steps at step 0; its clock starts at the first judgement tick.
    pub(crate) fn new(steps: usize) -> RolloutControl {
        RolloutControl {
            selector: AtomicU32::new(0),
            steps,
            progress: Mutex::new(Progress {
                state: RolloutState::Progressing { step: 0 },
                step_started_ms: NOT_STARTED,
                interval_started_ms: NOT_STARTED,
                failures: 0,
                passed_in_step: false,
                last_judgement: None,
                history: VecDeque::new(),
                transitions: 0,
            }),
        }
    }

    /// The selector in force (the hot path: one relaxed load).
    #[inline]
    pub(crate) fn selector(&self) -> usize {
        self.selector.load(Ordering::Relaxed) as usize
    }

    pub(crate) fn steps(&self) -> usize {
        self.steps
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Moves to `to` (recording why) and puts its selector in force.
    pub(crate) fn transition(
        &self,
        p: &mut Progress,
        to: RolloutState,
        reason: String,
        now_ms: u64,
        unix_ms: u64,
    ) {
        let from = p.state;
        if from == to {
            return;
        }
        p.state = to;
        let selector = match to {
            RolloutState::Progressing { step } | RolloutState::Paused { step } => step,
            RolloutState::Promoted => self.steps - 1,
            RolloutState::Aborted => self.steps,
        };
        // Steps and intervals are whole 10-second slots of the live windows.
        let aligned = now_ms.div_ceil(SLOT_MS) * SLOT_MS;
        if matches!((from, to), (_, RolloutState::Progressing { step }) if step != selector_step(from))
        {
            p.step_started_ms = aligned;
            p.passed_in_step = false;
        }
        if matches!(to, RolloutState::Progressing { .. }) {
            p.interval_started_ms = aligned;
            p.failures = 0;
        }
        self.selector.store(selector as u32, Ordering::Relaxed);
        p.transitions += 1;
        if p.history.len() == HISTORY {
            p.history.pop_front();
        }
        p.history.push_back(Transition {
            at_unix_ms: unix_ms,
            from,
            to,
            reason,
        });
    }

    /// The status view.
    pub(crate) fn status(&self, group: &str) -> RolloutStatus {
        let p = self.lock();
        RolloutStatus {
            group: group.to_string(),
            state: p.state,
            steps: self.steps,
            failures: p.failures,
            last_judgement: p.last_judgement.clone(),
            transitions: p.transitions,
            history: p.history.iter().cloned().collect(),
            canary: Vec::new(),
            baseline: None,
            next_judgement_in_ms: None,
            next_step_in_ms: None,
        }
    }

    /// [`RolloutControl::status`] with the clocks of `analysis` at `now_ms`.
    pub(crate) fn status_at(
        &self,
        group: &str,
        analysis: &judge::Analysis,
        now_ms: u64,
    ) -> RolloutStatus {
        let mut st = self.status(group);
        let p = self.lock();
        if let (RolloutState::Progressing { step }, false) =
            (p.state, p.interval_started_ms == NOT_STARTED)
        {
            let judged_at = p.interval_started_ms.saturating_add(analysis.interval_ms);
            let hold_ends = p
                .step_started_ms
                .saturating_add(analysis.holds_ms.get(step).copied().unwrap_or(0));
            st.next_judgement_in_ms = Some(judged_at.saturating_sub(now_ms));
            if step + 1 < self.steps {
                // Judgements fall on interval ends: the first at or after the hold's end.
                let mut at = judged_at;
                while at < hold_ends {
                    at = at.saturating_add(analysis.interval_ms.max(1));
                }
                st.next_step_in_ms = Some(at.saturating_sub(now_ms));
            }
        }
        st
    }
}

/// The step of a state that has one.
fn selector_step(s: RolloutState) -> usize {
    match s {
        RolloutState::Progressing { step } | RolloutState::Paused { step } => step,
        _ => usize::MAX,
    }
}
