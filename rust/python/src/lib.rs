//! Thin PyO3 glue over `episampler-core`: argument conversion, GIL release around heavy work,
//! numpy arrays in and out, and core errors turned into `ValueError`s. No sampling logic here.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

use episampler_core::error::try_filled;
use episampler_core::index::EpisodeSpec;
use episampler_core::{
    Build, EpisodeIndex, EpochOrder, EpochValues, Mixture, Per, Permutation, Remap, Sampler,
    SamplerEpoch, SamplerError, Shard, Units, WeightedDraws, WindowSpec,
};
use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::exceptions::{PyKeyboardInterrupt, PyMemoryError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyList;

mod report;

fn value_error(error: SamplerError) -> PyErr {
    match error {
        SamplerError::Invalid(message) => PyValueError::new_err(message),
        SamplerError::OutOfMemory(message) => PyMemoryError::new_err(message),
        SamplerError::Interrupted => PyKeyboardInterrupt::new_err(()),
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

    fn epoch_values(
        &self,
        py: Python<'_>,
        epoch: u64,
        threads: usize,
    ) -> PyResult<Box<dyn EpochValues>> {
        Ok(Box::new(SamplerEpoch {
            sampler: Arc::clone(&self.sampler),
            order: self.order(py, epoch, threads)?,
        }))
    }

    /// The order of `epoch`, from the cache or built (interruptibly, on `threads` threads).
    /// The cache's lock is only ever taken without waiting and never held across a build: a
    /// busy lock, or one a fork left locked in a child, costs the cache and never blocks.
    fn order(&self, py: Python<'_>, epoch: u64, threads: usize) -> PyResult<Arc<EpochOrder>> {
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

/// The lock if it is free (a poisoned lock's data is still a valid cache), else `None`.
fn try_lock<T>(mutex: &Mutex<T>) -> Option<MutexGuard<'_, T>> {
    match mutex.try_lock() {
        Ok(guard) => Some(guard),
        Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    }
}

/// How often a long build looks for a pending signal (Ctrl-C): well under the 0.2 s a user
/// waits for, and rare enough to cost nothing.
const SIGNAL_CHECK_INTERVAL: Duration = Duration::from_millis(20);

/// Runs `work` without the GIL, on up to `threads` threads, checking for signals every
/// [`SIGNAL_CHECK_INTERVAL`] between its units (re-taking the GIL just for the check): a
/// signal's exception (e.g. `KeyboardInterrupt`) stops it and is raised.
fn interruptible<T: Send>(
    py: Python<'_>,
    threads: usize,
    work: impl FnOnce(Build<'_>) -> Result<T, SamplerError> + Send,
) -> PyResult<T> {
    let pending: Mutex<Option<PyErr>> = Mutex::new(None);
    let start = Instant::now();
    let next_check = AtomicU64::new(SIGNAL_CHECK_INTERVAL.as_nanos() as u64);
    let interrupted = || {
        let now = start.elapsed().as_nanos() as u64;
        if now < next_check.load(Ordering::Relaxed) {
            return false;
        }
        next_check.store(
            now + SIGNAL_CHECK_INTERVAL.as_nanos() as u64,
            Ordering::Relaxed,
        );
        Python::attach(|py| match py.check_signals() {
            Ok(()) => false,
            Err(error) => {
                *pending.lock().unwrap_or_else(|e| e.into_inner()) = Some(error);
                true
            }
        })
    };
    let build = Build {
        threads: threads.max(1),
        interrupted: &interrupted,
    };
    match py.detach(|| work(build)) {
        Err(SamplerError::Interrupted) => Err(pending
            .into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .unwrap_or_else(|| PyKeyboardInterrupt::new_err(()))),
        result => result.map_err(value_error),
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
        shard,
        epoch,
        items: matches!(mode, Mode::Items { .. }),
        producer: Mutex::new(Producer {
            values,
            mode,
            planned: 0,
        }),
        progress: Mutex::new(Progress {
            handed_out: 0,
            stopped: false,
            current: None,
        }),
        creator: std::process::id(),
    })
}

#[pymethods]
impl SamplerCore {
    #[new]
    #[pyo3(signature = (from_indices, to_indices, episode_indices_to_use, drop_n_first_frames, drop_n_last_frames, shuffle, seed, permutation, window=None, episode_groups=None, streams=1, stream_block=None))]
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
                        let spec = WindowSpec::new(window, units)?;
                        Some(Arc::new(spec.with_streams(streams, stream_block)?))
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
        let shard = self.shard(start_index, rank, num_replicas, drop_last, pad_to_multiple)?;
        let order = self.order(py, epoch, threads)?;
        let mut out = try_filled("the epoch's values", shard.len()).map_err(value_error)?;
        let sampler = &self.sampler;
        interruptible(py, threads, |build| {
            sampler.fill_parallel(&order, &shard, &mut out, build)
        })?;
        Ok(PyArray1::from_vec(py, out))
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
        let shard = self.shard(start_index, rank, num_replicas, drop_last, pad_to_multiple)?;
        let values = self.epoch_values(py, epoch, threads)?;
        chunks(values, shard, epoch, batch_size, drop_last_batch)
    }

    /// The smallest and largest value the sampler yields.
    fn value_range(&self) -> (i64, i64) {
        self.sampler.value_range()
    }
}

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
}

impl DrawCore {
    /// Positions per epoch.
    fn len(&self) -> u64 {
        match &self.draws {
            Draws::Mixture(mixture) => mixture.samples_per_epoch(),
            Draws::Weighted { num_samples, .. } => *num_samples,
        }
    }

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

#[pymethods]
impl DrawCore {
    /// A mixture of `components` (each a `SamplerCore`) at `offsets`, in proportions `weights`.
    #[staticmethod]
    fn mixture_of(
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
        let mixture = Mixture::new(
            components,
            offsets,
            weights.as_slice()?,
            block_size,
            samples_per_epoch,
            seed,
        )
        .map_err(value_error)?;
        Ok(DrawCore {
            draws: Draws::Mixture(Arc::new(mixture)),
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
        let draws = py
            .detach(|| WeightedDraws::new(sampler, weights, per, seed))
            .map_err(value_error)?;
        Ok(DrawCore {
            draws: Draws::Weighted {
                draws: Arc::new(draws),
                num_samples,
            },
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
    /// (`threads` is accepted for a call common with `SamplerCore`: draws need no build).
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
        let _ = threads;
        let len = self.len();
        let shard = make_shard(
            len,
            start_index,
            rank,
            num_replicas,
            drop_last,
            pad_to_multiple,
        )?;
        collect(py, self.values(epoch), &shard)
    }

    /// As `SamplerCore.iter_epoch`.
    #[pyo3(signature = (epoch, start_index, rank, num_replicas, drop_last, pad_to_multiple=None, batch_size=None, drop_last_batch=false, threads=1))]
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
        threads: usize,
    ) -> PyResult<EpochChunks> {
        let _ = threads;
        let len = self.len();
        let shard = make_shard(
            len,
            start_index,
            rank,
            num_replicas,
            drop_last,
            pad_to_multiple,
        )?;
        chunks(
            self.values(epoch),
            shard,
            epoch,
            batch_size,
            drop_last_batch,
        )
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
///
/// Safe to share between threads: `__next__` computes a chunk under the producer's lock;
/// readers (`yielded`, `exhausted`, `resume_point`) only take the progress lock. Both are held
/// briefly, with the GIL, and never across anything that waits, so a state read while another
/// thread iterates never fails and is a point the iterator passed through.
#[pyclass(module = "episampler._core", frozen)]
pub struct EpochChunks {
    shard: Shard,
    epoch: u64,
    /// Item mode (list iterators, counted for the state) or batch mode (lists).
    items: bool,
    producer: Mutex<Producer>,
    progress: Mutex<Progress>,
    /// The process that created the iterator: a forked child must not wait on a lock that a
    /// thread of its parent held at the fork.
    creator: u32,
}

/// What `__next__` needs to compute the next chunk.
struct Producer {
    values: Box<dyn EpochValues>,
    mode: Mode,
    /// Values put in lists so far (or skipped by a dropped short batch).
    planned: u64,
}

/// What readers see.
struct Progress {
    /// Values handed out in lists so far.
    handed_out: u64,
    /// True once `__next__` found nothing left to hand out.
    stopped: bool,
    /// Item mode: the latest chunk's list iterator.
    current: Option<Py<PyAny>>,
}

/// What one `__next__` produced.
enum Step {
    Chunk { values: Vec<i64>, planned: u64 },
    Done,
}

impl EpochChunks {
    fn lock_progress(&self) -> MutexGuard<'_, Progress> {
        // Held only with the GIL (or the thread state) for a few operations that never block.
        self.progress.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next chunk's values, computed under the producer's lock.
    fn produce(&self) -> Result<Step, SamplerError> {
        let mut producer = if std::process::id() == self.creator {
            self.producer.lock().unwrap_or_else(|e| e.into_inner())
        } else {
            try_lock(&self.producer).ok_or_else(|| {
                SamplerError::invalid(
                    "this iterator was being advanced by another thread when the process \
                     forked; create a new iterator in the child",
                )
            })?
        };
        let producer = &mut *producer;
        let remaining = self.shard.len() - producer.planned;
        let count = match producer.mode {
            Mode::Items { next_chunk } => {
                if remaining == 0 {
                    return Ok(Step::Done);
                }
                producer.mode = Mode::Items {
                    next_chunk: (next_chunk * 2).min(MAX_CHUNK),
                };
                remaining.min(next_chunk)
            }
            Mode::Batches { size, drop_last } => {
                if remaining == 0 || (drop_last && remaining < size) {
                    // A dropped short batch still ends the epoch.
                    producer.planned = self.shard.len();
                    return Ok(Step::Done);
                }
                remaining.min(size)
            }
        };
        let mut values = try_filled("a batch of values", count)?;
        producer
            .values
            .fill(&self.shard, producer.planned, &mut values)?;
        producer.planned += count;
        if let Mode::Batches {
            size,
            drop_last: true,
        } = producer.mode
        {
            if self.shard.len() - producer.planned < size {
                // Nothing but a dropped short batch is left: the epoch ends with this one.
                producer.planned = self.shard.len();
            }
        }
        Ok(Step::Chunk {
            values,
            planned: producer.planned,
        })
    }

    /// Values the consumer has taken: handed out minus what is left in the latest list.
    fn consumed(&self, py: Python<'_>, progress: &Progress) -> PyResult<u64> {
        let unread = match &progress.current {
            Some(list_iterator) => list_iterator
                .bind(py)
                .call_method0("__length_hint__")?
                .extract::<u64>()?,
            None => 0,
        };
        Ok(progress.handed_out - unread)
    }
}

#[pymethods]
impl EpochChunks {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        // Computed with the GIL held (a chunk is at most MAX_CHUNK values: tens of
        // microseconds): `itertools.chain` and the threads sharing it see each chunk handed
        // out whole, in order. Releasing the GIL here would let a second thread's `next()` on
        // the same chain fetch a chunk that the first thread's then replaces.
        let step = self.produce().map_err(value_error)?;
        let (values, planned) = match step {
            Step::Chunk { values, planned } => (values, planned),
            Step::Done => {
                // Everything was handed out (or skipped as a dropped short batch).
                let mut progress = self.lock_progress();
                progress.handed_out = self.shard.len();
                progress.stopped = true;
                return Ok(None);
            }
        };
        let list = PyList::new(py, values)?;
        let chunk = if self.items {
            list.try_iter()?.into_any().unbind()
        } else {
            list.into_any().unbind()
        };
        let mut progress = self.lock_progress();
        // Two threads advancing one iterator: the later chunk's progress wins.
        if planned > progress.handed_out {
            progress.handed_out = planned;
            if self.items {
                progress.current = Some(chunk.clone_ref(py));
            }
        }
        Ok(Some(chunk))
    }

    #[getter]
    fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Values the consumer has taken so far.
    #[getter]
    fn yielded(&self, py: Python<'_>) -> PyResult<u64> {
        let progress = self.lock_progress();
        self.consumed(py, &progress)
    }

    /// True once the last value was taken, or once iteration stopped with nothing left.
    #[getter]
    fn exhausted(&self, py: Python<'_>) -> PyResult<bool> {
        let progress = self.lock_progress();
        Ok(progress.stopped || self.consumed(py, &progress)? == self.shard.len())
    }

    /// `(epoch, start_index)` a new iterator must start from to continue right after the
    /// values taken so far (read at one instant: consistent while another thread iterates).
    #[getter]
    fn resume_point(&self, py: Python<'_>) -> PyResult<(u64, u64)> {
        let progress = self.lock_progress();
        let consumed = self.consumed(py, &progress)?;
        Ok(if progress.stopped || consumed == self.shard.len() {
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
    use super::{DrawCore, EpochChunks, SamplerCore};

    #[pymodule_init]
    fn init(module: &Bound<'_, PyModule>) -> PyResult<()> {
        module.add("ALGORITHM_VERSION", episampler_core::ALGORITHM_VERSION)?;
        module.add("__version__", env!("CARGO_PKG_VERSION"))?;
        Ok(())
    }
}
