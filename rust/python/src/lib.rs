//! Thin PyO3 glue over `episampler-core`: argument conversion, GIL release around heavy work,
//! numpy arrays in and out, and core errors turned into `ValueError`s. No sampling logic here.
//!
//! By concern: `SamplerCore` (a sampler configuration and its epoch-order cache) in [`sampler`],
//! `DrawCore` (mixtures and weighted draws) in [`draws`], `EpochChunks` (an epoch handed out a
//! list at a time) in [`chunks`], the `epoch_indices` / `iter_epoch` both classes share in
//! [`epochs`], `io_report` in [`report`]; core errors as Python exceptions in [`errors`], long
//! work that Ctrl-C stops in [`interrupt`].

use episampler_core::Shard;
use pyo3::prelude::*;

mod chunks;
mod config;
mod draws;
mod epochs;
mod errors;
mod interrupt;
mod report;
mod sampler;

use chunks::EpochChunks;
use draws::DrawCore;
use errors::value_error;
use sampler::SamplerCore;

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

#[pymodule]
mod _core {
    use pyo3::prelude::*;

    #[pymodule_export]
    use super::report::io_report;
    #[pymodule_export]
    use super::{DrawCore, EpochChunks, SamplerCore};

    #[pymodule_export]
    use super::config::{check_group_ids, reader_settings, stream_settings};

    #[pymodule_init]
    fn init(module: &Bound<'_, PyModule>) -> PyResult<()> {
        use episampler_core::config;

        module.add("ALGORITHM_VERSION", episampler_core::ALGORITHM_VERSION)?;
        module.add("__version__", env!("CARGO_PKG_VERSION"))?;
        // The names and limits of the options, from the one place they are written.
        let names: Vec<&str> = config::PERMUTATIONS.iter().map(|p| p.name()).collect();
        module.add(
            "PERMUTATIONS",
            pyo3::types::PyTuple::new(module.py(), names)?,
        )?;
        module.add("MAX_STREAMS", config::MAX_STREAMS)?;
        module.add("READER_RUN", episampler_core::windowed::READER_RUN)?;
        module.add("MAX_WORKERS", config::MAX_WORKERS)?;
        module.add("MAX_BLOCK_SIZE", config::MAX_BLOCK_SIZE)?;
        module.add("MAX_THREADS", config::MAX_THREADS)?;
        let py = module.py();
        module.add("NoSlotError", py.get_type::<super::errors::NoSlotError>())?;
        Ok(())
    }
}
