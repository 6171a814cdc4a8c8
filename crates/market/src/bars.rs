//! Hourly bars (open/high/low/close) and a deterministic tick path through each bar.
//!
//! The only real market data the project has is EUR/USD hourly bars (`data/README.md`). The
//! backfill needs ticks, so [`tick_path`] *generates* ticks from the bars: for each bar, a
//! seeded random walk pinned by a Brownian bridge that starts at the open, touches the high and
//! the low (low first in a rising bar, high first in a falling one, at random times inside the
//! bar), and ends at the close, never leaving `[low, high]`. The bars' extremes and the opens and
//! closes are therefore real; the path between them is invented. Same bars, seed and options:
//! the same ticks, byte for byte (the generator is SplitMix64 written here, so no dependency
//! update can change it). Integer arithmetic only.

use std::io::{BufRead, BufReader, Read};

use fxdesk_engine::{InstrumentId, Price, TimeNs};

use crate::civil::{digits, parse_clock, Civil, NS_PER_SECOND};
use crate::csv::{BadRow, Tick};
use crate::price::parse_ticks;

/// Longest a bar's ticks are spread over (bars after a weekend gap still last an hour).
pub const BAR_NS_MAX: TimeNs = 3600 * NS_PER_SECOND;
/// Most ticks generated per bar.
pub const TICKS_PER_BAR_MAX: u32 = 36_000;

/// One bar: prices in ticks, mid prices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bar {
    pub time_ns: TimeNs,
    pub open: Price,
    pub high: Price,
    pub low: Price,
    pub close: Price,
}

/// Bars read from a file and the rows that were not usable.
#[derive(Debug, Clone, Default)]
pub struct BarsFile {
    pub bars: Vec<Bar>,
    pub bad_rows: Vec<BadRow>,
}

/// Reads `time,Open,High,Low,Close[,Volume]` with times `YYYY-MM-DD HH:MM:SS` read as UTC (the
/// source does not state its zone) and prices with at most `decimals` decimals. A header line
/// (first field not a date) is skipped. Rows with bad fields, `low > open/close > high`, or times
/// not after the previous bar are reported and left out.
pub fn read_bars(reader: impl Read, decimals: u32) -> std::io::Result<BarsFile> {
    let mut file = BarsFile::default();
    let mut last_time: Option<TimeNs> = None;
    for (index, line) in BufReader::new(reader).lines().enumerate() {
        let line_number = index as u64 + 1;
        let line = line?;
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        if line_number == 1 && !text.starts_with(|c: char| c.is_ascii_digit()) {
            continue;
        }
        match parse_bar(text, decimals) {
            Ok(bar) if last_time.is_some_and(|t| bar.time_ns <= t) => file.bad_rows.push(BadRow {
                line: line_number,
                reason: "time is not after the previous bar's".to_owned(),
            }),
            Ok(bar) => {
                last_time = Some(bar.time_ns);
                file.bars.push(bar);
            }
            Err(reason) => file.bad_rows.push(BadRow {
                line: line_number,
                reason,
            }),
        }
    }
    Ok(file)
}

fn parse_bar(text: &str, decimals: u32) -> Result<Bar, String> {
    let fields: Vec<&str> = text.split(',').map(str::trim).collect();
    let (time, open, high, low, close) = match fields.as_slice() {
        [t, o, h, l, c] | [t, o, h, l, c, _] => (*t, *o, *h, *l, *c),
        _ => return Err(format!("expected 5 or 6 fields, found {}", fields.len())),
    };
    let (date, clock) = time
        .split_once(' ')
        .ok_or_else(|| format!("time {time:?} is not YYYY-MM-DD HH:MM:SS"))?;
    let parts: Vec<&str> = date.split('-').collect();
    let [year, month, day] = parts.as_slice() else {
        return Err(format!("date {date:?} is not YYYY-MM-DD"));
    };
    let (hour, minute, second, nanosecond) = parse_clock(clock)?;
    let time_ns = Civil {
        year: i64::from(digits(year)?),
        month: digits(month)?,
        day: digits(day)?,
        hour,
        minute,
        second,
        nanosecond,
    }
    .to_ns(0)?;
    let price = |text: &str| parse_ticks(text, decimals).map_err(|e| e.to_string());
    let bar = Bar {
        time_ns,
        open: price(open)?,
        high: price(high)?,
        low: price(low)?,
        close: price(close)?,
    };
    let inside = |p: Price| bar.low <= p && p <= bar.high;
    if !(inside(bar.open) && inside(bar.close)) {
        return Err("open or close outside [low, high]".to_owned());
    }
    Ok(bar)
}

