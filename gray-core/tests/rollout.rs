//! Rollouts that judge themselves, with a manual clock and injected outcomes: abort on a
//! failing canary, promotion through every step no earlier than the holds, latency aborts,
//! inconclusive evidence, the operator's controls, and reloads.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use gray_core::health::ManualClock;
use gray_core::rollout::RolloutState;
use gray_core::{Engine, Format, Outcome, RolloutAction, SimpleRequest, Spec};

const STABLE: &str = "10.0.1.1:80";
const CANARY: &str = "10.0.2.1:80";

fn spec(analysis: &str) -> Spec {
    let yaml = format!(
        r#"
version: 1
groups:
  web:
    nodes: [{{ address: "{STABLE}", weight: 100 }}, {{ address: "{CANARY}", weight: 0 }}]
    rollout:
      start: 0
      steps:
        - {{ weights: {{ "{CANARY}": 5 }}, hold: 60s }}
        - {{ weights: {{ "{CANARY}": 50 }}, hold: 60s }}
        - {{ weights: {{ "{CANARY}": 100, "{STABLE}": 0 }} }}
      analysis:
        canary: ["{CANARY}"]
{interval}{analysis}
default: web
"#,
        interval = if analysis.contains("interval:") {
            ""
        } else {
            "        interval: 30s\n"
        }
    );
    Spec::from_str(&yaml, Format::Yaml).unwrap()
}

struct Rig {
    engine: Engine,
    clock: Arc<ManualClock>,
}

impl Rig {
    fn new(analysis: &str) -> Rig {
        let clock = Arc::new(ManualClock::new(0));
        let unix = Arc::new(AtomicU64::new(1_800_000_000_000));
        let u = unix.clone();
        let engine = Engine::builder()
            .clock(clock.clone())
            .unix_time(Arc::new(move || u.load(Ordering::Relaxed)))
            .build(spec(analysis))
            .unwrap();
        engine.tick(); // starts the rollout's clock at t = 0
        Rig { engine, clock }
    }

    /// One 10-second slot of traffic: `n` requests per side, with `canary_errors` and
    /// `stable_errors` 5xx among them and the given latencies, then a tick at the slot's end.
    fn slot(&self, n: u64, canary_errors: u64, stable_errors: u64, canary_ms: u64, stable_ms: u64) {
        for i in 0..n {
            let c = if i < canary_errors { 503 } else { 200 };
            let s = if i < stable_errors { 503 } else { 200 };
            let jitter = i % 7;
            self.engine
                .record_node_timed(
                    "web",
                    CANARY,
                    Outcome::Status(c),
                    Duration::from_millis(canary_ms + jitter),
                )
                .unwrap();
            self.engine
                .record_node_timed(
                    "web",
                    STABLE,
                    Outcome::Status(s),
                    Duration::from_millis(stable_ms + jitter),
                )
                .unwrap();
        }
        self.clock.advance(10_000);
        self.engine.tick();
    }

    fn state(&self) -> RolloutState {
        self.engine.rollouts()[0].state
    }

    fn now_s(&self) -> u64 {
        use gray_core::health::Clock;
        self.clock.now_ms() / 1000
    }

    /// Where a request goes now.
    fn serves(&self) -> String {
        let req = SimpleRequest::new("192.0.2.1".parse().unwrap());
        self.engine.decide(&req).node_address().unwrap().to_string()
    }
}

#[test]
fn a_failing_canary_is_aborted_within_two_intervals() {
    let rig = Rig::new("");
    // 5 % errors on the canary, none on stable, 150 requests per side per slot.
    let mut aborted_at = None;
    for _ in 0..9 {
        rig.slot(150, 8, 0, 20, 20);
        if rig.state() == RolloutState::Aborted {
            aborted_at = Some(rig.now_s());
            break;
        }
    }
    // Two failing intervals of 30 s (failure_limit 2): aborted at 60 s.
    assert_eq!(aborted_at, Some(60), "{:?}", rig.engine.rollouts());
    let status = &rig.engine.rollouts()[0];
    let last = status.history.last().unwrap();
    assert!(last.reason.contains("aborted at step 1"), "{}", last.reason);
    assert!(last.reason.contains("error rate"), "{}", last.reason);
    // All new traffic goes to the baseline.
    for _ in 0..50 {
        assert_eq!(rig.serves(), STABLE);
    }
}

