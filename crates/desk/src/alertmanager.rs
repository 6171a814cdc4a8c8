//! Prometheus Alertmanager webhook payload (version 4), parsed strictly: a payload that does
//! not match the format is refused as a whole and nothing is stored.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::clock::UnixMs;
use crate::error::{DeskError, Result};
use crate::model::ComponentStatus;

/// Largest webhook body accepted (Alertmanager's own default `max_alerts` is unbounded).
pub const MAX_PAYLOAD_BYTES: usize = 1 << 20;
pub const MAX_ALERTS: usize = 1_000;
pub const MAX_GROUP_KEY_BYTES: usize = 1_024;

/// The webhook body Alertmanager POSTs (`version: "4"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookPayload {
    pub version: String,
    pub group_key: String,
    #[serde(default)]
    pub truncated_alerts: u64,
    pub status: String,
    pub receiver: String,
    #[serde(default)]
    pub group_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub common_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub common_annotations: BTreeMap<String, String>,
    #[serde(rename = "externalURL", default)]
    pub external_url: String,
    pub alerts: Vec<Alert>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    pub status: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    pub starts_at: String,
    #[serde(default)]
    pub ends_at: String,
    #[serde(rename = "generatorURL", default)]
    pub generator_url: String,
    #[serde(default)]
    pub fingerprint: String,
}

/// A validated notification, reduced to what the desk acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertGroup {
    pub group_key: String,
    pub firing: bool,
    pub firing_count: usize,
    pub alert_names: Vec<String>,
    /// Earliest `startsAt` of the firing alerts (the impact start).
    pub earliest_start_ms: Option<UnixMs>,
    pub component_label: Option<String>,
    pub impact: ComponentStatus,
    pub title: String,
}

/// Parses and validates a raw body.
pub fn parse(body: &[u8]) -> Result<AlertGroup> {
    if body.len() > MAX_PAYLOAD_BYTES {
        return Err(DeskError::invalid(
            "alertmanager payload",
            format!("{} bytes, limit {MAX_PAYLOAD_BYTES}", body.len()),
        ));
    }
    let payload: WebhookPayload = serde_json::from_slice(body)
        .map_err(|err| DeskError::invalid("alertmanager payload", err.to_string()))?;
    validate(&payload)
}

fn bad(detail: impl Into<String>) -> DeskError {
    DeskError::invalid("alertmanager payload", detail)
}

fn parse_time(what: &str, text: &str) -> Result<UnixMs> {
    let instant: jiff::Timestamp = text
        .parse()
        .map_err(|err| bad(format!("{what} {text:?}: {err}")))?;
    Ok(instant.as_millisecond())
}

/// Checks the version, sizes, statuses and timestamps, and summarises the group.
pub fn validate(payload: &WebhookPayload) -> Result<AlertGroup> {
    if payload.version != "4" {
        return Err(bad(format!(
            "version {:?}, expected \"4\"",
            payload.version
        )));
    }
    if payload.group_key.is_empty() || payload.group_key.len() > MAX_GROUP_KEY_BYTES {
        return Err(bad(format!(
            "groupKey must be 1..={MAX_GROUP_KEY_BYTES} bytes"
        )));
    }
    let firing = match payload.status.as_str() {
        "firing" => true,
        "resolved" => false,
        other => return Err(bad(format!("status {other:?}"))),
    };
    if payload.alerts.is_empty() || payload.alerts.len() > MAX_ALERTS {
        return Err(bad(format!("alerts must hold 1..={MAX_ALERTS} entries")));
    }
    let mut earliest_start_ms: Option<UnixMs> = None;
    let mut firing_count = 0;
    let mut alert_names = Vec::new();
    for (index, alert) in payload.alerts.iter().enumerate() {
        let starts_at_ms = parse_time(&format!("alerts[{index}].startsAt"), &alert.starts_at)?;
        match alert.status.as_str() {
            "firing" => {
                firing_count += 1;
                earliest_start_ms =
                    Some(earliest_start_ms.map_or(starts_at_ms, |t| t.min(starts_at_ms)));
            }
            "resolved" => {}
            other => return Err(bad(format!("alerts[{index}].status {other:?}"))),
        }
        if let Some(name) = alert.labels.get("alertname") {
            if !alert_names.contains(name) && alert_names.len() < 20 {
                alert_names.push(name.clone());
            }
        }
    }
    if firing && firing_count == 0 {
        return Err(bad("status firing but no alert is firing"));
    }
    let severity = payload.common_labels.get("severity").map(String::as_str);
    let impact = match severity {
        Some("critical") | Some("page") => ComponentStatus::MajorOutage,
        Some("warning") => ComponentStatus::DegradedPerformance,
        _ => ComponentStatus::PartialOutage,
    };
    let title = payload
        .common_annotations
        .get("summary")
        .or_else(|| payload.common_labels.get("alertname"))
        .cloned()
        .unwrap_or_else(|| format!("Alertmanager group {}", payload.group_key));
    Ok(AlertGroup {
        group_key: payload.group_key.clone(),
        firing,
        firing_count,
        alert_names,
        earliest_start_ms,
        component_label: payload.common_labels.get("component").cloned(),
        impact,
        title: title.chars().take(200).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(status: &str, alerts: &str) -> String {
        format!(
            r#"{{"version":"4","groupKey":"{{}}:{{alertname=\"X\"}}","truncatedAlerts":0,
            "status":"{status}","receiver":"fxdesk","groupLabels":{{"alertname":"X"}},
            "commonLabels":{{"alertname":"X","severity":"warning","component":"login"}},
            "commonAnnotations":{{}},"externalURL":"http://am:9093","alerts":[{alerts}]}}"#
        )
    }

    const FIRING_A: &str = r#"{"status":"firing","labels":{"alertname":"X"},"annotations":{},
        "startsAt":"2026-11-23T12:00:05Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"","fingerprint":"a"}"#;
    const FIRING_B: &str = r#"{"status":"firing","labels":{"alertname":"X"},"annotations":{},
        "startsAt":"2026-11-23T12:00:01.5Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"","fingerprint":"b"}"#;
    const RESOLVED_A: &str = r#"{"status":"resolved","labels":{"alertname":"X"},"annotations":{},
        "startsAt":"2026-11-23T12:00:05Z","endsAt":"2026-11-23T12:09:00Z","generatorURL":"","fingerprint":"a"}"#;

    #[test]
    fn summarises_a_firing_group() {
        let group =
            parse(payload("firing", &format!("{FIRING_A},{FIRING_B},{RESOLVED_A}")).as_bytes())
                .unwrap();
        assert!(group.firing);
        assert_eq!(group.firing_count, 2);
        assert_eq!(group.earliest_start_ms, Some(1_795_435_201_500));
        assert_eq!(group.impact, ComponentStatus::DegradedPerformance);
        assert_eq!(group.component_label.as_deref(), Some("login"));
        assert_eq!(group.title, "X");
    }

    #[test]
    fn refuses_inconsistent_payloads() {
        assert!(
            parse(payload("firing", RESOLVED_A).as_bytes()).is_err(),
            "firing with nothing firing"
        );
        assert!(parse(payload("resolved", RESOLVED_A).as_bytes()).is_ok());
        assert!(parse(b"").is_err());
        assert!(parse(&vec![b' '; MAX_PAYLOAD_BYTES + 1]).is_err());
        let many = vec![FIRING_A; MAX_ALERTS + 1].join(",");
        assert!(parse(payload("firing", &many).as_bytes()).is_err());
    }
}
