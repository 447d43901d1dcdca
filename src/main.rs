//! The `watchpost` command: parses arguments, sets up logging, loads the config and hands over to
//! the library (`watchpost::app`). Nothing else lives here.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use watchpost::config;

#[derive(Parser)]
#[command(name = "watchpost", version, about = "Self-hosted AI guard for CCTV", args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// `watchpost [OPTIONS]` is `watchpost serve [OPTIONS]`.
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Run the cameras and the web UI (the default).
    Serve(ServeArgs),
    /// Check a config file: prints a summary, or the problems and a non-zero exit status.
    CheckConfig {
        /// The TOML file to check.
        file: PathBuf,
    },
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Config file (default: ./watchpost.toml, then /config/watchpost.toml, else built-in defaults).
    #[arg(long, short = 'c', env = "WATCHPOST_CONFIG")]
    config: Option<PathBuf>,
    /// Where the database and media live by default.
    #[arg(long, env = "WATCHPOST_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    /// Listen address, overriding [server] bind (e.g. 0.0.0.0:8080).
    #[arg(long)]
    bind: Option<String>,
    /// Add a demo camera fed by a clip made from a bundled photograph.
    #[arg(long)]
    demo: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WATCHPOST_LOG")
                .unwrap_or_else(|_| "info,actix_server=warn,watchpost::http=warn".into()),
        )
        .init();
    let result = match cli.command {
        Some(Command::CheckConfig { file }) => return check_config(&file),
        Some(Command::Serve(args)) => serve(args),
        None => serve(cli.serve),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("watchpost: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn print_issues(issues: &[config::ConfigIssue]) {
    for issue in issues {
        eprintln!("  {issue}");
    }
}

fn check_config(file: &std::path::Path) -> ExitCode {
    match config::load(Some(file)) {
        Ok((config, _)) => {
            println!("{} is valid.", file.display());
            println!("  server: {}", config.server.bind);
            println!(
                "  database: {}",
                config
                    .storage
                    .database_url
                    .as_ref()
                    .map_or("sqlite in the data directory".into(), |_| "set (***)".to_string())
            );
            println!("  ffmpeg: {} (hwaccel {})", config.ffmpeg.path, config.ffmpeg.hwaccel.name());
            println!("  cameras: {}", config.cameras.len());
            for camera in &config.cameras {
                let state = if camera.enabled { "enabled" } else { "disabled" };
                println!(
                    "    {} ({}): {} at {}x{} {} fps, {state}",
                    camera.id,
                    camera.display_name(),
                    config::redact_url(&camera.url),
                    camera.detect.width,
                    camera.detect.height,
                    camera.detect.fps
                );
            }
            ExitCode::SUCCESS
        }
        Err(issues) => {
            eprintln!("{} has {} problem(s):", file.display(), issues.len());
            print_issues(&issues);
            ExitCode::from(2)
        }
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let (mut config, file) = match config::load(args.config.as_deref()) {
        Ok(loaded) => loaded,
        Err(issues) => {
            eprintln!("The configuration has {} problem(s):", issues.len());
            print_issues(&issues);
            anyhow::bail!("fix the configuration and start again (check it with `watchpost check-config FILE`)");
        }
    };
    if let Some(bind) = args.bind {
        config.server.bind = bind;
        config.validate().map_err(|issues| {
            print_issues(&issues);
            anyhow::anyhow!("--bind is not a valid address")
        })?;
    }
    match &file {
        Some(path) => tracing::info!(config = %path.display(), "configuration loaded"),
        None => tracing::info!("no config file found; using built-in defaults"),
    }
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the runtime")?;
    runtime.block_on(watchpost::app::serve(watchpost::app::ServeOptions {
        config,
        data_dir: args.data_dir,
        demo: args.demo,
    }))?;
    Ok(())
}
