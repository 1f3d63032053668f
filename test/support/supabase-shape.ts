// A Supabase-shaped source database for the tests, on each PostgreSQL major (pg-versions.ts), so that the
// backup cycle (pg_dump → pg_restore into a canary) meets what a real Supabase project has:
//   - the reserved roles of a Supabase cluster (supabase_admin a superuser, the API roles, the service
//     admins; pgsodium's three roles on 15);
//   - the managed schemas with the owners Supabase gives them (supabase/postgres
//     migrations/db/init-scripts and migrations: everything created as supabase_admin, auth's and
//     storage's tables handed to their service admins), its event triggers (pg_cron/pg_net/pg_graphql
//     grants, PostgREST schema reload) and the supabase_realtime publication;
//   - the extensions, created where Supabase creates them. The contrib ones are real (pgcrypto,
//     uuid-ossp, pg_stat_statements: every server here ships them); the others are STAND-INS with the
//     real names, versions and catalog objects (test/fixtures/supabase-extensions, README there),
//     installed only into a relocated copy of the server (postgres.ts serverWithExtensions), so a plain
//     server of the same major lacks them, exactly as a plain postgres image does;
//   - a project: seed.ts's public app schema (profiles, sessions, messages, … with RLS `to
//     authenticated`) and data, storage buckets and objects, a vault secret, a cron job, the
//     migration tables of auth, storage, realtime, supabase_functions and supabase_migrations.
// Deliberate differences from a real project: `postgres` stays the superuser the harness connects as
// (Supabase demotes it and keeps supabase_admin as the only superuser), and auth.users.id has a default
// (GoTrue sets ids itself) so seed.ts's addSeedData can fill it.
import { join } from "node:path";
import { Client } from "pg";
import { startPostgres, type PgServer } from "./postgres";
import { SUPABASE_SCHEMA_SQL, addSeedData } from "./seed";
import type { Major } from "./pg-versions";

export const SUPABASE_EXTENSION_FIXTURES = join(__dirname, "..", "fixtures", "supabase-extensions");

/** The directories of stand-in extension files for a major: common/ plus pg<major>/. */
export function supabaseExtensionDirs(major: Major): string[] {
    return [join(SUPABASE_EXTENSION_FIXTURES, "common"), join(SUPABASE_EXTENSION_FIXTURES, `pg${major}`)];
}

/** Roles every Supabase cluster has, whatever the major (besides `postgres`). */
export const RESERVED_ROLES = [
    "anon",
    "authenticated",
    "authenticator",
    "service_role",
    "supabase_admin",
    "supabase_auth_admin",
    "supabase_storage_admin",
    "supabase_realtime_admin",
    "supabase_replication_admin",
    "supabase_read_only_user",
    "supabase_functions_admin",
    "dashboard_user",
    "pgbouncer",
] as const;

/** pgsodium's roles: Supabase's 15 images have them, its 17 images (no pgsodium) do not. */
export const PGSODIUM_ROLES = ["pgsodium_keyiduser", "pgsodium_keyholder", "pgsodium_keymaker"] as const;

export function reservedRoles(major: Major): string[] {
    return major === 15 ? [...RESERVED_ROLES, ...PGSODIUM_ROLES] : [...RESERVED_ROLES];
}

/**
 * The schemas Supabase manages, with their owners. Most are created by supabase_admin (the image's
 * bootstrap superuser). pgbouncer is `AUTHORIZATION pgbouncer`; supabase_migrations is created by the
 * Supabase CLI connected as postgres. graphql and vault come from their extensions' control files
 * (`schema = …`: created by CREATE EXTENSION outside the extension, so pg_dump dumps them); net and
 * cron are created by pg_net's and pg_cron's scripts (extension members: pg_dump does not dump them).
 */
export const MANAGED_SCHEMA_OWNERS: Readonly<Record<string, string>> = {
    auth: "supabase_admin",
    storage: "supabase_admin",
    realtime: "supabase_admin",
    extensions: "supabase_admin",
    graphql: "supabase_admin",
    graphql_public: "supabase_admin",
    vault: "supabase_admin",
    net: "supabase_admin",
    pgbouncer: "pgbouncer",
    supabase_functions: "supabase_admin",
    supabase_migrations: "postgres",
    cron: "supabase_admin",
};
export const MANAGED_SCHEMAS = Object.keys(MANAGED_SCHEMA_OWNERS);

