use super::hash::{point_count, ring_point};
use super::*;
use std::sync::Arc;
use std::thread;

/// Tiny deterministic PRNG for the statistical tests.
struct SplitMix64(u64);
impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

fn all(weights: &[u32]) -> Vec<(u32, bool)> {
    weights.iter().map(|&w| (w, true)).collect()
}

fn letters(seq: &[Option<usize>]) -> String {
    seq.iter()
        .map(|p| p.map_or('-', |i| (b'a' + i as u8) as char))
        .collect()
}

// --- Reference model of nginx's ngx_http_upstream_get_peer --------------

struct RefPeer {
    weight: i64,
    effective: i64,
    current: i64,
}

struct RefRr(Vec<RefPeer>);

impl RefRr {
    fn new(weights: &[u32]) -> Self {
        RefRr(
            weights
                .iter()
                .map(|&w| RefPeer {
                    weight: i64::from(w),
                    effective: i64::from(w),
                    current: 0,
                })
                .collect(),
        )
    }

    fn get(&mut self, avail: &[bool]) -> Option<usize> {
        let mut best: Option<usize> = None;
        let mut total = 0;
        for (i, &up) in avail.iter().enumerate() {
            if !up || self.0[i].weight == 0 {
                continue;
            }
            let p = &mut self.0[i];
            p.current += p.effective;
            total += p.effective;
            if p.effective < p.weight {
                p.effective += 1;
            }
            let better = match best {
                None => true,
                Some(b) => self.0[i].current > self.0[b].current,
            };
            if better {
                best = Some(i);
            }
        }
        let b = best?;
        self.0[b].current -= total;
        Some(b)
    }

    fn fail(&mut self, i: usize, max_fails: u32) {
        let p = &mut self.0[i];
        if max_fails > 0 {
            p.effective -= p.weight / i64::from(max_fails);
            if p.effective < 0 {
                p.effective = 0;
            }
        }
    }
}

fn rr_seq(weights: &[u32], n: usize) -> String {
    let s = SmoothWeightedRoundRobin::new(weights);
    let nodes = all(weights);
    let seq: Vec<_> = (0..n).map(|_| s.pick(&nodes, None, 0)).collect();
    letters(&seq)
}

#[test]
fn swrr_hand_derived_sequences() {
    assert_eq!(rr_seq(&[5, 1, 1], 14), "aabacaaaabacaa");
    assert_eq!(rr_seq(&[1, 1], 4), "abab");
    assert_eq!(rr_seq(&[2, 1], 6), "abaaba");
    assert_eq!(rr_seq(&[3, 0, 1], 8), "aacaaaca");
    assert_eq!(rr_seq(&[1, 2, 3, 4], 10), "dcbdacdbcd");
    let expected: String = "a".repeat(50) + "b" + &"a".repeat(50);
    assert_eq!(rr_seq(&[100, 1], 101), expected);
    assert_eq!(rr_seq(&[7], 3), "aaa");
    assert_eq!(rr_seq(&[0, 0], 3), "---");
    assert_eq!(rr_seq(&[], 2), "--");
}

#[test]
fn swrr_matches_reference_model() {
    let table: &[&[u32]] = &[
        &[5, 1, 1],
        &[1, 1],
        &[2, 1],
        &[3, 0, 1],
        &[1, 2, 3, 4],
        &[100, 1],
        &[1],
        &[0, 0, 0],
        &[10_000, 1, 9_999, 0, 5_000],
        &[3, 3, 3, 7, 1, 2, 2, 9],
    ];
    for &weights in table {
        let sum: u32 = weights.iter().sum();
        let n = (3 * sum as usize).clamp(10, 1_000);
        let s = SmoothWeightedRoundRobin::new(weights);
        let mut r = RefRr::new(weights);
        let nodes = all(weights);
        let avail = vec![true; weights.len()];
        for step in 0..n {
            assert_eq!(
                s.pick(&nodes, None, 0),
                r.get(&avail),
                "weights {weights:?}, step {step}"
            );
        }
    }
}

