-- 0015_packed_specialties_guard (SQLite only; PostgreSQL's 0016_packed_specialties
-- has the same rule from the start)
--
-- agents.specialties_packed (0007) was recomputed when specialties was
-- written, but a statement that wrote specialties_packed alone (by hand) left
-- it disagreeing with the array, and the library reads the packed column. The
-- update trigger now also fires when specialties_packed is written, and packs
-- specialties again, so the packed text is always the array's. Its own UPDATE
-- does not fire it again: SQLite's recursive_triggers is off.
--
-- No BEGIN/COMMIT here: the migration runner wraps each file in a transaction.

DROP TRIGGER agents_specialties_pack_update;

CREATE TRIGGER agents_specialties_pack_update
    AFTER UPDATE OF specialties, specialties_packed ON agents
    FOR EACH ROW
BEGIN
    UPDATE agents SET specialties_packed =
        (SELECT group_concat(value, char(31)) FROM json_each(NEW.specialties))
    WHERE id = NEW.id;
END;
