//! The detector: does our stream rise beyond what the peers' current rates predict?
//!
//! Model. In a minute `t` let `y` be our count and `P` the sum of the peers' counts. Take both as
//! Poisson, ours with rate `r·μ(t)` and the peers' with rate `μ(t)`: `μ(t)` is whatever moves the
//! whole market (the hour of the day, a flash crash, a central-bank surprise) and `r` is our
//! usual share relative to the peers. The *expected* count for us is `r·P`. Conditioned on the
//! minute's total `N = y + P`, our count is binomial, `y ~ Bin(N, p)` with `p = r/(1+r)`: the
//! unknown market rate `μ(t)` cancels out exactly. That conditioning is what makes a market-wide
//! spike page no one, however large it is.
//!
//! Test. H0: our rate is `r` times the peers' (`p0 = r/(1+r)`); H1: it is `k·r` times
//! (`p1 = k·r/(1+k·r)`, `k` = [`DetectorParams::rate_multiplier_h1`], 2 by default). The
//! per-minute log-likelihood ratio is `y·ln(p1/p0) + P·ln((1−p1)/(1−p0))` (this is the Poisson
//! likelihood ratio of "ours at k× expected" given the peers), and a one-sided CUSUM
//! `S = max(0, S + llr)` alarms when `S ≥ h`, `h` = the sensitivity's threshold. The onset is
//! estimated as the minute after `S` last left zero. After an alarm `S` restarts from zero and no
//! new alarm is raised for [`DetectorParams::holdoff_minutes`]; meanwhile `S` runs but is held at
//! most at `h`, so a rise still going on when the hold-off ends alarms again (the incident is
//! annotated) and one that ended does not.
//!
//! An alarm also needs our share over the evidence window to be at least
//! [`DetectorParams::min_rise_ratio`] (1.5) times the usual: with hundreds of posts a minute a
//! 20% wobble is statistically certain, yet it is a busy market, not an outage.
//!
//! And one minute adds at most half the threshold
//! ([`DetectorParams::minute_evidence_max_fraction`]): a single burst never pages alone.
//!
//! Boards are burstier than Poisson, so each minute's llr is divided by `1 + c·r·P`
//! ([`DetectorParams::overdispersion_per_event`]): with many posts a minute, evidence per minute
//! saturates instead of growing without bound (a quasi-likelihood correction).
//!
//! Beside the CUSUM runs a fast window test ([`DetectorParams::window_z_threshold`]): over the
//! last 2, 3 and 4 minutes, our count's excess over `r·P` in standard deviations of the
//! overdispersed model (our variance `e + c·e²` with `e = r·P`, plus `r²` times the peers'
//! `P + c·ΣPᵢ²`), each minute's part of the excess capped at half of what the alarm needs. It
//! alarms at `z` (with the same `min_rise_ratio`). The CUSUM spends its first minutes cancelling
//! the negative drift it carries in calm times; the window test answers "is the last few
//! minutes' excess clear?" directly, which cuts the p95 delay of a doubling from 6 to 5 minutes
//! at `standard` (see the README's trade-off table for the price in false alarms). Its z is the
//! signed root of the Poisson deviance scaled by the dispersion, not `(y − e)/σ`, whose heavy
//! tails at a few events a minute would page on noise.
//!
//! The ratio `r` is learned: an exponentially weighted sum of our counts over the peers' counts
//! (half-life [`DetectorParams::ratio_half_life_minutes`]), started from a prior worth a few peer
//! posts. A minute is learned from only once it is [`DetectorParams::learn_delay_minutes`] old
//! and no alarm has claimed it (minutes from an alarm's onset on, and its hold-off, are never
//! learned), so an outage does not teach the detector that outages are normal.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::time::UnixMinute;

/// Bounds on the learned ratio ours/peers, so the log terms stay finite.
pub const RATIO_MIN: f64 = 1e-3;
pub const RATIO_MAX: f64 = 1e3;
/// Learning delay is capped (the delay buffer is the detector's only growing state).
pub const LEARN_DELAY_MINUTES_MAX: usize = 240;

/// How readily the detector pages. Each maps to a CUSUM threshold (see [`Sensitivity::threshold`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sensitivity {
    /// Fewer false alarms, slower.
    Low,
    /// The default: at most one false alarm a week on the simulated board (see the crate docs).
    #[default]
    Standard,
    /// Faster, more false alarms.
    High,
}

