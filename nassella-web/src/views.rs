//! The pages' templates (askama: checked when the crate compiles, HTML-escaped by default).

use askama::Template;

use crate::form::{Field, InstanceForm};

/// What every page's frame shows.
#[derive(Debug, Clone, Default)]
pub struct Chrome {
    /// The signed-in user's name ("" on the sign-in page).
    pub user: String,
    /// The session's CSRF token, put into every form.
    pub csrf: String,
    /// The user's tenants.
    pub tenants: Vec<String>,
    /// The tenant shown.
    pub tenant: String,
    /// The user's role in that tenant.
    pub role: String,
}

impl Chrome {
    /// May the user change things here (operator or admin)?
    #[must_use]
    pub fn can_operate(&self) -> bool {
        self.role == "operator" || self.role == "admin"
    }
    /// Is the user an admin here?
    #[must_use]
    pub fn is_admin(&self) -> bool {
        self.role == "admin"
    }
}

/// The sign-in page.
#[derive(Template)]
#[template(path = "login.html")]
pub struct Login {
    /// Frame.
    pub c: Chrome,
    /// How to sign in, in words.
    pub mode: String,
    /// Why the last attempt failed.
    pub error: String,
    /// The name typed last.
    pub username: String,
}

/// A row of the dashboard.
#[derive(Debug, Clone)]
pub struct InstanceLine {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Provider.
    pub provider: String,
    /// Status.
    pub status: String,
    /// The apps' ids.
    pub apps: String,
    /// Last change.
    pub updated: String,
}

/// A tenant's instances.
#[derive(Template)]
#[template(path = "dashboard.html")]
pub struct Dashboard {
    /// Frame.
    pub c: Chrome,
    /// The instances.
    pub instances: Vec<InstanceLine>,
}

/// The new-instance form.
#[derive(Template)]
#[template(path = "new_instance.html")]
pub struct NewInstance {
    /// Frame.
    pub c: Chrome,
    /// Name typed.
    pub name: String,
    /// Provider chosen.
    pub provider: String,
    /// What is wrong.
    pub error: String,
}

/// A job in a list.
#[derive(Debug, Clone)]
pub struct JobLine {
    /// Id.
    pub id: String,
    /// Kind.
    pub kind: String,
    /// State.
    pub state: String,
    /// Who.
    pub by: String,
    /// When.
    pub at: String,
    /// The plan's summary.
    pub summary: String,
}

/// An instance: its config form, its secrets and its jobs.
#[derive(Template)]
#[template(path = "instance.html")]
pub struct Instance {
    /// Frame.
    pub c: Chrome,
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Status.
    pub status: String,
    /// The form with problems attached.
    pub form: InstanceForm,
    /// A message after saving.
    pub notice: String,
    /// The catalog: (kind, summary).
    pub catalog: Vec<(String, String)>,
    /// The names of the secrets set.
    pub secret_names: Vec<String>,
    /// The names a secret may have, with help.
    pub secret_choices: Vec<(String, String)>,
    /// Recent jobs.
    pub jobs: Vec<JobLine>,
    /// Where the apps answer (local target), once running.
    pub addresses: Vec<String>,
}

/// One rendered file.
#[derive(Debug, Clone)]
pub struct PreviewFile {
    /// Its path on the server.
    pub path: String,
    /// Its text, secrets masked.
    pub text: String,
}

/// Every rendered file of an instance.
#[derive(Template)]
#[template(path = "preview.html")]
pub struct Preview {
    /// Frame.
    pub c: Chrome,
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Files.
    pub files: Vec<PreviewFile>,
    /// Bytes of Ignition, and the provider's limit.
    pub size: String,
    /// Problems that stop the build.
    pub errors: Vec<String>,
}

/// A job and its live log.
#[derive(Template)]
#[template(path = "job.html")]
pub struct Job {
    /// Frame.
    pub c: Chrome,
    /// The job.
    pub job: JobLine,
    /// Its instance.
    pub instance_id: i64,
    /// Its instance's name.
    pub instance: String,
}

/// A backup in the list.
#[derive(Debug, Clone)]
pub struct BackupLine {
    /// Full id.
    pub id: String,
    /// Short id.
    pub short_id: String,
    /// When.
    pub time: String,
    /// Tags.
    pub tags: String,
}

/// An instance's backups.
#[derive(Template)]
#[template(path = "backups.html")]
pub struct Backups {
    /// Frame.
    pub c: Chrome,
    /// Instance id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Snapshots.
    pub backups: Vec<BackupLine>,
    /// Why the list could not be read.
    pub error: String,
}

/// The restore confirmation, with the plan.
#[derive(Template)]
#[template(path = "restore.html")]
pub struct Restore {
    /// Frame.
    pub c: Chrome,
    /// Instance id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// The snapshot.
    pub snapshot: String,
    /// What will happen, step by step.
    pub plan: Vec<String>,
}

/// The destroy confirmation.
#[derive(Template)]
#[template(path = "destroy.html")]
pub struct Destroy {
    /// Frame.
    pub c: Chrome,
    /// Instance id.
    pub id: i64,
    /// Name to type.
    pub name: String,
    /// What is wrong.
    pub error: String,
    /// What will happen.
    pub plan: Vec<String>,
}

/// A row of the audit log.
#[derive(Debug, Clone)]
pub struct AuditLine {
    /// When.
    pub at: String,
    /// Who.
    pub who: String,
    /// What.
    pub action: String,
    /// On what.
    pub object: String,
    /// More.
    pub detail: String,
}

/// The tenant's audit log.
#[derive(Template)]
#[template(path = "audit.html")]
pub struct Audit {
    /// Frame.
    pub c: Chrome,
    /// Rows.
    pub rows: Vec<AuditLine>,
}

/// For templates: the field is of this kind.
#[must_use]
pub fn is(f: &Field, kind: &str) -> bool {
    use crate::form::FieldKind as K;
    matches!(
        (f.kind, kind),
        (K::Text, "text")
            | (K::Number, "number")
            | (K::Bool, "bool")
            | (K::Select, "select")
            | (K::Json, "json")
            | (K::Lines, "lines")
    )
}
