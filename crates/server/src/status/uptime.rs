//! 90-day uptime per component from the incidents' impact windows, drawn as an SVG bar chart
//! on the server (no JavaScript). Days are Japan days (UTC+9, no daylight saving), the
//! customers' calendar.
//!
//! Downtime weights follow the usual status-page convention: a major outage counts fully, a
//! partial outage 30 %; degraded performance and maintenance colour the day but are not
//! downtime.

use fxdesk_desk::{ComponentStatus, Incident, UnixMs};

use super::lang::Lang;

pub const DAYS: i64 = 90;
const DAY_MS: i64 = 86_400_000;
const JST_OFFSET_MS: i64 = 9 * 3_600_000;

/// One day of one component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Day {
    /// Start of the day (UTC milliseconds).
    pub start_ms: UnixMs,
    /// The worst impact seen that day, if any.
    pub worst: Option<ComponentStatus>,
    /// Weighted downtime that day, in milliseconds.
    pub downtime_ms: i64,
    /// The part of the day that has happened (the last day is cut at now).
    pub elapsed_ms: i64,
}

fn weight_permille(impact: ComponentStatus) -> i64 {
    match impact {
        ComponentStatus::MajorOutage => 1000,
        ComponentStatus::PartialOutage => 300,
        _ => 0,
    }
}

/// Start (UTC ms) of the Japan day containing `at_ms`.
pub fn day_start(at_ms: UnixMs) -> UnixMs {
    (at_ms + JST_OFFSET_MS).div_euclid(DAY_MS) * DAY_MS - JST_OFFSET_MS
}

/// The last [`DAYS`] days (oldest first) of `component`, ending with today.
pub fn days(component: &str, incidents: &[Incident], now_ms: UnixMs) -> Vec<Day> {
    let today = day_start(now_ms);
    let first = today - (DAYS - 1) * DAY_MS;
    let mut days: Vec<Day> = (0..DAYS)
        .map(|i| {
            let start_ms = first + i * DAY_MS;
            Day {
                start_ms,
                worst: None,
                downtime_ms: 0,
                elapsed_ms: (now_ms - start_ms).clamp(0, DAY_MS),
            }
        })
        .collect();
    for incident in incidents.iter().filter(|i| i.component == component) {
        let start = incident.impact_started_at_ms.max(first);
        let end = incident
            .recovered_at_ms
            .or(incident.resolved_at_ms)
            .unwrap_or(now_ms)
            .min(now_ms);
        if end < start {
            continue;
        }
        for day in days.iter_mut() {
            let day_end = day.start_ms + DAY_MS;
            let overlap_start = start.max(day.start_ms);
            let overlap_end = end.min(day_end);
            // An instant incident still marks its day.
            if overlap_start > overlap_end || overlap_start >= day_end {
                continue;
            }
            day.worst = day.worst.max(Some(incident.impact));
            let weighted = (overlap_end - overlap_start) * weight_permille(incident.impact) / 1000;
            day.downtime_ms = (day.downtime_ms + weighted).min(day.elapsed_ms);
        }
    }
    days
}

/// Uptime over the days, in hundredths of a percent (99.95 % -> 9995).
pub fn uptime_basis_points(days: &[Day]) -> i64 {
    let elapsed: i64 = days.iter().map(|d| d.elapsed_ms).sum();
    let down: i64 = days.iter().map(|d| d.downtime_ms).sum();
    if elapsed <= 0 {
        return 10_000;
    }
    10_000 - (i128::from(down) * 10_000 / i128::from(elapsed)) as i64
}

pub fn format_percent(basis_points: i64) -> String {
    format!("{}.{:02}", basis_points / 100, basis_points % 100)
}

fn colour(worst: Option<ComponentStatus>) -> &'static str {
    match worst {
        None | Some(ComponentStatus::Operational) => "#2fac66",
        Some(ComponentStatus::Maintenance) => "#3b82c4",
        Some(ComponentStatus::DegradedPerformance) => "#e5b700",
        Some(ComponentStatus::PartialOutage) => "#e8740c",
        Some(ComponentStatus::MajorOutage) => "#d62f2f",
    }
}

/// HTML/XML text escaping.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

