//! docker compose files: one per app, and the proxy's. Rendered from typed structs.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Names;
use crate::composer::{ValidatedApp, ValidatedStack};
use crate::model::{DependsOn, ValuePart};
use crate::values::{EnvFile as EnvFileWriter, EnvFileValue, EnvName};

#[derive(Serialize)]
struct ComposeFile {
    name: String,
    services: BTreeMap<String, ComposeService>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    networks: BTreeMap<String, ComposeNetwork>,
}

#[derive(Serialize)]
struct ComposeService {
    image: String,
    restart: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    entrypoint: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    command: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    environment: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    env_file: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    volumes: Vec<BindMount>,
    networks: BTreeMap<String, NetworkAttach>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ports: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    healthcheck: Option<ComposeHealthcheck>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    depends_on: BTreeMap<String, Condition>,
    #[serde(skip_serializing_if = "Option::is_none")]
    shm_size: Option<String>,
    security_opt: Vec<&'static str>,
}

#[derive(Serialize)]
struct BindMount {
    #[serde(rename = "type")]
    kind: &'static str,
    source: String,
    target: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    read_only: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    bind: Option<BindOptions>,
}

#[derive(Serialize)]
struct BindOptions {
    create_host_path: bool,
}

#[derive(Serialize, Default)]
struct NetworkAttach {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    aliases: Vec<String>,
}

#[derive(Serialize)]
struct ComposeHealthcheck {
    test: Vec<String>,
    interval: String,
    timeout: String,
    retries: u32,
    start_period: String,
}

#[derive(Serialize)]
struct Condition {
    condition: &'static str,
}

#[derive(Serialize, Default)]
struct ComposeNetwork {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    external: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    internal: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    ipam: Option<Ipam>,
}

#[derive(Serialize)]
struct Ipam {
    config: Vec<IpamConfig>,
}

#[derive(Serialize)]
struct IpamConfig {
    subnet: String,
}

fn yaml<T: Serialize>(v: &T) -> String {
    serde_yaml_ng::to_string(v).expect("compose structs always serialize")
}

/// Escape `$` so compose does not interpolate it.
fn literal(s: &str) -> String {
    s.replace('$', "$$")
}

/// An env file (mode 0600) for one service's secret-bearing variables: the real file and a view
/// with the secrets replaced by `<secret:app/name>` markers.
pub(super) struct EnvFile {
    pub service: String,
    pub real: String,
    pub view: String,
}

/// The compose file of one app, and the env files holding its secrets.
pub(super) fn app(
    v: &ValidatedStack,
    app: &ValidatedApp,
    secrets: &super::Secrets,
    names: &Names,
) -> (String, Vec<EnvFile>) {
    let c = &app.c;
    let mut services = BTreeMap::new();
    let mut env_files = Vec::new();
    for s in &c.services {
        let mut environment = BTreeMap::new();
        let mut real = EnvFileWriter::for_compose();
        let mut view = EnvFileWriter::for_compose();
        'vars: for (k, val) in &s.env {
            if val.is_secret() {
                let mut r = String::new();
                let mut w = String::new();
                for part in &val.parts {
                    match part {
                        ValuePart::Text(t) => {
                            r.push_str(t);
                            w.push_str(t);
                        }
                        ValuePart::Secret(sr) => {
                            // `render` checked every secret of the app before this runs.
                            let Some(secret) = secrets.get(&app.id, &sr.name) else {
                                continue 'vars;
                            };
                            r.push_str(secret.as_str());
                            w.push_str(&format!("<secret:{}/{}>", app.id, sr.name));
                        }
                    }
                }
                // The composer checked the name and each text part, `render` each secret: the
                // whole value is one env-file value (single quotes, taken literally by compose).
                let (Ok(name), Ok(r)) = (EnvName::parse(k), EnvFileValue::parse(&r)) else {
                    continue 'vars;
                };
                real.set(&name, &r);
                view.line(&name, &w);
            } else {
                let text: String = val
                    .parts
                    .iter()
                    .map(|p| match p {
                        ValuePart::Text(t) => t.as_str(),
                        ValuePart::Secret(_) => "",
                    })
                    .collect();
                environment.insert(k.clone(), literal(&text));
            }
        }
        let mut env_file = Vec::new();
        if !real.is_empty() {
            env_file.push(format!("{}.env", s.name));
            env_files.push(EnvFile {
                service: s.name.clone(),
                real: real.into_string(),
                view: view.into_string(),
            });
        }
        let volumes = s
            .mounts
            .iter()
            .map(|m| BindMount {
                kind: "bind",
                source: names.volume_dir(&app.id, &m.volume.name),
                target: m.target.clone(),
                read_only: m.read_only,
                bind: Some(BindOptions {
                    create_host_path: true,
                }),
            })
            .collect();
        let mut networks: BTreeMap<String, NetworkAttach> = s
            .networks
            .iter()
            .map(|n| (n.name.clone(), NetworkAttach::default()))
            .collect();
        if app.proxied.contains(&s.name) {
            networks.insert(
                "proxy".into(),
                NetworkAttach {
                    aliases: vec![names.upstream_host(&app.id, &s.name)],
                },
            );
        }
        let ports = c
            .tcp_ports
            .iter()
            .filter(|p| p.service == s.name)
            .map(|p| format!("{}:{}/tcp", p.host_port, p.container_port))
            .collect();
        services.insert(
            s.name.clone(),
            ComposeService {
                image: s.image.clone(),
                restart: "unless-stopped",
                entrypoint: s
                    .entrypoint
                    .as_ref()
                    .map(|v| v.iter().map(|a| literal(a)).collect()),
                command: s
                    .command
                    .as_ref()
                    .map(|v| v.iter().map(|a| literal(a)).collect()),
                user: s.user.clone(),
                environment,
                env_file,
                volumes,
                networks,
                ports,
                healthcheck: s.healthcheck.as_ref().map(|h| ComposeHealthcheck {
                    test: std::iter::once("CMD".to_owned())
                        .chain(h.test.iter().map(|a| literal(a)))
                        .collect(),
                    interval: format!("{}s", h.interval_s),
                    timeout: format!("{}s", h.timeout_s),
                    retries: h.retries,
                    start_period: format!("{}s", h.start_period_s),
                }),
                depends_on: s
                    .depends_on
                    .iter()
                    .map(|(k, d)| {
                        (
                            k.clone(),
                            Condition {
                                condition: match d {
                                    DependsOn::Started => "service_started",
                                    DependsOn::Healthy => "service_healthy",
                                },
                            },
                        )
                    })
                    .collect(),
                shm_size: s.shm_size.clone(),
                security_opt: vec!["no-new-privileges:true"],
            },
        );
    }
    let mut networks: BTreeMap<String, ComposeNetwork> = c
        .networks
        .iter()
        .map(|n| {
            (
                n.name.clone(),
                ComposeNetwork {
                    internal: n.internal,
                    ..Default::default()
                },
            )
        })
        .collect();
    if !app.proxied.is_empty() {
        networks.insert(
            "proxy".into(),
            ComposeNetwork {
                name: Some(names.proxy_network()),
                external: true,
                ..Default::default()
            },
        );
    }
    let file = ComposeFile {
        name: names.app_project(&app.id),
        services,
        networks,
    };
    let _ = v;
    (yaml(&file), env_files)
}

