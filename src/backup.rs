//! Backup and restore of a whole installation: one ZIP with a consistent copy of the SQLite
//! database taken while Watchpost runs (`VACUUM INTO`), the keys (`keys/`: token signing and the
//! vault that encrypts camera passwords — without them the copy's secrets cannot be read), the
//! config file, the snapshots and the reports, and on request the recordings. A restore goes only
//! into an empty data directory, so it can never overwrite an installation.
//!
//! With PostgreSQL the database is not in the file: `pg_dump` does that better (the manifest and
//! the command's output say so); keys, config and media still are.
//!
//! From the Settings page a restore is staged: the backup is checked and named in
//! `<data>/restore-pending.json`, and at the next start, before anything opens the database,
//! [`apply_pending`] restores it into `<data>/.restoring/`, then moves what the data directory held
//! aside into `<data>/before-restore-<time>/` (kept, so the step can be undone by hand) and the
//! restored files into place.

use crate::db::Db;
use crate::error::{Error, Result};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use zip::write::SimpleFileOptions;

/// The format named in `manifest.json`.
pub const FORMAT: &str = "watchpost-backup/1";

/// What goes into a backup.
#[derive(Debug, Clone)]
pub struct BackupPlan {
    pub data_dir: PathBuf,
    pub media_dir: PathBuf,
    pub recordings_dir: PathBuf,
    /// The config file Watchpost runs with, if any.
    pub config_file: Option<PathBuf>,
    /// Include the recorded video (it can be large).
    pub recordings: bool,
}

/// What a backup or a restore held.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    pub files: u64,
    pub bytes: u64,
    /// Whether the database is in it (false with PostgreSQL).
    pub database: bool,
    /// The config file it holds (a backup), or where it was restored to (a restore).
    pub config: Option<PathBuf>,
}

/// Copies the database consistently to a temporary file in the data directory (SQLite), or
/// `None` for PostgreSQL. The caller deletes the file.
pub async fn snapshot_database(db: &Db, data_dir: &Path) -> Result<Option<PathBuf>> {
    if db.backend_name() != "sqlite" {
        return Ok(None);
    }
    let target = data_dir.join(format!(".backup-{}.db", std::process::id()));
    let _ = tokio::fs::remove_file(&target).await;
    db.copy_sqlite_to(&target).await?;
    Ok(Some(target))
}

fn add_file<W: Write>(
    zip: &mut zip::ZipWriter<zip::write::StreamWriter<W>>,
    name: &str,
    path: &Path,
    summary: &mut Summary,
) -> Result<()> {
    let fail = |e: String| Error::unavailable(format!("the backup cannot be written: {e}"));
    let options = SimpleFileOptions::default()
        .compression_method(if name.ends_with(".jpg") || name.ends_with(".mp4") || name.ends_with(".pdf") {
            zip::CompressionMethod::Stored
        } else {
            zip::CompressionMethod::Deflated
        })
        .large_file(true)
        .unix_permissions(0o600);
    let mut file = std::fs::File::open(path).map_err(|e| fail(format!("{}: {e}", path.display())))?;
    zip.start_file(name, options).map_err(|e| fail(e.to_string()))?;
    summary.bytes += std::io::copy(&mut file, zip).map_err(|e| fail(e.to_string()))?;
    summary.files += 1;
    Ok(())
}

/// Every file under `dir`, as paths relative to it, in a stable order; hidden work files
/// (`.clips`, `.part`) are left out.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(relative) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(dir.join(&relative)) else { continue };
        for entry in entries.flatten() {
            let name = entry.file_name();
            if name.to_string_lossy().starts_with('.') {
                continue;
            }
            let path = relative.join(&name);
            match entry.file_type() {
                Ok(kind) if kind.is_dir() => stack.push(path),
                Ok(kind) if kind.is_file() => found.push(path),
                _ => {}
            }
        }
    }
    found.sort();
    found
}

