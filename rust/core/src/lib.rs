//! Episode-aware frame sampling: the whole algorithm, free of any Python binding.
//!
//! * [`config`]: every option's names, limits and cross-option rules, written once.
//! * [`EpisodeIndex`]: validated episode boundaries, the kept frames and the map from a logical
//!   position `0..num_frames` to a frame (binary search over kept-episode prefix sums).
//! * [`keys`]: derivation of per-epoch keys from `(algorithm version, permutation, seed, epoch)`.
//! * [`uniform`]: an unbiased seeded Fisher–Yates shuffle stored as `u32` while it fits.
//! * [`feistel`]: a keyed bijection with O(1) memory and O(1) random access.
//! * [`order`]: what every kind of order shares ([`Permutation`], [`EpochValues`]).
//! * [`windowed`]: read-local orders: units of episodes permuted, cut into windows, each window
//!   shuffled.
//! * [`mixture`]: several samplers read in set proportions, exact per block, seekable.
//! * [`weighted`]: draws with replacement by episode weight (alias table, counter-based).
//! * [`Shard`]: the distributed position rule (stride `W` from a resume point).
//! * [`Sampler`]: all of the above put together; what the bindings and the benchmark drive.
//! * [`report`]: the quality and I/O report of an epoch's order, on [`stack_distance`]'s LRU
//!   stack distances.
//! * [`synthetic`]: episode layouts for the benchmarks.

pub mod config;
pub mod error;
pub mod feistel;
pub mod index;
pub mod keys;
pub mod mixture;
pub mod order;
pub mod parallel;
pub mod report;
pub mod rng;
pub mod sampler;
pub mod shard;
pub mod stack_distance;
pub mod synthetic;
pub mod uniform;
pub mod weighted;
pub mod windowed;

pub use error::SamplerError;
pub use feistel::Feistel;
pub use index::{EpisodeIndex, Remap};
pub use keys::ALGORITHM_VERSION;
pub use mixture::{Mixture, MixtureEpoch};
pub use parallel::Build;
pub use sampler::{EpochOrder, EpochValues, Permutation, Sampler, SamplerEpoch};
pub use shard::Shard;
pub use weighted::{Per, WeightedDraws, WeightedEpoch};
pub use windowed::{Units, WindowSpec, WindowedOrder};
