//! The frozen orders, checked by the core itself: every entry of `tests/golden/orders.json` (the
//! grid of sizes, seeds, epochs, world sizes and permutations the Python suite also checks) is
//! rebuilt here and compared, digest and head, so a change to an order fails `cargo test`
//! before any Python is built. The file is written by `python -m tests.test_golden_grid`.

use std::sync::Arc;

use episampler_core::index::EpisodeSpec;
use episampler_core::{EpisodeIndex, Permutation, Remap, Sampler, Shard, ALGORITHM_VERSION};
use serde_json::Value;
use sha2::{Digest, Sha256};

const GOLDEN: &str = include_str!("../../../tests/golden/orders.json");

/// One grid entry as the Python suite records it: the first values of the last rank's epoch,
/// and the SHA-256 of every rank's epoch as little-endian `i64`s, ranks in order.
fn entry(num_frames: i64, seed: u64, epoch: u64, world: u64, permutation: Permutation) -> Value {
    let from = [0i64];
    let to = [num_frames];
    let index = EpisodeIndex::new(&EpisodeSpec {
        from: &from,
        to: &to,
        ..Default::default()
    })
    .unwrap();
    let sampler = Arc::new(Sampler::new(
        index,
        Remap::Identity,
        true,
        permutation,
        seed,
    ));
    let order = sampler.epoch_order(epoch).unwrap();
    let mut digest = Sha256::new();
    let mut head = Vec::new();
    for rank in 0..world {
        let shard = Shard::new(sampler.num_frames(), 0, rank, world, false).unwrap();
        let values = sampler.shard_values(&order, &shard).unwrap();
        for value in &values {
            digest.update(value.to_le_bytes());
        }
        head = values.iter().take(8).copied().collect();
    }
    let hex: String = digest
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    serde_json::json!({ "head": head, "sha256": hex })
}

/// `"N=7 seed=1 epoch=5 W=3 uniform"` -> its parts.
fn parse_key(key: &str) -> (i64, u64, u64, u64, Permutation) {
    let parts: Vec<&str> = key.split(' ').collect();
    let field = |i: usize, name: &str| {
        parts[i]
            .strip_prefix(name)
            .unwrap_or_else(|| panic!("{key}: no {name}"))
    };
    (
        field(0, "N=").parse().unwrap(),
        field(1, "seed=").parse().unwrap(),
        field(2, "epoch=").parse().unwrap(),
        field(3, "W=").parse().unwrap(),
        parts[4].parse().unwrap(),
    )
}

fn golden() -> serde_json::Map<String, Value> {
    let document: Value = serde_json::from_str(GOLDEN).unwrap();
    assert_eq!(
        document["algorithm_version"],
        Value::from(ALGORITHM_VERSION),
        "the golden file is for another algorithm version"
    );
    document["orders"].as_object().unwrap().clone()
}

#[test]
fn every_golden_order_is_rebuilt_exactly() {
    let orders = golden();
    // 9 sizes x 4 seeds x 3 epochs x 2 world sizes x 2 permutations.
    assert_eq!(orders.len(), 432);
    for (key, expected) in &orders {
        let (n, seed, epoch, world, permutation) = parse_key(key);
        assert_eq!(
            &entry(n, seed, epoch, world, permutation),
            expected,
            "{key}"
        );
    }
}

#[test]
fn a_single_swapped_pair_deep_in_an_epoch_changes_the_digest() {
    // The comparison above has teeth: the recorded digest of a real order no longer matches
    // once two of its values trade places far from the head.
    let orders = golden();
    let key = "N=1000 seed=1 epoch=5 W=1 feistel";
    let expected = orders[key]["sha256"].as_str().unwrap();
    let from = [0i64];
    let to = [1000i64];
    let index = EpisodeIndex::new(&EpisodeSpec {
        from: &from,
        to: &to,
        ..Default::default()
    })
    .unwrap();
    let sampler = Sampler::new(index, Remap::Identity, true, Permutation::Feistel, 1);
    let order = sampler.epoch_order(5).unwrap();
    let shard = Shard::new(1000, 0, 0, 1, false).unwrap();
    let mut values = sampler.shard_values(&order, &shard).unwrap();
    let hex = |values: &[i64]| -> String {
        let mut digest = Sha256::new();
        values.iter().for_each(|v| digest.update(v.to_le_bytes()));
        digest
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    assert_eq!(hex(&values), expected);
    values.swap(700, 777);
    assert_ne!(hex(&values), expected);
}
