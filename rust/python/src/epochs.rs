//! What `epoch_indices` and `iter_epoch` do for either class (`SamplerCore`, `DrawCore`): cut
//! this rank's shard out of an epoch, then hand out its values all at once or a list at a time.

use std::sync::Arc;

use episampler_core::{EpochValues, Shard};
use numpy::PyArray1;
use pyo3::prelude::*;

use crate::chunks::{chunks, EpochChunks, Readers};
use crate::make_shard;

/// A class whose epochs `epoch_indices` and `iter_epoch` read.
pub(crate) trait EpochSource {
    /// Positions per epoch.
    fn epoch_len(&self) -> u64;

    /// The iterators created so far.
    fn readers(&self) -> &Arc<Readers>;

    /// All of `shard`'s values of `epoch` (an order to build is built, and the values computed,
    /// on up to `threads` threads).
    fn shard_values(
        &self,
        py: Python<'_>,
        epoch: u64,
        shard: &Shard,
        threads: usize,
    ) -> PyResult<Vec<i64>>;

    /// The values of `epoch`, read a slice of `shard` at a time from its start (an order to
    /// build is built, without the GIL, on up to `threads` threads).
    fn epoch_values(
        &self,
        py: Python<'_>,
        epoch: u64,
        shard: &Shard,
        threads: usize,
    ) -> PyResult<Box<dyn EpochValues>>;
}

/// `epoch_indices` of either class: this rank's values of `epoch`, as one array.
#[allow(clippy::too_many_arguments)]
pub(crate) fn epoch_indices<'py>(
    source: &impl EpochSource,
    py: Python<'py>,
    epoch: u64,
    start_index: u64,
    rank: u64,
    num_replicas: u64,
    drop_last: bool,
    pad_to_multiple: Option<u64>,
    threads: usize,
) -> PyResult<Bound<'py, PyArray1<i64>>> {
    let shard = make_shard(
        source.epoch_len(),
        start_index,
        rank,
        num_replicas,
        drop_last,
        pad_to_multiple,
    )?;
    let values = source.shard_values(py, epoch, &shard, threads)?;
    Ok(PyArray1::from_vec(py, values))
}

/// `iter_epoch` of either class: this rank's values of `epoch`, a list at a time (see
/// [`EpochChunks`]).
#[allow(clippy::too_many_arguments)]
pub(crate) fn iter_epoch(
    source: &impl EpochSource,
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
    let shard = make_shard(
        source.epoch_len(),
        start_index,
        rank,
        num_replicas,
        drop_last,
        pad_to_multiple,
    )?;
    let values = source.epoch_values(py, epoch, &shard, threads)?;
    chunks(
        source.readers(),
        values,
        shard,
        epoch,
        batch_size,
        drop_last_batch,
        threads,
    )
}
