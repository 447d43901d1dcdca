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
    /// Manage user accounts without the web UI.
    User {
        #[command(subcommand)]
        action: UserAction,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Manage API tokens without the web UI.
    Token {
        #[command(subcommand)]
        action: TokenAction,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Look for ONVIF cameras (WS-Discovery) and ESP32/ESPHome nodes (mDNS) on the LAN once and
    /// print what answered.
    Discover {
        /// Seconds to wait for answers (default: [discovery] probe_secs).
        #[arg(long)]
        timeout: Option<u32>,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
        /// Config file, for [discovery] interfaces.
        #[arg(long, short = 'c', env = "WATCHPOST_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Make a PDF report of a day or a week from the database (as the Reports page does), into a
    /// file; it is not recorded or sent.
    Report {
        #[arg(long, value_parser = ["daily", "weekly"], default_value = "daily")]
        period: String,
        /// The period's first day, YYYY-MM-DD (default: yesterday, or the seven days before today).
        #[arg(long)]
        date: Option<chrono::NaiveDate>,
        /// The IANA time zone its days are counted in, e.g. Europe/Berlin (default: the server's).
        #[arg(long, default_value = "")]
        timezone: String,
        /// Only these cameras (repeat the option); default: every camera.
        #[arg(long = "camera")]
        cameras: Vec<String>,
        /// How many events to show with their snapshots.
        #[arg(long, default_value_t = 6)]
        top_events: u32,
        /// Where to write the PDF.
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Back up the database (a consistent copy while Watchpost runs), the keys, the config file,
    /// the snapshots and the reports into one ZIP.
    Backup {
        /// The ZIP to write.
        file: PathBuf,
        /// Include the recorded video too.
        #[arg(long)]
        recordings: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Restore a backup into an empty data directory (never over an installation).
    Restore {
        /// The backup ZIP.
        file: PathBuf,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Export events as a ZIP (events.json, snapshots, clips), as the events page does.
    Export {
        /// From this moment: YYYY-MM-DD, RFC 3339 or milliseconds (default: the first event).
        #[arg(long)]
        from: Option<String>,
        /// Before this moment, written as --from (default: now).
        #[arg(long)]
        to: Option<String>,
        /// Only this camera.
        #[arg(long)]
        camera: Option<String>,
        /// Leave the video clips out.
        #[arg(long)]
        no_clips: bool,
        /// Where to write the ZIP.
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Ask a running `watchpost serve` whether it is healthy (`GET /api/health` on [server] bind);
    /// exit status 0 when it is. The container's HEALTHCHECK.
    Healthcheck {
        /// Config file, for [server] bind.
        #[arg(long, short = 'c', env = "WATCHPOST_CONFIG")]
        config: Option<PathBuf>,
        /// The address to ask instead of [server] bind, e.g. 127.0.0.1:8080.
        #[arg(long)]
        bind: Option<String>,
    },
}

#[derive(Subcommand)]
enum UserAction {
    /// Create an account; the password comes from WATCHPOST_PASSWORD or standard input.
    Add {
        name: String,
        #[arg(long, value_parser = ["admin", "viewer"], default_value = "viewer")]
        role: String,
        /// Limit a viewer to these cameras (repeat the option); default: all cameras.
        #[arg(long = "camera")]
        cameras: Vec<String>,
    },
    /// Set a new password (from WATCHPOST_PASSWORD or standard input); the user's sessions end.
    Passwd { name: String },
    /// List the accounts.
    List,
}

#[derive(Subcommand)]
enum TokenAction {
    /// Issue an API token and print it once.
    Create {
        /// What the token is for, e.g. home-assistant.
        name: String,
        /// Whose token it is (needed when there is more than one administrator).
        #[arg(long)]
        user: Option<String>,
        /// Lifetime such as 30d, 12h or 2w (default: [auth] token_ttl_days).
        #[arg(long)]
        ttl: Option<String>,
    },
    /// List tokens (never their values).
    List,
    /// Revoke a token by its id.
    Revoke { id: String },
    /// Re-issue a token: prints the new one; the old one works for [auth] token_grace_hours more.
    Reissue { id: String },
    /// Start signing with a new key; tokens signed with the old one work for the grace period.
    RotateKey,
}

/// Where the accounts live: the same config and data directory as `serve`.
#[derive(clap::Args)]
struct StoreArgs {
    #[arg(long, short = 'c', env = "WATCHPOST_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[arg(long, env = "WATCHPOST_DATA_DIR", default_value = "./data", global = true)]
    data_dir: PathBuf,
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

// Small blocks from mimalloc, large ones from glibc's malloc (src/heap.rs says why).
#[global_allocator]
static ALLOCATOR: watchpost::heap::Allocator = watchpost::heap::Allocator;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Logs go to standard error: standard output carries what commands print (a new token).
    let default_filter = match cli.command {
        Some(
            Command::User { .. }
            | Command::Token { .. }
            | Command::Discover { .. }
            | Command::Healthcheck { .. }
            | Command::Report { .. }
            | Command::Export { .. }
            | Command::Backup { .. }
            | Command::Restore { .. },
        ) => "warn",
        _ => "info,actix_server=warn,watchpost::http=warn,sea_orm_migration=warn",
    };
    // Colour only for a person at a terminal: a log file, a pipe or `docker logs` gets plain text,
    // and NO_COLOR (https://no-color.org) turns it off everywhere.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty());
    tracing_subscriber::fmt()
        .with_ansi(colour)
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WATCHPOST_LOG").unwrap_or_else(|_| default_filter.into()),
        )
        .init();
    let result = match cli.command {
        Some(Command::CheckConfig { file }) => return check_config(&file),
        Some(Command::Serve(args)) => serve(args),
        Some(Command::User { action, store }) => accounts(store, |auth, db| Box::pin(user_command(action, auth, db))),
        Some(Command::Token { action, store }) => accounts(store, |auth, db| Box::pin(token_command(action, auth, db))),
        Some(Command::Discover { timeout, json, config }) => discover(config, timeout, json),
        Some(Command::Healthcheck { config, bind }) => healthcheck(config, bind),
        Some(Command::Backup { file, recordings, store }) => backup(store, &file, recordings),
        Some(Command::Restore { file, store }) => restore(store, &file),
        Some(Command::Export { from, to, camera, no_clips, out, store }) => {
            export(store, from, to, camera, no_clips, &out)
        }
        Some(Command::Report { period, date, timezone, cameras, top_events, out, store }) => {
            report(store, ReportArgs { period, date, timezone, cameras, top_events }, &out)
        }
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

/// What `watchpost report` is asked for.
struct ReportArgs {
    period: String,
    date: Option<chrono::NaiveDate>,
    timezone: String,
    cameras: Vec<String>,
    top_events: u32,
}

/// `watchpost report`: one report into a file.
fn report(store: StoreArgs, args: ReportArgs, out: &std::path::Path) -> anyhow::Result<()> {
    use watchpost::reports::{self, settings::Period};
    let config = load_or_explain(store.config.as_deref())?;
    let period = Period::parse(&args.period).context("--period is daily or weekly")?;
    let zone: watchpost::camera::settings::TimeZone =
        args.timezone.parse().map_err(|problem: String| anyhow::anyhow!("--timezone: {problem}"))?;
    let now_ms = chrono::Utc::now().timestamp_millis();
    let today = reports::data::local_time(zone, now_ms).date();
    let first_day = args.date.unwrap_or(today - chrono::Days::new(u64::from(period.days())));
    let request = reports::data::ReportRequest {
        name: "manual".into(),
        period,
        first_day,
        zone,
        cameras: args.cameras,
        top_events: args.top_events.min(20),
    };
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the runtime")?;
    runtime.block_on(async {
        let db = watchpost::db::Db::connect(&config.storage.database_url(&store.data_dir)).await?;
        let media = watchpost::media::MediaStore::open(&config.storage.media_dir(&store.data_dir))?;
        let made = reports::make_file(&db, &media, &request, out, now_ms).await;
        db.close().await;
        let (pages, events) = made?;
        eprintln!(
            "Wrote {}: the {} report from {first_day}, {events} event(s), {pages} page(s).",
            out.display(),
            period.as_str()
        );
        Ok(())
    })
}

/// `watchpost export`: the events of a range into a ZIP, with progress on standard error.
fn export(
    store: StoreArgs,
    from: Option<String>,
    to: Option<String>,
    camera: Option<String>,
    no_clips: bool,
    out: &std::path::Path,
) -> anyhow::Result<()> {
    let config = load_or_explain(store.config.as_deref())?;
    let moment = |key: &str, text: Option<String>| {
        text.map(|t| {
            watchpost::calendar::parse_moment(&t)
                .with_context(|| format!("--{key} {t:?} is not a time; use YYYY-MM-DD, RFC 3339 or milliseconds"))
        })
        .transpose()
    };
    let filter = watchpost::db::EventFilter {
        camera,
        since_ms: moment("from", from)?,
        until_ms: moment("to", to)?,
        ..Default::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    runtime.block_on(async {
        let db = watchpost::db::Db::connect(&config.storage.database_url(&store.data_dir)).await?;
        let events = db.events_matching(&filter).await?;
        let recordings = watchpost::recording::Recordings::new(
            config.storage.recordings_dir(&store.data_dir),
            db.clone(),
            watchpost::recording::SpaceLimits::from_gb(config.storage.max_size_gb, config.storage.min_free_gb),
        );
        let cameras = config.cameras.clone();
        let source = watchpost::export::ExportSource {
            media: watchpost::media::MediaStore::open(&config.storage.media_dir(&store.data_dir))?,
            recordings: (!no_clips).then_some(recordings),
            ffmpeg: config.ffmpeg.path.clone(),
            rules_of: Box::new(move |id| {
                cameras.iter().find(|c| c.id == id).map(|c| c.record.clone()).unwrap_or_default()
            }),
            event_json: watchpost::web::event_json,
            selection: "the command line's range".into(),
            now_ms: chrono::Utc::now().timestamp_millis(),
        };
        let partial = out.with_extension("zip.part");
        let file = std::fs::File::create(&partial).with_context(|| format!("cannot write {}", partial.display()))?;
        let handle = tokio::runtime::Handle::current();
        let total = events.len();
        let written = tokio::task::spawn_blocking(move || {
            let mut shown = 0;
            watchpost::export::write_zip(std::io::BufWriter::new(file), &events, &source, &handle, |done, total| {
                if done * 10 / total.max(1) > shown || done == total {
                    shown = done * 10 / total.max(1);
                    eprintln!("watchpost: exported {done} of {total} event(s)");
                }
            })
        })
        .await
        .context("the export stopped")?;
        db.close().await;
        written?;
        std::fs::rename(&partial, out).with_context(|| format!("cannot write {}", out.display()))?;
        eprintln!("Wrote {}: {total} event(s).", out.display());
        Ok(())
    })
}

/// `watchpost backup FILE`.
fn backup(store: StoreArgs, file: &std::path::Path, recordings: bool) -> anyhow::Result<()> {
    let (config, config_file) = match config::load(store.config.as_deref()) {
        Ok(loaded) => loaded,
        Err(issues) => {
            print_issues(&issues);
            anyhow::bail!("fix the configuration first");
        }
    };
    let data_dir = &store.data_dir;
    let plan = watchpost::backup::BackupPlan {
        data_dir: data_dir.clone(),
        media_dir: config.storage.media_dir(data_dir),
        recordings_dir: config.storage.recordings_dir(data_dir),
        config_file,
        recordings,
    };
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the runtime")?;
    let database = runtime.block_on(async {
        let db = watchpost::db::Db::connect(&config.storage.database_url(data_dir)).await?;
        let copy = watchpost::backup::snapshot_database(&db, data_dir).await;
        db.close().await;
        copy
    })?;
    let partial = file.with_extension("zip.part");
    let written = std::fs::File::create(&partial)
        .with_context(|| format!("cannot write {}", partial.display()))
        .and_then(|out| {
            let now_ms = chrono::Utc::now().timestamp_millis();
            Ok(watchpost::backup::write_backup(std::io::BufWriter::new(out), &plan, database.as_deref(), now_ms)?)
        });
    if let Some(copy) = &database {
        let _ = std::fs::remove_file(copy);
    }
    let summary = written?;
    std::fs::rename(&partial, file).with_context(|| format!("cannot write {}", file.display()))?;
    eprintln!("Wrote {}: {} file(s), {} MB.", file.display(), summary.files, summary.bytes / 1_000_000);
    if !summary.database {
        eprintln!("The database is PostgreSQL and is not in the backup: back it up with pg_dump (see docs/backup.md).");
    }
    Ok(())
}

/// `watchpost restore FILE`.
fn restore(store: StoreArgs, file: &std::path::Path) -> anyhow::Result<()> {
    let config_target = store.config.clone().unwrap_or_else(|| store.data_dir.join("watchpost.toml"));
    // The restored config decides where the media go only once it is restored: the defaults (or
    // the config given) place them now.
    let config = match config::load(store.config.as_deref().filter(|p| p.is_file())) {
        Ok((config, _)) => config,
        Err(issues) => {
            print_issues(&issues);
            anyhow::bail!("fix the configuration first");
        }
    };
    let data_dir = &store.data_dir;
    let plan = watchpost::backup::RestorePlan {
        data_dir: data_dir.clone(),
        media_dir: config.storage.media_dir(data_dir),
        recordings_dir: config.storage.recordings_dir(data_dir),
        database_file: config.storage.sqlite_file(data_dir),
        config_file: config_target.clone(),
    };
    let summary = watchpost::backup::restore(file, &plan)?;
    eprintln!("Restored {} file(s) into {}.", summary.files, data_dir.display());
    if let Some(restored) = &summary.config {
        eprintln!("The backup's config file is {}; start with --config {}.", restored.display(), restored.display());
    }
    if !summary.database {
        eprintln!("No database was restored: with PostgreSQL, restore it with pg_restore (see docs/backup.md).");
    }
    Ok(())
}

/// The configuration, or its problems printed and an error.
fn load_or_explain(path: Option<&std::path::Path>) -> anyhow::Result<config::Config> {
    match config::load(path) {
        Ok((config, _)) => Ok(config),
        Err(issues) => {
            print_issues(&issues);
            anyhow::bail!("fix the configuration first")
        }
    }
}

/// `watchpost healthcheck`: one `GET /api/health` over plain HTTP/1.0 (so a container needs no curl)
/// to the configured address; an unspecified address such as 0.0.0.0 is asked on loopback.
fn healthcheck(config: Option<PathBuf>, bind: Option<String>) -> anyhow::Result<()> {
    use std::io::{Read, Write};
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
    let bind = match bind {
        Some(bind) => bind,
        None => match config::load(config.as_deref()) {
            Ok((config, _)) => config.server.bind,
            Err(issues) => {
                print_issues(&issues);
                anyhow::bail!("the configuration has problems");
            }
        },
    };
    let mut address: SocketAddr =
        bind.parse().with_context(|| format!("{bind:?} is not an address such as 127.0.0.1:8080"))?;
    if address.ip().is_unspecified() {
        address.set_ip(match address.ip() {
            IpAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
            IpAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
        });
    }
    let wait = std::time::Duration::from_secs(5);
    let mut stream =
        TcpStream::connect_timeout(&address, wait).with_context(|| format!("nothing answers at {address}"))?;
    stream.set_read_timeout(Some(wait))?;
    stream.set_write_timeout(Some(wait))?;
    write!(stream, "GET /api/health HTTP/1.0\r\nHost: {address}\r\nConnection: close\r\n\r\n")?;
    let mut answer = Vec::new();
    stream.take(64 * 1024).read_to_end(&mut answer).with_context(|| format!("no answer from {address}"))?;
    let answer = String::from_utf8_lossy(&answer);
    let status = answer.lines().next().unwrap_or_default();
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, body)| body.trim());
    if status.split_whitespace().nth(1) != Some("200") {
        anyhow::bail!("{address} answered {status:?}: {body}");
    }
    println!("{body}");
    Ok(())
}

/// `watchpost discover`: one scan, printed.
fn discover(config: Option<PathBuf>, timeout: Option<u32>, json: bool) -> anyhow::Result<()> {
    let config = match config::load(config.as_deref()) {
        Ok((config, _)) => config,
        Err(issues) => {
            print_issues(&issues);
            anyhow::bail!("the configuration has problems");
        }
    };
    let wait = std::time::Duration::from_secs(u64::from(timeout.unwrap_or(config.discovery.probe_secs)));
    let found = watchpost::discovery::scan(&config.discovery, wait);
    let devices = found.cameras?;
    let nodes = found.nodes.unwrap_or_else(|err| {
        eprintln!("watchpost: mDNS: {err}");
        Vec::new()
    });
    for device in &devices {
        if json {
            let line = serde_json::json!({
                "kind": "onvif",
                "name": device.name,
                "address": device.address,
                "xaddrs": device.xaddrs,
                "manufacturer": device.manufacturer,
                "model": device.model,
                "location": device.location,
                "endpoint": device.endpoint,
            });
            println!("{line}");
        } else {
            let what =
                [device.manufacturer.as_deref(), device.model.as_deref()].into_iter().flatten().collect::<Vec<_>>();
            println!(
                "onvif  {:<15}  {:<24}  {:<28}  {}",
                device.address.to_string(),
                device.name.as_deref().unwrap_or("(no name)"),
                what.join(" "),
                device.xaddrs.first().map(String::as_str).unwrap_or("")
            );
        }
    }
    for node in &nodes {
        if json {
            println!("{}", serde_json::to_string(node)?);
        } else {
            println!(
                "{:<6} {:<15}  {:<24}  mac {:<12}  firmware {}",
                if node.kind == "watchpost-node" { "node" } else { node.kind },
                node.address.map(|a| a.to_string()).unwrap_or_default(),
                node.name,
                node.mac.as_deref().unwrap_or("?"),
                node.firmware.as_deref().unwrap_or("?")
            );
        }
    }
    if !json {
        eprintln!(
            "{} ONVIF device(s) and {} ESP32/ESPHome node(s) answered within {} s",
            devices.len(),
            nodes.len(),
            wait.as_secs()
        );
    }
    Ok(())
}

type CommandFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<()>> + 'a>>;

/// Opens the accounts store and runs one `user` or `token` command on it.
fn accounts(
    store: StoreArgs,
    command: impl for<'a> FnOnce(&'a watchpost::auth::Auth, &'a watchpost::db::Db) -> CommandFuture<'a>,
) -> anyhow::Result<()> {
    let config = match config::load(store.config.as_deref()) {
        Ok((config, _)) => config,
        Err(issues) => {
            print_issues(&issues);
            anyhow::bail!("fix the configuration first");
        }
    };
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the runtime")?;
    runtime.block_on(async {
        let (db, auth) = watchpost::app::open_accounts(&config, &store.data_dir).await?;
        let result = command(&auth, &db).await;
        db.close().await;
        result
    })
}

async fn user_command(action: UserAction, auth: &watchpost::auth::Auth, db: &watchpost::db::Db) -> anyhow::Result<()> {
    match action {
        UserAction::Add { name, role, cameras } => {
            let password = read_password()?;
            auth.create_user(&name, watchpost::auth::parse_role(&role)?, &password, &cameras).await?;
            auth.audit(system_audit("user.create", &name, &format!("role {role}, from the command line"))).await;
            println!("Created {role} {name:?}.");
        }
        UserAction::Passwd { name } => {
            let password = read_password()?;
            auth.set_password(&name, &password).await?;
            if let Some(user) = db.user_by_name(&name).await? {
                db.delete_user_sessions(user.id, None).await?;
            }
            auth.audit(system_audit("user.password_reset", &name, "from the command line")).await;
            println!("Password of {name:?} changed; their sessions were signed out.");
        }
        UserAction::List => {
            let users = db.list_users().await?;
            if users.is_empty() {
                println!("No accounts yet. Create one with `watchpost user add NAME --role admin`.");
            }
            for user in users {
                let cameras = watchpost::model::CameraScope::parse(&user.cameras).describe();
                println!(
                    "{:<24} {:<7} cameras: {:<20} {}",
                    user.name,
                    user.role.as_str(),
                    cameras,
                    if user.disabled { "disabled" } else { "" }
                );
            }
        }
    }
    Ok(())
}

async fn token_command(
    action: TokenAction,
    auth: &watchpost::auth::Auth,
    db: &watchpost::db::Db,
) -> anyhow::Result<()> {
    match action {
        TokenAction::Create { name, user, ttl } => {
            let owner = match user {
                Some(user) => db.user_by_name(&user).await?.with_context(|| format!("there is no user {user:?}"))?,
                None => {
                    let admins: Vec<_> = db
                        .list_users()
                        .await?
                        .into_iter()
                        .filter(|u| u.role == watchpost::model::Role::Admin && !u.disabled)
                        .collect();
                    match <[_; 1]>::try_from(admins) {
                        Ok([admin]) => admin,
                        Err(admins) if admins.is_empty() => {
                            anyhow::bail!("there is no administrator yet; run `watchpost user add NAME --role admin`")
                        }
                        Err(_) => anyhow::bail!("there are several administrators; say whose token it is with --user"),
                    }
                }
            };
            let ttl = ttl.as_deref().map(watchpost::auth::parse_duration_ms).transpose()?;
            let issued = auth.create_token(owner.id, &name, ttl).await?;
            auth.audit(system_audit("token.create", &name, &format!("for {}, from the command line", owner.name)))
                .await;
            eprintln!(
                "Token {:?} (id {}) for {}; copy it now, it is not shown again:",
                name, issued.record.id, owner.name
            );
            println!("{}", issued.jwt);
        }
        TokenAction::List => {
            let users = db.list_users().await?;
            let now = chrono::Utc::now().timestamp_millis();
            for token in db.list_tokens(None).await? {
                let owner = users.iter().find(|u| u.id == token.user_id).map_or("(deleted)", |u| u.name.as_str());
                let state = if token.revoked_ms.is_some() {
                    "revoked"
                } else if token.grace_until_ms.is_some_and(|t| t <= now) {
                    "re-issued"
                } else if token.grace_until_ms.is_some() {
                    "re-issued, in grace period"
                } else if token.expires_ms <= now {
                    "expired"
                } else {
                    "active"
                };
                let expires = chrono::DateTime::from_timestamp_millis(token.expires_ms).unwrap_or_default();
                println!(
                    "{}  {:<20} {:<12} expires {}  {state}",
                    token.id,
                    token.name,
                    owner,
                    expires.format("%Y-%m-%d")
                );
            }
        }
        TokenAction::Revoke { id } => {
            anyhow::ensure!(auth.revoke_token(&id).await?, "there is no active token {id}");
            auth.audit(system_audit("token.revoke", &id, "from the command line")).await;
            println!("Token {id} revoked.");
        }
        TokenAction::Reissue { id } => {
            let issued = auth.reissue_token(&id).await?;
            auth.audit(system_audit("token.reissue", &id, &format!("replaced by {}", issued.record.id))).await;
            eprintln!(
                "Token {id} re-issued as {}; the old one works for {} more hours. The new token:",
                issued.record.id,
                auth.config().token_grace_hours
            );
            println!("{}", issued.jwt);
        }
        TokenAction::RotateKey => {
            auth.rotate_signing_key()?;
            auth.audit(system_audit("token.rotate_key", "", "from the command line")).await;
            println!(
                "New signing key in use. Tokens signed with the old key work for {} hours; re-issue them.",
                auth.config().token_grace_hours
            );
        }
    }
    Ok(())
}

fn system_audit(action: &str, target: &str, detail: &str) -> watchpost::db::NewAudit {
    watchpost::db::NewAudit {
        actor: Some("command line".into()),
        ip: None,
        action: action.into(),
        target: (!target.is_empty()).then(|| target.to_string()),
        ok: true,
        detail: Some(detail.into()),
    }
}

/// `WATCHPOST_PASSWORD`, or a line from standard input (asked twice, unechoed, on a terminal).
fn read_password() -> anyhow::Result<String> {
    if let Ok(password) = std::env::var("WATCHPOST_PASSWORD") {
        return Ok(password);
    }
    let interactive = unsafe { libc::isatty(libc::STDIN_FILENO) } == 1;
    if !interactive {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).context("cannot read the password from standard input")?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_string());
    }
    let first = prompt_hidden("Password: ")?;
    let second = prompt_hidden("Password again: ")?;
    anyhow::ensure!(first == second, "the two passwords are not the same");
    Ok(first)
}

fn prompt_hidden(prompt: &str) -> anyhow::Result<String> {
    use std::io::Write;
    eprint!("{prompt}");
    std::io::stderr().flush().ok();
    // SAFETY: termios is plain data; tcgetattr fills it and tcsetattr restores it below.
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    let have_termios = unsafe { libc::tcgetattr(libc::STDIN_FILENO, &mut saved) } == 0;
    if have_termios {
        let mut quiet = saved;
        quiet.c_lflag &= !libc::ECHO;
        unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &quiet) };
    }
    let mut line = String::new();
    let read = std::io::stdin().read_line(&mut line);
    if have_termios {
        unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &saved) };
    }
    eprintln!();
    read.context("cannot read the password")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

fn print_issues(issues: &[watchpost::checks::ConfigIssue]) {
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
                    watchpost::secret::redact_url(&camera.url),
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
        config_file: file,
        data_dir: args.data_dir,
        demo: args.demo,
        clock: watchpost::clock::system(),
    }))?;
    Ok(())
}
