//! Thin PyO3 glue over `episampler-core`: argument conversion, GIL release around heavy work,
//! numpy arrays in and out, and core errors turned into `ValueError`s. No sampling logic here.

use std::sync::{Arc, Mutex};

use episampler_core::error::try_filled;
use episampler_core::index::EpisodeSpec;
use episampler_core::{
    EpisodeIndex, EpochOrder, EpochValues, Mixture, Per, Permutation, Remap, Sampler, SamplerEpoch,
    SamplerError, Shard, Units, WeightedDraws, WindowSpec,
};
use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::exceptions::{PyMemoryError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyList;

mod report;

fn value_error(error: SamplerError) -> PyErr {
    match error {
        SamplerError::Invalid(message) => PyValueError::new_err(message),
        SamplerError::OutOfMemory(message) => PyMemoryError::new_err(message),
    }
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
        let sampler = Sampler::new(
            base.index().clone(),
            remap,
            base.shuffle(),
            base.permutation(),
            base.seed(),
        );
        Self::wrap(sampler.with_windows(base.windows().cloned()))
    }

    fn epoch_values(&self, py: Python<'_>, epoch: u64) -> PyResult<Box<dyn EpochValues>> {
        Ok(Box::new(SamplerEpoch {
            sampler: Arc::clone(&self.sampler),
            order: self.order(py, epoch)?,
        }))
    }

    fn order(&self, py: Python<'_>, epoch: u64) -> PyResult<Arc<EpochOrder>> {
        py.detach(|| {
            let mut cache = self.cached_order.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((cached_epoch, order)) = cache.as_ref() {
                if *cached_epoch == epoch {
                    return Ok(Arc::clone(order));
                }
            }
            // Build the next table in the previous one's memory when no iterator holds it any
            // more (no fresh pages to fault in), or free it first: one table at a time.
            let spare = cache
                .take()
                .and_then(|(_, order)| Arc::try_unwrap(order).ok());
            let order = Arc::new(self.sampler.epoch_order_reusing(epoch, spare)?);
            *cache = Some((epoch, Arc::clone(&order)));
            Ok(order)
        })
        .map_err(value_error)
    }

    fn shard(
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

/// The positions one rank reads of an epoch of `len` positions (see [`Shard`]).
fn make_shard(
    len: u64,
    start: u64,
    rank: u64,
    world: u64,
    drop_last: bool,
    pad_to_multiple: Option<u64>,
) -> PyResult<Shard> {
    match pad_to_multiple {
        None => Shard::new(len, start, rank, world, drop_last),
        Some(multiple) => Shard::padded(len, start, multiple),
    }
    .map_err(value_error)
}

/// All of `shard`'s values of one epoch, as one array.
fn collect<'py>(
    py: Python<'py>,
    mut values: Box<dyn EpochValues>,
    shard: &Shard,
) -> PyResult<Bound<'py, PyArray1<i64>>> {
    let out = py
        .detach(|| {
            let mut out = try_filled("the epoch's values", shard.len())?;
            values.fill(shard, 0, &mut out)?;
            Ok(out)
        })
        .map_err(value_error)?;
    Ok(PyArray1::from_vec(py, out))
}

/// An iterator over `shard`'s values of one epoch (see [`EpochChunks`]).
fn chunks(
    values: Box<dyn EpochValues>,
    shard: Shard,
    epoch: u64,
    batch_size: Option<u64>,
    drop_last_batch: bool,
) -> PyResult<EpochChunks> {
    let mode = match batch_size {
        None => Mode::Items {
            next_chunk: FIRST_CHUNK,
        },
        Some(0) => return Err(PyValueError::new_err("batch_size must be >= 1, got 0")),
        Some(size) => Mode::Batches {
            size,
            drop_last: drop_last_batch,
        },
    };
    Ok(EpochChunks {
        values,
        shard,
        epoch,
        handed_out: 0,
        stopped: false,
        mode,
        current: None,
    })
}

#[pymethods]
impl SamplerCore {
    #[new]
    #[pyo3(signature = (from_indices, to_indices, episode_indices_to_use, drop_n_first_frames, drop_n_last_frames, shuffle, seed, permutation, window=None, episode_groups=None))]
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
        let sampler = py
            .detach(|| {
                let index = EpisodeIndex::new(&spec)?;
                let windows = match window {
                    Some(window) => {
                        let units = match groups {
                            Some(groups) => Units::from_groups(&index, groups)?,
                            None => Units::per_episode(&index),
                        };
                        Some(Arc::new(WindowSpec::new(window, units)?))
                    }
                    None => None,
                };
                let sampler = Sampler::new(index, Remap::Identity, shuffle, permutation, seed);
                Ok(sampler.with_windows(windows))
            })
            .map_err(value_error)?;
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
    fn fingerprint(&self) -> String {
        format!("{:016x}", self.sampler.fingerprint())
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
        collect(py, self.epoch_values(py, epoch)?, &shard)
    }

