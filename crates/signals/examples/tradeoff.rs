//! The detector's trade-off on the simulated board: for a grid of CUSUM thresholds `h`,
//! overdispersion corrections `c` and fast-window thresholds `z` (0: window test off), recall,
//! false alarms per week and detection delay (p50, p95, max) on the `doubling` and `mixed`
//! scenarios, pooled over several seeds (1..=SEEDS, WEEKS simulated weeks each).
//!
//! `cargo run --release -p fxdesk-signals --example tradeoff [-- WEEKS SEEDS]`

use fxdesk_signals::detector::{DetectorParams, Sensitivity};
use fxdesk_signals::eval::{evaluate_run, percentile};
use fxdesk_signals::sim::{simulate, SimConfig, SimRun};

struct Pooled {
    outages: usize,
    detected: usize,
    false_alarms: usize,
    weeks: u32,
    delays: Vec<f64>,
}

fn pooled(runs: &[SimRun], params: &DetectorParams) -> Pooled {
    let mut p = Pooled {
        outages: 0,
        detected: 0,
        false_alarms: 0,
        weeks: 0,
        delays: Vec::new(),
    };
    for run in runs {
        let r = evaluate_run(run, Sensitivity::Standard, params);
        p.outages += r.outages;
        p.detected += r.outages_detected;
        p.false_alarms += r.false_alarms;
        p.weeks += r.weeks;
        p.delays.extend(r.delays_minutes);
    }
    p
}

/// The `quiet_board` scenario of `fxdesk bench signals`: 4 posts/min at the busiest hour.
fn quiet_board(seed: u64, weeks: u32) -> SimConfig {
    SimConfig {
        ours_busy_per_minute: 4.0,
        ..SimConfig::doubling(seed, weeks)
    }
}

/// A named simulated board.
type Scenario = (&'static str, fn(u64, u32) -> SimConfig);

fn main() {
    let mut args = std::env::args().skip(1);
    let weeks: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(26);
    let seeds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(4);
    let scenarios: [Scenario; 3] = [
        ("doubling", SimConfig::doubling),
        ("mixed", SimConfig::standard),
        ("quiet", quiet_board),
    ];
    println!(
        "{:<9} {:>5} {:>6} {:>5} {:>6} {:>8} {:>5} {:>5} {:>5}",
        "scenario", "h", "c", "z", "recall", "false/wk", "p50", "p95", "max"
    );
    for (name, make) in scenarios {
        let runs: Vec<SimRun> = (1..=seeds)
            .map(|seed| simulate(&make(seed, weeks)).expect("valid simulation"))
            .collect();
        for threshold in [9.0, 6.0] {
            for overdispersion in [0.02, 0.01] {
                for window_z in [0.0, 4.5, 4.0, 3.6, 3.0] {
                    let params = DetectorParams {
                        threshold,
                        overdispersion_per_event: overdispersion,
                        window_z_threshold: window_z,
                        ..DetectorParams::for_sensitivity(Sensitivity::Standard)
                    };
                    let p = pooled(&runs, &params);
                    let mut delays = p.delays.clone();
                    delays.sort_by(f64::total_cmp);
                    let show =
                        |q: f64| percentile(&delays, q).map_or("-".into(), |d| format!("{d}"));
                    println!(
                        "{name:<9} {threshold:>5.1} {overdispersion:>6.3} {window_z:>5.2} {:>6.3} {:>8.2} {:>5} {:>5} {:>5}",
                        p.detected as f64 / p.outages.max(1) as f64,
                        p.false_alarms as f64 / f64::from(p.weeks.max(1)),
                        show(0.5),
                        show(0.95),
                        show(1.0),
                    );
                }
            }
        }
    }
}
