//! The desk's data: components, incidents, timelines, deliveries, users.

use serde::{Deserialize, Serialize};

use crate::clock::UnixMs;
use crate::error::{DeskError, Result};

macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            /// Every value, in order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stable text form (used in storage and the API).
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Parses the text form.
            pub fn parse(text: &str) -> Result<Self> {
                match text {
                    $($text => Ok($name::$variant),)+
                    other => Err(DeskError::invalid(stringify!($name), format!("unknown value {other:?}"))),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum!(
    /// What customers see for a component. Ordered from best to worst; `Maintenance` is planned
    /// and set by hand, it ranks below real outages.
    ComponentStatus {
        Operational = "operational",
        Maintenance = "maintenance",
        DegradedPerformance = "degraded_performance",
        PartialOutage = "partial_outage",
        MajorOutage = "major_outage",
    }
);

text_enum!(
    /// Lifecycle of an incident (the Statuspage states).
    IncidentState {
        Investigating = "investigating",
        Identified = "identified",
        Monitoring = "monitoring",
        Resolved = "resolved",
    }
);

text_enum!(
    /// What a user may do; checked in one place, [`crate::auth::allows`].
    Role {
        Viewer = "viewer",
        Operator = "operator",
        Approver = "approver",
        Compliance = "compliance",
        Admin = "admin",
    }
);

text_enum!(
    /// Where a delivery stands.
    DeliveryStatus {
        Pending = "pending",
        Sent = "sent",
        Failed = "failed",
    }
);

/// A part of the service customers care about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Component {
    pub id: String,
    pub name: String,
    pub status: ComponentStatus,
    pub updated_at_ms: UnixMs,
}

/// An incident with its key times and the figures they give.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    pub id: i64,
    pub title: String,
    pub component: String,
    pub state: IncidentState,
    pub impact: ComponentStatus,
    /// Deduplication key: `component:<id>` for monitors, `alertmanager:<groupKey>`, none by hand.
    pub source_key: Option<String>,
    pub policy_id: Option<String>,
    /// The first failed check (or the start given by hand).
    pub impact_started_at_ms: UnixMs,
    pub detected_at_ms: UnixMs,
    pub acknowledged_at_ms: Option<UnixMs>,
    pub acknowledged_by: Option<String>,
    /// When the monitors saw the component healthy again.
    pub recovered_at_ms: Option<UnixMs>,
    pub resolved_at_ms: Option<UnixMs>,
    pub created_by: String,
}

/// Time to detect, acknowledge and resolve one incident, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentFigures {
    /// detected - impact start.
    pub time_to_detect_ms: i64,
    /// acknowledged - detected.
    pub time_to_acknowledge_ms: Option<i64>,
    /// resolved - impact start.
    pub time_to_resolve_ms: Option<i64>,
}

impl Incident {
    /// Whether the incident is still open (not resolved).
    pub fn is_open(&self) -> bool {
        self.resolved_at_ms.is_none()
    }

    /// The MTTD/MTTA/MTTR contributions of this incident.
    pub fn figures(&self) -> IncidentFigures {
        IncidentFigures {
            time_to_detect_ms: self.detected_at_ms - self.impact_started_at_ms,
            time_to_acknowledge_ms: self.acknowledged_at_ms.map(|at| at - self.detected_at_ms),
            time_to_resolve_ms: self.resolved_at_ms.map(|at| at - self.impact_started_at_ms),
        }
    }
}

/// One line of an incident's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEvent {
    pub id: i64,
    pub incident_id: i64,
    pub at_ms: UnixMs,
    /// Machine-readable kind: `opened`, `monitor_down`, `monitor_up`, `escalation`,
    /// `acknowledged`, `update`, `resolved`, `alertmanager`, `delivery_failed`.
    pub kind: String,
    pub actor: String,
    pub message: String,
}

/// A notification to send through one channel to one recipient (or a group, for chat webhooks).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub id: i64,
    pub incident_id: i64,
    pub channel_id: String,
    pub recipient: String,
    pub payload: serde_json::Value,
    pub status: DeliveryStatus,
    pub attempts: i64,
    pub next_attempt_at_ms: UnixMs,
    pub created_at_ms: UnixMs,
}

/// One try at sending a delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryAttempt {
    pub delivery_id: i64,
    pub attempt: i64,
    pub at_ms: UnixMs,
    pub ok: bool,
    pub detail: String,
}

/// A desk user (never carries the password hash out of storage).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub role: Role,
    pub created_at_ms: UnixMs,
}

/// Who is making a request, once authenticated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    pub user_id: i64,
    pub username: String,
    pub role: Role,
}

/// One entry of the desk's audit chain (see [`crate::audit`]); the desk only appends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at_ms: UnixMs,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub detail: serde_json::Value,
    /// Position in the chain (1-based).
    #[serde(default)]
    pub seq: Option<i64>,
    /// SHA-256 of the entry over the previous entry's hash.
    #[serde(default)]
    pub hash: Option<String>,
}

/// An editable customer-notice template (minijinja source; rendered by the server).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeTemplate {
    /// `first`, `update`, `recovery` or `explanation`.
    pub kind: String,
    /// `ja` or `en`.
    pub lang: String,
    pub body: String,
    pub updated_at_ms: UnixMs,
    pub updated_by: String,
}

/// A notice published on the status page, in both languages, with the inputs it was rendered
/// from (so the same notice can be rendered again for email or the phone script).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicNotice {
    pub id: i64,
    pub incident_id: i64,
    pub at_ms: UnixMs,
    pub kind: String,
    /// A Statuspage incident status: an [`IncidentState`] or `postmortem`.
    pub state: String,
    pub body_ja: String,
    pub body_en: String,
    pub inputs: serde_json::Value,
    pub actor: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_forms_round_trip() {
        for status in ComponentStatus::ALL {
            assert_eq!(ComponentStatus::parse(status.as_str()).unwrap(), *status);
        }
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()).unwrap(), *role);
        }
        assert!(IncidentState::parse("exploded").is_err());
    }

    #[test]
    fn outages_rank_worse_than_maintenance() {
        assert!(ComponentStatus::MajorOutage > ComponentStatus::PartialOutage);
        assert!(ComponentStatus::DegradedPerformance > ComponentStatus::Maintenance);
        assert!(ComponentStatus::Maintenance > ComponentStatus::Operational);
    }

    #[test]
    fn figures_come_from_the_key_times() {
        let incident = Incident {
            id: 1,
            title: "t".into(),
            component: "trading".into(),
            state: IncidentState::Resolved,
            impact: ComponentStatus::MajorOutage,
            source_key: None,
            policy_id: None,
            impact_started_at_ms: 1_000,
            detected_at_ms: 6_000,
            acknowledged_at_ms: Some(66_000),
            acknowledged_by: Some("aiko".into()),
            recovered_at_ms: Some(600_000),
            resolved_at_ms: Some(700_000),
            created_by: "monitor".into(),
        };
        let figures = incident.figures();
        assert_eq!(figures.time_to_detect_ms, 5_000);
        assert_eq!(figures.time_to_acknowledge_ms, Some(60_000));
        assert_eq!(figures.time_to_resolve_ms, Some(699_000));
    }
}
