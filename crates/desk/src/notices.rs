//! Customer notices on the desk: the editable templates (stored here, rendered by the server,
//! which owns the template engine) and the notices published on the public status page.
//!
//! Publishing a notice moves the incident (update, resolve, or a post-incident explanation on
//! a resolved one), puts the English text on the timeline and the audit trail, and stores both
//! languages for the status page. The page itself reads only public data, without a principal.

use serde_json::json;

use crate::auth::{self, Permission};
use crate::clock::UnixMs;
use crate::desk::Desk;
use crate::error::{DeskError, Result};
use crate::model::{Incident, IncidentState, NoticeTemplate, Principal, PublicNotice};

/// The notice kinds, in the order an outage uses them.
pub const NOTICE_KINDS: &[&str] = &["first", "update", "recovery", "explanation"];
/// The languages every notice is published in.
pub const NOTICE_LANGS: &[&str] = &["ja", "en"];
/// Longest template source and rendered notice body accepted.
pub const MAX_TEMPLATE_CHARS: usize = 20_000;
pub const MAX_NOTICE_CHARS: usize = crate::desk::MAX_MESSAGE_CHARS;
/// Statuspage's status for a post-incident explanation.
pub const POSTMORTEM: &str = "postmortem";

/// A notice ready to publish (already rendered in both languages by the caller).
#[derive(Debug, Clone)]
pub struct NewNotice {
    pub kind: String,
    /// An incident state, or [`POSTMORTEM`] for the explanation after resolution.
    pub state: String,
    pub body_ja: String,
    pub body_en: String,
    pub inputs: serde_json::Value,
}

fn check_kind_and_lang(kind: &str, lang: &str) -> Result<()> {
    if !NOTICE_KINDS.contains(&kind) {
        return Err(DeskError::invalid(
            "notice kind",
            format!("{kind:?} is not one of {NOTICE_KINDS:?}"),
        ));
    }
    if !NOTICE_LANGS.contains(&lang) {
        return Err(DeskError::invalid(
            "notice language",
            format!("{lang:?} is not one of {NOTICE_LANGS:?}"),
        ));
    }
    Ok(())
}

fn check_len(what: &str, text: &str, max: usize) -> Result<()> {
    if text.chars().count() > max {
        return Err(DeskError::invalid(
            what,
            format!("longer than {max} characters"),
        ));
    }
    if text.trim().is_empty() {
        return Err(DeskError::invalid(what, "empty"));
    }
    Ok(())
}

impl Desk {
    /// Stores a template shipped with the program unless operators already have one for
    /// `(kind, lang)`: their edits survive restarts.
    pub async fn seed_notice_template(&self, kind: &str, lang: &str, body: &str) -> Result<bool> {
        check_kind_and_lang(kind, lang)?;
        self.store()
            .seed_notice_template(&NoticeTemplate {
                kind: kind.into(),
                lang: lang.into(),
                body: body.into(),
                updated_at_ms: self.now_ms(),
                updated_by: "desk:seed".into(),
            })
            .await
    }

    /// All templates (the server renders them; reading needs no role beyond viewer).
    pub async fn notice_templates(&self) -> Result<Vec<NoticeTemplate>> {
        self.store().notice_templates().await
    }

    /// Replaces a template (operators). The caller has checked that it compiles.
    pub async fn set_notice_template(
        &self,
        actor: &Principal,
        kind: &str,
        lang: &str,
        body: &str,
    ) -> Result<NoticeTemplate> {
        auth::require(actor.role, Permission::ManageIncidents)?;
        check_kind_and_lang(kind, lang)?;
        check_len("template", body, MAX_TEMPLATE_CHARS)?;
        let now_ms = self.now_ms();
        let template = NoticeTemplate {
            kind: kind.into(),
            lang: lang.into(),
            body: body.into(),
            updated_at_ms: now_ms,
            updated_by: format!("user:{}", actor.username),
        };
        self.store().put_notice_template(&template).await?;
        self.store()
            .append_audit(
                now_ms,
                &template.updated_by,
                "notice_template.edit",
                &format!("notice_template:{kind}.{lang}"),
                &json!({ "chars": body.chars().count() }),
            )
            .await?;
        Ok(template)
    }

    /// Publishes a notice on the status page and moves the incident accordingly.
    pub async fn publish_notice(
        &self,
        actor: &Principal,
        incident_id: i64,
        notice: NewNotice,
    ) -> Result<PublicNotice> {
        auth::require(actor.role, Permission::ManageIncidents)?;
        check_kind_and_lang(&notice.kind, "ja")?;
        check_len("Japanese notice", &notice.body_ja, MAX_NOTICE_CHARS)?;
        check_len("English notice", &notice.body_en, MAX_NOTICE_CHARS)?;
        let actor_name = format!("user:{}", actor.username);
        let now_ms = self.now_ms();
        if notice.state == POSTMORTEM {
            let incident = self.store().get_incident(incident_id).await?;
            if incident.is_open() {
                return Err(DeskError::Conflict {
                    detail: format!(
                        "incident {incident_id} is still open: resolve it before the explanation"
                    ),
                });
            }
            self.record(
                incident_id,
                now_ms,
                "postmortem",
                &actor_name,
                &notice.body_en,
            )
            .await?;
        } else {
            let state = IncidentState::parse(&notice.state)?;
            // The desk's own update/resolve keep their checks (open incident, lengths) and
            // put the English text on the timeline.
            self.update_incident(actor, incident_id, state, &notice.body_en)
                .await?;
        }
        let mut published = PublicNotice {
            id: 0,
            incident_id,
            at_ms: now_ms,
            kind: notice.kind,
            state: notice.state,
            body_ja: notice.body_ja,
            body_en: notice.body_en,
            inputs: notice.inputs,
            actor: actor_name,
        };
        published.id = self.store().insert_public_notice(&published).await?;
        self.note_change();
        Ok(published)
    }

    /// Incidents whose impact overlaps `[since_ms, now]` or that are still open, newest first:
    /// public data for the status page.
    pub async fn public_incidents(&self, since_ms: UnixMs) -> Result<Vec<Incident>> {
        let mut incidents = self
            .store()
            .list_incidents(crate::store::MAX_LIST_ROWS)
            .await?;
        incidents.retain(|i| i.is_open() || i.resolved_at_ms.unwrap_or(i64::MAX) >= since_ms);
        Ok(incidents)
    }

    /// Notices published at or after `since_ms`, oldest first.
    pub async fn public_notices_since(&self, since_ms: UnixMs) -> Result<Vec<PublicNotice>> {
        self.store().public_notices_since(since_ms).await
    }

    /// The notices of one incident (for the console), oldest first.
    pub async fn incident_notices(
        &self,
        actor: &Principal,
        incident_id: i64,
    ) -> Result<Vec<PublicNotice>> {
        auth::require(actor.role, Permission::ViewIncidents)?;
        self.store().public_notices_for(incident_id).await
    }
}
