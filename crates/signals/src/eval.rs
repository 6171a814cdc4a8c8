//! Evaluation of the detector on simulated runs: recall, false alarms per week and detection
//! delay, per sensitivity. Used by the tests and by `fxdesk bench signals`.

use serde::Serialize;

use crate::detector::{Alarm, Detector, DetectorParams, Sensitivity};
use crate::error::SignalsError;
use crate::sim::{simulate, EpisodeKind, SimConfig, SimRun};

/// An alarm up to this many minutes after an outage ended still counts as detecting it (the
/// CUSUM may cross just after a short outage); later alarms are false.
pub const DETECTION_GRACE_MINUTES: i64 = 5;
/// Outages that start where our usual rate is at least this fraction of the busiest hour's are
/// "busy-hour" outages, reported apart: detection speed depends on how many posts there are.
pub const BUSY_FRACTION_MIN: f64 = 2.0 / 3.0;

/// Figures for one sensitivity on one run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalResult {
    pub sensitivity: Sensitivity,
    /// What the alarms were raised on: `posts` (all posts) or `posts+outage_words` (also the
    /// posts containing outage words, as the monitor does for groups it watches for them).
    pub evidence: &'static str,
    pub threshold: f64,
    pub weeks: u32,
    pub outages: usize,
    pub outages_detected: usize,
    pub recall: f64,
    /// Alarms that match no outage (including those during market spikes).
    pub false_alarms: usize,
    pub false_alarms_per_week: f64,
    /// Of the false alarms, those during a market-wide spike.
    pub market_spikes: usize,
    pub alarms_during_market_spikes: usize,
    /// Minutes from an outage's first minute to the end of the minute whose count raised the
    /// alarm (so at least 1: a minute is judged once it is over). Over detected outages.
    pub delay_minutes_median: Option<f64>,
    pub delay_minutes_p95: Option<f64>,
    pub delay_minutes_max: Option<f64>,
    /// The same, over outages that started at busy hours (see [`BUSY_FRACTION_MIN`]).
    pub busy_hour_outages: usize,
    pub busy_hour_delay_minutes_median: Option<f64>,
    pub busy_hour_delay_minutes_p95: Option<f64>,
    pub alarms_total: usize,
    /// Every detected outage's delay, sorted (for pooling runs; left out of the JSON).
    #[serde(skip)]
    pub delays_minutes: Vec<f64>,
}

/// Runs a detector with `params` over the whole run and scores its alarms.
pub fn evaluate_run(run: &SimRun, sensitivity: Sensitivity, params: &DetectorParams) -> EvalResult {
    let peer_names: Vec<String> = (0..run.peers).map(|i| format!("peer-{}", i + 1)).collect();
    let mut detector = Detector::new(params.clone(), "sim", "ours", &peer_names);
    let mut alarms: Vec<Alarm> = Vec::new();
    for index in 0..run.minutes {
        let (minute, ours, peers) = run.minute(index);
        if let Some(alarm) = detector.observe(minute, ours, peers) {
            alarms.push(alarm);
        }
    }
    score(
        run,
        sensitivity,
        "posts",
        detector.params().threshold,
        &alarms,
    )
}

/// Like [`evaluate_run`], with a second detector on the posts that contain outage words
/// (`words_params`, normally [`DetectorParams::for_outage_words`]), as the monitor runs it. An
/// alarm of either counts; an alarm within the hold-off after another is the same incident
/// (the desk annotates it) and is not scored again.
pub fn evaluate_run_with_outage_words(
    run: &SimRun,
    sensitivity: Sensitivity,
    params: &DetectorParams,
    words_params: &DetectorParams,
) -> EvalResult {
    let peer_names: Vec<String> = (0..run.peers).map(|i| format!("peer-{}", i + 1)).collect();
    let mut posts = Detector::new(params.clone(), "sim", "ours", &peer_names);
    let mut words = Detector::new(words_params.clone(), "sim#words", "ours", &peer_names);
    let mut alarms: Vec<Alarm> = Vec::new();
    for index in 0..run.minutes {
        let (minute, ours, peers) = run.minute(index);
        let (ours_words, peers_words) = run.minute_words(index);
        let raised = [
            posts.observe(minute, ours, peers),
            words.observe(minute, ours_words, peers_words),
        ];
        for alarm in raised.into_iter().flatten() {
            let same_incident = alarms.last().is_some_and(|last| {
                alarm.fired_at.0 - last.fired_at.0 <= posts.params().holdoff_minutes
            });
            if !same_incident {
                alarms.push(alarm);
            }
        }
    }
    score(
        run,
        sensitivity,
        "posts+outage_words",
        posts.params().threshold,
        &alarms,
    )
}

