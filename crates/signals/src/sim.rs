//! Seeded synthetic streams for tests and the benchmark: our board and several peers' boards,
//! Poisson counts with a daily cycle, with injected outages (only our rate multiplied) and
//! market-wide spikes (everyone's rate multiplied, each broker a little differently).
//!
//! Deterministic: the same [`SimConfig`] (seed included) gives the same counts on every machine
//! (the generator is a SplitMix64 written here, not a library whose stream could change).

use serde::{Deserialize, Serialize};

use crate::error::SignalsError;
use crate::time::{days_from_civil, UnixMinute, JST_OFFSET_S};

pub const MINUTES_PER_DAY: i64 = 24 * 60;
pub const MINUTES_PER_WEEK: i64 = 7 * MINUTES_PER_DAY;
/// Longest simulation (memory: minutes × streams × 4 bytes, about 20 MB at this bound).
pub const SIM_WEEKS_MAX: u32 = 104;
pub const SIM_PEERS_MAX: usize = 16;
pub const SIM_RATE_PER_MINUTE_MAX: f64 = 10_000.0;
pub const SIM_EVENTS_PER_WEEK_MAX: u32 = 50;
pub const SIM_FACTOR_MAX: f64 = 100.0;
/// Quiet minutes kept between two injected episodes, so each is judged on its own.
pub const SIM_EPISODE_GAP_MINUTES: i64 = 120;

/// Parameters of a simulation. [`SimConfig::standard`] is the board the tests and the benchmark
/// use; every field is documented there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimConfig {
    pub seed: u64,
    /// Simulated weeks that are judged (after the warm-up day).
    pub weeks: u32,
    /// Minutes simulated before the judged weeks (the detector learns the ratio; no episodes).
    pub warmup_minutes: i64,
    /// Our post rate at the busiest hour, without incident.
    pub ours_busy_per_minute: f64,
    /// The quietest hour's rate as a fraction of the busiest hour's.
    pub quiet_fraction: f64,
    /// Busiest hour of the day, Japan time.
    pub busiest_hour_jst: f64,
    /// Each peer's rate relative to ours.
    pub peer_shares: Vec<f64>,
    /// Standard deviation of a per-minute, per-stream log-normal rate factor (overdispersion:
    /// real boards are burstier than Poisson).
    pub burstiness: f64,
    pub outages_per_week: u32,
    pub outage_factor_min: f64,
    pub outage_factor_max: f64,
    pub outage_minutes_min: i64,
    pub outage_minutes_max: i64,
    pub spikes_per_week: u32,
    pub spike_factor_min: f64,
    pub spike_factor_max: f64,
    pub spike_minutes_min: i64,
    pub spike_minutes_max: i64,
    /// In a spike each broker's factor is the spike's factor × U(1−j, 1+j): not every broker's
    /// customers react the same.
    pub spike_broker_jitter: f64,
    /// Share of ordinary posts that contain an outage word ("エラー", "不具合" come up on any
    /// evening).
    pub words_share_usual: f64,
    /// Share of the extra posts an outage brings that name the failure ("鯖落ち",
    /// "ログインできない"). The figure that makes outage words worth counting; an assumption, not
    /// a measurement (see the crate README).
    pub words_share_outage_extra: f64,
    /// Share of posts during a market-wide spike that contain an outage word, at every broker
    /// (slippage, frozen screens, "約定しない").
    pub words_share_spike: f64,
    /// In a spike each broker's outage-word share is `words_share_spike` × U(1−j, 1+j).
    pub words_spike_broker_jitter: f64,
}

impl SimConfig {
    /// The standard simulated board: our thread has 30 posts/min at the busiest hour (22:00 JST)
    /// and 10.5/min at the quietest; four peers at 1.5, 1.0, 0.8 and 0.6 times our rate; 10%
    /// overdispersion. Each week: 6 outages multiplying our rate by 2-5x for 10-60 minutes, and
    /// 6 market-wide spikes multiplying everyone's rate by 3-10x (±10% per broker) for 5-30
    /// minutes.
    pub fn standard(seed: u64, weeks: u32) -> Self {
        SimConfig {
            seed,
            weeks,
            warmup_minutes: MINUTES_PER_DAY,
            ours_busy_per_minute: 30.0,
            quiet_fraction: 0.35,
            busiest_hour_jst: 22.0,
            peer_shares: vec![1.5, 1.0, 0.8, 0.6],
            burstiness: 0.1,
            outages_per_week: 6,
            outage_factor_min: 2.0,
            outage_factor_max: 5.0,
            outage_minutes_min: 10,
            outage_minutes_max: 60,
            spikes_per_week: 6,
            spike_factor_min: 3.0,
            spike_factor_max: 10.0,
            spike_minutes_min: 5,
            spike_minutes_max: 30,
            spike_broker_jitter: 0.1,
            words_share_usual: 0.02,
            words_share_outage_extra: 0.5,
            words_share_spike: 0.08,
            words_spike_broker_jitter: 0.3,
        }
    }

