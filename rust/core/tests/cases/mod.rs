//! How many cases each property runs: its full count scaled by `EPISAMPLER_PROPTEST_SCALE`
//! (a fraction, default 1). `make test` runs a small fraction for a fast loop; `make test-all`
//! and CI run the full counts.

use proptest::test_runner::Config;

/// `full` scaled by the environment, at least one case.
pub fn cases(full: u32) -> u32 {
    let scale = match std::env::var("EPISAMPLER_PROPTEST_SCALE") {
        Ok(text) => text.trim().parse::<f64>().unwrap_or_else(|_| {
            panic!("EPISAMPLER_PROPTEST_SCALE must be a number such as 0.05, got {text:?}")
        }),
        Err(_) => 1.0,
    };
    assert!(
        scale.is_finite() && scale > 0.0,
        "EPISAMPLER_PROPTEST_SCALE must be positive, got {scale}"
    );
    ((f64::from(full) * scale).round() as u32).max(1)
}

/// Proptest's default configuration (regression files included) with `cases(full)` cases.
pub fn config(full: u32) -> Config {
    Config::with_cases(cases(full))
}