/** Managed schemas of a major: pgsodium's own schema on 15 too. */
export function managedSchemas(major: Major): Record<string, string> {
    return major === 15 ? { ...MANAGED_SCHEMA_OWNERS, pgsodium: "supabase_admin" } : { ...MANAGED_SCHEMA_OWNERS };
}

/** Extensions every server here ships (contrib): real ones in the shaped source. */
export const REAL_EXTENSIONS = ["pg_stat_statements", "pgcrypto", "uuid-ossp"] as const;

/** Extensions only the shaped servers have (stand-ins), by major. */
export function STAND_IN_EXTENSIONS(major: Major): string[] {
    const common = ["pg_cron", "pg_graphql", "pg_net", "pgjwt", "supabase_vault"];
    return (major === 15 ? [...common, "pgsodium"] : common).sort();
}

/** Every extension the shaped source has created (besides plpgsql), sorted. */
export function SUPABASE_EXTENSIONS(major: Major): string[] {
    return [...REAL_EXTENSIONS, ...STAND_IN_EXTENSIONS(major)].sort();
}

/** Where Supabase creates each extension (pg_extension.extnamespace). */
export function extensionSchemas(major: Major): Record<string, string> {
    const m: Record<string, string> = {
        pg_stat_statements: "extensions",
        pgcrypto: "extensions",
        "uuid-ossp": "extensions",
        pgjwt: "extensions",
        pg_graphql: "graphql",
        pg_net: "extensions",
        pg_cron: "pg_catalog",
        supabase_vault: "vault",
    };
    if (major === 15) m.pgsodium = "pgsodium";
    return m;
}

/** The reserved roles with the attributes and memberships Supabase gives them; idempotent. */
export function reservedRolesSql(major: Major): string {
    const roles: Array<[string, string]> = [
        ["supabase_admin", "login superuser createdb createrole replication bypassrls"],
        ["supabase_replication_admin", "login replication"],
        ["supabase_read_only_user", "login bypassrls"],
        ["anon", "nologin noinherit"],
        ["authenticated", "nologin noinherit"],
        ["service_role", "nologin noinherit bypassrls"],
        ["authenticator", "login noinherit"],
        ["supabase_auth_admin", "login noinherit createrole"],
        ["supabase_storage_admin", "login noinherit createrole"],
        ["supabase_realtime_admin", "nologin noinherit"],
        ["supabase_functions_admin", "login noinherit createrole"],
        ["dashboard_user", "nosuperuser createdb createrole replication"],
        ["pgbouncer", "login"],
    ];
    if (major === 15) roles.push(["pgsodium_keyiduser", "nologin"], ["pgsodium_keyholder", "nologin"], ["pgsodium_keymaker", "nologin"]);
    const creates = roles.map(([r, attrs]) => `  if not exists (select from pg_roles where rolname = '${r}') then create role ${r} ${attrs}; end if;`);
    return `
do $$ begin
${creates.join("\n")}
end $$;
grant pg_read_all_data to supabase_read_only_user;
grant anon, authenticated, service_role to authenticator;
grant anon, authenticated, service_role to postgres;
grant supabase_auth_admin, supabase_storage_admin to postgres;
grant authenticated, anon to supabase_storage_admin;
grant authenticator to supabase_storage_admin;
alter role anon set statement_timeout = '3s';
alter role authenticated set statement_timeout = '8s';
alter role authenticator set statement_timeout = '8s';
alter role authenticator set lock_timeout = '8s';
alter role supabase_admin set search_path = "$user", public, auth, extensions;
alter role supabase_auth_admin set search_path = auth;
alter role supabase_storage_admin set search_path = storage;
${major === 15 ? "grant pgsodium_keyiduser to pgsodium_keyholder;\ngrant pgsodium_keyholder to pgsodium_keymaker;" : ""}
`;
}

