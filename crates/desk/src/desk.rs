//! The desk service: a deterministic core driven by [`Desk::evaluate`], [`Desk::run_probes`]
//! and [`Desk::deliver_due`] at a time the caller passes in (from the injected clock).
//! Every change to an incident goes through here, is written to storage, put on the
//! incident's timeline and appended to the audit trail.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::Mutex;

use crate::alertmanager;
use crate::auth::{self, Permission};
use crate::channels;
use crate::clock::{Clock, UnixMs};
use crate::config::{ChannelConfig, DeskConfig, PersonConfig, StepTrigger};
use crate::error::{DeskError, Result};
use crate::escalation;
use crate::health::{EngineHealth, MarketHours};
use crate::metrics::{bump, Metrics};
use crate::model::{
    Component, ComponentStatus, Delivery, DeliveryAttempt, DeliveryStatus, Incident,
    IncidentFigures, IncidentState, Principal, Role, TimelineEvent, User,
};
use crate::probes;
use crate::schedule::Schedule;
use crate::store::{NewIncidentRow, QueuedDelivery, Store};

/// Deliveries sent in one pass; the rest wait for the next pass.
pub const MAX_DELIVERIES_PER_PASS: i64 = 64;
/// Longest incident title and timeline message accepted from a client.
pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_MESSAGE_CHARS: usize = 4_000;
/// Resolved incidents the MTTx figures are averaged over.
pub const FIGURES_WINDOW_INCIDENTS: i64 = 1_000;

const SETTING_LINK_SECRET: &str = "ack_link_secret";

/// What a monitor saw at one check.
#[derive(Debug, Clone)]
struct Observation {
    key: String,
    component: String,
    severity: ComponentStatus,
    /// The check failed (the impact starts at the first failed check).
    failed: bool,
    /// The failure is confirmed: the component is down.
    down: bool,
    detail: String,
}

#[derive(Debug, Clone)]
struct MonitorState {
    component: String,
    severity: ComponentStatus,
    failing_since_ms: Option<UnixMs>,
    consecutive_failures: u32,
    down: bool,
    detail: String,
}

#[derive(Debug, Default)]
struct RuntimeState {
    monitors: BTreeMap<String, MonitorState>,
    heartbeat_last_ping_ms: BTreeMap<String, UnixMs>,
    probe_next_due_ms: BTreeMap<String, UnixMs>,
}

/// A monitor transition to act on.
#[derive(Debug, Clone)]
enum Transition {
    Down {
        key: String,
        component: String,
        severity: ComponentStatus,
        impact_started_at_ms: UnixMs,
        detail: String,
    },
    Up {
        key: String,
        component: String,
    },
}

/// A request to open an incident by hand.
#[derive(Debug, Clone, Deserialize)]
pub struct NewIncident {
    pub component: String,
    pub title: String,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default = "default_manual_impact")]
    pub impact: ComponentStatus,
    /// When the impact began, if earlier than now (defaults to now).
    #[serde(default)]
    pub impact_started_at_ms: Option<UnixMs>,
}

fn default_manual_impact() -> ComponentStatus {
    ComponentStatus::MajorOutage
}

/// An incident with everything that happened to it.
#[derive(Debug, Clone, Serialize)]
pub struct IncidentDetail {
    pub incident: Incident,
    pub figures: IncidentFigures,
    pub timeline: Vec<TimelineEvent>,
    pub deliveries: Vec<DeliveryWithAttempts>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeliveryWithAttempts {
    #[serde(flatten)]
    pub delivery: Delivery,
    pub attempt_log: Vec<DeliveryAttempt>,
}

/// One monitor as the console shows it.
#[derive(Debug, Clone, Serialize)]
pub struct MonitorView {
    pub key: String,
    pub component: String,
    pub severity: ComponentStatus,
    /// False for a configured probe or heartbeat that has not been checked yet.
    pub checked: bool,
    pub down: bool,
    pub failing_since_ms: Option<UnixMs>,
    pub consecutive_failures: u32,
    pub detail: String,
}

/// One on-call schedule's call order at a moment.
#[derive(Debug, Clone, Serialize)]
pub struct OnCallView {
    pub schedule_id: String,
    pub order: Vec<OnCallPerson>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OnCallPerson {
    pub id: String,
    pub name: String,
    pub phone: Option<String>,
}

/// Mean time to detect, acknowledge and resolve over recent resolved incidents.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FiguresSummary {
    pub resolved_incidents: usize,
    pub mttd_ms: Option<i64>,
    pub mtta_ms: Option<i64>,
    pub mttr_ms: Option<i64>,
}

/// A freshly issued API token (shown once; only its hash is stored).
#[derive(Debug, Clone, Serialize)]
pub struct IssuedToken {
    pub token: String,
    pub expires_at_ms: Option<UnixMs>,
    pub user: Principal,
}

/// What an Alertmanager notification did.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AlertmanagerOutcome {
    pub incident_id: Option<i64>,
    pub action: &'static str,
}

/// What one evaluation pass did (for logs and tests).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TickReport {
    pub incidents_opened: Vec<i64>,
    pub incidents_recovered: Vec<i64>,
    pub steps_fired: usize,
    pub deliveries_attempted: usize,
}

/// The incident desk.
pub struct Desk {
    config: Arc<DeskConfig>,
    store: Store,
    clock: Arc<dyn Clock>,
    engine: Option<Arc<dyn EngineHealth>>,
    schedules: BTreeMap<String, Schedule>,
    market_hours: MarketHours,
    link_secret: Vec<u8>,
    http: reqwest::Client,
    started_at_ms: UnixMs,
    state: Mutex<RuntimeState>,
    delivering: Mutex<()>,
    metrics: Metrics,
    /// Bumped on every change customers or operators could see (timeline, component status,
    /// notices), so the status page and the console know when to rebuild or refresh.
    changes: tokio::sync::watch::Sender<u64>,
}

pub(crate) fn actor_of(principal: &Principal) -> String {
    format!("user:{}", principal.username)
}

fn clip(text: &str, max_chars: usize) -> String {
    text.chars().take(max_chars).collect()
}

fn check_text(what: &str, text: &str, max_chars: usize) -> Result<()> {
    if text.chars().count() > max_chars {
        return Err(DeskError::invalid(
            what,
            format!("longer than {max_chars} characters"),
        ));
    }
    Ok(())
}

fn format_time(at_ms: UnixMs) -> String {
    jiff::Timestamp::from_millisecond(at_ms)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| at_ms.to_string())
}

