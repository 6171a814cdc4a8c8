//! Desk configuration, read from one TOML file (see `crates/desk/config/desk.example.toml`).
//!
//! Durations in the file are in seconds (`_s`) or milliseconds (`_ms`) as their names say.
//! [`DeskConfig::validate`] checks every cross reference and limit before the desk starts.

use std::collections::BTreeSet;

use serde::Deserialize;

use crate::error::{DeskError, Result};
use crate::model::ComponentStatus;

/// Upper bounds of a configuration; a file beyond them is rejected, not truncated.
pub const MAX_COMPONENTS: usize = 64;
pub const MAX_PROBES: usize = 256;
pub const MAX_HEARTBEATS: usize = 256;
pub const MAX_PEOPLE: usize = 1_000;
pub const MAX_SCHEDULES: usize = 100;
pub const MAX_POLICIES: usize = 100;
pub const MAX_STEPS_PER_POLICY: usize = 32;
pub const MAX_CHANNELS: usize = 64;
pub const MAX_REPEATS: u32 = 20;
/// The largest configuration file read (1 MiB).
pub const MAX_CONFIG_BYTES: usize = 1 << 20;
/// Longest allowed timeout for one probe or one delivery attempt.
pub const MAX_TIMEOUT_MS: u64 = 30_000;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeskConfig {
    #[serde(default = "default_components")]
    pub components: Vec<ComponentConfig>,
    #[serde(default)]
    pub engine: EngineMonitorConfig,
    #[serde(default)]
    pub probes: Vec<ProbeConfig>,
    #[serde(default)]
    pub heartbeats: Vec<HeartbeatConfig>,
    #[serde(default)]
    pub alertmanager: Option<AlertmanagerConfig>,
    #[serde(default)]
    pub people: Vec<PersonConfig>,
    #[serde(default)]
    pub schedules: Vec<ScheduleConfig>,
    #[serde(default)]
    pub policies: Vec<PolicyConfig>,
    #[serde(default)]
    pub channels: Vec<ChannelConfig>,
    #[serde(default)]
    pub links: LinksConfig,
    #[serde(default)]
    pub delivery: DeliveryConfig,
    #[serde(default)]
    pub auth: AuthConfig,
    /// Regulator reports: rules, deadlines, UK tolerances, reminders.
    #[serde(default)]
    pub reports: crate::reports::ReportsConfig,
}

