//! `SamplerCore`: a validated sampler configuration and the cache of its latest epoch's order.

use std::sync::{Arc, Mutex};

use episampler_core::error::try_filled;
use episampler_core::index::EpisodeSpec;
use episampler_core::{
    EpisodeIndex, EpochOrder, EpochValues, Permutation, Remap, Sampler, SamplerEpoch, Shard, Units,
    WindowSpec,
};
use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;

use crate::chunks::EpochChunks;
use crate::chunks::Readers;
use crate::epochs::{self, EpochSource};
use crate::errors::value_error;
use crate::interrupt::{interruptible, try_lock};
use crate::make_shard;

/// A validated sampler configuration plus a one-epoch cache of its order.
#[pyclass(module = "episampler._core", frozen)]
pub struct SamplerCore {
    pub(crate) sampler: Arc<Sampler>,
    // The `"uniform"` order of an epoch costs O(num_frames) to build: keep the latest one so
    // that `epoch_indices` and every iterator of that epoch share it.
    cached_order: Mutex<Option<(u64, Arc<EpochOrder>)>>,
    readers: Arc<Readers>,
}

impl SamplerCore {
    fn wrap(sampler: Sampler) -> Self {
        SamplerCore {
            sampler: Arc::new(sampler),
            cached_order: Mutex::new(None),
            readers: Arc::default(),
        }
    }

    fn rebuild(base: &Sampler, remap: Remap) -> Self {
        let sampler = Sampler::new(
            base.index().clone(),
            remap,
            base.shuffle(),
            base.permutation(),
            base.seed(),
        );
        Self::wrap(sampler.with_windows(base.windows().cloned()))
    }

    /// The order of `epoch`, from the cache or built (interruptibly, on `threads` threads).
    /// The cache's lock is only ever taken without waiting and never held across a build: a
    /// busy lock, or one a fork left locked in a child, costs the cache and never blocks.
    pub(crate) fn order(
        &self,
        py: Python<'_>,
        epoch: u64,
        threads: usize,
    ) -> PyResult<Arc<EpochOrder>> {
        let spare = match try_lock(&self.cached_order) {
            Some(mut cache) => match cache.as_ref() {
                Some((cached_epoch, order)) if *cached_epoch == epoch => {
                    return Ok(Arc::clone(order));
                }
                // Build the next table in the previous one's memory when no iterator holds it
                // any more (no fresh pages to fault in), or free it first: one at a time.
                _ => cache
                    .take()
                    .and_then(|(_, order)| Arc::try_unwrap(order).ok()),
            },
            None => None,
        };
        let sampler = &self.sampler;
        let order = Arc::new(interruptible(py, threads, |build| {
            sampler.epoch_order_with(epoch, spare, build)
        })?);
        if let Some(mut cache) = try_lock(&self.cached_order) {
            *cache = Some((epoch, Arc::clone(&order)));
        }
        Ok(order)
    }

    pub(crate) fn shard(
        &self,
        start: u64,
        rank: u64,
        world: u64,
        drop_last: bool,
        pad_to_multiple: Option<u64>,
    ) -> PyResult<Shard> {
        make_shard(
            self.sampler.num_frames(),
            start,
            rank,
            world,
            drop_last,
            pad_to_multiple,
        )
    }
}

impl EpochSource for SamplerCore {
    fn epoch_len(&self) -> u64 {
        self.sampler.num_frames()
    }

    fn readers(&self) -> &Arc<Readers> {
        &self.readers
    }

    fn shard_values(
        &self,
        py: Python<'_>,
        epoch: u64,
        shard: &Shard,
        threads: usize,
    ) -> PyResult<Vec<i64>> {
        let order = self.order(py, epoch, threads)?;
        let mut out = try_filled("the epoch's values", shard.len()).map_err(value_error)?;
        let sampler = &self.sampler;
        interruptible(py, threads, |build| {
            sampler.fill_parallel(&order, shard, &mut out, build)
        })?;
        Ok(out)
    }

    fn epoch_values(
        &self,
        py: Python<'_>,
        epoch: u64,
        _shard: &Shard,
        threads: usize,
    ) -> PyResult<Box<dyn EpochValues>> {
        Ok(Box::new(SamplerEpoch {
            sampler: Arc::clone(&self.sampler),
            order: self.order(py, epoch, threads)?,
        }))
    }
}

#[pymethods]
impl SamplerCore {
    #[new]
    #[pyo3(signature = (from_indices, to_indices, episode_indices_to_use, drop_n_first_frames, drop_n_last_frames, shuffle, seed, permutation, window=None, episode_groups=None, streams=1, stream_block=None, stream_readers=1))]
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
        window: Option<u64>,
        episode_groups: Option<PyReadonlyArray1<'_, i64>>,
        streams: u64,
        stream_block: Option<u64>,
        stream_readers: u64,
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
        let groups = match &episode_groups {
            Some(groups) => Some(groups.as_slice()?),
            None => None,
        };
        // Interruptible: an index of tens of millions of episodes takes a moment.
        let sampler = interruptible(py, 1, |build| {
            let index = EpisodeIndex::new_with(&spec, build)?;
            let windows = match window {
                Some(window) => {
                    let units = match groups {
                        Some(groups) => Units::from_groups(&index, groups)?,
                        None => Units::per_episode(&index),
                    };
                    let spec = WindowSpec::new(window, units)?;
                    let spec = spec.with_streams(streams, stream_block)?;
                    Some(Arc::new(spec.with_readers(
                        stream_readers,
                        stream_block,
                        permutation,
                    )?))
                }
                None => None,
            };
            let sampler = Sampler::new(index, Remap::Identity, shuffle, permutation, seed);
            Ok(sampler.with_windows(windows))
        })?;
        Ok(Self::wrap(sampler))
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
    fn fingerprint(&self, py: Python<'_>) -> String {
        // O(episodes) the first time: computed without the GIL.
        let fingerprint = py.detach(|| self.sampler.fingerprint());
        format!("{fingerprint:016x}")
    }

    /// `(boundary-order id, length)` of the first skipped episodes: a bounded list.
    #[getter]
    fn skipped_listed(&self) -> Vec<(u64, u64)> {
        self.sampler.index().skipped_listed().to_vec()
    }

    /// Every kept frame's value (its row) in boundary order, whatever the shuffle. O(num_frames).
    fn boundary_values<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray1<i64>>> {
        let values = py
            .detach(|| self.sampler.boundary_values())
            .map_err(value_error)?;
        Ok(PyArray1::from_vec(py, values))
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
    /// The order is built and the values computed on up to `threads` threads.
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

    /// This rank's values of `epoch` from global position `start_index`, handed out as
    /// iterators over Python lists (see [`EpochChunks`]), or as batch lists when `batch_size`
    /// is given (the last short batch dropped when `drop_last_batch`).
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

    /// The smallest and largest value the sampler yields (O(episodes), O(frames) with a row
    /// table: without the GIL).
    fn value_range(&self, py: Python<'_>) -> (i64, i64) {
        py.detach(|| self.sampler.value_range())
    }
}