impl Desk {
    /// Validates the configuration, registers the components and prepares the desk.
    /// `engine` is the engine health source, or `None` when the desk runs on its own.
    pub async fn open(
        config: DeskConfig,
        store: Store,
        clock: Arc<dyn Clock>,
        engine: Option<Arc<dyn EngineHealth>>,
    ) -> Result<Arc<Desk>> {
        config.validate()?;
        let now_ms = clock.now_ms();
        for component in &config.components {
            store
                .upsert_component(&component.id, &component.name, now_ms)
                .await?;
        }
        let mut schedules = BTreeMap::new();
        for schedule in &config.schedules {
            schedules.insert(schedule.id.clone(), Schedule::from_config(schedule)?);
        }
        let market_hours = MarketHours::parse(
            &config.engine.market_open_utc,
            &config.engine.market_close_utc,
        )?;
        let secret_hex = store
            .setting_or_insert(SETTING_LINK_SECRET, &auth::new_link_secret())
            .await?;
        let link_secret = hex::decode(&secret_hex)
            .map_err(|_| DeskError::invalid("stored link secret", "not hex"))?;
        let http = reqwest::Client::builder()
            .user_agent(concat!("fxdesk-desk/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
            .map_err(|err| DeskError::config("http client", err.to_string()))?;
        Ok(Arc::new(Desk {
            config: Arc::new(config),
            store,
            clock,
            engine,
            schedules,
            market_hours,
            link_secret,
            http,
            started_at_ms: now_ms,
            state: Mutex::new(RuntimeState::default()),
            delivering: Mutex::new(()),
            metrics: Metrics::default(),
            changes: tokio::sync::watch::Sender::new(0),
        }))
    }

    pub fn config(&self) -> &DeskConfig {
        &self.config
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn now_ms(&self) -> UnixMs {
        self.clock.now_ms()
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The change counter: it grows whenever something visible changed.
    pub fn change_version(&self) -> u64 {
        *self.changes.borrow()
    }

    /// Wakes on every change (server-sent events, page caches).
    pub fn subscribe_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    pub(crate) fn note_change(&self) {
        self.changes
            .send_modify(|version| *version = version.wrapping_add(1));
    }

    // ------------------------------------------------------------------ evaluation

    /// One full step for tests and simple loops: [`Desk::evaluate`] then [`Desk::deliver_due`].
    pub async fn tick(&self, now_ms: UnixMs) -> Result<TickReport> {
        let mut report = self.evaluate(now_ms).await?;
        report.deliveries_attempted = self.deliver_due(now_ms).await?;
        Ok(report)
    }

    /// Checks engine health and heartbeats, opens/recovers incidents, fires due escalation
    /// steps (queueing their deliveries). No network I/O.
    pub async fn evaluate(&self, now_ms: UnixMs) -> Result<TickReport> {
        bump(&self.metrics.ticks_total);
        let mut state = self.state.lock().await;
        let mut observations = self.engine_observations(&state, now_ms);
        observations.extend(self.heartbeat_observations(&state, now_ms));
        let mut transitions = Vec::new();
        for observation in observations {
            transitions.extend(apply_observation(&mut state, observation, now_ms));
        }
        let mut report = TickReport::default();
        let result = self
            .act_and_escalate(&state, transitions, now_ms, &mut report)
            .await;
        if result.is_err() {
            bump(&self.metrics.tick_errors_total);
        }
        result.map(|()| report)
    }

    async fn act_and_escalate(
        &self,
        state: &RuntimeState,
        transitions: Vec<Transition>,
        now_ms: UnixMs,
        report: &mut TickReport,
    ) -> Result<()> {
        for transition in transitions {
            self.apply_transition(state, transition, now_ms, report)
                .await?;
        }
        report.steps_fired += self.escalate(now_ms).await?;
        Ok(())
    }

    fn engine_observations(&self, state: &RuntimeState, now_ms: UnixMs) -> Vec<Observation> {
        let Some(engine) = &self.engine else {
            return Vec::new();
        };
        let settings = &self.config.engine;
        if !settings.enabled {
            return Vec::new();
        }
        let snapshot = engine.snapshot();
        let mut observations = Vec::new();
        // An engine that never beat counts from the desk's start.
        let last_beat_ms = snapshot.last_heartbeat_ms.unwrap_or(self.started_at_ms);
        let age_ms = now_ms.saturating_sub(last_beat_ms);
        let expected_ms = i64::try_from(settings.heartbeat_expected_ms).unwrap_or(i64::MAX);
        let timeout_ms = i64::try_from(settings.liveness_timeout_ms).unwrap_or(i64::MAX);
        observations.push(Observation {
            key: "engine.liveness".into(),
            component: settings.component.clone(),
            severity: ComponentStatus::MajorOutage,
            failed: age_ms > expected_ms,
            down: age_ms > timeout_ms,
            detail: format!("engine silent for {} ms", age_ms.max(0)),
        });
        let market_open = self.market_hours.is_open(now_ms);
        let stale_ms = i64::try_from(settings.quote_stale_ms).unwrap_or(i64::MAX);
        for (instrument, last_quote_ms) in &snapshot.last_quote_ms {
            let quote_age_ms = now_ms.saturating_sub(*last_quote_ms);
            let stale = market_open && quote_age_ms > stale_ms;
            observations.push(Observation {
                key: format!("engine.quotes.{instrument}"),
                component: settings.price_component.clone(),
                severity: ComponentStatus::PartialOutage,
                failed: stale,
                down: stale,
                detail: format!("no {instrument} quote for {} ms", quote_age_ms.max(0)),
            });
        }
        // Instruments that vanished from the snapshot stop being watched: mark them healthy.
        for key in state.monitors.keys() {
            if let Some(instrument) = key.strip_prefix("engine.quotes.") {
                if !snapshot.last_quote_ms.contains_key(instrument) {
                    observations.push(Observation {
                        key: key.clone(),
                        component: settings.price_component.clone(),
                        severity: ComponentStatus::PartialOutage,
                        failed: false,
                        down: false,
                        detail: String::new(),
                    });
                }
            }
        }
        let latency_checks = [
            (
                "engine.order_ack_p99",
                snapshot.order_ack_p99_us,
                settings.order_ack_p99_max_ms,
                "order acknowledgement p99",
            ),
            (
                "engine.journal_fsync_p99",
                snapshot.journal_fsync_p99_us,
                settings.journal_fsync_p99_max_ms,
                "journal fsync p99",
            ),
        ];
        for (key, p99_us, max_ms, what) in latency_checks {
            let slow = p99_us.is_some_and(|p99| p99 > max_ms.saturating_mul(1_000));
            observations.push(Observation {
                key: key.into(),
                component: settings.component.clone(),
                severity: ComponentStatus::DegradedPerformance,
                failed: slow,
                down: slow,
                detail: format!("{what} {} us over {max_ms} ms", p99_us.unwrap_or(0)),
            });
        }
        observations
    }

    fn heartbeat_observations(&self, state: &RuntimeState, now_ms: UnixMs) -> Vec<Observation> {
        self.config
            .heartbeats
            .iter()
            .map(|heartbeat| {
                let last_ms = state
                    .heartbeat_last_ping_ms
                    .get(&heartbeat.id)
                    .copied()
                    .unwrap_or(self.started_at_ms);
                let age_ms = now_ms.saturating_sub(last_ms);
                let period_ms =
                    i64::try_from(heartbeat.period_s).unwrap_or(i64::MAX / 2000) * 1_000;
                let grace_ms = i64::try_from(heartbeat.grace_s).unwrap_or(i64::MAX / 2000) * 1_000;
                Observation {
                    key: format!("heartbeat.{}", heartbeat.id),
                    component: heartbeat.component.clone(),
                    severity: heartbeat.severity,
                    failed: age_ms > period_ms,
                    down: age_ms > period_ms.saturating_add(grace_ms),
                    detail: format!(
                        "heartbeat {} missing for {} s",
                        heartbeat.id,
                        age_ms / 1_000
                    ),
                }
            })
            .collect()
    }

    /// Runs the probes that are due, concurrently, then acts on their results. Network I/O
    /// happens without holding the desk's lock.
    pub async fn run_probes(&self, now_ms: UnixMs) -> Result<TickReport> {
        let due: Vec<_> = {
            let mut state = self.state.lock().await;
            self.config
                .probes
                .iter()
                .filter(|probe| {
                    let next = state
                        .probe_next_due_ms
                        .get(&probe.id)
                        .copied()
                        .unwrap_or(i64::MIN);
                    if now_ms >= next {
                        let interval_ms = i64::try_from(probe.interval_s).unwrap_or(3_600) * 1_000;
                        state
                            .probe_next_due_ms
                            .insert(probe.id.clone(), now_ms + interval_ms);
                        true
                    } else {
                        false
                    }
                })
                .cloned()
                .collect()
        };
        let mut tasks = tokio::task::JoinSet::new();
        for probe in due {
            let http = self.http.clone();
            tasks.spawn(async move {
                let outcome = probes::check(&http, &probe).await;
                (probe, outcome)
            });
        }
        let mut results = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            if let Ok(result) = joined {
                results.push(result);
            }
        }
        results.sort_by(|a, b| a.0.id.cmp(&b.0.id));
        let mut state = self.state.lock().await;
        let mut transitions = Vec::new();
        for (probe, outcome) in results {
            let key = format!("probe.{}", probe.id);
            let failures = state
                .monitors
                .get(&key)
                .map_or(0, |m| m.consecutive_failures);
            let failed = outcome.is_err();
            if failed {
                bump(&self.metrics.probe_checks_failed_total);
            }
            let failures = if failed {
                failures.saturating_add(1)
            } else {
                0
            };
            transitions.extend(apply_observation(
                &mut state,
                Observation {
                    key,
                    component: probe.component.clone(),
                    severity: probe.severity,
                    failed,
                    down: failures > probe.retries,
                    detail: outcome.unwrap_or_else(|err| err),
                },
                now_ms,
            ));
        }
        let mut report = TickReport::default();
        for transition in transitions {
            self.apply_transition(&state, transition, now_ms, &mut report)
                .await?;
        }
        Ok(report)
    }

    async fn apply_transition(
        &self,
        state: &RuntimeState,
        transition: Transition,
        now_ms: UnixMs,
        report: &mut TickReport,
    ) -> Result<()> {
        match transition {
            Transition::Down {
                key,
                component,
                severity,
                impact_started_at_ms,
                detail,
            } => {
                let actor = format!("monitor:{key}");
                let source_key = format!("component:{component}");
                match self.store.open_incident_by_source(&source_key).await? {
                    Some(mut incident) => {
                        let message = if incident.recovered_at_ms.is_some() {
                            incident.recovered_at_ms = None;
                            incident.state = IncidentState::Investigating;
                            format!("failing again: {detail}")
                        } else {
                            format!("also failing: {detail}")
                        };
                        incident.impact = incident.impact.max(severity);
                        self.store.update_incident(&incident).await?;
                        self.record(incident.id, now_ms, "monitor_down", &actor, &message)
                            .await?;
                    }
                    None => {
                        let name = self.config.component_name(&component).unwrap_or(&component);
                        let id = self
                            .create_incident(
                                NewIncidentRow {
                                    title: clip(&format!("{name}: {detail}"), MAX_TITLE_CHARS),
                                    component: component.clone(),
                                    state: IncidentState::Investigating,
                                    impact: severity,
                                    source_key: Some(source_key),
                                    policy_id: self
                                        .config
                                        .policy_for(&component)
                                        .map(|p| p.id.clone()),
                                    impact_started_at_ms: impact_started_at_ms.min(now_ms),
                                    detected_at_ms: now_ms,
                                    created_by: actor.clone(),
                                },
                                &format!("opened by monitor {key}: {detail}"),
                            )
                            .await?;
                        report.incidents_opened.push(id);
                    }
                }
                self.refresh_component(&component, now_ms).await
            }
            Transition::Up { key, component } => {
                let actor = format!("monitor:{key}");
                let still_down: Vec<&String> = state
                    .monitors
                    .iter()
                    .filter(|(_, m)| m.down && m.component == component)
                    .map(|(k, _)| k)
                    .collect();
                let source_key = format!("component:{component}");
                if let Some(mut incident) = self.store.open_incident_by_source(&source_key).await? {
                    if still_down.is_empty() && incident.recovered_at_ms.is_none() {
                        incident.recovered_at_ms = Some(now_ms);
                        incident.state = IncidentState::Monitoring;
                        self.store.update_incident(&incident).await?;
                        self.record(
                            incident.id,
                            now_ms,
                            "monitor_up",
                            &actor,
                            "all monitors healthy again: recovered, monitoring",
                        )
                        .await?;
                        report.incidents_recovered.push(incident.id);
                    } else {
                        self.record(incident.id, now_ms, "monitor_up", &actor, "healthy again")
                            .await?;
                    }
                }
                self.refresh_component(&component, now_ms).await
            }
        }
    }

    async fn create_incident(&self, row: NewIncidentRow, message: &str) -> Result<i64> {
        let id = self.store.insert_incident(&row).await?;
        self.record(id, row.detected_at_ms, "opened", &row.created_by, message)
            .await?;
        bump(&self.metrics.incidents_opened_total);
        tracing::warn!(incident = id, component = %row.component, "incident opened: {}", row.title);
        Ok(id)
    }

    /// Puts an event on the incident's timeline and the audit trail.
    pub(crate) async fn record(
        &self,
        incident_id: i64,
        at_ms: UnixMs,
        kind: &str,
        actor: &str,
        message: &str,
    ) -> Result<()> {
        self.store
            .add_event(incident_id, at_ms, kind, actor, message)
            .await?;
        self.store
            .append_audit(
                at_ms,
                actor,
                &format!("incident.{kind}"),
                &format!("incident:{incident_id}"),
                &json!({ "message": message }),
            )
            .await?;
        self.note_change();
        Ok(())
    }

    /// Sets a component's status to the worst impact of its open, unrecovered incidents
    /// (operational if none; a maintenance set by hand stays until an incident or a person
    /// changes it).
    async fn refresh_component(&self, component: &str, now_ms: UnixMs) -> Result<()> {
        let worst = self
            .store
            .open_incidents()
            .await?
            .iter()
            .filter(|i| i.component == component && i.recovered_at_ms.is_none())
            .map(|i| i.impact)
            .max();
        let current = self.store.get_component(component).await?;
        let next = match worst {
            Some(impact) => impact,
            None if current.status == ComponentStatus::Maintenance => ComponentStatus::Maintenance,
            None => ComponentStatus::Operational,
        };
        if next != current.status {
            self.store
                .set_component_status(component, next, now_ms)
                .await?;
            self.store
                .append_audit(
                    now_ms,
                    "desk",
                    "component.status",
                    &format!("component:{component}"),
                    &json!({ "from": current.status, "to": next }),
                )
                .await?;
            self.note_change();
        }
        Ok(())
    }

    // ------------------------------------------------------------------ escalation

    async fn escalate(&self, now_ms: UnixMs) -> Result<usize> {
        let mut fired_count = 0;
        for incident in self.store.open_incidents().await? {
            let Some(policy) = incident
                .policy_id
                .as_deref()
                .and_then(|id| self.config.policy(id))
            else {
                continue;
            };
            let fired: BTreeSet<(i64, i64)> =
                self.store.firings(incident.id).await?.into_iter().collect();
            for due in escalation::due_steps(&incident, policy, &fired, now_ms) {
                let step_index = i64::try_from(due.step_index).unwrap_or(i64::MAX);
                let Some(step) = policy.steps.get(due.step_index) else {
                    continue;
                };
                let people = self.resolve_targets(&step.notify, now_ms);
                let when = match step.when {
                    StepTrigger::DownFor => format!("down for {} s", step.after_s),
                    StepTrigger::UnacknowledgedFor => {
                        format!("not acknowledged for {} s", step.after_s)
                    }
                };
                let repeat = if due.cycle > 0 {
                    format!(" (repeat {})", due.cycle)
                } else {
                    String::new()
                };
                let component = self
                    .config
                    .component_name(&incident.component)
                    .unwrap_or(&incident.component);
                let message = format!(
                    "{} [{component}: {}] {when}{repeat}: {} (impact since {})",
                    incident.title,
                    incident.impact,
                    step.instruction,
                    format_time(incident.impact_started_at_ms)
                );
                let names: Vec<&str> = people.iter().map(|p| p.id.as_str()).collect();
                let mut queued = Vec::new();
                for channel_id in &step.channels {
                    let Some(channel) = self.config.channel(channel_id) else {
                        continue;
                    };
                    let groups: Vec<Vec<&PersonConfig>> = if channel.is_per_person() {
                        people.iter().map(|p| vec![*p]).collect()
                    } else {
                        vec![people.clone()]
                    };
                    for group in groups {
                        let recipient = if channel.is_per_person() {
                            group.first().map_or("", |p| p.id.as_str()).to_owned()
                        } else {
                            names.join(",")
                        };
                        queued.push(QueuedDelivery {
                            channel_id: channel_id.clone(),
                            recipient,
                            payload: self.notification(
                                &incident,
                                policy.id.as_str(),
                                due,
                                step,
                                &message,
                                &group,
                                now_ms,
                            ),
                        });
                    }
                }
                if !self
                    .store
                    .fire_step(
                        incident.id,
                        step_index,
                        i64::from(due.cycle),
                        now_ms,
                        &queued,
                    )
                    .await?
                {
                    continue;
                }
                self.record(
                    incident.id,
                    now_ms,
                    "escalation",
                    "desk",
                    &format!(
                        "step {} {when}{repeat}: {}; notifying {} via {}",
                        due.step_index + 1,
                        step.instruction,
                        names.join(", "),
                        step.channels.join(", ")
                    ),
                )
                .await?;
                bump(&self.metrics.escalation_steps_fired_total);
                fired_count += 1;
            }
        }
        Ok(fired_count)
    }

    #[allow(clippy::too_many_arguments)]
    fn notification(
        &self,
        incident: &Incident,
        policy_id: &str,
        due: escalation::DueStep,
        step: &crate::config::StepConfig,
        message: &str,
        people: &[&PersonConfig],
        now_ms: UnixMs,
    ) -> serde_json::Value {
        let ttl_ms = i64::try_from(self.config.links.ack_link_ttl_s).unwrap_or(86_400) * 1_000;
        let expires_at_ms = now_ms.saturating_add(ttl_ms);
        let recipients: Vec<serde_json::Value> = people
            .iter()
            .map(|person| {
                json!({
                    "id": person.id,
                    "name": person.name,
                    "phone": person.phone,
                    "email": person.email,
                    "ack_url": self.ack_link(incident.id, &person.id, expires_at_ms),
                })
            })
            .collect();
        json!({
            "event": "incident.escalation",
            "incident": {
                "id": incident.id,
                "title": incident.title,
                "component": incident.component,
                "state": incident.state,
                "impact": incident.impact,
                "impact_started_at_ms": incident.impact_started_at_ms,
                "detected_at_ms": incident.detected_at_ms,
            },
            "policy": policy_id,
            "step": {
                "index": due.step_index,
                "cycle": due.cycle,
                "when": step.when.as_str(),
                "after_s": step.after_s,
                "instruction": step.instruction,
            },
            "message": message,
            "recipients": recipients,
            "sent_at_ms": now_ms,
        })
    }

    /// A signed acknowledgement link for `person` on an incident.
    pub fn ack_link(&self, incident_id: i64, person: &str, expires_at_ms: UnixMs) -> String {
        let signature = auth::sign_ack_link(&self.link_secret, incident_id, person, expires_at_ms);
        format!(
            "{}/api/incidents/{incident_id}/ack-link?by={person}&exp={expires_at_ms}&sig={signature}",
            self.config.links.public_url.trim_end_matches('/')
        )
    }

    pub(crate) fn resolve_targets(
        &self,
        targets: &[crate::config::TargetConfig],
        now_ms: UnixMs,
    ) -> Vec<&PersonConfig> {
        let mut people: Vec<&PersonConfig> = Vec::new();
        for target in targets {
            let id = match (&target.person, &target.schedule) {
                (Some(person), _) => person.clone(),
                (None, Some(schedule)) => match self.schedules.get(schedule) {
                    Some(schedule) => schedule.at_level(now_ms, target.level),
                    None => continue,
                },
                (None, None) => continue,
            };
            if let Some(person) = self.config.person(&id) {
                if !people.iter().any(|p| p.id == person.id) {
                    people.push(person);
                }
            }
        }
        people
    }

    // ------------------------------------------------------------------ delivery

    /// Sends due deliveries concurrently (each with its own timeout), records every attempt,
    /// and schedules retries with exponential backoff on the desk clock. Returns how many
    /// deliveries were attempted.
    pub async fn deliver_due(&self, now_ms: UnixMs) -> Result<usize> {
        let _one_pass_at_a_time = self.delivering.lock().await;
        let due = self
            .store
            .due_deliveries(now_ms, MAX_DELIVERIES_PER_PASS)
            .await?;
        let attempted = due.len();
        let timeout = Duration::from_millis(self.config.delivery.timeout_ms);
        let mut tasks = tokio::task::JoinSet::new();
        for delivery in due {
            let channel: Option<ChannelConfig> = self.config.channel(&delivery.channel_id).cloned();
            let http = self.http.clone();
            tasks.spawn(async move {
                let outcome = match &channel {
                    Some(channel) => {
                        channels::send(&http, channel, &delivery.payload, timeout).await
                    }
                    None => Err(channels::SendFailure {
                        detail: format!(
                            "channel {:?} is no longer configured",
                            delivery.channel_id
                        ),
                        permanent: true,
                    }),
                };
                (delivery, outcome)
            });
        }
        while let Some(joined) = tasks.join_next().await {
            let Ok((delivery, outcome)) = joined else {
                continue;
            };
            self.record_outcome(&delivery, outcome, now_ms).await?;
        }
        Ok(attempted)
    }

    async fn record_outcome(
        &self,
        delivery: &Delivery,
        outcome: Result<String, channels::SendFailure>,
        now_ms: UnixMs,
    ) -> Result<()> {
        let attempt = delivery.attempts + 1;
        let settings = &self.config.delivery;
        let (ok, detail, status, next_ms) = match outcome {
            Ok(detail) => {
                bump(&self.metrics.deliveries_sent_total);
                (true, detail, DeliveryStatus::Sent, now_ms)
            }
            Err(failure) => {
                bump(&self.metrics.delivery_attempts_failed_total);
                if failure.permanent || attempt >= i64::from(settings.max_attempts) {
                    bump(&self.metrics.deliveries_given_up_total);
                    (false, failure.detail, DeliveryStatus::Failed, now_ms)
                } else {
                    let shift = u32::try_from(attempt - 1).unwrap_or(31).min(31);
                    let backoff_ms = settings
                        .backoff_initial_ms
                        .saturating_mul(1u64 << shift)
                        .min(settings.backoff_max_ms);
                    let next = now_ms.saturating_add(i64::try_from(backoff_ms).unwrap_or(i64::MAX));
                    (false, failure.detail, DeliveryStatus::Pending, next)
                }
            }
        };
        self.store
            .record_attempt(
                delivery.id,
                &DeliveryAttempt {
                    delivery_id: delivery.id,
                    attempt,
                    at_ms: now_ms,
                    ok,
                    detail: clip(&detail, 1_000),
                },
                status,
                next_ms,
            )
            .await?;
        if status == DeliveryStatus::Failed {
            self.record(
                delivery.incident_id,
                now_ms,
                "delivery_failed",
                "desk",
                &format!(
                    "gave up on {} to {} after {attempt} attempts: {}",
                    delivery.channel_id,
                    delivery.recipient,
                    clip(&detail, 300)
                ),
            )
            .await?;
        }
        Ok(())
    }

    // ------------------------------------------------------------------ inputs

    /// A push heartbeat (`POST /api/heartbeats/{token}`): the token is the credential.
    pub async fn heartbeat(&self, token: &str) -> Result<String> {
        let Some(heartbeat) = self
            .config
            .heartbeats
            .iter()
            .find(|h| auth::matches_sha256(token, &h.token_sha256))
        else {
            return Err(DeskError::not_found("heartbeat token"));
        };
        let now_ms = self.clock.now_ms();
        let mut state = self.state.lock().await;
        state
            .heartbeat_last_ping_ms
            .insert(heartbeat.id.clone(), now_ms);
        bump(&self.metrics.heartbeats_received_total);
        Ok(heartbeat.id.clone())
    }

    /// Checks the bearer token Alertmanager sends.
    pub fn check_alertmanager_token(&self, bearer: Option<&str>) -> Result<()> {
        let Some(config) = &self.config.alertmanager else {
            return Err(DeskError::not_found(
                "alertmanager receiver (not configured)",
            ));
        };
        match bearer {
            Some(token) if auth::matches_sha256(token, &config.bearer_token_sha256) => Ok(()),
            Some(_) => Err(DeskError::Unauthenticated {
                detail: "bad alertmanager token".into(),
            }),
            None => Err(DeskError::Unauthenticated {
                detail: "missing bearer token".into(),
            }),
        }
    }

    /// An Alertmanager webhook body (already authenticated): firing opens or updates the
    /// group's incident, resolved resolves it. A malformed body changes nothing.
    pub async fn alertmanager(&self, body: &[u8]) -> Result<AlertmanagerOutcome> {
        let group = alertmanager::parse(body)?;
        let Some(config) = &self.config.alertmanager else {
            return Err(DeskError::not_found(
                "alertmanager receiver (not configured)",
            ));
        };
        let now_ms = self.clock.now_ms();
        let _state = self.state.lock().await;
        bump(&self.metrics.alertmanager_notifications_total);
        let component = group
            .component_label
            .as_deref()
            .filter(|label| self.config.component_name(label).is_some())
            .unwrap_or(&config.default_component)
            .to_owned();
        let source_key = format!("alertmanager:{}", group.group_key);
        let existing = self.store.open_incident_by_source(&source_key).await?;
        let names = group.alert_names.join(", ");
        let outcome = match (group.firing, existing) {
            (true, Some(mut incident)) => {
                incident.impact = incident.impact.max(group.impact);
                if incident.recovered_at_ms.take().is_some() {
                    incident.state = IncidentState::Investigating;
                }
                self.store.update_incident(&incident).await?;
                self.record(
                    incident.id,
                    now_ms,
                    "alertmanager",
                    "alertmanager",
                    &format!("{} alert(s) firing: {names}", group.firing_count),
                )
                .await?;
                self.refresh_component(&incident.component, now_ms).await?;
                AlertmanagerOutcome {
                    incident_id: Some(incident.id),
                    action: "updated",
                }
            }
            (true, None) => {
                let impact_start = group.earliest_start_ms.unwrap_or(now_ms).min(now_ms);
                let id = self
                    .create_incident(
                        NewIncidentRow {
                            title: group.title.clone(),
                            component: component.clone(),
                            state: IncidentState::Investigating,
                            impact: group.impact,
                            source_key: Some(source_key),
                            policy_id: self.config.policy_for(&component).map(|p| p.id.clone()),
                            impact_started_at_ms: impact_start,
                            detected_at_ms: now_ms,
                            created_by: "alertmanager".into(),
                        },
                        &format!(
                            "opened by Alertmanager: {} alert(s) firing: {names}",
                            group.firing_count
                        ),
                    )
                    .await?;
                self.refresh_component(&component, now_ms).await?;
                AlertmanagerOutcome {
                    incident_id: Some(id),
                    action: "opened",
                }
            }
            (false, Some(incident)) => {
                self.resolve_incident(
                    incident,
                    "alertmanager",
                    "all alerts of the group resolved",
                    now_ms,
                )
                .await?;
                AlertmanagerOutcome {
                    incident_id: None,
                    action: "resolved",
                }
            }
            (false, None) => AlertmanagerOutcome {
                incident_id: None,
                action: "ignored (no open incident for the group)",
            },
        };
        Ok(outcome)
    }

    // ------------------------------------------------------------------ people's actions

    /// Resolves a bearer token to a principal.
    pub async fn authenticate(&self, bearer: Option<&str>) -> Result<Principal> {
        let Some(token) = bearer else {
            return Err(DeskError::Unauthenticated {
                detail: "missing bearer token".into(),
            });
        };
        if token.len() > 200 {
            return Err(DeskError::Unauthenticated {
                detail: "malformed token".into(),
            });
        }
        self.store
            .principal_for_token(&auth::sha256_hex(token), self.clock.now_ms())
            .await?
            .ok_or_else(|| DeskError::Unauthenticated {
                detail: "unknown, expired or revoked token".into(),
            })
    }

    /// Password login; returns a session token valid for `auth.session_ttl_s`.
    pub async fn login(&self, username: &str, password: &str) -> Result<IssuedToken> {
        let refused = || DeskError::Unauthenticated {
            detail: "wrong username or password".into(),
        };
        if username.len() > 100 || password.len() > auth::MAX_PASSWORD_BYTES {
            return Err(refused());
        }
        let Some((user, hash)) = self.store.user_for_login(username).await? else {
            return Err(refused());
        };
        let password = password.to_owned();
        let verified = tokio::task::spawn_blocking(move || auth::verify_password(&password, &hash))
            .await
            .unwrap_or(false);
        if !verified {
            return Err(refused());
        }
        let now_ms = self.clock.now_ms();
        let ttl_ms = i64::try_from(self.config.auth.session_ttl_s).unwrap_or(86_400) * 1_000;
        let principal = Principal {
            user_id: user.id,
            username: user.username,
            role: user.role,
        };
        self.issue_token(&principal, "session", Some(now_ms + ttl_ms))
            .await
    }

    async fn issue_token(
        &self,
        principal: &Principal,
        label: &str,
        expires_at_ms: Option<UnixMs>,
    ) -> Result<IssuedToken> {
        let (token, digest) = auth::new_token();
        let now_ms = self.clock.now_ms();
        self.store
            .insert_token(principal.user_id, &digest, label, now_ms, expires_at_ms)
            .await?;
        self.store
            .append_audit(
                now_ms,
                &actor_of(principal),
                "token.issue",
                &format!("user:{}", principal.username),
                &json!({ "label": label }),
            )
            .await?;
        Ok(IssuedToken {
            token,
            expires_at_ms,
            user: principal.clone(),
        })
    }

    /// A long-lived API token for the caller.
    pub async fn create_api_token(&self, actor: &Principal, label: &str) -> Result<IssuedToken> {
        check_text("label", label, 100)?;
        self.issue_token(actor, label, None).await
    }

    async fn insert_user(
        &self,
        actor: &str,
        username: &str,
        password: &str,
        role: Role,
    ) -> Result<User> {
        if username.is_empty()
            || username.len() > 64
            || !username
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.@".contains(&b))
        {
            return Err(DeskError::invalid("username", "1..=64 of [A-Za-z0-9-_.@]"));
        }
        let auth_config = self.config.auth.clone();
        let password = password.to_owned();
        let hash =
            tokio::task::spawn_blocking(move || auth::hash_password(&auth_config, &password))
                .await
                .map_err(|err| DeskError::PasswordHash {
                    detail: err.to_string(),
                })??;
        let now_ms = self.clock.now_ms();
        let user = self
            .store
            .insert_user(username, &hash, role, now_ms)
            .await?;
        self.store
            .append_audit(
                now_ms,
                actor,
                "user.create",
                &format!("user:{username}"),
                &json!({ "role": role }),
            )
            .await?;
        Ok(user)
    }

    /// Creates a user (admins only).
    pub async fn create_user(
        &self,
        actor: &Principal,
        username: &str,
        password: &str,
        role: Role,
    ) -> Result<User> {
        auth::require(actor.role, Permission::ManageUsers)?;
        self.insert_user(&actor_of(actor), username, password, role)
            .await
    }

    /// Creates the first admin if there are no users yet; `None` if users exist.
    pub async fn bootstrap_admin(&self, username: &str, password: &str) -> Result<Option<User>> {
        if self.store.count_users().await? > 0 {
            return Ok(None);
        }
        self.insert_user("desk:bootstrap", username, password, Role::Admin)
            .await
            .map(Some)
    }

    pub async fn list_users(&self, actor: &Principal) -> Result<Vec<User>> {
        auth::require(actor.role, Permission::ManageUsers)?;
        self.store.list_users().await
    }

    pub async fn components(&self, actor: &Principal) -> Result<Vec<Component>> {
        auth::require(actor.role, Permission::ViewIncidents)?;
        self.store.list_components().await
    }

    /// Components without authentication, for the public status page (issue 6).
    pub async fn public_components(&self) -> Result<Vec<Component>> {
        self.store.list_components().await
    }

    /// Sets a component's status by hand (for example `maintenance`).
    pub async fn set_component_status(
        &self,
        actor: &Principal,
        id: &str,
        status: ComponentStatus,
    ) -> Result<Component> {
        auth::require(actor.role, Permission::ManageComponents)?;
        let now_ms = self.clock.now_ms();
        let before = self.store.get_component(id).await?;
        self.store.set_component_status(id, status, now_ms).await?;
        self.store
            .append_audit(
                now_ms,
                &actor_of(actor),
                "component.status",
                &format!("component:{id}"),
                &json!({ "from": before.status, "to": status }),
            )
            .await?;
        self.note_change();
        self.store.get_component(id).await
    }

    pub async fn incidents(&self, actor: &Principal, limit: i64) -> Result<Vec<Incident>> {
        auth::require(actor.role, Permission::ViewIncidents)?;
        self.store.list_incidents(limit).await
    }

    pub async fn incident_detail(&self, actor: &Principal, id: i64) -> Result<IncidentDetail> {
        auth::require(actor.role, Permission::ViewIncidents)?;
        let incident = self.store.get_incident(id).await?;
        let timeline = self.store.timeline(id).await?;
        let mut deliveries = Vec::new();
        for delivery in self.store.deliveries_for(id).await? {
            let attempt_log = self.store.attempts_for(delivery.id).await?;
            deliveries.push(DeliveryWithAttempts {
                delivery,
                attempt_log,
            });
        }
        Ok(IncidentDetail {
            figures: incident.figures(),
            incident,
            timeline,
            deliveries,
        })
    }

    /// Opens an incident by hand (not deduplicated: a person decided there is one).
    pub async fn open_incident(&self, actor: &Principal, new: NewIncident) -> Result<Incident> {
        auth::require(actor.role, Permission::ManageIncidents)?;
        check_text("title", &new.title, MAX_TITLE_CHARS)?;
        if new.title.trim().is_empty() {
            return Err(DeskError::invalid("title", "empty"));
        }
        if let Some(message) = &new.message {
            check_text("message", message, MAX_MESSAGE_CHARS)?;
        }
        if self.config.component_name(&new.component).is_none() {
            return Err(DeskError::invalid(
                "component",
                format!("unknown component {:?}", new.component),
            ));
        }
        let now_ms = self.clock.now_ms();
        let impact_start = new.impact_started_at_ms.unwrap_or(now_ms);
        if impact_start > now_ms || impact_start < now_ms - 366 * 86_400_000 {
            return Err(DeskError::invalid(
                "impact_started_at_ms",
                "must be within the last year and not in the future",
            ));
        }
        let _state = self.state.lock().await;
        let id = self
            .create_incident(
                NewIncidentRow {
                    title: new.title.trim().to_owned(),
                    component: new.component.clone(),
                    state: IncidentState::Investigating,
                    impact: new.impact,
                    source_key: None,
                    policy_id: self.config.policy_for(&new.component).map(|p| p.id.clone()),
                    impact_started_at_ms: impact_start,
                    detected_at_ms: now_ms,
                    created_by: actor_of(actor),
                },
                new.message.as_deref().unwrap_or("opened by hand"),
            )
            .await?;
        self.refresh_component(&new.component, now_ms).await?;
        self.store.get_incident(id).await
    }

    /// Acknowledges an incident: stops the `unacknowledged_for` steps (not the `down_for`
    /// ones). Acknowledging twice keeps the first acknowledgement.
    pub async fn acknowledge(&self, actor: &Principal, id: i64) -> Result<Incident> {
        auth::require(actor.role, Permission::ManageIncidents)?;
        self.acknowledge_as(id, &actor_of(actor)).await
    }

    /// Checks a signed acknowledgement link without acting on it.
    pub fn verify_ack_link(
        &self,
        id: i64,
        person: &str,
        expires_at_ms: UnixMs,
        signature: &str,
    ) -> Result<()> {
        auth::verify_ack_link(
            &self.link_secret,
            id,
            person,
            expires_at_ms,
            signature,
            self.clock.now_ms(),
        )
    }

    /// Acknowledges through a signed link from a notification.
    pub async fn acknowledge_by_link(
        &self,
        id: i64,
        person: &str,
        expires_at_ms: UnixMs,
        signature: &str,
    ) -> Result<Incident> {
        auth::verify_ack_link(
            &self.link_secret,
            id,
            person,
            expires_at_ms,
            signature,
            self.clock.now_ms(),
        )?;
        self.acknowledge_as(id, &format!("link:{person}")).await
    }

    async fn acknowledge_as(&self, id: i64, actor: &str) -> Result<Incident> {
        let _state = self.state.lock().await;
        let mut incident = self.store.get_incident(id).await?;
        if !incident.is_open() {
            return Err(DeskError::Conflict {
                detail: format!("incident {id} is resolved"),
            });
        }
        if incident.acknowledged_at_ms.is_some() {
            return Ok(incident);
        }
        let now_ms = self.clock.now_ms();
        incident.acknowledged_at_ms = Some(now_ms);
        incident.acknowledged_by = Some(actor.to_owned());
        self.store.update_incident(&incident).await?;
        self.record(id, now_ms, "acknowledged", actor, "acknowledged")
            .await?;
        bump(&self.metrics.acknowledgements_total);
        Ok(incident)
    }

    /// Posts an update and moves the incident to `state` (not `resolved`: use [`Desk::resolve`]).
    pub async fn update_incident(
        &self,
        actor: &Principal,
        id: i64,
        state: IncidentState,
        message: &str,
    ) -> Result<Incident> {
        auth::require(actor.role, Permission::ManageIncidents)?;
        check_text("message", message, MAX_MESSAGE_CHARS)?;
        if state == IncidentState::Resolved {
            return self.resolve(actor, id, message).await;
        }
        let _state = self.state.lock().await;
        let mut incident = self.store.get_incident(id).await?;
        if !incident.is_open() {
            return Err(DeskError::Conflict {
                detail: format!("incident {id} is resolved"),
            });
        }
        let now_ms = self.clock.now_ms();
        incident.state = state;
        self.store.update_incident(&incident).await?;
        self.record(
            id,
            now_ms,
            "update",
            &actor_of(actor),
            &format!("{state}: {message}"),
        )
        .await?;
        Ok(incident)
    }

    /// Resolves an incident, recording the resolution time (and recovery, if not seen yet).
    pub async fn resolve(&self, actor: &Principal, id: i64, message: &str) -> Result<Incident> {
        auth::require(actor.role, Permission::ManageIncidents)?;
        check_text("message", message, MAX_MESSAGE_CHARS)?;
        let _state = self.state.lock().await;
        let incident = self.store.get_incident(id).await?;
        if !incident.is_open() {
            return Err(DeskError::Conflict {
                detail: format!("incident {id} is already resolved"),
            });
        }
        let now_ms = self.clock.now_ms();
        self.resolve_incident(incident, &actor_of(actor), message, now_ms)
            .await
    }

    async fn resolve_incident(
        &self,
        mut incident: Incident,
        actor: &str,
        message: &str,
        now_ms: UnixMs,
    ) -> Result<Incident> {
        incident.resolved_at_ms = Some(now_ms);
        incident.recovered_at_ms.get_or_insert(now_ms);
        incident.state = IncidentState::Resolved;
        self.store.update_incident(&incident).await?;
        let figures = incident.figures();
        self.record(
            incident.id,
            now_ms,
            "resolved",
            actor,
            &format!(
                "resolved: {message} (detect {} ms, acknowledge {}, resolve {} ms)",
                figures.time_to_detect_ms,
                figures
                    .time_to_acknowledge_ms
                    .map_or("never".into(), |ms| format!("{ms} ms")),
                figures.time_to_resolve_ms.unwrap_or(0)
            ),
        )
        .await?;
        bump(&self.metrics.incidents_resolved_total);
        self.refresh_component(&incident.component, now_ms).await?;
        Ok(incident)
    }

    /// MTTD / MTTA / MTTR over the latest resolved incidents.
    pub async fn figures(&self, actor: &Principal) -> Result<FiguresSummary> {
        auth::require(actor.role, Permission::ViewIncidents)?;
        let resolved = self
            .store
            .resolved_incidents(FIGURES_WINDOW_INCIDENTS)
            .await?;
        let mean = |values: Vec<i64>| -> Option<i64> {
            if values.is_empty() {
                None
            } else {
                let sum: i128 = values.iter().map(|v| i128::from(*v)).sum();
                i64::try_from(sum / values.len() as i128).ok()
            }
        };
        let figures: Vec<IncidentFigures> = resolved.iter().map(Incident::figures).collect();
        Ok(FiguresSummary {
            resolved_incidents: resolved.len(),
            mttd_ms: mean(figures.iter().map(|f| f.time_to_detect_ms).collect()),
            mtta_ms: mean(
                figures
                    .iter()
                    .filter_map(|f| f.time_to_acknowledge_ms)
                    .collect(),
            ),
            mttr_ms: mean(
                figures
                    .iter()
                    .filter_map(|f| f.time_to_resolve_ms)
                    .collect(),
            ),
        })
    }

    /// Prometheus text for `GET /metrics`.
    pub async fn render_metrics(&self, actor: &Principal) -> Result<String> {
        auth::require(actor.role, Permission::ViewMetrics)?;
        let components = self.store.list_components().await?;
        let open = self.store.open_incidents().await?.len();
        let monitors_down = self
            .state
            .lock()
            .await
            .monitors
            .values()
            .filter(|m| m.down)
            .count();
        Ok(self.metrics.render(&components, open, monitors_down))
    }

    /// The audit trail (compliance and admin).
    pub async fn audit(
        &self,
        actor: &Principal,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<crate::model::AuditEntry>> {
        auth::require(actor.role, Permission::ViewAudit)?;
        self.store.audit_entries(after_id, limit).await
    }

    /// Every monitor the desk knows: those checked at least once with their last result, and
    /// configured probes and heartbeats not checked yet.
    pub async fn monitors(&self, actor: &Principal) -> Result<Vec<MonitorView>> {
        auth::require(actor.role, Permission::ViewIncidents)?;
        let state = self.state.lock().await;
        let mut views: Vec<MonitorView> = state
            .monitors
            .iter()
            .map(|(key, monitor)| MonitorView {
                key: key.clone(),
                component: monitor.component.clone(),
                severity: monitor.severity,
                checked: true,
                down: monitor.down,
                failing_since_ms: monitor.failing_since_ms,
                consecutive_failures: monitor.consecutive_failures,
                detail: monitor.detail.clone(),
            })
            .collect();
        let configured = self
            .config
            .probes
            .iter()
            .map(|p| (format!("probe.{}", p.id), &p.component, p.severity))
            .chain(
                self.config
                    .heartbeats
                    .iter()
                    .map(|h| (format!("heartbeat.{}", h.id), &h.component, h.severity)),
            );
        for (key, component, severity) in configured {
            if !state.monitors.contains_key(&key) {
                views.push(MonitorView {
                    key,
                    component: component.clone(),
                    severity,
                    checked: false,
                    down: false,
                    failing_since_ms: None,
                    consecutive_failures: 0,
                    detail: String::new(),
                });
            }
        }
        views.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(views)
    }

    /// Who is on call at `at_ms` on every schedule, in call order (first = on call now).
    pub fn on_call(&self, actor: &Principal, at_ms: UnixMs) -> Result<Vec<OnCallView>> {
        auth::require(actor.role, Permission::ViewIncidents)?;
        Ok(self
            .schedules
            .iter()
            .map(|(id, schedule)| OnCallView {
                schedule_id: id.clone(),
                order: schedule
                    .on_call_order(at_ms)
                    .into_iter()
                    .map(|person_id| {
                        let person = self.config.person(&person_id);
                        OnCallPerson {
                            name: person.map_or_else(|| person_id.clone(), |p| p.name.clone()),
                            phone: person.and_then(|p| p.phone.clone()),
                            id: person_id,
                        }
                    })
                    .collect(),
            })
            .collect())
    }
}

/// Updates one monitor's state; returns the transition it caused, if any.
fn apply_observation(
    state: &mut RuntimeState,
    observation: Observation,
    now_ms: UnixMs,
) -> Option<Transition> {
    let monitor = state
        .monitors
        .entry(observation.key.clone())
        .or_insert_with(|| MonitorState {
            component: observation.component.clone(),
            severity: observation.severity,
            failing_since_ms: None,
            consecutive_failures: 0,
            down: false,
            detail: String::new(),
        });
    monitor.detail = observation.detail.clone();
    if observation.failed {
        monitor.consecutive_failures = monitor.consecutive_failures.saturating_add(1);
        let since = *monitor.failing_since_ms.get_or_insert(now_ms);
        if observation.down && !monitor.down {
            monitor.down = true;
            return Some(Transition::Down {
                key: observation.key,
                component: monitor.component.clone(),
                severity: monitor.severity,
                impact_started_at_ms: since,
                detail: observation.detail,
            });
        }
        None
    } else {
        monitor.consecutive_failures = 0;
        monitor.failing_since_ms = None;
        if monitor.down {
            monitor.down = false;
            return Some(Transition::Up {
                key: observation.key,
                component: monitor.component.clone(),
            });
        }
        None
    }
}