/// How to generate ticks from bars.
#[derive(Debug, Clone, Copy)]
pub struct PathOptions {
    pub instrument: InstrumentId,
    pub seed: u64,
    /// Ticks per bar, at least 4 (open, two extremes, close); at most [`TICKS_PER_BAR_MAX`].
    pub ticks_per_bar: u32,
    /// Fixed spread in ticks: bid = mid - spread/2 (rounded down), ask = bid + spread.
    pub spread_ticks: Price,
}

/// The generated ticks of all bars, in time order; see the module doc for what is real.
pub fn tick_path(bars: &[Bar], options: PathOptions) -> Vec<Tick> {
    let per_bar = options.ticks_per_bar.clamp(4, TICKS_PER_BAR_MAX) as usize;
    let mut ticks = Vec::with_capacity(bars.len() * per_bar);
    for (index, bar) in bars.iter().enumerate() {
        let next_time = bars.get(index + 1).map(|b| b.time_ns);
        let span_ns = next_time
            .map_or(BAR_NS_MAX, |t| t.saturating_sub(bar.time_ns))
            .clamp(1, BAR_NS_MAX);
        // Each bar has its own stream, so a slice of bars gives the same ticks as the whole.
        let mut rng = SplitMix64::new(options.seed ^ (bar.time_ns as u64).rotate_left(17));
        let mids = bar_mids(bar, per_bar, &mut rng);
        let times = bar_times(bar.time_ns, span_ns, per_bar, &mut rng);
        for (time_ns, mid) in times.into_iter().zip(mids) {
            let bid = mid - options.spread_ticks / 2;
            ticks.push(Tick {
                time_ns,
                instrument: options.instrument,
                bid,
                ask: bid + options.spread_ticks,
            });
        }
    }
    ticks
}

/// Strictly increasing times: slot k of `span / n`, jittered inside its slot; the first at the
/// bar's start. Slots shorter than 1 ns collapse to consecutive nanoseconds.
fn bar_times(start_ns: TimeNs, span_ns: TimeNs, n: usize, rng: &mut SplitMix64) -> Vec<TimeNs> {
    let slot = (span_ns / n as i64).max(1);
    (0..n as i64)
        .map(|k| {
            let jitter = if k == 0 {
                0
            } else {
                rng.below(slot as u64) as i64
            };
            start_ns + k * slot + jitter
        })
        .collect()
}

/// `n` mid prices: open, ..., first extreme, ..., second extreme, ..., close.
fn bar_mids(bar: &Bar, n: usize, rng: &mut SplitMix64) -> Vec<Price> {
    let (first, second) = if bar.close >= bar.open {
        (bar.low, bar.high)
    } else {
        (bar.high, bar.low)
    };
    // Indices 1..=n-3 for the first extreme, then after it and before the close.
    let first_at = 1 + rng.below((n - 3) as u64) as usize;
    let second_at = first_at + 1 + rng.below((n - 2 - first_at) as u64) as usize;
    let waypoints = [
        (0, bar.open),
        (first_at, first),
        (second_at, second),
        (n - 1, bar.close),
    ];
    let range = bar.high - bar.low;
    let mut mids = vec![bar.open; n];
    for pair in waypoints.windows(2) {
        let [(from, from_price), (to, to_price)] = [pair[0], pair[1]];
        let length = (to - from) as i64;
        // Step size so the walk's spread over the leg is about a quarter of the bar's range.
        let step = (range / 4 / isqrt(length).max(1)).max(1);
        let mut walk = vec![0i64; length as usize + 1];
        for k in 1..=length as usize {
            let delta = rng.below((2 * step + 1) as u64) as i64 - step;
            walk[k] = walk[k - 1] + delta;
        }
        let end = walk[length as usize];
        for k in 0..=length {
            let bridge = walk[k as usize] - end * k / length;
            let line = from_price + (to_price - from_price) * k / length;
            mids[from + k as usize] = (line + bridge).clamp(bar.low, bar.high);
        }
    }
    mids
}

