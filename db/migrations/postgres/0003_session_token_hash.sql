-- 0003_session_token_hash (PostgreSQL)
--
-- user_sessions.session_token holds the SHA-256 of the session token as 64
-- lowercase hex characters, never the token itself. Tokens stored in clear
-- before this migration are replaced by their hash (of their UTF-8 bytes), so
-- existing sessions keep working: the library hashes the token it is given and
-- looks the hash up.
--
-- No BEGIN/COMMIT here: the migration runner wraps each file in a transaction.

UPDATE user_sessions
SET session_token = encode(sha256(convert_to(session_token, 'UTF8')), 'hex');

ALTER TABLE user_sessions
    ADD CONSTRAINT user_sessions_token_is_hash CHECK (session_token ~ '^[0-9a-f]{64}$');