impl Sensitivity {
    pub const ALL: [Sensitivity; 3] = [Sensitivity::Low, Sensitivity::Standard, Sensitivity::High];

    /// CUSUM threshold `h` (nats of evidence). Without change, a CUSUM's mean time between false
    /// alarms grows roughly like `e^h`; the delay grows linearly in `h`.
    pub fn threshold(self) -> f64 {
        match self {
            Sensitivity::Low => 12.0,
            Sensitivity::Standard => 9.0,
            Sensitivity::High => 6.0,
        }
    }

    /// z threshold of the fast window test beside the CUSUM (see
    /// [`DetectorParams::window_z_threshold`]), chosen on the simulated board with
    /// `cargo run --release -p fxdesk-signals --example tradeoff` (see the crate README).
    pub fn window_z_threshold(self) -> f64 {
        match self {
            Sensitivity::Low => 4.5,
            Sensitivity::Standard => 4.0,
            Sensitivity::High => 3.6,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Sensitivity::Low => "low",
            Sensitivity::Standard => "standard",
            Sensitivity::High => "high",
        }
    }
}

/// Tuning of one detector. [`DetectorParams::for_sensitivity`] gives the defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectorParams {
    /// `k`: the rise the test is tuned to (2 = "our rate doubled relative to the peers").
    pub rate_multiplier_h1: f64,
    /// `h`: the CUSUM alarm threshold.
    pub threshold: f64,
    /// `c` in the variance model `var = λ·(1 + c·λ)`: real boards are burstier than Poisson, so
    /// each minute's evidence is divided by `1 + c·expected` (quasi-likelihood). Without it a
    /// market-wide spike of hundreds of posts a minute turns a 10% wobble in our share into
    /// "proof" of an outage.
    pub overdispersion_per_event: f64,
    /// An alarm also needs our share over the evidence window to be at least this multiple of
    /// the usual share: statistics alone would call a steady 20% rise "certain" given enough
    /// posts, but a 20% rise is a busy market, not an outage.
    pub min_rise_ratio: f64,
    /// One minute adds at most this fraction of the threshold to the score, so no single
    /// minute (one burst of posts, one slow peer poll) can raise an alarm alone.
    pub minute_evidence_max_fraction: f64,
    /// Prior for the ratio ours/peers before anything is learned.
    pub ratio_prior: f64,
    /// Weight of the prior, in peer events (small: the data overrules it within minutes).
    pub ratio_prior_weight_events: f64,
    pub ratio_half_life_minutes: f64,
    pub learn_delay_minutes: usize,
    pub holdoff_minutes: i64,
    /// No alarm during the first minutes, while the ratio is learned.
    pub warmup_minutes: i64,
    /// The fast test beside the CUSUM: our excess over the expected count in the last
    /// `window_minutes_min..=window_minutes_max` minutes, in standard deviations of the
    /// overdispersed model (see [`Detector`]), alarms at this z. 0 turns it off.
    #[serde(default)]
    pub window_z_threshold: f64,
    #[serde(default = "default_window_minutes_min")]
    pub window_minutes_min: usize,
    #[serde(default = "default_window_minutes_max")]
    pub window_minutes_max: usize,
}

fn default_window_minutes_min() -> usize {
    2
}
fn default_window_minutes_max() -> usize {
    4
}

/// Longest window of the fast test (its ring is the detector's only other growing state).
pub const WINDOW_MINUTES_MAX: usize = 30;

impl DetectorParams {
    pub fn for_sensitivity(sensitivity: Sensitivity) -> Self {
        DetectorParams {
            rate_multiplier_h1: 2.0,
            threshold: sensitivity.threshold(),
            overdispersion_per_event: 0.02,
            min_rise_ratio: 1.5,
            minute_evidence_max_fraction: 0.5,
            ratio_prior: 0.25,
            ratio_prior_weight_events: 20.0,
            ratio_half_life_minutes: 6.0 * 60.0,
            learn_delay_minutes: 15,
            holdoff_minutes: 30,
            warmup_minutes: 120,
            window_z_threshold: sensitivity.window_z_threshold(),
            window_minutes_min: default_window_minutes_min(),
            window_minutes_max: default_window_minutes_max(),
        }
    }

