//! `EpochChunks`: one rank's values of one epoch handed out a list at a time, for
//! `itertools.chain` (items) or as batches; counted for the resumable state.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use episampler_core::error::try_filled;
use episampler_core::{EpochValues, SamplerError, Shard};
use pyo3::exceptions::{PyRuntimeWarning, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::errors::value_error;
use crate::interrupt::{try_lock, Detached};

/// The iterators of one sampler, numbered as they are created. The newest one that has asked
/// for a chunk tells an older one still being read (two loaders reading one sampler at once,
/// which then get the same values) from one abandoned (a loop broken off and started again).
#[derive(Default)]
pub(crate) struct Readers {
    created: AtomicU64,
    newest_read: AtomicU64,
}

const READ_CONCURRENTLY: &std::ffi::CStr = c"an iterator of this sampler is read after a newer \
    one was: two loaders (or loops) reading one sampler at once each get the same values from \
    the resume point, and state_dict() follows only the newest. Give each loader its own \
    sampler.";

/// An iterator over `shard`'s values of one epoch (see [`EpochChunks`]); an order built on the
/// way (a mixture component's next epoch) is built on up to `threads` threads.
#[allow(clippy::too_many_arguments)]
pub(crate) fn chunks(
    readers: &Arc<Readers>,
    values: Box<dyn EpochValues>,
    shard: Shard,
    epoch: u64,
    batch_size: Option<u64>,
    drop_last_batch: bool,
    threads: usize,
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
        readers: Arc::clone(readers),
        number: readers.created.fetch_add(1, Ordering::Relaxed) + 1,
        warned: AtomicBool::new(false),
        shard,
        epoch,
        threads,
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
/// Safe to share between threads: `__next__` computes a chunk under the producer's lock, with
/// the GIL, except for a long build on the way (a mixture component's next epoch), which runs
/// without the GIL (a thread that finds the producer busy then waits for it without the GIL);
/// readers (`yielded`, `exhausted`, `resume_point`) only take the progress lock, held briefly
/// with the GIL and never across anything that waits, so a state read while another thread
/// iterates never fails and is a point the iterator passed through.
#[pyclass(module = "episampler._core", frozen)]
pub struct EpochChunks {
    /// The sampler's iterators, and this one's number among them.
    readers: Arc<Readers>,
    number: u64,
    /// Whether this iterator was warned about being read after a newer one.
    warned: AtomicBool,
    shard: Shard,
    epoch: u64,
    /// Threads of an order built on the way.
    threads: usize,
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

    /// The producer's lock, and whether this thread had to wait for it: then another thread
    /// held it while building an order without the GIL, and this one waited without the GIL
    /// too (waiting with it would deadlock). A forked child never waits: a lock that a parent
    /// thread held at the fork stays taken.
    fn take_producer(
        &self,
        py: Python<'_>,
    ) -> Result<(MutexGuard<'_, Producer>, bool), SamplerError> {
        if std::process::id() != self.creator {
            return try_lock(&self.producer)
                .map(|producer| (producer, false))
                .ok_or_else(|| {
                    SamplerError::invalid(
                        "this iterator was being advanced by another thread when the process \
                         forked; create a new iterator in the child",
                    )
                });
        }
        let mut waited = false;
        loop {
            if let Some(producer) = try_lock(&self.producer) {
                return Ok((producer, waited));
            }
            waited = true;
            let producer = &self.producer;
            py.detach(|| drop(producer.lock()));
        }
    }

    /// The next chunk's values, computed under the producer's lock; an order built on the way
    /// is built by `long` (without the GIL).
    fn produce(
        producer: &mut Producer,
        shard: &Shard,
        long: &mut Detached<'_>,
    ) -> Result<Step, SamplerError> {
        let remaining = shard.len() - producer.planned;
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
                    producer.planned = shard.len();
                    return Ok(Step::Done);
                }
                remaining.min(size)
            }
        };
        let mut values = try_filled("a batch of values", count)?;
        producer
            .values
            .fill_with(shard, producer.planned, &mut values, long)?;
        producer.planned += count;
        if let Mode::Batches {
            size,
            drop_last: true,
        } = producer.mode
        {
            if shard.len() - producer.planned < size {
                // Nothing but a dropped short batch is left: the epoch ends with this one.
                producer.planned = shard.len();
            }
        }
        Ok(Step::Chunk {
            values,
            planned: producer.planned,
        })
    }

    /// In item mode, after waiting for a thread that handed out a chunk meanwhile: that
    /// chunk's list iterator is the one `itertools.chain` holds, and the chain's call that
    /// waited will replace it with what this call returns. So the values left in it move to a
    /// new list iterator, returned in its place: no value is lost or given twice, and the
    /// state still counts them (`None`: no chunk was handed out meanwhile).
    fn take_over_current(&self, py: Python<'_>, handed_before: u64) -> PyResult<Option<Py<PyAny>>> {
        let mut progress = self.lock_progress();
        if progress.handed_out == handed_before {
            return Ok(None);
        }
        let Some(current) = &progress.current else {
            return Ok(None);
        };
        let rest = PyList::empty(py);
        for value in current.bind(py).try_iter()? {
            rest.append(value?)?;
        }
        let chunk = rest.try_iter()?.into_any().unbind();
        progress.current = Some(chunk.clone_ref(py));
        Ok(Some(chunk))
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
        // Before any value is produced: the warning runs Python code, which may switch threads.
        let newest = self
            .readers
            .newest_read
            .fetch_max(self.number, Ordering::Relaxed);
        if newest > self.number && !self.warned.swap(true, Ordering::Relaxed) {
            PyErr::warn(py, &py.get_type::<PyRuntimeWarning>(), READ_CONCURRENTLY, 1)?;
        }
        // Computed with the GIL held (a chunk is at most MAX_CHUNK values: tens of
        // microseconds): `itertools.chain` and the threads sharing it see each chunk handed
        // out whole, in order. Only a long build on the way (a mixture component's next
        // epoch, rare) runs without the GIL; a second thread's `next()` on the same chain
        // then waits for it and takes over the chunk it handed out (see
        // `take_over_current`).
        let handed_before = self.lock_progress().handed_out;
        let (mut producer, waited) = self.take_producer(py).map_err(value_error)?;
        if waited {
            if self.lock_progress().stopped {
                return Ok(None);
            }
            if self.items {
                if let Some(chunk) = self.take_over_current(py, handed_before)? {
                    return Ok(Some(chunk));
                }
            }
        }
        // The producer stays locked until the chunk is counted: a thread that waited for it
        // then sees this chunk as handed out.
        let mut long = Detached::new(py, self.threads);
        let step = Self::produce(&mut producer, &self.shard, &mut long);
        let (values, planned) = match step.map_err(|error| long.error(error))? {
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