#[test]
fn swrr_unavailable_mid_sequence_matches_reference() {
    let table: &[&[u32]] = &[&[5, 1, 1], &[1, 2, 3, 4], &[2, 1], &[100, 1]];
    for &weights in table {
        for victim in 0..weights.len() {
            for k in 0..12 {
                let s = SmoothWeightedRoundRobin::new(weights);
                let mut r = RefRr::new(weights);
                let mut nodes = all(weights);
                let mut avail = vec![true; weights.len()];
                for step in 0..60 {
                    if step == k {
                        nodes[victim].1 = false;
                        avail[victim] = false;
                    }
                    if step == k + 7 {
                        nodes[victim].1 = true;
                        avail[victim] = true;
                    }
                    let got = s.pick(&nodes, None, 0);
                    assert_eq!(
                        got,
                        r.get(&avail),
                        "{weights:?} victim {victim} k {k} step {step}"
                    );
                    if (k..k + 7).contains(&step) {
                        assert_ne!(got, Some(victim));
                    }
                }
            }
        }
    }
}

#[test]
fn swrr_effective_weight_matches_reference() {
    let weights = [6, 3, 1];
    let s = SmoothWeightedRoundRobin::new(&weights);
    let mut r = RefRr::new(&weights);
    let nodes = all(&weights);
    let avail = [true; 3];
    let mut counts = [0usize; 3];
    for step in 0..200 {
        if step % 25 == 3 {
            s.on_failure(0, 2);
            r.fail(0, 2);
        }
        if step == 50 {
            // max_fails = 1 drops to 0; max_fails = 0 does nothing.
            s.on_failure(1, 1);
            r.fail(1, 1);
            s.on_failure(2, 0);
            r.fail(2, 0);
        }
        let got = s.pick(&nodes, None, 0);
        assert_eq!(got, r.get(&avail), "step {step}");
        counts[got.unwrap()] += 1;
    }
    // Node 0 lost share while failing.
    assert!(counts[0] < 120, "{counts:?}");
    // Out of range: ignored.
    s.on_failure(99, 1);
    // Through the trait object / enum as well.
    let sel = build(Algorithm::RoundRobin, &[4, 4], &[]);
    sel.on_failure(0, 1);
    assert_eq!(sel.pick(&all(&[4, 4]), None, 0), Some(1));
}

#[test]
fn swrr_concurrent_picks_keep_exact_proportions() {
    let s = Arc::new(SmoothWeightedRoundRobin::new(&[5, 1, 1]));
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let s = Arc::clone(&s);
            thread::spawn(move || {
                let nodes = all(&[5, 1, 1]);
                let mut counts = [0usize; 3];
                for _ in 0..7_000 {
                    counts[s.pick(&nodes, None, 0).unwrap()] += 1;
                }
                counts
            })
        })
        .collect();
    let mut total = [0usize; 3];
    for h in handles {
        for (t, c) in total.iter_mut().zip(h.join().unwrap()) {
            *t += c;
        }
    }
    assert_eq!(total, [40_000, 8_000, 8_000]);
}

#[test]
fn swrr_caller_weight_zero_vetoes_and_len_mismatch_is_safe() {
    let s = SmoothWeightedRoundRobin::new(&[1, 1, 1]);
    let nodes: &[(u32, bool)] = &[(1, true), (0, true)];
    for _ in 0..5 {
        assert_eq!(s.pick(&nodes, None, 0), Some(0));
    }
    let s = SmoothWeightedRoundRobin::new(&[1]);
    assert_eq!(s.pick(&all(&[1, 1, 1]), None, 0), Some(0));
}

// --- Weighted random -----------------------------------------------------

fn shares(sel: &dyn Select, nodes: &dyn Candidates, n: usize, picks: usize) -> Vec<f64> {
    let mut rng = SplitMix64(0x5eed);
    let mut counts = vec![0usize; n];
    for _ in 0..picks {
        counts[sel.pick(nodes, None, rng.next()).unwrap()] += 1;
    }
    counts.iter().map(|&c| c as f64 / picks as f64).collect()
}

fn assert_shares(got: &[f64], want: &[f64], tol: f64) {
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol,
            "node {i}: got {g:.4}, want {w:.4} ({got:?})"
        );
    }
}

