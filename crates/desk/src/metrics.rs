//! Counters of the desk itself, rendered in the Prometheus text format for `GET /metrics`.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::model::{Component, ComponentStatus};

/// Monotonic counters; gauges are read from storage when rendering.
#[derive(Debug, Default)]
pub struct Metrics {
    pub ticks_total: AtomicU64,
    pub tick_errors_total: AtomicU64,
    pub incidents_opened_total: AtomicU64,
    pub incidents_resolved_total: AtomicU64,
    pub acknowledgements_total: AtomicU64,
    pub escalation_steps_fired_total: AtomicU64,
    pub deliveries_sent_total: AtomicU64,
    pub delivery_attempts_failed_total: AtomicU64,
    pub deliveries_given_up_total: AtomicU64,
    pub heartbeats_received_total: AtomicU64,
    pub alertmanager_notifications_total: AtomicU64,
    pub probe_checks_failed_total: AtomicU64,
}

pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Metrics {
    /// The Prometheus exposition text: counters, open incidents, monitors down, and one
    /// `fxdesk_desk_component_status` gauge per component and status (1 for the current one).
    pub fn render(
        &self,
        components: &[Component],
        open_incidents: usize,
        monitors_down: usize,
    ) -> String {
        let mut out = String::new();
        let counters: [(&str, &AtomicU64, &str); 12] = [
            ("ticks_total", &self.ticks_total, "Desk evaluation passes."),
            (
                "tick_errors_total",
                &self.tick_errors_total,
                "Evaluation passes that failed.",
            ),
            (
                "incidents_opened_total",
                &self.incidents_opened_total,
                "Incidents opened.",
            ),
            (
                "incidents_resolved_total",
                &self.incidents_resolved_total,
                "Incidents resolved.",
            ),
            (
                "acknowledgements_total",
                &self.acknowledgements_total,
                "Incident acknowledgements.",
            ),
            (
                "escalation_steps_fired_total",
                &self.escalation_steps_fired_total,
                "Escalation steps fired.",
            ),
            (
                "deliveries_sent_total",
                &self.deliveries_sent_total,
                "Notifications delivered.",
            ),
            (
                "delivery_attempts_failed_total",
                &self.delivery_attempts_failed_total,
                "Failed delivery attempts.",
            ),
            (
                "deliveries_given_up_total",
                &self.deliveries_given_up_total,
                "Notifications given up after retries.",
            ),
            (
                "heartbeats_received_total",
                &self.heartbeats_received_total,
                "Push heartbeats received.",
            ),
            (
                "alertmanager_notifications_total",
                &self.alertmanager_notifications_total,
                "Alertmanager webhooks accepted.",
            ),
            (
                "probe_checks_failed_total",
                &self.probe_checks_failed_total,
                "Failed probe checks.",
            ),
        ];
        for (name, counter, help) in counters {
            let _ = writeln!(out, "# HELP fxdesk_desk_{name} {help}");
            let _ = writeln!(out, "# TYPE fxdesk_desk_{name} counter");
            let _ = writeln!(
                out,
                "fxdesk_desk_{name} {}",
                counter.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP fxdesk_desk_open_incidents Incidents not resolved."
        );
        let _ = writeln!(out, "# TYPE fxdesk_desk_open_incidents gauge");
        let _ = writeln!(out, "fxdesk_desk_open_incidents {open_incidents}");
        let _ = writeln!(
            out,
            "# HELP fxdesk_desk_monitors_down Monitors currently down."
        );
        let _ = writeln!(out, "# TYPE fxdesk_desk_monitors_down gauge");
        let _ = writeln!(out, "fxdesk_desk_monitors_down {monitors_down}");
        let _ = writeln!(
            out,
            "# HELP fxdesk_desk_component_status 1 for the component's current status."
        );
        let _ = writeln!(out, "# TYPE fxdesk_desk_component_status gauge");
        for component in components {
            for status in ComponentStatus::ALL {
                let value = u8::from(component.status == *status);
                let _ = writeln!(
                    out,
                    "fxdesk_desk_component_status{{component=\"{}\",status=\"{}\"}} {value}",
                    escape_label(&component.id),
                    status
                );
            }
        }
        out
    }
}

fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