/// Writes the backup to `out` (which need not seek). `database` is the copy from
/// [`snapshot_database`]. Runs on a blocking thread.
pub fn write_backup(out: impl Write, plan: &BackupPlan, database: Option<&Path>, now_ms: i64) -> Result<Summary> {
    let fail = |e: String| Error::unavailable(format!("the backup cannot be written: {e}"));
    let mut summary = Summary { database: database.is_some(), config: plan.config_file.clone(), ..Summary::default() };
    let mut zip = zip::ZipWriter::new_stream(out);
    let manifest = serde_json::json!({
        "format": FORMAT,
        "version": env!("CARGO_PKG_VERSION"),
        "created": chrono::DateTime::from_timestamp_millis(now_ms).unwrap_or_default().to_rfc3339(),
        "database": if database.is_some() { "watchpost.db" } else { "not included: PostgreSQL; back it up with pg_dump" },
        "config": plan.config_file.as_ref().map(|_| "config/watchpost.toml"),
        "recordings": plan.recordings,
    });
    zip.start_file("manifest.json", SimpleFileOptions::default()).map_err(|e| fail(e.to_string()))?;
    zip.write_all(manifest.to_string().as_bytes()).map_err(|e| fail(e.to_string()))?;
    if let Some(database) = database {
        add_file(&mut zip, "watchpost.db", database, &mut summary)?;
    }
    if let Some(config) = &plan.config_file {
        add_file(&mut zip, "config/watchpost.toml", config, &mut summary)?;
    }
    let mut folders = vec![
        ("keys", plan.data_dir.join("keys")),
        ("media", plan.media_dir.clone()),
        ("reports", crate::reports::reports_dir(&plan.data_dir)),
    ];
    if plan.recordings {
        folders.push(("recordings", plan.recordings_dir.clone()));
    }
    for (prefix, dir) in folders {
        for relative in files_under(&dir) {
            let name = format!("{prefix}/{}", relative.to_string_lossy());
            add_file(&mut zip, &name, &dir.join(&relative), &mut summary)?;
        }
    }
    zip.finish().map_err(|e| fail(e.to_string()))?.flush().map_err(|e| fail(e.to_string()))?;
    Ok(summary)
}

/// Where a restore puts things.
#[derive(Debug, Clone)]
pub struct RestorePlan {
    pub data_dir: PathBuf,
    pub media_dir: PathBuf,
    pub recordings_dir: PathBuf,
    /// Where the SQLite database goes (`None` with PostgreSQL: the copy in the backup is skipped).
    pub database_file: Option<PathBuf>,
    /// Where the backup's config file goes; when a file is there already, it stays and the
    /// backup's is written beside it as `<file>.from-backup`.
    pub config_file: PathBuf,
}

/// The file that names a backup to restore at the next start.
pub const PENDING: &str = "restore-pending.json";
/// Where a staged restore is unpacked before it replaces the data directory's contents.
const STAGING: &str = ".restoring";
/// What the data directory held before a staged restore, kept beside it.
const ASIDE_PREFIX: &str = "before-restore-";

/// A staged restore, as `restore-pending.json` holds it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Pending {
    pub file: PathBuf,
    pub by: String,
    pub at: String,
}

/// Checks that `file` is a Watchpost backup; its manifest.
pub fn check(file: &Path) -> Result<serde_json::Value> {
    let fail = |e: String| Error::invalid(format!("{} cannot be restored: {e}", file.display()));
    let reader = std::fs::File::open(file).map_err(|e| fail(e.to_string()))?;
    let mut archive = zip::ZipArchive::new(reader).map_err(|e| fail(format!("not a backup ZIP ({e})")))?;
    let mut entry = archive.by_name("manifest.json").map_err(|_| fail("it has no manifest.json".into()))?;
    let mut text = String::new();
    entry.read_to_string(&mut text).map_err(|e| fail(e.to_string()))?;
    let manifest: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| fail(format!("its manifest.json cannot be read ({e})")))?;
    if manifest["format"] != FORMAT {
        return Err(fail(format!("it is {}, not {FORMAT}", manifest["format"])));
    }
    Ok(manifest)
}