    /// For the posts that contain outage words (see [`crate::words`]): a few an hour on an
    /// ordinary day, ten times as many or more in an outage. The test is tuned to an eightfold
    /// rise, an alarm needs at least three times the usual share (small counts wobble a lot in
    /// ratio), and both the CUSUM and the window test ask for more certainty than on all posts,
    /// because at under one event a minute the deviance's tail is heavier than the normal's.
    /// Chosen with `cargo run --release -p fxdesk-signals --example words_tradeoff` (see the
    /// crate README): it halves the false alarms of a fourfold tuning at the same delay.
    pub fn for_outage_words(sensitivity: Sensitivity) -> Self {
        DetectorParams {
            rate_multiplier_h1: 8.0,
            threshold: sensitivity.threshold() * 4.0 / 3.0,
            min_rise_ratio: 3.0,
            ratio_prior: 0.25,
            ratio_prior_weight_events: 5.0,
            window_z_threshold: sensitivity.window_z_threshold() + 1.0,
            ..DetectorParams::for_sensitivity(sensitivity)
        }
    }

    fn validated(mut self) -> Self {
        // Keep every parameter in a range where the arithmetic means something.
        if !(self.rate_multiplier_h1.is_finite() && self.rate_multiplier_h1 > 1.0) {
            self.rate_multiplier_h1 = 2.0;
        }
        if !(self.threshold.is_finite() && self.threshold > 0.0) {
            self.threshold = Sensitivity::Standard.threshold();
        }
        if !self.ratio_prior.is_finite() {
            self.ratio_prior = 0.25;
        }
        self.ratio_prior = self.ratio_prior.clamp(RATIO_MIN, RATIO_MAX);
        if !(self.overdispersion_per_event.is_finite() && self.overdispersion_per_event >= 0.0) {
            self.overdispersion_per_event = 0.02;
        }
        if !(self.ratio_prior_weight_events.is_finite() && self.ratio_prior_weight_events > 0.0) {
            self.ratio_prior_weight_events = 20.0;
        }
        if !(self.ratio_half_life_minutes.is_finite() && self.ratio_half_life_minutes >= 1.0) {
            self.ratio_half_life_minutes = 360.0;
        }
        if !(self.minute_evidence_max_fraction.is_finite()
            && self.minute_evidence_max_fraction > 0.0)
        {
            self.minute_evidence_max_fraction = 0.5;
        }
        if !(self.min_rise_ratio.is_finite() && self.min_rise_ratio >= 1.0) {
            self.min_rise_ratio = 1.5;
        }
        self.learn_delay_minutes = self.learn_delay_minutes.min(LEARN_DELAY_MINUTES_MAX);
        if !(self.window_z_threshold.is_finite() && self.window_z_threshold >= 0.0) {
            self.window_z_threshold = 0.0;
        }
        self.window_minutes_max = self.window_minutes_max.clamp(1, WINDOW_MINUTES_MAX);
        self.window_minutes_min = self.window_minutes_min.clamp(1, self.window_minutes_max);
        self.holdoff_minutes = self.holdoff_minutes.max(0);
        self.warmup_minutes = self.warmup_minutes.max(0);
        self
    }
}

/// `sign(y − e)·√(2·(y·ln(y/e) − (y − e)))`: the Poisson likelihood-ratio statistic of seeing
/// `y` where `e` was expected, as a z-score.
fn signed_root_deviance(y: f64, e: f64) -> f64 {
    if e <= 0.0 || y.is_nan() {
        return 0.0;
    }
    let y = y.max(0.0);
    let log_term = if y > 0.0 { y * (y / e).ln() } else { 0.0 };
    let deviance = (2.0 * (log_term - (y - e))).max(0.0);
    deviance.sqrt().copysign(y - e)
}

/// A peer's rate over the alarm's window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeerRate {
    pub stream: String,
    pub per_minute: f64,
}

/// An alarm that explains itself.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alarm {
    pub group: String,
    pub ours_stream: String,
    /// Estimated first minute of the rise (the minute after the CUSUM last stood at zero).
    pub onset: UnixMinute,
    /// The minute whose count raised the alarm; the alarm exists once this minute is over.
    pub fired_at: UnixMinute,
    /// Our rate from `onset` to `fired_at`, per minute.
    pub ours_per_minute: f64,
    /// What the peers' rates over the same minutes predicted for us (`ratio_usual × peers`).
    pub expected_per_minute: f64,
    pub peers: Vec<PeerRate>,
    /// The learned ratio ours/peers.
    pub ratio_usual: f64,
    /// Ours/peers over the alarm's window.
    pub ratio_now: f64,
    pub score: f64,
    pub threshold: f64,
    /// One sentence for a person.
    pub summary: String,
}

