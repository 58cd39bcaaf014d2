-- Schema 2: small facts the bot keeps about itself, e.g. the hash of the slash commands it
-- last synced, so commands are re-synced only when their definition changed.
CREATE TABLE bot_state (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);
