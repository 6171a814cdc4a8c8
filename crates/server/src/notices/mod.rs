//! Customer notices: minijinja templates in Japanese and English for the first notice, updates,
//! recovery and the post-incident explanation (with the backfill summary), each rendered for
//! the status page, for email, and as the support desk's phone script.
//!
//! The shipped templates (`templates/notices/*.txt`) seed the desk database; operators edit the
//! stored copies from the console. A template is accepted only if it renders for every channel
//! with sample inputs, so a typo cannot break the notice in the middle of an outage.

use fxdesk_desk::model::{Component, NoticeTemplate};
use fxdesk_desk::notices::NOTICE_KINDS;
use fxdesk_desk::{Desk, Incident, UnixMs};
use minijinja::Environment;
use serde::{Deserialize, Serialize};

use crate::status::lang::Lang;
use crate::status::snapshot::{component_name, human_time};

/// Where a notice is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Page,
    Email,
    Phone,
}

impl Channel {
    pub const ALL: [Channel; 3] = [Channel::Page, Channel::Email, Channel::Phone];

    pub fn code(self) -> &'static str {
        match self {
            Channel::Page => "page",
            Channel::Email => "email",
            Channel::Phone => "phone",
        }
    }
}

/// The shipped template for `(kind, lang)`.
pub fn default_template(kind: &str, lang: &str) -> Option<&'static str> {
    Some(match (kind, lang) {
        ("first", "ja") => include_str!("../../templates/notices/first.ja.txt"),
        ("first", "en") => include_str!("../../templates/notices/first.en.txt"),
        ("update", "ja") => include_str!("../../templates/notices/update.ja.txt"),
        ("update", "en") => include_str!("../../templates/notices/update.en.txt"),
        ("recovery", "ja") => include_str!("../../templates/notices/recovery.ja.txt"),
        ("recovery", "en") => include_str!("../../templates/notices/recovery.en.txt"),
        ("explanation", "ja") => include_str!("../../templates/notices/explanation.ja.txt"),
        ("explanation", "en") => include_str!("../../templates/notices/explanation.en.txt"),
        _ => return None,
    })
}

/// Stores the shipped templates the desk does not have yet (operators' edits are kept).
pub async fn seed_templates(desk: &Desk) -> fxdesk_desk::Result<()> {
    for kind in NOTICE_KINDS {
        for lang in Lang::ALL {
            if let Some(body) = default_template(kind, lang.code()) {
                desk.seed_notice_template(kind, lang.code(), body).await?;
            }
        }
    }
    Ok(())
}

/// How the orders that should have filled during the outage were handled (from the backfill
/// plan once it exists; typed in by the operator until then).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackfillSummary {
    /// Orders executed after the outage.
    pub orders_executed: u64,
    /// Customers those orders belong to.
    pub customers: u64,
    /// The rule they were executed on, in Japanese and English.
    pub rule_ja: String,
    pub rule_en: String,
}

/// What an operator fills in for a notice; the rest comes from the incident. Texts are per
/// language because the notice is published in both.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeInputs {
    #[serde(default)]
    pub message_ja: String,
    #[serde(default)]
    pub message_en: String,
    #[serde(default)]
    pub cause_ja: String,
    #[serde(default)]
    pub cause_en: String,
    #[serde(default)]
    pub measures_ja: String,
    #[serde(default)]
    pub measures_en: String,
    /// When the next update is planned, as people write it ("15:30").
    #[serde(default)]
    pub next_update: String,
    #[serde(default)]
    pub backfill: Option<BackfillSummary>,
}

#[derive(Serialize)]
struct IncidentContext {
    title: String,
    component: String,
    started: String,
    resolved: String,
}

#[derive(Serialize)]
struct BackfillContext {
    orders_executed: u64,
    customers: u64,
    rule: String,
}

fn optional(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// Renders one template for one language and channel.
pub fn render(
    source: &str,
    lang: Lang,
    channel: Channel,
    incident: &Incident,
    component: Option<&Component>,
    inputs: &NoticeInputs,
    now_ms: UnixMs,
) -> Result<String, minijinja::Error> {
    let pick = |ja: &str, en: &str| match lang {
        Lang::Ja => optional(ja),
        Lang::En => optional(en),
    };
    let component_text =
        component.map_or_else(|| incident.component.clone(), |c| component_name(c, lang));
    let context = minijinja::context! {
        channel => channel.code(),
        lang => lang.code(),
        now => human_time(now_ms, lang),
        incident => IncidentContext {
            title: incident.title.clone(),
            component: component_text,
            started: human_time(incident.impact_started_at_ms, lang),
            resolved: incident.resolved_at_ms.map(|at| human_time(at, lang)).unwrap_or_default(),
        },
        message => pick(&inputs.message_ja, &inputs.message_en),
        cause => pick(&inputs.cause_ja, &inputs.cause_en),
        measures => pick(&inputs.measures_ja, &inputs.measures_en),
        next_update => optional(&inputs.next_update),
        backfill => inputs.backfill.as_ref().map(|b| BackfillContext {
            orders_executed: b.orders_executed,
            customers: b.customers,
            rule: match lang { Lang::Ja => b.rule_ja.clone(), Lang::En => b.rule_en.clone() },
        }),
    };
    let env = Environment::new();
    env.render_str(source, context)
        .map(|text| text.trim().to_owned())
}

/// The template for `(kind, lang)` from the desk, else the shipped one.
pub fn template_for<'a>(
    templates: &'a [NoticeTemplate],
    kind: &str,
    lang: Lang,
) -> Option<&'a str> {
    templates
        .iter()
        .find(|t| t.kind == kind && t.lang == lang.code())
        .map(|t| t.body.as_str())
        .or_else(|| default_template(kind, lang.code()))
}