    /// This rank's values of `epoch` from global position `start_index`, handed out as
    /// iterators over Python lists (see [`EpochChunks`]), or as batch lists when `batch_size`
    /// is given (the last short batch dropped when `drop_last_batch`).
    #[pyo3(signature = (epoch, start_index, rank, num_replicas, drop_last, pad_to_multiple=None, batch_size=None, drop_last_batch=false))]
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
    ) -> PyResult<EpochChunks> {
        let shard = self.shard(start_index, rank, num_replicas, drop_last, pad_to_multiple)?;
        let values = self.epoch_values(py, epoch)?;
        chunks(values, shard, epoch, batch_size, drop_last_batch)
    }

    /// The smallest and largest value the sampler yields.
    fn value_range(&self) -> (i64, i64) {
        self.sampler.value_range()
    }
}

/// A validated mixture of component samplers (see `episampler_core::mixture`).
#[pyclass(module = "episampler._core", frozen)]
pub struct MixtureCore {
    mixture: Arc<Mixture>,
}

#[pymethods]
impl MixtureCore {
    #[new]
    fn new(
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
        let mixture = Mixture::new(
            components,
            offsets,
            weights,
            block_size,
            samples_per_epoch,
            seed,
        )
        .map_err(value_error)?;
        Ok(MixtureCore {
            mixture: Arc::new(mixture),
        })
    }

    #[getter]
    fn fingerprint(&self) -> String {
        format!("{:016x}", self.mixture.fingerprint())
    }

    /// Slots of every component in a full block.
    #[getter]
    fn counts(&self) -> Vec<u64> {
        self.mixture.counts().to_vec()
    }

    /// Draws of every component in one mixture epoch.
    #[getter]
    fn draws_per_epoch(&self) -> Vec<u64> {
        self.mixture.draws_per_epoch().to_vec()
    }

    /// This rank's values of `epoch` from global position `start_index`, as one array.
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
        let len = self.mixture.samples_per_epoch();
        let shard = make_shard(
            len,
            start_index,
            rank,
            num_replicas,
            drop_last,
            pad_to_multiple,
        )?;
        collect(py, Box::new(self.mixture.epoch(epoch)), &shard)
    }

    /// As `SamplerCore.iter_epoch`.
    #[pyo3(signature = (epoch, start_index, rank, num_replicas, drop_last, pad_to_multiple=None, batch_size=None, drop_last_batch=false))]
    #[allow(clippy::too_many_arguments)]
    fn iter_epoch(
        &self,
        epoch: u64,
        start_index: u64,
        rank: u64,
        num_replicas: u64,
        drop_last: bool,
        pad_to_multiple: Option<u64>,
        batch_size: Option<u64>,
        drop_last_batch: bool,
    ) -> PyResult<EpochChunks> {
        let len = self.mixture.samples_per_epoch();
        let shard = make_shard(
            len,
            start_index,
            rank,
            num_replicas,
            drop_last,
            pad_to_multiple,
        )?;
        let values = Box::new(self.mixture.epoch(epoch));
        chunks(values, shard, epoch, batch_size, drop_last_batch)
    }
}

/// Weighted draws with replacement over a sampler's kept frames (see
/// `episampler_core::weighted`).
#[pyclass(module = "episampler._core", frozen)]
pub struct WeightedCore {
    draws: Arc<WeightedDraws>,
    num_samples: u64,
}

#[pymethods]
impl WeightedCore {
    #[new]
    fn new(
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
        let draws = py
            .detach(|| WeightedDraws::new(sampler, weights, per, seed))
            .map_err(value_error)?;
        Ok(WeightedCore {
            draws: Arc::new(draws),
            num_samples,
        })
    }

    #[getter]
    fn fingerprint(&self) -> String {
        format!("{:016x}", self.draws.fingerprint())
    }

    /// This rank's values of `epoch` from global position `start_index`, as one array.
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
        let shard = make_shard(
            self.num_samples,
            start_index,
            rank,
            num_replicas,
            drop_last,
            pad_to_multiple,
        )?;
        collect(py, Box::new(self.draws.epoch(epoch)), &shard)
    }

    /// As `SamplerCore.iter_epoch`.
    #[pyo3(signature = (epoch, start_index, rank, num_replicas, drop_last, pad_to_multiple=None, batch_size=None, drop_last_batch=false))]
    #[allow(clippy::too_many_arguments)]
    fn iter_epoch(
        &self,
        epoch: u64,
        start_index: u64,
        rank: u64,
        num_replicas: u64,
        drop_last: bool,
        pad_to_multiple: Option<u64>,
        batch_size: Option<u64>,
        drop_last_batch: bool,
    ) -> PyResult<EpochChunks> {
        let shard = make_shard(
            self.num_samples,
            start_index,
            rank,
            num_replicas,
            drop_last,
            pad_to_multiple,
        )?;
        let values = Box::new(self.draws.epoch(epoch));
        chunks(values, shard, epoch, batch_size, drop_last_batch)
    }
}