/// What the detector is doing, for a status page.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DetectorStatus {
    pub score: f64,
    pub threshold: f64,
    pub ratio_usual: f64,
    pub warming_up: bool,
    pub holdoff_until: Option<UnixMinute>,
    pub last_minute: Option<UnixMinute>,
}

/// One CUSUM detector for one group (our stream against its peers).
#[derive(Debug, Clone)]
pub struct Detector {
    params: DetectorParams,
    group: String,
    ours_stream: String,
    peer_streams: Vec<String>,
    /// EWMA sums for the ratio.
    learned_ours: f64,
    learned_peers: f64,
    decay_per_minute: f64,
    /// Minutes waiting to be learned from.
    learn_queue: VecDeque<(UnixMinute, u32, u64)>,
    score: f64,
    /// Window since the score last left zero: for the onset and the alarm's explanation.
    run_onset: Option<UnixMinute>,
    run_ours: u64,
    run_peers: Vec<u64>,
    run_minutes: u64,
    minutes_seen: i64,
    last_minute: Option<UnixMinute>,
    holdoff_until: Option<UnixMinute>,
    /// The last minutes for the fast window test: (minute, ours, each peer's count).
    recent: VecDeque<(UnixMinute, u32, Vec<u32>)>,
}

impl Detector {
    pub fn new(
        params: DetectorParams,
        group: &str,
        ours_stream: &str,
        peer_streams: &[String],
    ) -> Self {
        let params = params.validated();
        Detector {
            learned_ours: params.ratio_prior * params.ratio_prior_weight_events,
            learned_peers: params.ratio_prior_weight_events,
            decay_per_minute: 0.5f64.powf(1.0 / params.ratio_half_life_minutes),
            group: group.to_owned(),
            ours_stream: ours_stream.to_owned(),
            peer_streams: peer_streams.to_vec(),
            learn_queue: VecDeque::with_capacity(params.learn_delay_minutes + 1),
            score: 0.0,
            run_onset: None,
            run_ours: 0,
            run_peers: vec![0; peer_streams.len()],
            run_minutes: 0,
            minutes_seen: 0,
            last_minute: None,
            holdoff_until: None,
            recent: VecDeque::with_capacity(params.window_minutes_max + 1),
            params,
        }
    }

    pub fn params(&self) -> &DetectorParams {
        &self.params
    }

    /// The learned ratio ours/peers.
    pub fn ratio_usual(&self) -> f64 {
        (self.learned_ours / self.learned_peers).clamp(RATIO_MIN, RATIO_MAX)
    }

    pub fn status(&self) -> DetectorStatus {
        DetectorStatus {
            score: self.score,
            threshold: self.params.threshold,
            ratio_usual: self.ratio_usual(),
            warming_up: self.minutes_seen < self.params.warmup_minutes,
            holdoff_until: self.holdoff_until,
            last_minute: self.last_minute,
        }
    }

