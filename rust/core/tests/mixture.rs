//! Mixtures and weighted draws: exact block counts, components read without replacement across
//! mixture epochs, random access equal to sequential reading, shards independent of the world
//! size for the weighted draws, bad configurations refused.

use std::collections::HashMap;
use std::sync::Arc;

use episampler_core::index::EpisodeSpec;
use episampler_core::mixture::largest_remainder;
use episampler_core::{
    EpisodeIndex, EpochValues, Mixture, Per, Permutation, Remap, Sampler, Shard, WeightedDraws,
};
use proptest::prelude::*;

mod cases;

fn component(lengths: &[i64], shuffle: bool, permutation: Permutation, seed: u64) -> Sampler {
    let mut from = Vec::new();
    let mut to = Vec::new();
    let mut cursor = 0;
    for &length in lengths {
        from.push(cursor);
        cursor += length;
        to.push(cursor);
    }
    let spec = EpisodeSpec {
        from: &from,
        to: &to,
        ..Default::default()
    };
    let index = EpisodeIndex::new(&spec).unwrap();
    Sampler::new(index, Remap::Identity, shuffle, permutation, seed)
}

/// The mixture's values of `epoch` at every position, read in order by one cursor.
fn epoch_values(mixture: &Arc<Mixture>, epoch: u64) -> Vec<i64> {
    let len = mixture.samples_per_epoch();
    let shard = Shard::new(len, 0, 0, 1, false).unwrap();
    let mut out = vec![0; len as usize];
    mixture.epoch(epoch).fill(&shard, 0, &mut out).unwrap();
    out
}

fn mixture_case() -> impl Strategy<Value = (Vec<Vec<i64>>, Vec<f64>, u64, u64, u64, bool)> {
    (
        prop::collection::vec((prop::collection::vec(1i64..6, 1..5), 0u32..4), 1..4),
        1u64..40,
        0u64..120,
        any::<u64>(),
        any::<bool>(),
    )
        .prop_map(|(components, block, samples, seed, feistel)| {
            let lengths = components.iter().map(|(l, _)| l.clone()).collect();
            // At least one positive weight.
            let mut weights: Vec<f64> = components.iter().map(|(_, w)| f64::from(*w)).collect();
            weights[0] += 1.0;
            (lengths, weights, block, samples, seed, feistel)
        })
}

fn build(
    lengths: &[Vec<i64>],
    weights: &[f64],
    block: u64,
    samples: u64,
    seed: u64,
    feistel: bool,
) -> Result<Arc<Mixture>, episampler_core::SamplerError> {
    let permutation = if feistel {
        Permutation::Feistel
    } else {
        Permutation::Uniform
    };
    let mut components = Vec::new();
    let mut offsets = Vec::new();
    let mut offset = 0;
    for (c, l) in lengths.iter().enumerate() {
        components.push(Arc::new(component(
            l,
            c % 2 == 0,
            permutation,
            c as u64 + 7,
        )));
        offsets.push(offset);
        offset += l.iter().sum::<i64>();
    }
    Mixture::new(components, offsets, weights, block, samples, seed).map(Arc::new)
}

