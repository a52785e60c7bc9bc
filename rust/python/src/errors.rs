//! Core errors as Python exceptions: `ValueError`, `MemoryError`, `KeyboardInterrupt`.

use episampler_core::SamplerError;
use pyo3::exceptions::{PyKeyboardInterrupt, PyMemoryError, PyValueError};
use pyo3::PyErr;

pub(crate) fn value_error(error: SamplerError) -> PyErr {
    match error {
        SamplerError::Invalid(message) => PyValueError::new_err(message),
        SamplerError::OutOfMemory(message) => PyMemoryError::new_err(message),
        SamplerError::Interrupted => PyKeyboardInterrupt::new_err(()),
    }
}
