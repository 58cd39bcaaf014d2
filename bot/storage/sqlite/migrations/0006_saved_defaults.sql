-- Schema 6: saved answers for options left out of /imagine (issue 15). One JSON document
-- (bot.models.Defaults) per member of a guild (/settings) and per channel (/mod defaults).
CREATE TABLE saved_defaults (
    guild_id   INTEGER NOT NULL,
    scope      TEXT    NOT NULL CHECK (scope IN ('member', 'channel')),
    target_id  INTEGER NOT NULL,
    defaults   TEXT    NOT NULL,
    updated_at REAL    NOT NULL,
    PRIMARY KEY (guild_id, scope, target_id)
) WITHOUT ROWID;
