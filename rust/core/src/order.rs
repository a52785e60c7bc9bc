//! What every kind of order shares: the [`Permutation`] that shuffles a global or windowed order,
//! and [`EpochValues`], one epoch of values read a slice of a shard at a time (a sampler's, a
//! mixture's or weighted draws'). Depends on no kind of order, so that each can use it.

use std::str::FromStr;

use crate::error::SamplerError;
use crate::shard::Shard;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permutation {
    Uniform,
    Feistel,
}

impl Permutation {
    pub fn name(self) -> &'static str {
        match self {
            Permutation::Uniform => "uniform",
            Permutation::Feistel => "feistel",
        }
    }
}

impl FromStr for Permutation {
    type Err = SamplerError;

    fn from_str(name: &str) -> Result<Self, SamplerError> {
        match name {
            "uniform" => Ok(Permutation::Uniform),
            "feistel" => Ok(Permutation::Feistel),
            other => Err(SamplerError::invalid(format!(
                "permutation must be \"uniform\" or \"feistel\", got {other:?}"
            ))),
        }
    }
}

/// One epoch of values that a consumer reads a slice of a shard at a time: what the bindings
/// iterate, whatever the kind of sampler.
pub trait EpochValues: Send + Sync {
    /// Values of the shard's indices `first..first + out.len()`.
    fn fill(&mut self, shard: &Shard, first: u64, out: &mut [i64]) -> Result<(), SamplerError>;
}