#[test]
fn random_matches_weights() {
    let weights = [1, 2, 3, 4];
    let s = WeightedRandom::new(&weights);
    let got = shares(&s, &all(&weights), 4, 100_000);
    assert_shares(&got, &[0.1, 0.2, 0.3, 0.4], 0.01);
}

#[test]
fn random_with_unavailable_node_matches_remaining_weights() {
    let weights = [1, 2, 3, 4];
    let mut nodes = all(&weights);
    nodes[3].1 = false;
    let s = WeightedRandom::new(&weights);
    let got = shares(&s, &nodes, 4, 100_000);
    assert_shares(&got, &[1.0 / 6.0, 2.0 / 6.0, 3.0 / 6.0, 0.0], 0.01);
    assert_eq!(got[3], 0.0);

    nodes[3].1 = true;
    nodes[1].1 = false;
    let got = shares(&s, &nodes, 4, 100_000);
    assert_shares(&got, &[0.125, 0.0, 0.375, 0.5], 0.01);
}

#[test]
fn random_edges() {
    let s = WeightedRandom::new(&[0, 3, 0, 1, 0]);
    let nodes = all(&[0, 3, 0, 1, 0]);
    assert_eq!(s.pick(&nodes, None, 0), Some(1));
    assert_eq!(s.pick(&nodes, None, u64::MAX), Some(3));
    // total 4: [0, 3/4) of the u64 range -> node 1, [3/4, 1) -> node 3.
    assert_eq!(s.pick(&nodes, None, (3 << 62) - 1), Some(1));
    assert_eq!(s.pick(&nodes, None, 3 << 62), Some(3));
    let none: &[(u32, bool)] = &[(0, false), (3, false), (0, false), (1, false), (0, false)];
    assert_eq!(s.pick(&none, None, 7), None);
    assert_eq!(WeightedRandom::new(&[]).pick(&all(&[]), None, 1), None);
    assert_eq!(
        WeightedRandom::new(&[0, 0]).pick(&all(&[0, 0]), None, 1),
        None
    );
    // Candidates shorter than the group: never out of range.
    let short: &[(u32, bool)] = &[(1, true)];
    let s = WeightedRandom::new(&[1, 1_000]);
    let mut rng = SplitMix64(3);
    for _ in 0..1_000 {
        assert_eq!(s.pick(&short, None, rng.next()), Some(0));
    }
}

// --- Consistent hash -------------------------------------------------------

fn ids(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("10.0.0.{}:80", i + 1)).collect()
}

fn ring(weights: &[u32], ids: &[String]) -> ConsistentHash {
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    ConsistentHash::new(weights, &refs)
}

/// Owner identity of each of `n` keys.
fn owners<'a>(
    r: &ConsistentHash,
    nodes: &dyn Candidates,
    ids: &'a [String],
    n: u64,
) -> Vec<&'a str> {
    (0..n)
        .map(|k| ids[r.pick(nodes, Some(k), 0).unwrap()].as_str())
        .collect()
}

#[test]
fn hash64_vectors() {
    assert_eq!(hash64(b""), 0xefd0_1f60_ba99_2926);
    assert_eq!(hash64(b"a"), 0x82a2_a958_a9be_ce5b);
    assert_eq!(hash64(b"10.0.0.1:80"), 0x5ed8_f827_5e47_a14a);
    assert_eq!(ring_point("10.0.0.1:80", 0), 0xd988_28fa_0576_6dd3);
    assert_eq!(ring_point("10.0.0.1:80", 159), 0xac1e_fd93_2e3b_68a9);
    for j in [0, 1, 9, 10, 99, 160, 4_294_967_295] {
        let s = format!("node-x#{j}");
        assert_eq!(ring_point("node-x", j), hash64(s.as_bytes()));
    }
}

#[test]
fn hash_same_key_same_node() {
    let ids = ids(10);
    let a = ring(&[1; 10], &ids);
    let b = ring(&[1; 10], &ids);
    let nodes = all(&[1; 10]);
    assert_eq!(a.ring_len(), 1_600);
    for k in 0..10_000u64 {
        let first = a.pick(&nodes, Some(k), k);
        assert_eq!(a.pick(&nodes, Some(k), !k), first);
        assert_eq!(b.pick(&nodes, Some(k), 0), first);
    }
}