#[test]
fn equal_error_rates_are_promoted_through_every_step_no_earlier_than_the_holds() {
    let rig = Rig::new("");
    let mut steps_seen = vec![];
    for _ in 0..30 {
        rig.slot(200, 1, 1, 20, 20);
        let s = rig.state();
        if steps_seen.last() != Some(&s) {
            steps_seen.push(s);
        }
        if s == RolloutState::Promoted {
            break;
        }
    }
    assert_eq!(
        steps_seen,
        [
            RolloutState::Progressing { step: 0 },
            RolloutState::Progressing { step: 1 },
            RolloutState::Promoted
        ]
    );
    // Promoted no earlier than the two 60 s holds.
    assert!(rig.now_s() >= 120, "promoted at {} s", rig.now_s());
    assert!(rig.now_s() <= 150, "promoted late, at {} s", rig.now_s());
    // The last step's weights: everything to the canary.
    for _ in 0..20 {
        assert_eq!(rig.serves(), CANARY);
    }
}

#[test]
fn a_slower_canary_is_aborted_by_the_latency_check() {
    let rig = Rig::new("        latency: { quantile: 0.99, max_ratio: 1.25 }");
    for _ in 0..9 {
        rig.slot(150, 0, 0, 70, 20); // +50 ms
        if rig.state() == RolloutState::Aborted {
            break;
        }
    }
    assert_eq!(rig.state(), RolloutState::Aborted);
    assert!(rig.now_s() <= 60);
    let reason = rig.engine.rollouts()[0]
        .history
        .last()
        .unwrap()
        .reason
        .clone();
    assert!(
        reason.contains("latency") || reason.contains("p99"),
        "{reason}"
    );
}

#[test]
fn one_error_in_twenty_is_inconclusive_and_holds_the_step() {
    let rig = Rig::new("");
    for _ in 0..12 {
        // 20 requests per interval per side is under min_requests (50).
        if rig.now_s() % 30 == 0 {
            rig.engine
                .record_node_timed(
                    "web",
                    CANARY,
                    Outcome::Status(500),
                    Duration::from_millis(5),
                )
                .unwrap();
        }
        rig.slot(6, 0, 0, 5, 5);
    }
    let s = &rig.engine.rollouts()[0];
    assert_eq!(s.state, RolloutState::Progressing { step: 0 });
    assert_eq!(s.failures, 0);
    assert!(
        s.last_judgement
            .as_deref()
            .unwrap()
            .starts_with("inconclusive"),
        "{s:?}"
    );
}

#[test]
fn inconclusive_steps_pause_after_the_configured_time() {
    let rig = Rig::new("        inconclusive: { pause_after: 60s }");
    for _ in 0..9 {
        rig.slot(3, 0, 0, 5, 5);
    }
    let s = &rig.engine.rollouts()[0];
    assert_eq!(s.state, RolloutState::Paused { step: 0 }, "{s:?}");
    assert!(s.history.last().unwrap().reason.contains("inconclusive"));
}

#[test]
fn the_operator_pauses_resumes_promotes_and_aborts() {
    let rig = Rig::new("");
    let paused = rig
        .engine
        .rollout_action("web", RolloutAction::Pause)
        .unwrap();
    assert_eq!(paused.state, RolloutState::Paused { step: 0 });
    // Paused: even failing traffic changes nothing.
    for _ in 0..6 {
        rig.slot(150, 30, 0, 20, 20);
    }
    assert_eq!(rig.state(), RolloutState::Paused { step: 0 });
    assert!(rig
        .engine
        .rollout_action("web", RolloutAction::Pause)
        .is_err());
    let resumed = rig
        .engine
        .rollout_action("web", RolloutAction::Resume)
        .unwrap();
    assert_eq!(resumed.state, RolloutState::Progressing { step: 0 });
    let promoted = rig
        .engine
        .rollout_action("web", RolloutAction::Promote)
        .unwrap();
    assert_eq!(promoted.state, RolloutState::Promoted);
    assert_eq!(rig.serves(), CANARY);
    let aborted = rig
        .engine
        .rollout_action("web", RolloutAction::Abort)
        .unwrap();
    assert_eq!(aborted.state, RolloutState::Aborted);
    assert_eq!(rig.serves(), STABLE);
    let history: Vec<_> = aborted.history.iter().map(|t| t.reason.as_str()).collect();
    assert_eq!(
        history,
        [
            "operator: Pause",
            "operator: Resume",
            "operator: Promote",
            "operator: Abort"
        ]
    );
    let err = rig
        .engine
        .rollout_action("nope", RolloutAction::Abort)
        .unwrap_err();
    assert_eq!(err.kind(), gray_core::ErrorKind::UnknownGroup);
}