    /// Feeds one finished minute. Minutes must come in increasing order (gaps are allowed); a
    /// minute not after the last one is ignored. `peers` must have one count per peer stream, in
    /// the order given to [`Detector::new`]; missing ones count as 0, extra ones are ignored.
    pub fn observe(&mut self, minute: UnixMinute, ours: u32, peers: &[u32]) -> Option<Alarm> {
        if self.last_minute.is_some_and(|last| minute <= last) {
            return None;
        }
        self.last_minute = Some(minute);
        self.minutes_seen += 1;
        let peers_total: u64 = peers
            .iter()
            .take(self.peer_streams.len())
            .map(|&c| u64::from(c))
            .sum();

        let in_holdoff = self.holdoff_until.is_some_and(|until| minute < until);
        if !in_holdoff {
            self.learn_queue.push_back((minute, ours, peers_total));
        }
        while self.learn_queue.len() > self.params.learn_delay_minutes {
            if let Some((_, y, p)) = self.learn_queue.pop_front() {
                self.learn(y, p);
            }
        }

        let llr = self.log_likelihood_ratio(ours, peers_total);
        let previous = self.score;
        self.score = (self.score + llr).max(0.0);
        debug_assert!(
            self.score.is_finite() && self.score >= 0.0,
            "score {}",
            self.score
        );
        if in_holdoff {
            // Hold the evidence at the threshold: a long outage must not build a reservoir of
            // score that keeps alarming long after it ended.
            self.score = self.score.min(self.params.threshold);
        }

        // The fast test: a few minutes of clear excess alarm before the CUSUM has summed its h.
        self.recent.push_back((
            minute,
            ours,
            peers
                .iter()
                .take(self.peer_streams.len())
                .copied()
                .collect(),
        ));
        while self.recent.len() > self.params.window_minutes_max {
            self.recent.pop_front();
        }
        if !in_holdoff && self.minutes_seen > self.params.warmup_minutes {
            if let Some((window_minutes, z)) = self.window_fires() {
                self.use_window_as_run(window_minutes);
                let evidence = format!(
                    "{window_minutes}-minute excess {z:.1} sd >= {:.1}",
                    self.params.window_z_threshold
                );
                return Some(self.finish_alarm(minute, &evidence));
            }
        }

        if self.score == 0.0 {
            self.reset_run();
            return None;
        }
        if previous == 0.0 || self.run_onset.is_none() {
            self.reset_run();
            self.run_onset = Some(minute);
        }
        self.run_ours += u64::from(ours);
        for (sum, &count) in self.run_peers.iter_mut().zip(peers) {
            *sum += u64::from(count);
        }
        self.run_minutes += 1;

        let warming_up = self.minutes_seen <= self.params.warmup_minutes;
        if warming_up {
            if self.minutes_seen == self.params.warmup_minutes {
                self.score = 0.0;
                self.reset_run();
            }
            return None;
        }
        if self.score < self.params.threshold || in_holdoff {
            return None;
        }
        let run_peers_total: u64 = self.run_peers.iter().sum();
        let rise = self.run_ours as f64 / (self.ratio_usual() * run_peers_total as f64).max(1.0);
        if rise < self.params.min_rise_ratio {
            // Significant but small: hold the evidence at the threshold (no reservoir) and wait.
            self.score = self.params.threshold;
            return None;
        }
        let evidence = format!("evidence {:.1} >= {:.1}", self.score, self.params.threshold);
        Some(self.finish_alarm(minute, &evidence))
    }

    /// Raises the alarm for the current run and starts the hold-off.
    fn finish_alarm(&mut self, minute: UnixMinute, evidence: &str) -> Alarm {
        let alarm = self.build_alarm(minute, evidence);
        // Minutes from the onset on are not learned from: they are the outage.
        self.learn_queue
            .retain(|&(queued, _, _)| queued < alarm.onset);
        self.holdoff_until = Some(minute.plus(1 + self.params.holdoff_minutes));
        self.score = 0.0;
        self.reset_run();
        self.recent.clear();
        alarm
    }

    /// The shortest recent window (in `window_minutes_min..=window_minutes_max`) whose excess
    /// of our count over the expected `r·P` is at least `window_z_threshold` standard
    /// deviations (each minute's share of the excess capped at half of what is needed) and at
    /// least `min_rise_ratio` times the expected, with its z.
    ///
    /// Variance under "no outage", summed over the window's minutes (independent): our count
    /// `e + c·e²` (e = r·P, Poisson with the overdispersion `c`), plus `r²` times the peers'
    /// `P + c·ΣPᵢ²` (the expected count is itself estimated from the peers' counts).
    fn window_fires(&self) -> Option<(usize, f64)> {
        let z_threshold = self.params.window_z_threshold;
        if z_threshold <= 0.0 {
            return None;
        }
        let r = self.ratio_usual();
        let c = self.params.overdispersion_per_event;
        for window in self.params.window_minutes_min..=self.params.window_minutes_max {
            if self.recent.len() < window {
                break;
            }
            let (mut ours, mut expected, mut variance) = (0.0, 0.0, 0.0);
            let mut excess_per_minute = Vec::with_capacity(window);
            for (_, y, peers) in self.recent.iter().rev().take(window) {
                let peers_total: f64 = peers.iter().map(|&p| f64::from(p)).sum();
                let peers_squares: f64 = peers.iter().map(|&p| f64::from(p).powi(2)).sum();
                let e = r * peers_total;
                ours += f64::from(*y);
                expected += e;
                variance += e + c * e * e + r * r * (peers_total + c * peers_squares);
                excess_per_minute.push(f64::from(*y) - e);
            }
            if expected <= 0.0 || variance <= 0.0 {
                continue;
            }
            // Like the CUSUM's per-minute cap: no minute brings more than half the excess the
            // alarm needs, so one burst never pages alone.
            let minute_cap = 0.5 * z_threshold * variance.sqrt();
            let excess: f64 = excess_per_minute.iter().map(|x| x.min(minute_cap)).sum();
            // The signed root of the Poisson deviance, scaled by the dispersion: close to a
            // standard normal also at a few events a minute, where (y − e)/σ has far heavier
            // tails than the normal's and would page on noise.
            let dispersion = variance / expected;
            let z = signed_root_deviance(expected + excess, expected) / dispersion.sqrt();
            if z >= z_threshold && ours >= self.params.min_rise_ratio * expected {
                return Some((window, z));
            }
        }
        None
    }

