-- Schema 4: movement numbers come from the database. Until now a movement was numbered
-- with the id of its first leg, worked out as MAX(id) + 1, which only one writer at a time
-- can do safely. Each movement now takes the next number of this table; the numbers
-- already used are kept, so new ones follow them.
CREATE TABLE ledger_movements (
    id INTEGER PRIMARY KEY AUTOINCREMENT
);
INSERT INTO ledger_movements (id) SELECT DISTINCT movement FROM ledger ORDER BY movement;