/// A made-up incident and inputs exercising every branch, to check an edited template.
fn sample() -> (Incident, NoticeInputs) {
    let incident = Incident {
        id: 1,
        title: "Trading unavailable".into(),
        component: "trading".into(),
        state: fxdesk_desk::IncidentState::Resolved,
        impact: fxdesk_desk::ComponentStatus::MajorOutage,
        source_key: None,
        policy_id: None,
        impact_started_at_ms: 1_795_435_200_000,
        detected_at_ms: 1_795_435_205_000,
        acknowledged_at_ms: Some(1_795_435_260_000),
        acknowledged_by: Some("user:sample".into()),
        recovered_at_ms: Some(1_795_437_000_000),
        resolved_at_ms: Some(1_795_437_000_000),
        created_by: "sample".into(),
    };
    let inputs = NoticeInputs {
        message_ja: "サンプル".into(),
        message_en: "sample".into(),
        cause_ja: "サンプル".into(),
        cause_en: "sample".into(),
        measures_ja: "サンプル".into(),
        measures_en: "sample".into(),
        next_update: "15:30".into(),
        backfill: Some(BackfillSummary {
            orders_executed: 12,
            customers: 7,
            rule_ja: "サンプル".into(),
            rule_en: "sample".into(),
        }),
    };
    (incident, inputs)
}

/// Checks that `source` renders for every channel, with inputs full and empty.
pub fn check_template(source: &str, lang: Lang) -> Result<(), String> {
    let (incident, full) = sample();
    for inputs in [full, NoticeInputs::default()] {
        for channel in Channel::ALL {
            render(
                source,
                lang,
                channel,
                &incident,
                None,
                &inputs,
                incident.detected_at_ms,
            )
            .map_err(|err| format!("{channel:?}: {err:#}"))?;
        }
    }
    Ok(())
}

/// The email subject for a notice.
pub fn email_subject(kind: &str, lang: Lang, component: &str) -> String {
    match (lang, kind) {
        (Lang::Ja, "first") => format!("【障害発生】{component}の障害について"),
        (Lang::Ja, "update") => format!("【続報】{component}の障害について"),
        (Lang::Ja, "recovery") => format!("【復旧】{component}の障害について"),
        (Lang::Ja, _) => format!("【障害報告】{component}の障害の原因と対応について"),
        (Lang::En, "first") => format!("Outage: {component}"),
        (Lang::En, "update") => format!("Update: {component} outage"),
        (Lang::En, "recovery") => format!("Resolved: {component} outage"),
        (Lang::En, _) => format!("Post-incident report: {component} outage"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_templates_render_everywhere() {
        for kind in NOTICE_KINDS {
            for lang in Lang::ALL {
                let source = default_template(kind, lang.code()).unwrap();
                check_template(source, lang).unwrap();
            }
        }
    }

    #[test]
    fn the_first_notice_says_the_four_things() {
        let (mut incident, _) = sample();
        incident.resolved_at_ms = None;
        let inputs = NoticeInputs::default();
        let ja = render(
            default_template("first", "ja").unwrap(),
            Lang::Ja,
            Channel::Page,
            &incident,
            None,
            &inputs,
            incident.detected_at_ms,
        )
        .unwrap();
        for phrase in [
            "全力",
            "分かっておりません",
            "このページでお知らせ",
            "お電話でのご注文はお受けできません",
        ] {
            assert!(ja.contains(phrase), "{phrase} missing in {ja}");
        }
        let en = render(
            default_template("first", "en").unwrap(),
            Lang::En,
            Channel::Phone,
            &incident,
            None,
            &inputs,
            incident.detected_at_ms,
        )
        .unwrap();
        for phrase in [
            "full effort",
            "do not yet know when",
            "cause will be published",
            "cannot take orders by phone",
        ] {
            assert!(en.contains(phrase), "{phrase} missing in {en}");
        }
        assert!(en.starts_with("Thank you for calling"));
    }

    #[test]
    fn the_explanation_carries_the_backfill_summary() {
        let (incident, inputs) = sample();
        let text = render(
            default_template("explanation", "ja").unwrap(),
            Lang::Ja,
            Channel::Email,
            &incident,
            None,
            &NoticeInputs {
                backfill: Some(BackfillSummary {
                    orders_executed: 314,
                    customers: 97,
                    rule_ja: "指値注文は注文価格で約定".into(),
                    rule_en: "limits at the order price".into(),
                }),
                ..inputs.clone()
            },
            incident.resolved_at_ms.unwrap(),
        )
        .unwrap();
        assert!(text.contains("314件"), "{text}");
        assert!(text.contains("97名"), "{text}");
        assert!(text.contains("指値注文は注文価格で約定"), "{text}");
        let without = render(
            default_template("explanation", "en").unwrap(),
            Lang::En,
            Channel::Page,
            &incident,
            None,
            &NoticeInputs {
                backfill: None,
                ..inputs
            },
            incident.resolved_at_ms.unwrap(),
        )
        .unwrap();
        assert!(!without.contains("Orders during the outage"));
    }

    #[test]
    fn a_broken_template_is_refused() {
        assert!(check_template("{% if %}", Lang::Ja).is_err());
        assert!(check_template("{{ incident.component | nosuchfilter }}", Lang::En).is_err());
        assert!(check_template("ok {{ incident.component }}", Lang::En).is_ok());
    }
}
