-- 0016_packed_specialties (PostgreSQL; SQLite has had the same column since its
-- 0007_packed_specialties)
--
-- agents.specialties is a TEXT[]. Sending it is the dearest part of reading an
-- agent: the server's array_send calls textsend for every element of every row,
-- and the client then has to take the binary array apart. Measured on five
-- agents read in binary (the seed's "active agents", which the dashboard and the
-- API's agent list run all the time): leaving the array out made the statement
-- 1.3-1.5 us faster, against 71-83 us.
--
-- So the array is also kept packed, as on SQLite: its elements joined by U+001F,
-- the separator the library refuses inside a specialty, NULL elements left out
-- (array_to_string). The library reads specialties_packed, a plain text column;
-- specialties stays the seed's column, the one that is written and that the
-- seed's queries read.
--
-- A BEFORE trigger keeps it true rather than a generated column: a stored
-- generated column is recomputed by every UPDATE of a table that has a BEFORE
-- UPDATE row trigger (agents has update_agents_updated_at), and agents is
-- updated at every task completion (the counters of 0002 and 0007). This
-- trigger fires only when a statement writes specialties or specialties_packed,
-- and recomputes the packed text from specialties either way, so a packed value
-- written by hand cannot disagree with the array.
--
-- No BEGIN/COMMIT here: the migration runner wraps each file in a transaction.

ALTER TABLE agents ADD COLUMN specialties_packed TEXT;

CREATE FUNCTION pack_agent_specialties()
RETURNS TRIGGER AS $$
BEGIN
    NEW.specialties_packed = array_to_string(NEW.specialties, chr(31));
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER agents_pack_specialties
    BEFORE INSERT OR UPDATE OF specialties, specialties_packed ON agents
    FOR EACH ROW
    EXECUTE FUNCTION pack_agent_specialties();

-- The agents already there: packing them is bookkeeping, not an update of the
-- agent, so their updated_at stays as it was.
ALTER TABLE agents DISABLE TRIGGER update_agents_updated_at;
UPDATE agents SET specialties_packed = array_to_string(specialties, chr(31));
ALTER TABLE agents ENABLE TRIGGER update_agents_updated_at;