proptest! {
    #![proptest_config(cases::config(300))]

    #[test]
    fn blocks_hold_exact_counts_and_components_cycle_through_their_own_epochs(
        (lengths, weights, block, samples, seed, feistel) in mixture_case()
    ) {
        let Ok(mixture) = build(&lengths, &weights, block, samples, seed, feistel) else {
            // Only a block too small for a positive weight is refused.
            let counts = largest_remainder(&weights, block);
            prop_assert!(weights.iter().zip(&counts).any(|(w, c)| *w > 0.0 && *c == 0));
            return Ok(());
        };
        let counts = mixture.counts().to_vec();
        let sizes: Vec<i64> = lengths.iter().map(|l| l.iter().sum()).collect();
        let starts: Vec<i64> = sizes.iter().scan(0, |s, &n| { let o = *s; *s += n; Some(o) }).collect();
        let component_of = |v: i64| starts.iter().rposition(|&o| o <= v).unwrap();
        let mut draws = vec![0u64; lengths.len()];
        for epoch in 0..3 {
            let values = epoch_values(&mixture, epoch);
            for (b, chunk) in values.chunks(block as usize).enumerate() {
                let mut seen = vec![0u64; lengths.len()];
                for &v in chunk {
                    seen[component_of(v)] += 1;
                }
                if chunk.len() as u64 == block {
                    prop_assert_eq!(&seen, &counts, "epoch {} block {}", epoch, b);
                } else {
                    prop_assert_eq!(seen, largest_remainder(&weights, chunk.len() as u64));
                }
            }
            // Component c's k-th draw is its epoch k / len, position k % len.
            for &v in &values {
                let c = component_of(v);
                let comp = component(&lengths[c], c % 2 == 0,
                    if feistel { Permutation::Feistel } else { Permutation::Uniform }, c as u64 + 7);
                let len = comp.num_frames();
                let k = draws[c];
                let order = comp.epoch_order(k / len).unwrap();
                prop_assert_eq!(v - starts[c], comp.value_at(&order, k % len));
                draws[c] += 1;
            }
            prop_assert_eq!(draws.iter().sum::<u64>(), samples * (epoch + 1));
        }
    }

    #[test]
    fn any_position_read_alone_equals_reading_in_order(
        (lengths, weights, block, samples, seed, feistel) in mixture_case(),
        epoch in 0u64..1000,
        probes in prop::collection::vec(any::<u64>(), 1..20),
    ) {
        let Ok(mixture) = build(&lengths, &weights, block, samples, seed, feistel) else {
            return Ok(());
        };
        prop_assume!(samples > 0);
        let values = epoch_values(&mixture, epoch);
        let mut cursor = mixture.epoch(epoch);
        for probe in probes {
            let p = probe % samples;
            prop_assert_eq!(mixture.epoch(epoch).value_at(p).unwrap(), values[p as usize]);
            prop_assert_eq!(cursor.value_at(p).unwrap(), values[p as usize]);
        }
    }

    #[test]
    fn weighted_draws_depend_on_the_position_only(
        lengths in prop::collection::vec(1i64..8, 1..30),
        weights in prop::collection::vec(0u32..5, 30),
        world in 1u64..5,
        start in 0u64..50,
        seed in any::<u64>(),
        per_frame in any::<bool>(),
    ) {
        let weights: Vec<f64> = weights[..lengths.len()].iter().map(|&w| f64::from(w)).collect();
        let sampler = Arc::new(component(&lengths, false, Permutation::Uniform, 0));
        let per = if per_frame { Per::Frame } else { Per::Episode };
        let Ok(draws) = WeightedDraws::new(sampler, &weights, per, seed) else {
            prop_assert!(weights.iter().all(|&w| w == 0.0));
            return Ok(());
        };
        let draws = Arc::new(draws);
        let epoch = draws.epoch(3);
        let whole: Vec<i64> = (0..start + 60).map(|p| epoch.value_at(p)).collect();
        let starts: Vec<i64> = lengths.iter().scan(0, |s, &n| { let o = *s; *s += n; Some(o) }).collect();
        for &v in &whole {
            let e = starts.iter().rposition(|&o| o <= v).unwrap();
            prop_assert!(weights[e] > 0.0, "zero-weight episode {} drawn", e);
        }
        for rank in 0..world {
            let shard = Shard::new(start + 60, start, rank, world, false).unwrap();
            let mut out = vec![0; shard.len() as usize];
            draws.epoch(3).fill(&shard, 0, &mut out).unwrap();
            for (i, v) in out.iter().enumerate() {
                let p = shard.global_position(i as u64);
                prop_assert_eq!(*v, whole[p as usize]);
            }
        }
    }
}