#[test]
fn hash_adding_a_node_moves_about_one_in_eleven_keys_to_it() {
    let ids11 = ids(11);
    let before = ring(&[100; 10], &ids11[..10]);
    let after = ring(&[100; 11], &ids11);
    let keys = 100_000;
    let a = owners(&before, &all(&[100; 10]), &ids11, keys);
    let b = owners(&after, &all(&[100; 11]), &ids11, keys);
    let mut moved = 0;
    for (x, y) in a.iter().zip(&b) {
        if x != y {
            moved += 1;
            assert_eq!(*y, ids11[10], "a key moved to an old node");
        }
    }
    let frac = moved as f64 / keys as f64;
    assert!((0.05..=0.15).contains(&frac), "moved {frac}");

    // Position in the list does not matter: insert the new node first.
    let mut shuffled = ids11.clone();
    shuffled.rotate_right(1);
    let front = ring(&[100; 11], &shuffled);
    let c = owners(&front, &all(&[100; 11]), &shuffled, keys);
    assert_eq!(b, c);
}

#[test]
fn hash_removing_a_node_moves_only_its_keys() {
    let ids10 = ids(10);
    let before = ring(&[5; 10], &ids10);
    let mut rest = ids10.clone();
    let removed = rest.remove(3);
    let after = ring(&[5; 9], &rest);
    let a = owners(&before, &all(&[5; 10]), &ids10, 100_000);
    let b = owners(&after, &all(&[5; 9]), &rest, 100_000);
    let mut moved = 0;
    for (x, y) in a.iter().zip(&b) {
        if *x == removed {
            assert_ne!(*y, removed);
            moved += 1;
        } else {
            assert_eq!(x, y, "a key not on the removed node moved");
        }
    }
    assert!(moved > 5_000, "{moved}");
}

#[test]
fn hash_unavailable_node_only_moves_its_keys_and_they_come_back() {
    let ids10 = ids(10);
    let r = ring(&[1; 10], &ids10);
    let mut nodes = all(&[1; 10]);
    let original = owners(&r, &nodes, &ids10, 50_000);
    nodes[4].1 = false;
    let degraded = owners(&r, &nodes, &ids10, 50_000);
    for (x, y) in original.iter().zip(&degraded) {
        if *x == ids10[4] {
            assert_ne!(*y, ids10[4]);
        } else {
            assert_eq!(x, y);
        }
    }
    nodes[4].1 = true;
    assert_eq!(owners(&r, &nodes, &ids10, 50_000), original);
}

#[test]
fn hash_weights_are_respected() {
    let weights = [1, 1, 2];
    let r = ring(&weights, &ids(3));
    assert_eq!(r.ring_len(), 80 + 80 + 160);
    let mut counts = [0usize; 3];
    for k in 0..100_000u64 {
        counts[r.pick(&all(&weights), Some(k), 0).unwrap()] += 1;
    }
    let got: Vec<f64> = counts.iter().map(|&c| c as f64 / 100_000.0).collect();
    assert_shares(&got, &[0.25, 0.25, 0.5], 0.06);

    // Missing key: random position, still proportional.
    let got = shares(&r, &all(&weights), 3, 100_000);
    assert_shares(&got, &[0.25, 0.25, 0.5], 0.06);
}

#[test]
fn hash_ring_size_is_bounded() {
    let n = 10_000;
    let ids = ids(n);
    let mut weights = vec![10_000u32; n];
    weights[0] = 1;
    let r = ring(&weights, &ids);
    assert!(r.ring_len() <= MAX_RING_POINTS, "{}", r.ring_len());
    assert!(r.ring_len() >= n);
    // The weight-1 node still has a point and can be reached.
    let mut nodes = all(&weights);
    for node in nodes.iter_mut().skip(1) {
        node.1 = false;
    }
    assert_eq!(r.pick(&nodes, Some(123), 0), Some(0));
    assert_eq!(point_count(1, 10_000, 160), 1);
    assert_eq!(point_count(5_000, 10_000, 160), 80);
    assert_eq!(point_count(0, 10_000, 160), 0);
}

