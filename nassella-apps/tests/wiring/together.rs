//! The wiring of several catalog apps in one stack, read back from what it renders.

use super::*;

#[test]
fn all_three_together() {
    let v = compose_clean(
        instance(),
        vec![
            Nextcloud::new("cloud.example.com").id("cloud"),
            Vaultwarden::new("vault.example.com").id("vault"),
            Forgejo::new("git.example.com").ssh_port(22).id("git"),
        ],
        "family stack",
    );
    let ids: Vec<&str> = v.apps().iter().map(|a| a.id()).collect();
    assert_eq!(ids, ["cloud", "git", "vault"]);
    let stack = stack_of(
        instance(),
        vec![
            Nextcloud::new("cloud.example.com").id("cloud"),
            Vaultwarden::new("vault.example.com").id("vault"),
            Forgejo::new("git.example.com").ssh_port(22).id("git"),
        ],
    );
    if let Err(r) = nassella_core::build(&stack, &keys()) {
        panic!("the three apps do not build together:\n{r}");
    }
}

/// All nine compose and build together (on DigitalOcean: their Ignition config is larger than
/// Hetzner's 32 KiB of user data).
#[test]
fn batch_b_builds_together() {
    let apps: Vec<Named> = vec![
        Named::from(Plausible::example()),
        Named::from(Outline::example()),
        Named::from(Synapse::example()),
        Named::from(Mastodon::example()),
        Named::from(Navidrome::example()),
        Named::from(Gitea::example().ssh_port(2222)),
        Named::from(Audiobookshelf::example()),
        Named::from(Linkding::example()),
        Named::from(Actual::example()),
    ];
    let stack = stack_of(instance().provider(Provider::DigitalOcean), apps);
    if let Err(r) = nassella_core::build(&stack, &keys()) {
        panic!("the nine apps do not build together:\n{r}");
    }
}