#[test]
fn frequencies_follow_the_weights() {
    // Episodes of lengths 1, 2, 3, 4 with weights 4, 3, 2, 1: per episode and per frame.
    let sampler = Arc::new(component(&[1, 2, 3, 4], false, Permutation::Uniform, 0));
    for (per, expected) in [
        (Per::Episode, [0.4, 0.3, 0.2, 0.1]),
        (Per::Frame, [4.0 / 20.0, 6.0 / 20.0, 6.0 / 20.0, 4.0 / 20.0]),
    ] {
        let draws =
            Arc::new(WeightedDraws::new(sampler.clone(), &[4.0, 3.0, 2.0, 1.0], per, 1).unwrap());
        let epoch = draws.epoch(0);
        let n = 400_000u64;
        let mut episode_counts: HashMap<usize, u64> = HashMap::new();
        let mut frame_counts: HashMap<i64, u64> = HashMap::new();
        for p in 0..n {
            let v = epoch.value_at(p);
            let e = [0, 1, 3, 6].iter().rposition(|&o| o <= v).unwrap();
            *episode_counts.entry(e).or_default() += 1;
            *frame_counts.entry(v).or_default() += 1;
        }
        for (e, p) in expected.iter().enumerate() {
            let got = episode_counts[&e] as f64 / n as f64;
            // 5 standard deviations of a binomial proportion.
            let tolerance = 5.0 * (p * (1.0 - p) / n as f64).sqrt();
            assert!(
                (got - p).abs() < tolerance,
                "{per:?} episode {e}: {got} vs {p}"
            );
        }
        // Frames inside episode 3 (rows 6..10) are uniform.
        let inside: Vec<u64> = (6..10).map(|v| frame_counts[&v]).collect();
        let mean = inside.iter().sum::<u64>() as f64 / 4.0;
        for count in inside {
            assert!(
                (count as f64 - mean).abs() < 5.0 * mean.sqrt(),
                "{count} vs {mean}"
            );
        }
    }
}

#[test]
fn bad_configurations_are_refused() {
    let one = || Arc::new(component(&[3], false, Permutation::Uniform, 0));
    let mix = |components: Vec<Arc<Sampler>>, offsets: Vec<i64>, weights: &[f64], block: u64| {
        Mixture::new(components, offsets, weights, block, 10, 0)
            .unwrap_err()
            .to_string()
    };
    assert!(mix(vec![], vec![], &[], 4).contains("at least one component"));
    assert!(mix(vec![one()], vec![0], &[1.0, 1.0], 4).contains("weights must hold one entry"));
    assert!(mix(vec![one()], vec![], &[1.0], 4).contains("offsets must hold one entry"));
    for bad in [-1.0, f64::NAN, f64::INFINITY] {
        assert!(mix(vec![one()], vec![0], &[bad], 4).contains("finite and >= 0"));
    }
    assert!(mix(vec![one()], vec![0], &[0.0], 4).contains("must not all be 0"));
    assert!(mix(vec![one()], vec![0], &[1.0], 0).contains("block_size must be in"));
    let message = mix(vec![one(), one()], vec![0, 3], &[1000.0, 1.0], 100);
    assert!(message.contains("gives component 1"), "{message}");
    assert!(message.contains("at least 1001"), "{message}");
    let weighted = |weights: &[f64]| {
        WeightedDraws::new(one(), weights, Per::Episode, 0)
            .unwrap_err()
            .to_string()
    };
    assert!(weighted(&[1.0, 2.0]).contains("one entry per episode"));
    assert!(weighted(&[f64::NAN]).contains("finite and >= 0"));
    let two = Arc::new(component(&[3, 3], false, Permutation::Uniform, 0));
    let error = WeightedDraws::new(two, &[f64::MAX, f64::MAX], Per::Episode, 0).unwrap_err();
    assert!(
        error.to_string().contains("more than a float can hold"),
        "{error}"
    );
}

#[test]
fn weights_of_episodes_left_out_do_not_count() {
    let spec = EpisodeSpec {
        from: &[0, 5],
        to: &[5, 10],
        episodes_to_use: Some(&[1]),
        ..Default::default()
    };
    let index = EpisodeIndex::new(&spec).unwrap();
    let sampler = Arc::new(Sampler::new(
        index,
        Remap::Identity,
        false,
        Permutation::Uniform,
        0,
    ));
    let error = WeightedDraws::new(sampler.clone(), &[1.0, 0.0], Per::Episode, 0).unwrap_err();
    assert!(
        error.to_string().contains("0 for every kept episode"),
        "{error}"
    );
    let draws = Arc::new(WeightedDraws::new(sampler, &[0.0, 2.0], Per::Frame, 0).unwrap());
    let epoch = draws.epoch(9);
    assert!((0..1000).all(|p| (5..10).contains(&epoch.value_at(p))));
}