/// Stages the restore of `file` for the next start, after checking it; the data directory must
/// use the default layout (database, media and recordings inside it).
pub fn stage(data_dir: &Path, default_layout: bool, file: &Path, by: &str, at: &str) -> Result<serde_json::Value> {
    if !default_layout {
        return Err(Error::invalid(
            "the database or the media are outside the data directory (or on PostgreSQL); restore with \
             `watchpost restore` on the command line (docs/backup.md)",
        ));
    }
    let manifest = check(file)?;
    let pending = Pending { file: file.to_path_buf(), by: by.to_string(), at: at.to_string() };
    let text = serde_json::to_vec_pretty(&pending).unwrap_or_default();
    let partial = data_dir.join(format!("{PENDING}.part"));
    std::fs::write(&partial, text)
        .and_then(|()| std::fs::rename(&partial, data_dir.join(PENDING)))
        .map_err(|e| Error::unavailable(format!("cannot stage the restore in {}: {e}", data_dir.display())))?;
    Ok(manifest)
}

/// The staged restore, if any.
pub fn pending(data_dir: &Path) -> Option<Pending> {
    serde_json::from_slice(&std::fs::read(data_dir.join(PENDING)).ok()?).ok()
}

/// Drops a staged restore.
pub fn cancel(data_dir: &Path) -> Result<()> {
    match std::fs::remove_file(data_dir.join(PENDING)) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(Error::unavailable(format!("cannot cancel the restore: {err}"))),
    }
}

/// Carries out a staged restore (at start, before the database opens); where the replaced files
/// went. A backup that cannot be restored leaves the data directory as it was.
pub fn apply_pending(data_dir: &Path, now: &str) -> Result<Option<PathBuf>> {
    let Some(staged) = pending(data_dir) else { return Ok(None) };
    // Whatever happens, the next start does not try again.
    cancel(data_dir)?;
    let staging = data_dir.join(STAGING);
    let _ = std::fs::remove_dir_all(&staging);
    let plan = RestorePlan {
        data_dir: staging.clone(),
        media_dir: staging.join("media"),
        recordings_dir: staging.join("recordings"),
        database_file: Some(staging.join("watchpost.db")),
        config_file: staging.join("watchpost.toml.from-backup"),
    };
    if let Err(err) = restore(&staged.file, &plan) {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(err);
    }
    let fail = |e: std::io::Error| {
        Error::unavailable(format!("the restore could not move files in {}: {e}", data_dir.display()))
    };
    let aside = data_dir.join(format!("{ASIDE_PREFIX}{now}"));
    std::fs::create_dir(&aside).map_err(fail)?;
    for entry in std::fs::read_dir(data_dir).map_err(fail)?.flatten() {
        let name = entry.file_name();
        let text = name.to_string_lossy();
        if text == STAGING || text.starts_with(ASIDE_PREFIX) {
            continue;
        }
        std::fs::rename(entry.path(), aside.join(&name)).map_err(fail)?;
    }
    for entry in std::fs::read_dir(&staging).map_err(fail)?.flatten() {
        std::fs::rename(entry.path(), data_dir.join(entry.file_name())).map_err(fail)?;
    }
    std::fs::remove_dir(&staging).map_err(fail)?;
    Ok(Some(aside))
}

fn is_empty_dir(dir: &Path) -> bool {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => entries.next().is_none(),
        Err(err) => err.kind() == std::io::ErrorKind::NotFound,
    }
}