fn score(
    run: &SimRun,
    sensitivity: Sensitivity,
    evidence: &'static str,
    threshold: f64,
    alarms: &[Alarm],
) -> EvalResult {
    let busy_rate_min = BUSY_FRACTION_MIN * run.ours_busy_per_minute;
    let outages: Vec<_> = run
        .episodes
        .iter()
        .filter(|episode| episode.kind == EpisodeKind::Outage)
        .collect();
    let spikes: Vec<_> = run
        .episodes
        .iter()
        .filter(|episode| episode.kind == EpisodeKind::MarketSpike)
        .collect();
    let mut delays: Vec<f64> = Vec::new();
    let mut busy_delays: Vec<f64> = Vec::new();
    let mut detected = vec![false; outages.len()];
    let mut false_alarms = 0usize;
    let mut alarms_during_spikes = 0usize;
    for alarm in alarms {
        let matched = outages.iter().position(|outage| {
            outage.start <= alarm.fired_at
                && alarm.fired_at < outage.end_exclusive.plus(DETECTION_GRACE_MINUTES)
        });
        match matched {
            Some(index) => {
                if !detected[index] {
                    detected[index] = true;
                    let delay = (alarm.fired_at.0 + 1 - outages[index].start.0) as f64;
                    debug_assert!(delay >= 1.0, "an alarm cannot precede its outage's minute");
                    delays.push(delay);
                    if outages[index].ours_base_per_minute >= busy_rate_min {
                        busy_delays.push(delay);
                    }
                }
            }
            None => {
                false_alarms += 1;
                let in_spike = spikes.iter().any(|spike| {
                    spike.start <= alarm.fired_at
                        && alarm.fired_at < spike.end_exclusive.plus(DETECTION_GRACE_MINUTES)
                });
                if in_spike {
                    alarms_during_spikes += 1;
                }
            }
        }
    }
    delays.sort_by(f64::total_cmp);
    busy_delays.sort_by(f64::total_cmp);
    let outages_detected = detected.iter().filter(|&&d| d).count();
    EvalResult {
        sensitivity,
        evidence,
        threshold,
        weeks: run.weeks,
        outages: outages.len(),
        outages_detected,
        recall: if outages.is_empty() {
            1.0
        } else {
            outages_detected as f64 / outages.len() as f64
        },
        false_alarms,
        false_alarms_per_week: false_alarms as f64 / f64::from(run.weeks.max(1)),
        market_spikes: spikes.len(),
        alarms_during_market_spikes: alarms_during_spikes,
        delay_minutes_median: percentile(&delays, 0.5),
        delay_minutes_p95: percentile(&delays, 0.95),
        delay_minutes_max: delays.last().copied(),
        busy_hour_outages: outages
            .iter()
            .filter(|outage| outage.ours_base_per_minute >= busy_rate_min)
            .count(),
        busy_hour_delay_minutes_median: percentile(&busy_delays, 0.5),
        busy_hour_delay_minutes_p95: percentile(&busy_delays, 0.95),
        alarms_total: alarms.len(),
        delays_minutes: delays,
    }
}

/// Nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[f64], fraction: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (fraction * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Simulates `config` once and evaluates every sensitivity with its default parameters, on
/// posts alone and on posts plus outage words.
pub fn evaluate_sensitivities(config: &SimConfig) -> Result<Vec<EvalResult>, SignalsError> {
    let run = simulate(config)?;
    let mut results = Vec::new();
    for sensitivity in Sensitivity::ALL {
        let params = DetectorParams::for_sensitivity(sensitivity);
        results.push(evaluate_run(&run, sensitivity, &params));
        results.push(evaluate_run_with_outage_words(
            &run,
            sensitivity,
            &params,
            &DetectorParams::for_outage_words(sensitivity),
        ));
    }
    Ok(results)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn percentile_nearest_rank() {
        let values = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0];
        assert_eq!(percentile(&values, 0.5), Some(5.0));
        assert_eq!(percentile(&values, 0.95), Some(10.0));
        assert_eq!(percentile(&[], 0.5), None);
        assert_eq!(percentile(&[3.0], 0.95), Some(3.0));
    }
}
