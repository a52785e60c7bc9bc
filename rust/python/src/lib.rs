//! Thin PyO3 glue over `episampler-core`: argument conversion, GIL release around heavy work,
//! numpy arrays in and out, and core errors turned into `ValueError`s. No sampling logic here.

use std::sync::{Arc, Mutex};

use episampler_core::index::EpisodeSpec;
use episampler_core::{EpisodeIndex, EpochOrder, Permutation, Remap, Sampler, SamplerError, Shard};
use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

fn value_error(error: SamplerError) -> PyErr {
    PyValueError::new_err(error.to_string())
}

/// A validated sampler configuration plus a one-epoch cache of its order.
#[pyclass(module = "episampler._core", frozen)]
pub struct SamplerCore {
    sampler: Arc<Sampler>,
    // The `"uniform"` order of an epoch costs O(num_frames) to build: keep the latest one so
    // that `epoch_indices` and every iterator of that epoch share it.
    cached_order: Mutex<Option<(u64, Arc<EpochOrder>)>>,
}

impl SamplerCore {
    fn wrap(sampler: Sampler) -> Self {
        SamplerCore {
            sampler: Arc::new(sampler),
            cached_order: Mutex::new(None),
        }
    }

    fn rebuild(base: &Sampler, remap: Remap) -> Self {
        Self::wrap(Sampler::new(
            base.index().clone(),
            remap,
            base.shuffle(),
            base.permutation(),
            base.seed(),
        ))
    }

    fn order(&self, py: Python<'_>, epoch: u64) -> Arc<EpochOrder> {
        py.detach(|| {
            let mut cache = self.cached_order.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((cached_epoch, order)) = cache.as_ref() {
                if *cached_epoch == epoch {
                    return Arc::clone(order);
                }
            }
            *cache = None; // free the previous table before building the next one
            let order = Arc::new(self.sampler.epoch_order(epoch));
            *cache = Some((epoch, Arc::clone(&order)));
            order
        })
    }

    fn shard(
        &self,
        start: u64,
        rank: u64,
        world: u64,
        drop_last: bool,
        pad_to_multiple: Option<u64>,
    ) -> PyResult<Shard> {
        let len = self.sampler.num_frames();
        match pad_to_multiple {
            None => Shard::new(len, start, rank, world, drop_last),
            Some(multiple) => Shard::padded(len, start, multiple),
        }
        .map_err(value_error)
    }
}

