-- Schema 5 is 0005_unknown_nsfw.sql, on another branch. This placeholder only keeps the
-- numbering without gaps on the remix15 branch: delete it when that file lands.
SELECT 1;
