-- The role and database that several `feedd run` processes share (deploy/postgresql/README.md).
-- Run once, as a PostgreSQL superuser:
--   runuser -u postgres -- psql < deploy/postgresql/setup.sql
--   runuser -u postgres -- psql -v password="$(cat feedd-db-password)" < deploy/postgresql/setup.sql
-- The second form gives the role a password, for feedd processes on other machines.
-- Optional variables: -v role=NAME (default feedd), -v database=NAME (default feedd).
\set ON_ERROR_STOP on

\if :{?role}
\else
  \set role feedd
\endif
\if :{?database}
\else
  \set database feedd
\endif

-- The login role feedd runs as. It owns the database, so `feedd db upgrade` (and the start-up
-- migration of `feedd run`) may create and alter tables in its public schema (PostgreSQL 15+
-- gives the public schema to the database owner). Advisory locks, used for leadership and to
-- serialise migrations, need no privilege.
\if :{?password}
  CREATE ROLE :"role" LOGIN PASSWORD :'password';
\else
  CREATE ROLE :"role" LOGIN;
\endif

-- UTF-8 whatever the cluster's default: titles and abstracts are in every script.
CREATE DATABASE :"database" OWNER :"role" ENCODING 'UTF8' TEMPLATE template0;

-- Nobody else connects to it.
REVOKE CONNECT, TEMPORARY ON DATABASE :"database" FROM PUBLIC;
