-- Users, sessions, API tokens and login attempts. Keep in step with
-- migrations/sqlite/0004_users.sql.
--
-- No secret is stored in a form that can be used: passwords are argon2id PHC strings; session
-- ids, CSRF tokens and API tokens are 256-bit random values stored as the hex SHA-256 of the
-- value (a fast hash is enough for values that cannot be guessed). Nothing is deleted: a
-- disabled user keeps its row (the audit log names it), an ended session and a revoked token
-- keep theirs with the time they ended.
CREATE TABLE app_user (
    id                    BIGSERIAL PRIMARY KEY,
    name                  TEXT NOT NULL UNIQUE,
    role                  TEXT NOT NULL CHECK (role IN ('admin','operator','contractor','auditor')),
    regions               TEXT NOT NULL DEFAULT '',  -- civil-code prefixes separated by spaces; '' = the whole fleet
    maintainer            TEXT,                      -- the 运维单位 a contractor stands for
    password_hash         TEXT NOT NULL,             -- argon2id PHC string
    must_change_password  BOOLEAN NOT NULL DEFAULT FALSE,
    disabled_at           BIGINT,                   -- NULL: active
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL,
    -- A contractor always stands for a maintainer; no one else does.
    CHECK ((role = 'contractor') = (maintainer IS NOT NULL))
);

CREATE TABLE app_session (
    id            BIGSERIAL PRIMARY KEY,
    token_hash    TEXT NOT NULL UNIQUE,              -- hex SHA-256 of the session id (the cookie)
    user_id       BIGINT NOT NULL REFERENCES app_user (id),
    csrf_hash     TEXT NOT NULL,                     -- hex SHA-256 of the session's CSRF token
    created_at    BIGINT NOT NULL,
    last_seen_at  BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,                  -- absolute end, whatever the activity
    ended_at      BIGINT,                           -- logout, password change, user disabled
    user_agent    TEXT,
    ip            TEXT
);
CREATE INDEX app_session_user ON app_session (user_id) WHERE ended_at IS NULL;

CREATE TABLE api_token (
    id            BIGSERIAL PRIMARY KEY,
    token_hash    TEXT NOT NULL UNIQUE,              -- hex SHA-256 of the token
    user_id       BIGINT NOT NULL REFERENCES app_user (id),
    name          TEXT NOT NULL,                     -- what it is for ("city platform")
    access        TEXT NOT NULL CHECK (access IN ('read_only','full')),
    regions       TEXT NOT NULL DEFAULT '',          -- narrows the user's scope; '' = the user's
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT,
    expires_at    BIGINT,                           -- NULL: until revoked
    revoked_at    BIGINT
);
CREATE INDEX api_token_user ON api_token (user_id);

-- Every login attempt, by the name typed (known or not): the lockout reads these.
CREATE TABLE login_attempt (
    id         BIGSERIAL PRIMARY KEY,
    user_name  TEXT NOT NULL,
    at         BIGINT NOT NULL,
    outcome    TEXT NOT NULL CHECK (outcome IN ('success','wrong_password','unknown_user','locked','disabled','unlocked')),
    ip         TEXT
);
CREATE INDEX login_attempt_name ON login_attempt (user_name, at);
