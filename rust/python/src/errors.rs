//! Core errors as Python exceptions: `ValueError` (and its typed case `NoSlotError`),
//! `MemoryError`, `KeyboardInterrupt`.

use episampler_core::SamplerError;
use pyo3::exceptions::{PyKeyboardInterrupt, PyMemoryError, PyValueError};
use pyo3::PyErr;

pyo3::create_exception!(
    episampler._core,
    NoSlotError,
    PyValueError,
    "A mixture's block gives a component of positive weight no slot; args: (message, component)."
);

pub(crate) fn value_error(error: SamplerError) -> PyErr {
    match error {
        SamplerError::Invalid(message) => PyValueError::new_err(message),
        SamplerError::NoSlot { component, message } => NoSlotError::new_err((message, component)),
        SamplerError::OutOfMemory(message) => PyMemoryError::new_err(message),
        SamplerError::Interrupted => PyKeyboardInterrupt::new_err(()),
    }
}
