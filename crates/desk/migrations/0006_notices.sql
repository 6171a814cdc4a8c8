-- Customer notices (issue 6): the templates operators edit, and the notices published on the
-- status page in Japanese and English. Numbered after the issue, so that migrations added on
-- parallel branches do not collide. No semicolons in comments: the runner splits on them.
CREATE TABLE desk_notice_templates (
    kind TEXT NOT NULL,
    lang TEXT NOT NULL,
    body TEXT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    updated_by TEXT NOT NULL,
    PRIMARY KEY (kind, lang)
);
CREATE TABLE desk_public_notices (
    id {id},
    incident_id BIGINT NOT NULL REFERENCES desk_incidents (id),
    at_ms BIGINT NOT NULL,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    body_ja TEXT NOT NULL,
    body_en TEXT NOT NULL,
    inputs TEXT NOT NULL,
    actor TEXT NOT NULL
);
CREATE INDEX desk_public_notices_incident ON desk_public_notices (incident_id, at_ms)
