//! `nassella-web`: the web app's binary. With NASSELLA_WEB_AS_CLI=1 it is the `nassella` CLI
//! instead: jobs run it that way, and Terraform's local-target provisioners call it back.

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    if std::env::var_os("NASSELLA_WEB_AS_CLI").is_some() {
        return nassella_cli::main_with(None);
    }
    let opts = nassella_web::Options::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("NASSELLA_WEB_LOG")
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async move {
        let mut server = match nassella_web::Server::start(opts).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: {e:#}");
                return ExitCode::FAILURE;
            }
        };
        if let Some(p) = &server.first_password {
            println!(
                "created the local administrator: user `admin`, password `{p}`\n  (shown this once; only its argon2 hash is stored)"
            );
        }
        println!("nassella-web listens on http://{}/", server.addr);
        tokio::select! {
            r = server.wait() => {
                if let Err(e) = r {
                    eprintln!("error: {e:#}");
                    return ExitCode::FAILURE;
                }
            }
            _ = tokio::signal::ctrl_c() => {
                eprintln!("stopping");
            }
        }
        server.stop().await;
        ExitCode::SUCCESS
    })
}
