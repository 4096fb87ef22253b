-- bench/db_roundtrip.sql - pgbench's side of bench/db.sh: the statements the
-- host runs for one POST /db/roundtrip of the dbprobe plugin, in the same
-- order, as the same role (tanomu_app), through the same RLS policy.
--   the host:  BEGIN; SELECT set_config('app.tenant_id', $1, true);
--              INSERT ... RETURNING id     (these three in one round trip,
--                                           libpq pipeline mode)
--              SELECT id, body FROM notes WHERE id = $1::bigint
--              COMMIT
-- Run with -M extended and -D tenant=bench -D body=bench so the values
-- travel as $n parameters, as the host sends them.  pgbench cannot pipeline
-- a statement whose result feeds \gset, so this side makes five round trips
-- per transaction where the host makes three.
BEGIN;
SELECT set_config('app.tenant_id', :tenant, true);
INSERT INTO notes (tenant_id, body) VALUES (:tenant, :body) RETURNING id \gset
SELECT id, body FROM notes WHERE id = :id::bigint;
COMMIT;
