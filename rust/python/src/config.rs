//! The core's cross-option rules as functions for the Python layer, which converts the types
//! first (see `episampler_core::config`).

use episampler_core::{config, Permutation};
use pyo3::prelude::*;

use crate::errors::value_error;

/// `(streams, stream_block)` as the sampler keeps them: `(1, None)` for one stream.
#[pyfunction]
#[pyo3(signature = (streams, stream_block, windowed))]
pub fn stream_settings(
    streams: u64,
    stream_block: Option<u64>,
    windowed: bool,
) -> PyResult<(u64, Option<u64>)> {
    Ok(
        match config::stream_settings(streams, stream_block, windowed).map_err(value_error)? {
            None => (1, None),
            Some((count, block)) => (count, Some(block)),
        },
    )
}

/// `(stream_readers, stream_block)` as the sampler keeps them: `(1, None)` for one reader.
#[pyfunction]
#[pyo3(signature = (stream_readers, stream_block, windowed, permutation))]
pub fn reader_settings(
    stream_readers: u64,
    stream_block: Option<u64>,
    windowed: bool,
    permutation: &str,
) -> PyResult<(u64, Option<u64>)> {
    let permutation: Permutation = permutation.parse().map_err(value_error)?;
    let settings = config::reader_settings(stream_readers, stream_block, windowed, permutation);
    Ok(match settings.map_err(value_error)? {
        None => (1, None),
        Some((count, block)) => (count, Some(block)),
    })
}

/// `ValueError` unless `ids` group ids are one per episode of the `episodes` boundary entries.
#[pyfunction]
pub fn check_group_ids(name: &str, ids: usize, episodes: usize) -> PyResult<()> {
    config::check_group_ids(name, ids, episodes).map_err(value_error)
}
