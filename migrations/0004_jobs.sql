-- 0004_jobs.sql - runs of scheduled jobs (host/runtime/jobs.c).
--
-- Every worker of every node computes the same ticks for a job and tries
-- to claim each one here with INSERT ... ON CONFLICT: the unique key
-- (plugin, job, tenant, tick, manual) lets exactly one insert win, so a
-- tick runs once however many workers share the database.  The winner
-- holds a lease (lease_until); a run not ended by then (its worker died)
-- is claimed again by whoever sees the lease lapsed first: the claim
-- bumps `attempt`, and the old worker's late end, which names its
-- attempt, no longer matches.
--
-- `tanomu jobs --run` asks for a run now by inserting a row with
-- manual = true, result 'pending' and a lease already lapsed: the workers'
-- sweep claims it like an orphaned run, so a request survives restarts and
-- runs once.
--
-- Row-level security.  A per-tenant job's rows carry its tenant and are
-- seen only by transactions bound to that tenant, like every tenant table.
-- A global job's rows have tenant_id NULL: they belong to no tenant, so
-- they are seen only by transactions bound to NO tenant (app.tenant_id
-- unset or '', what the pool binds for tenant NULL), never by a tenant's.
-- That is the one place the app role without a tenant sees rows; they are
-- the platform's own bookkeeping (job, tick, times, result and the error
-- text a global job wrote), so a global job must not put tenant data in
-- its error.  The owner may read across tenants (owner_scan) for
-- `tanomu jobs`, and the sweep learns which (plugin, job, tenant) have
-- lapsed leases through job_runs_due(), which returns names only.
CREATE TABLE job_runs (
    id           bigserial PRIMARY KEY,
    plugin       text NOT NULL CHECK (plugin ~ '^[a-z0-9_]{1,32}$'),
    job          text NOT NULL CHECK (job ~ '^[a-z][a-z0-9_]{0,47}$'),
    tenant_id    text REFERENCES tenants (id), -- NULL: a global job
    tick         bigint NOT NULL,              -- Unix seconds
    manual       boolean NOT NULL DEFAULT false,
    attempt      integer NOT NULL DEFAULT 1 CHECK (attempt >= 0),
    worker       text,                         -- node:pid of the last claimer
    lease_until  timestamptz NOT NULL,
    requested_at timestamptz NOT NULL DEFAULT now(),
    started_at   timestamptz,
    ended_at     timestamptz,
    result       text NOT NULL DEFAULT 'running'
                 CHECK (result IN ('pending', 'running', 'ok', 'failed')),
    error        text,
    CONSTRAINT job_runs_once UNIQUE NULLS NOT DISTINCT (plugin, job, tenant_id, tick, manual)
);
-- The sweep's question: open runs whose lease has lapsed.
CREATE INDEX job_runs_open_idx ON job_runs (lease_until) WHERE ended_at IS NULL;
CREATE INDEX job_runs_recent_idx ON job_runs (plugin, job, requested_at DESC);
ALTER TABLE job_runs ENABLE ROW LEVEL SECURITY;
ALTER TABLE job_runs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON job_runs
    USING (tenant_id = current_setting('app.tenant_id', true)
           OR (tenant_id IS NULL AND coalesce(current_setting('app.tenant_id', true), '') = ''))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true)
           OR (tenant_id IS NULL AND coalesce(current_setting('app.tenant_id', true), '') = ''));
CREATE POLICY owner_scan ON job_runs FOR SELECT TO tanomu_owner USING (true);
-- Claim (insert, or update a lapsed lease), end, read history.  Never
-- DELETE: retention is the owner's job.
GRANT SELECT, INSERT, UPDATE ON job_runs TO tanomu_app;
GRANT USAGE ON SEQUENCE job_runs_id_seq TO tanomu_app;

CREATE FUNCTION job_runs_due(max_rows integer)
    RETURNS TABLE (plugin text, job text, tenant_id text)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT DISTINCT r.plugin, r.job, r.tenant_id FROM job_runs r
    WHERE r.ended_at IS NULL AND r.lease_until < now()
    LIMIT max_rows
$$;
REVOKE ALL ON FUNCTION job_runs_due(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION job_runs_due(integer) TO tanomu_app;
