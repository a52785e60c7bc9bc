//! `episampler-bench`: times the three costs of a shuffled epoch on synthetic episodes (building
//! the order, mapping a whole epoch to frames, random seeks) for the `"uniform"` and `"feistel"`
//! permutations, next to an unshuffled baseline measured in the same run. Std only, so it builds
//! wherever the core crate does.
//!
//! ```text
//! cargo run --release --bin episampler-bench -- [--frames N] [--episodes K] [--repeats R]
//!     [--seed S] [--permutation uniform|feistel|both]
//! ```

use std::hint::black_box;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use episampler_core::index::EpisodeSpec;
use episampler_core::keys::SplitMix64;
use episampler_core::{EpisodeIndex, EpochOrder, Permutation, Remap, Sampler, Shard};

const USAGE: &str = "\
usage: episampler-bench [--frames N] [--episodes K] [--repeats R] [--seed S]
                        [--permutation uniform|feistel|both]

  --frames N       frames over all episodes, N >= K (default 10000000)
  --episodes K     number of episodes, of varying length (default 10000)
  --repeats R      timed repeats of every measurement, R >= 1 (default 5)
  --seed S         sampler seed; also seeds the episode lengths (default 0)
  --permutation P  uniform, feistel or both (default both)
  -h, --help       print this help

Reports the median and min over the repeats of: building an epoch's order (and the bytes it
holds), mapping every position of an epoch for rank 0 of 1 (ns/sample), and 1000000 random
seeks (ns/seek). An unshuffled (sequential) run is the baseline for the ratios.";

/// Random seeks timed per repeat.
const SEEKS: usize = 1_000_000;

/// Keeps the episode-layout stream and the seek-position stream apart from each other (and from
/// the sampler's own keys) even though all derive from `--seed`.
const LAYOUT_STREAM: u64 = 0x6C61_796F_7574_0000; // "layout"
const SEEK_STREAM: u64 = 0x7365_656B_0000_0000; // "seek"

struct Config {
    frames: u64,
    episodes: u64,
    repeats: usize,
    seed: u64,
    permutations: Vec<Permutation>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            frames: 10_000_000,
            episodes: 10_000,
            repeats: 5,
            seed: 0,
            permutations: vec![Permutation::Uniform, Permutation::Feistel],
        }
    }
}

/// `Ok(None)` means help was asked for. Accepts `--flag value` and `--flag=value`.
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Config>, String> {
    let mut config = Config::default();
    while let Some(arg) = args.next() {
        if arg == "-h" || arg == "--help" {
            return Ok(None);
        }
        let (flag, inline_value) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag.to_owned(), Some(value.into())),
            _ => (arg, None),
        };
        if !matches!(
            flag.as_str(),
            "--frames" | "--episodes" | "--repeats" | "--seed" | "--permutation"
        ) {
            return Err(format!("unknown argument {flag:?}"));
        }
        let value = match inline_value {
            Some(value) => value,
            None => args.next().ok_or_else(|| format!("{flag} needs a value"))?,
        };
        match flag.as_str() {
            "--frames" => config.frames = parse_u64(&flag, &value)?,
            "--episodes" => config.episodes = parse_u64(&flag, &value)?,
            "--repeats" => {
                config.repeats = usize::try_from(parse_u64(&flag, &value)?)
                    .map_err(|_| format!("--repeats is too large: {value}"))?
            }
            "--seed" => config.seed = parse_u64(&flag, &value)?,
            _ => {
                config.permutations = match value.as_str() {
                    "uniform" => vec![Permutation::Uniform],
                    "feistel" => vec![Permutation::Feistel],
                    "both" => vec![Permutation::Uniform, Permutation::Feistel],
                    _ => {
                        return Err(format!(
                            "--permutation must be uniform, feistel or both, got {value:?}"
                        ))
                    }
                }
            }
        }
    }
    if config.episodes == 0 {
        return Err("--episodes must be >= 1, got 0".into());
    }
    if config.repeats == 0 {
        return Err("--repeats must be >= 1, got 0".into());
    }
    if config.frames < config.episodes {
        return Err(format!(
            "--frames ({}) must be >= --episodes ({}): every episode needs at least one frame",
            config.frames, config.episodes
        ));
    }
    // Boundaries are i64 in `EpisodeSpec`, and the mapped epoch is one Vec<i64>.
    if i64::try_from(config.frames).is_err() || usize::try_from(config.frames).is_err() {
        return Err(format!("--frames is too large: {}", config.frames));
    }
    Ok(Some(config))
}