/// First chunk of an item iterator: small, so that the first index comes at once; chunks then
/// double up to [`MAX_CHUNK`].
const FIRST_CHUNK: u64 = 64;
const MAX_CHUNK: u64 = 8192;

enum Mode {
    /// Iterators over lists of up to `next_chunk` values, for `itertools.chain`.
    Items { next_chunk: u64 },
    /// Lists of `size` values: one batch each.
    Batches { size: u64, drop_last: bool },
}

/// One rank's values of one epoch, computed in Rust a list at a time. In item mode the Python
/// side iterates `itertools.chain.from_iterable(chunks)`, so each value costs a list
/// iterator's step with no Python or PyO3 call per value; the list iterator of the latest
/// chunk is kept to count the values actually consumed (`yielded`) for the state.
#[pyclass(module = "episampler._core")]
pub struct EpochChunks {
    values: Box<dyn EpochValues>,
    shard: Shard,
    epoch: u64,
    /// Values put in lists so far.
    handed_out: u64,
    /// True once `__next__` found nothing left to hand out.
    stopped: bool,
    mode: Mode,
    /// Item mode: the latest chunk's list iterator.
    current: Option<Py<PyAny>>,
}

impl EpochChunks {
    fn take<'py>(&mut self, py: Python<'py>, count: u64) -> PyResult<Bound<'py, PyList>> {
        let (source, shard, first) = (&mut self.values, &self.shard, self.handed_out);
        let values = py
            .detach(|| {
                let mut values = try_filled("a batch of values", count)?;
                source.fill(shard, first, &mut values)?;
                Ok(values)
            })
            .map_err(value_error)?;
        self.handed_out += count;
        PyList::new(py, values)
    }

    /// Values the consumer has taken: handed out minus what is left in the latest list.
    fn consumed(&self, py: Python<'_>) -> PyResult<u64> {
        let unread = match &self.current {
            Some(list_iterator) => list_iterator
                .bind(py)
                .call_method0("__length_hint__")?
                .extract::<u64>()?,
            None => 0,
        };
        Ok(self.handed_out - unread)
    }
}

#[pymethods]
impl EpochChunks {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&mut self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let remaining = self.shard.len() - self.handed_out;
        match self.mode {
            Mode::Items { next_chunk } => {
                if remaining == 0 {
                    self.stopped = true;
                    return Ok(None);
                }
                self.mode = Mode::Items {
                    next_chunk: (next_chunk * 2).min(MAX_CHUNK),
                };
                let list = self.take(py, remaining.min(next_chunk))?;
                let list_iterator = list.try_iter()?.into_any().unbind();
                self.current = Some(list_iterator.clone_ref(py));
                Ok(Some(list_iterator))
            }
            Mode::Batches { size, drop_last } => {
                if remaining == 0 || (drop_last && remaining < size) {
                    // A dropped short batch still ends the epoch.
                    self.handed_out = self.shard.len();
                    self.stopped = true;
                    return Ok(None);
                }
                let batch = self.take(py, remaining.min(size))?;
                if drop_last && self.shard.len() - self.handed_out < size {
                    // Nothing but a dropped short batch is left: the epoch ends with this one.
                    self.handed_out = self.shard.len();
                }
                Ok(Some(batch.into_any().unbind()))
            }
        }
    }

    #[getter]
    fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Values the consumer has taken so far.
    #[getter]
    fn yielded(&self, py: Python<'_>) -> PyResult<u64> {
        self.consumed(py)
    }

    /// True once the last value was taken, or once iteration stopped with nothing left.
    #[getter]
    fn exhausted(&self, py: Python<'_>) -> PyResult<bool> {
        Ok(self.stopped || self.consumed(py)? == self.shard.len())
    }

    /// `(epoch, start_index)` a new iterator must start from to continue right after the
    /// values taken so far.
    #[getter]
    fn resume_point(&self, py: Python<'_>) -> PyResult<(u64, u64)> {
        let consumed = self.consumed(py)?;
        Ok(if self.stopped || consumed == self.shard.len() {
            (self.epoch + 1, 0)
        } else {
            (self.epoch, self.shard.resume_point(consumed))
        })
    }
}

#[pymodule]
mod _core {
    use pyo3::prelude::*;

    #[pymodule_export]
    use super::report::io_report;
    #[pymodule_export]
    use super::{EpochChunks, MixtureCore, SamplerCore, WeightedCore};

    #[pymodule_init]
    fn init(module: &Bound<'_, PyModule>) -> PyResult<()> {
        module.add("ALGORITHM_VERSION", episampler_core::ALGORITHM_VERSION)?;
        module.add("__version__", env!("CARGO_PKG_VERSION"))?;
        Ok(())
    }
}