impl Default for DeskConfig {
    fn default() -> Self {
        DeskConfig {
            components: default_components(),
            engine: EngineMonitorConfig::default(),
            probes: Vec::new(),
            heartbeats: Vec::new(),
            alertmanager: None,
            people: Vec::new(),
            schedules: Vec::new(),
            policies: Vec::new(),
            channels: Vec::new(),
            links: LinksConfig::default(),
            delivery: DeliveryConfig::default(),
            auth: AuthConfig::default(),
            reports: crate::reports::ReportsConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentConfig {
    pub id: String,
    pub name: String,
}

fn default_components() -> Vec<ComponentConfig> {
    [
        ("trading", "Trading"),
        ("price-feed", "Price feed"),
        ("login", "Login"),
        ("funds", "Deposits and withdrawals"),
    ]
    .into_iter()
    .map(|(id, name)| ComponentConfig {
        id: id.into(),
        name: name.into(),
    })
    .collect()
}

/// Engine health monitor. Defaults detect a stopped engine within 6 s with a 1 s tick.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineMonitorConfig {
    pub enabled: bool,
    /// Component hit when the engine stops or slows.
    pub component: String,
    /// Component hit when quotes go stale.
    pub price_component: String,
    /// A heartbeat older than this is a failed check (the impact starts here).
    pub heartbeat_expected_ms: u64,
    /// A heartbeat older than this means the engine is down (an incident opens).
    pub liveness_timeout_ms: u64,
    /// During market hours, an instrument without a quote for this long is stale.
    pub quote_stale_ms: u64,
    /// Order acknowledgement p99 above this is degraded performance.
    pub order_ack_p99_max_ms: u64,
    /// Journal fsync p99 above this is degraded performance.
    pub journal_fsync_p99_max_ms: u64,
    /// Weekly market open, UTC, as `"Sun 21:00"`.
    pub market_open_utc: String,
    /// Weekly market close, UTC, as `"Fri 21:00"`.
    pub market_close_utc: String,
}

impl Default for EngineMonitorConfig {
    fn default() -> Self {
        EngineMonitorConfig {
            enabled: true,
            component: "trading".into(),
            price_component: "price-feed".into(),
            heartbeat_expected_ms: 2_000,
            liveness_timeout_ms: 5_000,
            quote_stale_ms: 10_000,
            order_ack_p99_max_ms: 500,
            journal_fsync_p99_max_ms: 50,
            market_open_utc: "Sun 21:00".into(),
            market_close_utc: "Fri 21:00".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeKind {
    Http,
    Tcp,
}

/// An active check of an HTTP(S) URL or a TCP `host:port`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeConfig {
    pub id: String,
    pub component: String,
    pub kind: ProbeKind,
    /// URL for `http`, `host:port` for `tcp`.
    pub target: String,
    #[serde(default = "default_probe_interval_s")]
    pub interval_s: u64,
    #[serde(default = "default_probe_timeout_ms")]
    pub timeout_ms: u64,
    /// Failed checks in a row tolerated before the component is declared down.
    #[serde(default = "default_probe_retries")]
    pub retries: u32,
    #[serde(default = "default_major")]
    pub severity: ComponentStatus,
}

fn default_probe_interval_s() -> u64 {
    30
}
fn default_probe_timeout_ms() -> u64 {
    5_000
}
fn default_probe_retries() -> u32 {
    2
}
fn default_major() -> ComponentStatus {
    ComponentStatus::MajorOutage
}

/// A dead man's switch: something must `POST /api/heartbeats/{token}` every `period_s`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatConfig {
    pub id: String,
    pub component: String,
    /// SHA-256 (hex) of the secret token in the URL; the token itself is not stored.
    pub token_sha256: String,
    pub period_s: u64,
    /// Extra time after a missed period before the component is declared down.
    #[serde(default = "default_grace_s")]
    pub grace_s: u64,
    #[serde(default = "default_major")]
    pub severity: ComponentStatus,
}

fn default_grace_s() -> u64 {
    30
}

/// The Prometheus Alertmanager receiver.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerConfig {
    /// SHA-256 (hex) of the bearer token Alertmanager sends (`http_config.authorization`).
    pub bearer_token_sha256: String,
    /// Component for alerts without a known `component` label.
    pub default_component: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonConfig {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
}

/// An on-call rotation: `members` take turns, each for `shift_hours`, from `rotation_start`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    pub id: String,
    /// RFC 3339 instant the first member's first shift starts.
    pub rotation_start: String,
    pub shift_hours: u64,
    pub members: Vec<String>,
    #[serde(default)]
    pub overrides: Vec<OverrideConfig>,
}

/// `person` is on call instead of the rotation from `start` to `end` (RFC 3339).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverrideConfig {
    pub person: String,
    pub start: String,
    pub end: String,
}

/// What makes an escalation step due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepTrigger {
    /// The outage has lasted `after_s` since its first failed check (stops when it recovers).
    DownFor,
    /// Nobody acknowledged within `after_s` of detection (stops at acknowledgement; repeats).
    UnacknowledgedFor,
}

impl StepTrigger {
    pub fn as_str(self) -> &'static str {
        match self {
            StepTrigger::DownFor => "down_for",
            StepTrigger::UnacknowledgedFor => "unacknowledged_for",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepConfig {
    pub when: StepTrigger,
    pub after_s: u64,
    pub notify: Vec<TargetConfig>,
    pub channels: Vec<String>,
    /// What the recipients must do ("call the support lead's mobile").
    pub instruction: String,
}

/// A person, or the person at `level` of a schedule's on-call order (0 = on call now, 1 = next).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    #[serde(default)]
    pub person: Option<String>,
    #[serde(default)]
    pub schedule: Option<String>,
    #[serde(default)]
    pub level: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    pub id: String,
    /// Components this policy covers; empty means every component without a policy of its own.
    #[serde(default)]
    pub components: Vec<String>,
    /// How many more times the `unacknowledged_for` steps run after the first pass.
    #[serde(default)]
    pub repeat_times: u32,
    /// Length of one pass of the `unacknowledged_for` steps, when repeating.
    #[serde(default)]
    pub repeat_every_s: u64,
    pub steps: Vec<StepConfig>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GatewayBodyFormat {
    /// Placeholders are JSON-string escaped.
    Json,
    /// Placeholders are form-urlencoded.
    Form,
}

/// Where notifications go.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChannelConfig {
    /// POST of the notification as JSON.
    Webhook {
        id: String,
        url: String,
        #[serde(default)]
        bearer_token: Option<String>,
    },
    /// POST of `{"text": ...}` to a Slack-compatible incoming webhook.
    Slack { id: String, url: String },
    /// Email to each recipient's address over SMTP (lettre). Plain SMTP to a relay: this build
    /// has no TLS for SMTP, so point it at a local relay (postfix, a cloud relay's sidecar).
    Email {
        id: String,
        smtp_host: String,
        #[serde(default = "default_smtp_port")]
        smtp_port: u16,
        from: String,
        #[serde(default)]
        username: Option<String>,
        #[serde(default)]
        password: Option<String>,
    },
    /// SMS or voice call through an HTTP gateway: `body_template` with `{{to}}`, `{{message}}`,
    /// `{{incident_id}}` and `{{ack_url}}` placeholders, POSTed to `url` for each recipient phone.
    Gateway {
        id: String,
        url: String,
        body_template: String,
        body_format: GatewayBodyFormat,
        #[serde(default)]
        bearer_token: Option<String>,
    },
}

fn default_smtp_port() -> u16 {
    25
}

impl ChannelConfig {
    pub fn id(&self) -> &str {
        match self {
            ChannelConfig::Webhook { id, .. }
            | ChannelConfig::Slack { id, .. }
            | ChannelConfig::Email { id, .. }
            | ChannelConfig::Gateway { id, .. } => id,
        }
    }

