-- Warehouse access by role (PostgreSQL; applied by load_redshift after the DDL). Idempotent.
--   data_engineer  everything: staging, core, marts, audit (read and write)
--   data_scientist reads core; owns the sandbox schema for its own tables
--   bi_analyst     reads marts and core
--   marts_reader   reads marts only (vendor analytics: the API's GET /vendors/{id}/sales)
-- People and services get a login role that is a member of one of these (the local cluster's:
-- scripts/services.sh). The roles are made here only where they are missing, so a loader without
-- CREATEROLE applies this file once an administrator made them.

DO $$
DECLARE r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['data_engineer', 'data_scientist', 'bi_analyst', 'marts_reader'] LOOP
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', r);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL; -- made meanwhile (roles are cluster-wide; another database may have made it)
            END;
        END IF;
    END LOOP;
END
$$;

CREATE SCHEMA IF NOT EXISTS sandbox;
ALTER SCHEMA sandbox OWNER TO data_scientist;

-- data_engineer: all of it.
GRANT USAGE, CREATE ON SCHEMA staging, core, marts, audit, sandbox TO data_engineer;
GRANT ALL ON ALL TABLES IN SCHEMA staging, core, marts, audit TO data_engineer;
GRANT ALL ON ALL SEQUENCES IN SCHEMA audit TO data_engineer;
ALTER DEFAULT PRIVILEGES IN SCHEMA staging, core, marts, audit GRANT ALL ON TABLES TO data_engineer;

-- data_scientist: read core.
GRANT USAGE ON SCHEMA core TO data_scientist;
GRANT SELECT ON ALL TABLES IN SCHEMA core TO data_scientist;
ALTER DEFAULT PRIVILEGES IN SCHEMA core GRANT SELECT ON TABLES TO data_scientist;

-- bi_analyst: read marts and core.
GRANT USAGE ON SCHEMA marts, core TO bi_analyst;
GRANT SELECT ON ALL TABLES IN SCHEMA marts, core TO bi_analyst;
ALTER DEFAULT PRIVILEGES IN SCHEMA marts, core GRANT SELECT ON TABLES TO bi_analyst;

-- marts_reader: the marts' views only (they read core with their owner's rights, so no grant on
-- core is needed, and none is given).
GRANT USAGE ON SCHEMA marts TO marts_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA marts TO marts_reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA marts GRANT SELECT ON TABLES TO marts_reader;

-- Nobody else reads anything by default.
REVOKE ALL ON SCHEMA staging, core, marts, audit FROM PUBLIC;
