/**
 * Numbered schema migrations, one list for both stores: each version has its SQLite text (`sql`) and its
 * PostgreSQL text (`postgres`), and both give the same tables, columns, constraints, index names and
 * trigger effects at every version (test/integration/postgres-schema.test.ts compares them).
 * A SQLite store's `PRAGMA user_version` is the number of the last one applied (src/store/db.ts); a
 * PostgreSQL database records each version in `iron_schema` (src/store/postgres-migrate.ts).
 * Append only: never edit a migration that has shipped; add the next number.
 *
 * PostgreSQL types: every SQLite INTEGER is `bigint` (money in micro-USD, counts, epoch-millisecond times),
 * except the 0/1 flags (`providers.last_test_ok`, `ledger.cost_known`, `remote_leases.metered_only`),
 * which are `integer` with the same CHECKs, so that they read back as numbers; TEXT is `text` (JSON too:
 * the audit chain hashes the exact text, which `jsonb` would not keep); BLOB is `bytea`. SQLite's
 * `INTEGER PRIMARY KEY` assigns a rowid when the insert leaves it out: where the code relies on that
 * (`ledger.seq`, `webhook_deliveries.id`) PostgreSQL has an identity column; the audit tables' seqs are
 * assigned by the code and stay plain keys.
 */
export interface Migration {
  version: number
  name: string
  /** The SQLite text: what src/store/db.ts runs. Shipped texts never change, byte for byte. */
  sql: string
}

/** A version of the schema in both dialects. */
export interface StoreMigration extends Migration {
  /** The PostgreSQL text, run by `migratePostgres` in one transaction (several statements). */
  postgres: string
}

