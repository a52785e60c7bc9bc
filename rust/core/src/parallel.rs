//! Work split over scoped threads (never a global pool that a fork would inherit), with an
//! interruption check that the calling thread polls between units of work.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::error::SamplerError;

/// How heavy work runs: on how many threads, and a check for interruption that the calling
/// thread polls between units of work (the Python layer checks for Ctrl-C there). Results
/// never depend on the thread count.
#[derive(Clone, Copy)]
pub struct Build<'a> {
    pub threads: usize,
    pub interrupted: &'a (dyn Fn() -> bool + Sync),
}

impl Build<'static> {
    /// One thread, never interrupted.
    pub fn serial() -> Self {
        Build {
            threads: 1,
            interrupted: &|| false,
        }
    }
}

/// Runs `work(0..units)` on up to `build.threads` threads (the caller's included), each unit
/// once, results in unit order. Between units the calling thread polls `build.interrupted`;
/// once it says so, no new unit starts and [`SamplerError::Interrupted`] is returned.
pub fn run_units<R: Send>(
    units: usize,
    build: Build<'_>,
    work: impl Fn(usize) -> R + Sync,
) -> Result<Vec<R>, SamplerError> {
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let take = || {
        let unit = next.fetch_add(1, Ordering::Relaxed);
        (unit < units && !stop.load(Ordering::Relaxed)).then_some(unit)
    };
    let helpers = build.threads.clamp(1, units.max(1)) - 1;
    let mut results: Vec<(usize, R)> = Vec::with_capacity(units);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..helpers)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    while let Some(unit) = take() {
                        done.push((unit, work(unit)));
                    }
                    done
                })
            })
            .collect();
        while let Some(unit) = take() {
            results.push((unit, work(unit)));
            if (build.interrupted)() {
                stop.store(true, Ordering::Relaxed);
            }
        }
        for handle in handles {
            results.extend(handle.join().expect("a table-building thread panicked"));
        }
    });
    if stop.load(Ordering::Relaxed) {
        return Err(SamplerError::Interrupted);
    }
    results.sort_unstable_by_key(|(unit, _)| *unit);
    Ok(results.into_iter().map(|(_, result)| result).collect())
}

/// A table written from several threads at places each thread owns.
pub struct SharedSlice<T> {
    pointer: *mut T,
    len: usize,
}

// SAFETY: only used for writes to disjoint places (see the callers).
unsafe impl<T: Send> Send for SharedSlice<T> {}
unsafe impl<T: Send> Sync for SharedSlice<T> {}

impl<T> SharedSlice<T> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn new(items: &mut [T]) -> Self {
        SharedSlice {
            pointer: items.as_mut_ptr(),
            len: items.len(),
        }
    }

    /// # Safety
    /// No other thread reads or writes place `at` meanwhile.
    #[inline]
    pub unsafe fn write(&self, at: usize, value: T) {
        debug_assert!(at < self.len);
        self.pointer.add(at).write(value);
    }

    /// # Safety
    /// No other thread touches `start..end` while the slice lives.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn range(&self, start: usize, end: usize) -> &mut [T] {
        debug_assert!(start <= end && end <= self.len);
        std::slice::from_raw_parts_mut(self.pointer.add(start), end - start)
    }
}
