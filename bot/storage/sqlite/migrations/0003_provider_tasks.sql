-- Schema 3: every task the bot asks a provider for, from the durable intent written before the
-- request leaves to how the task ended. It is what stops a lost answer or a restart from
-- sending an image to a second provider, and what an operator checks the provider's invoice
-- against.
--
-- state: intent    written before the submit; a restart settles it at that provider only
--        refused   the provider proved it made no task (never billed)
--        unknown   the answer was lost: the provider may have made and billed it
--        created   the provider has it (task_id)
--        delivered its job posted the images
--        failed, moderated, cancelled   it ended without images being posted
--        lost      its images were made but never posted (the job failed afterwards)
-- billed: 1 paid, 0 not paid (refused, or an outcome the provider does not bill), NULL in doubt.
CREATE TABLE provider_tasks (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id      INTEGER NOT NULL REFERENCES jobs (id),
    guild_id    INTEGER NOT NULL,
    provider    TEXT    NOT NULL,
    token       TEXT    NOT NULL,
    idx         INTEGER NOT NULL,
    images      INTEGER NOT NULL CHECK (images > 0),
    task_id     TEXT,
    state       TEXT    NOT NULL CHECK (state IN ('intent', 'refused', 'unknown', 'created',
                    'delivered', 'failed', 'moderated', 'cancelled', 'lost')),
    billed      INTEGER CHECK (billed IN (0, 1)),
    cost_micros INTEGER NOT NULL CHECK (cost_micros >= 0),
    reason      TEXT,
    created_at  REAL    NOT NULL,
    updated_at  REAL    NOT NULL,
    UNIQUE (token, idx)
);
CREATE INDEX provider_tasks_by_job ON provider_tasks (job_id);
CREATE INDEX provider_tasks_by_time ON provider_tasks (created_at);
