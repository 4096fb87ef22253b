-- 0003_outbox_acks.sql - durable subscribers' acknowledgements, written in
-- the subscriber's own transaction (delivery_tx, outbox.c).
--
-- A subscriber that writes through delivery_tx() gets one row here,
-- inserted and committed in the same transaction as its writes: the writes
-- and the acknowledgement exist together or not at all.  The dispatcher
-- reads these rows when it claims an event and skips a subscriber whose
-- ack is there, so a redelivery (another subscriber failed, or a worker
-- died before the batch settled) does not run its writes twice.
--
-- The foreign key locks the event's row FOR KEY SHARE, which the
-- dispatcher's claim (FOR NO KEY UPDATE) allows while it holds the row.
CREATE TABLE outbox_acks (
    outbox_id   bigint NOT NULL REFERENCES outbox (id) ON DELETE CASCADE,
    subscriber  text NOT NULL CHECK (subscriber ~ '^[a-z0-9_]{1,32}(#[0-9]{1,4})?$'),
    tenant_id   text NOT NULL REFERENCES tenants (id),
    acked_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (outbox_id, subscriber)
);
ALTER TABLE outbox_acks ENABLE ROW LEVEL SECURITY;
ALTER TABLE outbox_acks FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON outbox_acks
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
-- Add and read: an ack is never changed.  Retention follows the outbox's
-- (ON DELETE CASCADE), which is the owner's job.
GRANT SELECT, INSERT ON outbox_acks TO tanomu_app;
