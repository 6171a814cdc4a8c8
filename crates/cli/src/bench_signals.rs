//! `fxdesk bench signals`: the outside-signals detector on simulated weeks with known outages
//! and market-wide spikes; recall, false alarms per week and detection delay per sensitivity.

use std::collections::BTreeMap;
use std::time::Instant;

use clap::Args;
use fxdesk_signals::detector::DetectorParams;
use fxdesk_signals::eval::{evaluate_sensitivities, EvalResult, DETECTION_GRACE_MINUTES};
use fxdesk_signals::sim::{SimConfig, SIM_WEEKS_MAX};
use fxdesk_signals::Sensitivity;
use serde::Serialize;

#[derive(Debug, Args)]
pub struct BenchSignalsArgs {
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    /// Simulated weeks per scenario (after one warm-up day).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=i64::from(SIM_WEEKS_MAX)))]
    weeks: u32,
    /// Seed of the simulation (same seed, same figures).
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(Serialize)]
struct Scenario {
    name: &'static str,
    description: &'static str,
    simulation: SimConfig,
    results: Vec<EvalResult>,
}

#[derive(Serialize)]
struct Report {
    bench: &'static str,
    weeks: u32,
    seed: u64,
    detection_grace_minutes: i64,
    detector_defaults: BTreeMap<&'static str, DetectorParams>,
    outage_words_detector_defaults: BTreeMap<&'static str, DetectorParams>,
    scenarios: Vec<Scenario>,
    elapsed_ms: u128,
}

pub fn run(args: BenchSignalsArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let plan = [
        (
            "mixed",
            "outages multiply our rate by 2-5x for 10-60 min; market spikes 3-10x for everyone",
            SimConfig::standard(args.seed, args.weeks),
        ),
        (
            "doubling",
            "every outage exactly doubles our rate; same market spikes",
            SimConfig::doubling(args.seed, args.weeks),
        ),
        (
            "quiet_board",
            "every outage doubles our rate, but our thread has only 4 posts/min at its busiest",
            SimConfig {
                ours_busy_per_minute: 4.0,
                ..SimConfig::doubling(args.seed, args.weeks)
            },
        ),
    ];
    let mut scenarios = Vec::new();
    for (name, description, simulation) in plan {
        let results = evaluate_sensitivities(&simulation)?;
        scenarios.push(Scenario {
            name,
            description,
            simulation,
            results,
        });
    }
    let report = Report {
        bench: "signals",
        weeks: args.weeks,
        seed: args.seed,
        detection_grace_minutes: DETECTION_GRACE_MINUTES,
        detector_defaults: Sensitivity::ALL
            .iter()
            .map(|&s| (s.name(), DetectorParams::for_sensitivity(s)))
            .collect(),
        outage_words_detector_defaults: Sensitivity::ALL
            .iter()
            .map(|&s| (s.name(), DetectorParams::for_outage_words(s)))
            .collect(),
        scenarios,
        elapsed_ms: started.elapsed().as_millis(),
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    println!(
        "signals bench: {} simulated weeks per scenario, seed {}",
        report.weeks, report.seed
    );
    println!(
        "{:<11} {:<9} {:<18} {:>7} {:>8} {:>10} {:>8} {:>9} {:>9} {:>9}",
        "scenario",
        "setting",
        "evidence",
        "recall",
        "outages",
        "false/wk",
        "spike-FA",
        "delay-p50",
        "delay-p95",
        "busy-p95"
    );
    for scenario in &report.scenarios {
        for result in &scenario.results {
            println!(
                "{:<11} {:<9} {:<18} {:>7.3} {:>8} {:>10.2} {:>8} {:>9} {:>9} {:>9}",
                scenario.name,
                result.sensitivity.name(),
                result.evidence,
                result.recall,
                result.outages,
                result.false_alarms_per_week,
                result.alarms_during_market_spikes,
                minutes(result.delay_minutes_median),
                minutes(result.delay_minutes_p95),
                minutes(result.busy_hour_delay_minutes_p95),
            );
        }
    }
    println!("({} ms)", report.elapsed_ms);
    Ok(())
}

fn minutes(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |m| format!("{m:.0} min"))
}
