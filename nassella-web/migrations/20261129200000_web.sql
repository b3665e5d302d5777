-- nassella-web's own tables. The job queue (jobs, job_logs) belongs to nassella-jobs and has
-- its own migrations; both sets share one _sqlx_migrations table (set_ignore_missing).

-- A tenant owns instances; people reach it through memberships.
CREATE TABLE tenants (
    id          BIGSERIAL PRIMARY KEY,
    slug        TEXT NOT NULL UNIQUE CHECK (slug ~ '^[a-z][a-z0-9-]{0,30}[a-z0-9]$'),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Everyone who ever signed in. `source` says how: the embedded mode's local administrator
-- (argon2 hash in password_hash), an LDAP bind, or the forward-auth headers of a trusted proxy.
CREATE TABLE users (
    id             BIGSERIAL PRIMARY KEY,
    username       TEXT NOT NULL UNIQUE,
    email          TEXT,
    source         TEXT NOT NULL CHECK (source IN ('local', 'ldap', 'proxy')),
    password_hash  TEXT,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_login_at  TIMESTAMPTZ
);

-- Who may do what in a tenant. LDAP and proxy users get theirs from their groups at each sign-in.
CREATE TABLE memberships (
    tenant_id  BIGINT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

-- An instance: its config is the config file's structure as JSON ([instance], [backup],
-- [apps.*], [images]), built into a Stack by the CLI's own config code.
CREATE TABLE instances (
    id          BIGSERIAL PRIMARY KEY,
    tenant_id   BIGINT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name        TEXT NOT NULL CHECK (name ~ '^[a-z][a-z0-9-]{0,24}$'),
    provider    TEXT NOT NULL CHECK (provider IN ('local', 'hetzner', 'digitalocean')),
    config      JSONB NOT NULL,
    status      TEXT NOT NULL DEFAULT 'not deployed',
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name)
);
CREATE INDEX instances_tenant ON instances (tenant_id, name);

-- Values that must stay secret (master keys, cloud tokens, repository credentials), sealed with
-- XChaCha20-Poly1305 under the operator's key; the row id is the associated data, so a sealed
-- value copied onto another row does not open. Never read back into a page.
CREATE TABLE secrets (
    id           BIGINT PRIMARY KEY,
    instance_id  BIGINT NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    kind         TEXT NOT NULL CHECK (kind IN ('master_key', 'cloud_token', 'repository_credential', 'app_env')),
    name         TEXT NOT NULL,
    nonce        BYTEA NOT NULL,
    sealed       BYTEA NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (instance_id, name)
);
CREATE SEQUENCE secrets_id_seq OWNED BY secrets.id;

-- Who did what, when. Rows are only ever added.
CREATE TABLE audit_log (
    id         BIGSERIAL PRIMARY KEY,
    at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    tenant_id  BIGINT REFERENCES tenants (id) ON DELETE SET NULL,
    user_id    BIGINT REFERENCES users (id) ON DELETE SET NULL,
    username   TEXT NOT NULL,
    action     TEXT NOT NULL,
    object     TEXT NOT NULL,
    detail     JSONB NOT NULL DEFAULT '{}'::jsonb,
    remote     TEXT
);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, at DESC);