// The grants Supabase's event triggers make when pg_cron, pg_net or pg_graphql appear (after
// supabase/postgres migrations/db/init-scripts/00000000000003-post-setup.sql and the pg_graphql
// migrations; written here for the test, same names and effects). They fire inside CREATE EXTENSION:
// what they create there (graphql_public.graphql) becomes a member of the extension.
const EVENT_TRIGGERS_SQL = `
create function extensions.grant_pg_cron_access() returns event_trigger language plpgsql as $f$
begin
  if exists (select from pg_event_trigger_ddl_commands() ev join pg_extension e on ev.objid = e.oid where e.extname = 'pg_cron') then
    grant usage on schema cron to postgres with grant option;
    alter default privileges in schema cron grant all on tables to postgres with grant option;
    alter default privileges in schema cron grant all on functions to postgres with grant option;
    alter default privileges in schema cron grant all on sequences to postgres with grant option;
    grant all privileges on all tables in schema cron to postgres with grant option;
    revoke all on table cron.job from postgres;
    grant select on table cron.job to postgres with grant option;
  end if;
end
$f$;
comment on function extensions.grant_pg_cron_access() is 'Grants access to pg_cron';
create event trigger issue_pg_cron_access on ddl_command_end when tag in ('CREATE EXTENSION') execute function extensions.grant_pg_cron_access();

create function extensions.grant_pg_net_access() returns event_trigger language plpgsql as $f$
begin
  if exists (select from pg_event_trigger_ddl_commands() ev join pg_extension e on ev.objid = e.oid where e.extname = 'pg_net') then
    grant usage on schema net to supabase_functions_admin, postgres, anon, authenticated, service_role;
    alter function net.http_get(url text, params jsonb, headers jsonb, timeout_milliseconds integer) security definer set search_path = net;
    alter function net.http_post(url text, body jsonb, params jsonb, headers jsonb, timeout_milliseconds integer) security definer set search_path = net;
    revoke all on function net.http_get(text, jsonb, jsonb, integer), net.http_post(text, jsonb, jsonb, jsonb, integer) from public;
    grant execute on function net.http_get(text, jsonb, jsonb, integer), net.http_post(text, jsonb, jsonb, jsonb, integer)
      to supabase_functions_admin, postgres, anon, authenticated, service_role;
  end if;
end
$f$;
comment on function extensions.grant_pg_net_access() is 'Grants access to pg_net';
create event trigger issue_pg_net_access on ddl_command_end when tag in ('CREATE EXTENSION') execute function extensions.grant_pg_net_access();

create function extensions.grant_pg_graphql_access() returns event_trigger language plpgsql as $f$
begin
  if exists (select from pg_event_trigger_ddl_commands() ev join pg_proc p on ev.objid = p.oid where p.proname = 'resolve') then
    drop function if exists graphql_public.graphql;
    create function graphql_public.graphql("operationName" text default null, query text default null, variables jsonb default null, extensions jsonb default null)
      returns jsonb language sql
      as $$ select graphql.resolve(query := query, variables := coalesce(variables, '{}'), "operationName" := "operationName", extensions := extensions) $$;
    grant usage on schema graphql to postgres, anon, authenticated, service_role;
    grant select on all tables in schema graphql to postgres, anon, authenticated, service_role;
    grant execute on all functions in schema graphql to postgres, anon, authenticated, service_role;
    grant all on all sequences in schema graphql to postgres, anon, authenticated, service_role;
  end if;
end
$f$;
comment on function extensions.grant_pg_graphql_access() is 'Grants access to pg_graphql';
create event trigger issue_pg_graphql_access on ddl_command_end when tag in ('CREATE FUNCTION') execute function extensions.grant_pg_graphql_access();

create function extensions.set_graphql_placeholder() returns event_trigger language plpgsql as $f$
begin
  if exists (select from pg_event_trigger_dropped_objects() ev where ev.schema_name = 'graphql_public') then
    create or replace function graphql_public.graphql("operationName" text default null, query text default null, variables jsonb default null, extensions jsonb default null)
      returns jsonb language sql
      as $$ select jsonb_build_object('errors', jsonb_build_array(jsonb_build_object('message', 'pg_graphql extension is not enabled.'))) $$;
  end if;
end
$f$;
comment on function extensions.set_graphql_placeholder() is 'Reintroduces placeholder function for graphql_public.graphql';
create event trigger issue_graphql_placeholder on sql_drop when tag in ('DROP EXTENSION') execute function extensions.set_graphql_placeholder();

create function extensions.pgrst_ddl_watch() returns event_trigger language plpgsql as $f$
begin
  if exists (select from pg_event_trigger_ddl_commands() c where c.schema_name is distinct from 'pg_temp') then
    notify pgrst, 'reload schema';
  end if;
end
$f$;
create event trigger pgrst_ddl_watch on ddl_command_end execute function extensions.pgrst_ddl_watch();

create function extensions.pgrst_drop_watch() returns event_trigger language plpgsql as $f$
begin
  if exists (select from pg_event_trigger_dropped_objects() o where not o.is_temporary) then
    notify pgrst, 'reload schema';
  end if;
end
$f$;
create event trigger pgrst_drop_watch on sql_drop execute function extensions.pgrst_drop_watch();
`;