    /// Whether the channel sends one message per person (email, SMS) rather than one per step.
    pub fn is_per_person(&self) -> bool {
        matches!(
            self,
            ChannelConfig::Email { .. } | ChannelConfig::Gateway { .. }
        )
    }
}

/// Signed acknowledgement links in notifications.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LinksConfig {
    /// Base URL the desk is reached at, for links in notifications.
    pub public_url: String,
    /// How long a signed acknowledgement link stays valid.
    pub ack_link_ttl_s: u64,
}

impl Default for LinksConfig {
    fn default() -> Self {
        LinksConfig {
            public_url: "http://127.0.0.1:8080".into(),
            ack_link_ttl_s: 24 * 3600,
        }
    }
}

/// Retries of failed deliveries: attempt n waits `backoff_initial_ms * 2^(n-1)`, capped.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    pub max_attempts: u32,
    pub backoff_initial_ms: u64,
    pub backoff_max_ms: u64,
    pub timeout_ms: u64,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            max_attempts: 6,
            backoff_initial_ms: 5_000,
            backoff_max_ms: 300_000,
            timeout_ms: 5_000,
        }
    }
}

/// Password hashing cost (argon2id) and session length.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    /// Lifetime of the token a password login returns.
    pub session_ttl_s: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        // OWASP's argon2id recommendation: 19 MiB, 2 iterations, 1 lane.
        AuthConfig {
            argon2_memory_kib: 19_456,
            argon2_iterations: 2,
            session_ttl_s: 12 * 3600,
        }
    }
}

