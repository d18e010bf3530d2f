//! A judged rollout across a fleet, with a real `redis-server`: two engines that each see too
//! little traffic to judge reach one decision on their sum; the lease passes to the other
//! engine when the judging one dies; an operator's call reaches both.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::RedisServer;
use gray_core::health::ManualClock;
use gray_core::rollout::RolloutState;
use gray_core::{Engine, Outcome, RolloutAction, Spec};
use gray_redis::{FleetRollouts, Publisher};

const STABLE: &str = "10.0.0.1:80";
const CANARY: &str = "10.0.0.2:80";

fn spec() -> Spec {
    Spec::from_str(
        &format!(
            r#"version: 1
groups:
  web:
    nodes: [{{ address: "{STABLE}", weight: 1 }}, {{ address: "{CANARY}", weight: 0 }}]
    rollout:
      start: 0
      steps:
        - {{ weights: {{ "{CANARY}": 1 }}, hold: 10m }}
        - {{ weights: {{ "{CANARY}": 1, "{STABLE}": 0 }} }}
      analysis:
        canary: ["{CANARY}"]
        interval: 10s
        failure_limit: 1
        error_rate: {{ min_requests: 50 }}
default: web
"#
        ),
        gray_core::Format::Yaml,
    )
    .unwrap()
}

/// One engine of the fleet, on a clock of its own.
struct Member {
    engine: Arc<Engine>,
    clock: Arc<ManualClock>,
    fleet: FleetRollouts,
}

impl Member {
    fn join(redis: &RedisServer, id: &str, start_ms: u64) -> Member {
        let clock = Arc::new(ManualClock::new(start_ms));
        let engine = Arc::new(
            Engine::builder()
                .clock(clock.clone())
                .build(spec())
                .unwrap(),
        );
        let fleet = FleetRollouts::connect(engine.clone(), &redis.url(), "fleet", id)
            .unwrap()
            .lease(Duration::from_millis(400));
        Member {
            engine,
            clock,
            fleet,
        }
    }

    /// 10 seconds of traffic: `n` requests per side, `canary_errors` of the canary's fail.
    fn slot(&mut self, n: u64, canary_errors: u64) {
        for i in 0..n {
            let c = if i < canary_errors { 503 } else { 200 };
            let ms = Duration::from_millis(20 + i % 5);
            self.engine
                .record_node_timed("web", CANARY, Outcome::Status(c), ms)
                .unwrap();
            self.engine
                .record_node_timed("web", STABLE, Outcome::Status(200), ms)
                .unwrap();
        }
        self.clock.advance(10_000);
        // What the gateway does every second: the engine's own tick (which no longer judges)
        // and a fleet round.
        self.engine.tick();
        self.fleet.step().unwrap();
    }

    fn state(&self) -> RolloutState {
        self.engine.rollouts()[0].state
    }
}

#[test]
fn two_engines_judge_as_one_and_follow_one_state() {
    let redis = RedisServer::start();
    // Clocks of different origins: the engines' slots do not line up.
    let mut a = Member::join(&redis, "engine-a", 0);
    let mut b = Member::join(&redis, "engine-b", 3_000);
    a.fleet.step().unwrap();
    b.fleet.step().unwrap();
    assert!(a.fleet.is_leader("web") && !b.fleet.is_leader("web"));

    // Each engine sees 30 canary requests per slot with 20 % errors: fewer than
    // `min_requests` (50) per interval on either engine, so neither could judge alone.
    let mut aborted_after = None;
    for slot in 1..=8 {
        a.slot(30, 6);
        b.slot(30, 6);
        if a.state() == RolloutState::Aborted {
            aborted_after = Some(slot);
            break;
        }
    }
    let aborted_after = aborted_after.expect("the fleet's sum aborts the canary");
    assert!(aborted_after <= 4, "aborted after {aborted_after} slots");
    let reason = a.engine.rollouts()[0]
        .history
        .last()
        .unwrap()
        .reason
        .clone();
    assert!(reason.contains("aborted at step 1"), "{reason}");
    // The other engine follows the published state within its next round.
    b.fleet.step().unwrap();
    assert_eq!(b.state(), RolloutState::Aborted);
    let follower = b.engine.rollouts()[0]
        .history
        .last()
        .unwrap()
        .reason
        .clone();
    assert!(
        follower.starts_with("fleet (engine-a): aborted at step 1"),
        "{follower}"
    );

    // Alone, the same traffic on one engine is never enough to judge.
    let redis2 = RedisServer::start();
    let mut alone = Member::join(&redis2, "alone", 0);
    alone.fleet.step().unwrap();
    for _ in 0..8 {
        alone.slot(30, 6);
    }
    assert_eq!(alone.state(), RolloutState::Progressing { step: 0 });
    let judgement = alone.engine.rollouts()[0].last_judgement.clone().unwrap();
    assert!(judgement.starts_with("inconclusive"), "{judgement}");
}

#[test]
fn the_lease_passes_when_the_judging_engine_dies_and_operators_reach_every_engine() {
    let redis = RedisServer::start();
    let mut a = Member::join(&redis, "engine-a", 0);
    let mut b = Member::join(&redis, "engine-b", 0);
    a.fleet.step().unwrap();
    b.fleet.step().unwrap();
    assert!(a.fleet.is_leader("web"));
    let mut p = Publisher::connect(&redis.url(), "fleet").unwrap();
    assert_eq!(
        p.rollout_status("web").unwrap().1.as_deref(),
        Some("engine-a")
    );

    // engine-a dies; within the lease time engine-b takes over.
    drop(a);
    std::thread::sleep(Duration::from_millis(500));
    b.fleet.step().unwrap();
    assert!(b.fleet.is_leader("web"));
    assert_eq!(
        p.rollout_status("web").unwrap().1.as_deref(),
        Some("engine-b")
    );
    // ... and judges: a failing canary on engine-b alone, now with enough requests, aborts
    // (the first interval after the hand-over is judged on what engine-b saw since).
    let mut state = b.state();
    for _ in 0..6 {
        b.slot(80, 20);
        state = b.state();
        if state == RolloutState::Aborted {
            break;
        }
    }
    assert_eq!(state, RolloutState::Aborted);

    // An operator resumes the fleet's rollout; a new engine joining follows the same state.
    let written = p.rollout_action("web", RolloutAction::Resume).unwrap();
    assert_eq!(written.state, RolloutState::Progressing { step: 0 });
    let mut c = Member::join(&redis, "engine-c", 0);
    b.fleet.step().unwrap();
    c.fleet.step().unwrap();
    assert_eq!(b.state(), RolloutState::Progressing { step: 0 });
    let paused = p.rollout_action("web", RolloutAction::Pause).unwrap();
    assert_eq!(paused.state, RolloutState::Paused { step: 0 });
    b.fleet.step().unwrap();
    c.fleet.step().unwrap();
    assert_eq!(b.state(), RolloutState::Paused { step: 0 });
    assert_eq!(c.state(), RolloutState::Paused { step: 0 });
    // A call that does not apply is refused and writes nothing.
    let e = p.rollout_action("web", RolloutAction::Pause).unwrap_err();
    assert!(
        e.to_string()
            .contains("cannot Pause a rollout that is paused"),
        "{e}"
    );
    assert_eq!(
        p.rollout_status("web").unwrap().0.unwrap().version,
        paused.version
    );
    c.slot(1, 0);
}
