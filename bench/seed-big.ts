// A multi-GB Supabase-like database, seeded fast (issue 16 item 5): the same schema as the tests'
// (test/support/seed.ts SUPABASE_SCHEMA_SQL: auth.users, profiles, entitlements, sessions with random
// payloads, messages, RLS, roles) plus public.documents, a table of toasted text (4–12 KB bodies, as
// a CMS or chat-attachment table has). Fast because:
//   - every table is filled by one server-side INSERT … SELECT generate_series (no client round trips),
//     in a transaction that TRUNCATEs it first, so with wal_level=minimal (the server settings below)
//     its rows skip the WAL;
//   - foreign-key triggers are off while filling (session_replication_role = replica); the data is
//     consistent by construction;
//   - password hashes are bcrypt-shaped strings, not crypt() (1–2 ms a row: 30 min for 1 M users);
//   - independent tables fill in parallel on two connections.
// Sizes are aimed from per-row estimates; the caller tops up with growTo() if short.
import { Client } from "pg";
import { SUPABASE_SCHEMA_SQL } from "../test/support/seed";

/** Server settings that make the bulk fill skip the WAL. */
export const FAST_SEED_SETTINGS: Record<string, string> = {
    wal_level: "minimal",
    max_wal_senders: "0",
    max_wal_size: "8GB",
    shared_buffers: "256MB",
    maintenance_work_mem: "256MB",
    checkpoint_timeout: "30min",
};

const DOCUMENTS_SQL = `
create table if not exists public.documents (
  id bigserial primary key,
  owner uuid not null references auth.users(id) on delete cascade,
  title text not null,
  body text not null,
  updated_at timestamptz not null default now()
);
create index if not exists documents_owner_idx on public.documents (owner);
alter table public.documents enable row level security;
`;

async function fill(url: string, table: string, insert: string, params: unknown[]): Promise<void> {
    const c = new Client({ connectionString: url });
    await c.connect();
    try {
        await c.query("set session_replication_role = replica; set maintenance_work_mem = '256MB'");
        await c.query("begin");
        await c.query(`truncate ${table} cascade`);
        await c.query(insert, params);
        await c.query("commit");
        await c.query(`analyze ${table}`);
    } finally {
        await c.end();
    }
}

/**
 * Create the schema and fill it to roughly `bytes` (pg_database_size). Per 5 GB: ~1.07 M users,
 * 2.1 M sessions with 768 random bytes (~40 %), 4.3 M messages (~20 %), ~150 k documents of toasted
 * text (~25 %), the rest users/profiles/entitlements and indexes.
 */
export async function seedBig(url: string, bytes: number, log: (s: string) => void = () => undefined): Promise<void> {
    const users = Math.max(1000, Math.round(bytes / 5000));
    const docs = Math.max(100, Math.round((bytes * 0.25) / 8600));
    const c = new Client({ connectionString: url });
    await c.connect();
    try {
        await c.query(SUPABASE_SCHEMA_SQL);
        await c.query(DOCUMENTS_SQL);
    } finally {
        await c.end();
    }
    const t = Date.now();
    const step = async (name: string, fn: () => Promise<void>) => {
        const t0 = Date.now();
        await fn();
        log(`  ${name} in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    };
    await step(`auth.users (${users})`, () =>
        fill(
            url,
            "auth.users",
            `insert into auth.users (email, phone, encrypted_password, raw_user_meta_data, created_at)
             select 'user' || g || '.' || substr(md5(g::text), 1, 6) || '@example.org',
                    '+63917' || lpad((g % 10000000)::text, 7, '0'),
                    '$2a$10$' || substr(md5(g::text || 'salt'), 1, 22) || md5(g::text || 'hash'),
                    jsonb_build_object('name', 'User ' || g, 'locale', (array['en','fil','ja'])[1 + g % 3]),
                    now() - (g % 1000) * interval '1 hour'
             from generate_series(1, $1) g`,
            [users],
        ),
    );
    // Two connections at a time: the two cores each fill one table.
    await Promise.all([
        (async () => {
            await step("public.sessions", () =>
                fill(
                    url,
                    "public.sessions",
                    `insert into public.sessions (user_id, device, ip, payload)
                     select u.id, (array['ios','android','web'])[1 + s % 3], ('10.' || (s % 250) || '.1.' || (s % 200))::inet,
                            extensions.gen_random_bytes(768)
                     from auth.users u, generate_series(1, 2) s`,
                    [],
                ),
            );
            await step("public.profiles", () =>
                fill(
                    url,
                    "public.profiles",
                    `insert into public.profiles (id, full_name, phone, avatar_url, bio)
                     select id, raw_user_meta_data->>'name', phone, 'avatars/' || id || '.png',
                            repeat('Lorem ipsum dolor sit amet ', 1 + (abs(hashtext(email)) % 6))
                     from auth.users`,
                    [],
                ),
            );
            await step("public.entitlements", () =>
                fill(
                    url,
                    "public.entitlements",
                    `insert into public.entitlements (user_id, plan, valid_until)
                     select id, (array['free','pro','team'])[1 + abs(hashtext(email)) % 3], now() + interval '30 days' from auth.users`,
                    [],
                ),
            );
        })(),
        (async () => {
            await step("public.messages", () =>
                fill(
                    url,
                    "public.messages",
                    `with u as (select id, row_number() over () as rn from auth.users), n as (select count(*) c from u)
                     insert into public.messages (sender, recipient, body, sent_at)
                     select a.id, b.id, 'Message ' || m || ': ' || md5(a.rn::text || m) || ' ' || repeat('see you at the usual place ', 1 + m % 4),
                            now() - (a.rn % 5000) * interval '1 minute'
                     from u a, n, generate_series(1, 4) m, u b where b.rn = 1 + (a.rn + m) % n.c`,
                    [],
                ),
            );
            await step(`public.documents (${docs})`, () =>
                fill(
                    url,
                    "public.documents",
                    // 4–12 KB of text per body: hex words (half the entropy of random bytes) and prose;
                    // pglz leaves most of it uncompressed in TOAST, as real prose-with-identifiers is.
                    `with u as (select id, row_number() over () as rn from auth.users)
                     insert into public.documents (owner, title, body)
                     select u.id, 'Document ' || g,
                            (select string_agg(md5(g::text || '/' || i) || case when i % 4 = 0 then ' as agreed in the meeting, ' else ' ' end, '')
                             from generate_series(1, 100 + (g % 200)) i)
                     from generate_series(1, $1) g join u on u.rn = 1 + g % $2`,
                    [docs, users],
                ),
            );
        })(),
    ]);
    log(`  seeded in ${((Date.now() - t) / 1000).toFixed(0)} s`);
}
