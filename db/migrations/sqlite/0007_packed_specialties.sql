-- 0007_packed_specialties (SQLite only)
--
-- agents.specialties is a JSON array of strings. Reading an agent should not
-- cost a JSON parse per row (the agents are read on every dashboard refresh and
-- by the seed's "active agents" pattern), and SQLite's json_each in a per-row
-- subquery costs more than the rest of the row. So the array is also kept packed:
-- its strings joined by U+001F, the separator the library refuses inside a
-- specialty, maintained by triggers whenever specialties is written, which is
-- rare. PostgreSQL packs TEXT[] with array_to_string at read time and needs no
-- column.
--
-- No BEGIN/COMMIT here: the migration runner wraps each file in a transaction.

ALTER TABLE agents ADD COLUMN specialties_packed TEXT;

UPDATE agents SET specialties_packed =
    (SELECT group_concat(value, char(31)) FROM json_each(agents.specialties));

CREATE TRIGGER agents_specialties_pack_insert
    AFTER INSERT ON agents
    FOR EACH ROW
BEGIN
    UPDATE agents SET specialties_packed =
        (SELECT group_concat(value, char(31)) FROM json_each(NEW.specialties))
    WHERE id = NEW.id;
END;

CREATE TRIGGER agents_specialties_pack_update
    AFTER UPDATE OF specialties ON agents
    FOR EACH ROW
BEGIN
    UPDATE agents SET specialties_packed =
        (SELECT group_concat(value, char(31)) FROM json_each(NEW.specialties))
    WHERE id = NEW.id;
END;

-- Writing the packed column is bookkeeping, not an update of the agent: the
-- updated_at trigger of 0001 is narrowed to the seed's columns (a later
-- migration that adds a column to agents must add it here too), so that an
-- INSERT keeps the updated_at it was given, as on PostgreSQL.
DROP TRIGGER update_agents_updated_at;

CREATE TRIGGER update_agents_updated_at
    AFTER UPDATE OF id, name, role, model, specialties, backstory, personality_emoji, status,
                    total_tasks_completed, total_tokens_used, average_latency_ms, success_rate,
                    created_at, updated_at, metadata
    ON agents
    FOR EACH ROW
BEGIN
    UPDATE agents SET updated_at = (CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER) * 1000) WHERE id = NEW.id;
END;