    /// The standard board where every outage exactly doubles our rate.
    pub fn doubling(seed: u64, weeks: u32) -> Self {
        SimConfig {
            outage_factor_min: 2.0,
            outage_factor_max: 2.0,
            ..SimConfig::standard(seed, weeks)
        }
    }

    fn validate(&self) -> Result<(), SignalsError> {
        let fail = |message: String| Err(SignalsError::SimParams(message));
        let rate_ok = |x: f64| x.is_finite() && x > 0.0 && x <= SIM_RATE_PER_MINUTE_MAX;
        let factor_ok = |lo: f64, hi: f64| {
            lo.is_finite() && hi.is_finite() && 1.0 <= lo && lo <= hi && hi <= SIM_FACTOR_MAX
        };
        let minutes_ok = |lo: i64, hi: i64| 1 <= lo && lo <= hi && hi <= MINUTES_PER_DAY;
        if self.weeks == 0 || self.weeks > SIM_WEEKS_MAX {
            return fail(format!("weeks must be 1..={SIM_WEEKS_MAX}"));
        }
        if !(0..=MINUTES_PER_WEEK).contains(&self.warmup_minutes) {
            return fail(format!("warmup_minutes must be 0..={MINUTES_PER_WEEK}"));
        }
        if !rate_ok(self.ours_busy_per_minute) {
            return fail(format!(
                "ours_busy_per_minute must be in (0, {SIM_RATE_PER_MINUTE_MAX}]"
            ));
        }
        if !(self.quiet_fraction > 0.0 && self.quiet_fraction <= 1.0) {
            return fail("quiet_fraction must be in (0, 1]".to_owned());
        }
        if !(0.0..24.0).contains(&self.busiest_hour_jst) {
            return fail("busiest_hour_jst must be in [0, 24)".to_owned());
        }
        if self.peer_shares.is_empty() || self.peer_shares.len() > SIM_PEERS_MAX {
            return fail(format!("1..={SIM_PEERS_MAX} peers needed"));
        }
        if !self
            .peer_shares
            .iter()
            .all(|&share| rate_ok(share * self.ours_busy_per_minute))
        {
            return fail("each peer share must give a rate in (0, max]".to_owned());
        }
        if !(0.0..=1.0).contains(&self.burstiness)
            || !(0.0..0.5).contains(&self.spike_broker_jitter)
        {
            return fail(
                "burstiness must be in [0, 1] and spike_broker_jitter in [0, 0.5)".to_owned(),
            );
        }
        if self.outages_per_week > SIM_EVENTS_PER_WEEK_MAX
            || self.spikes_per_week > SIM_EVENTS_PER_WEEK_MAX
        {
            return fail(format!(
                "at most {SIM_EVENTS_PER_WEEK_MAX} outages and spikes a week"
            ));
        }
        if !factor_ok(self.outage_factor_min, self.outage_factor_max)
            || !factor_ok(self.spike_factor_min, self.spike_factor_max)
        {
            return fail(format!(
                "factors must satisfy 1 <= min <= max <= {SIM_FACTOR_MAX}"
            ));
        }
        if !minutes_ok(self.outage_minutes_min, self.outage_minutes_max)
            || !minutes_ok(self.spike_minutes_min, self.spike_minutes_max)
        {
            return fail(format!(
                "durations must satisfy 1 <= min <= max <= {MINUTES_PER_DAY}"
            ));
        }
        let share_ok = |x: f64| (0.0..=1.0).contains(&x);
        if !(share_ok(self.words_share_usual)
            && share_ok(self.words_share_outage_extra)
            && share_ok(self.words_share_spike)
            && (0.0..1.0).contains(&self.words_spike_broker_jitter))
        {
            return fail(
                "outage-word shares must be in [0, 1] and their jitter in [0, 1)".to_owned(),
            );
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EpisodeKind {
    /// Our rate alone multiplied: what the detector must find.
    Outage,
    /// Everyone's rate multiplied: what the detector must ignore.
    MarketSpike,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Episode {
    pub kind: EpisodeKind,
    pub start: UnixMinute,
    pub end_exclusive: UnixMinute,
    pub factor: f64,
    /// Our usual rate (daily cycle, no incident) at the episode's first minute.
    pub ours_base_per_minute: f64,
}

/// A simulated run: counts per minute for ours and each peer, and the episodes injected.
#[derive(Debug, Clone)]
pub struct SimRun {
    pub start: UnixMinute,
    pub minutes: usize,
    pub peers: usize,
    /// Row-major, `1 + peers` counts per minute: ours first, then each peer.
    counts: Vec<u32>,
    /// Same layout: of each count, the posts that contain an outage word.
    words: Vec<u32>,
    pub episodes: Vec<Episode>,
    pub weeks: u32,
    pub ours_busy_per_minute: f64,
}

impl SimRun {
    pub fn minute(&self, index: usize) -> (UnixMinute, u32, &[u32]) {
        let width = 1 + self.peers;
        let row = &self.counts[index * width..(index + 1) * width];
        (self.start.plus(index as i64), row[0], &row[1..])
    }

    /// Of [`SimRun::minute`]'s counts, the posts that contain an outage word: ours, then each
    /// peer's.
    pub fn minute_words(&self, index: usize) -> (u32, &[u32]) {
        let width = 1 + self.peers;
        let row = &self.words[index * width..(index + 1) * width];
        (row[0], &row[1..])
    }
}

/// Generates a run. Fails only on parameters out of their documented ranges.
pub fn simulate(config: &SimConfig) -> Result<SimRun, SignalsError> {
    config.validate()?;
    let mut rng = SplitMix64::new(config.seed);
    // 2024-01-01 00:00 JST: a Monday.
    let start = UnixMinute((days_from_civil(2024, 1, 1) * 86_400 - JST_OFFSET_S) / 60);
    let judged_minutes = i64::from(config.weeks) * MINUTES_PER_WEEK;
    let total_minutes = config.warmup_minutes + judged_minutes;
    let judged_start = start.plus(config.warmup_minutes);

    let mut episodes: Vec<Episode> = Vec::new();
    let plan = [
        (
            EpisodeKind::Outage,
            config.outages_per_week,
            (config.outage_factor_min, config.outage_factor_max),
            (config.outage_minutes_min, config.outage_minutes_max),
        ),
        (
            EpisodeKind::MarketSpike,
            config.spikes_per_week,
            (config.spike_factor_min, config.spike_factor_max),
            (config.spike_minutes_min, config.spike_minutes_max),
        ),
    ];
    for (kind, per_week, (factor_min, factor_max), (minutes_min, minutes_max)) in plan {
        for _ in 0..u64::from(per_week) * u64::from(config.weeks) {
            let factor = factor_min + (factor_max - factor_min) * rng.next_f64();
            let length = minutes_min + rng.below((minutes_max - minutes_min + 1) as u64) as i64;
            let mut placed = false;
            for _ in 0..1000 {
                let offset = rng.below((judged_minutes - length).max(1) as u64) as i64;
                let candidate = Episode {
                    kind,
                    start: judged_start.plus(offset),
                    end_exclusive: judged_start.plus(offset + length),
                    factor,
                    ours_base_per_minute: config.ours_busy_per_minute
                        * seasonal_factor(config, judged_start.plus(offset)),
                };
                let clear = episodes.iter().all(|other| {
                    candidate.end_exclusive.plus(SIM_EPISODE_GAP_MINUTES) <= other.start
                        || other.end_exclusive.plus(SIM_EPISODE_GAP_MINUTES) <= candidate.start
                });
                if clear {
                    episodes.push(candidate);
                    placed = true;
                    break;
                }
            }
            if !placed {
                return Err(SignalsError::SimParams(
                    "too many or too long episodes to place them apart".to_owned(),
                ));
            }
        }
    }
    episodes.sort_by_key(|episode| episode.start);

    let peers = config.peer_shares.len();
    let width = 1 + peers;
    let mut counts = Vec::with_capacity(total_minutes as usize * width);
    let mut words = Vec::with_capacity(total_minutes as usize * width);
    // A generator of its own for the outage words, so adding them left every count (and every
    // figure measured on counts alone) as it was.
    let mut words_rng = SplitMix64::new(config.seed ^ 0x6F75_7461_6765_2D77);
    let mut broker_factors = vec![1.0; width];
    let mut broker_word_factors = vec![1.0; width];
    let mut next_episode = 0usize;
    for index in 0..total_minutes {
        let minute = start.plus(index);
        while next_episode < episodes.len() && episodes[next_episode].end_exclusive <= minute {
            next_episode += 1;
        }
        let active = episodes
            .get(next_episode)
            .filter(|episode| episode.start <= minute);
        if active.is_some_and(|episode| episode.start == minute) {
            // Draw each broker's reaction once per episode.
            for factor in broker_factors.iter_mut() {
                *factor = 1.0 + config.spike_broker_jitter * (2.0 * rng.next_f64() - 1.0);
            }
            for factor in broker_word_factors.iter_mut() {
                *factor =
                    1.0 + config.words_spike_broker_jitter * (2.0 * words_rng.next_f64() - 1.0);
            }
        }
        let season = seasonal_factor(config, minute);
        let shares = std::iter::once(&1.0).chain(&config.peer_shares);
        for (stream, (&share, &broker_factor)) in shares.zip(&broker_factors).enumerate() {
            let mut rate = config.ours_busy_per_minute * share * season;
            let mut words_share = config.words_share_usual;
            match active {
                Some(episode) if episode.kind == EpisodeKind::Outage && stream == 0 => {
                    // Of the posts, 1/factor are the usual ones, the rest the outage's.
                    let usual = 1.0 / episode.factor;
                    words_share = usual * config.words_share_usual
                        + (1.0 - usual) * config.words_share_outage_extra;
                    rate *= episode.factor;
                }
                Some(episode) if episode.kind == EpisodeKind::MarketSpike => {
                    words_share = config.words_share_spike * broker_word_factors[stream];
                    rate *= episode.factor * broker_factor;
                }
                _ => {}
            }
            if config.burstiness > 0.0 {
                let z = rng.standard_normal();
                // Mean-preserving log-normal factor.
                rate *= (config.burstiness * z - 0.5 * config.burstiness * config.burstiness).exp();
                // Complaints come in bursts too (one reply sets off three more).
                let z = words_rng.standard_normal();
                words_share *=
                    (config.burstiness * z - 0.5 * config.burstiness * config.burstiness).exp();
            }
            let count = rng.poisson(rate);
            counts.push(count);
            words.push(words_rng.binomial(count, words_share.clamp(0.0, 1.0)));
        }
    }
    Ok(SimRun {
        start,
        minutes: total_minutes as usize,
        peers,
        counts,
        words,
        episodes,
        weeks: config.weeks,
        ours_busy_per_minute: config.ours_busy_per_minute,
    })
}

/// Daily cycle: 1 at the busiest hour, `quiet_fraction` twelve hours later, a cosine between.
fn seasonal_factor(config: &SimConfig, minute: UnixMinute) -> f64 {
    let minute_of_day_jst = (minute.0 + JST_OFFSET_S / 60).rem_euclid(MINUTES_PER_DAY);
    let hour = minute_of_day_jst as f64 / 60.0;
    let phase = 2.0 * std::f64::consts::PI * (hour - config.busiest_hour_jst) / 24.0;
    config.quiet_fraction + (1.0 - config.quiet_fraction) * 0.5 * (1.0 + phase.cos())
}

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, good enough for simulation, and fixed here
/// so a seed means the same run forever.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [0, n) (n > 0; returns 0 for n = 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Standard normal (Box-Muller).
    pub fn standard_normal(&mut self) -> f64 {
        let u1 = 1.0 - self.next_f64(); // (0, 1]
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    /// Binomial(n, p) by n Bernoulli draws (n is a minute's post count here: small).
    pub fn binomial(&mut self, n: u32, p: f64) -> u32 {
        if p.is_nan() || p <= 0.0 {
            return 0;
        }
        (0..n).filter(|_| self.next_f64() < p).count() as u32
    }

    /// Poisson(λ), exact: Knuth's product method on pieces of λ ≤ 30 (a sum of independent
    /// Poissons is Poisson). Cost grows with λ, fine for the rates simulated here.
    pub fn poisson(&mut self, lambda: f64) -> u32 {
        if !(lambda.is_finite() && lambda > 0.0) {
            return 0;
        }
        let lambda = lambda.min(SIM_RATE_PER_MINUTE_MAX * SIM_FACTOR_MAX);
        let pieces = (lambda / 30.0).ceil().max(1.0);
        let piece = lambda / pieces;
        let limit = (-piece).exp();
        let mut total = 0u32;
        for _ in 0..pieces as u64 {
            let mut product = self.next_f64();
            while product > limit {
                total = total.saturating_add(1);
                product *= self.next_f64();
            }
        }
        total
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn poisson_mean_and_variance() {
        let mut rng = SplitMix64::new(7);
        for lambda in [0.5, 4.0, 45.0] {
            let n = 20_000;
            let samples: Vec<f64> = (0..n).map(|_| f64::from(rng.poisson(lambda))).collect();
            let mean = samples.iter().sum::<f64>() / n as f64;
            let var = samples.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
            assert!(
                (mean - lambda).abs() < 0.05 * lambda + 0.05,
                "{lambda}: mean {mean}"
            );
            assert!(
                (var - lambda).abs() < 0.1 * lambda + 0.1,
                "{lambda}: var {var}"
            );
        }
    }

    #[test]
    fn same_seed_same_run_and_episodes_apart() {
        let a = simulate(&SimConfig::standard(3, 2)).unwrap();
        let b = simulate(&SimConfig::standard(3, 2)).unwrap();
        let c = simulate(&SimConfig::standard(4, 2)).unwrap();
        assert_eq!(a.counts, b.counts);
        assert_ne!(a.counts, c.counts);
        assert_eq!(a.episodes.len(), 24);
        for pair in a.episodes.windows(2) {
            assert!(pair[0].end_exclusive.plus(SIM_EPISODE_GAP_MINUTES) <= pair[1].start);
        }
        let outage = a
            .episodes
            .iter()
            .find(|e| e.kind == EpisodeKind::Outage)
            .unwrap();
        let index = (outage.start.0 - a.start.0) as usize;
        let inside: u32 = (index..index + 10).map(|i| a.minute(i).1).sum();
        let before: u32 = (index - 10..index).map(|i| a.minute(i).1).sum();
        assert!(
            f64::from(inside) > 1.5 * f64::from(before),
            "{inside} vs {before}"
        );
    }

    #[test]
    fn outage_words_are_a_part_of_the_posts_and_rise_in_our_outages_only() {
        let config = SimConfig::standard(3, 2);
        let run = simulate(&config).unwrap();
        let without_words = simulate(&SimConfig {
            words_share_usual: 0.0,
            words_share_outage_extra: 0.0,
            words_share_spike: 0.0,
            ..config
        })
        .unwrap();
        // The words draw from their own generator: the posts are the same either way.
        assert_eq!(run.counts, without_words.counts);
        assert!(without_words.words.iter().all(|&w| w == 0));
        for index in 0..run.minutes {
            let (_, ours, peers) = run.minute(index);
            let (ours_words, peers_words) = run.minute_words(index);
            assert!(ours_words <= ours);
            assert!(peers_words.iter().zip(peers).all(|(w, p)| w <= p));
        }
        let share = |kind: EpisodeKind, ours: bool| {
            let (mut words, mut posts) = (0u64, 0u64);
            for episode in run.episodes.iter().filter(|e| e.kind == kind) {
                for index in
                    (episode.start.0 - run.start.0)..(episode.end_exclusive.0 - run.start.0)
                {
                    let (_, ours_posts, peer_posts) = run.minute(index as usize);
                    let (ours_words, peer_words) = run.minute_words(index as usize);
                    if ours {
                        words += u64::from(ours_words);
                        posts += u64::from(ours_posts);
                    } else {
                        words += peer_words.iter().map(|&w| u64::from(w)).sum::<u64>();
                        posts += peer_posts.iter().map(|&p| u64::from(p)).sum::<u64>();
                    }
                }
            }
            words as f64 / posts.max(1) as f64
        };
        // In our outages a large share of our posts complain; the peers stay at the usual share.
        assert!(share(EpisodeKind::Outage, true) > 0.2);
        assert!(share(EpisodeKind::Outage, false) < 0.05);
        // In a market spike everyone complains a little more, about equally.
        let (ours_spike, peers_spike) = (
            share(EpisodeKind::MarketSpike, true),
            share(EpisodeKind::MarketSpike, false),
        );
        assert!(
            ours_spike > 0.04 && peers_spike > 0.04,
            "{ours_spike} {peers_spike}"
        );
        assert!((ours_spike / peers_spike - 1.0).abs() < 0.5);
    }

    #[test]
    fn bad_parameters_are_errors() {
        let mut config = SimConfig::standard(1, 0);
        assert!(simulate(&config).is_err());
        config.weeks = 1;
        config.outage_factor_min = f64::NAN;
        assert!(simulate(&config).is_err());
        let mut crowded = SimConfig::standard(1, 1);
        crowded.outages_per_week = 50;
        crowded.spikes_per_week = 50;
        crowded.outage_minutes_min = 600;
        crowded.outage_minutes_max = 600;
        assert!(simulate(&crowded).is_err());
    }
}