    /// Makes the last `window` minutes the run an alarm explains, from the first of them in
    /// which our count exceeded the expected one (the onset).
    fn use_window_as_run(&mut self, window: usize) {
        self.reset_run();
        let r = self.ratio_usual();
        let start = self.recent.len().saturating_sub(window);
        let excess = |(_, ours, peers): &&(UnixMinute, u32, Vec<u32>)| {
            let peers_total: f64 = peers.iter().map(|&p| f64::from(p)).sum();
            f64::from(*ours) > r * peers_total
        };
        let from = self
            .recent
            .iter()
            .skip(start)
            .position(|entry| excess(&entry))
            .map_or(start, |offset| start + offset);
        for (minute, ours, peers) in self.recent.iter().skip(from) {
            self.run_onset.get_or_insert(*minute);
            self.run_ours += u64::from(*ours);
            for (sum, &count) in self.run_peers.iter_mut().zip(peers) {
                *sum += u64::from(count);
            }
            self.run_minutes += 1;
        }
    }

    fn learn(&mut self, ours: u32, peers_total: u64) {
        self.learned_ours = self.learned_ours * self.decay_per_minute + f64::from(ours);
        self.learned_peers = self.learned_peers * self.decay_per_minute + peers_total as f64;
        // Keep the peer weight from vanishing when the peers are silent for long.
        if self.learned_peers < 1e-9 {
            self.learned_ours = self.params.ratio_prior * self.params.ratio_prior_weight_events;
            self.learned_peers = self.params.ratio_prior_weight_events;
        }
    }

    /// Per-minute log-likelihood ratio of H1 (ours at k× the expected share) over H0.
    fn log_likelihood_ratio(&self, ours: u32, peers_total: u64) -> f64 {
        let r = self.ratio_usual();
        let k = self.params.rate_multiplier_h1;
        let p0 = r / (1.0 + r);
        let p1 = k * r / (1.0 + k * r);
        let llr =
            f64::from(ours) * (p1 / p0).ln() + peers_total as f64 * ((1.0 - p1) / (1.0 - p0)).ln();
        let expected = r * peers_total as f64;
        let llr = llr / (1.0 + self.params.overdispersion_per_event * expected);
        llr.min(self.params.minute_evidence_max_fraction * self.params.threshold)
    }

    fn reset_run(&mut self) {
        self.run_onset = None;
        self.run_ours = 0;
        self.run_peers.iter_mut().for_each(|sum| *sum = 0);
        self.run_minutes = 0;
    }

