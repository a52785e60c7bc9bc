//! `episampler-bench`: times the three costs of a shuffled epoch on synthetic episodes (building
//! the order, mapping an epoch's positions to frames, random seeks) for the `"uniform"` and
//! `"feistel"` permutations, next to an unshuffled baseline measured in the same run. Its own
//! crate, so that the core crate stays free of dependencies (clap parses the arguments here).
//!
//! Two modes:
//!
//! * one size (the default: 10^7 frames in 10^4 episodes): a text table with the median and the
//!   minimum of every measurement over the repeats, and the ratios between the orders;
//! * `--sweep`, or a comma list in `--frames` / `--episodes`: every valid (frames, episodes)
//!   pair, one Markdown row each (medians), ready to paste into a README. The default grid is
//!   frames 10^6, 10^7, 10^8, 10^9 and 10^12 by episodes 10^3 .. 10^7.
//!
//! Large sizes stay affordable: the `"uniform"` table (4 bytes per frame below 2^32 frames, 8
//! above) is only built up to `--max-table-frames`; only the first `--map-samples` positions of
//! an epoch are mapped; the index and the other orders need O(episodes) and O(1) memory, so
//! `"feistel"` and the baseline run at any size (10^12 frames in the default sweep).
//!
//! ```text
//! cargo run --release -p episampler-bench -- --help
//! ```
//!
//! The full default sweep takes a long while (mostly the 10^9-frame tables, about 4 GB and tens
//! of seconds each); a moderate one, about a minute on 2 cores:
//!
//! ```text
//! cargo run --release -p episampler-bench -- --sweep --frames 1e6,1e7,1e8,1e12 \
//!     --episodes 1e3,1e4,1e5
//! ```

use std::hint::black_box;

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser, ValueEnum};
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use episampler_core::index::EpisodeSpec;
use episampler_core::keys::SplitMix64;
use episampler_core::synthetic;
use episampler_core::{
    EpisodeIndex, EpochOrder, Permutation, Remap, Sampler, Shard, Units, WindowSpec,
};

/// Random seeks timed per repeat.
const SEEKS: usize = 1_000_000;

/// Keeps the episode-layout stream and the seek-position stream apart from each other (and from
/// the sampler's own keys) even though all derive from `--seed`.
const SEEK_STREAM: u64 = 0x7365_656B_0000_0000; // "seek"

const SWEEP_FRAMES: [u64; 5] = [
    1_000_000,
    10_000_000,
    100_000_000,
    1_000_000_000,
    1_000_000_000_000,
];
const SWEEP_EPISODES: [u64; 5] = [1_000, 10_000, 100_000, 1_000_000, 10_000_000];

/// Times building an epoch's order, mapping its positions to frames and random seeks, for the
/// "uniform" and "feistel" permutations next to an unshuffled baseline, on synthetic episodes.
///
/// Numbers take `_` separators and the forms 1e6 or 10^6. The full default --sweep is slow (the
/// 10^9-frame "uniform" tables take about 4 GB and tens of seconds each to build, and the
/// 10^7-episode rows are cache-bound): narrow it with --frames, --episodes, --max-table-frames.
#[derive(Parser, Debug)]
#[command(name = "episampler-bench", version)]
struct Args {
    /// Frames over all episodes, N >= K [default: 10^7; with --sweep 10^6,10^7,10^8,10^9,10^12]
    #[arg(long, value_name = "N[,N...]", value_parser = parse_list)]
    frames: Option<Counts>,
    /// Number of episodes, of varying length [default: 10^4; with --sweep 10^3 .. 10^7]
    #[arg(long, value_name = "K[,K...]", value_parser = parse_list)]
    episodes: Option<Counts>,
    /// One Markdown row (medians) per (N, K) with K <= N; implied by a comma list in --frames
    /// or --episodes
    #[arg(long)]
    sweep: bool,
    /// Timed repeats of every measurement, R >= 1 [default: 5; 3 with --sweep]
    #[arg(long, value_name = "R", value_parser = parse_positive)]
    repeats: Option<u64>,
    /// Sampler seed; also seeds the episode lengths
    #[arg(long, value_name = "S", default_value = "0", value_parser = parse_u64)]
    seed: u64,
    /// Which permutations to measure
    #[arg(long, value_enum, default_value_t = Which::Both)]
    permutation: Which,
    /// Build the "uniform" table (4 bytes per frame, 8 from 2^32 frames on) only up to M
    /// frames; skip it above (about 4 GB at the default)
    #[arg(long, value_name = "M", default_value = "10^9", value_parser = parse_u64)]
    max_table_frames: u64,
    /// Map only the first P positions of an epoch when N > P
    #[arg(long, value_name = "P", default_value = "10^7", value_parser = parse_positive)]
    map_samples: u64,
    /// Also measure the windowed orders (windows of at least W frames)
    #[arg(long, value_name = "W", value_parser = parse_positive)]
    window: Option<u64>,
    /// With --window: consecutive episodes grouped G to a unit
    #[arg(long, value_name = "G", default_value = "1", value_parser = parse_positive)]
    episodes_per_group: u64,
    /// With --window: also measure worker-aware windows, K streams (K >= 2)
    #[arg(long, value_name = "K", value_parser = parse_positive)]
    streams: Option<u64>,
    /// With --streams: positions each stream contributes per turn
    #[arg(long, value_name = "S", default_value = "64", value_parser = parse_positive)]
    stream_block: u64,
}

