//! `DrawCore`: orders drawn position by position rather than built (a mixture of samplers, or
//! weighted draws).

use std::sync::Arc;

use episampler_core::error::try_filled;
use episampler_core::order::fill_polled;
use episampler_core::{EpochValues, Mixture, Per, Shard, WeightedDraws};
use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::chunks::EpochChunks;
use crate::chunks::Readers;
use crate::epochs::{self, EpochSource};
use crate::errors::value_error;
use crate::interrupt::interruptible;
use crate::sampler::SamplerCore;

/// Orders drawn position by position rather than built: a mixture of component samplers
/// (see `episampler_core::mixture`) or weighted draws (`episampler_core::weighted`).
enum Draws {
    Mixture(Arc<Mixture>),
    Weighted {
        draws: Arc<WeightedDraws>,
        num_samples: u64,
    },
}

/// A validated mixture or weighted sampler: one class, built by `DrawCore.mixture(...)` or
/// `DrawCore.weighted(...)`, iterated like `SamplerCore`.
#[pyclass(module = "episampler._core", frozen)]
pub struct DrawCore {
    draws: Draws,
    readers: Arc<Readers>,
}

impl DrawCore {
    fn values(&self, epoch: u64) -> Box<dyn EpochValues> {
        match &self.draws {
            Draws::Mixture(mixture) => Box::new(mixture.epoch(epoch)),
            Draws::Weighted { draws, .. } => Box::new(draws.epoch(epoch)),
        }
    }

    fn mixture(&self) -> PyResult<&Mixture> {
        match &self.draws {
            Draws::Mixture(mixture) => Ok(mixture),
            Draws::Weighted { .. } => Err(PyValueError::new_err("not a mixture")),
        }
    }
}

impl EpochSource for DrawCore {
    /// Positions per epoch.
    fn epoch_len(&self) -> u64 {
        match &self.draws {
            Draws::Mixture(mixture) => mixture.samples_per_epoch(),
            Draws::Weighted { num_samples, .. } => *num_samples,
        }
    }

    fn readers(&self) -> &Arc<Readers> {
        &self.readers
    }

    /// Draws need no build of their own; a mixture's component orders are built on up to
    /// `threads` threads. Without the GIL, stopped by Ctrl-C.
    fn shard_values(
        &self,
        py: Python<'_>,
        epoch: u64,
        shard: &Shard,
        threads: usize,
    ) -> PyResult<Vec<i64>> {
        let mut values = self.values(epoch);
        let mut out = try_filled("the epoch's values", shard.len()).map_err(value_error)?;
        interruptible(py, threads, |build| {
            fill_polled(values.as_mut(), shard, &mut out, build)
        })?;
        Ok(out)
    }

    /// A mixture's cursor comes with the component orders that reading from the shard's start
    /// needs, built here (without the GIL, on up to `threads` threads, stopped by Ctrl-C)
    /// rather than under the GIL by the first `next()`.
    fn epoch_values(
        &self,
        py: Python<'_>,
        epoch: u64,
        shard: &Shard,
        threads: usize,
    ) -> PyResult<Box<dyn EpochValues>> {
        match &self.draws {
            Draws::Mixture(mixture) => {
                let mut cursor = mixture.epoch(epoch);
                interruptible(py, threads, |build| cursor.prepare(shard, 0, build))?;
                Ok(Box::new(cursor))
            }
            Draws::Weighted { .. } => Ok(self.values(epoch)),
        }
    }
}

#[pymethods]
impl DrawCore {
    /// A mixture of `components` (each a `SamplerCore`) at `offsets`, in proportions `weights`.
    #[staticmethod]
    fn mixture_of(
        py: Python<'_>,
        components: Vec<Bound<'_, SamplerCore>>,
        offsets: Vec<i64>,
        weights: PyReadonlyArray1<'_, f64>,
        block_size: u64,
        samples_per_epoch: u64,
        seed: u64,
    ) -> PyResult<Self> {
        let components = components
            .iter()
            .map(|core| Arc::clone(&core.get().sampler))
            .collect();
        let weights = weights.as_slice()?;
        // The components' fingerprints are O(episodes) each: computed without the GIL.
        let mixture = py
            .detach(|| {
                Mixture::new(
                    components,
                    offsets,
                    weights,
                    block_size,
                    samples_per_epoch,
                    seed,
                )
            })
            .map_err(value_error)?;
        Ok(DrawCore {
            draws: Draws::Mixture(Arc::new(mixture)),
            readers: Arc::default(),
        })
    }

    /// Weighted draws over `frames`' kept frames (its shuffle is not used).
    #[staticmethod]
    fn weighted(
        py: Python<'_>,
        frames: &SamplerCore,
        weights: PyReadonlyArray1<'_, f64>,
        per: &str,
        num_samples: u64,
        seed: u64,
    ) -> PyResult<Self> {
        let per = match per {
            "episode" => Per::Episode,
            "frame" => Per::Frame,
            other => {
                return Err(PyValueError::new_err(format!(
                    "per must be \"episode\" or \"frame\", got {other:?}"
                )))
            }
        };
        let weights = weights.as_slice()?;
        let sampler = Arc::clone(&frames.sampler);
        let draws = interruptible(py, 1, |build| {
            WeightedDraws::new_with(sampler, weights, per, seed, build)
        })?;
        Ok(DrawCore {
            draws: Draws::Weighted {
                draws: Arc::new(draws),
                num_samples,
            },
            readers: Arc::default(),
        })
    }

    #[getter]
    fn fingerprint(&self) -> String {
        let fingerprint = match &self.draws {
            Draws::Mixture(mixture) => mixture.fingerprint(),
            Draws::Weighted { draws, .. } => draws.fingerprint(),
        };
        format!("{fingerprint:016x}")
    }

    /// A mixture's slots of every component in a full block.
    #[getter]
    fn counts(&self) -> PyResult<Vec<u64>> {
        Ok(self.mixture()?.counts().to_vec())
    }

    /// This rank's values of `epoch` from global position `start_index`, as one array
    /// (`threads`: the threads a mixture's component orders are built on).
    #[pyo3(signature = (epoch, start_index, rank, num_replicas, drop_last, pad_to_multiple=None, threads=1))]
    #[allow(clippy::too_many_arguments)]
    fn epoch_indices<'py>(
        &self,
        py: Python<'py>,
        epoch: u64,
        start_index: u64,
        rank: u64,
        num_replicas: u64,
        drop_last: bool,
        pad_to_multiple: Option<u64>,
        threads: usize,
    ) -> PyResult<Bound<'py, PyArray1<i64>>> {
        epochs::epoch_indices(
            self,
            py,
            epoch,
            start_index,
            rank,
            num_replicas,
            drop_last,
            pad_to_multiple,
            threads,
        )
    }

    /// As `SamplerCore.iter_epoch`.
    #[pyo3(signature = (epoch, start_index, rank, num_replicas, drop_last, pad_to_multiple=None, batch_size=None, drop_last_batch=false, threads=1))]
    #[allow(clippy::too_many_arguments)]
    fn iter_epoch(
        &self,
        py: Python<'_>,
        epoch: u64,
        start_index: u64,
        rank: u64,
        num_replicas: u64,
        drop_last: bool,
        pad_to_multiple: Option<u64>,
        batch_size: Option<u64>,
        drop_last_batch: bool,
        threads: usize,
    ) -> PyResult<EpochChunks> {
        epochs::iter_epoch(
            self,
            py,
            epoch,
            start_index,
            rank,
            num_replicas,
            drop_last,
            pad_to_multiple,
            batch_size,
            drop_last_batch,
            threads,
        )
    }
}
