//! Long work without the GIL that Ctrl-C still stops, and locks taken without waiting.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

use episampler_core::order::RunLong;
use episampler_core::{Build, SamplerError};
use pyo3::exceptions::PyKeyboardInterrupt;
use pyo3::prelude::*;

use crate::errors::value_error;

/// The lock if it is free (a poisoned lock's data is still a valid cache), else `None`.
pub(crate) fn try_lock<T>(mutex: &Mutex<T>) -> Option<MutexGuard<'_, T>> {
    match mutex.try_lock() {
        Ok(guard) => Some(guard),
        Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    }
}

/// How often a long build looks for a pending signal (Ctrl-C): well under the 0.2 s a user
/// waits for, and rare enough to cost nothing.
const SIGNAL_CHECK_INTERVAL: Duration = Duration::from_millis(20);

/// Runs `work` without the GIL, on up to `threads` threads, checking for signals at most every
/// [`SIGNAL_CHECK_INTERVAL`] when the core polls (every `POLL_EVERY` items of work, on this
/// thread; re-taking the GIL just for the check): a signal's exception (e.g.
/// `KeyboardInterrupt`) stops it and is raised.
pub(crate) fn interruptible<T: Send>(
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

/// Long work met while reading values with the GIL held (a mixture's component build when a
/// component starts an epoch), run as [`interruptible`] runs it: without the GIL, on up to
/// `threads` threads, stopped by Ctrl-C. The exception that stopped it (a signal's, or a core
/// error's) is kept for [`Detached::error`]; the core sees [`SamplerError::Interrupted`].
pub(crate) struct Detached<'py> {
    py: Python<'py>,
    threads: usize,
    error: Option<PyErr>,
}

impl<'py> Detached<'py> {
    pub(crate) fn new(py: Python<'py>, threads: usize) -> Self {
        Detached {
            py,
            threads,
            error: None,
        }
    }

    /// The Python exception for `error`, returned by work this runner ran: the one kept.
    pub(crate) fn error(&mut self, error: SamplerError) -> PyErr {
        self.error.take().unwrap_or_else(|| value_error(error))
    }
}

impl RunLong for Detached<'_> {
    fn run_long(
        &mut self,
        work: &mut (dyn FnMut(Build<'_>) -> Result<(), SamplerError> + Send),
    ) -> Result<(), SamplerError> {
        interruptible(self.py, self.threads, work).map_err(|error| {
            self.error = Some(error);
            SamplerError::Interrupted
        })
    }
}
