import type pg from 'pg';

// The audit schema, one numbered step at a time. A step once released is
// never edited: a change is a new step. Steps run in one transaction under an
// advisory lock, so several guards starting together apply each step once.
const migrations: readonly { version: number; sql: string }[] = [
  {
    version: 1,
    sql: `
create table guard_audit_events (
  row_no bigint generated always as identity,
  id uuid primary key,
  stream uuid not null,
  seq bigint not null,
  version smallint not null,
  time timestamptz not null,
  type text not null,
  outcome text not null,
  actor_account text,
  actor_user_id text,
  client_ip text,
  user_agent text,
  request_id text,
  route text,
  method text,
  path text,
  status integer,
  details jsonb not null default '{}',
  prev_hash text not null,
  hash text not null,
  received_at timestamptz not null default now(),
  unique (stream, seq)
);
create index guard_audit_events_time on guard_audit_events (time);
create index guard_audit_events_type_time on guard_audit_events (type, time);
create index guard_audit_events_actor_time on guard_audit_events (actor_account, time);
create index guard_audit_events_row_no on guard_audit_events (row_no);

-- Where retention cut each stream: the last removed event, so the chain
-- can still be verified from the first event that remains.
create table guard_audit_checkpoints (
  stream uuid primary key,
  seq bigint not null,
  hash text not null,
  pruned_at timestamptz not null
);

-- Retention runs with the owner's rights, so the guard's own role needs no
-- DELETE: it may only remove whole days from the old end of each stream.
create function guard_audit_prune(keep_days integer) returns bigint
language plpgsql security definer set search_path from current as $$
declare
  cutoff timestamptz;
  removed bigint := 0;
  counted bigint;
  last record;
begin
  if keep_days is null or keep_days < 1 then
    raise exception 'keep_days must be at least 1';
  end if;
  cutoff := now() - make_interval(days => keep_days);
  for last in
    select distinct on (e.stream) e.stream, e.seq, e.hash
    from guard_audit_events e
    where e.time < cutoff
    order by e.stream, e.seq desc
  loop
    insert into guard_audit_checkpoints (stream, seq, hash, pruned_at)
    values (last.stream, last.seq, last.hash, now())
    on conflict (stream) do update
      set seq = excluded.seq, hash = excluded.hash, pruned_at = excluded.pruned_at;
    delete from guard_audit_events where stream = last.stream and seq <= last.seq;
    get diagnostics counted = row_count;
    removed := removed + counted;
  end loop;
  return removed;
end $$;
revoke all on function guard_audit_prune(integer) from public;
`,
  },
];

export const latestSchemaVersion = migrations.at(-1)?.version ?? 0;

export type MigrationResult = { applied: number[]; version: number };

export async function applyMigrations(pool: pg.Pool): Promise<MigrationResult> {
  const client = await pool.connect();
  try {
    await client.query('begin');
    await client.query("select pg_advisory_xact_lock(hashtext('ocomms-guard audit schema'))");
    await client.query(
      `create table if not exists guard_audit_schema (
         version integer primary key,
         applied_at timestamptz not null default now()
       )`,
    );
    const done = await client.query<{ version: number }>('select version from guard_audit_schema');
    const have = new Set(done.rows.map((row) => row.version));
    const applied: number[] = [];
    for (const migration of migrations) {
      if (have.has(migration.version)) continue;
      await client.query(migration.sql);
      await client.query('insert into guard_audit_schema (version) values ($1)', [
        migration.version,
      ]);
      applied.push(migration.version);
    }
    await client.query('commit');
    return { applied, version: latestSchemaVersion };
  } catch (error) {
    await client.query('rollback').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/** The schema version in the database, for a guard that may not migrate. */
export async function schemaVersion(pool: pg.Pool): Promise<number> {
  const result = await pool.query<{ version: number | null }>(
    'select max(version) as version from guard_audit_schema',
  );
  return result.rows[0]?.version ?? 0;
}