#[test]
fn hash_edges() {
    let ids3 = ids(3);
    let r = ring(&[1, 1, 1], &ids3);
    let none: &[(u32, bool)] = &[(1, false), (1, false), (1, false)];
    assert_eq!(r.pick(&none, Some(1), 0), None);
    assert_eq!(r.pick(&none, None, 0), None);
    let empty = ConsistentHash::new(&[], &[]);
    assert_eq!(empty.pick(&all(&[]), Some(1), 0), None);
    let zero = ConsistentHash::new(&[0, 0], &["a", "b"]);
    assert_eq!(zero.ring_len(), 0);
    assert_eq!(zero.pick(&all(&[0, 0]), Some(1), 0), None);
    // Extreme keys wrap around the ring.
    let nodes = all(&[1, 1, 1]);
    for k in [0, u64::MAX] {
        assert!(r.pick(&nodes, Some(k), 0).is_some());
        assert!(r.pick(&nodes, None, k).is_some());
    }
    // Duplicate identities: tolerated, earlier node wins.
    let dup = ConsistentHash::new(&[1, 1], &["x", "x"]);
    assert_eq!(dup.pick(&all(&[1, 1]), Some(9), 0), Some(0));
    assert_eq!(dup.pick(&[(1, false), (1, true)], Some(9), 0), Some(1));
    assert!(format!("{r:?}").contains("ring_points: 480"));
}

#[test]
#[should_panic(expected = "one identity per weight")]
fn hash_requires_one_id_per_node() {
    let _ = build(Algorithm::Hash, &[1, 1], &["a"]);
}

// --- All algorithms --------------------------------------------------------

const ALGS: [Algorithm; 3] = [Algorithm::RoundRobin, Algorithm::Random, Algorithm::Hash];

#[test]
fn weight_zero_never_chosen_by_any_algorithm() {
    let weights = [0, 3, 0, 1, 0];
    let ids = ids(5);
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let mut rng = SplitMix64(11);
    for alg in ALGS {
        let s = build(alg, &weights, &refs);
        assert_eq!(s.algorithm(), alg);
        assert_eq!(s.weights(), &weights);
        // Even if the caller claims a weight for them.
        let nodes = all(&[5; 5]);
        for _ in 0..10_000 {
            let r = rng.next();
            let got = s.pick(&nodes, Some(r >> 7), r).unwrap();
            assert!(got == 1 || got == 3, "{alg:?} picked {got}");
        }
    }
}

#[test]
fn all_unavailable_gives_none_for_every_algorithm() {
    let weights = [1, 2, 3];
    let ids = ids(3);
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    for alg in ALGS {
        let s = build(alg, &weights, &refs);
        let down = [(1, false), (2, false), (3, false)];
        let zeroed = [(0, true), (0, true), (0, true)];
        for r in [0, 1, u64::MAX] {
            assert_eq!(s.pick(&down, Some(r), r), None, "{alg:?}");
            assert_eq!(s.pick(&zeroed, Some(r), r), None, "{alg:?}");
            assert_eq!(s.pick(&AllAvailable(&[]), Some(r), r), None, "{alg:?}");
        }
        let avail = AllAvailable(&weights);
        assert!(s.pick(&avail, Some(5), 5).is_some());
        let dynamic: &dyn Select = &s;
        assert!(dynamic.pick(&avail, None, 5).is_some());
    }
}

#[test]
fn candidates_impls() {
    let v = vec![(2, true), (0, false)];
    let a = [(2, true), (0, false)];
    let s: &[(u32, bool)] = &v;
    let cands: [&dyn Candidates; 4] = [&v, &a, &s, &AllAvailable(&[2, 0])];
    for c in cands {
        assert_eq!(c.len(), 2);
        assert!(!c.is_empty());
        assert_eq!(c.weight(0), 2);
        assert_eq!(c.weight(5), 0);
        assert!(c.available(0));
    }
    assert!(!v.available(1) && !v.available(9));
    assert!(AllAvailable(&[]).is_empty());
    assert_eq!(Algorithm::default(), Algorithm::RoundRobin);
}

#[test]
fn selectors_are_send_sync() {
    fn check<T: Send + Sync>() {}
    check::<Selector>();
    check::<SmoothWeightedRoundRobin>();
    check::<WeightedRandom>();
    check::<ConsistentHash>();
}
