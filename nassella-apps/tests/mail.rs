//! Outgoing mail (`smtp` settings, `blocks::smtp`): each app that sends mail gets its SMTP server
//! in its own configuration keys, the password from the environment variable the settings name
//! (only ever as a secret, in the 0600 env file), and a settings mistake is reported at
//! `apps.<id>.smtp.<field>`.

mod common;

use common::{instance, stack_of, Named};
use nassella_apps::blocks::smtp::Smtp;
use nassella_apps::outline::OutlineOidc;
use nassella_apps::{Forgejo, Ghost, Nextcloud, Outline, Vaultwarden};
use nassella_core::{build, compose, Bundle, Keys, MasterKey};

const PASSWORD: &str = "mail-Passw0rd";

fn smtp() -> Smtp {
    Smtp::new("smtp.example.com", "noreply@example.com").login("noreply@example.com", "MAIL_PW")
}

/// Build one app with the mail password supplied; every file of the app, joined (readable views).
fn app_files(app: impl Into<Named>) -> (String, Bundle) {
    let app = app.into();
    let id = app.id.clone();
    let stack = stack_of(instance(), vec![app]);
    let keys = Keys::new(MasterKey::insecure_test_key()).provide("MAIL_PW", PASSWORD);
    let b = build(&stack, &keys)
        .unwrap_or_else(|r| panic!("{r}"))
        .bundle;
    let prefix = format!("instance/etc/nassella/apps/{id}/");
    let mut all = String::new();
    for (path, bytes) in b.files() {
        if path.starts_with(&prefix) {
            all.push_str(&String::from_utf8_lossy(bytes));
            all.push('\n');
        }
    }
    assert!(
        !all.contains(PASSWORD),
        "the password is in a readable view"
    );
    (all, b)
}

fn oidc() -> OutlineOidc {
    OutlineOidc::new(
        "wiki",
        "https://auth.example.com/authorize",
        "https://auth.example.com/token",
        "https://auth.example.com/userinfo",
    )
}

/// The report of composing `app` alone, which must fail.
fn errors(app: impl Into<Named>) -> String {
    compose(&stack_of(instance(), vec![app.into()]))
        .unwrap_err()
        .to_string()
}

fn has(all: &str, lines: &[&str]) {
    for l in lines {
        assert!(all.contains(l), "missing `{l}` in:\n{all}");
    }
}

#[test]
fn vaultwarden_sends_mail_through_the_configured_server() {
    let (all, _) = app_files(Vaultwarden::new("vault.example.com").smtp(smtp()));
    has(
        &all,
        &[
            "SMTP_HOST: smtp.example.com",
            "SMTP_PORT: '587'",
            "SMTP_SECURITY: starttls",
            "SMTP_FROM: noreply@example.com",
            "SMTP_USERNAME: noreply@example.com",
            "SMTP_PASSWORD='<secret:vaultwarden/smtp-password>'",
        ],
    );
    let (all, _) = app_files(Vaultwarden::new("vault.example.com").smtp(smtp().tls(465)));
    has(&all, &["SMTP_SECURITY: force_tls", "SMTP_PORT: '465'"]);
}

#[test]
fn forgejo_turns_its_mailer_on_only_with_smtp() {
    let (all, _) = app_files(Forgejo::new("git.example.com").smtp(smtp()));
    has(
        &all,
        &[
            "FORGEJO__mailer__ENABLED: 'true'",
            "FORGEJO__mailer__PROTOCOL: smtp+starttls",
            "FORGEJO__mailer__SMTP_ADDR: smtp.example.com",
            "FORGEJO__mailer__SMTP_PORT: '587'",
            "FORGEJO__mailer__FROM: noreply@example.com",
            "FORGEJO__mailer__USER: noreply@example.com",
            "FORGEJO__mailer__PASSWD='<secret:forgejo/smtp-password>'",
        ],
    );
    // app.ini keeps earlier settings: without smtp, mail is switched off explicitly.
    let (all, _) = app_files(Forgejo::new("git.example.com"));
    has(&all, &["FORGEJO__mailer__ENABLED: 'false'"]);
    assert!(!all.contains("SMTP_ADDR"), "{all}");
}

