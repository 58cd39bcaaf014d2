-- Schema 5: an image's NSFW verdict may be unknown (NULL: no classifier answered), and the
-- verdict records where it came from (the provider's flag, the local classifier, ...).
ALTER TABLE job_images
    ALTER COLUMN nsfw DROP NOT NULL,
    ADD COLUMN nsfw_source TEXT;
