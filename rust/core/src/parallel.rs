//! Work split over scoped threads (never a global pool that a fork would inherit), with an
//! interruption check that the calling thread polls every [`POLL_EVERY`] items of work.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use crate::error::SamplerError;

/// Items of long work (indices scattered, entries swapped, values computed) between two polls
/// of the interruption check: well under a millisecond of work, so that Ctrl-C is honoured
/// promptly on a slow, loaded machine, and rare enough that the poll costs nothing measurable.
pub const POLL_EVERY: usize = 1 << 16;

/// How long the calling thread, out of units, sleeps between polls while helpers finish theirs.
const HELPER_WAIT: Duration = Duration::from_millis(2);

/// How heavy work runs: on how many threads, and a check for interruption that the calling
/// thread polls every [`POLL_EVERY`] items of work (the Python layer checks for Ctrl-C there;
/// it must be cheap and is only ever called on the calling thread). Results never depend on the
/// thread count.
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

impl Build<'_> {
    /// [`SamplerError::Interrupted`] once the interruption check says so (calling thread only).
    #[inline]
    pub fn check(&self) -> Result<(), SamplerError> {
        if (self.interrupted)() {
            Err(SamplerError::Interrupted)
        } else {
            Ok(())
        }
    }

    /// `range` cut into consecutive pieces of at most [`POLL_EVERY`], the interruption check
    /// polled before each (calling thread only): an `Err` ends them.
    pub fn pieces(
        &self,
        range: Range<usize>,
    ) -> impl Iterator<Item = Result<Range<usize>, SamplerError>> + '_ {
        let mut start = range.start;
        std::iter::from_fn(move || {
            if start >= range.end {
                return None;
            }
            if let Err(error) = self.check() {
                start = range.end;
                return Some(Err(error));
            }
            let end = range.end.min(start.saturating_add(POLL_EVERY));
            let piece = start..end;
            start = end;
            Some(Ok(piece))
        })
    }

    /// `step(i)` for every `i` of `range`, in order, polling the interruption check every
    /// [`POLL_EVERY`] steps (calling thread only).
    #[inline]
    pub fn for_each(
        &self,
        range: Range<usize>,
        mut step: impl FnMut(usize),
    ) -> Result<(), SamplerError> {
        let mut start = range.start;
        while start < range.end {
            self.check()?;
            let end = range.end.min(start.saturating_add(POLL_EVERY));
            for i in start..end {
                step(i);
            }
            start = end;
        }
        Ok(())
    }

    /// `step(i)` for every `i` of `range` from the top down (Fisher–Yates' order), polling as
    /// [`Build::for_each`] does.
    #[inline]
    pub fn for_each_rev(
        &self,
        range: Range<usize>,
        mut step: impl FnMut(usize),
    ) -> Result<(), SamplerError> {
        let mut end = range.end;
        while end > range.start {
            self.check()?;
            let start = range.start.max(end.saturating_sub(POLL_EVERY));
            for i in (start..end).rev() {
                step(i);
            }
            end = start;
        }
        Ok(())
    }
}

/// Counts the items of work that a loop on the calling thread has done and polls the
/// interruption check once every [`POLL_EVERY`] of them: for loops whose steps differ in size
/// (an episode's frames, a window), where a poll per step would cost too much.
pub struct Ticks<'a> {
    build: Build<'a>,
    left: usize,
}

impl Build<'_> {
    /// A fresh count of items (see [`Ticks`]).
    pub fn ticks(&self) -> Ticks<'_> {
        Ticks {
            build: *self,
            left: POLL_EVERY,
        }
    }
}

impl Ticks<'_> {
    /// `items` more done: polls the check when they complete [`POLL_EVERY`] since the last poll.
    #[inline]
    pub fn add(&mut self, items: usize) -> Result<(), SamplerError> {
        if items < self.left {
            self.left -= items;
            return Ok(());
        }
        self.left = POLL_EVERY;
        self.build.check()
    }
}

/// What a unit of [`run_units`] polls every [`POLL_EVERY`] items of its work, to stop early
/// once the build is interrupted: on the calling thread it asks the interruption check (and
/// tells the helpers), on a helper it reads the flag the calling thread sets.
pub struct Poll<'a> {
    stop: &'a AtomicBool,
    interrupted: Option<&'a (dyn Fn() -> bool + Sync)>,
}

