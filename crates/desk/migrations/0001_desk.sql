-- Desk schema, version 1, for SQLite and PostgreSQL: {id} becomes the backend's
-- auto-increment primary key. Times are Unix milliseconds (BIGINT). No semicolons in comments:
-- the runner splits statements on them.
CREATE TABLE desk_settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE desk_components (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
CREATE TABLE desk_incidents (
    id {id},
    title TEXT NOT NULL,
    component TEXT NOT NULL,
    state TEXT NOT NULL,
    impact TEXT NOT NULL,
    source_key TEXT,
    policy_id TEXT,
    impact_started_at_ms BIGINT NOT NULL,
    detected_at_ms BIGINT NOT NULL,
    acknowledged_at_ms BIGINT,
    acknowledged_by TEXT,
    recovered_at_ms BIGINT,
    resolved_at_ms BIGINT,
    created_by TEXT NOT NULL
);
CREATE INDEX desk_incidents_open ON desk_incidents (source_key, resolved_at_ms);
CREATE TABLE desk_incident_events (
    id {id},
    incident_id BIGINT NOT NULL REFERENCES desk_incidents (id),
    at_ms BIGINT NOT NULL,
    kind TEXT NOT NULL,
    actor TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX desk_incident_events_incident ON desk_incident_events (incident_id, at_ms);
CREATE TABLE desk_escalation_firings (
    incident_id BIGINT NOT NULL REFERENCES desk_incidents (id),
    step_index BIGINT NOT NULL,
    cycle BIGINT NOT NULL,
    fired_at_ms BIGINT NOT NULL,
    PRIMARY KEY (incident_id, step_index, cycle)
);
CREATE TABLE desk_deliveries (
    id {id},
    incident_id BIGINT NOT NULL REFERENCES desk_incidents (id),
    channel_id TEXT NOT NULL,
    recipient TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at_ms BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL
);
CREATE INDEX desk_deliveries_due ON desk_deliveries (status, next_attempt_at_ms);
CREATE TABLE desk_delivery_attempts (
    id {id},
    delivery_id BIGINT NOT NULL REFERENCES desk_deliveries (id),
    attempt BIGINT NOT NULL,
    at_ms BIGINT NOT NULL,
    ok BIGINT NOT NULL,
    detail TEXT NOT NULL
);
CREATE TABLE desk_users (
    id {id},
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    disabled BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE desk_api_tokens (
    id {id},
    user_id BIGINT NOT NULL REFERENCES desk_users (id),
    token_sha256 TEXT NOT NULL UNIQUE,
    label TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT,
    revoked_at_ms BIGINT
);
CREATE TABLE desk_audit (
    id {id},
    at_ms BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail TEXT NOT NULL
)
