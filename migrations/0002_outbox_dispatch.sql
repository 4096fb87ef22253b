-- 0002_outbox_dispatch.sql - what the workers' event dispatchers need.
--
-- Dispatchers claim events tenant by tenant, inside transactions bound to
-- that tenant, so row-level security holds for them as for requests.  To
-- learn WHICH tenants have due events without seeing any event, the app
-- role may call outbox_due_tenants(): it runs as the owner, who alone may
-- read across tenants (this SELECT-only policy), and returns tenant IDs
-- only.
CREATE POLICY owner_scan ON outbox FOR SELECT TO tanomu_owner USING (true);

CREATE FUNCTION outbox_due_tenants(max_tenants integer) RETURNS SETOF text
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT DISTINCT tenant_id FROM outbox
    WHERE state = 'pending' AND next_attempt_at <= now()
    LIMIT max_tenants
$$;
REVOKE ALL ON FUNCTION outbox_due_tenants(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION outbox_due_tenants(integer) TO tanomu_app;

-- NOTIFY is transactional: listeners hear of an event only once the
-- transaction that wrote it has committed.  The payload is the tenant ID.
CREATE FUNCTION outbox_notify() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tanomu_outbox', NEW.tenant_id);
    RETURN NULL;
END;
$$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH ROW EXECUTE FUNCTION outbox_notify();