#[pymethods]
impl SamplerCore {
    #[new]
    #[pyo3(signature = (from_indices, to_indices, episode_indices_to_use, drop_n_first_frames, drop_n_last_frames, shuffle, seed, permutation))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        from_indices: PyReadonlyArray1<'_, i64>,
        to_indices: PyReadonlyArray1<'_, i64>,
        episode_indices_to_use: Option<PyReadonlyArray1<'_, i64>>,
        drop_n_first_frames: u64,
        drop_n_last_frames: u64,
        shuffle: bool,
        seed: u64,
        permutation: &str,
    ) -> PyResult<Self> {
        let permutation: Permutation = permutation.parse().map_err(value_error)?;
        let from = from_indices.as_slice()?;
        let to = to_indices.as_slice()?;
        let subset = match &episode_indices_to_use {
            Some(ids) => Some(ids.as_slice()?),
            None => None,
        };
        let spec = EpisodeSpec {
            from,
            to,
            episodes_to_use: subset,
            drop_first: drop_n_first_frames,
            drop_last: drop_n_last_frames,
        };
        let index = py
            .detach(|| EpisodeIndex::new(&spec))
            .map_err(value_error)?;
        Ok(Self::wrap(Sampler::new(
            index,
            Remap::Identity,
            shuffle,
            permutation,
            seed,
        )))
    }

    /// The same configuration, yielding `rows[p]` for the kept frame at logical position `p`.
    fn with_rows(&self, py: Python<'_>, rows: PyReadonlyArray1<'_, i64>) -> PyResult<Self> {
        let rows = rows.as_slice()?.to_vec();
        let base = &self.sampler;
        let remap = py
            .detach(|| Remap::from_rows(base.index(), rows))
            .map_err(value_error)?;
        Ok(Self::rebuild(base, remap))
    }

    /// The same configuration, yielding `frame + shifts[e]` for the frames of episode `e`
    /// (`shifts` has one entry per episode of the boundary arrays).
    fn with_episode_shifts(&self, shifts: PyReadonlyArray1<'_, i64>) -> PyResult<Self> {
        let base = &self.sampler;
        let remap =
            Remap::from_episode_shifts(base.index(), shifts.as_slice()?).map_err(value_error)?;
        Ok(Self::rebuild(base, remap))
    }

    #[getter]
    fn num_frames(&self) -> u64 {
        self.sampler.num_frames()
    }

    #[getter]
    fn num_episodes(&self) -> usize {
        self.sampler.index().num_episodes()
    }

    #[getter]
    fn num_skipped(&self) -> usize {
        self.sampler.index().num_skipped()
    }

    /// 16 hex digits identifying everything that shapes the global order except the seed.
    #[getter]
    fn fingerprint(&self) -> String {
        format!("{:016x}", self.sampler.fingerprint())
    }

    /// Every kept frame in boundary order (O(num_frames); used once to build a row map).
    fn kept_frames<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<i64>> {
        let index = self.sampler.index();
        let frames: Vec<i64> = py.detach(|| {
            (0..index.num_episodes())
                .flat_map(|k| {
                    let start = index.starts()[k] as i64;
                    start..start + index.episode_len(k) as i64
                })
                .collect()
        });
        PyArray1::from_vec(py, frames)
    }

    /// This rank's values of `epoch` from global position `start_index`, as one array.
    /// `pad_to_multiple` (single stream only) pads the epoch as accelerate's `even_batches` does.
    #[pyo3(signature = (epoch, start_index, rank, num_replicas, drop_last, pad_to_multiple=None))]
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
    ) -> PyResult<Bound<'py, PyArray1<i64>>> {
        let shard = self.shard(start_index, rank, num_replicas, drop_last, pad_to_multiple)?;
        let order = self.order(py, epoch);
        let sampler = &self.sampler;
        let values = py.detach(|| sampler.shard_values(&order, &shard));
        Ok(PyArray1::from_vec(py, values))
    }

    /// An iterator over this rank's values of `epoch` from global position `start_index`.
    #[pyo3(signature = (epoch, start_index, rank, num_replicas, drop_last, pad_to_multiple=None))]
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
    ) -> PyResult<EpochIterator> {
        let shard = self.shard(start_index, rank, num_replicas, drop_last, pad_to_multiple)?;
        Ok(EpochIterator {
            sampler: Arc::clone(&self.sampler),
            order: self.order(py, epoch),
            shard,
            epoch,
            yielded: 0,
            exhausted: false,
        })
    }
}

/// Yields one rank's values of one epoch as Python ints and knows where it stands.
#[pyclass(module = "episampler._core")]
pub struct EpochIterator {
    sampler: Arc<Sampler>,
    order: Arc<EpochOrder>,
    shard: Shard,
    epoch: u64,
    yielded: u64,
    exhausted: bool,
}

#[pymethods]
impl EpochIterator {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&mut self) -> Option<i64> {
        if self.yielded == self.shard.len() {
            self.exhausted = true;
            return None;
        }
        let position = self.shard.global_position(self.yielded);
        self.yielded += 1;
        // Yielding the last index ends the epoch at once, not at the next call.
        self.exhausted = self.yielded == self.shard.len();
        Some(self.sampler.value_at(&self.order, position))
    }

    fn __length_hint__(&self) -> usize {
        (self.shard.len() - self.yielded) as usize
    }

    #[getter]
    fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Values yielded so far.
    #[getter]
    fn yielded(&self) -> u64 {
        self.yielded
    }

    /// True once the last value was yielded, or once iteration stopped with nothing left.
    #[getter]
    fn exhausted(&self) -> bool {
        self.exhausted
    }

    /// `(epoch, start_index)` a new iterator must start from to continue right after this one.
    #[getter]
    fn resume_point(&self) -> (u64, u64) {
        if self.exhausted {
            (self.epoch + 1, 0)
        } else {
            (self.epoch, self.shard.resume_point(self.yielded))
        }
    }
}

#[pymodule]
mod _core {
    use pyo3::prelude::*;

    #[pymodule_export]
    use super::{EpochIterator, SamplerCore};

    #[pymodule_init]
    fn init(module: &Bound<'_, PyModule>) -> PyResult<()> {
        module.add("ALGORITHM_VERSION", episampler_core::ALGORITHM_VERSION)?;
        Ok(())
    }
}
