-- Desk schema, version 2: the audit hash chain (see src/audit.rs for the encoding) and the
-- regulator reports. Rows of desk_audit written before this version are chained when the
-- store opens. No semicolons in comments: the runner splits statements on them.
ALTER TABLE desk_audit ADD COLUMN seq BIGINT;
ALTER TABLE desk_audit ADD COLUMN prev_hash TEXT;
ALTER TABLE desk_audit ADD COLUMN hash TEXT;
CREATE TABLE desk_audit_head (
    id BIGINT PRIMARY KEY,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO desk_audit_head (id, seq, hash)
    VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
CREATE TABLE desk_incident_impacts (
    incident_id BIGINT PRIMARY KEY REFERENCES desk_incidents (id),
    impact TEXT NOT NULL,
    recorded_at_ms BIGINT NOT NULL,
    recorded_by TEXT NOT NULL
);
CREATE TABLE desk_classifications (
    id {id},
    incident_id BIGINT NOT NULL REFERENCES desk_incidents (id),
    regulator TEXT NOT NULL,
    major BIGINT NOT NULL,
    criteria TEXT NOT NULL,
    classified_at_ms BIGINT NOT NULL,
    classified_by TEXT NOT NULL
);
CREATE INDEX desk_classifications_incident ON desk_classifications (incident_id, regulator);
CREATE TABLE desk_report_versions (
    id {id},
    incident_id BIGINT NOT NULL REFERENCES desk_incidents (id),
    regulator TEXT NOT NULL,
    kind TEXT NOT NULL,
    version BIGINT NOT NULL,
    fields TEXT NOT NULL,
    body_markdown TEXT NOT NULL,
    body_json TEXT NOT NULL,
    content_sha256 TEXT NOT NULL,
    submitted_at_ms BIGINT NOT NULL,
    submitted_by TEXT NOT NULL,
    UNIQUE (incident_id, kind, version)
);
CREATE TABLE desk_report_reminders (
    incident_id BIGINT NOT NULL REFERENCES desk_incidents (id),
    kind TEXT NOT NULL,
    due_at_ms BIGINT NOT NULL,
    lead_minutes BIGINT NOT NULL,
    fired_at_ms BIGINT NOT NULL,
    PRIMARY KEY (incident_id, kind, due_at_ms, lead_minutes)
)
