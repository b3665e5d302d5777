//! The Ignition config (spec 3.3.0), built with the CoreOS `ignition-config` crate.

use ignition_config::v3_3 as ign;

use super::dataurl;
use super::{InstanceFile, UnitSpec};

/// Build the config and serialize it compactly, without `null` fields and with sorted keys.
pub(super) fn config(files: &[InstanceFile], units: &[UnitSpec]) -> Vec<u8> {
    let mut cfg = ign::Config::default();

    let mut ign_files = Vec::new();
    for f in files {
        let mut file = ign::File::new(f.path.clone());
        file.mode = Some(i64::from(f.mode));
        // Every file may already exist: Flatcar's update.conf always, and all of them when
        // Ignition runs again after a failed first boot (it refuses to replace a file it wrote
        // unless `overwrite` is set, and the boot would fail again: a reboot loop).
        file.overwrite = Some(true);
        let resource = match &f.remote {
            Some(a) => ign::Resource {
                source: Some(a.url.clone()),
                verification: Some(ign::Verification {
                    hash: Some(a.hash.clone()),
                }),
                ..Default::default()
            },
            None => {
                let url = dataurl::encode(&f.contents);
                ign::Resource {
                    source: Some(url.source),
                    compression: url.compression.map(str::to_owned),
                    ..Default::default()
                }
            }
        };
        file.contents = Some(resource);
        ign_files.push(file);
    }
    cfg.storage = Some(ign::Storage {
        files: Some(ign_files),
        ..Default::default()
    });

    cfg.systemd = Some(ign::Systemd {
        units: Some(
            units
                .iter()
                .map(|u| {
                    let mut unit = ign::Unit::new(u.name.clone());
                    unit.contents.clone_from(&u.contents);
                    unit.enabled = u.enabled.then_some(true);
                    unit.mask = u.mask.then_some(true);
                    if !u.dropins.is_empty() {
                        unit.dropins = Some(
                            u.dropins
                                .iter()
                                .map(|(n, c)| {
                                    let mut d = ign::Dropin::new(n.clone());
                                    d.contents = Some(c.clone());
                                    d
                                })
                                .collect(),
                        );
                    }
                    unit
                })
                .collect(),
        ),
    });

    // No login: the only user gets no shell, and the console autologin argument is removed.
    let mut core = ign::User::new("core".into());
    core.shell = Some("/sbin/nologin".into());
    cfg.passwd = Some(ign::Passwd {
        users: Some(vec![core]),
        groups: None,
    });
    cfg.kernel_arguments = Some(ign::KernelArguments {
        should_exist: None,
        should_not_exist: Some(vec!["flatcar.autologin".into()]),
    });

    let mut value = serde_json::to_value(&cfg).expect("ignition config serializes");
    strip_nulls(&mut value);
    let mut out = serde_json::to_vec(&sorted(value)).expect("json serializes");
    out.push(b'\n');
    out
}

fn strip_nulls(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            map.retain(|_, x| !x.is_null());
            map.values_mut().for_each(strip_nulls);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// Re-key every object through a `BTreeMap` so the output order never depends on features.
fn sorted(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(map) => {
            let sorted: std::collections::BTreeMap<String, serde_json::Value> =
                map.into_iter().map(|(k, x)| (k, sorted(x))).collect();
            serde_json::to_value(sorted).expect("json")
        }
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.into_iter().map(sorted).collect())
        }
        x => x,
    }
}

/// Parse the config back with `ignition-config`; unknown keys (warnings) count as errors.
pub(super) fn parse_back(bytes: &[u8]) -> Result<(), String> {
    let (cfg, warnings) = ignition_config::Config::parse_slice(bytes).map_err(|e| e.to_string())?;
    if !warnings.is_empty() {
        return Err(format!("{warnings:?}"));
    }
    match cfg {
        ignition_config::Config::V3_3(_) => Ok(()),
        _ => Err("not a 3.3.0 config".into()),
    }
}