/**
 * What a Supabase image has in its `postgres` database before a project uses it: run as supabase_admin
 * (so it owns what it creates, as in the image), in a session of a superuser.
 */
export function supabaseImageSql(major: Major): string {
    return `
set role supabase_admin;
create publication supabase_realtime;

create schema extensions;
create extension "uuid-ossp" with schema extensions;
create extension pgcrypto with schema extensions;
create extension pgjwt with schema extensions;
create extension pg_stat_statements with schema extensions;
grant usage on schema public to postgres, anon, authenticated, service_role;
grant usage on schema extensions to postgres, anon, authenticated, service_role;
grant all on schema extensions to dashboard_user;
alter default privileges in schema public grant all on tables to postgres, anon, authenticated, service_role;
alter default privileges in schema public grant all on functions to postgres, anon, authenticated, service_role;
alter default privileges in schema public grant all on sequences to postgres, anon, authenticated, service_role;
alter default privileges for role postgres in schema public grant all on tables to anon, authenticated, service_role;
alter default privileges for role postgres in schema public grant all on sequences to anon, authenticated, service_role;
alter default privileges for role postgres in schema public grant all on functions to anon, authenticated, service_role;

-- auth (GoTrue's tables, handed to supabase_auth_admin)
create schema auth;
grant usage on schema auth to anon, authenticated, service_role;
grant all on schema auth to supabase_auth_admin, dashboard_user, postgres;
create table auth.users (
  instance_id uuid,
  id uuid not null default gen_random_uuid() primary key,
  aud varchar(255),
  role varchar(255),
  email varchar(255),
  encrypted_password varchar(255),
  email_confirmed_at timestamptz,
  invited_at timestamptz,
  confirmation_token varchar(255),
  confirmation_sent_at timestamptz,
  recovery_token varchar(255),
  recovery_sent_at timestamptz,
  email_change_token_new varchar(255),
  email_change varchar(255),
  email_change_sent_at timestamptz,
  last_sign_in_at timestamptz,
  raw_app_meta_data jsonb,
  raw_user_meta_data jsonb,
  is_super_admin boolean,
  created_at timestamptz default now(),
  updated_at timestamptz default now(),
  phone text unique default null,
  phone_confirmed_at timestamptz,
  phone_change text default '',
  phone_change_token varchar(255) default '',
  phone_change_sent_at timestamptz,
  confirmed_at timestamptz generated always as (least(email_confirmed_at, phone_confirmed_at)) stored,
  email_change_token_current varchar(255) default '',
  email_change_confirm_status smallint default 0 check (email_change_confirm_status >= 0 and email_change_confirm_status <= 2),
  banned_until timestamptz,
  reauthentication_token varchar(255) default '',
  reauthentication_sent_at timestamptz,
  is_sso_user boolean not null default false,
  deleted_at timestamptz,
  is_anonymous boolean not null default false
);
comment on table auth.users is 'Auth: Stores user login data within a secure schema.';
create unique index users_email_partial_key on auth.users (email) where is_sso_user = false;
create index users_instance_id_idx on auth.users (instance_id);
create table auth.identities (
  provider_id text not null,
  user_id uuid not null references auth.users (id) on delete cascade,
  identity_data jsonb not null,
  provider text not null,
  last_sign_in_at timestamptz,
  created_at timestamptz,
  updated_at timestamptz,
  email text generated always as (lower(identity_data ->> 'email')) stored,
  id uuid not null default gen_random_uuid() primary key,
  unique (provider_id, provider)
);
create table auth.refresh_tokens (
  instance_id uuid,
  id bigserial primary key,
  token varchar(255) unique,
  user_id varchar(255),
  revoked boolean,
  created_at timestamptz,
  updated_at timestamptz,
  parent varchar(255)
);
create table auth.audit_log_entries (instance_id uuid, id uuid not null primary key, payload json, created_at timestamptz, ip_address varchar(64) not null default '');
create table auth.schema_migrations (version varchar(255) not null primary key);
comment on table auth.schema_migrations is 'Auth: Manages updates to the auth system.';
create function auth.uid() returns uuid language sql stable as $$
  select coalesce(nullif(current_setting('request.jwt.claim.sub', true), ''), (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub'))::uuid
$$;
create function auth.role() returns text language sql stable as $$
  select coalesce(nullif(current_setting('request.jwt.claim.role', true), ''), (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role'))::text
$$;
create function auth.email() returns text language sql stable as $$
  select coalesce(nullif(current_setting('request.jwt.claim.email', true), ''), (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'email'))::text
$$;
create function auth.jwt() returns jsonb language sql stable as $$
  select coalesce(nullif(current_setting('request.jwt.claim', true), ''), nullif(current_setting('request.jwt.claims', true), ''))::jsonb
$$;
alter table auth.users owner to supabase_auth_admin;
alter table auth.identities owner to supabase_auth_admin;
alter table auth.refresh_tokens owner to supabase_auth_admin;
alter table auth.audit_log_entries owner to supabase_auth_admin;
alter table auth.schema_migrations owner to supabase_auth_admin;
alter function auth.uid() owner to supabase_auth_admin;
alter function auth.role() owner to supabase_auth_admin;
alter function auth.email() owner to supabase_auth_admin;
alter function auth.jwt() owner to supabase_auth_admin;
grant all on all tables in schema auth to dashboard_user, postgres;
grant execute on all functions in schema auth to anon, authenticated, service_role, postgres, dashboard_user;

-- storage (Storage API's tables, handed to supabase_storage_admin; the columns storage-source.ts reads)
create schema storage;
grant usage on schema storage to postgres, anon, authenticated, service_role;
grant all on schema storage to supabase_storage_admin, dashboard_user;
alter default privileges in schema storage grant all on tables to postgres, anon, authenticated, service_role;
alter default privileges in schema storage grant all on functions to postgres, anon, authenticated, service_role;
alter default privileges in schema storage grant all on sequences to postgres, anon, authenticated, service_role;
create table storage.buckets (
  id text not null primary key,
  name text not null,
  owner uuid,
  created_at timestamptz default now(),
  updated_at timestamptz default now(),
  public boolean default false,
  avif_autodetection boolean default false,
  file_size_limit bigint,
  allowed_mime_types text[],
  owner_id text
);
comment on column storage.buckets.owner is 'Field is deprecated, use owner_id instead';
create unique index bname on storage.buckets (name);
create table storage.objects (
  id uuid not null default gen_random_uuid() primary key,
  bucket_id text references storage.buckets (id),
  name text,
  owner uuid,
  created_at timestamptz default now(),
  updated_at timestamptz default now(),
  last_accessed_at timestamptz default now(),
  metadata jsonb,
  path_tokens text[] generated always as (string_to_array(name, '/')) stored,
  version text,
  owner_id text,
  user_metadata jsonb
);
create unique index bucketid_objname on storage.objects (bucket_id, name);
create index name_prefix_search on storage.objects (name text_pattern_ops);
create table storage.migrations (
  id integer primary key,
  name varchar(100) unique not null,
  hash varchar(40) not null,
  executed_at timestamp default current_timestamp
);
alter table storage.buckets enable row level security;
alter table storage.objects enable row level security;
alter table storage.migrations enable row level security;
create function storage.foldername(name text) returns text[] language plpgsql immutable as $$
declare _parts text[];
begin
  select string_to_array(name, '/') into _parts;
  return _parts[1:array_length(_parts, 1) - 1];
end $$;
create function storage.filename(name text) returns text language plpgsql immutable as $$
declare _parts text[];
begin
  select string_to_array(name, '/') into _parts;
  return _parts[array_length(_parts, 1)];
end $$;
create function storage.extension(name text) returns text language plpgsql immutable as $$
declare _parts text[]; _filename text;
begin
  select string_to_array(name, '/') into _parts;
  select _parts[array_length(_parts, 1)] into _filename;
  return reverse(split_part(reverse(_filename), '.', 1));
end $$;
create function storage.search(prefix text, bucketname text, limits int default 100, levels int default 1, offsets int default 0)
returns table (name text, id uuid, updated_at timestamptz, created_at timestamptz, last_accessed_at timestamptz, metadata jsonb)
language sql stable as $$
  select o.name, o.id, o.updated_at, o.created_at, o.last_accessed_at, o.metadata from storage.objects o
  where o.bucket_id = bucketname and o.name like prefix || '%' order by o.name limit limits offset offsets
$$;
alter table storage.buckets owner to supabase_storage_admin;
alter table storage.objects owner to supabase_storage_admin;
alter table storage.migrations owner to supabase_storage_admin;
alter function storage.foldername(text) owner to supabase_storage_admin;
alter function storage.filename(text) owner to supabase_storage_admin;
alter function storage.extension(text) owner to supabase_storage_admin;
alter function storage.search(text, text, int, int, int) owner to supabase_storage_admin;

-- realtime
create schema realtime;
grant usage on schema realtime to postgres, anon, authenticated, service_role;
create table realtime.schema_migrations (version bigint primary key, inserted_at timestamp(0));
create table realtime.messages (
  topic text not null,
  extension text not null,
  payload jsonb,
  event text,
  private boolean default false,
  updated_at timestamp not null default now(),
  inserted_at timestamp not null default now(),
  id uuid not null default gen_random_uuid() primary key
);
alter table realtime.messages enable row level security;
alter table realtime.messages owner to supabase_realtime_admin;
grant select, insert, update on realtime.messages to postgres, anon, authenticated, service_role;

-- pgbouncer's auth lookup
create schema pgbouncer authorization pgbouncer;
create function pgbouncer.get_auth(p_usename text) returns table (username text, password text)
language plpgsql security definer as $$
begin
  raise debug 'PgBouncer auth request: %', p_usename;
  return query select usename::text, passwd::text from pg_catalog.pg_shadow where usename = p_usename;
end $$;
revoke all on function pgbouncer.get_auth(text) from public;
grant execute on function pgbouncer.get_auth(text) to pgbouncer;

-- graphql_public's placeholder until pg_graphql replaces it
create schema graphql_public;
grant usage on schema graphql_public to postgres, anon, authenticated, service_role;
alter default privileges in schema graphql_public grant all on tables to postgres, anon, authenticated, service_role;
alter default privileges in schema graphql_public grant all on functions to postgres, anon, authenticated, service_role;
alter default privileges in schema graphql_public grant all on sequences to postgres, anon, authenticated, service_role;
create function graphql_public.graphql("operationName" text default null, query text default null, variables jsonb default null, extensions jsonb default null)
  returns jsonb language sql
  as $$ select jsonb_build_object('errors', jsonb_build_array(jsonb_build_object('message', 'pg_graphql extension is not enabled.'))) $$;

${EVENT_TRIGGERS_SQL}

-- the extensions Supabase enables by default, where it puts them
create extension pg_graphql;
${major === 15 ? `create extension pgsodium;
grant pgsodium_keyiduser to postgres with admin option;
grant pgsodium_keyholder to postgres with admin option;
grant pgsodium_keymaker to postgres with admin option;
grant execute on function pgsodium.crypto_aead_det_decrypt(bytea, bytea, uuid, bytea) to service_role;
grant execute on function pgsodium.crypto_aead_det_encrypt(bytea, bytea, uuid, bytea) to service_role;
grant execute on function pgsodium.crypto_aead_det_keygen() to service_role;` : ""}
create extension supabase_vault;
grant usage on schema vault to postgres with grant option;
grant select, delete on vault.secrets, vault.decrypted_secrets to postgres with grant option;
-- the two a project enables from the dashboard (pg_net: database webhooks; pg_cron: cron jobs)
create extension pg_net with schema extensions;
create extension pg_cron with schema pg_catalog;

-- database webhooks (supabase_functions: created with pg_net)
create schema supabase_functions;
grant usage on schema supabase_functions to postgres, anon, authenticated, service_role;
grant all on schema supabase_functions to supabase_functions_admin;
create table supabase_functions.migrations (version text primary key, inserted_at timestamptz not null default now());
create table supabase_functions.hooks (
  id bigserial primary key,
  hook_table_id integer not null,
  hook_name text not null,
  created_at timestamptz not null default now(),
  request_id bigint
);
create index supabase_functions_hooks_request_id_idx on supabase_functions.hooks (request_id);
create index supabase_functions_hooks_h_table_id_h_name_idx on supabase_functions.hooks (hook_table_id, hook_name);
comment on table supabase_functions.hooks is 'Supabase Functions Hooks: Audit trail for triggered hooks.';
create function supabase_functions.http_request() returns trigger language plpgsql security definer set search_path = supabase_functions as $$
declare
  request_id bigint;
begin
  request_id := net.http_post(url := tg_argv[0], body := jsonb_build_object('type', tg_op, 'table', tg_table_name, 'schema', tg_table_schema,
                              'record', case when tg_op = 'DELETE' then null else to_jsonb(new) end,
                              'old_record', case when tg_op = 'INSERT' then null else to_jsonb(old) end));
  insert into supabase_functions.hooks (hook_table_id, hook_name, request_id) values (tg_relid, tg_name, request_id);
  return coalesce(new, old);
end $$;
alter table supabase_functions.migrations owner to supabase_functions_admin;
alter table supabase_functions.hooks owner to supabase_functions_admin;
alter function supabase_functions.http_request() owner to supabase_functions_admin;
grant all on all tables in schema supabase_functions to postgres, anon, authenticated, service_role;
reset role;

-- the CLI's migration history (created by the CLI, connected as postgres)
create schema supabase_migrations;
create table supabase_migrations.schema_migrations (version text primary key, statements text[], name text);
`;
}