/// The proxy's compose file: Caddy alone on the proxy network, the only public container.
pub(super) fn proxy(v: &ValidatedStack, names: &Names) -> String {
    let root = &v.instance.data_root;
    let bind = |source: String, target: &str, read_only: bool| BindMount {
        kind: "bind",
        source,
        target: target.into(),
        read_only,
        bind: (!read_only).then_some(BindOptions {
            create_host_path: true,
        }),
    };
    let caddy = ComposeService {
        image: v.checked.proxy_image.to_string(),
        restart: "unless-stopped",
        entrypoint: None,
        command: None,
        user: None,
        environment: BTreeMap::new(),
        env_file: Vec::new(),
        volumes: vec![
            // Relative to the compose file, so the config folder can be materialised anywhere
            // (the local target, the runtime tests) and still be found.
            bind("./Caddyfile".into(), "/etc/caddy/Caddyfile", true),
            bind("./maintenance".into(), "/srv/maintenance", true),
            bind(format!("{root}/proxy/data"), "/data", false),
            bind(format!("{root}/proxy/config"), "/config", false),
        ],
        networks: [("proxy".to_owned(), NetworkAttach::default())]
            .into_iter()
            .collect(),
        ports: vec![
            format!("{}:80/tcp", v.instance.http_port),
            format!("{}:443/tcp", v.instance.https_port),
            format!("{}:443/udp", v.instance.https_port),
        ],
        // Caddy's admin endpoint answers once the config is loaded: `up --wait` then fails
        // loudly on a proxy that cannot start instead of leaving it restarting.
        healthcheck: Some(ComposeHealthcheck {
            test: [
                "CMD",
                "wget",
                "-q",
                "-O",
                "/dev/null",
                "http://127.0.0.1:2019/config/",
            ]
            .map(str::to_owned)
            .to_vec(),
            interval: "3s".into(),
            timeout: "3s".into(),
            retries: 5,
            start_period: "20s".into(),
        }),
        depends_on: BTreeMap::new(),
        shm_size: None,
        security_opt: vec!["no-new-privileges:true"],
    };
    let file = ComposeFile {
        name: names.proxy_project(),
        services: [("caddy".to_owned(), caddy)].into_iter().collect(),
        networks: [(
            "proxy".to_owned(),
            ComposeNetwork {
                name: Some(names.proxy_network()),
                ipam: Some(Ipam {
                    config: vec![IpamConfig {
                        subnet: v.instance.proxy_subnet.clone(),
                    }],
                }),
                ..Default::default()
            },
        )]
        .into_iter()
        .collect(),
    };
    yaml(&file)
}
