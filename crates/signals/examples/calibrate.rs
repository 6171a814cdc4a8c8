//! Prints the evaluation figures for a few seeds: `cargo run --release --example calibrate -- WEEKS`.
use fxdesk_signals::eval::evaluate_sensitivities;
use fxdesk_signals::sim::SimConfig;

fn main() {
    let weeks: u32 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(8);
    for seed in [1u64, 2, 3] {
        for (name, config) in [
            ("mixed", SimConfig::standard(seed, weeks)),
            ("doubling", SimConfig::doubling(seed, weeks)),
        ] {
            let Ok(results) = evaluate_sensitivities(&config) else {
                return;
            };
            for r in results {
                println!("seed {seed} {name:9} {:9} recall {:.3} fa/wk {:.2} spike-alarms {} delay med {:?} p95 {:?} max {:?}",
                    r.sensitivity.name(), r.recall, r.false_alarms_per_week, r.alarms_during_market_spikes,
                    r.delay_minutes_median, r.delay_minutes_p95, r.delay_minutes_max);
            }
        }
    }
}
