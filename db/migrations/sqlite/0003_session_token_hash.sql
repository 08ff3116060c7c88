-- 0003_session_token_hash (SQLite)
--
-- user_sessions.session_token holds the SHA-256 of the session token as 64
-- lowercase hex characters, never the token itself. Tokens stored in clear
-- before this migration are replaced by their hash (of their UTF-8 bytes).
--
-- tia_sha256(text) -> lowercase hex is an SQL function the library registers
-- on every connection before it runs migrations; it is not built into SQLite,
-- so this file cannot be run by the sqlite3 shell as it is.
--
-- SQLite cannot add a CHECK to an existing table: the CHECK
-- user_sessions_token_is_hash is a pair of BEFORE triggers failing with
-- 'CHECK constraint failed: user_sessions_token_is_hash', as on PostgreSQL
-- (session_token ~ '^[0-9a-f]{64}$').
--
-- No BEGIN/COMMIT here: the migration runner wraps each file in a transaction.

CREATE TRIGGER user_sessions_token_is_hash_insert
    BEFORE INSERT ON user_sessions
    FOR EACH ROW
    WHEN NEW.session_token IS NOT NULL
     AND NOT (typeof(NEW.session_token) = 'text'
              AND length(NEW.session_token) = 64
              AND NEW.session_token NOT GLOB '*[^0-9a-f]*')
BEGIN
    SELECT RAISE(ABORT, 'CHECK constraint failed: user_sessions_token_is_hash');
END;

CREATE TRIGGER user_sessions_token_is_hash_update
    BEFORE UPDATE OF session_token ON user_sessions
    FOR EACH ROW
    WHEN NEW.session_token IS NOT NULL
     AND NOT (typeof(NEW.session_token) = 'text'
              AND length(NEW.session_token) = 64
              AND NEW.session_token NOT GLOB '*[^0-9a-f]*')
BEGIN
    SELECT RAISE(ABORT, 'CHECK constraint failed: user_sessions_token_is_hash');
END;

-- After the triggers, so that every hash written is checked too.
UPDATE user_sessions
SET session_token = tia_sha256(session_token);
