//! Every option's names, limits and cross-option rules, written once. The orders check their
//! inputs through these; the glue exports the names and limits to Python, whose layer only
//! converts types (an int, a 1-D array) and reads the limits from here. Messages are the ones
//! users see.

use crate::error::SamplerError;
use crate::order::Permutation;

/// Every permutation, in the order the documentation lists them.
pub const PERMUTATIONS: [Permutation; 2] = [Permutation::Uniform, Permutation::Feistel];

/// Streams of windows (one per DataLoader worker and process): far more than on any machine.
pub const MAX_STREAMS: u64 = 1 << 16;

/// DataLoader workers the I/O report models: one stream each.
pub const MAX_WORKERS: u64 = MAX_STREAMS;

/// Positions per mixture block: counts per component stay exact in `u32`-sized tables.
pub const MAX_BLOCK_SIZE: u64 = 1 << 32;

/// Threads an epoch's build may use.
pub const MAX_THREADS: u64 = 1 << 16;

/// `streams` and `stream_block` of a configuration: `None` for one stream (its order is the
/// windowed order, `stream_block` ignored), else `(streams, stream_block)`. Several streams deal
/// the windowed order's units, so they need a window and a block.
pub fn stream_settings(
    streams: u64,
    stream_block: Option<u64>,
    windowed: bool,
) -> Result<Option<(u64, u64)>, SamplerError> {
    let why = "streams deal the windowed order's units to DataLoader workers";
    let Some(count) = several("streams", streams, windowed, why)? else {
        return Ok(None);
    };
    let block = "the DataLoader's batch size times the data-parallel size; stream_settings() \
                 computes both";
    Ok(Some((
        count,
        block_for("streams", count, stream_block, block)?,
    )))
}

/// `stream_readers` of a configuration: `None` for one reader per stream (the order without
/// it, bit for bit), else `(readers, stream_block)`. Readers split every window's frames by
/// blocks of `stream_block` positions, so they need a window and a block; only `"uniform"`
/// windows (a table per epoch) can place runs of frames.
pub fn reader_settings(
    readers: u64,
    stream_block: Option<u64>,
    windowed: bool,
    permutation: Permutation,
) -> Result<Option<(u64, u64)>, SamplerError> {
    let why = "readers split a stream's windows";
    let Some(count) = several("stream_readers", readers, windowed, why)? else {
        return Ok(None);
    };
    if permutation != Permutation::Uniform {
        return Err(SamplerError::invalid(format!(
            "stream_readers={count} needs permutation='uniform', got '{}' (only a table \
             places runs of frames)",
            permutation.name()
        )));
    }
    let block = "the positions a reader reads per turn: the DataLoader's batch size";
    Ok(Some((
        count,
        block_for("stream_readers", count, stream_block, block)?,
    )))
}

/// The rules `streams` and `stream_readers` share: `None` for 1, else the count, at most
/// [`MAX_STREAMS`] and only with a window (`why`: what the count does with it).
fn several(name: &str, count: u64, windowed: bool, why: &str) -> Result<Option<u64>, SamplerError> {
    match count {
        0 => Err(SamplerError::invalid(format!("{name} must be >= 1, got 0"))),
        1 => Ok(None),
        _ if count > MAX_STREAMS => Err(SamplerError::invalid(format!(
            "{name} must be <= {MAX_STREAMS}, got {count}"
        ))),
        _ if !windowed => Err(SamplerError::invalid(format!(
            "{name}={count} needs window=N ({why}); pass window, or {name}=1"
        ))),
        _ => Ok(Some(count)),
    }
}

/// The `stream_block` that `name=count` needs (`what`: what the block is).
fn block_for(name: &str, count: u64, block: Option<u64>, what: &str) -> Result<u64, SamplerError> {
    match block {
        None => Err(SamplerError::invalid(format!(
            "{name}={count} needs stream_block ({what})"
        ))),
        Some(0) => Err(SamplerError::invalid("stream_block must be >= 1, got 0")),
        Some(block) => Ok(block),
    }
}

/// Group ids (`name`: the argument's name) come one per episode of the boundary arrays.
pub fn check_group_ids(name: &str, ids: usize, episodes: usize) -> Result<(), SamplerError> {
    if ids == episodes {
        return Ok(());
    }
    Err(SamplerError::invalid(format!(
        "{name} must hold one id per episode of the boundary arrays ({episodes}), got {ids}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_stream_ignores_its_block_and_more_need_a_window_and_a_block() {
        assert_eq!(stream_settings(1, None, false), Ok(None));
        assert_eq!(stream_settings(1, Some(0), true), Ok(None));
        assert_eq!(stream_settings(4, Some(64), true), Ok(Some((4, 64))));
        let error = |s, b, w| stream_settings(s, b, w).unwrap_err().to_string();
        assert_eq!(error(0, None, true), "streams must be >= 1, got 0");
        assert!(error(MAX_STREAMS + 1, Some(1), true).starts_with("streams must be <= 65536"));
        assert!(error(2, Some(8), false).starts_with("streams=2 needs window=N"));
        assert!(error(2, None, true).starts_with("streams=2 needs stream_block"));
        assert_eq!(error(2, Some(0), true), "stream_block must be >= 1, got 0");
    }

    #[test]
    fn one_reader_changes_nothing_and_more_need_a_uniform_window_and_a_block() {
        let uniform = Permutation::Uniform;
        assert_eq!(
            reader_settings(1, None, false, Permutation::Feistel),
            Ok(None)
        );
        assert_eq!(
            reader_settings(2, Some(64), true, uniform),
            Ok(Some((2, 64)))
        );
        let error = |r, b, w, p| reader_settings(r, b, w, p).unwrap_err().to_string();
        assert_eq!(
            error(0, None, true, uniform),
            "stream_readers must be >= 1, got 0"
        );
        assert!(error(MAX_STREAMS + 1, Some(1), true, uniform)
            .starts_with("stream_readers must be <= 65536"));
        assert!(error(2, Some(8), false, uniform).starts_with("stream_readers=2 needs window=N"));
        assert!(error(2, Some(8), true, Permutation::Feistel)
            .starts_with("stream_readers=2 needs permutation='uniform', got 'feistel'"));
        assert!(error(3, None, true, uniform).starts_with("stream_readers=3 needs stream_block"));
        assert_eq!(
            error(2, Some(0), true, uniform),
            "stream_block must be >= 1, got 0"
        );
    }

    #[test]
    fn group_ids_come_one_per_boundary_episode() {
        assert_eq!(check_group_ids("groups", 3, 3), Ok(()));
        assert_eq!(
            check_group_ids("episode_groups", 2, 3)
                .unwrap_err()
                .to_string(),
            "episode_groups must hold one id per episode of the boundary arrays (3), got 2"
        );
    }

    #[test]
    fn every_permutation_is_listed_once_and_parses_from_its_name() {
        for permutation in PERMUTATIONS {
            assert_eq!(permutation.name().parse::<Permutation>(), Ok(permutation));
        }
        assert_ne!(PERMUTATIONS[0], PERMUTATIONS[1]);
    }
}