/// A comma list of counts (its own type, so that clap takes the whole list as one value).
#[derive(Debug, Clone)]
struct Counts(Vec<u64>);

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Which {
    Uniform,
    Feistel,
    Both,
}

struct Config {
    frames: Vec<u64>,
    episodes: Vec<u64>,
    sweep: bool,
    repeats: usize,
    seed: u64,
    permutations: Vec<Permutation>,
    max_table_frames: u64,
    map_samples: u64,
    window: Option<u64>,
    episodes_per_group: u64,
    streams: Option<u64>,
    stream_block: u64,
}

impl Config {
    /// The run `args` ask for, checked across arguments (each value was checked by clap).
    fn from_args(args: Args) -> Result<Self, String> {
        let is_list = |list: &Option<Counts>| list.as_ref().is_some_and(|list| list.0.len() > 1);
        let sweep = args.sweep || is_list(&args.frames) || is_list(&args.episodes);
        let (default_frames, default_episodes): (&[u64], &[u64]) = if sweep {
            (&SWEEP_FRAMES, &SWEEP_EPISODES)
        } else {
            (&[10_000_000], &[10_000])
        };
        let config = Config {
            frames: args.frames.map_or_else(|| default_frames.to_vec(), |c| c.0),
            episodes: args
                .episodes
                .map_or_else(|| default_episodes.to_vec(), |c| c.0),
            sweep,
            repeats: usize::try_from(args.repeats.unwrap_or(if sweep { 3 } else { 5 }))
                .map_err(|_| "--repeats is too large".to_string())?,
            seed: args.seed,
            permutations: match args.permutation {
                Which::Uniform => vec![Permutation::Uniform],
                Which::Feistel => vec![Permutation::Feistel],
                Which::Both => vec![Permutation::Uniform, Permutation::Feistel],
            },
            max_table_frames: args.max_table_frames,
            map_samples: args.map_samples,
            window: args.window,
            episodes_per_group: args.episodes_per_group,
            streams: args.streams,
            stream_block: args.stream_block,
        };
        if config.streams.is_some() && config.window.is_none() {
            return Err("--streams needs --window".into());
        }
        if let Some(&frames) = config.frames.iter().find(|&&n| i64::try_from(n).is_err()) {
            // Boundaries are i64 in `EpisodeSpec`.
            return Err(format!(
                "--frames is too large: {frames} (max {})",
                i64::MAX
            ));
        }
        if config.episodes.contains(&0) {
            return Err("--episodes must be >= 1, got 0".into());
        }
        if usize::try_from(config.map_samples).is_err() {
            return Err(format!(
                "--map-samples is too large: {}",
                config.map_samples
            ));
        }
        if !config.sweep && config.frames[0] < config.episodes[0] {
            return Err(format!(
                "--frames ({}) must be >= --episodes ({}): every episode needs at least one frame",
                config.frames[0], config.episodes[0]
            ));
        }
        if config.sweep && pairs(&config).next().is_none() {
            return Err("no (--frames, --episodes) pair with episodes <= frames to measure".into());
        }
        Ok(config)
    }
}

/// The (frames, episodes) pairs to measure, in order: every episode count that fits a frame
/// count (at least one frame per episode).
fn pairs(config: &Config) -> impl Iterator<Item = (u64, u64)> + '_ {
    config.frames.iter().flat_map(move |&frames| {
        config
            .episodes
            .iter()
            .filter(move |&&episodes| episodes <= frames)
            .map(move |&episodes| (frames, episodes))
    })
}