    fn build_alarm(&self, fired_at: UnixMinute, evidence: &str) -> Alarm {
        let minutes = self.run_minutes.max(1) as f64;
        let ratio_usual = self.ratio_usual();
        let peers_sum: u64 = self.run_peers.iter().sum();
        let ours_per_minute = self.run_ours as f64 / minutes;
        let peers_per_minute = peers_sum as f64 / minutes;
        let expected_per_minute = ratio_usual * peers_per_minute;
        let peers: Vec<PeerRate> = self
            .peer_streams
            .iter()
            .zip(&self.run_peers)
            .map(|(stream, &sum)| PeerRate {
                stream: stream.clone(),
                per_minute: sum as f64 / minutes,
            })
            .collect();
        let ratio_now = if peers_sum == 0 {
            f64::INFINITY
        } else {
            self.run_ours as f64 / peers_sum as f64
        };
        let onset = self.run_onset.unwrap_or(fired_at);
        let peer_text = peers
            .iter()
            .map(|peer| format!("{} {:.1}/min", peer.stream, peer.per_minute))
            .collect::<Vec<_>>()
            .join(", ");
        let times = if expected_per_minute > 0.0 {
            format!("{:.1}x", ours_per_minute / expected_per_minute)
        } else {
            "far above".to_owned()
        };
        let summary = format!(
            "{ours} rose to {ours_per_minute:.1}/min from {onset} to {end}, {times} the \
             {expected_per_minute:.1}/min expected from the peers ({peer_text}; usual ratio \
             {ratio_usual:.3}, now {ratio_now:.3}); {evidence}.",
            ours = self.ours_stream,
            end = fired_at.plus(1),
        );
        Alarm {
            group: self.group.clone(),
            ours_stream: self.ours_stream.clone(),
            onset,
            fired_at,
            ours_per_minute,
            expected_per_minute,
            peers,
            ratio_usual,
            ratio_now: if ratio_now.is_finite() {
                ratio_now
            } else {
                f64::MAX
            },
            score: self.score,
            threshold: self.params.threshold,
            summary,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn detector(sensitivity: Sensitivity) -> Detector {
        let peers = ["a".to_owned(), "b".to_owned()];
        Detector::new(
            DetectorParams::for_sensitivity(sensitivity),
            "g",
            "ours",
            &peers,
        )
    }

    /// Feeds `minutes` steady minutes: ours 10, peers 20 + 20 (ratio 0.25).
    fn steady(d: &mut Detector, from: i64, minutes: i64) -> Vec<Alarm> {
        (from..from + minutes)
            .filter_map(|m| d.observe(UnixMinute(m), 10, &[20, 20]))
            .collect()
    }

    #[test]
    fn learns_the_ratio_and_stays_quiet_when_steady() {
        let mut d = detector(Sensitivity::High);
        assert!(steady(&mut d, 0, 600).is_empty());
        assert!(
            (d.ratio_usual() - 0.25).abs() < 0.005,
            "{}",
            d.ratio_usual()
        );
        assert!(!d.status().warming_up);
        assert_eq!(d.status().score, 0.0);
    }

    #[test]
    fn a_ratio_far_from_the_prior_is_learned_during_warm_up() {
        // We are the big broker: 60 posts a minute against the peers' 10 + 10 (ratio 3, prior
        // 0.25). Counts alternate a little so the data is not constant.
        let mut d = detector(Sensitivity::Standard);
        for m in 0..400 {
            let wobble = if m % 2 == 0 { 3 } else { 0 };
            assert!(
                d.observe(UnixMinute(m), 58 + wobble, &[10, 10]).is_none(),
                "minute {m}"
            );
        }
        assert!((d.ratio_usual() - 3.0).abs() < 0.1, "{}", d.ratio_usual());
        let fired = (400..410).find_map(|m| d.observe(UnixMinute(m), 120, &[10, 10]));
        assert!(fired.is_some_and(|alarm| alarm.fired_at <= UnixMinute(403)));
    }

    #[test]
    fn no_alarm_while_warming_up() {
        let mut d = detector(Sensitivity::High);
        for m in 0..d.params().warmup_minutes {
            assert!(d.observe(UnixMinute(m), 100, &[20, 20]).is_none());
        }
    }

    #[test]
    fn rise_alarms_once_then_holds_off_and_realarms_if_it_persists() {
        let mut d = detector(Sensitivity::Standard);
        steady(&mut d, 0, 300);
        let mut alarms = Vec::new();
        for m in 300..400 {
            if let Some(alarm) = d.observe(UnixMinute(m), 30, &[20, 20]) {
                alarms.push(alarm);
            }
        }
        assert!(
            alarms.len() >= 2,
            "still elevated after the hold-off: {alarms:?}"
        );
        assert_eq!(alarms[0].onset, UnixMinute(300));
        assert!(alarms[0].fired_at <= UnixMinute(302), "{:?}", alarms[0]);
        let gap = alarms[1].fired_at.0 - alarms[0].fired_at.0;
        assert!(gap > d.params().holdoff_minutes, "gap {gap}");
        // The outage was not learned as normal.
        assert!((d.ratio_usual() - 0.25).abs() < 0.01, "{}", d.ratio_usual());
        // Back to normal: the score decays, no more alarms.
        assert!(steady(&mut d, 400, 200).is_empty());
    }

    #[test]
    fn market_wide_rise_does_not_alarm() {
        let mut d = detector(Sensitivity::High);
        steady(&mut d, 0, 300);
        for m in 300..360 {
            assert!(d.observe(UnixMinute(m), 200, &[400, 400]).is_none());
        }
    }

    #[test]
    fn peers_going_quiet_while_we_do_not_is_a_rise() {
        // Our share doubles because the peers' chatter halves: relative to the market we rose.
        let mut d = detector(Sensitivity::Standard);
        steady(&mut d, 0, 300);
        let fired = (300..320).find_map(|m| d.observe(UnixMinute(m), 10, &[8, 8]));
        assert!(fired.is_some());
    }

    #[test]
    fn out_of_order_minutes_are_ignored_and_gaps_allowed() {
        let mut d = detector(Sensitivity::Standard);
        steady(&mut d, 0, 300);
        let before = d.status();
        assert!(d.observe(UnixMinute(100), 1000, &[0, 0]).is_none());
        assert_eq!(d.status(), before);
        assert!(steady(&mut d, 500, 10).is_empty());
        assert_eq!(d.status().last_minute, Some(UnixMinute(509)));
    }

    #[test]
    fn silent_minutes_and_extreme_counts_stay_finite() {
        let mut d = detector(Sensitivity::Standard);
        for m in 0..300 {
            assert!(d.observe(UnixMinute(m), 0, &[0, 0]).is_none());
        }
        for m in 300..310 {
            let _ = d.observe(UnixMinute(m), u32::MAX, &[u32::MAX, 0, 7]);
        }
        for m in 310..320 {
            let _ = d.observe(UnixMinute(m), 0, &[u32::MAX]);
        }
        let status = d.status();
        assert!(
            status.score.is_finite() && status.ratio_usual.is_finite(),
            "{status:?}"
        );
        assert!((RATIO_MIN..=RATIO_MAX).contains(&status.ratio_usual));
    }

    #[test]
    fn nonsense_parameters_fall_back_to_defaults() {
        let params = DetectorParams {
            rate_multiplier_h1: f64::NAN,
            threshold: -1.0,
            ratio_prior: f64::INFINITY,
            ratio_half_life_minutes: 0.0,
            learn_delay_minutes: usize::MAX,
            ..DetectorParams::for_sensitivity(Sensitivity::High)
        };
        let d = Detector::new(params, "g", "o", &["p".to_owned()]);
        assert_eq!(d.params().rate_multiplier_h1, 2.0);
        assert_eq!(d.params().threshold, Sensitivity::Standard.threshold());
        assert_eq!(d.params().learn_delay_minutes, LEARN_DELAY_MINUTES_MAX);
        assert!(d.ratio_usual().is_finite());
    }

    #[test]
    fn signed_root_deviance_is_a_z_score() {
        assert_eq!(signed_root_deviance(10.0, 10.0), 0.0);
        // Large counts: close to (y - e) / sqrt(e).
        let z = signed_root_deviance(1_100.0, 1_000.0);
        assert!((z - 100.0 / 1_000f64.sqrt()).abs() < 0.1, "{z}");
        // Small counts: smaller than the normal approximation (Poisson's heavy upper tail).
        assert!(signed_root_deviance(8.0, 2.0) < 6.0 / 2f64.sqrt());
        assert!(signed_root_deviance(0.0, 3.0) < 0.0);
        assert_eq!(signed_root_deviance(5.0, 0.0), 0.0);
    }

    #[test]
    fn alarm_json_is_serialisable() {
        let mut d = detector(Sensitivity::Standard);
        steady(&mut d, 0, 300);
        let alarm = (300..320)
            .find_map(|m| d.observe(UnixMinute(m), 40, &[20, 20]))
            .unwrap();
        let json = serde_json::to_value(&alarm).unwrap();
        assert_eq!(json["onset"], 300);
        assert_eq!(json["peers"][1]["stream"], "b");
        assert!(
            alarm.summary.starts_with("ours rose to"),
            "{}",
            alarm.summary
        );
    }
}
