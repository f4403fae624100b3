/**
 * Numbered schema migrations. The store's `PRAGMA user_version` is the number of the last one applied.
 * Append only: never edit a migration that has shipped; add the next number.
 */
export interface Migration {
  version: number
  name: string
  sql: string
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'meta',
    sql: `
      CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
      ) STRICT;
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
  },
  {
    version: 10,
    name: 'team gateways: what reports drew from each lease',
    sql: `
      -- What the draws of a team gateway's reports took from its lease, kept beside granted and returned so that
      -- what a lease holds is known without summing its draws (a lease may live for days of reports).
      ALTER TABLE remote_leases ADD COLUMN drawn_micros INTEGER NOT NULL DEFAULT 0;
    `,
  },
]

export const LATEST_SCHEMA_VERSION = MIGRATIONS.at(-1)?.version ?? 0
