//! Paperless-ngx: a document archive that OCRs, indexes and tags scanned paper.
//!
//! Deploys, per app id:
//!
//! - `webserver`: [`IMAGE`] on port 8000, the only service behind the proxy (web server,
//!   consumer, Celery worker and scheduler in one container). Volumes: `data` at
//!   `/usr/src/paperless/data` (search index, classifier, logs) and `media` at
//!   `/usr/src/paperless/media` (the originals and archived PDFs: **the valuable part**).
//! - `db`: [`POSTGRES_IMAGE`], volume at `/var/lib/postgresql` (Postgres ≥ 18).
//! - `broker`: [`VALKEY_IMAGE`], Celery's queue; its `broker` volume survives restarts but is left
//!   out of backups (see below).
//! - With `office_documents`: `gotenberg` ([`GOTENBERG_IMAGE`], JavaScript off, local files only,
//!   as upstream's compose) and `tika` ([`TIKA_IMAGE`]) to read Word/Excel/e-mail files. Both
//!   keep nothing.
//!
//! Everything but `webserver`'s outside access sits on the internal `backend` network; the
//! webserver reaches the internet (mail fetching, OCR language packs) through the proxy network.
//!
//! - `PAPERLESS_URL` is the public URL: Paperless derives `ALLOWED_HOSTS`, CSRF and CORS from it.
//!   `PAPERLESS_PROXY_SSL_HEADER` makes it trust Caddy's `X-Forwarded-Proto`, so it knows
//!   requests came in over HTTPS (secure cookies, CSRF checks).
//! - `PAPERLESS_SECRET_KEY` (required since v3) is a derived secret: 64 random bytes, unpadded
//!   base64url (what Python's `secrets.token_urlsafe(64)` makes).
//! - The administrator `admin_user` is created at start if missing (the password is the derived
//!   secret `admin-password`); Paperless never changes an existing user from the environment.
//! - Websockets (`/ws/status/`, live consumption progress) go through the default route.
//! - Backups: before the apps stop, `pg_dump --format=custom` writes `/dump/paperless.pgdump`
//!   into the backed-up `db-dump` volume. `document_exporter` is not used: it would store a
//!   second copy of every document on the same volume.
//!
//! Sources (`reference/apps.md` §7 and §X): github.com/paperless-ngx/paperless-ngx
//! `docker/compose/docker-compose.postgres-tika.yml` (services, volumes, Gotenberg flags),
//! `docker/compose/docker-compose.env`, `Dockerfile` (bundled OCR languages, HEALTHCHECK),
//! `docs/configuration.md` (`PAPERLESS_URL`, `PAPERLESS_PROXY_SSL_HEADER`, `PAPERLESS_SECRET_KEY`,
//! `PAPERLESS_ADMIN_*`, `PAPERLESS_OCR_LANGUAGE(S)`, Tika settings), `docs/administration.md`
//! (exporter, backups); paperless-ngx#13755 (Tika pinned to 3.3.1 because Tika 4 dropped the
//! endpoints the client uses); docker-library/docs `postgres/content.md` (Postgres ≥ 18 path).

use crate::blocks::postgres::Postgres;
use crate::blocks::redis::Redis;
use crate::catalog_app;
use nassella_core::{
    App, AppContext, Contribution, Network, Route, Secret, SecretFormat, Service, SettingProblem,
    Upstream, Volume,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The Paperless-ngx image: an exact release. Paperless migrates its database on start and
/// cannot go back (see docs/apps/paperless.md).
pub const IMAGE: &str = "ghcr.io/paperless-ngx/paperless-ngx:3.1.3";
/// The database image: Postgres 18 (upstream's compose), following its minor releases.
pub const POSTGRES_IMAGE: &str = "postgres:18-alpine";
/// The Celery broker: Valkey 9 (upstream's compose), following its minor releases.
pub const VALKEY_IMAGE: &str = "docker.io/valkey/valkey:9-alpine";
/// Converts office documents to PDF (with `office_documents`).
pub const GOTENBERG_IMAGE: &str = "docker.io/gotenberg/gotenberg:8.37";
/// Extracts text from office documents and e-mails (with `office_documents`). Tika 4 removed
/// the endpoints Paperless uses, so this stays on 3.x.
pub const TIKA_IMAGE: &str = "docker.io/apache/tika:3.3.1.0";

/// Paperless' HTTP port.
pub const HTTP_PORT: u16 = 8000;

/// Database name and user.
const DB: &str = "paperless";
/// OCR languages the image ships; others are installed at start (`PAPERLESS_OCR_LANGUAGES`).
const BUNDLED_OCR: [&str; 5] = ["eng", "deu", "fra", "ita", "spa"];

/// Settings of a Paperless-ngx app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Paperless {
    /// The public hostname, e.g. `docs.example.com`.
    pub host: String,
    /// The administrator created at start if missing (default `admin`): letters, digits and
    /// `@ . + - _`. Its password is the derived secret `admin-password`.
    #[serde(default = "default_admin_user")]
    #[schemars(regex(pattern = r"^[A-Za-z0-9@.+_-]{1,150}$"))]
    pub admin_user: String,
    /// Tesseract language(s) for OCR, joined by `+` (default `eng`; e.g. `deu+eng`). `eng`,
    /// `deu`, `fra`, `ita` and `spa` are in the image; others are installed at every start.
    #[serde(default = "default_ocr_language")]
    #[schemars(regex(pattern = r"^[a-z_]{3,}(\+[a-z_]{3,})*$"))]
    pub ocr_language: String,
    /// Read Word, Excel, PowerPoint and e-mail files too (default false): adds Gotenberg and
    /// Tika, about 1 GiB more memory.
    #[serde(default)]
    pub office_documents: bool,
}

