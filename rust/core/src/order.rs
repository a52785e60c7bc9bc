//! What every kind of order shares: the [`Permutation`] that shuffles a global or windowed order,
//! and [`EpochValues`], one epoch of values read a slice of a shard at a time (a sampler's, a
//! mixture's or weighted draws'), with [`RunLong`], where the long work met on the way runs.
//! Depends on no kind of order, so that each can use it.

use std::str::FromStr;

use crate::error::SamplerError;
use crate::parallel::{Build, POLL_EVERY};
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

/// Long work met while reading values (a mixture's component orders, built when a component
/// starts an epoch), run as the reader wants it run: a [`Build`] runs it in place, on its
/// threads, polling its interruption check; the bindings, which read short slices with the GIL
/// held, run it without the GIL where Ctrl-C stops it.
pub trait RunLong {
    /// Runs `work` with the [`Build`] it should use; its error, or
    /// [`SamplerError::Interrupted`], if it failed or was interrupted.
    fn run_long(
        &mut self,
        work: &mut (dyn FnMut(Build<'_>) -> Result<(), SamplerError> + Send),
    ) -> Result<(), SamplerError>;
}

impl RunLong for Build<'_> {
    fn run_long(
        &mut self,
        work: &mut (dyn FnMut(Build<'_>) -> Result<(), SamplerError> + Send),
    ) -> Result<(), SamplerError> {
        work(*self)
    }
}

/// One epoch of values that a consumer reads a slice of a shard at a time: what the bindings
/// iterate, whatever the kind of sampler.
pub trait EpochValues: Send + Sync {
    /// Values of the shard's indices `first..first + out.len()` (long work run in place, on
    /// one thread).
    fn fill(&mut self, shard: &Shard, first: u64, out: &mut [i64]) -> Result<(), SamplerError>;

    /// [`EpochValues::fill`], any long work met on the way run by `long`. The same values.
    fn fill_with(
        &mut self,
        shard: &Shard,
        first: u64,
        out: &mut [i64],
        long: &mut dyn RunLong,
    ) -> Result<(), SamplerError> {
        let _ = long; // nothing long on the way unless the kind says so
        self.fill(shard, first, out)
    }
}

/// The shard's values `0..out.len()` into `out`, [`POLL_EVERY`] values at a time, polling
/// `build`'s interruption check between them; long work met on the way (a mixture's component
/// orders) runs as `build` says.
pub fn fill_polled(
    values: &mut dyn EpochValues,
    shard: &Shard,
    out: &mut [i64],
    mut build: Build<'_>,
) -> Result<(), SamplerError> {
    let mut first = 0u64;
    for piece in out.chunks_mut(POLL_EVERY) {
        build.check()?;
        values.fill_with(shard, first, piece, &mut build)?;
        first += piece.len() as u64;
    }
    Ok(())
}