/** seed.ts's public app schema (tables, RLS, policies `to authenticated`, grants, migration rows). */
function seedAppSql(): string {
    const start = SUPABASE_SCHEMA_SQL.indexOf("create table public.profiles");
    if (start < 0) throw new Error("seed.ts SUPABASE_SCHEMA_SQL changed: no `create table public.profiles`");
    return SUPABASE_SCHEMA_SQL.slice(start);
}

/** A project on the image: what its users, services and migrations put there (run as postgres). */
export function supabaseProjectSql(): string {
    return `
${seedAppSql()}
create table public.todos (
  id bigint generated by default as identity primary key,
  user_id uuid not null references auth.users (id) on delete cascade default auth.uid(),
  task text not null check (char_length(task) > 0),
  is_complete boolean not null default false,
  inserted_at timestamptz not null default timezone('utc', now())
);
alter table public.todos enable row level security;
create policy "Individuals can create todos." on public.todos for insert to authenticated with check (auth.uid() = user_id);
create policy "Individuals can view their own todos." on public.todos for select to authenticated using ((select auth.uid()) = user_id);
create trigger todos_webhook after insert on public.todos
  for each row execute function supabase_functions.http_request('https://hooks.example.org/todos');

insert into auth.schema_migrations (version) values ('20171026211738'), ('20221208132122'), ('20240612123726'), ('20241009103726');
insert into storage.migrations (id, name, hash) values
  (0, 'create-migrations-table', 'e18db593bcde2aca2a408c4d1100f6abba2195df'),
  (1, 'initialmigration', '6ab16121fbaa08bbd11b712d05f358f9b555d777'),
  (2, 'storage-schema', '5c7968fd083fcea04050c1b7f6253c9771b99011'),
  (3, 'pathtoken-column', '2cb1b0004b817b29d5b0a971af16bafeede4b70d');
insert into realtime.schema_migrations (version, inserted_at) values (20211116024918, '2024-01-01 00:00:00'), (20240618124746, '2024-07-01 00:00:00');
insert into supabase_functions.migrations (version) values ('initial'), ('20210809183423_update_grants');
insert into supabase_migrations.schema_migrations (version, name, statements) values
  ('20261201000000', 'todos', array['create table public.todos (...)']);

insert into storage.buckets (id, name, public, file_size_limit, allowed_mime_types) values
  ('avatars', 'avatars', false, 5242880, array['image/png', 'image/jpeg']),
  ('public-assets', 'public-assets', true, null, null);
insert into storage.objects (bucket_id, name, metadata, version) values
  ('public-assets', 'logo.svg', '{"eTag": "\\"5d41402abc4b2a76b9719d911017c592\\"", "size": 5, "mimetype": "image/svg+xml", "cacheControl": "max-age=3600"}', gen_random_uuid()::text),
  ('public-assets', 'docs/readme.txt', '{"eTag": "\\"7d793037a0760186574b0282f2f435e7\\"", "size": 5, "mimetype": "text/plain", "cacheControl": "no-cache"}', gen_random_uuid()::text);
create policy "Avatars are readable by their owner" on storage.objects for select to authenticated
  using (bucket_id = 'avatars' and owner_id = (select auth.uid()::text));
create policy "Avatars are uploadable by their owner" on storage.objects for insert to authenticated
  with check (bucket_id = 'avatars' and (storage.foldername(name))[1] = 'avatars');
create policy "Public assets are readable" on storage.objects for select to anon, authenticated using (bucket_id = 'public-assets');
create policy "Authenticated users receive broadcasts" on realtime.messages for select to authenticated using (true);

select vault.create_secret('sk_test_not_a_real_key', 'stripe_secret_key', 'Stripe API key for the webhooks');
select cron.schedule('purge-old-sessions', '0 3 * * *', $$delete from public.sessions where started_at < now() - interval '30 days'$$);
select net.http_get('https://status.example.org/ping');
`;
}