fn default_admin_user() -> String {
    "admin".into()
}

fn default_ocr_language() -> String {
    "eng".into()
}

/// Why `name` cannot be Paperless' administrator (Django's user name rule), if it cannot.
fn admin_user_problem(name: &str) -> Option<String> {
    crate::blocks::user_name::user_name_problem(
        "admin_user",
        name,
        150,
        crate::blocks::user_name::Letters::Any,
        "@.+-_",
    )
}

/// Why `langs` is not a Tesseract language list, if it is not.
fn ocr_language_problem(langs: &str) -> Option<String> {
    let ok = langs
        .split('+')
        .all(|l| l.len() >= 3 && l.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
    (!ok).then(|| {
        format!(
            "ocr_language `{langs}` must be Tesseract language codes joined by '+', e.g. `eng` or `deu+eng`"
        )
    })
}

impl Paperless {
    /// Serve Paperless at `host`: administrator `admin`, English OCR, no office documents.
    #[must_use]
    pub fn new(host: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            admin_user: default_admin_user(),
            ocr_language: default_ocr_language(),
            office_documents: false,
        }
    }


    /// The administrator created if missing.
    #[must_use]
    pub fn admin_user(mut self, name: impl Into<String>) -> Self {
        self.admin_user = name.into();
        self
    }

    /// The OCR language(s), e.g. `deu+eng`.
    #[must_use]
    pub fn ocr_language(mut self, langs: impl Into<String>) -> Self {
        self.ocr_language = langs.into();
        self
    }

    /// Add Gotenberg and Tika for office documents and e-mails.
    #[must_use]
    pub fn office_documents(mut self, enabled: bool) -> Self {
        self.office_documents = enabled;
        self
    }
}

#[catalog_app(
    kind = "paperless",
    summary = "A document archive with OCR and full-text search (Paperless-ngx with Postgres)",
    example = Self::new("docs.example.com")
)]
impl App for Paperless {
    fn check(&self) -> Vec<SettingProblem> {
        let mut out = Vec::new();
        if let Some(p) = admin_user_problem(&self.admin_user) {
            out.push(SettingProblem::new("admin_user", p));
        }
        if let Some(p) = ocr_language_problem(&self.ocr_language) {
            out.push(SettingProblem::new("ocr_language", p));
        }
        out
    }

    fn contribute(&self, cx: &AppContext<'_>) -> Contribution {
        let mut c = Contribution::new();
        let data = c.volume(Volume::new("data").backed_up());
        let media = c.volume(Volume::new("media").backed_up());
        let backend = c.network(Network::internal("backend"));
        let db = Postgres::new(POSTGRES_IMAGE, DB)
            .network(&backend)
            .add_to(&mut c);
        let secret_key = c.secret(Secret::new("secret-key", SecretFormat::Base64Url(64)));
        let admin_password = c.secret(Secret::new(
            "admin-password",
            SecretFormat::Alphanumeric(24),
        ));

        let mut web = Service::new("webserver", IMAGE)
            .env("PAPERLESS_URL", cx.public_url(&self.host))
            .env(
                "PAPERLESS_PROXY_SSL_HEADER",
                r#"["HTTP_X_FORWARDED_PROTO", "https"]"#,
            )
            .env("PAPERLESS_SECRET_KEY", &secret_key)
            .env("PAPERLESS_REDIS", "redis://broker:6379")
            .env("PAPERLESS_DBENGINE", "postgresql")
            .env("PAPERLESS_DBHOST", "db")
            .env("PAPERLESS_DBNAME", DB)
            .env("PAPERLESS_DBUSER", DB)
            .env("PAPERLESS_DBPASS", &db.password)
            .env("PAPERLESS_ADMIN_USER", &self.admin_user)
            .env("PAPERLESS_ADMIN_PASSWORD", &admin_password)
            .env("PAPERLESS_OCR_LANGUAGE", &self.ocr_language)
            .mount(&data, "/usr/src/paperless/data")
            .mount(&media, "/usr/src/paperless/media")
            .network(&backend)
            .port(HTTP_PORT)
            // The image's health check (curl on port 8000) applies.
            .depends_on_healthy("db")
            .depends_on_healthy("broker");
        let extra: Vec<String> = self
            .ocr_language
            .split('+')
            .filter(|l| !BUNDLED_OCR.contains(l))
            // Debian's package names spell `chi_sim` as `chi-sim`.
            .map(|l| l.replace('_', "-"))
            .collect();
        if !extra.is_empty() {
            web = web.env("PAPERLESS_OCR_LANGUAGES", extra.join(" "));
        }
        if self.office_documents {
            web = web
                .env("PAPERLESS_TIKA_ENABLED", "1")
                .env("PAPERLESS_TIKA_ENDPOINT", "http://tika:9998")
                .env("PAPERLESS_TIKA_GOTENBERG_ENDPOINT", "http://gotenberg:3000")
                .depends_on("gotenberg")
                .depends_on("tika");
            c.service(
                Service::new("gotenberg", GOTENBERG_IMAGE)
                    .command([
                        "gotenberg",
                        "--chromium-disable-javascript=true",
                        "--chromium-allow-list=file:///tmp/.*",
                    ])
                    .network(&backend),
            );
            c.service(Service::new("tika", TIKA_IMAGE).network(&backend));
        }
        c.service(web);
        Redis::valkey(VALKEY_IMAGE)
            .service("broker")
            .data(Volume::new("broker").excluded_from_backup(
                "Celery's queue of work in progress; its tasks point at upload scratch files that are not kept",
            ))
            .add_to(&mut c, &backend);

        c.route(Route::new(&self.host).proxy(Upstream::new("webserver", HTTP_PORT)));

        c.memory_hint_mib(if self.office_documents { 3072 } else { 2048 });
        c
    }
}