/// A non-negative integer; `_` separators are allowed (`10_000_000`).
fn parse_u64(flag: &str, value: &str) -> Result<u64, String> {
    let digits = value.replace('_', "");
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "{flag} expects a non-negative integer, got {value:?}"
        ));
    }
    digits
        .parse()
        .map_err(|_| format!("{flag} is out of range (max {}): {value}", u64::MAX))
}

/// `episodes` back-to-back episodes of varying length, summing to exactly `frames`. Each gets one
/// frame; the other `frames - episodes` are split in proportion to random weights in
/// [1024, 4096), cut at rounded-down cumulative sums so that the parts add up exactly.
fn synthetic_episodes(frames: u64, episodes: u64, seed: u64) -> (Vec<i64>, Vec<i64>) {
    let mut rng = SplitMix64::new(seed ^ LAYOUT_STREAM);
    let weights: Vec<u64> = (0..episodes)
        .map(|_| 1024 + rng.next_u64() % 3072)
        .collect();
    let total: u128 = weights.iter().map(|&w| u128::from(w)).sum();
    let spare = u128::from(frames - episodes);
    let (mut from, mut to) = (Vec::with_capacity(weights.len()), Vec::new());
    let (mut cumulative, mut start) = (0u128, 0u64);
    for (k, &weight) in (1u64..).zip(&weights) {
        cumulative += u128::from(weight);
        // <= spare, so end <= frames, which fits i64 (checked when parsing).
        let end = k + (spare * cumulative / total) as u64;
        from.push(start as i64);
        to.push(end as i64);
        start = end;
    }
    (from, to)
}

/// The timings of one sampler configuration over all repeats.
struct Row {
    name: &'static str,
    build: Vec<Duration>,
    bytes: u64,
    map: Vec<Duration>,
    seek: Vec<Duration>,
}

/// Runs every repeat of build, map and seek on `sampler`. Repeat `r` uses epoch `r`, so each
/// build does real work on a fresh key, and map and seek then use the order just built.
fn measure(
    name: &'static str,
    sampler: &Sampler,
    repeats: usize,
    positions: &[u64],
    out: &mut [i64],
) -> Row {
    let n = sampler.num_frames();
    let shard = Shard::new(n, 0, 0, 1, false).expect("rank 0 of 1 from 0 is a valid shard");
    let mut row = Row {
        name,
        build: Vec::with_capacity(repeats),
        bytes: 0,
        map: Vec::with_capacity(repeats),
        seek: Vec::with_capacity(repeats),
    };
    for epoch in 0..repeats as u64 {
        // For the O(1) orders (sequential, feistel) this is at the clock's floor: the first
        // timer read after the previous repeat's large map is cold, so their min is the figure.
        let start = Instant::now();
        let order: EpochOrder = black_box(sampler.epoch_order(black_box(epoch)));
        row.build.push(start.elapsed());
        row.bytes = order.bytes();

        let start = Instant::now();
        sampler.fill(&order, &shard, 0, black_box(&mut *out));
        row.map.push(start.elapsed());
        black_box(&*out);

        // Positions were drawn beforehand so that only the seeks themselves are timed.
        let start = Instant::now();
        let mut checksum = 0i64;
        for &position in positions {
            checksum = checksum.wrapping_add(sampler.value_at(&order, black_box(position)));
        }
        row.seek.push(start.elapsed());
        black_box(checksum);
        // The order (a table of 4 or 8 bytes per frame for "uniform") is freed here, untimed.
    }
    row
}

fn median(samples: &[Duration]) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2
    }
}

fn min(samples: &[Duration]) -> Duration {
    samples.iter().copied().min().unwrap_or_default()
}

fn ns_per(duration: Duration, count: u64) -> f64 {
    duration.as_secs_f64() * 1e9 / count.max(1) as f64
}

/// A duration with a unit that keeps 3-4 significant digits (builds range from ns to seconds).
fn human_duration(duration: Duration) -> String {
    let ns = duration.as_secs_f64() * 1e9;
    match ns {
        ns if ns < 1e3 => format!("{ns:.0} ns"),
        ns if ns < 1e6 => format!("{:.2} us", ns / 1e3),
        ns if ns < 1e9 => format!("{:.2} ms", ns / 1e6),
        ns => format!("{:.3} s", ns / 1e9),
    }
}

fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

