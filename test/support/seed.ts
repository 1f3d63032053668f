// A Supabase-like database: the schemas, roles, RLS and migration table a real project has, with data
// sized by `scale`. Used by the job tests, the benchmarks and the demo.
import { Client } from "pg";

export const SUPABASE_SCHEMA_SQL = `
do $$ begin
  if not exists (select 1 from pg_roles where rolname = 'anon') then create role anon nologin; end if;
  if not exists (select 1 from pg_roles where rolname = 'authenticated') then create role authenticated nologin; end if;
  if not exists (select 1 from pg_roles where rolname = 'service_role') then create role service_role nologin bypassrls; end if;
end $$;
create schema if not exists extensions;
create extension if not exists pgcrypto with schema extensions;
create extension if not exists "uuid-ossp" with schema extensions;
create schema if not exists auth;
create schema if not exists storage;
create schema if not exists supabase_migrations;

create table auth.users (
  id uuid primary key default gen_random_uuid(),
  email text unique,
  phone text,
  encrypted_password text,
  raw_user_meta_data jsonb not null default '{}',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create table storage.buckets (
  id text primary key,
  name text not null unique,
  owner uuid,
  public boolean not null default false,
  file_size_limit bigint,
  allowed_mime_types text[],
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create table storage.objects (
  id uuid primary key default gen_random_uuid(),
  bucket_id text references storage.buckets(id),
  name text,
  owner uuid,
  owner_id text,
  created_at timestamptz default now(),
  updated_at timestamptz default now(),
  last_accessed_at timestamptz default now(),
  metadata jsonb,
  user_metadata jsonb,
  version text,
  path_tokens text[] generated always as (string_to_array(name, '/')) stored,
  unique (bucket_id, name)
);
alter table storage.objects enable row level security;
alter table storage.buckets enable row level security;

create table supabase_migrations.schema_migrations (
  version text primary key,
  name text,
  statements text[]
);

create table public.profiles (
  id uuid primary key references auth.users(id) on delete cascade,
  full_name text,
  phone text,
  avatar_url text,
  bio text,
  created_at timestamptz not null default now()
);
create table public.sessions (
  id bigserial primary key,
  user_id uuid not null references auth.users(id) on delete cascade,
  device text,
  ip inet,
  started_at timestamptz not null default now(),
  payload bytea
);
create table public.entitlements (
  id bigserial primary key,
  user_id uuid not null references auth.users(id) on delete cascade,
  plan text not null check (plan in ('free','pro','team')),
  valid_until timestamptz
);
create table public.messages (
  id bigserial primary key,
  sender uuid not null references auth.users(id) on delete cascade,
  recipient uuid not null references auth.users(id) on delete cascade,
  body text not null,
  sent_at timestamptz not null default now()
);
create table public.app_version (version text primary key, deployed_at timestamptz not null default now());
create table public.audit_events (id bigserial primary key, kind text, at timestamptz default now());
create index on public.sessions (user_id);
create index on public.messages (recipient, sent_at);

alter table public.profiles enable row level security;
alter table public.sessions enable row level security;
alter table public.entitlements enable row level security;
alter table public.messages enable row level security;
create policy "own profile" on public.profiles for all to authenticated using (id = nullif(current_setting('request.jwt.claim.sub', true), '')::uuid);
create policy "own sessions" on public.sessions for select to authenticated using (user_id = nullif(current_setting('request.jwt.claim.sub', true), '')::uuid);
create policy "own entitlements" on public.entitlements for select to authenticated using (user_id = nullif(current_setting('request.jwt.claim.sub', true), '')::uuid);
create policy "own messages" on public.messages for select to authenticated using (sender = nullif(current_setting('request.jwt.claim.sub', true), '')::uuid or recipient = nullif(current_setting('request.jwt.claim.sub', true), '')::uuid);
grant usage on schema public to anon, authenticated, service_role;
grant select on all tables in schema public to authenticated;

insert into supabase_migrations.schema_migrations (version, name) values
  ('20260101000000', 'init'), ('20260315120000', 'profiles_phone'), ('20261101090000', 'messages_index');
insert into public.app_version (version) values ('2026.11.3');
`;

export interface SeedOptions {
    /** number of auth.users; profiles 1:1, entitlements 1:1, sessions and messages scale with it */
    users: number;
    messagesPerUser?: number;
    sessionsPerUser?: number;
    /** random (incompressible) bytes per session row, 0 to 1024 */
    payloadBytes?: number;
}

/** Create the schema and fill it. Data is generated server-side (generate_series): fast at GB scale. */
export async function seedSupabase(url: string, opts: SeedOptions): Promise<void> {
    const c = new Client({ connectionString: url });
    await c.connect();
    try {
        await c.query(SUPABASE_SCHEMA_SQL);
        await addSeedData(c, opts);
    } finally {
        await c.end();
    }
}

export async function addSeedData(c: Client, opts: SeedOptions): Promise<void> {
    const { users } = opts;
    const mpu = opts.messagesPerUser ?? 5;
    const spu = opts.sessionsPerUser ?? 2;
    const payload = opts.payloadBytes ?? 256;
    await c.query(
        `insert into auth.users (email, phone, encrypted_password, raw_user_meta_data)
         select 'user' || g || '.' || substr(md5(random()::text), 1, 6) || '@example.org',
                '+63917' || lpad((g % 10000000)::text, 7, '0'),
                extensions.crypt('pw' || g, extensions.gen_salt('md5')),
                jsonb_build_object('name', 'User ' || g, 'locale', (array['en','fil','ja'])[1 + g % 3])
         from generate_series(1, $1) g`,
        [users],
    );
    await c.query(
        `insert into public.profiles (id, full_name, phone, avatar_url, bio)
         select id, raw_user_meta_data->>'name', phone, 'avatars/' || id || '.png',
                repeat('Lorem ipsum dolor sit amet ', 1 + (abs(hashtext(email)) % 6))
         from auth.users u where not exists (select 1 from public.profiles p where p.id = u.id)`,
    );
    await c.query(
        `insert into public.entitlements (user_id, plan, valid_until)
         select id, (array['free','pro','team'])[1 + abs(hashtext(email)) % 3], now() + interval '30 days'
         from auth.users u where not exists (select 1 from public.entitlements e where e.user_id = u.id)`,
    );
    if (spu > 0) {
        await c.query(
            `insert into public.sessions (user_id, device, ip, payload)
             select u.id, (array['ios','android','web'])[1 + s % 3], ('10.' || (s % 250) || '.1.' || (s % 200))::inet,
                    case when $2::int > 0 then extensions.gen_random_bytes($2::int) end
             from auth.users u, generate_series(1, $1) s`,
            [spu, payload],
        );
    }
    if (mpu > 0) {
        await c.query(
            `with u as (select id, row_number() over () as rn from auth.users), n as (select count(*) c from u)
             insert into public.messages (sender, recipient, body)
             select a.id, b.id, 'Message ' || m || ': ' || md5(random()::text) || ' ' || repeat('see you at the usual place ', 1 + m % 4)
             from u a, n, generate_series(1, $1) m, u b where b.rn = 1 + (a.rn + m) % n.c`,
            [mpu],
        );
    }
    await c.query(`analyze`);
}
