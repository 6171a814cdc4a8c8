//! The outage-word detector's trade-off: all posts judged with the standard parameters, the
//! posts containing outage words with a grid of CUSUM thresholds `h`, tuned rises `k` and window
//! thresholds `z`; recall, false alarms per week (both detectors together, one per incident) and
//! detection delay on the `doubling` and `mixed` scenarios, pooled over seeds 1..=SEEDS.
//!
//! `cargo run --release -p fxdesk-signals --example words_tradeoff [-- WEEKS SEEDS]`

use fxdesk_signals::detector::{DetectorParams, Sensitivity};
use fxdesk_signals::eval::{evaluate_run_with_outage_words, percentile};
use fxdesk_signals::sim::{simulate, SimConfig, SimRun};

type Scenario = (&'static str, fn(u64, u32) -> SimConfig);

fn main() {
    let mut args = std::env::args().skip(1);
    let weeks: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(26);
    let seeds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(4);
    let scenarios: [Scenario; 2] = [
        ("doubling", SimConfig::doubling),
        ("mixed", SimConfig::standard),
    ];
    let posts = DetectorParams::for_sensitivity(Sensitivity::Standard);
    let standard_words = DetectorParams::for_outage_words(Sensitivity::Standard);
    println!(
        "{:<9} {:>5} {:>4} {:>5} {:>6} {:>8} {:>5} {:>5} {:>5}",
        "scenario", "h", "k", "z", "recall", "false/wk", "p50", "p95", "max"
    );
    for (name, make) in scenarios {
        let runs: Vec<SimRun> = (1..=seeds)
            .map(|seed| simulate(&make(seed, weeks)).expect("valid simulation"))
            .collect();
        for threshold in [9.0, 12.0] {
            for k in [4.0, 8.0] {
                for window_z in [4.5, 5.0, 5.5] {
                    let words = DetectorParams {
                        threshold,
                        rate_multiplier_h1: k,
                        window_z_threshold: window_z,
                        ..standard_words.clone()
                    };
                    let (mut outages, mut detected, mut false_alarms, mut pooled_weeks) =
                        (0, 0, 0, 0);
                    let mut delays = Vec::new();
                    for run in &runs {
                        let r = evaluate_run_with_outage_words(
                            run,
                            Sensitivity::Standard,
                            &posts,
                            &words,
                        );
                        outages += r.outages;
                        detected += r.outages_detected;
                        false_alarms += r.false_alarms;
                        pooled_weeks += r.weeks;
                        delays.extend(r.delays_minutes);
                    }
                    delays.sort_by(f64::total_cmp);
                    let show =
                        |q: f64| percentile(&delays, q).map_or("-".into(), |d| format!("{d}"));
                    let marker = if words == standard_words {
                        "  <- standard"
                    } else {
                        ""
                    };
                    println!(
                        "{name:<9} {threshold:>5.1} {k:>4.0} {window_z:>5.2} {:>6.3} {:>8.2} {:>5} {:>5} {:>5}{marker}",
                        detected as f64 / outages.max(1) as f64,
                        false_alarms as f64 / f64::from(pooled_weeks.max(1)),
                        show(0.5),
                        show(0.95),
                        show(1.0),
                    );
                }
            }
        }
    }
}