export const MIGRATIONS: readonly StoreMigration[] = [
  {
    version: 1,
    name: 'meta',
    sql: `
      CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
      ) STRICT;
    `,
    postgres: `
      CREATE TABLE meta (
        key   text PRIMARY KEY,
        value text NOT NULL
      );
    `,
  },
  {
    version: 2,
    name: 'control plane: agents, IC tokens, providers, budgets, ledger, price overrides',
    sql: `
      CREATE TABLE agents (
        id                TEXT PRIMARY KEY,
        name              TEXT NOT NULL,
        description       TEXT NOT NULL DEFAULT '',
        project           TEXT,
        allowed_providers TEXT NOT NULL DEFAULT '[]',
        allowed_models    TEXT NOT NULL DEFAULT '[]',
        rpm_limit         INTEGER CHECK (rpm_limit IS NULL OR rpm_limit > 0),
        tpm_limit         INTEGER CHECK (tpm_limit IS NULL OR tpm_limit > 0),
        safety_policy     TEXT,
        status            TEXT NOT NULL CHECK (status IN ('active', 'suspended', 'deleted')),
        owner_id          TEXT,
        created_at        INTEGER NOT NULL,
        updated_at        INTEGER NOT NULL,
        deleted_at        INTEGER
      ) STRICT;
      -- Names are unique among agents that are not deleted; a deleted agent's history stays readable.
      CREATE UNIQUE INDEX agents_live_name ON agents (name) WHERE deleted_at IS NULL;

      CREATE TABLE ic_tokens (
        id            TEXT PRIMARY KEY,
        agent_id      TEXT NOT NULL REFERENCES agents (id),
        token_hash    TEXT NOT NULL UNIQUE,
        prefix        TEXT NOT NULL,
        created_at    INTEGER NOT NULL,
        expires_at    INTEGER,
        revoked_at    INTEGER,
        revoke_reason TEXT,
        last_used_at  INTEGER
      ) STRICT;
      -- One live token per agent.
      CREATE UNIQUE INDEX ic_tokens_one_live ON ic_tokens (agent_id) WHERE revoked_at IS NULL;

      CREATE TABLE providers (
        id              TEXT PRIMARY KEY,
        name            TEXT NOT NULL,
        kind            TEXT NOT NULL CHECK (kind IN ('openai', 'anthropic', 'openai-compatible', 'mock')),
        base_url        TEXT,
        sealed_key      BLOB,
        key_mask        TEXT,
        description     TEXT NOT NULL DEFAULT '',
        created_at      INTEGER NOT NULL,
        updated_at      INTEGER NOT NULL,
        removed_at      INTEGER,
        last_test_at    INTEGER,
        last_test_ok    INTEGER,
        last_test_note  TEXT
      ) STRICT;
      CREATE UNIQUE INDEX providers_live_name ON providers (name) WHERE removed_at IS NULL;

      -- The restrictive budget of an agent. limit_micros NULL = no limit (metered only).
      -- spent/reserved/leased are a cache of the ledger for the current period, kept in the same
      -- transaction as each ledger row and proven by iron budget check --verify. No reservation may take
      -- spent + reserved + leased above the limit; a limit lowered below spend (with --yes) refuses all.
      CREATE TABLE budgets (
        agent_id         TEXT PRIMARY KEY REFERENCES agents (id),
        limit_micros     INTEGER CHECK (limit_micros IS NULL OR limit_micros >= 0),
        period           TEXT NOT NULL CHECK (period IN ('none', 'daily', 'weekly', 'monthly')),
        timezone         TEXT NOT NULL DEFAULT 'UTC',
        on_insufficient  TEXT NOT NULL CHECK (on_insufficient IN ('reject', 'clamp')),
        alert_thresholds TEXT NOT NULL DEFAULT '[50,80,95,100]',
        period_start     INTEGER NOT NULL,
        period_end       INTEGER,
        spent_micros     INTEGER NOT NULL DEFAULT 0,
        reserved_micros  INTEGER NOT NULL DEFAULT 0,
        leased_micros    INTEGER NOT NULL DEFAULT 0,
        alerted_pct      INTEGER NOT NULL DEFAULT 0,
        created_at       INTEGER NOT NULL,
        updated_at       INTEGER NOT NULL
      ) STRICT;

      -- Every movement of money is a row (never updated, never deleted, so seq only grows). counted_at is
      -- the time a movement counts for: a commit or release counts when its reservation (or the lease it
      -- draws on) was made, so a request that spans midnight stays in one period. A gateway takes leases
      -- (lease_grant, leased_delta > 0), draws its requests' costs from them (commit rows with lease_id,
      -- spent up, leased down) and returns the rest (lease_return).
      CREATE TABLE ledger (
        seq            INTEGER PRIMARY KEY,
        agent_id       TEXT NOT NULL REFERENCES agents (id),
        kind           TEXT NOT NULL CHECK (kind IN ('reserve', 'commit', 'release', 'adjust', 'lease_grant', 'lease_return')),
        reservation_id TEXT,
        lease_id       TEXT,
        spent_delta    INTEGER NOT NULL DEFAULT 0,
        reserved_delta INTEGER NOT NULL DEFAULT 0,
        leased_delta   INTEGER NOT NULL DEFAULT 0,
        counted_at     INTEGER NOT NULL,
        at             INTEGER NOT NULL,
        holder         TEXT,
        model          TEXT,
        provider       TEXT,
        input_tokens   INTEGER,
        output_tokens  INTEGER,
        cached_tokens  INTEGER,
        cost_known     INTEGER,
        overrun_micros INTEGER,
        note           TEXT
      ) STRICT;
      CREATE INDEX ledger_agent_counted ON ledger (agent_id, counted_at);
      -- At most one opening row (reserve, lease_grant) and one closing row per reservation or lease.
      -- Draws on a lease are left out: the gateway settles each request once, and one index fewer to write
      -- per request keeps its commits small.
      CREATE UNIQUE INDEX ledger_reservation ON ledger (reservation_id, kind IN ('reserve', 'lease_grant'))
        WHERE reservation_id IS NOT NULL AND lease_id IS NULL;

      CREATE TABLE price_overrides (
        model                        TEXT PRIMARY KEY,
        provider                     TEXT NOT NULL,
        kind                         TEXT NOT NULL CHECK (kind IN ('chat', 'embedding')),
        input_micros_per_mtok        INTEGER NOT NULL CHECK (input_micros_per_mtok >= 0),
        output_micros_per_mtok       INTEGER NOT NULL CHECK (output_micros_per_mtok >= 0),
        cached_input_micros_per_mtok INTEGER,
        cache_write_micros_per_mtok  INTEGER,
        max_output_tokens            INTEGER NOT NULL CHECK (max_output_tokens > 0),
        context_window               INTEGER NOT NULL CHECK (context_window > 0),
        aliases                      TEXT NOT NULL DEFAULT '[]',
        updated_at                   INTEGER NOT NULL
      ) STRICT;
    `,
    postgres: `
      CREATE TABLE agents (
        id                text PRIMARY KEY,
        name              text NOT NULL,
        description       text NOT NULL DEFAULT '',
        project           text,
        allowed_providers text NOT NULL DEFAULT '[]',
        allowed_models    text NOT NULL DEFAULT '[]',
        rpm_limit         bigint CHECK (rpm_limit IS NULL OR rpm_limit > 0),
        tpm_limit         bigint CHECK (tpm_limit IS NULL OR tpm_limit > 0),
        safety_policy     text,
        status            text NOT NULL CHECK (status IN ('active', 'suspended', 'deleted')),
        owner_id          text,
        created_at        bigint NOT NULL,
        updated_at        bigint NOT NULL,
        deleted_at        bigint
      );
      CREATE UNIQUE INDEX agents_live_name ON agents (name) WHERE deleted_at IS NULL;

      CREATE TABLE ic_tokens (
        id            text PRIMARY KEY,
        agent_id      text NOT NULL REFERENCES agents (id),
        token_hash    text NOT NULL UNIQUE,
        prefix        text NOT NULL,
        created_at    bigint NOT NULL,
        expires_at    bigint,
        revoked_at    bigint,
        revoke_reason text,
        last_used_at  bigint
      );
      CREATE UNIQUE INDEX ic_tokens_one_live ON ic_tokens (agent_id) WHERE revoked_at IS NULL;

      CREATE TABLE providers (
        id              text PRIMARY KEY,
        name            text NOT NULL,
        kind            text NOT NULL CHECK (kind IN ('openai', 'anthropic', 'openai-compatible', 'mock')),
        base_url        text,
        sealed_key      bytea,
        key_mask        text,
        description     text NOT NULL DEFAULT '',
        created_at      bigint NOT NULL,
        updated_at      bigint NOT NULL,
        removed_at      bigint,
        last_test_at    bigint,
        last_test_ok    integer,
        last_test_note  text
      );
      CREATE UNIQUE INDEX providers_live_name ON providers (name) WHERE removed_at IS NULL;

      CREATE TABLE budgets (
        agent_id         text PRIMARY KEY REFERENCES agents (id),
        limit_micros     bigint CHECK (limit_micros IS NULL OR limit_micros >= 0),
        period           text NOT NULL CHECK (period IN ('none', 'daily', 'weekly', 'monthly')),
        timezone         text NOT NULL DEFAULT 'UTC',
        on_insufficient  text NOT NULL CHECK (on_insufficient IN ('reject', 'clamp')),
        alert_thresholds text NOT NULL DEFAULT '[50,80,95,100]',
        period_start     bigint NOT NULL,
        period_end       bigint,
        spent_micros     bigint NOT NULL DEFAULT 0,
        reserved_micros  bigint NOT NULL DEFAULT 0,
        leased_micros    bigint NOT NULL DEFAULT 0,
        alerted_pct      bigint NOT NULL DEFAULT 0,
        created_at       bigint NOT NULL,
        updated_at       bigint NOT NULL
      );

      -- seq: SQLite's rowid alias, given by the store when an insert leaves it out.
      CREATE TABLE ledger (
        seq            bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        agent_id       text NOT NULL REFERENCES agents (id),
        kind           text NOT NULL CHECK (kind IN ('reserve', 'commit', 'release', 'adjust', 'lease_grant', 'lease_return')),
        reservation_id text,
        lease_id       text,
        spent_delta    bigint NOT NULL DEFAULT 0,
        reserved_delta bigint NOT NULL DEFAULT 0,
        leased_delta   bigint NOT NULL DEFAULT 0,
        counted_at     bigint NOT NULL,
        at             bigint NOT NULL,
        holder         text,
        model          text,
        provider       text,
        input_tokens   bigint,
        output_tokens  bigint,
        cached_tokens  bigint,
        cost_known     integer,
        overrun_micros bigint,
        note           text
      );
      CREATE INDEX ledger_agent_counted ON ledger (agent_id, counted_at);
      CREATE UNIQUE INDEX ledger_reservation ON ledger (reservation_id, (kind IN ('reserve', 'lease_grant')))
        WHERE reservation_id IS NOT NULL AND lease_id IS NULL;

      CREATE TABLE price_overrides (
        model                        text PRIMARY KEY,
        provider                     text NOT NULL,
        kind                         text NOT NULL CHECK (kind IN ('chat', 'embedding')),
        input_micros_per_mtok        bigint NOT NULL CHECK (input_micros_per_mtok >= 0),
        output_micros_per_mtok       bigint NOT NULL CHECK (output_micros_per_mtok >= 0),
        cached_input_micros_per_mtok bigint,
        cache_write_micros_per_mtok  bigint,
        max_output_tokens            bigint NOT NULL CHECK (max_output_tokens > 0),
        context_window               bigint NOT NULL CHECK (context_window > 0),
        aliases                      text NOT NULL DEFAULT '[]',
        updated_at                   bigint NOT NULL
      );
    `,
  },
  {
    version: 3,
    name: 'audit trail',
    sql: `
      -- The audit trail: one append-only, hash-chained sequence of events (mutations, gateway requests,
      -- safety findings, budget alerts and leases). hash = sha256(prev_hash || canonical JSON of the event).
      -- A gateway request's event is its request record: ids, agent, model, status, tokens, cost, timings,
      -- prompt and response SHA-256; its usage row is the ledger row with reservation_id = its request id.
      CREATE TABLE audit_events (
        seq           INTEGER PRIMARY KEY,
        id            TEXT NOT NULL UNIQUE,
        at            INTEGER NOT NULL,
        actor         TEXT NOT NULL,
        action        TEXT NOT NULL,
        resource_type TEXT,
        resource_id   TEXT,
        agent_id      TEXT,
        outcome       TEXT NOT NULL,
        data          TEXT NOT NULL,
        prev_hash     TEXT NOT NULL,
        hash          TEXT NOT NULL
      ) STRICT;
      CREATE INDEX audit_agent ON audit_events (agent_id, seq) WHERE agent_id IS NOT NULL;

      -- What retention pruning removed: the pruned head's hash (the next event's prev_hash), how many
      -- events and which times, signed with a key derived from the master key.
      CREATE TABLE audit_checkpoints (
        through_seq  INTEGER PRIMARY KEY,
        head_hash    TEXT NOT NULL,
        pruned       INTEGER NOT NULL,
        first_at     INTEGER,
        last_at      INTEGER,
        created_at   INTEGER NOT NULL,
        actor        TEXT NOT NULL,
        signature    TEXT NOT NULL
      ) STRICT;

      -- Non-empty only inside \`iron audit prune\`'s transaction: the one path allowed to delete.
      CREATE TABLE audit_prune_window (through_seq INTEGER NOT NULL) STRICT;

      CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
      BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
      CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
      WHEN OLD.seq > coalesce((SELECT max(through_seq) FROM audit_prune_window), -1)
      BEGIN SELECT RAISE(ABORT, 'audit events are append-only; retention goes through iron audit prune'); END;
      CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
      BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;
      CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
      BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;
    `,
    postgres: `
      CREATE TABLE audit_events (
        seq           bigint PRIMARY KEY,
        id            text NOT NULL UNIQUE,
        at            bigint NOT NULL,
        actor         text NOT NULL,
        action        text NOT NULL,
        resource_type text,
        resource_id   text,
        agent_id      text,
        outcome       text NOT NULL,
        data          text NOT NULL,
        prev_hash     text NOT NULL,
        hash          text NOT NULL
      );
      CREATE INDEX audit_agent ON audit_events (agent_id, seq) WHERE agent_id IS NOT NULL;

      CREATE TABLE audit_checkpoints (
        through_seq  bigint PRIMARY KEY,
        head_hash    text NOT NULL,
        pruned       bigint NOT NULL,
        first_at     bigint,
        last_at      bigint,
        created_at   bigint NOT NULL,
        actor        text NOT NULL,
        signature    text NOT NULL
      );

      CREATE TABLE audit_prune_window (through_seq bigint NOT NULL);

      -- Refuses the change, with the message given as the trigger's argument (SQLite's RAISE(ABORT, …)).
      CREATE FUNCTION iron_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION USING MESSAGE = TG_ARGV[0];
      END
      $$;
      -- Deleting an event is refused unless iron audit prune's window covers it.
      CREATE FUNCTION iron_audit_events_no_delete() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF OLD.seq > coalesce((SELECT max(through_seq) FROM audit_prune_window), -1) THEN
          RAISE EXCEPTION 'audit events are append-only; retention goes through iron audit prune';
        END IF;
        RETURN OLD;
      END
      $$;
      CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
        FOR EACH ROW EXECUTE FUNCTION iron_refuse('audit events are append-only');
      CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
        FOR EACH ROW EXECUTE FUNCTION iron_audit_events_no_delete();
      CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
        FOR EACH ROW EXECUTE FUNCTION iron_refuse('audit checkpoints are append-only');
      CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
        FOR EACH ROW EXECUTE FUNCTION iron_refuse('audit checkpoints are append-only');
      -- TRUNCATE skips row triggers (SQLite has no TRUNCATE): refused as well.
      CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
        FOR EACH STATEMENT EXECUTE FUNCTION iron_refuse('audit events are append-only; retention goes through iron audit prune');
      CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
        FOR EACH STATEMENT EXECUTE FUNCTION iron_refuse('audit checkpoints are append-only');
    `,
  },
  {
    version: 4,
    name: 'lease holders: heartbeats that keep leases and reservations alive',
    sql: `
      -- A gateway (or any runtime holding budget) registers here and renews its row every few seconds.
      -- Its open leases and reservations belong to it only while expires_at is in the future: once it has
      -- passed, any process on the store may give them back (end_reason 'expired'). Never a process id
      -- or a host name: a holder in a container, another PID namespace or a zombie proves nothing by them.
      CREATE TABLE holders (
        holder      TEXT PRIMARY KEY,
        kind        TEXT NOT NULL CHECK (kind IN ('gateway')),
        host        TEXT NOT NULL,
        pid         INTEGER NOT NULL,
        started_at  INTEGER NOT NULL,
        renewed_at  INTEGER NOT NULL,
        expires_at  INTEGER NOT NULL,
        ended_at    INTEGER,
        end_reason  TEXT CHECK (end_reason IS NULL OR end_reason IN ('stopped', 'expired'))
      ) STRICT;
      CREATE INDEX holders_live ON holders (expires_at) WHERE ended_at IS NULL;
    `,
    postgres: `
      CREATE TABLE holders (
        holder      text PRIMARY KEY,
        kind        text NOT NULL CHECK (kind IN ('gateway')),
        host        text NOT NULL,
        pid         bigint NOT NULL,
        started_at  bigint NOT NULL,
        renewed_at  bigint NOT NULL,
        expires_at  bigint NOT NULL,
        ended_at    bigint,
        end_reason  text CHECK (end_reason IS NULL OR end_reason IN ('stopped', 'expired'))
      );
      CREATE INDEX holders_live ON holders (expires_at) WHERE ended_at IS NULL;
    `,
  },
  {
    version: 5,
    name: 'what gateways hold in flight, and change counters for their caches',
    sql: `
      -- The worst cases of the requests a gateway has in flight on each of its leases, written with its
      -- heartbeat: budget views report spent and in flight, never a lease's unused rest as if it were spent.
      -- A row goes when its lease is returned or reclaimed.
      CREATE TABLE lease_holds (
        lease_id    TEXT PRIMARY KEY,
        agent_id    TEXT NOT NULL,
        holder      TEXT NOT NULL,
        held_micros INTEGER NOT NULL CHECK (held_micros >= 0),
        updated_at  INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX lease_holds_agent ON lease_holds (agent_id);

      -- One counter per kind of thing a gateway caches, bumped by triggers when it changes, so that a
      -- gateway drops only what changed (a settled request elsewhere changes none of them).
      CREATE TABLE change_counters (
        domain  TEXT PRIMARY KEY,
        version INTEGER NOT NULL
      ) STRICT;
      INSERT INTO change_counters (domain, version) VALUES
        ('agents', 0), ('tokens', 0), ('providers', 0), ('prices', 0), ('budgets', 0), ('settings', 0);

      CREATE TRIGGER agents_changed_insert AFTER INSERT ON agents
      BEGIN UPDATE change_counters SET version = version + 1 WHERE domain = 'agents'; END;
      CREATE TRIGGER agents_changed_update AFTER UPDATE ON agents
      BEGIN UPDATE change_counters SET version = version + 1 WHERE domain = 'agents'; END;
      CREATE TRIGGER tokens_changed_insert AFTER INSERT ON ic_tokens
      BEGIN UPDATE change_counters SET version = version + 1 WHERE domain = 'tokens'; END;
      -- last_used_at is the gateway's own bookkeeping: it changes nothing a gateway caches.
      CREATE TRIGGER tokens_changed_update AFTER UPDATE OF token_hash, expires_at, revoked_at, agent_id ON ic_tokens
      BEGIN UPDATE change_counters SET version = version + 1 WHERE domain = 'tokens'; END;
      CREATE TRIGGER providers_changed_insert AFTER INSERT ON providers
      BEGIN UPDATE change_counters SET version = version + 1 WHERE domain = 'providers'; END;
      CREATE TRIGGER providers_changed_update AFTER UPDATE ON providers
      BEGIN UPDATE change_counters SET version = version + 1 WHERE domain = 'providers'; END;
      CREATE TRIGGER prices_changed_insert AFTER INSERT ON price_overrides
      BEGIN UPDATE change_counters SET version = version + 1 WHERE domain = 'prices'; END;
      CREATE TRIGGER prices_changed_update AFTER UPDATE ON price_overrides
      BEGIN UPDATE change_counters SET version = version + 1 WHERE domain = 'prices'; END;
      CREATE TRIGGER prices_changed_delete AFTER DELETE ON price_overrides
      BEGIN UPDATE change_counters SET version = version + 1 WHERE domain = 'prices'; END;
      -- A budget's balances move with every request; only its terms matter to a gateway.
      CREATE TRIGGER budgets_changed_insert AFTER INSERT ON budgets
      BEGIN UPDATE change_counters SET version = version + 1 WHERE domain = 'budgets'; END;
      CREATE TRIGGER budgets_changed_update AFTER UPDATE ON budgets
      WHEN OLD.limit_micros IS NOT NEW.limit_micros OR OLD.period IS NOT NEW.period OR OLD.timezone IS NOT NEW.timezone
        OR OLD.on_insufficient IS NOT NEW.on_insufficient OR OLD.period_start IS NOT NEW.period_start
      BEGIN UPDATE change_counters SET version = version + 1 WHERE domain = 'budgets'; END;
      CREATE TRIGGER settings_changed_insert AFTER INSERT ON meta
      BEGIN UPDATE change_counters SET version = version + 1 WHERE domain = 'settings'; END;
      CREATE TRIGGER settings_changed_update AFTER UPDATE ON meta
      BEGIN UPDATE change_counters SET version = version + 1 WHERE domain = 'settings'; END;
    `,
    postgres: `
      CREATE TABLE lease_holds (
        lease_id    text PRIMARY KEY,
        agent_id    text NOT NULL,
        holder      text NOT NULL,
        held_micros bigint NOT NULL CHECK (held_micros >= 0),
        updated_at  bigint NOT NULL
      );
      CREATE INDEX lease_holds_agent ON lease_holds (agent_id);

      CREATE TABLE change_counters (
        domain  text PRIMARY KEY,
        version bigint NOT NULL
      );
      INSERT INTO change_counters (domain, version) VALUES
        ('agents', 0), ('tokens', 0), ('providers', 0), ('prices', 0), ('budgets', 0), ('settings', 0);

      -- Bumps the counter named by the trigger's argument (once per row, as SQLite's triggers do) and tells
      -- listeners on the channel iron_changes which one, when the transaction commits.
      CREATE FUNCTION iron_bump() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        UPDATE change_counters SET version = version + 1 WHERE domain = TG_ARGV[0];
        PERFORM pg_notify('iron_changes', TG_ARGV[0]);
        RETURN NULL;
      END
      $$;
      CREATE TRIGGER agents_changed_insert AFTER INSERT ON agents
        FOR EACH ROW EXECUTE FUNCTION iron_bump('agents');
      CREATE TRIGGER agents_changed_update AFTER UPDATE ON agents
        FOR EACH ROW EXECUTE FUNCTION iron_bump('agents');
      CREATE TRIGGER tokens_changed_insert AFTER INSERT ON ic_tokens
        FOR EACH ROW EXECUTE FUNCTION iron_bump('tokens');
      -- last_used_at is the gateway's own bookkeeping: it changes nothing a gateway caches.
      CREATE TRIGGER tokens_changed_update AFTER UPDATE OF token_hash, expires_at, revoked_at, agent_id ON ic_tokens
        FOR EACH ROW EXECUTE FUNCTION iron_bump('tokens');
      CREATE TRIGGER providers_changed_insert AFTER INSERT ON providers
        FOR EACH ROW EXECUTE FUNCTION iron_bump('providers');
      CREATE TRIGGER providers_changed_update AFTER UPDATE ON providers
        FOR EACH ROW EXECUTE FUNCTION iron_bump('providers');
      CREATE TRIGGER prices_changed_insert AFTER INSERT ON price_overrides
        FOR EACH ROW EXECUTE FUNCTION iron_bump('prices');
      CREATE TRIGGER prices_changed_update AFTER UPDATE ON price_overrides
        FOR EACH ROW EXECUTE FUNCTION iron_bump('prices');
      CREATE TRIGGER prices_changed_delete AFTER DELETE ON price_overrides
        FOR EACH ROW EXECUTE FUNCTION iron_bump('prices');
      -- A budget's balances move with every request; only its terms matter to a gateway.
      CREATE TRIGGER budgets_changed_insert AFTER INSERT ON budgets
        FOR EACH ROW EXECUTE FUNCTION iron_bump('budgets');
      CREATE TRIGGER budgets_changed_update AFTER UPDATE ON budgets
        FOR EACH ROW
        WHEN (OLD.limit_micros IS DISTINCT FROM NEW.limit_micros OR OLD.period IS DISTINCT FROM NEW.period
          OR OLD.timezone IS DISTINCT FROM NEW.timezone OR OLD.on_insufficient IS DISTINCT FROM NEW.on_insufficient
          OR OLD.period_start IS DISTINCT FROM NEW.period_start)
        EXECUTE FUNCTION iron_bump('budgets');
      CREATE TRIGGER settings_changed_insert AFTER INSERT ON meta
        FOR EACH ROW EXECUTE FUNCTION iron_bump('settings');
      CREATE TRIGGER settings_changed_update AFTER UPDATE ON meta
        FOR EACH ROW EXECUTE FUNCTION iron_bump('settings');
    `,
  },
  {
    version: 6,
    name: 'run tokens: IC tokens that live as long as an `iron run`',
    sql: `
      -- An agent's own token is kind 'agent': one live at a time, as before. iron run mints tokens of
      -- kind 'run' beside it: short-lived, renewed while the run lasts, revoked when it ends.
      ALTER TABLE ic_tokens ADD COLUMN kind TEXT NOT NULL DEFAULT 'agent' CHECK (kind IN ('agent', 'run'));
      DROP INDEX ic_tokens_one_live;
      CREATE UNIQUE INDEX ic_tokens_one_live ON ic_tokens (agent_id) WHERE revoked_at IS NULL AND kind = 'agent';
    `,
    postgres: `
      ALTER TABLE ic_tokens ADD COLUMN kind text NOT NULL DEFAULT 'agent' CHECK (kind IN ('agent', 'run'));
      DROP INDEX ic_tokens_one_live;
      CREATE UNIQUE INDEX ic_tokens_one_live ON ic_tokens (agent_id) WHERE revoked_at IS NULL AND kind = 'agent';
    `,
  },
  {
    version: 7,
    name: 'team mode: users, sessions, API tokens, budget change requests, login limits, webhook deliveries',
    sql: `
      -- People of iron serve. password_hash is scrypt in PHC-like text (scrypt$N$r$p$salt$hash, base64);
      -- failed_logins and locked_until lock an account after repeated failures. Names are unique among
      -- users that are not deleted.
      CREATE TABLE users (
        id                  TEXT PRIMARY KEY,
        name                TEXT NOT NULL,
        display_name        TEXT NOT NULL DEFAULT '',
        email               TEXT,
        role                TEXT NOT NULL CHECK (role IN ('admin', 'user', 'viewer')),
        status              TEXT NOT NULL CHECK (status IN ('active', 'suspended', 'deleted')),
        password_hash       TEXT,
        password_changed_at INTEGER,
        failed_logins       INTEGER NOT NULL DEFAULT 0,
        locked_until        INTEGER,
        last_login_at       INTEGER,
        created_at          INTEGER NOT NULL,
        updated_at          INTEGER NOT NULL,
        deleted_at          INTEGER
      ) STRICT;
      CREATE UNIQUE INDEX users_live_name ON users (name) WHERE deleted_at IS NULL;

      -- Login sessions (iron_st_ secrets, stored as SHA-256): opaque, expiring, revocable.
      CREATE TABLE sessions (
        id           TEXT PRIMARY KEY,
        user_id      TEXT NOT NULL REFERENCES users (id),
        token_hash   TEXT NOT NULL UNIQUE,
        prefix       TEXT NOT NULL,
        created_at   INTEGER NOT NULL,
        expires_at   INTEGER NOT NULL,
        last_used_at INTEGER,
        revoked_at   INTEGER,
        ip           TEXT,
        user_agent   TEXT
      ) STRICT;
      CREATE INDEX sessions_user ON sessions (user_id);

      -- API tokens (iron_at_) for automation: each acts as its user, with at most the user's role.
      CREATE TABLE api_tokens (
        id           TEXT PRIMARY KEY,
        user_id      TEXT NOT NULL REFERENCES users (id),
        name         TEXT NOT NULL,
        role         TEXT NOT NULL CHECK (role IN ('admin', 'user', 'viewer')),
        token_hash   TEXT NOT NULL UNIQUE,
        prefix       TEXT NOT NULL,
        created_at   INTEGER NOT NULL,
        expires_at   INTEGER,
        last_used_at INTEGER,
        revoked_at   INTEGER
      ) STRICT;
      CREATE INDEX api_tokens_user ON api_tokens (user_id);

      -- Budget change requests: pending, then approved, rejected or cancelled, once.
      CREATE TABLE budget_requests (
        id                    TEXT PRIMARY KEY,
        agent_id              TEXT NOT NULL REFERENCES agents (id),
        requested_by          TEXT NOT NULL,
        limit_micros          INTEGER CHECK (limit_micros IS NULL OR limit_micros >= 0),
        previous_limit_micros INTEGER,
        reason                TEXT NOT NULL,
        status                TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'cancelled')),
        decided_by            TEXT,
        decided_at            INTEGER,
        decision_note         TEXT,
        created_at            INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX budget_requests_agent ON budget_requests (agent_id, created_at);
      CREATE INDEX budget_requests_status ON budget_requests (status, created_at);

      -- The highest limit an agent's owner (a user, not an admin) may set: what an admin set or approved.
      -- NULL: no cap (as a NULL limit is no limit). Existing budgets' limits were set by their store's owner.
      ALTER TABLE budgets ADD COLUMN granted_limit_micros INTEGER;
      UPDATE budgets SET granted_limit_micros = limit_micros;

      -- Rate limits that must hold across processes (logins per IP and per account): GCRA state, the
      -- theoretical arrival time of the next allowed attempt.
      CREATE TABLE rate_limits (
        key    TEXT PRIMARY KEY,
        tat_ms INTEGER NOT NULL
      ) STRICT, WITHOUT ROWID;

      -- Alert webhooks waiting to be delivered or retried; a failing receiver never holds up a request.
      CREATE TABLE webhook_deliveries (
        id              INTEGER PRIMARY KEY,
        event_id        TEXT NOT NULL,
        url             TEXT NOT NULL,
        payload         TEXT NOT NULL,
        status          TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL,
        last_error      TEXT,
        created_at      INTEGER NOT NULL,
        delivered_at    INTEGER
      ) STRICT;
      CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
    `,
    postgres: `
      CREATE TABLE users (
        id                  text PRIMARY KEY,
        name                text NOT NULL,
        display_name        text NOT NULL DEFAULT '',
        email               text,
        role                text NOT NULL CHECK (role IN ('admin', 'user', 'viewer')),
        status              text NOT NULL CHECK (status IN ('active', 'suspended', 'deleted')),
        password_hash       text,
        password_changed_at bigint,
        failed_logins       bigint NOT NULL DEFAULT 0,
        locked_until        bigint,
        last_login_at       bigint,
        created_at          bigint NOT NULL,
        updated_at          bigint NOT NULL,
        deleted_at          bigint
      );
      CREATE UNIQUE INDEX users_live_name ON users (name) WHERE deleted_at IS NULL;

      CREATE TABLE sessions (
        id           text PRIMARY KEY,
        user_id      text NOT NULL REFERENCES users (id),
        token_hash   text NOT NULL UNIQUE,
        prefix       text NOT NULL,
        created_at   bigint NOT NULL,
        expires_at   bigint NOT NULL,
        last_used_at bigint,
        revoked_at   bigint,
        ip           text,
        user_agent   text
      );
      CREATE INDEX sessions_user ON sessions (user_id);

      CREATE TABLE api_tokens (
        id           text PRIMARY KEY,
        user_id      text NOT NULL REFERENCES users (id),
        name         text NOT NULL,
        role         text NOT NULL CHECK (role IN ('admin', 'user', 'viewer')),
        token_hash   text NOT NULL UNIQUE,
        prefix       text NOT NULL,
        created_at   bigint NOT NULL,
        expires_at   bigint,
        last_used_at bigint,
        revoked_at   bigint
      );
      CREATE INDEX api_tokens_user ON api_tokens (user_id);

      CREATE TABLE budget_requests (
        id                    text PRIMARY KEY,
        agent_id              text NOT NULL REFERENCES agents (id),
        requested_by          text NOT NULL,
        limit_micros          bigint CHECK (limit_micros IS NULL OR limit_micros >= 0),
        previous_limit_micros bigint,
        reason                text NOT NULL,
        status                text NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'cancelled')),
        decided_by            text,
        decided_at            bigint,
        decision_note         text,
        created_at            bigint NOT NULL
      );
      CREATE INDEX budget_requests_agent ON budget_requests (agent_id, created_at);
      CREATE INDEX budget_requests_status ON budget_requests (status, created_at);

      ALTER TABLE budgets ADD COLUMN granted_limit_micros bigint;
      UPDATE budgets SET granted_limit_micros = limit_micros;

      CREATE TABLE rate_limits (
        key    text PRIMARY KEY,
        tat_ms bigint NOT NULL
      );

      -- id: SQLite's rowid alias, given by the store when an insert leaves it out.
      CREATE TABLE webhook_deliveries (
        id              bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        event_id        text NOT NULL,
        url             text NOT NULL,
        payload         text NOT NULL,
        status          text NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
        attempts        bigint NOT NULL DEFAULT 0,
        next_attempt_at bigint NOT NULL,
        last_error      text,
        created_at      bigint NOT NULL,
        delivered_at    bigint
      );
      CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
    `,
  },
  {
    version: 8,
    name: 'team gateways: leases held over the lease protocol, and the requests they reported',
    sql: `
      -- Leases lent to team gateways by iron serve (the lease protocol, SPEC §6). The money is in the ledger
      -- (the lease's rows, as for a local gateway); this is the protocol's side: which gateway holds it (its
      -- runtime id and host, the IC token that took it), the terms it was taken under, until when (each
      -- report renews it) and how it ended. metered_only: the agent had no limit, so nothing was lent and
      -- draws go to the budget directly. return_spent_micros: what the gateway said it had spent when it
      -- gave the lease back before all of it was reported; that much stays held until the reports arrive.
      CREATE TABLE remote_leases (
        lease_id            TEXT PRIMARY KEY,
        agent_id            TEXT NOT NULL REFERENCES agents (id),
        token_id            TEXT NOT NULL,
        runtime_id          TEXT NOT NULL,
        runtime_version     TEXT NOT NULL,
        host                TEXT,
        metered_only        INTEGER NOT NULL CHECK (metered_only IN (0, 1)),
        counted_at          INTEGER NOT NULL,
        limit_micros        INTEGER,
        period_end          INTEGER,
        granted_micros      INTEGER NOT NULL DEFAULT 0,
        reported_micros     INTEGER NOT NULL DEFAULT 0,
        returned_micros     INTEGER NOT NULL DEFAULT 0,
        return_spent_micros INTEGER,
        created_at          INTEGER NOT NULL,
        renewed_at          INTEGER NOT NULL,
        expires_at          INTEGER NOT NULL,
        closed_at           INTEGER,
        close_reason        TEXT CHECK (close_reason IN
          ('returned', 'expired', 'token_revoked', 'agent_suspended', 'agent_deleted', 'limit_changed'))
      ) STRICT;
      -- One open lease per agent and gateway: a retried handshake finds the lease it already has.
      CREATE UNIQUE INDEX remote_leases_holder ON remote_leases (agent_id, runtime_id) WHERE closed_at IS NULL;
      CREATE INDEX remote_leases_expiry ON remote_leases (expires_at) WHERE closed_at IS NULL;

      -- Every request a team gateway reported, once: a replayed or duplicated report skips what is here
      -- (SPEC §6: request_id makes replays harmless), in the transaction that charges it.
      CREATE TABLE reported_requests (
        request_id     TEXT PRIMARY KEY,
        lease_id       TEXT NOT NULL,
        charged_micros INTEGER,
        reported_at    INTEGER NOT NULL
      ) STRICT, WITHOUT ROWID;
    `,
    postgres: `
      CREATE TABLE remote_leases (
        lease_id            text PRIMARY KEY,
        agent_id            text NOT NULL REFERENCES agents (id),
        token_id            text NOT NULL,
        runtime_id          text NOT NULL,
        runtime_version     text NOT NULL,
        host                text,
        metered_only        integer NOT NULL CHECK (metered_only IN (0, 1)),
        counted_at          bigint NOT NULL,
        limit_micros        bigint,
        period_end          bigint,
        granted_micros      bigint NOT NULL DEFAULT 0,
        reported_micros     bigint NOT NULL DEFAULT 0,
        returned_micros     bigint NOT NULL DEFAULT 0,
        return_spent_micros bigint,
        created_at          bigint NOT NULL,
        renewed_at          bigint NOT NULL,
        expires_at          bigint NOT NULL,
        closed_at           bigint,
        close_reason        text CHECK (close_reason IN
          ('returned', 'expired', 'token_revoked', 'agent_suspended', 'agent_deleted', 'limit_changed'))
      );
      CREATE UNIQUE INDEX remote_leases_holder ON remote_leases (agent_id, runtime_id) WHERE closed_at IS NULL;
      CREATE INDEX remote_leases_expiry ON remote_leases (expires_at) WHERE closed_at IS NULL;

      CREATE TABLE reported_requests (
        request_id     text PRIMARY KEY,
        lease_id       text NOT NULL,
        charged_micros bigint,
        reported_at    bigint NOT NULL
      );
    `,
  },
  {
    version: 9,
    name: "team gateways: a lease's report key and the IC tokens that shook hands onto it",
    sql: `
      -- What a team gateway may also report and return its lease with (SHA-256 of a random key it keeps in its
      -- outbox, never an IC token): after a crash it replays its reports before any agent comes back with a
      -- token. The newest handshake's key wins.
      ALTER TABLE remote_leases ADD COLUMN report_key_hash TEXT;

      -- Every IC token that shook hands onto a lease: when any of them is revoked or expires, the next report
      -- says the lease is revoked (token_revoked), and the gateway shakes hands again for each token.
      CREATE TABLE remote_lease_tokens (
        lease_id TEXT NOT NULL,
        token_id TEXT NOT NULL,
        PRIMARY KEY (lease_id, token_id)
      ) STRICT, WITHOUT ROWID;
    `,
    postgres: `
      ALTER TABLE remote_leases ADD COLUMN report_key_hash text;

      CREATE TABLE remote_lease_tokens (
        lease_id text NOT NULL,
        token_id text NOT NULL,
        PRIMARY KEY (lease_id, token_id)
      );
    `,
  },
  {
    version: 10,
    name: 'team gateways: what reports drew from each lease',
    sql: `
      -- What the draws of a team gateway's reports took from its lease, kept beside granted and returned so that
      -- what a lease holds is known without summing its draws (a lease may live for days of reports).
      ALTER TABLE remote_leases ADD COLUMN drawn_micros INTEGER NOT NULL DEFAULT 0;
    `,
    postgres: `
      ALTER TABLE remote_leases ADD COLUMN drawn_micros bigint NOT NULL DEFAULT 0;
    `,
  },
]

export const LATEST_SCHEMA_VERSION = MIGRATIONS.at(-1)?.version ?? 0