/// A comma-separated list of [`parse_u64`] values.
fn parse_list(value: &str) -> Result<Counts, String> {
    value
        .split(',')
        .map(|item| parse_u64(item.trim()))
        .collect::<Result<_, _>>()
        .map(Counts)
}

/// A [`parse_u64`] value >= 1.
fn parse_positive(value: &str) -> Result<u64, String> {
    match parse_u64(value)? {
        0 => Err("must be >= 1, got 0".into()),
        n => Ok(n),
    }
}

/// A non-negative integer: digits with optional `_` separators (`10_000_000`), `AeB` (`1e7`,
/// `5e8`: A times ten to the B) or `10^B`.
fn parse_u64(value: &str) -> Result<u64, String> {
    let invalid =
        || format!("expects a non-negative integer (e.g. 1000, 1e6, 10^6), got {value:?}");
    let out_of_range = || format!("is out of range (max {}): {value}", u64::MAX);
    let digits = |text: &str| -> Result<u64, String> {
        let text = text.replace('_', "");
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        text.parse().map_err(|_| out_of_range())
    };
    let (mantissa, exponent) = if let Some(exponent) = value.strip_prefix("10^") {
        (1, digits(exponent)?)
    } else if let Some((mantissa, exponent)) = value.split_once(['e', 'E']) {
        (digits(mantissa)?, digits(exponent)?)
    } else {
        return digits(value);
    };
    u32::try_from(exponent)
        .ok()
        .and_then(|exponent| 10u64.checked_pow(exponent))
        .and_then(|scale| mantissa.checked_mul(scale))
        .ok_or_else(out_of_range)
}

/// The episode index of `frames` frames in `episodes` synthetic episodes, with the shortest and
/// longest episode lengths.
fn synthetic_index(
    frames: u64,
    episodes: u64,
    seed: u64,
) -> Result<(EpisodeIndex, i64, i64), String> {
    let (from, to) = synthetic::episodes(frames, episodes, seed);
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
    Ok((index, shortest.unwrap_or(0), longest.unwrap_or(0)))
}

/// `SEEKS` positions in `[0, frames)`, the same for every order of a size, drawn up front so that
/// only the seeks are timed (multiply-high maps a u64 onto the range without a division).
fn seek_positions(frames: u64, seed: u64) -> Vec<u64> {
    let mut rng = SplitMix64::new(seed ^ SEEK_STREAM);
    (0..SEEKS)
        .map(|_| ((u128::from(rng.next_u64()) * u128::from(frames)) >> 64) as u64)
        .collect()
}

/// An output buffer of `len` samples, filled with a non-zero value first so that its pages are
/// faulted in here rather than during the first timed map.
fn output_buffer(len: u64) -> Result<Vec<i64>, String> {
    let len = usize::try_from(len).map_err(|_| format!("cannot allocate {len} samples"))?;
    let mut out = Vec::new();
    out.try_reserve_exact(len)
        .map_err(|_| format!("cannot allocate the {len}-sample output buffer"))?;
    out.resize(len, -1i64);
    Ok(out)
}

/// The orders compared: the baseline, then the chosen permutations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    Sequential,
    Shuffled(Permutation),
    Windowed(Permutation),
    Streamed(Permutation),
}

impl Order {
    fn name(self) -> &'static str {
        match self {
            Order::Sequential => "sequential",
            Order::Shuffled(Permutation::Uniform) => "uniform",
            Order::Shuffled(Permutation::Feistel) => "feistel",
            Order::Windowed(Permutation::Uniform) => "uniform windowed",
            Order::Windowed(Permutation::Feistel) => "feistel windowed",
            Order::Streamed(Permutation::Uniform) => "uniform streams",
            Order::Streamed(Permutation::Feistel) => "feistel streams",
        }
    }

    /// Whether this order is measured at `frames` frames, or why not.
    fn skip_reason(self, frames: u64, config: &Config) -> Option<String> {
        let table = matches!(
            self,
            Order::Shuffled(Permutation::Uniform)
                | Order::Windowed(Permutation::Uniform)
                | Order::Streamed(Permutation::Uniform)
        );
        (table && frames > config.max_table_frames)
            .then(|| format!("table above --max-table-frames {}", config.max_table_frames))
    }

    fn sampler(self, index: &EpisodeIndex, config: &Config) -> Result<Sampler, String> {
        let (shuffle, permutation) = match self {
            Order::Sequential => (false, Permutation::Uniform),
            Order::Shuffled(permutation)
            | Order::Windowed(permutation)
            | Order::Streamed(permutation) => (true, permutation),
        };
        let sampler = Sampler::new(
            index.clone(),
            Remap::Identity,
            shuffle,
            permutation,
            config.seed,
        );
        let streams = match self {
            Order::Streamed(_) => config.streams.unwrap_or(1),
            _ => 1,
        };
        let (Order::Windowed(_) | Order::Streamed(_), Some(window)) = (self, config.window) else {
            return Ok(sampler);
        };
        // Consecutive boundary episodes share a unit, as the episodes of one file do.
        let groups: Vec<i64> = (0..index.num_episodes() as i64)
            .map(|e| e / config.episodes_per_group as i64)
            .collect();
        let windows = Units::from_groups(index, &groups)
            .and_then(|units| WindowSpec::new(window, units))
            .and_then(|spec| spec.with_streams(streams, Some(config.stream_block)))
            .map_err(|e| e.to_string())?;
        Ok(sampler.with_windows(Some(Arc::new(windows))))
    }
}