fn day_label(day: &Day, lang: Lang) -> String {
    let date = jiff::Timestamp::from_millisecond(day.start_ms + JST_OFFSET_MS)
        .map(|t| t.strftime("%Y-%m-%d").to_string())
        .unwrap_or_default();
    let percent = if day.elapsed_ms > 0 {
        format_percent(10_000 - day.downtime_ms * 10_000 / day.elapsed_ms)
    } else {
        "100.00".into()
    };
    let what = match (lang, day.worst) {
        (Lang::Ja, None | Some(ComponentStatus::Operational)) => "障害なし",
        (Lang::Ja, Some(ComponentStatus::Maintenance)) => "メンテナンス",
        (Lang::Ja, Some(ComponentStatus::DegradedPerformance)) => "性能低下",
        (Lang::Ja, Some(ComponentStatus::PartialOutage)) => "一部停止",
        (Lang::Ja, Some(ComponentStatus::MajorOutage)) => "停止",
        (Lang::En, None | Some(ComponentStatus::Operational)) => "no incidents",
        (Lang::En, Some(ComponentStatus::Maintenance)) => "maintenance",
        (Lang::En, Some(ComponentStatus::DegradedPerformance)) => "degraded performance",
        (Lang::En, Some(ComponentStatus::PartialOutage)) => "partial outage",
        (Lang::En, Some(ComponentStatus::MajorOutage)) => "major outage",
    };
    format!("{date}: {what}, {percent}%")
}

/// The bar chart: one bar per day, each with a `<title>` the browser shows on hover.
pub fn svg(days: &[Day], lang: Lang, caption: &str) -> String {
    const BAR_WIDTH: usize = 6;
    const GAP: usize = 2;
    const HEIGHT: usize = 34;
    let width = days.len() * (BAR_WIDTH + GAP);
    let mut svg = format!(
        "<svg class=\"uptime\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width} {HEIGHT}\" \
         preserveAspectRatio=\"none\" role=\"img\" aria-label=\"{}\">",
        escape(caption)
    );
    for (i, day) in days.iter().enumerate() {
        svg.push_str(&format!(
            "<rect x=\"{}\" y=\"0\" width=\"{BAR_WIDTH}\" height=\"{HEIGHT}\" rx=\"1\" fill=\"{}\"><title>{}</title></rect>",
            i * (BAR_WIDTH + GAP),
            colour(day.worst),
            escape(&day_label(day, lang))
        ));
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;
    use fxdesk_desk::IncidentState;

    fn incident(component: &str, impact: ComponentStatus, from: i64, to: Option<i64>) -> Incident {
        Incident {
            id: 1,
            title: "t".into(),
            component: component.into(),
            state: IncidentState::Investigating,
            impact,
            source_key: None,
            policy_id: None,
            impact_started_at_ms: from,
            detected_at_ms: from,
            acknowledged_at_ms: None,
            acknowledged_by: None,
            recovered_at_ms: to,
            resolved_at_ms: to,
            created_by: "test".into(),
        }
    }

    #[test]
    fn japan_days_start_at_fifteen_utc() {
        // 2026-11-30T15:00:00Z is 2026-12-01T00:00+09:00.
        let dec1_jst = 1_796_050_800_000;
        assert_eq!(day_start(dec1_jst), dec1_jst);
        assert_eq!(day_start(dec1_jst + DAY_MS - 1), dec1_jst);
        assert_eq!(day_start(dec1_jst - 1), dec1_jst - DAY_MS);
    }

    #[test]
    fn a_one_hour_major_outage_yesterday_costs_one_hour() {
        let now = day_start(1_796_000_000_000) + 12 * 3_600_000;
        let yesterday = day_start(now) - DAY_MS;
        let incidents = vec![
            incident(
                "trading",
                ComponentStatus::MajorOutage,
                yesterday + 3_600_000,
                Some(yesterday + 7_200_000),
            ),
            incident(
                "login",
                ComponentStatus::MajorOutage,
                yesterday,
                Some(yesterday + DAY_MS),
            ),
        ];
        let days = days("trading", &incidents, now);
        assert_eq!(days.len(), 90);
        assert_eq!(days[88].downtime_ms, 3_600_000);
        assert_eq!(days[88].worst, Some(ComponentStatus::MajorOutage));
        assert_eq!(days[89].worst, None);
        assert_eq!(days[89].elapsed_ms, 12 * 3_600_000);
        let elapsed = 89 * DAY_MS + 12 * 3_600_000;
        assert_eq!(
            uptime_basis_points(&days),
            10_000 - 3_600_000 * 10_000 / elapsed
        );
        let svg = svg(&days, Lang::En, "Trading");
        assert_eq!(svg.matches("<rect").count(), 90);
        assert!(svg.contains("#d62f2f"));
    }

    #[test]
    fn partial_outage_counts_thirty_percent_and_ongoing_runs_to_now() {
        let now = day_start(1_796_000_000_000) + 10 * 3_600_000;
        let incidents = vec![incident(
            "trading",
            ComponentStatus::PartialOutage,
            day_start(now),
            None,
        )];
        let days = days("trading", &incidents, now);
        assert_eq!(days[89].downtime_ms, 3 * 3_600_000);
        assert_eq!(format_percent(9995), "99.95");
    }
}
