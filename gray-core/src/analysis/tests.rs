use super::*;
use proptest::prelude::*;

fn counts(requests: u64, errors: u64) -> Counts {
    Counts { requests, errors }
}

fn is_fail(v: &Verdict) -> bool {
    matches!(v, Verdict::Fail { .. })
}

#[test]
fn reference_values() {
    // Fisher one-sided for [[3, 1], [1, 3]]: (C(4,3)·C(4,1) + C(4,4)) / C(8,4) = 17/70.
    let p = fisher_greater(counts(4, 3), counts(4, 1));
    assert!((p - 17.0 / 70.0).abs() < 1e-9, "{p}");
    assert!((normal_sf(1.96) - 0.024_997_895).abs() < 1e-7);
    assert!((normal_quantile(0.975) - 1.959_963_985).abs() < 1e-6);
    // The largest U (every canary sample above every baseline one) gives the smallest p.
    let high = mann_whitney_greater(&[3.0, 4.0, 5.0, 6.0, 7.0], &[1.0, 2.0, 2.5, 2.7, 2.9]);
    let low = mann_whitney_greater(&[1.0, 2.0, 2.5, 2.7, 2.9], &[3.0, 4.0, 5.0, 6.0, 7.0]);
    assert!(high < 0.01 && low > 0.99, "{high} {low}");
    // Identical samples: no evidence either way.
    let same = mann_whitney_greater(&[1.0, 1.0, 2.0, 2.0], &[1.0, 1.0, 2.0, 2.0]);
    assert!(same > 0.5, "{same}");
    assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0], 0.5), Some(2.5));
    assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0], 1.0), Some(4.0));
    assert_eq!(quantile(&[], 0.5), None);
    let w = wilson_lower(counts(100, 10), 0.975);
    assert!((w - 0.0552).abs() < 1e-3, "{w}");
}

#[test]
fn error_rates_behave_as_documented() {
    let check = ErrorRateCheck::default();
    assert!(is_fail(&compare_error_rates(
        counts(400, 20),
        counts(400, 0),
        &check
    )));
    let equal = compare_error_rates(counts(500, 2), counts(500, 2), &check);
    assert!(matches!(equal, Verdict::Pass { .. }), "{equal}");
    let few = compare_error_rates(counts(20, 1), counts(20, 0), &check);
    assert!(matches!(few, Verdict::Inconclusive { .. }), "{few}");
    assert!(!is_fail(&compare_error_rates(
        counts(60, 1),
        counts(60, 0),
        &check
    )));
    // A large sample with a difference inside the tolerance passes: 0.5 % vs 0.3 %.
    let small = compare_error_rates(counts(1_000_000, 5_000), counts(1_000_000, 3_000), &check);
    assert!(matches!(small, Verdict::Pass { .. }), "{small}");
    // Past the tolerance it fails: 2.5 % vs 0.3 %.
    let big = compare_error_rates(counts(1_000_000, 25_000), counts(1_000_000, 3_000), &check);
    assert!(is_fail(&big), "{big}");
    assert!(
        big.to_string().starts_with("fail: canary error rate 2.5%"),
        "{big}"
    );
    // The absolute ceiling.
    let ceiling = ErrorRateCheck {
        max_rate: Some(0.05),
        ..ErrorRateCheck::default()
    };
    let v = compare_error_rates(counts(1000, 100), counts(1000, 90), &ceiling);
    assert!(is_fail(&v) && v.reason().contains("ceiling"), "{v}");
}

#[test]
fn latency_behaves_as_documented() {
    let check = LatencyCheck::default();
    let base: Vec<f64> = (0..200).map(|i| 20.0 + (i % 17) as f64).collect();
    let slow: Vec<f64> = base.iter().map(|v| v + 50.0).collect();
    assert!(is_fail(&compare_latency(&slow, &base, &check)));
    let other: Vec<f64> = (0..200).map(|i| 20.0 + ((i * 7) % 17) as f64).collect();
    assert!(matches!(
        compare_latency(&other, &base, &check),
        Verdict::Pass { .. }
    ));
    // 1 % slower on a huge sample: significant, but inside the effect tolerance.
    let big: Vec<f64> = (0..50_000).map(|i| 20.0 + (i % 97) as f64 / 10.0).collect();
    let tiny: Vec<f64> = big.iter().map(|v| v * 1.01).collect();
    let v = compare_latency(&tiny, &big, &check);
    assert!(matches!(v, Verdict::Pass { .. }), "{v}");
    assert!(matches!(
        compare_latency(&slow[..10], &base, &check),
        Verdict::Inconclusive { .. }
    ));
    let mut nan = slow.clone();
    nan[3] = f64::NAN;
    assert!(compare_latency(&nan, &base, &check)
        .reason()
        .contains("NaN"));
}

#[test]
fn settings_are_validated_with_paths() {
    let bad = ErrorRateCheck {
        confidence: 1.0,
        ..ErrorRateCheck::default()
    };
    assert_eq!(bad.validate().unwrap_err().location().path, "confidence");
    let bad = LatencyCheck {
        max_ratio: 0.9,
        ..LatencyCheck::default()
    };
    assert_eq!(bad.validate().unwrap_err().location().path, "max_ratio");
    assert!(ErrorRateCheck::default().validate().is_ok());
    assert!(LatencyCheck::default().validate().is_ok());
}

proptest! {
    #[test]
    fn error_rate_verdicts_never_panic_and_never_fail_both_ways(
        n1 in 0u64..5_000, e1 in 0u64..5_000, n2 in 0u64..5_000, e2 in 0u64..5_000,
        huge in any::<bool>(),
    ) {
        let scale = if huge { u64::MAX / 8 } else { 1 };
        let (a, b) = (counts(n1.saturating_mul(scale), e1), counts(n2.saturating_mul(scale), e2));
        let check = ErrorRateCheck::default();
        let ab = compare_error_rates(a, b, &check);
        let ba = compare_error_rates(b, a, &check);
        prop_assert!(!(is_fail(&ab) && is_fail(&ba)), "{ab} / {ba}");
    }

    #[test]
    fn latency_verdicts_never_panic_and_never_fail_both_ways(
        a in proptest::collection::vec(prop_oneof![Just(f64::NAN), Just(f64::INFINITY), 0.0f64..1e6], 0..120),
        b in proptest::collection::vec(0.0f64..1e6, 0..120),
    ) {
        let check = LatencyCheck::default();
        let ab = compare_latency(&a, &b, &check);
        let ba = compare_latency(&b, &a, &check);
        prop_assert!(!(is_fail(&ab) && is_fail(&ba)), "{ab} / {ba}");
    }
}
