-- setup.sql: the PostgreSQL roles and database of mailbeacon, least privilege.
-- Two roles: the owner (owns the database and the schema: creates and
-- migrates it with `mailbeacon db migrate`; purge and forget delete rows and
-- drop expired months) and the daemons' role (mailbeacon-milter and
-- mailbeacond: read and insert what they record, nothing else: no UPDATE,
-- no DELETE, no DDL).
--
-- Run it as a superuser (or a role with CREATEROLE and CREATEDB), twice:
--
--   psql -X -v owner=mailbeacon_owner -v daemons=mailbeacon -v dbname=mailbeacon \
--        -f setup.sql                       # 1: roles, database, schema rights
--   mailbeacon -c owner.conf db migrate     #    the owner creates the schema
--   psql -X -v ... -f setup.sql             # 2: the daemons' rights on its tables
--
-- and again after every `db migrate` that changed the schema (an upgrade): it
-- is idempotent and grants on the tables the schema has now. The owner may
-- run the second pass too. The variables are optional (defaults above);
-- owner_password and daemons_password set the roles' passwords, or give them
-- later with psql's \password (which does not send them in clear text).

\set ON_ERROR_STOP on
\if :{?owner}
\else
\set owner mailbeacon_owner
\endif
\if :{?daemons}
\else
\set daemons mailbeacon
\endif
\if :{?dbname}
\else
\set dbname mailbeacon
\endif

-- ---- pass 1: roles and database (skipped where they exist) ----

SELECT format('CREATE ROLE %I LOGIN', :'owner')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'owner') \gexec
SELECT format('CREATE ROLE %I LOGIN', :'daemons')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'daemons') \gexec
\if :{?owner_password}
SELECT format('ALTER ROLE %I PASSWORD %L', :'owner', :'owner_password') \gexec
\endif
\if :{?daemons_password}
SELECT format('ALTER ROLE %I PASSWORD %L', :'daemons', :'daemons_password') \gexec
\endif
SELECT format('CREATE DATABASE %I OWNER %I ENCODING %L TEMPLATE template0', :'dbname', :'owner',
              'UTF8')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'dbname') \gexec
-- Only these two roles connect. The daemons need no temporary tables (the
-- admin command's forget and purge use them, as the owner).
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'dbname') \gexec
SELECT format('GRANT CONNECT ON DATABASE %I TO %I', :'dbname', :'daemons') \gexec

\connect :"dbname"
\set ON_ERROR_STOP on

-- The schema "public" is the owner's: nobody else creates anything in it
-- (PostgreSQL before 15 let every role create tables there).
SELECT format('ALTER SCHEMA public OWNER TO %I', :'owner') \gexec
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO :"daemons";
-- Functions the owner creates are not everyone's to call.
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;

-- ---- pass 2: the daemons' rights on the tables of the schema ----

SELECT to_regclass('public.mailbeacon_schema') IS NOT NULL AS have_schema \gset
\if :have_schema
-- What the milter and the beacon read and insert (store/pg.c, store/store.c,
-- store/webhook_queries.c): the schema version, the messages with their
-- recipients' keyed hashes and links, the events and the opt-outs, and
-- the "Read:" mails the beacon sent (notify=mail).
-- sync_state is the admin command's alone.
-- The counters that reports read (messages' and links' counter columns,
-- message_days) are updated by the trigger events_counters as the schema's
-- owner (SECURITY DEFINER): inserting an event needs no other right.
GRANT SELECT ON mailbeacon_schema TO :"daemons";
GRANT SELECT, INSERT ON messages, message_recipients, links, events, optouts TO :"daemons";
GRANT SELECT, INSERT ON mail_notifications TO :"daemons";
-- consent=optin (store/consent.c): the milter reads consents and inserts
-- asks, the beacon reads asks and inserts consents; only the admin command
-- (forget, as the owner) deletes them.
GRANT SELECT, INSERT ON consents, consent_asks TO :"daemons";
-- events.id comes from this sequence (messages.rowid is an identity
-- column, which needs no right of its own).
GRANT USAGE ON SEQUENCE events_id_seq TO :"daemons";
-- A new month's events partition is created by the owner's SECURITY
-- DEFINER function; the daemons may call it and nothing else of the kind.
REVOKE EXECUTE ON FUNCTION mailbeacon_events_partition(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION mailbeacon_events_partition(bigint) TO :"daemons";
\echo setup.sql: the daemons role has its rights on the schema: start the milter and the beacon with its URI
\else
\echo setup.sql: roles and database are ready: now run mailbeacon db migrate with the owner URI, then this script again
\endif
