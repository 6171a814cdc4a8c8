//! Everything the public page shows, read from the desk in one go.

use std::collections::BTreeMap;

use fxdesk_desk::model::{Component, PublicNotice};
use fxdesk_desk::{ComponentStatus, Desk, Incident, IncidentState, UnixMs};

use super::lang::Lang;
use super::uptime;

/// Public data at one moment.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub now_ms: UnixMs,
    pub base_url: String,
    pub components: Vec<Component>,
    /// Open incidents and those resolved in the last 90 days, newest first.
    pub incidents: Vec<Incident>,
    /// Published notices per incident, oldest first.
    pub notices: BTreeMap<i64, Vec<PublicNotice>>,
}

impl Snapshot {
    pub async fn load(desk: &Desk) -> fxdesk_desk::Result<Snapshot> {
        let now_ms = desk.now_ms();
        let since_ms = uptime::day_start(now_ms) - uptime::DAYS * 86_400_000;
        let mut components = desk.public_components().await?;
        // In the order the configuration lists them (trading first), not by id.
        let position = |id: &str| {
            desk.config()
                .components
                .iter()
                .position(|c| c.id == id)
                .unwrap_or(usize::MAX)
        };
        components.sort_by_key(|c| position(&c.id));
        let incidents = desk.public_incidents(since_ms).await?;
        let oldest = incidents
            .iter()
            .map(|i| i.impact_started_at_ms.min(i.detected_at_ms))
            .min()
            .unwrap_or(now_ms);
        let mut notices: BTreeMap<i64, Vec<PublicNotice>> = BTreeMap::new();
        for notice in desk.public_notices_since(oldest).await? {
            notices.entry(notice.incident_id).or_default().push(notice);
        }
        Ok(Snapshot {
            now_ms,
            base_url: desk
                .config()
                .links
                .public_url
                .trim_end_matches('/')
                .to_owned(),
            components,
            incidents,
            notices,
        })
    }

    pub fn open_incidents(&self) -> impl Iterator<Item = &Incident> {
        self.incidents.iter().filter(|i| i.is_open())
    }

    pub fn resolved_incidents(&self) -> impl Iterator<Item = &Incident> {
        self.incidents.iter().filter(|i| !i.is_open())
    }

    pub fn notices_of(&self, incident_id: i64) -> &[PublicNotice] {
        self.notices.get(&incident_id).map_or(&[], Vec::as_slice)
    }

    /// The latest time anything on the incident changed.
    pub fn incident_updated_ms(&self, incident: &Incident) -> UnixMs {
        let notice = self.notices_of(incident.id).last().map(|n| n.at_ms);
        [
            Some(incident.detected_at_ms),
            incident.acknowledged_at_ms,
            incident.recovered_at_ms,
            incident.resolved_at_ms,
            notice,
        ]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(incident.detected_at_ms)
    }

    /// The latest change on the page.
    pub fn updated_ms(&self) -> UnixMs {
        let incidents = self.incidents.iter().map(|i| self.incident_updated_ms(i));
        let components = self.components.iter().map(|c| c.updated_at_ms);
        incidents.chain(components).max().unwrap_or(0)
    }

    /// Statuspage's overall indicator and its English description.
    pub fn indicator(&self) -> Indicator {
        let worst_component = self.components.iter().map(|c| c.status).max();
        let worst_open = self
            .open_incidents()
            .filter(|i| i.recovered_at_ms.is_none())
            .map(|i| i.impact)
            .max();
        let worst = worst_component.max(worst_open);
        match worst {
            Some(ComponentStatus::MajorOutage) => Indicator::Critical,
            Some(ComponentStatus::PartialOutage) => Indicator::Major,
            Some(ComponentStatus::DegradedPerformance) => Indicator::Minor,
            Some(ComponentStatus::Maintenance) => Indicator::Maintenance,
            _ if self.open_incidents().next().is_some() => Indicator::Minor,
            _ => Indicator::None,
        }
    }
}

/// The page-wide status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Indicator {
    None,
    /// Components under maintenance, nothing broken: Statuspage reports indicator `none`.
    Maintenance,
    Minor,
    Major,
    Critical,
}

impl Indicator {
    /// Statuspage's `status.indicator`.
    pub fn code(self) -> &'static str {
        match self {
            Indicator::None | Indicator::Maintenance => "none",
            Indicator::Minor => "minor",
            Indicator::Major => "major",
            Indicator::Critical => "critical",
        }
    }

    pub fn describe(self, lang: Lang) -> &'static str {
        match (lang, self) {
            (Lang::En, Indicator::None) => "All Systems Operational",
            (Lang::En, Indicator::Maintenance) => "Service Under Maintenance",
            (Lang::En, Indicator::Minor) => "Minor Service Outage",
            (Lang::En, Indicator::Major) => "Partial System Outage",
            (Lang::En, Indicator::Critical) => "Major System Outage",
            (Lang::Ja, Indicator::None) => "すべてのサービスは正常に稼働しています",
            (Lang::Ja, Indicator::Maintenance) => "メンテナンス中のサービスがあります",
            (Lang::Ja, Indicator::Minor) => "一部のサービスに軽微な障害が発生しています",
            (Lang::Ja, Indicator::Major) => "一部のサービスが停止しています",
            (Lang::Ja, Indicator::Critical) => "サービスが停止しています",
        }
    }
}