fn orders(config: &Config) -> Vec<Order> {
    let shuffled = config.permutations.iter().map(|&p| Order::Shuffled(p));
    let windowed = config
        .window
        .into_iter()
        .flat_map(|_| config.permutations.iter().map(|&p| Order::Windowed(p)));
    let streamed = config
        .streams
        .into_iter()
        .flat_map(|_| config.permutations.iter().map(|&p| Order::Streamed(p)));
    std::iter::once(Order::Sequential)
        .chain(shuffled)
        .chain(windowed)
        .chain(streamed)
        .collect()
}

/// The timings of one sampler configuration over all repeats.
struct Row {
    order: Order,
    build: Vec<Duration>,
    bytes: u64,
    map: Vec<Duration>,
    seek: Vec<Duration>,
}

/// Runs every repeat of build, map and seek on `sampler` over `frames` frames, mapping the first
/// `out.len()` positions. Repeat `r` uses epoch `r`, so each build does real work on a fresh key,
/// and map and seek then use the order just built.
fn measure(
    order: Order,
    sampler: &Sampler,
    frames: u64,
    repeats: usize,
    positions: &[u64],
    out: &mut [i64],
) -> Result<Row, String> {
    let shard = Shard::new(frames, 0, 0, 1, false).expect("rank 0 of 1 from 0 is a valid shard");
    let mut row = Row {
        order,
        build: Vec::with_capacity(repeats),
        bytes: 0,
        map: Vec::with_capacity(repeats),
        seek: Vec::with_capacity(repeats),
    };
    for epoch in 0..repeats as u64 {
        // For the O(1) orders (sequential, feistel) this is at the clock's floor: the first
        // timer read after the previous repeat's large map is cold, so their min is the figure.
        let start = Instant::now();
        let epoch_order: EpochOrder = black_box(
            sampler
                .epoch_order(black_box(epoch))
                .map_err(|e| format!("building the epoch's order failed: {e}"))?,
        );
        row.build.push(start.elapsed());
        row.bytes = epoch_order.bytes();

        let start = Instant::now();
        sampler.fill(&epoch_order, &shard, 0, black_box(&mut *out));
        row.map.push(start.elapsed());
        black_box(&*out);

        let start = Instant::now();
        let mut checksum = 0i64;
        for &position in positions {
            checksum = checksum.wrapping_add(sampler.value_at(&epoch_order, black_box(position)));
        }
        row.seek.push(start.elapsed());
        black_box(checksum);
        // The order (a table of 4 or 8 bytes per frame for "uniform") is freed here, untimed.
    }
    Ok(row)
}

/// [`measure`] for every order measured at `frames` frames (see [`Order::skip_reason`]).
fn measure_orders(
    orders: &[Order],
    index: &EpisodeIndex,
    frames: u64,
    config: &Config,
    positions: &[u64],
    out: &mut [i64],
) -> Result<Vec<Row>, String> {
    orders
        .iter()
        .filter(|order| order.skip_reason(frames, config).is_none())
        .map(|&order| {
            let sampler = order.sampler(index, config)?;
            measure(order, &sampler, frames, config.repeats, positions, out)
        })
        .collect()
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

/// `10^k` for a power of ten from 1000 on, the plain number otherwise.
fn human_count(count: u64) -> String {
    let mut exponent = 0;
    let mut rest = count;
    while rest >= 10 && rest.is_multiple_of(10) {
        rest /= 10;
        exponent += 1;
    }
    if rest == 1 && exponent >= 3 {
        format!("10^{exponent}")
    } else {
        count.to_string()
    }
}

fn print_table(rows: &[Row], frames: u64, mapped: u64) {
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
            row.order.name(),
            human_duration(median(&row.build)),
            human_duration(min(&row.build)),
            human_bytes(row.bytes),
            row.bytes as f64 / frames as f64,
            ns_per(median(&row.map), mapped),
            ns_per(min(&row.map), mapped),
            ns_per(median(&row.seek), SEEKS as u64),
            ns_per(min(&row.seek), SEEKS as u64),
        );
    }
}