#[test]
fn nextcloud_gives_mail_to_the_app_and_to_cron() {
    let (all, b) = app_files(Nextcloud::new("cloud.example.com").smtp(smtp()));
    has(
        &all,
        &[
            "SMTP_HOST: smtp.example.com",
            "MAIL_FROM_ADDRESS: noreply",
            "MAIL_DOMAIN: example.com",
            "SMTP_NAME: noreply@example.com",
            "SMTP_PASSWORD='<secret:nextcloud/smtp-password>'",
        ],
    );
    assert!(
        !all.contains("SMTP_SECURE"),
        "STARTTLS is Nextcloud's default"
    );
    let compose_file = String::from_utf8_lossy(
        b.get("instance/etc/nassella/apps/nextcloud/compose.yaml")
            .expect("compose file"),
    )
    .into_owned();
    assert_eq!(
        compose_file.matches("SMTP_HOST: smtp.example.com").count(),
        2,
        "app and cron both send mail:\n{compose_file}"
    );
}

#[test]
fn mail_settings_mistakes_are_reported_at_their_field() {
    let mut bad = Smtp::new("smtp.example.com", "not-an-address");
    bad.username = Some("someone".into());
    let report = errors(Vaultwarden::new("vault.example.com").smtp(bad));
    for path in [
        "apps.vaultwarden.smtp.from",
        "apps.vaultwarden.smtp.password_env",
    ] {
        assert!(report.contains(path), "{path} not in:\n{report}");
    }
    let odd = Smtp::new("smtp.example.com", "a@example.com").login("a@example.com", "lower_case");
    let report = errors(Vaultwarden::new("vault.example.com").smtp(odd));
    assert!(
        report.contains("apps.vaultwarden.smtp.password_env")
            && report.contains("lower_case")
            && !report.contains("src/blocks/smtp.rs"),
        "{report}"
    );
}

#[test]
fn ghost_sends_its_transactional_mail_and_verification_needs_it() {
    let (all, _) = app_files(
        Ghost::new("blog.example.com")
            .smtp(smtp().tls(465))
            .staff_device_verification(true),
    );
    has(
        &all,
        &[
            "mail__transport: SMTP",
            "mail__from: noreply@example.com",
            "mail__options__host: smtp.example.com",
            "mail__options__port: '465'",
            "mail__options__secure: 'true'",
            "mail__options__auth__user: noreply@example.com",
            "mail__options__auth__pass='<secret:ghost/smtp-password>'",
            "security__staffDeviceVerification: 'true'",
        ],
    );
    let report = errors(Ghost::new("blog.example.com").staff_device_verification(true));
    assert!(
        report.contains("apps.ghost.staff_device_verification") && report.contains("smtp"),
        "{report}"
    );
}

#[test]
fn outline_mails_sign_in_links_and_takes_an_issued_client_secret_from_the_environment() {
    let issued = oidc().client_secret_env("MAIL_PW");
    let (all, _) = app_files(Outline::new("wiki.example.com").smtp(smtp()).oidc(issued));
    has(
        &all,
        &[
            "SMTP_HOST: smtp.example.com",
            "SMTP_FROM_EMAIL: noreply@example.com",
            "SMTP_SECURE: 'false'",
            "SMTP_USERNAME: noreply@example.com",
            "SMTP_PASSWORD='<secret:outline/smtp-password>'",
            "OIDC_CLIENT_SECRET='<secret:outline/oidc-client-secret>'",
        ],
    );
    // The issued secret is the environment's value, not a derived one.
    let stack = stack_of(
        instance(),
        vec![Named::from(
            Outline::new("wiki.example.com").oidc(oidc().client_secret_env("WIKI_OIDC_SECRET")),
        )],
    );
    let v = compose(&stack).unwrap_or_else(|r| panic!("{r}"));
    assert_eq!(
        v.env_secrets(),
        [("outline", "oidc-client-secret", "WIKI_OIDC_SECRET")]
    );
    let keys = Keys::new(MasterKey::insecure_test_key());
    let missing = build(&stack, &keys).unwrap_err().to_string();
    assert!(missing.contains("WIKI_OIDC_SECRET is not set"), "{missing}");
    assert_eq!(
        v.secret(
            &keys.clone().provide("WIKI_OIDC_SECRET", "issued"),
            "outline",
            "oidc-client-secret"
        )
        .as_deref(),
        Some("issued")
    );
}
