//! A deployment that uses an app from another crate (`greeter-app`) beside a catalog app.

use greeter_app::Greeter;
use nassella_apps::Hello;
use nassella_core::{Backup, Instance, Provider, Stack};

/// Two greeters and the hello test app on DigitalOcean.
#[must_use]
pub fn stack() -> Stack {
    Stack::new(
        Instance::new("greetings")
            .provider(Provider::DigitalOcean)
            .server_type("s-1vcpu-1gb")
            .location("ams3"),
    )
    .backup(Backup::new(
        "s3:s3.eu-central-003.backblazeb2.com/example-backups/greetings",
    ))
    .app(Greeter::new("hi.example.org"))
    .app_as(
        "welcome",
        Greeter::new("hello.example.org").named("welcome"),
    )
    .app(Hello::new("test.example.org"))
}
