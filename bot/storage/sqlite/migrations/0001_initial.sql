-- Schema 1: guild settings, jobs and their images, the credit ledger with its balances,
-- the prompt blocklist, bans, and the moderation audit log.

-- One JSON document per guild (bot.models.GuildSettings); missing fields take defaults.
CREATE TABLE guild_settings (
    guild_id   INTEGER PRIMARY KEY,
    settings   TEXT    NOT NULL,
    updated_at REAL    NOT NULL
);

-- A job's row says enough to finish it after a crash: the request, the provider
-- handle once submitted, and the Discord layer's own context (opaque to the core).
CREATE TABLE jobs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id    INTEGER NOT NULL,
    user_id     INTEGER NOT NULL,
    channel_id  INTEGER NOT NULL,
    age_restricted INTEGER NOT NULL DEFAULT 0,
    status      TEXT    NOT NULL CHECK (status IN ('queued', 'submitting', 'submitted',
                    'fetched', 'done', 'failed', 'cancelled', 'moderated')),
    request     TEXT    NOT NULL,
    hold        INTEGER NOT NULL CHECK (hold >= 0),
    provider    TEXT,
    unit_price  INTEGER,
    handle      TEXT,
    result      TEXT,
    error       TEXT,
    charged     INTEGER,
    context     TEXT    NOT NULL DEFAULT '{}',
    not_before  REAL    NOT NULL DEFAULT 0,
    created_at  REAL    NOT NULL,
    updated_at  REAL    NOT NULL,
    started_at  REAL,
    finished_at REAL
);
CREATE INDEX jobs_unfinished ON jobs (id)
    WHERE status IN ('queued', 'submitting', 'submitted', 'fetched');
CREATE INDEX jobs_by_user ON jobs (guild_id, user_id, id);

-- Images fetched from the provider and not yet delivered (deleted once delivered).
CREATE TABLE job_images (
    job_id       INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    idx          INTEGER NOT NULL,
    data         BLOB    NOT NULL,
    content_type TEXT    NOT NULL,
    width        INTEGER NOT NULL,
    height       INTEGER NOT NULL,
    nsfw         INTEGER NOT NULL,
    seed         INTEGER,
    PRIMARY KEY (job_id, idx)
);

-- The credit ledger: every movement is two or more legs (rows) sharing a movement
-- number, whose amounts sum to zero. Accounts per (guild, user): 'allowance' (one
-- bucket per UTC day), 'granted', 'held', 'spent', and 'issued' (the source of
-- allowances and grants, negative).
CREATE TABLE ledger (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    movement  INTEGER NOT NULL,
    at        REAL    NOT NULL,
    day       TEXT    NOT NULL,
    guild_id  INTEGER NOT NULL,
    user_id   INTEGER NOT NULL,
    account   TEXT    NOT NULL CHECK (account IN ('allowance', 'granted', 'held', 'spent',
                  'issued')),
    bucket    TEXT    NOT NULL DEFAULT '',
    amount    INTEGER NOT NULL,
    kind      TEXT    NOT NULL CHECK (kind IN ('allowance', 'grant', 'hold', 'settle',
                  'release')),
    job_id    INTEGER,
    provider  TEXT,
    images    INTEGER NOT NULL DEFAULT 0,
    actor_id  INTEGER,
    note      TEXT
);
CREATE INDEX ledger_by_guild_day ON ledger (guild_id, day);
CREATE INDEX ledger_by_user ON ledger (guild_id, user_id, id);
CREATE INDEX ledger_by_job ON ledger (job_id) WHERE job_id IS NOT NULL;

-- Running totals of the ledger per account, kept in the same transactions. The CHECK
-- makes an overdraft impossible even if the code had a bug.
CREATE TABLE balances (
    guild_id INTEGER NOT NULL,
    user_id  INTEGER NOT NULL,
    account  TEXT    NOT NULL,
    bucket   TEXT    NOT NULL DEFAULT '',
    amount   INTEGER NOT NULL,
    PRIMARY KEY (guild_id, user_id, account, bucket),
    CHECK (account IN ('issued', 'spent') OR amount >= 0)
) WITHOUT ROWID;

CREATE TABLE blocklist (
    guild_id   INTEGER NOT NULL,
    normalized TEXT    NOT NULL,
    phrase     TEXT    NOT NULL,
    added_by   INTEGER NOT NULL,
    added_at   REAL    NOT NULL,
    PRIMARY KEY (guild_id, normalized)
) WITHOUT ROWID;

CREATE TABLE bans (
    guild_id  INTEGER NOT NULL,
    user_id   INTEGER NOT NULL,
    reason    TEXT    NOT NULL,
    banned_by INTEGER NOT NULL,
    banned_at REAL    NOT NULL,
    PRIMARY KEY (guild_id, user_id)
) WITHOUT ROWID;

-- Who changed what, with the values before and after (JSON).
CREATE TABLE audit_log (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id INTEGER NOT NULL,
    actor_id INTEGER NOT NULL,
    action   TEXT    NOT NULL,
    before   TEXT,
    after    TEXT,
    at       REAL    NOT NULL
);
CREATE INDEX audit_by_guild ON audit_log (guild_id, id);