#[test]
fn a_reload_keeps_the_rollout_unless_the_rollout_changed() {
    let rig = Rig::new("");
    for _ in 0..7 {
        rig.slot(200, 1, 1, 20, 20);
    }
    assert_eq!(rig.state(), RolloutState::Progressing { step: 1 });
    // An unrelated change (a rule) keeps the state.
    let mut s = spec("");
    s.rules.push(
        gray_core::spec::yaml_from_str(
            "{ id: x, when: { header: { name: x, equals: '1' } }, route: web }",
        )
        .unwrap(),
    );
    rig.engine.reload(s).unwrap();
    assert_eq!(rig.state(), RolloutState::Progressing { step: 1 });
    // A changed rollout starts afresh.
    rig.engine.reload(spec("        failure_limit: 3")).unwrap();
    assert_eq!(rig.state(), RolloutState::Progressing { step: 0 });
}

#[test]
fn bad_analysis_sections_are_typed_errors() {
    for (analysis, path) in [
        (
            "        interval: 15s",
            "groups.web.rollout.analysis.interval",
        ),
        (
            "        interval: 5m",
            "groups.web.rollout.analysis.interval",
        ),
        (
            "        failure_limit: 0",
            "groups.web.rollout.analysis.failure_limit",
        ),
        (
            "        baseline: nowhere",
            "groups.web.rollout.analysis.baseline",
        ),
        (
            "        error_rate: { confidence: 1.5 }",
            "groups.web.rollout.analysis.error_rate",
        ),
        (
            "        latency: { max_ratio: 0.5 }",
            "groups.web.rollout.analysis.latency",
        ),
    ] {
        let err = Engine::new(spec(analysis)).unwrap_err();
        assert!(err.location().path.starts_with(path), "{analysis}: {err}");
    }
    let no_canary = spec("")
        .to_yaml()
        .replace(&format!("- {CANARY}"), "- 10.9.9.9:80");
    let err = Engine::from_str(&no_canary, Format::Yaml).unwrap_err();
    assert!(
        err.to_string().contains("not a node of this group"),
        "{err}"
    );
}

#[test]
fn a_rule_percent_is_ramped_by_the_steps_and_dropped_on_abort() {
    let yaml = format!(
        r#"
version: 1
groups:
  stable: {{ nodes: [{{ address: "{STABLE}" }}] }}
  canary:
    nodes: [{{ address: "{CANARY}" }}]
    fallback: stable
    rollout:
      start: 0
      steps:
        - {{ percent: {{ canary-users: 5 }}, hold: 60s }}
        - {{ percent: {{ canary-users: 25 }}, hold: 60s }}
        - {{ percent: {{ canary-users: 100 }} }}
      analysis: {{ canary: ["{CANARY}"], baseline: stable, interval: 30s }}
rules:
  - id: canary-users
    when: {{ percent: {{ key: {{ cookie: uid }}, value: 50 }} }}
    route: canary
default: stable
"#
    );
    let clock = Arc::new(ManualClock::new(0));
    let engine = Engine::builder()
        .clock(clock.clone())
        .build(Spec::from_str(&yaml, Format::Yaml).unwrap())
        .unwrap();
    engine.tick();
    let share = |engine: &Engine| {
        let n = 4000;
        let hits = (0..n)
            .filter(|i| {
                let req = SimpleRequest::new("192.0.2.1".parse().unwrap())
                    .with_cookie("uid", &format!("user-{i}"));
                engine.decide(&req).group() == "canary"
            })
            .count();
        hits as f64 / n as f64
    };
    // Step 0: 5 % of the users, not the rule's own 50 %.
    let s0 = share(&engine);
    assert!((0.035..0.065).contains(&s0), "{s0}");
    // Healthy traffic on both sides moves the ramp to 25 %.
    for _ in 0..6 {
        for _ in 0..100 {
            engine
                .record_node_timed(
                    "canary",
                    CANARY,
                    Outcome::Status(200),
                    Duration::from_millis(5),
                )
                .unwrap();
            engine
                .record_node_timed(
                    "stable",
                    STABLE,
                    Outcome::Status(200),
                    Duration::from_millis(5),
                )
                .unwrap();
        }
        clock.advance(10_000);
        engine.tick();
    }
    assert_eq!(
        engine.rollouts()[0].state,
        RolloutState::Progressing { step: 1 }
    );
    let s1 = share(&engine);
    assert!((0.22..0.28).contains(&s1), "{s1}");
    // The operator aborts: nobody is in the canary population any more.
    engine
        .rollout_action("canary", RolloutAction::Abort)
        .unwrap();
    assert_eq!(share(&engine), 0.0);
    engine
        .rollout_action("canary", RolloutAction::Promote)
        .unwrap();
    assert_eq!(share(&engine), 1.0);
}