/// Statuspage's component status names.
pub fn component_status_code(status: ComponentStatus) -> &'static str {
    match status {
        ComponentStatus::Operational => "operational",
        ComponentStatus::Maintenance => "under_maintenance",
        ComponentStatus::DegradedPerformance => "degraded_performance",
        ComponentStatus::PartialOutage => "partial_outage",
        ComponentStatus::MajorOutage => "major_outage",
    }
}

pub fn component_status_label(status: ComponentStatus, lang: Lang) -> &'static str {
    match (lang, status) {
        (Lang::Ja, ComponentStatus::Operational) => "正常",
        (Lang::Ja, ComponentStatus::Maintenance) => "メンテナンス中",
        (Lang::Ja, ComponentStatus::DegradedPerformance) => "性能低下",
        (Lang::Ja, ComponentStatus::PartialOutage) => "一部停止",
        (Lang::Ja, ComponentStatus::MajorOutage) => "停止",
        (Lang::En, ComponentStatus::Operational) => "Operational",
        (Lang::En, ComponentStatus::Maintenance) => "Under maintenance",
        (Lang::En, ComponentStatus::DegradedPerformance) => "Degraded performance",
        (Lang::En, ComponentStatus::PartialOutage) => "Partial outage",
        (Lang::En, ComponentStatus::MajorOutage) => "Major outage",
    }
}

/// Statuspage's incident impact (none / minor / major / critical).
pub fn impact_code(impact: ComponentStatus) -> &'static str {
    match impact {
        ComponentStatus::Operational | ComponentStatus::Maintenance => "none",
        ComponentStatus::DegradedPerformance => "minor",
        ComponentStatus::PartialOutage => "major",
        ComponentStatus::MajorOutage => "critical",
    }
}

/// Incident and update status label; `postmortem` is the explanation after resolution.
pub fn state_label(state: &str, lang: Lang) -> &'static str {
    match (lang, state) {
        (Lang::Ja, "investigating") => "調査中",
        (Lang::Ja, "identified") => "原因特定",
        (Lang::Ja, "monitoring") => "復旧・経過観察中",
        (Lang::Ja, "resolved") => "解決済み",
        (Lang::Ja, "postmortem") => "障害報告",
        (Lang::En, "investigating") => "Investigating",
        (Lang::En, "identified") => "Identified",
        (Lang::En, "monitoring") => "Monitoring",
        (Lang::En, "resolved") => "Resolved",
        (Lang::En, "postmortem") => "Postmortem",
        (Lang::Ja, _) => "更新",
        (Lang::En, _) => "Update",
    }
}

/// The incident's Statuspage status: `postmortem` once an explanation is published.
pub fn incident_status(snapshot: &Snapshot, incident: &Incident) -> &'static str {
    let explained = snapshot
        .notices_of(incident.id)
        .iter()
        .any(|n| n.state == fxdesk_desk::notices::POSTMORTEM);
    if explained && !incident.is_open() {
        return "postmortem";
    }
    match incident.state {
        IncidentState::Investigating => "investigating",
        IncidentState::Identified => "identified",
        IncidentState::Monitoring => "monitoring",
        IncidentState::Resolved => "resolved",
    }
}

/// Japanese names for the default components (configured names are English).
pub fn component_name(component: &Component, lang: Lang) -> String {
    if lang == Lang::Ja {
        let known = match component.id.as_str() {
            "trading" => Some("お取引"),
            "price-feed" => Some("レート配信"),
            "login" => Some("ログイン"),
            "funds" => Some("入出金"),
            _ => None,
        };
        if let Some(name) = known {
            return name.to_owned();
        }
    }
    component.name.clone()
}

/// RFC 3339 in UTC with milliseconds, as Statuspage writes times.
pub fn rfc3339(at_ms: UnixMs) -> String {
    jiff::Timestamp::from_millisecond(at_ms)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

/// A time as people read it: Japan time in Japanese, UTC in English.
pub fn human_time(at_ms: UnixMs, lang: Lang) -> String {
    let Ok(at) = jiff::Timestamp::from_millisecond(at_ms) else {
        return String::new();
    };
    match lang {
        Lang::Ja => at
            .to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(9)))
            .strftime("%Y年%m月%d日 %H:%M (日本時間)")
            .to_string(),
        Lang::En => at.strftime("%b %d, %Y %H:%M UTC").to_string(),
    }
}
