-- 0001_notify.sql (scope "notify") - the delivery log: one row per
-- message attempt outcome (event, channel, recipient masked and hashed,
-- attempt, result, provider message ID).  Tenant-owned: row-level
-- security enabled and forced (S21).  Recipients are never stored in
-- clear: the mask ("a***@example.jp") is for people, the hash (SHA-256
-- of tenant and address) lets a retry skip who already has the message.
CREATE TABLE notify_deliveries (
    id           bigserial PRIMARY KEY,
    tenant_id    text NOT NULL REFERENCES tenants (id),
    event_id     bigint NOT NULL,
    event_name   text NOT NULL CHECK (length(event_name) BETWEEN 1 AND 128),
    channel      text NOT NULL CHECK (channel IN ('email', 'webhook', 'line')),
    recipient    text NOT NULL CHECK (length(recipient) <= 300),
    recipient_hash text NOT NULL CHECK (recipient_hash ~ '^[0-9a-f]{64}$'),
    attempts     integer NOT NULL CHECK (attempts >= 1),
    result       text NOT NULL CHECK (result IN ('sent', 'failed', 'refused')),
    provider_id  text CHECK (provider_id IS NULL OR length(provider_id) <= 300),
    detail       text CHECK (detail IS NULL OR length(detail) <= 300),
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notify_deliveries_tenant_idx ON notify_deliveries (tenant_id, id);
CREATE INDEX notify_deliveries_event_idx ON notify_deliveries (tenant_id, event_id, channel);

ALTER TABLE notify_deliveries ENABLE ROW LEVEL SECURITY;
ALTER TABLE notify_deliveries FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON notify_deliveries
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

GRANT SELECT, INSERT ON notify_deliveries TO tanomu_app;
GRANT USAGE ON SEQUENCE notify_deliveries_id_seq TO tanomu_app;