/// One size, every order: the text table and the ratios of the median map times.
fn run_single(config: &Config) -> Result<(), String> {
    let (frames, episodes) = (config.frames[0], config.episodes[0]);
    let (index, shortest, longest) = synthetic_index(frames, episodes, config.seed)?;
    let positions = seek_positions(frames, config.seed);
    let mapped = frames.min(config.map_samples);
    let mut out = output_buffer(mapped)?;

    let mapped_note = if mapped < frames {
        format!(" mapped=first {mapped} positions")
    } else {
        String::new()
    };
    println!(
        "episampler-bench: frames={frames} episodes={episodes} (lengths {shortest}..={longest}) \
         repeats={} seed={} seeks={SEEKS}{mapped_note}",
        config.repeats, config.seed,
    );
    println!();

    // The baseline first: it also warms the index arrays and the output buffer.
    let orders = orders(config);
    let rows = measure_orders(&orders, &index, frames, config, &positions, &mut out)?;
    print_table(&rows, frames, mapped);
    for order in orders
        .iter()
        .filter(|order| !rows.iter().any(|row| row.order == **order))
    {
        let reason = order.skip_reason(frames, config).unwrap_or_default();
        println!("{} skipped: {reason}", order.name());
    }

    // Ratios of the median map times, so the permutations read against each other and against
    // the cost of mapping positions to frames with no shuffle at all.
    let map_ns = |order: Order| {
        rows.iter()
            .find(|row| row.order == order)
            .map(|row| ns_per(median(&row.map), mapped))
    };
    let sequential = map_ns(Order::Sequential).unwrap_or(f64::NAN);
    let uniform = map_ns(Order::Shuffled(Permutation::Uniform));
    let feistel = map_ns(Order::Shuffled(Permutation::Feistel));
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

/// Every (frames, episodes) pair, one Markdown row each, printed as soon as it is measured.
fn run_sweep(config: &Config) -> Result<(), String> {
    let orders = orders(config);
    let has = |order: Order| orders.contains(&order);
    let uniform = Order::Shuffled(Permutation::Uniform);
    println!(
        "episampler-bench --sweep: medians of {} repeats, seed {}, {SEEKS} random seeks, map of \
         the first min(N, {}) positions, \"uniform\" table up to {} frames",
        config.repeats, config.seed, config.map_samples, config.max_table_frames
    );
    println!();

    // Columns: the uniform build, then map and seek for every order measured.
    let mut header = vec!["frames N".to_owned(), "episodes".to_owned()];
    if has(uniform) {
        header.push("uniform build".into());
        header.push("uniform B/frame".into());
    }
    header.push("mapped".into());
    for order in &orders {
        header.push(format!("map {} ns/sample", order.name()));
    }
    for order in &orders {
        header.push(format!("seek {} ns", order.name()));
    }
    let dashes = vec!["---".to_owned(); header.len()];
    println!("| {} |", header.join(" | "));
    println!("| {} |", dashes.join(" | "));

    let mut skipped_any = false;
    let mut current: Option<(u64, Vec<u64>, Vec<i64>)> = None;
    for (frames, episodes) in pairs(config) {
        // Seek positions and the output buffer are shared by every episode count of a size.
        if !matches!(current, Some((n, _, _)) if n == frames) {
            // The previous size's buffers are freed before the next ones are allocated.
            drop(current.take());
            let mapped = frames.min(config.map_samples);
            current = Some((
                frames,
                seek_positions(frames, config.seed),
                output_buffer(mapped)?,
            ));
        }
        let (_, positions, out) = current.as_mut().expect("set just above");
        let (index, _, _) = synthetic_index(frames, episodes, config.seed)?;
        let rows = measure_orders(&orders, &index, frames, config, positions, out)?;
        skipped_any |= rows.len() < orders.len();
        drop(index);

        let mapped = out.len() as u64;
        let row_of = |order: Order| rows.iter().find(|row| row.order == order);
        let mut cells = vec![human_count(frames), human_count(episodes)];
        if has(uniform) {
            match row_of(uniform) {
                Some(row) => {
                    cells.push(human_duration(median(&row.build)));
                    cells.push(format!("{:.2}", row.bytes as f64 / frames as f64));
                }
                None => cells.extend(["—".to_owned(), "—".to_owned()]),
            }
        }
        cells.push(if mapped < frames {
            human_count(mapped)
        } else {
            "all".into()
        });
        for &order in &orders {
            cells.push(row_of(order).map_or("—".into(), |row| {
                format!("{:.1}", ns_per(median(&row.map), mapped))
            }));
        }
        for &order in &orders {
            cells.push(row_of(order).map_or("—".into(), |row| {
                format!("{:.1}", ns_per(median(&row.seek), SEEKS as u64))
            }));
        }
        println!("| {} |", cells.join(" | "));
        // Rows of a long sweep appear as they are measured, also through a pipe.
        let _ = std::io::stdout().flush();
    }

    println!();
    println!(
        "build: one epoch's order (\"feistel\" and sequential: O(1), nothing to build); \
         mapped: positions mapped per epoch (all, or the first P); seek: {SEEKS} positions \
         drawn uniformly at random."
    );
    if skipped_any {
        println!(
            "—: not measured (\"uniform\" table above --max-table-frames {}).",
            config.max_table_frames
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    let config = match Config::from_args(Args::parse()) {
        Ok(config) => config,
        Err(message) => {
            // Cross-argument errors, reported like clap's own (usage error: exit code 2).
            let mut command = Args::command();
            command.error(ErrorKind::ArgumentConflict, message).exit();
        }
    };
    let result = if config.sweep {
        run_sweep(&config)
    } else {
        run_single(&config)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("episampler-bench: error: {message}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(args: &[&str]) -> Result<Config, String> {
        let args =
            Args::try_parse_from(std::iter::once("episampler-bench").chain(args.iter().copied()))
                .map_err(|error| error.to_string())?;
        Config::from_args(args)
    }

    #[test]
    fn the_command_line_definition_is_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn numbers_take_separators_and_powers_of_ten() {
        assert_eq!(parse_u64("10_000_000"), Ok(10_000_000));
        assert_eq!(parse_u64("1e6"), Ok(1_000_000));
        assert_eq!(parse_u64("5E3"), Ok(5_000));
        assert_eq!(parse_u64("10^12"), Ok(1_000_000_000_000));
        for bad in ["", "-1", "1.5", "1e", "e5", "10^x", "abc"] {
            assert!(parse_u64(bad).is_err(), "{bad:?}");
        }
        assert!(parse_u64("10^20").unwrap_err().contains("out of range"));
    }

    #[test]
    fn defaults_and_sweeps() {
        let single = config(&[]).unwrap();
        assert_eq!(
            (single.frames, single.episodes),
            (vec![10_000_000], vec![10_000])
        );
        assert_eq!((single.repeats, single.sweep), (5, false));
        let sweep = config(&["--frames", "1e6,1e7", "--permutation=feistel"]).unwrap();
        assert!(sweep.sweep && sweep.repeats == 3);
        assert_eq!(sweep.frames, vec![1_000_000, 10_000_000]);
        assert_eq!(sweep.permutations, vec![Permutation::Feistel]);
        let windowed = config(&["--window", "65536", "--episodes-per-group", "20"]).unwrap();
        assert_eq!(
            (windowed.window, windowed.episodes_per_group),
            (Some(65_536), 20)
        );
    }

    #[test]
    fn bad_arguments_are_usage_errors() {
        for (args, message) in [
            (&["--repeats", "0"][..], "must be >= 1"),
            (
                &["--frames", "10", "--episodes", "100"][..],
                "must be >= --episodes",
            ),
            (&["--episodes", "0"][..], "--episodes must be >= 1"),
            (&["--permutation", "both2"][..], "invalid value"),
            (&["--nope"][..], "unexpected argument"),
            (&["--frames", "1e19"][..], "--frames is too large"),
            (
                &["--sweep", "--frames", "5", "--episodes", "10,20"][..],
                "no (--frames, --episodes)",
            ),
        ] {
            let error = config(args).err().unwrap_or_default();
            assert!(error.contains(message), "{args:?}: {error}");
        }
    }
}
