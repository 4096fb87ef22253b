-- 0002_notify_webhooks.sql (scope "notify") - webhook endpoints of a
-- tenant (Standard Webhooks), managed by tenant admins through the API
-- (re-authentication, audit).  The signing secret (whsec_...) is stored
-- sealed by the plugin (secret_seal: bound to tenant and plugin, S18).
-- Rotation keeps the previous secret for an overlap.  An endpoint that
-- answers 410 Gone is disabled, with the reason.
CREATE TABLE notify_webhooks (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id       text NOT NULL REFERENCES tenants (id),
    url             text NOT NULL CHECK (url ~ '^https://[^[:space:][:cntrl:]]+$'
                                         AND length(url) <= 2000),
    secret          text NOT NULL CHECK (secret LIKE 'tnsec:v1:%'),
    events          text NOT NULL CHECK (events ~ '^[a-z0-9_.,*]+$' AND length(events) <= 1000),
    -- The secret before the last rotation, still signed with (a second
    -- v1 signature) until previous_until, so receivers can switch over.
    previous_secret text CHECK (previous_secret IS NULL OR previous_secret LIKE 'tnsec:v1:%'),
    previous_until  timestamptz,
    enabled         boolean NOT NULL DEFAULT true,
    disabled_reason text CHECK (disabled_reason IS NULL OR length(disabled_reason) <= 200),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id)
);
CREATE INDEX notify_webhooks_tenant_idx ON notify_webhooks (tenant_id, created_at);

ALTER TABLE notify_webhooks ENABLE ROW LEVEL SECURITY;
ALTER TABLE notify_webhooks FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON notify_webhooks
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

GRANT SELECT, INSERT, UPDATE, DELETE ON notify_webhooks TO tanomu_app;