impl DeskConfig {
    /// Parses and validates a TOML document.
    pub fn from_toml(text: &str) -> Result<DeskConfig> {
        if text.len() > MAX_CONFIG_BYTES {
            return Err(DeskError::config(
                "file",
                format!("{} bytes, limit {MAX_CONFIG_BYTES}", text.len()),
            ));
        }
        let config: DeskConfig =
            toml::from_str(text).map_err(|err| DeskError::config("toml", err.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Reads, parses and validates a TOML file.
    pub fn load(path: &std::path::Path) -> Result<DeskConfig> {
        let text = std::fs::read_to_string(path)
            .map_err(|err| DeskError::config(path.display().to_string(), err.to_string()))?;
        Self::from_toml(&text)
            .map_err(|err| DeskError::config(path.display().to_string(), err.to_string()))
    }

    pub fn component_name(&self, id: &str) -> Option<&str> {
        self.components
            .iter()
            .find(|component| component.id == id)
            .map(|component| component.name.as_str())
    }

    pub fn person(&self, id: &str) -> Option<&PersonConfig> {
        self.people.iter().find(|person| person.id == id)
    }

    pub fn channel(&self, id: &str) -> Option<&ChannelConfig> {
        self.channels.iter().find(|channel| channel.id() == id)
    }

    /// The policy for a component: one naming it, else one with no components listed.
    pub fn policy_for(&self, component: &str) -> Option<&PolicyConfig> {
        self.policies
            .iter()
            .find(|policy| policy.components.iter().any(|c| c == component))
            .or_else(|| {
                self.policies
                    .iter()
                    .find(|policy| policy.components.is_empty())
            })
    }

    pub fn policy(&self, id: &str) -> Option<&PolicyConfig> {
        self.policies.iter().find(|policy| policy.id == id)
    }

    /// Checks limits, unique ids and that every reference points at something defined.
    pub fn validate(&self) -> Result<()> {
        check_count("components", self.components.len(), MAX_COMPONENTS)?;
        check_count("probes", self.probes.len(), MAX_PROBES)?;
        check_count("heartbeats", self.heartbeats.len(), MAX_HEARTBEATS)?;
        check_count("people", self.people.len(), MAX_PEOPLE)?;
        check_count("schedules", self.schedules.len(), MAX_SCHEDULES)?;
        check_count("policies", self.policies.len(), MAX_POLICIES)?;
        check_count("channels", self.channels.len(), MAX_CHANNELS)?;

        let components = unique_ids("components", self.components.iter().map(|c| c.id.as_str()))?;
        let people = unique_ids("people", self.people.iter().map(|p| p.id.as_str()))?;
        let schedules = unique_ids("schedules", self.schedules.iter().map(|s| s.id.as_str()))?;
        let channels = unique_ids("channels", self.channels.iter().map(|c| c.id()))?;
        unique_ids("probes", self.probes.iter().map(|p| p.id.as_str()))?;
        unique_ids("heartbeats", self.heartbeats.iter().map(|h| h.id.as_str()))?;
        unique_ids("policies", self.policies.iter().map(|p| p.id.as_str()))?;

        let need = |set: &BTreeSet<&str>, kind: &str, id: &str, at: &str| -> Result<()> {
            if set.contains(id) {
                Ok(())
            } else {
                Err(DeskError::config(at, format!("unknown {kind} {id:?}")))
            }
        };

        if self.engine.enabled {
            need(
                &components,
                "component",
                &self.engine.component,
                "engine.component",
            )?;
            need(
                &components,
                "component",
                &self.engine.price_component,
                "engine.price_component",
            )?;
            crate::health::MarketHours::parse(
                &self.engine.market_open_utc,
                &self.engine.market_close_utc,
            )?;
            if self.engine.heartbeat_expected_ms > self.engine.liveness_timeout_ms {
                return Err(DeskError::config(
                    "engine",
                    "heartbeat_expected_ms must not exceed liveness_timeout_ms",
                ));
            }
        }
        for probe in &self.probes {
            let at = format!("probes.{}", probe.id);
            need(&components, "component", &probe.component, &at)?;
            if probe.timeout_ms == 0 || probe.timeout_ms > MAX_TIMEOUT_MS {
                return Err(DeskError::config(
                    at,
                    format!("timeout_ms must be 1..={MAX_TIMEOUT_MS}"),
                ));
            }
            if probe.interval_s == 0 || probe.retries > 100 {
                return Err(DeskError::config(
                    at,
                    "interval_s must be > 0, retries <= 100",
                ));
            }
            if probe.kind == ProbeKind::Http
                && !(probe.target.starts_with("http://") || probe.target.starts_with("https://"))
            {
                return Err(DeskError::config(at, "http target must be an http(s) URL"));
            }
        }
        for heartbeat in &self.heartbeats {
            let at = format!("heartbeats.{}", heartbeat.id);
            need(&components, "component", &heartbeat.component, &at)?;
            check_sha256_hex(&at, &heartbeat.token_sha256)?;
            if heartbeat.period_s == 0 {
                return Err(DeskError::config(at, "period_s must be > 0"));
            }
        }
        if let Some(alertmanager) = &self.alertmanager {
            need(
                &components,
                "component",
                &alertmanager.default_component,
                "alertmanager.default_component",
            )?;
            check_sha256_hex("alertmanager", &alertmanager.bearer_token_sha256)?;
        }
        for schedule in &self.schedules {
            let at = format!("schedules.{}", schedule.id);
            crate::schedule::Schedule::from_config(schedule)?;
            for member in &schedule.members {
                need(&people, "person", member, &at)?;
            }
            for over in &schedule.overrides {
                need(&people, "person", &over.person, &at)?;
            }
        }
        for policy in &self.policies {
            let at = format!("policies.{}", policy.id);
            check_count(&at, policy.steps.len(), MAX_STEPS_PER_POLICY)?;
            if policy.repeat_times > MAX_REPEATS {
                return Err(DeskError::config(
                    at,
                    format!("repeat_times limit {MAX_REPEATS}"),
                ));
            }
            if policy.repeat_times > 0 && policy.repeat_every_s == 0 {
                return Err(DeskError::config(
                    at,
                    "repeat_every_s must be > 0 to repeat",
                ));
            }
            for component in &policy.components {
                need(&components, "component", component, &at)?;
            }
            for (index, step) in policy.steps.iter().enumerate() {
                let at = format!("{at}.steps[{index}]");
                if step.notify.is_empty() || step.channels.is_empty() {
                    return Err(DeskError::config(at, "a step needs notify and channels"));
                }
                for channel in &step.channels {
                    need(&channels, "channel", channel, &at)?;
                }
                for target in &step.notify {
                    match (&target.person, &target.schedule) {
                        (Some(person), None) => need(&people, "person", person, &at)?,
                        (None, Some(schedule)) => need(&schedules, "schedule", schedule, &at)?,
                        _ => {
                            return Err(DeskError::config(
                                at,
                                "each notify target needs exactly one of person or schedule",
                            ))
                        }
                    }
                }
            }
        }
        let delivery = &self.delivery;
        if delivery.max_attempts == 0
            || delivery.max_attempts > 50
            || delivery.timeout_ms == 0
            || delivery.timeout_ms > MAX_TIMEOUT_MS
            || delivery.backoff_initial_ms > delivery.backoff_max_ms
        {
            return Err(DeskError::config(
                "delivery",
                format!(
                    "max_attempts 1..=50, timeout_ms 1..={MAX_TIMEOUT_MS}, backoff_initial_ms <= backoff_max_ms"
                ),
            ));
        }
        if self.auth.argon2_iterations == 0 || self.auth.argon2_memory_kib < 8 {
            return Err(DeskError::config(
                "auth",
                "argon2_iterations >= 1, argon2_memory_kib >= 8",
            ));
        }
        self.reports.validate(self)
    }
}

fn check_count(what: &str, count: usize, max: usize) -> Result<()> {
    if count > max {
        return Err(DeskError::config(
            what,
            format!("{count} entries, limit {max}"),
        ));
    }
    Ok(())
}

fn unique_ids<'a>(what: &str, ids: impl Iterator<Item = &'a str>) -> Result<BTreeSet<&'a str>> {
    let mut seen = BTreeSet::new();
    for id in ids {
        if id.is_empty() || id.len() > 64 {
            return Err(DeskError::config(
                what,
                format!("id {id:?} must be 1..=64 bytes"),
            ));
        }
        if !seen.insert(id) {
            return Err(DeskError::config(what, format!("duplicate id {id:?}")));
        }
    }
    Ok(seen)
}

fn check_sha256_hex(at: &str, text: &str) -> Result<()> {
    if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(DeskError::config(at, "expected 64 hex digits (SHA-256)"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../config/desk.example.toml");

    #[test]
    fn example_config_is_valid_and_has_the_documented_defaults() {
        let config = DeskConfig::from_toml(EXAMPLE).unwrap();
        let policy = config.policy_for("trading").unwrap();
        let steps: Vec<(StepTrigger, u64)> =
            policy.steps.iter().map(|s| (s.when, s.after_s)).collect();
        assert_eq!(
            steps,
            [
                (StepTrigger::UnacknowledgedFor, 0),
                (StepTrigger::UnacknowledgedFor, 180),
                (StepTrigger::DownFor, 300),
                (StepTrigger::DownFor, 600),
            ]
        );
        assert_eq!(config.engine.liveness_timeout_ms, 5_000);
    }

    #[test]
    fn empty_config_means_defaults() {
        let config = DeskConfig::from_toml("").unwrap();
        assert_eq!(config.components.len(), 4);
        assert!(config.engine.enabled);
    }

    #[test]
    fn broken_references_and_limits_are_refused() {
        let unknown_channel = EXAMPLE.replace(
            "channels = [\"ops-webhook\", \"ops-slack\"]",
            "channels = [\"nope\"]",
        );
        let err = DeskConfig::from_toml(&unknown_channel)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown channel \"nope\""), "{err}");
        let unknown_person = EXAMPLE.replace(
            "members = [\"aiko\", \"ben\", \"chen\"]",
            "members = [\"zed\"]",
        );
        assert!(DeskConfig::from_toml(&unknown_person).is_err());
        let duplicate = format!("{EXAMPLE}\n[[components]]\nid = \"trading\"\nname = \"Again\"\n");
        assert!(DeskConfig::from_toml(&duplicate)
            .unwrap_err()
            .to_string()
            .contains("duplicate"));
        assert!(DeskConfig::from_toml("engine = 3").is_err());
        assert!(DeskConfig::from_toml("[engine]\nnot_a_field = 1").is_err());
        let huge = " ".repeat(MAX_CONFIG_BYTES + 1);
        assert!(DeskConfig::from_toml(&huge).is_err());
    }
}