fn isqrt(value: i64) -> i64 {
    let mut root = (value as f64).sqrt() as i64;
    while root * root > value {
        root -= 1;
    }
    while (root + 1) * (root + 1) <= value {
        root += 1;
    }
    root
}

/// SplitMix64 (Steele, Lea, Flood 2014): small, fast, and fixed here forever.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64 { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..bound` (0 when `bound` is 0), by rejection so there is no modulo bias.
    pub fn below(&mut self, bound: u64) -> u64 {
        if bound == 0 {
            return 0;
        }
        let zone = u64::MAX - u64::MAX % bound;
        loop {
            let value = self.next_u64();
            if value < zone {
                return value % bound;
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // unwrap is how a test fails
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn options(seed: u64) -> PathOptions {
        PathOptions {
            instrument: InstrumentId(1),
            seed,
            ticks_per_bar: 60,
            spread_ticks: 8,
        }
    }

    #[test]
    fn reads_the_shipped_bar_format() {
        let text = ",Open,High,Low,Close,Volume\n\
                    2017-04-19 09:00:00,1.0716,1.0722,1.07083,1.07219,1413\n\
                    2017-04-19 10:00:00,1.07214,1.07296,1.07214,1.0726,1241\n\
                    2017-04-19 10:00:00,1.07214,1.07296,1.07214,1.0726,1241\n\
                    2017-04-19 11:00:00,1.07214,1.07296,1.07300,1.0726,1241\n";
        let file = read_bars(text.as_bytes(), 5).unwrap();
        assert_eq!(file.bars.len(), 2);
        assert_eq!(
            file.bars[0],
            Bar {
                time_ns: 1_492_592_400 * NS_PER_SECOND,
                open: 107_160,
                high: 107_220,
                low: 107_083,
                close: 107_219
            }
        );
        let lines: Vec<u64> = file.bad_rows.iter().map(|b| b.line).collect();
        assert_eq!(lines, vec![4, 5]);
    }

    #[test]
    fn same_seed_same_ticks_other_seed_other_ticks() {
        let bars = [Bar {
            time_ns: 0,
            open: 107_160,
            high: 107_220,
            low: 107_083,
            close: 107_219,
        }];
        assert_eq!(tick_path(&bars, options(7)), tick_path(&bars, options(7)));
        assert_ne!(tick_path(&bars, options(7)), tick_path(&bars, options(8)));
    }

    #[test]
    fn splitmix_reference_values() {
        // First outputs for seed 0, as published with the algorithm.
        let mut rng = SplitMix64::new(0);
        assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(rng.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    prop_compose! {
        fn a_bar()(low in 50_000i64..200_000, range in 0i64..2_000, o in 0i64..=1000, c in 0i64..=1000,
                   hour in 0i64..100_000)
                  -> Bar {
            let high = low + range;
            Bar { time_ns: hour * BAR_NS_MAX, open: low + range * o / 1000, high, low, close: low + range * c / 1000 }
        }
    }

    proptest! {
        #[test]
        fn each_bar_path_is_pinned_to_its_bar(bar in a_bar(), seed in any::<u64>(), per_bar in 4u32..200) {
            let ticks = tick_path(&[bar], PathOptions { ticks_per_bar: per_bar, ..options(seed) });
            let mids: Vec<i64> = ticks.iter().map(|t| t.bid + 4).collect();
            prop_assert_eq!(mids.len(), per_bar as usize);
            prop_assert_eq!(mids[0], bar.open);
            prop_assert_eq!(*mids.last().unwrap(), bar.close);
            prop_assert_eq!(*mids.iter().max().unwrap(), bar.high);
            prop_assert_eq!(*mids.iter().min().unwrap(), bar.low);
            prop_assert!(ticks.windows(2).all(|w| w[0].time_ns < w[1].time_ns));
            prop_assert!(ticks.iter().all(|t| t.time_ns >= bar.time_ns && t.time_ns < bar.time_ns + BAR_NS_MAX));
            prop_assert!(ticks.iter().all(|t| t.ask - t.bid == 8));
        }
    }
}
