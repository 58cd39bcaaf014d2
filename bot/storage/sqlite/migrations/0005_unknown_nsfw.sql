-- Schema 5: an image's NSFW verdict can be unknown (its provider gives no flag and the bot's
-- classifier could not judge it), and the verdict says who gave it ("provider" or "bot").
-- job_images only holds images waiting to be posted, so it is rebuilt as it is.
CREATE TABLE job_images_new (
    job_id       INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    idx          INTEGER NOT NULL,
    data         BLOB    NOT NULL,
    content_type TEXT    NOT NULL,
    width        INTEGER NOT NULL,
    height       INTEGER NOT NULL,
    nsfw         INTEGER CHECK (nsfw IN (0, 1)),
    nsfw_source  TEXT,
    seed         INTEGER,
    PRIMARY KEY (job_id, idx)
);
INSERT INTO job_images_new (job_id, idx, data, content_type, width, height, nsfw, nsfw_source, seed)
    SELECT job_id, idx, data, content_type, width, height, nsfw,
           CASE WHEN nsfw = 1 THEN 'provider' END, seed
    FROM job_images;
DROP TABLE job_images;
ALTER TABLE job_images_new RENAME TO job_images;
