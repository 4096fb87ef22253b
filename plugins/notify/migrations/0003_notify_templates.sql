-- 0003_notify_templates.sql (scope "notify") - a tenant's own wording of
-- an event's message in one language, replacing the shipped default
-- (template.c) for e-mail and LINE.  Set by tenant admins through the API
-- (re-authentication, audit).  Rendered with the same escaping as the
-- defaults: values are cleaned, subjects RFC 2047-encoded, bodies base64.
CREATE TABLE notify_templates (
    tenant_id   text NOT NULL REFERENCES tenants (id),
    event       text NOT NULL CHECK (event ~ '^[a-z][a-z0-9_.]{0,127}$'),
    lang        text NOT NULL CHECK (lang IN ('ja', 'en')),
    subject     text NOT NULL CHECK (length(subject) BETWEEN 1 AND 200),
    body        text NOT NULL CHECK (length(body) BETWEEN 1 AND 5000),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, event, lang)
);

ALTER TABLE notify_templates ENABLE ROW LEVEL SECURITY;
ALTER TABLE notify_templates FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON notify_templates
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

GRANT SELECT, INSERT, UPDATE, DELETE ON notify_templates TO tanomu_app;
