//! Criterion benchmarks of the core's hot paths, on synthetic episodes:
//!
//! * `epoch_build`: building a `"uniform"` epoch's order at 10^6 and 10^7 frames (`"feistel"`'s
//!   is O(1): nothing to measure here);
//! * `fill_epoch`: mapping every position of an epoch to its frame with [`Sampler::fill`]
//!   (10^6 frames in 10^3 episodes; sequential, uniform, feistel);
//! * `seek`: [`Sampler::value_at`] at pseudo-random positions (same dataset);
//! * `feistel_apply`: [`Feistel::apply`] one position at a time and [`Feistel::apply_many`] in
//!   bulk over 10^6 consecutive positions (two domain sizes);
//! * `episode_index_new`: [`EpisodeIndex::new`] on 10^6 episodes.
//!
//! Throughputs are per frame, position or episode. Few samples and short measurements keep the
//! whole run to about a minute:
//!
//! ```text
//! cargo bench -p episampler-core --bench core
//! cargo bench -p episampler-core --bench core -- fill_epoch   # a subset, by name
//! ```
//!
//! `episampler-bench` (the binary) covers larger sizes (up to 10^9 frames, 10^12 for feistel).

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, Criterion, SamplingMode, Throughput,
};
use episampler_core::index::EpisodeSpec;
use episampler_core::keys::SplitMix64;
use episampler_core::synthetic;
use episampler_core::{EpisodeIndex, EpochOrder, Feistel, Permutation, Remap, Sampler, Shard};

const SEED: u64 = 0;
/// Positions looked up per iteration of the `seek` benchmarks.
const SEEKS: u64 = 100_000;

/// Multiply-high onto `[0, n)` (bias far below what a benchmark can see).
fn below(rng: &mut SplitMix64, n: u64) -> u64 {
    ((u128::from(rng.next_u64()) * u128::from(n)) >> 64) as u64
}

fn index(frames: u64, episodes: u64) -> EpisodeIndex {
    let (from, to) = synthetic::episodes(frames, episodes, SEED);
    EpisodeIndex::new(&EpisodeSpec {
        from: &from,
        to: &to,
        episodes_to_use: None,
        drop_first: 0,
        drop_last: 0,
    })
    .expect("synthetic episodes are valid")
}

/// The three orders compared throughout: no shuffle, then both permutations.
fn samplers(index: &EpisodeIndex) -> [(&'static str, Sampler); 3] {
    let sampler = |shuffle, permutation| {
        Sampler::new(index.clone(), Remap::Identity, shuffle, permutation, SEED)
    };
    [
        ("sequential", sampler(false, Permutation::Uniform)),
        ("uniform", sampler(true, Permutation::Uniform)),
        ("feistel", sampler(true, Permutation::Feistel)),
    ]
}

/// Ten samples (criterion's minimum) and short windows: the whole file runs in about a minute.
/// Every routine here takes milliseconds, so flat sampling (the same iteration count in every
/// sample) fits them in the window where linear sampling would overrun it.
fn quick_group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    group
}

fn epoch_build(c: &mut Criterion) {
    let mut group = quick_group(c, "epoch_build");
    for frames in [1_000_000u64, 10_000_000] {
        let sampler = Sampler::new(
            index(frames, 1_000),
            Remap::Identity,
            true,
            Permutation::Uniform,
            SEED,
        );
        group.throughput(Throughput::Elements(frames));
        // The table is freed outside the timing, as it would be long after the epoch starts.
        group.bench_function(format!("uniform/{frames}"), |b| {
            b.iter_with_large_drop(|| sampler.epoch_order(black_box(1)).unwrap())
        });
    }
    group.finish();
}

fn fill_epoch(c: &mut Criterion) {
    let frames = 1_000_000u64;
    let index = index(frames, 1_000);
    let shard = Shard::new(frames, 0, 0, 1, false).expect("rank 0 of 1 is a valid shard");
    let mut out = vec![-1i64; frames as usize];
    let mut group = quick_group(c, "fill_epoch");
    group.throughput(Throughput::Elements(frames));
    for (name, sampler) in samplers(&index) {
        let order: EpochOrder = sampler.epoch_order(1).unwrap();
        group.bench_function(format!("{name}/{frames}"), |b| {
            b.iter(|| {
                sampler.fill(&order, &shard, 0, black_box(&mut out));
                black_box(&out);
            })
        });
    }
    group.finish();
}

fn seek(c: &mut Criterion) {
    let frames = 1_000_000u64;
    let index = index(frames, 1_000);
    let mut rng = SplitMix64::new(0x7365_656B_0000_0000);
    let positions: Vec<u64> = (0..SEEKS).map(|_| below(&mut rng, frames)).collect();
    let mut group = quick_group(c, "seek");
    group.throughput(Throughput::Elements(SEEKS));
    for (name, sampler) in samplers(&index) {
        let order = sampler.epoch_order(1).unwrap();
        group.bench_function(format!("{name}/{frames}"), |b| {
            b.iter(|| {
                positions.iter().fold(0i64, |sum, &position| {
                    sum.wrapping_add(sampler.value_at(&order, black_box(position)))
                })
            })
        });
    }
    group.finish();
}

fn feistel_apply(c: &mut Criterion) {
    let positions = 1_000_000u64;
    let mut group = quick_group(c, "feistel_apply");
    group.throughput(Throughput::Elements(positions));
    // 10^6 (just under 2^20: almost no cycle-walking) and 2^20 + 1, the worst case, where the
    // network's width doubles and about half of its outputs must be walked back into the domain.
    for len in [1_000_000u64, (1 << 20) + 1] {
        let feistel = Feistel::new(black_box(len), 0x5EED);
        group.bench_function(format!("one_at_a_time/len={len}"), |b| {
            b.iter(|| {
                (0..positions).fold(0u64, |sum, position| {
                    sum.wrapping_add(feistel.apply(black_box(position)))
                })
            })
        });
        // The bulk path `Sampler::fill` uses: chunks of 4096 positions through `apply_many`.
        let mut buffer = vec![0u64; 4096];
        group.bench_function(format!("bulk/len={len}"), |b| {
            b.iter(|| {
                let mut sum = 0u64;
                for first in (0..positions).step_by(buffer.len()) {
                    for (slot, position) in buffer.iter_mut().zip(first..positions) {
                        *slot = position;
                    }
                    feistel.apply_many(black_box(&mut buffer));
                    sum = buffer
                        .iter()
                        .fold(sum, |sum, &value| sum.wrapping_add(value));
                }
                sum
            })
        });
    }
    group.finish();
}

fn episode_index_new(c: &mut Criterion) {
    let episodes = 1_000_000u64;
    let (from, to) = synthetic::episodes(100 * episodes, episodes, SEED);
    let spec = EpisodeSpec {
        from: &from,
        to: &to,
        episodes_to_use: None,
        drop_first: 0,
        drop_last: 0,
    };
    let mut group = quick_group(c, "episode_index_new");
    group.throughput(Throughput::Elements(episodes));
    group.bench_function(format!("{episodes}"), |b| {
        b.iter_with_large_drop(|| EpisodeIndex::new(black_box(&spec)).expect("valid episodes"))
    });
    group.finish();
}

criterion_group!(
    benches,
    epoch_build,
    fill_epoch,
    seek,
    feistel_apply,
    episode_index_new
);
criterion_main!(benches);
