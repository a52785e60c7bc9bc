use std::fmt;

/// Every way a sampler configuration can be rejected. Messages name the argument and the first
/// offending value so the Python layer can pass them through unchanged as `ValueError`s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SamplerError {
    Invalid(String),
    /// A mixture's block gives a component of positive weight no slot (`component`: its index),
    /// a typed case of `Invalid` so that the Python layer can advise without parsing text.
    NoSlot {
        component: usize,
        message: String,
    },
    /// An epoch's table or values do not fit in memory (the Python layer raises `MemoryError`).
    OutOfMemory(String),
    /// The caller's interruption check said stop (the Python layer re-raises the pending
    /// signal's exception, e.g. `KeyboardInterrupt`).
    Interrupted,
}

impl SamplerError {
    pub fn invalid(message: impl Into<String>) -> Self {
        SamplerError::Invalid(message.into())
    }

    pub fn out_of_memory(what: &str, count: u64, bytes_each: u64) -> Self {
        SamplerError::OutOfMemory(format!(
            "cannot allocate {what}: {count} entries of {bytes_each} bytes"
        ))
    }
}

impl fmt::Display for SamplerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SamplerError::Invalid(message)
            | SamplerError::OutOfMemory(message)
            | SamplerError::NoSlot { message, .. } => f.write_str(message),
            SamplerError::Interrupted => f.write_str("interrupted"),
        }
    }
}

impl std::error::Error for SamplerError {}

/// Integer types whose all-zero bit pattern is the value 0.
pub trait Zeroable: Copy {}
impl Zeroable for u32 {}
impl Zeroable for u64 {}
impl Zeroable for i64 {}

/// A vector of `len` zeros, or an error instead of the allocator's abort or capacity panic when
/// it cannot be had. Zeroed by the allocator (fresh pages from the OS come zeroed), so a large
/// vector costs no extra pass over its memory.
pub fn try_filled<T: Zeroable>(what: &str, len: u64) -> Result<Vec<T>, SamplerError> {
    let too_big = || SamplerError::out_of_memory(what, len, std::mem::size_of::<T>() as u64);
    let len = usize::try_from(len).map_err(|_| too_big())?;
    let layout = std::alloc::Layout::array::<T>(len).map_err(|_| too_big())?;
    if layout.size() == 0 {
        return Ok(Vec::new());
    }
    // SAFETY: the layout has a non-zero size; a null pointer (allocation failure) is handled.
    let pointer = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<T>();
    if pointer.is_null() {
        return Err(too_big());
    }
    // SAFETY: `pointer` comes from the global allocator with the layout of `[T; len]`, so it is
    // valid as a vector of capacity `len`, and its `len` elements are initialised: zero bytes
    // are the value 0 of every `Zeroable` type.
    Ok(unsafe { Vec::from_raw_parts(pointer, len, len) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn try_filled_gives_zeros_or_an_error_never_a_panic() {
        assert_eq!(try_filled::<u32>("t", 0).unwrap(), Vec::<u32>::new());
        assert_eq!(try_filled::<i64>("t", 5).unwrap(), vec![0i64; 5]);
        for len in [1u64 << 62, u64::MAX] {
            let error = try_filled::<u64>("the table", len).unwrap_err();
            assert!(matches!(error, SamplerError::OutOfMemory(_)), "{error}");
            assert!(error.to_string().starts_with("cannot allocate the table"));
        }
    }
}