fn print_table(rows: &[Row], frames: u64) {
    println!(
        "{:<11} {:>10} {:>10} {:>10} {:>7} {:>9} {:>9} {:>9} {:>9}",
        "order", "build", "build", "order", "bytes/", "map", "map", "seek", "seek"
    );
    println!(
        "{:<11} {:>10} {:>10} {:>10} {:>7} {:>9} {:>9} {:>9} {:>9}",
        "", "median", "min", "memory", "frame", "ns/samp", "min", "ns/seek", "min"
    );
    for row in rows {
        println!(
            "{:<11} {:>10} {:>10} {:>10} {:>7.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
            row.name,
            human_duration(median(&row.build)),
            human_duration(min(&row.build)),
            human_bytes(row.bytes),
            row.bytes as f64 / frames as f64,
            ns_per(median(&row.map), frames),
            ns_per(min(&row.map), frames),
            ns_per(median(&row.seek), SEEKS as u64),
            ns_per(min(&row.seek), SEEKS as u64),
        );
    }
}

fn run(config: &Config) -> Result<(), String> {
    let (from, to) = synthetic_episodes(config.frames, config.episodes, config.seed);
    let lengths = from.iter().zip(&to).map(|(a, b)| b - a);
    let (shortest, longest) = (lengths.clone().min(), lengths.max());
    let index = EpisodeIndex::new(&EpisodeSpec {
        from: &from,
        to: &to,
        episodes_to_use: None,
        drop_first: 0,
        drop_last: 0,
    })
    .map_err(|e| format!("building the episode index failed: {e}"))?;
    let n = index.num_frames();
    debug_assert_eq!(n, config.frames);

    // Seek positions: the same ones for every order, drawn up front (multiply-high maps a u64
    // onto [0, n) without a division).
    let mut rng = SplitMix64::new(config.seed ^ SEEK_STREAM);
    let positions: Vec<u64> = (0..SEEKS)
        .map(|_| ((u128::from(rng.next_u64()) * u128::from(n)) >> 64) as u64)
        .collect();

    // One output buffer for every map, filled with a non-zero value first so that its pages are
    // faulted in here rather than during the first timed map.
    let mut out = Vec::new();
    out.try_reserve_exact(n as usize)
        .map_err(|_| format!("cannot allocate the {n}-sample output buffer"))?;
    out.resize(n as usize, -1i64);

    println!(
        "episampler-bench: frames={} episodes={} (lengths {}..={}) repeats={} seed={} seeks={}",
        config.frames,
        config.episodes,
        shortest.unwrap_or(0),
        longest.unwrap_or(0),
        config.repeats,
        config.seed,
        SEEKS
    );
    println!();

    // The baseline first: it also warms the index arrays and the output buffer.
    let sampler = |shuffle, permutation| {
        Sampler::new(
            index.clone(),
            Remap::Identity,
            shuffle,
            permutation,
            config.seed,
        )
    };
    let mut rows = vec![measure(
        "sequential",
        &sampler(false, Permutation::Uniform),
        config.repeats,
        &positions,
        &mut out,
    )];
    for &permutation in &config.permutations {
        rows.push(measure(
            permutation.name(),
            &sampler(true, permutation),
            config.repeats,
            &positions,
            &mut out,
        ));
    }
    print_table(&rows, n);

    // Ratios of the median map times, so the permutations read against each other and against
    // the cost of mapping positions to frames with no shuffle at all.
    let map_ns = |name: &str| {
        rows.iter()
            .find(|row| row.name == name)
            .map(|row| ns_per(median(&row.map), n))
    };
    let sequential = map_ns("sequential").unwrap_or(f64::NAN);
    let (uniform, feistel) = (map_ns("uniform"), map_ns("feistel"));
    println!();
    if let Some(feistel) = feistel {
        println!("ratio feistel/sequential map: {:.2}", feistel / sequential);
    }
    if let (Some(feistel), Some(uniform)) = (feistel, uniform) {
        println!("ratio feistel/uniform map: {:.2}", feistel / uniform);
    }
    if let Some(uniform) = uniform {
        println!("ratio uniform/sequential map: {:.2}", uniform / sequential);
    }
    Ok(())
}

fn main() -> ExitCode {
    let config = match parse_args(std::env::args().skip(1)) {
        Ok(Some(config)) => config,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("episampler-bench: error: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("episampler-bench: error: {message}");
            ExitCode::FAILURE
        }
    }
}
