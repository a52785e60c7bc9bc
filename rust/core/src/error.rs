use std::fmt;

/// Every way a sampler configuration can be rejected. Messages name the argument and the first
/// offending value so the Python layer can pass them through unchanged as `ValueError`s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SamplerError {
    Invalid(String),
}

impl SamplerError {
    pub fn invalid(message: impl Into<String>) -> Self {
        SamplerError::Invalid(message.into())
    }
}

impl fmt::Display for SamplerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SamplerError::Invalid(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for SamplerError {}