#[test]
fn percent_ramps_name_rules_with_percent_conditions() {
    let yaml = |rule: &str, analysis: bool| {
        format!(
            r#"
version: 1
groups:
  stable: {{ nodes: [{{ address: "{STABLE}" }}] }}
  canary:
    nodes: [{{ address: "{CANARY}" }}]
    rollout:
      start: 0
      steps:
        - {{ percent: {{ {rule}: 5 }}, hold: 60s }}
        - {{ percent: {{ {rule}: 100 }} }}
{analysis}
rules:
  - {{ id: r, when: {{ percent: {{ key: {{ cookie: uid }}, value: 50 }} }}, route: canary }}
default: stable
"#,
            analysis = if analysis {
                format!(
                    "      analysis: {{ canary: [\"{CANARY}\"], baseline: stable, interval: 30s }}"
                )
            } else {
                String::new()
            }
        )
    };
    let err = Engine::from_str(&yaml("nope", true), Format::Yaml).unwrap_err();
    assert_eq!(
        err.location().path,
        "groups.canary.rollout.steps[0].percent.nope",
        "{err}"
    );
    let err = Engine::from_str(&yaml("r", false), Format::Yaml).unwrap_err();
    assert_eq!(
        err.location().path,
        "groups.canary.rollout.steps[0].percent",
        "{err}"
    );
    assert!(Engine::from_str(&yaml("r", true), Format::Yaml).is_ok());
}

#[test]
fn webhooks_must_be_http_or_https_urls() {
    for bad in ["https://", "ftp://x", "http://", "http://a b/"] {
        let err = Engine::new(spec(&format!("        webhook: \"{bad}\""))).unwrap_err();
        assert_eq!(
            err.location().path,
            "groups.web.rollout.analysis.webhook",
            "{bad}: {err}"
        );
    }
    assert!(Engine::new(spec("        webhook: \"http://10.0.0.9:8080/hook\"")).is_ok());
    assert!(Engine::new(spec("        webhook: \"https://hooks.example/gray\"")).is_ok());
}

#[test]
fn the_status_says_when_the_next_judgement_and_the_next_step_come() {
    let rig = Rig::new("");
    let s = &rig.engine.rollouts()[0];
    assert_eq!(s.canary, [CANARY]);
    assert_eq!(s.baseline, None, "the group's other nodes");
    // The clock started at t = 0: the first 30 s interval is judged at 30 s; step 1 holds
    // 60 s, so the earliest step change is the judgement at 60 s.
    assert_eq!(
        (s.next_judgement_in_ms, s.next_step_in_ms),
        (Some(30_000), Some(60_000))
    );
    rig.slot(200, 1, 1, 20, 20);
    let s = &rig.engine.rollouts()[0];
    assert_eq!(
        (s.next_judgement_in_ms, s.next_step_in_ms),
        (Some(20_000), Some(50_000))
    );
    // The prediction holds: with passing traffic the step changes exactly then.
    let predicted = rig.now_s() * 1000 + s.next_step_in_ms.unwrap();
    while rig.state() == (RolloutState::Progressing { step: 0 }) {
        rig.slot(200, 1, 1, 20, 20);
    }
    assert_eq!(rig.now_s() * 1000, predicted);
    // Paused: no clock runs.
    rig.engine
        .rollout_action("web", gray_core::RolloutAction::Pause)
        .unwrap();
    let s = &rig.engine.rollouts()[0];
    assert_eq!((s.next_judgement_in_ms, s.next_step_in_ms), (None, None));
}
