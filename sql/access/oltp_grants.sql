-- OLTP access by role (PostgreSQL), applied after the migrations by whoever migrates (the
-- migrator, which owns the tables). Idempotent.
--   oltp_writer  the API: reads and writes rows of the application's tables; no DDL
--   oltp_reader  the extract task: reads them, nothing else
-- The local cluster's login roles are members of these (scripts/services.sh). The roles are made
-- here only where they are missing, so a migrator without CREATEROLE applies this file once an
-- administrator made them.

DO $$
DECLARE r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['oltp_writer', 'oltp_reader'] LOOP
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', r);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;
            END;
        END IF;
    END LOOP;
END
$$;

GRANT USAGE ON SCHEMA public TO oltp_writer, oltp_reader;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO oltp_writer;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO oltp_writer;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO oltp_reader;
-- The migrations' own bookkeeping is the migrator's.
REVOKE INSERT, UPDATE, DELETE ON schema_migrations FROM oltp_writer;
-- The API's rate counts are nobody else's business (not the lake's).
REVOKE ALL ON rate_limits FROM oltp_reader;