export interface SupabasePostgresOptions {
    major: Major;
    /**
     * "project" (default): a Supabase project (image + project data); "image": what the image has in
     * its `postgres` database before a project uses it; "roles": the server only (the stand-in
     * extensions available, the reserved roles created, the `postgres` database empty), as a canary
     * server built from a Supabase image would be.
     */
    seed?: "project" | "image" | "roles";
    /** auth.users for seed.ts's addSeedData (default 20) */
    users?: number;
    /** extra server settings (startPostgres) */
    settings?: Record<string, string>;
}

async function run(server: PgServer, sql: string, database = "postgres"): Promise<void> {
    const c = new Client({ connectionString: server.urlFor(database) });
    await c.connect();
    try {
        await c.query(sql);
    } finally {
        await c.end();
    }
}

/** A server of `major` with the stand-in extensions available, seeded as a Supabase project (or less). */
export async function startSupabasePostgres(opts: SupabasePostgresOptions): Promise<PgServer> {
    const server = await startPostgres({ major: opts.major, settings: opts.settings, extraExtensions: supabaseExtensionDirs(opts.major) });
    try {
        const seed = opts.seed ?? "project";
        await run(server, reservedRolesSql(opts.major));
        if (seed === "roles") return server;
        await run(server, supabaseImageSql(opts.major));
        if (seed === "image") return server;
        await run(server, supabaseProjectSql());
        const c = new Client({ connectionString: server.url });
        await c.connect();
        try {
            await addSeedData(c, { users: opts.users ?? 20, messagesPerUser: 3, sessionsPerUser: 1, payloadBytes: 32 });
        } finally {
            await c.end();
        }
        // per user: an avatar, an email identity, a todo (its webhook queues a pg_net request)
        await run(
            server,
            `insert into storage.objects (bucket_id, name, owner, owner_id, metadata, version)
             select 'avatars', 'avatars/' || u.id || '.png', u.id, u.id::text,
                    jsonb_build_object('eTag', '"' || md5(u.id::text) || '"', 'size', 1000 + length(u.email), 'mimetype', 'image/png', 'cacheControl', 'max-age=3600'),
                    gen_random_uuid()::text
             from auth.users u;
             insert into auth.identities (provider_id, user_id, identity_data, provider, created_at, updated_at)
             select u.id::text, u.id, jsonb_build_object('sub', u.id::text, 'email', u.email), 'email', u.created_at, u.created_at from auth.users u;
             insert into public.todos (user_id, task) select id, 'Back up ' || email from auth.users;
             analyze;`,
        );
        return server;
    } catch (e) {
        await server.stop().catch(() => undefined);
        throw e;
    }
}

/**
 * A canary server built from a Supabase image: the stand-ins available, the reserved roles created,
 * nothing in `postgres`. pg_cron can only be created in the database `cronDatabase` names (its
 * cron.database_name; default postgres, as on Supabase), so a restore of a project with pg_cron
 * succeeds only into that database.
 */
export function startSupabaseCanary(opts: { major: Major; cronDatabase?: string; settings?: Record<string, string> }): Promise<PgServer> {
    const settings = { ...opts.settings, ...(opts.cronDatabase ? { "cron.database_name": opts.cronDatabase } : {}) };
    return startSupabasePostgres({ major: opts.major, seed: "roles", settings });
}

/** A plain server of `major`: no stand-in extensions, no Supabase roles (a plain postgres image). */
export function startPlainCanary(opts: { major: Major; settings?: Record<string, string> }): Promise<PgServer> {
    return startPostgres({ major: opts.major, settings: opts.settings });
}
