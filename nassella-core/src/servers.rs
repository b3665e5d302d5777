//! What Nassella knows about the providers' server types: their memory, to check the apps' memory
//! hints against the server, and the Hetzner types that can no longer be created. A type not
//! listed here is passed through unchecked (the provider knows its own catalog).
//!
//! Sources: Hetzner's changelog entry of 2025-10-16 deprecated the CX22 line (removed in January
//! 2026) for the CX23 line of the same sizes (pulumi/pulumi-hcloud#939,
//! apricote/hcloud-upload-image#129); the older CX11…CX51 were removed in September 2024. Memory
//! sizes as Hetzner lists them. DigitalOcean size slugs carry their memory (`s-2vcpu-4gb`).

use crate::stack::Provider;

/// Memory the host itself takes before any app: Flatcar, Docker and Caddy (a few hundred MiB
/// together) and headroom for the daily restic run.
pub const BASE_MEMORY_MIB: u32 = 512;

const GIB: u32 = 1024;

/// Hetzner x86 server types that can be created, with their memory in MiB.
const HETZNER: &[(&str, u32)] = &[
    ("cx23", 4 * GIB),
    ("cx33", 8 * GIB),
    ("cx43", 16 * GIB),
    ("cx53", 32 * GIB),
    ("cpx11", 2 * GIB),
    ("cpx21", 4 * GIB),
    ("cpx31", 8 * GIB),
    ("cpx41", 16 * GIB),
    ("cpx51", 32 * GIB),
    ("cpx22", 4 * GIB),
    ("cpx32", 8 * GIB),
    ("ccx13", 8 * GIB),
    ("ccx23", 16 * GIB),
    ("ccx33", 32 * GIB),
    ("ccx43", 64 * GIB),
    ("ccx53", 128 * GIB),
    ("ccx63", 192 * GIB),
];

/// Hetzner server types that can no longer be created, and the current type of the same memory.
const HETZNER_RETIRED: &[(&str, &str)] = &[
    ("cx11", "cx23"),
    ("cx21", "cx23"),
    ("cx31", "cx33"),
    ("cx41", "cx43"),
    ("cx51", "cx53"),
    ("cx22", "cx23"),
    ("cx32", "cx33"),
    ("cx42", "cx43"),
    ("cx52", "cx53"),
];

/// The server type's memory in MiB, when Nassella knows it.
#[must_use]
pub fn memory_mib(provider: Provider, server_type: &str) -> Option<u32> {
    match provider {
        Provider::Hetzner => HETZNER
            .iter()
            .find(|(t, _)| *t == server_type)
            .map(|(_, m)| *m),
        // `s-2vcpu-4gb`, `s-4vcpu-8gb-amd`, `s-1vcpu-512mb-10gb`: the first `<n>gb` or `<n>mb`
        // part is the memory (a second one is the disk).
        Provider::DigitalOcean => server_type.split('-').skip(1).find_map(|part| {
            if let Some(gb) = part.strip_suffix("gb") {
                gb.parse::<u32>().ok().map(|gb| gb * GIB)
            } else {
                part.strip_suffix("mb")?.parse::<u32>().ok()
            }
        }),
        Provider::Local => None,
    }
}

/// The type to use instead, when `server_type` can no longer be created at the provider.
#[must_use]
pub fn successor(provider: Provider, server_type: &str) -> Option<&'static str> {
    match provider {
        Provider::Hetzner => HETZNER_RETIRED
            .iter()
            .find(|(t, _)| *t == server_type)
            .map(|(_, s)| *s),
        Provider::DigitalOcean | Provider::Local => None,
    }
}

/// The smallest known type of `provider` with at least `mib` of memory.
#[must_use]
pub fn smallest_with(provider: Provider, mib: u32) -> Option<&'static str> {
    match provider {
        Provider::Hetzner => HETZNER
            .iter()
            .filter(|(t, m)| *m >= mib && t.starts_with("cx"))
            .min_by_key(|(_, m)| *m)
            .map(|(t, _)| *t),
        Provider::DigitalOcean | Provider::Local => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digitalocean_slugs_carry_their_memory() {
        assert_eq!(
            memory_mib(Provider::DigitalOcean, "s-1vcpu-2gb"),
            Some(2048)
        );
        assert_eq!(
            memory_mib(Provider::DigitalOcean, "s-4vcpu-8gb-amd"),
            Some(8192)
        );
        assert_eq!(
            memory_mib(Provider::DigitalOcean, "s-1vcpu-512mb-10gb"),
            Some(512)
        );
        assert_eq!(memory_mib(Provider::DigitalOcean, "c-2"), None);
    }

    #[test]
    fn every_retired_hetzner_type_points_to_a_known_one_of_the_same_line() {
        for (old, new) in HETZNER_RETIRED {
            assert!(
                memory_mib(Provider::Hetzner, new).is_some(),
                "{old} -> {new}"
            );
            assert!(
                memory_mib(Provider::Hetzner, old).is_none(),
                "{old} is both"
            );
        }
        assert_eq!(smallest_with(Provider::Hetzner, 5000), Some("cx33"));
        assert_eq!(smallest_with(Provider::Hetzner, 1 << 20), None);
    }
}