impl Poll<'static> {
    /// A poll that never says to stop.
    pub fn never() -> Self {
        static NEVER: AtomicBool = AtomicBool::new(false);
        Poll {
            stop: &NEVER,
            interrupted: None,
        }
    }
}

impl Poll<'_> {
    /// Whether to stop: the unit's result is then thrown away.
    #[inline]
    pub fn stopped(&self) -> bool {
        if self.stop.load(Ordering::Relaxed) {
            return true;
        }
        match self.interrupted {
            Some(interrupted) if interrupted() => {
                self.stop.store(true, Ordering::Relaxed);
                true
            }
            _ => false,
        }
    }
}

/// Runs `work(0..units)` on up to `build.threads` threads (the caller's included), each unit
/// once, results in unit order. Units poll the [`Poll`] they are given every [`POLL_EVERY`]
/// items; the calling thread also polls between units, and while it waits for the helpers'
/// last units. Once interrupted, no new unit starts, running ones stop at their next poll, and
/// [`SamplerError::Interrupted`] is returned.
pub fn run_units<R: Send>(
    units: usize,
    build: Build<'_>,
    work: impl Fn(usize, &Poll<'_>) -> R + Sync,
) -> Result<Vec<R>, SamplerError> {
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let take = || {
        let unit = next.fetch_add(1, Ordering::Relaxed);
        (unit < units && !stop.load(Ordering::Relaxed)).then_some(unit)
    };
    let caller = Poll {
        stop: &stop,
        interrupted: Some(build.interrupted),
    };
    let helper = Poll {
        stop: &stop,
        interrupted: None,
    };
    let helpers = build.threads.clamp(1, units.max(1)) - 1;
    let finished = AtomicUsize::new(0);
    let mut results: Vec<(usize, R)> = Vec::with_capacity(units);
    std::thread::scope(|scope| {
        let calling_thread = std::thread::current();
        let handles: Vec<_> = (0..helpers)
            .map(|_| {
                let calling_thread = calling_thread.clone();
                let (take, work, helper, finished) = (&take, &work, &helper, &finished);
                scope.spawn(move || {
                    let mut done = Vec::new();
                    while let Some(unit) = take() {
                        done.push((unit, work(unit, helper)));
                    }
                    finished.fetch_add(1, Ordering::Release);
                    calling_thread.unpark();
                    done
                })
            })
            .collect();
        while let Some(unit) = take() {
            results.push((unit, work(unit, &caller)));
            caller.stopped();
        }
        // A helper's last unit may be long: keep polling until every helper is done.
        while finished.load(Ordering::Acquire) < helpers {
            caller.stopped();
            std::thread::park_timeout(HELPER_WAIT);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polled_loops_visit_every_index_in_order() {
        let build = Build::serial();
        for len in [0usize, 1, POLL_EVERY - 1, POLL_EVERY, 3 * POLL_EVERY + 5] {
            let mut seen = Vec::new();
            build.for_each(2..len + 2, |i| seen.push(i)).unwrap();
            assert_eq!(seen, (2..len + 2).collect::<Vec<_>>());
            seen.clear();
            build.for_each_rev(1..len + 1, |i| seen.push(i)).unwrap();
            assert_eq!(seen, (1..len + 1).rev().collect::<Vec<_>>());
        }
    }

    #[test]
    fn polled_loops_stop_at_the_poll_that_says_so() {
        let polls = AtomicUsize::new(0);
        let interrupted = || polls.fetch_add(1, Ordering::Relaxed) >= 2;
        let build = Build {
            threads: 1,
            interrupted: &interrupted,
        };
        let mut steps = 0;
        let result = build.for_each(0..10 * POLL_EVERY, |_| steps += 1);
        assert_eq!(result, Err(SamplerError::Interrupted));
        assert_eq!(steps, 2 * POLL_EVERY);
    }

    #[test]
    fn helpers_stop_inside_a_long_unit_once_the_caller_is_interrupted() {
        // One short unit for the caller, one endless-looking unit for the helper: the caller
        // polls while it waits, and the helper's unit sees the flag.
        let interrupted = || true;
        let build = Build {
            threads: 2,
            interrupted: &interrupted,
        };
        let result = run_units(2, build, |unit, poll| {
            if unit == 0 {
                return 0;
            }
            let mut spins = 0u64;
            while !poll.stopped() {
                spins += 1;
                std::thread::yield_now();
            }
            spins
        });
        assert_eq!(result, Err(SamplerError::Interrupted));
    }
}
