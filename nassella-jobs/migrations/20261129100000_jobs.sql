-- nassella-jobs: the job queue (docs/web.md, "Jobs"). Versions 20261129100000..199999 belong to
-- this crate; the web app's migrations start at 20261129200000 in the same database.

CREATE TABLE jobs (
    id            uuid PRIMARY KEY,
    -- Queue order (created_at ties within a transaction; this does not).
    position      bigint      GENERATED ALWAYS AS IDENTITY UNIQUE,
    instance_id   uuid        NOT NULL,
    kind          text        NOT NULL,
    args          jsonb       NOT NULL DEFAULT '{}'::jsonb,
    state         text        NOT NULL DEFAULT 'queued'
                  CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    -- How many times a worker has started it (1 on the first claim; +1 per takeover).
    attempt       integer     NOT NULL DEFAULT 0,
    claimed_by    text,
    heartbeat_at  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    started_at    timestamptz,
    finished_at   timestamptz,
    outcome       jsonb,
    error         text,
    requested_by  text        NOT NULL
);

-- One running job per instance, whatever the number of replicas: the second claim of an
-- instance fails on this index instead of running beside the first.
CREATE UNIQUE INDEX jobs_one_running_per_instance ON jobs (instance_id) WHERE state = 'running';
-- What workers look for.
CREATE INDEX jobs_queued ON jobs (position) WHERE state = 'queued';
CREATE INDEX jobs_queued_by_instance ON jobs (instance_id, position) WHERE state = 'queued';
CREATE INDEX jobs_running_heartbeat ON jobs (heartbeat_at) WHERE state = 'running';
CREATE INDEX jobs_by_instance ON jobs (instance_id, created_at DESC);

-- Each start of a job by a worker, ended when that worker finishes or loses it: who ran what
-- when, and the evidence that no two ran at once.
CREATE TABLE job_attempts (
    job_id      uuid        NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    attempt     integer     NOT NULL,
    worker      text        NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    ended_at    timestamptz,
    result      text,
    PRIMARY KEY (job_id, attempt)
);

CREATE TABLE job_logs (
    job_id  uuid        NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    seq     bigint      NOT NULL,
    at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    stream  text        NOT NULL CHECK (stream IN ('stdout', 'stderr', 'system')),
    line    text        NOT NULL,
    PRIMARY KEY (job_id, seq)
);
