//! `io_report`: the quality and I/O report of a sampler's epoch order (see
//! `episampler_core::report`), as a dict for `episampler.inspect`.

use episampler_core::report::{self, GroupLayout, ReadSetup};
use numpy::PyReadonlyArray1;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::{value_error, SamplerCore};

/// The report of `core`'s order of `epoch`, read from its start as this rank's shard, by
/// `num_workers` DataLoader workers (0: the main process) in batches of `batch_size`, each with an
/// LRU of `decoder_cache_size` decoders (None: unbounded), a sample needing
/// `decoders_per_group` decoders of its group. `groups`: one id per episode of the boundary
/// arrays (None: each episode its own group). The order is the one the core caches for
/// iteration; the computation runs without the GIL.
#[pyfunction]
#[pyo3(signature = (core, groups, epoch, batch_size, num_workers, decoder_cache_size, decoders_per_group, rank=0, num_replicas=1, drop_last=false, pad_to_multiple=None, span_batches=1))]
#[allow(clippy::too_many_arguments)]
pub fn io_report<'py>(
    py: Python<'py>,
    core: &Bound<'py, SamplerCore>,
    groups: Option<PyReadonlyArray1<'py, i64>>,
    epoch: u64,
    batch_size: u64,
    num_workers: u64,
    decoder_cache_size: Option<u64>,
    decoders_per_group: u64,
    rank: u64,
    num_replicas: u64,
    drop_last: bool,
    pad_to_multiple: Option<u64>,
    span_batches: u64,
) -> PyResult<Bound<'py, PyDict>> {
    let core = core.get();
    let shard = core.shard(0, rank, num_replicas, drop_last, pad_to_multiple)?;
    let order = core.order(py, epoch, 1)?;
    let sampler = &core.sampler;
    let groups = match &groups {
        Some(ids) => Some(ids.as_slice()?),
        None => None,
    };
    let setup = ReadSetup {
        batch_size,
        num_workers,
        cache_size: decoder_cache_size.unwrap_or(u64::MAX),
        decoders_per_group,
        span_batches,
    };
    let report = py
        .detach(|| {
            let layout = match groups {
                Some(ids) => GroupLayout::from_ids(sampler.index(), ids)?,
                None => GroupLayout::per_episode(sampler.index()),
            };
            report::io_report(sampler, &order, &shard, &layout, &setup)
        })
        .map_err(value_error)?;
    let out = PyDict::new(py);
    out.set_item("num_samples", report.num_samples)?;
    out.set_item("num_batches", report.num_batches)?;
    out.set_item("num_groups", report.num_groups)?;
    out.set_item("mean_episodes_per_batch", report.mean_episodes_per_batch)?;
    out.set_item("mean_groups_per_batch", report.mean_groups_per_batch)?;
    out.set_item("num_spans", report.num_spans)?;
    out.set_item("mean_episodes_per_span", report.mean_episodes_per_span)?;
    out.set_item("mean_groups_per_span", report.mean_groups_per_span)?;
    out.set_item("decoder_opens", report.decoder_opens)?;
    out.set_item("cold_opens", report.cold_opens)?;
    out.set_item("worker_opens", report.worker_opens)?;
    out.set_item("worker_samples", report.worker_samples)?;
    out.set_item("worker_groups", report.worker_groups)?;
    out.set_item("opens_per_1000_samples", report.opens_per_1000_samples)?;
    out.set_item("mean_displacement", report.mean_displacement)?;
    out.set_item("needed_cache_size", report.needed_cache_size)?;
    Ok(out)
}
