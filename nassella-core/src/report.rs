//! Problems found in a stack, each attached to a path and, where known, the place it was declared.
//!
//! Validation never stops at the first problem: the composer collects every [`Problem`] into a
//! [`Report`]. Paths look like `apps.nextcloud.routes[0].host`; origins look like
//! `examples/src/family.rs:42:9` (a Rust stack) or `config/apps.config:12` (a config file).

use std::fmt;
use std::panic::Location;

/// Where an item was declared: a Rust source location or a line of a config file.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Origin {
    /// File name as the compiler or the config reader saw it.
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, when known.
    pub column: Option<u32>,
}

impl Origin {
    /// The caller's location; used by builder entry points marked `#[track_caller]`.
    #[track_caller]
    #[must_use]
    pub fn caller() -> Self {
        let loc = Location::caller();
        Self {
            file: loc.file().to_owned(),
            line: loc.line(),
            column: Some(loc.column()),
        }
    }

    /// A line in a configuration file.
    #[must_use]
    pub fn file_line(file: impl Into<String>, line: u32) -> Self {
        Self {
            file: file.into(),
            line,
            column: None,
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.column {
            Some(c) => write!(f, "{}:{}:{}", self.file, self.line, c),
            None => write!(f, "{}:{}", self.file, self.line),
        }
    }
}

/// How serious a problem is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The stack cannot be deployed.
    Error,
    /// The stack can be deployed but probably not as meant; `--strict` turns warnings into errors.
    Warning,
}

/// One problem: what is wrong, where in the stack, and where it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Error or warning.
    pub severity: Severity,
    /// Path inside the stack, e.g. `apps.cloud.routes[0].host`.
    pub path: String,
    /// Where the offending item was declared, when known.
    pub origin: Option<Origin>,
    /// What is wrong, and what is allowed.
    pub kind: crate::ProblemKind,
}

impl Problem {
    /// An error at `path`.
    #[must_use]
    pub fn error(path: impl Into<String>, kind: crate::ProblemKind) -> Self {
        Self {
            severity: Severity::Error,
            path: path.into(),
            origin: None,
            kind,
        }
    }

    /// A warning at `path`.
    #[must_use]
    pub fn warning(path: impl Into<String>, kind: crate::ProblemKind) -> Self {
        Self {
            severity: Severity::Warning,
            path: path.into(),
            origin: None,
            kind,
        }
    }

    /// Attach the place the item was declared.
    #[must_use]
    pub fn at(mut self, origin: Option<&Origin>) -> Self {
        self.origin = origin.cloned();
        self
    }
}

impl fmt::Display for Problem {
    /// One line. Control characters from the config (in a path, a file name or a quoted value)
    /// are written escaped (`\n`, `\u{1b}`), so a config cannot clear the terminal or forge
    /// another error line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut line = format!("{sev} at {}", self.path);
        if let Some(o) = &self.origin {
            line.push_str(&format!(" ({o})"));
        }
        line.push_str(&format!(": {}", self.kind));
        f.write_str(&crate::values::escape_controls(&line))
    }
}

/// The place recorded for `path` or, failing that, for its nearest recorded ancestor
/// (`apps.cloud.smtp.password_env` → `apps.cloud.smtp` → `apps.cloud`).
#[must_use]
pub fn locate_in(
    locations: &std::collections::BTreeMap<String, Origin>,
    path: &str,
) -> Option<Origin> {
    locate(locations, path).cloned()
}

pub(crate) fn locate<'a>(
    locations: &'a std::collections::BTreeMap<String, Origin>,
    path: &str,
) -> Option<&'a Origin> {
    let mut p = path;
    loop {
        if let Some(o) = locations.get(p) {
            return Some(o);
        }
        let cut = p.rfind(['.', '['])?;
        p = &p[..cut];
    }
}

/// Every problem found in one pass, errors first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    problems: Vec<Problem>,
}

impl Report {
    /// An empty report.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a problem.
    pub fn push(&mut self, p: Problem) {
        self.problems.push(p);
    }

    /// Add an error at `path`, declared at `origin`.
    pub fn error(
        &mut self,
        path: impl Into<String>,
        origin: Option<&Origin>,
        kind: crate::ProblemKind,
    ) {
        self.push(Problem::error(path, kind).at(origin));
    }

    /// Add a warning at `path`, declared at `origin`.
    pub fn warn(
        &mut self,
        path: impl Into<String>,
        origin: Option<&Origin>,
        kind: crate::ProblemKind,
    ) {
        self.push(Problem::warning(path, kind).at(origin));
    }

    /// All problems, in the order found.
    #[must_use]
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// True when some problem is an error.
    #[must_use]
    pub fn has_errors(&self) -> bool {
        self.problems.iter().any(|p| p.severity == Severity::Error)
    }

    /// True when there is nothing at all.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.problems.is_empty()
    }

    /// Turn every warning into an error (for `--strict`).
    #[must_use]
    pub fn strict(mut self) -> Self {
        for p in &mut self.problems {
            p.severity = Severity::Error;
        }
        self
    }

    /// Point every problem whose path (or an ancestor of it) has a recorded place at that place.
    pub(crate) fn locate(&mut self, locations: &std::collections::BTreeMap<String, Origin>) {
        if locations.is_empty() {
            return;
        }
        for p in &mut self.problems {
            if let Some(o) = locate(locations, &p.path) {
                p.origin = Some(o.clone());
            }
        }
    }

    /// Sort errors before warnings, keeping the order found within each, and drop repeats (an
    /// image override used by several services is one problem at `images."…"`).
    pub(crate) fn finish(&mut self) {
        self.problems.sort_by_key(|p| p.severity);
        let mut seen = std::collections::HashSet::new();
        self.problems
            .retain(|p| seen.insert((p.severity, p.path.clone(), p.kind.to_string())));
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.problems {
            writeln!(f, "{p}")?;
        }
        let errors = self
            .problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
            .count();
        let warnings = self.problems.len() - errors;
        write!(f, "{errors} error(s), {warnings} warning(s)")
    }
}

impl std::error::Error for Report {}