/// Restores the backup `file` as `plan` says. Refuses a data directory that holds anything, and
/// a file that is not a Watchpost backup.
pub fn restore(file: &Path, plan: &RestorePlan) -> Result<Summary> {
    if !is_empty_dir(&plan.data_dir) {
        return Err(Error::conflict(format!(
            "{} is not empty; restore into a new, empty data directory (nothing is overwritten)",
            plan.data_dir.display()
        )));
    }
    check(file)?;
    let fail = |e: String| Error::invalid(format!("{} cannot be restored: {e}", file.display()));
    let reader = std::fs::File::open(file).map_err(|e| fail(e.to_string()))?;
    let mut archive = zip::ZipArchive::new(reader).map_err(|e| fail(format!("not a backup ZIP ({e})")))?;
    // An existing config file stays; the backup's goes beside it.
    let config_target = if plan.config_file.exists() {
        let mut beside = plan.config_file.clone().into_os_string();
        beside.push(".from-backup");
        PathBuf::from(beside)
    } else {
        plan.config_file.clone()
    };
    let mut summary = Summary::default();
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).map_err(|e| fail(e.to_string()))?;
        if entry.is_dir() {
            continue;
        }
        let Some(name) = entry.enclosed_name() else {
            return Err(fail(format!("it holds a path outside the data directory ({:?})", entry.name_raw())));
        };
        let mut parts = name.components();
        let first = parts.next().map(|c| c.as_os_str().to_string_lossy().into_owned()).unwrap_or_default();
        let rest: PathBuf = parts.collect();
        let target = match first.as_str() {
            "manifest.json" => continue,
            "watchpost.db" => match &plan.database_file {
                Some(path) => {
                    summary.database = true;
                    path.clone()
                }
                None => continue,
            },
            "config" => {
                summary.config = Some(config_target.clone());
                config_target.clone()
            }
            "keys" | "reports" => plan.data_dir.join(&first).join(rest),
            "media" => plan.media_dir.join(rest),
            "recordings" => plan.recordings_dir.join(rest),
            _ => continue,
        };
        write_private(&target, &mut entry).map_err(|e| fail(format!("{}: {e}", target.display())))?;
        summary.files += 1;
        summary.bytes += entry.size();
    }
    Ok(summary)
}

/// Writes a restored file readable by this account only, through a temporary name.
fn write_private(target: &Path, content: &mut impl Read) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if let Some(parent) = target.parent() {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(parent)?;
    }
    let partial = target.with_extension("restoring");
    let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&partial)?;
    std::io::copy(content, &mut file)?;
    file.sync_all()?;
    std::fs::rename(&partial, target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restore_keeps_an_existing_config_and_refuses_a_used_directory() {
        let source = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(source.path().join("keys")).unwrap();
        std::fs::write(source.path().join("keys/tokens.key"), b"secret").unwrap();
        let config = source.path().join("watchpost.toml");
        std::fs::write(&config, "[server]\nbind = \"0.0.0.0:8080\"\n").unwrap();
        let plan = BackupPlan {
            data_dir: source.path().into(),
            media_dir: source.path().join("media"),
            recordings_dir: source.path().join("recordings"),
            config_file: Some(config),
            recordings: false,
        };
        let file = source.path().join("backup.zip");
        let summary = write_backup(std::fs::File::create(&file).unwrap(), &plan, None, 0).unwrap();
        assert_eq!((summary.files, summary.database), (2, false));

        let target = tempfile::tempdir().unwrap();
        let data = target.path().join("data");
        let existing = target.path().join("watchpost.toml");
        std::fs::write(&existing, "# mine\n").unwrap();
        let restore_plan = RestorePlan {
            data_dir: data.clone(),
            media_dir: data.join("media"),
            recordings_dir: data.join("recordings"),
            database_file: Some(data.join("watchpost.db")),
            config_file: existing.clone(),
        };
        let restored = restore(&file, &restore_plan).unwrap();
        assert_eq!(std::fs::read_to_string(&existing).unwrap(), "# mine\n", "an existing config stays");
        let beside = target.path().join("watchpost.toml.from-backup");
        assert_eq!(restored.config.as_deref(), Some(beside.as_path()));
        assert!(std::fs::read_to_string(&beside).unwrap().contains("0.0.0.0:8080"));
        assert_eq!(std::fs::read(data.join("keys/tokens.key")).unwrap(), b"secret");
        let again = restore(&file, &restore_plan).unwrap_err();
        assert!(again.to_string().contains("is not empty"), "{again}");
    }
}
