//! Nassella's job system on PostgreSQL (issue 12, items 2, 5 and 6; docs/web.md, "Jobs").
//!
//! - [`pg`]: an embedded PostgreSQL cluster in a folder, for running on one machine with nothing
//!   to set up, and for tests.
//! - [`Queue`]: jobs and their logs in PostgreSQL; [`Queue::subscribe`] streams a log.
//! - [`Worker`]: claims jobs (one at a time per instance, many instances at once, across any
//!   number of replicas), heartbeats, takes over the jobs of dead replicas, and runs them through
//!   a [`Handler`].

pub mod control;
mod log;
pub mod pg;
mod queue;
pub mod terraform;
pub mod tfstate;
mod worker;

pub use log::{Log, Stream};
pub use queue::{Job, JobState, LogLine, LogStream, Queue};
pub use worker::{Handler, JobError, Outcome, Worker};
