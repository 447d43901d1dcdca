//! The database: connection (SQLite with WAL and a busy timeout, or PostgreSQL), embedded
//! migrations, and the typed queries the rest of the program uses. Nothing outside this module
//! builds SQL.

mod accounts;
mod alerts;
mod discovered;
pub mod entities;
mod migration;
mod nodes;
mod outbox;
mod push;
mod recordings;
mod reports;
mod search;
mod sign_ins;
mod stationary;
mod whatsapp;

use crate::error::{Error, Result};
use crate::model::{EventKind, EventStatus, Severity};
use entities::{camera, event};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectOptions, Database, DatabaseConnection, EntityTrait, PaginatorTrait,
    PrimaryKeyTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait, Set,
};
use sea_orm_migration::MigratorTrait;
use std::time::Duration;

pub use accounts::{NewAudit, NewUser};
pub use alerts::Recipient;
pub use migration::Migrator;
pub use outbox::NewOutboxMessage;
pub use push::NewPushSubscription;
pub use recordings::{NewSegment, RecordingUsage};
pub use reports::NewReport;
pub use search::{Description, search_words};
pub use sign_ins::SIGN_IN_REMEMBERED_FOR;
pub use stationary::HeldObject;

/// A JSON value kept in a TEXT column or a setting, read back. Data that cannot be decoded is an
/// error that names what it was (`event 12's zones`), never an empty value taken in silence.
pub fn stored_json<T: serde::de::DeserializeOwned>(text: &str, what: impl std::fmt::Display) -> Result<T> {
    serde_json::from_str(text).map_err(|e| Error::internal(format!("{what} cannot be read")).with_source(e))
}

/// [`stored_json`] for readers that show what they can (an event card, a bus message): a value
/// that cannot be decoded is logged as an error, naming it, and the reader goes on without it.
pub fn stored_json_or_logged<T: serde::de::DeserializeOwned + Default>(text: &str, what: impl std::fmt::Display) -> T {
    stored_json(text, &what).unwrap_or_else(|err| {
        tracing::error!(error = %err, "{what}: the stored value is damaged; going on without it");
        T::default()
    })
}

/// How long a SQLite writer waits for a lock before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone, Debug)]
pub struct Db {
    conn: DatabaseConnection,
    /// The most connections the pool opens.
    connections: u32,
    /// Sessions and tokens read lately, for the sign-in check of every request.
    sign_ins: std::sync::Arc<sign_ins::SignIns>,
}

/// Connections to SQLite: one writer at a time, readers beside it (WAL).
const SQLITE_CONNECTIONS: u32 = 4;
/// How much of the SQLite file each connection reads through a memory map (1 GiB; beyond it,
/// through read calls). Measured with a million events under 50 connections: a sixth more
/// answers a second than copying every page out of the file (docs/performance.md). The cost
/// SQLite documents: a disk failing to read makes the process crash on a signal (SIGBUS) where
/// it would otherwise get an I/O error; in the container, it is restarted.
const SQLITE_MMAP_BYTES: u64 = 1 << 30;
/// Connections to PostgreSQL (sqlx's default).
const POSTGRES_CONNECTIONS: u32 = 10;

/// Which events to list; `before` is an event id (exclusive) for paging newest-first.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub camera: Option<String>,
    /// Only these cameras (the signed-in user's limit); `None` = every camera.
    pub allowed_cameras: Option<Vec<String>>,
    pub kind: Option<EventKind>,
    pub label: Option<String>,
    /// Events whose object entered this zone.
    pub zone: Option<String>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    pub before: Option<i64>,
    pub limit: u64,
    /// Words to search for in titles, descriptions, labels, camera and zone names; results come
    /// best match first instead of newest first.
    pub query: Option<String>,
    pub severity: Option<Severity>,
    pub status: Option<EventStatus>,
    /// Only events that alerted.
    pub alerts_only: bool,
    /// Events carrying this tag.
    pub tag: Option<String>,
}

/// The fields of a new event; the rest start empty (`new` status, no end, no description).
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub camera_id: String,
    pub kind: EventKind,
    pub label: Option<String>,
    pub score: f64,
    pub bbox: [f32; 4],
    pub boxes: Vec<[f32; 4]>,
    pub start_ms: i64,
    pub snapshot: Option<String>,
    pub severity: Severity,
    /// Zones the object is in when the event starts.
    pub zones: Vec<String>,
    /// The analysed frame's `(width, height)`, which the relative boxes are fractions of.
    pub frame: (u32, u32),
}

/// Later facts about an event: a better snapshot, its end.
#[derive(Debug, Clone)]
pub struct EventUpdate {
    pub score: f64,
    pub bbox: [f32; 4],
    pub boxes: Vec<[f32; 4]>,
    pub end_ms: Option<i64>,
    pub snapshot: Option<String>,
    pub stationary: bool,
    /// Every zone entered; `None` keeps the stored list.
    pub zones: Option<Vec<String>>,
    /// `[seconds since the start, score]` pairs; `None` keeps the stored list.
    pub score_history: Option<Vec<[f32; 2]>>,
    /// The object's label when the vote changed it (a `truck` after all); `None` keeps it.
    pub label: Option<String>,
}

/// Sets SQLite up before the process's first connection opens: it allocates with mimalloc
/// ([`crate::heap`]) and does not count its memory.
///
/// The count (on unless switched off) takes one process-wide mutex around every allocation and
/// free of every connection, and sqlx copies each value of each row it reads with SQLite's
/// allocator: under load the lock and its waits were a fifth of the CPU (docs/performance.md).
/// Nothing here reads the count. SQLite takes these settings only before it starts; if something
/// started it first, it goes on as it was and nothing else changes.
fn set_up_sqlite() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let methods = crate::heap::sqlite_mem_methods();
        // SAFETY: SQLITE_CONFIG_MALLOC takes a pointer to memory routines, which SQLite copies;
        // SQLITE_CONFIG_MEMSTATUS takes one int. `call_once` runs this before any other thread of
        // ours can open a connection (they all come through `Db::connect`, which waits for it);
        // SQLite answers SQLITE_MISUSE, changing nothing, if it had started already.
        let codes = unsafe {
            [
                libsqlite3_sys::sqlite3_config(libsqlite3_sys::SQLITE_CONFIG_MALLOC, &methods as *const _),
                libsqlite3_sys::sqlite3_config(libsqlite3_sys::SQLITE_CONFIG_MEMSTATUS, 0),
            ]
        };
        if codes != [libsqlite3_sys::SQLITE_OK; 2] {
            tracing::debug!(?codes, "SQLite had started already: it keeps its allocator and its memory count");
        }
    });
}

/// Switches on SQLite's query planner stability guarantee for `conn`: a statement keeps the plan
/// it was prepared with whatever values are bound to it.
///
/// Without it SQLite plans around the value bound to `LIMIT ?` (sea-orm binds every limit), so
/// binding it again marks the statement expired and every run of a cached statement parsed and
/// planned it anew: a tenth of the CPU a million-event events page took under load
/// (docs/performance.md). Our queries' plans do not depend on the values bound.
async fn keep_sqlite_plans(
    conn: &mut sea_orm::sqlx::SqliteConnection,
) -> std::result::Result<(), sea_orm::sqlx::Error> {
    match query_planner_stability(conn, 1).await? {
        Ok(true) => Ok(()),
        outcome => Err(sea_orm::sqlx::Error::Configuration(
            format!("SQLite refused its query planner stability guarantee ({outcome:?})").into(),
        )),
    }
}

/// SQLite's query planner stability guarantee on `conn`: `setting` 1 switches it on, 0 off, -1
/// leaves it; whether it is on afterwards, or SQLite's error code.
async fn query_planner_stability(
    conn: &mut sea_orm::sqlx::SqliteConnection,
    setting: i32,
) -> std::result::Result<std::result::Result<bool, i32>, sea_orm::sqlx::Error> {
    let mut handle = conn.lock_handle().await?;
    let mut enabled: i32 = -1;
    // SAFETY: the raw handle is the open connection this locked handle keeps from every other use
    // until dropped; SQLITE_DBCONFIG_ENABLE_QPSG takes an int and an int pointer for the result.
    let code = unsafe {
        libsqlite3_sys::sqlite3_db_config(
            handle.as_raw_handle().as_ptr(),
            libsqlite3_sys::SQLITE_DBCONFIG_ENABLE_QPSG,
            setting,
            &mut enabled as *mut i32,
        )
    };
    Ok(if code == libsqlite3_sys::SQLITE_OK { Ok(enabled == 1) } else { Err(code) })
}

impl Db {
    /// Connects and applies pending migrations.
    pub async fn connect(url: &str) -> Result<Self> {
        let mut options = ConnectOptions::new(url.to_string());
        options.sqlx_logging(false).connect_timeout(Duration::from_secs(10));
        let sqlite = url.starts_with("sqlite:");
        let connections = if sqlite { SQLITE_CONNECTIONS } else { POSTGRES_CONNECTIONS };
        options.max_connections(connections);
        if sqlite {
            set_up_sqlite();
            options.map_sqlx_sqlite_opts(|o| {
                o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                    .busy_timeout(SQLITE_BUSY_TIMEOUT)
                    .create_if_missing(true)
                    // Rows a query hands to the reader before SQLite's thread waits for it (sqlx's
                    // default 50): a search's batch of 500 crosses in one go.
                    .row_buffer_size(1024)
                    // Pages read through a memory map instead of copied out by a read call.
                    .pragma("mmap_size", SQLITE_MMAP_BYTES.to_string())
            });
            options.map_sqlx_sqlite_pool_opts(|pool| {
                pool.after_connect(|conn, _| Box::pin(async move { keep_sqlite_plans(conn).await }))
            });
        }
        let conn = Database::connect(options).await.map_err(|err| {
            Error::unavailable(format!("cannot open the database {}", crate::secret::redact_url(url))).with_source(err)
        })?;
        Migrator::up(&conn, None)
            .await
            .map_err(|err| Error::unavailable("cannot apply database migrations").with_source(err))?;
        Ok(Self { conn, connections, sign_ins: Default::default() })
    }

    /// How many queries the database runs at once: the pool's connections.
    pub fn connections(&self) -> usize {
        self.connections as usize
    }

    /// Inserts a row and returns its id once it is stored. sea-orm's `ActiveModel::insert` sends
    /// `INSERT … RETURNING` and reads one row; SQLite commits that statement only after handing
    /// the row back, and sqlx, stopping after the first row, reports it even when the commit then
    /// fails (a full disk; sqlx issue #2099): the caller went on with an id that was never stored,
    /// which the next insert was given again (the soak lost an MQTT alert that way). `Insert::exec`
    /// reads its statement to the end, where that failure is an error. (An explicit transaction
    /// around `ActiveModel::insert` was tried: after such a failure the soak saw SQLite's write lock
    /// stay held until Watchpost was killed. Transactions here insert with `Insert::exec` too.)
    async fn insert_row<A>(
        &self,
        row: A,
    ) -> Result<<<A::Entity as EntityTrait>::PrimaryKey as PrimaryKeyTrait>::ValueType>
    where
        A: ActiveModelTrait + Send,
    {
        Ok(<A::Entity as EntityTrait>::insert(row).exec(&self.conn).await?.last_insert_id)
    }

    pub fn backend_name(&self) -> &'static str {
        match self.conn.get_database_backend() {
            sea_orm::DatabaseBackend::Postgres => "postgresql",
            sea_orm::DatabaseBackend::Sqlite => "sqlite",
            _ => "other",
        }
    }

    /// Writes a consistent copy of the SQLite database to `path` while it is in use (`VACUUM INTO`:
    /// one read transaction, compacted). Not for PostgreSQL.
    pub async fn copy_sqlite_to(&self, path: &std::path::Path) -> Result<()> {
        use sea_orm::ConnectionTrait;
        let quoted = path.display().to_string().replace('\'', "''");
        self.conn.execute_unprepared(&format!("VACUUM INTO '{quoted}'")).await.map_err(|err| {
            Error::unavailable(format!("cannot copy the database to {}", path.display())).with_source(err)
        })?;
        Ok(())
    }

    /// A cheap query proving the database answers.
    pub async fn ping(&self) -> Result<()> {
        self.conn.ping().await.map_err(Error::from)
    }

    pub async fn close(self) {
        let _ = self.conn.close().await;
    }

    pub async fn upsert_camera(&self, record: camera::Model) -> Result<()> {
        let model: camera::ActiveModel = record.into();
        camera::Entity::insert(model)
            .on_conflict(
                OnConflict::column(camera::Column::Id)
                    .update_columns([
                        camera::Column::Name,
                        camera::Column::Source,
                        camera::Column::Settings,
                        camera::Column::Credentials,
                        camera::Column::UpdatedMs,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&self.conn)
            .await?;
        Ok(())
    }

    pub async fn list_cameras(&self) -> Result<Vec<camera::Model>> {
        Ok(camera::Entity::find().order_by_asc(camera::Column::Id).all(&self.conn).await?)
    }

    pub async fn get_camera(&self, id: &str) -> Result<Option<camera::Model>> {
        Ok(camera::Entity::find_by_id(id.to_string()).one(&self.conn).await?)
    }

    pub async fn delete_camera(&self, id: &str) -> Result<bool> {
        let result = camera::Entity::delete_by_id(id.to_string()).exec(&self.conn).await?;
        Ok(result.rows_affected > 0)
    }

    /// Records a camera's status so the UI shows the last known state after a restart.
    pub async fn set_camera_status(
        &self,
        id: &str,
        status: &str,
        last_error: Option<&str>,
        last_frame_ms: Option<i64>,
    ) -> Result<()> {
        camera::Entity::update_many()
            .col_expr(camera::Column::Status, Expr::value(status))
            .col_expr(camera::Column::LastError, Expr::value(last_error.map(str::to_string)))
            .col_expr(camera::Column::LastFrameMs, Expr::value(last_frame_ms))
            .filter(camera::Column::Id.eq(id))
            .exec(&self.conn)
            .await?;
        Ok(())
    }

    pub async fn insert_event(&self, new: &NewEvent) -> Result<i64> {
        let model = event::ActiveModel {
            camera_id: Set(new.camera_id.clone()),
            kind: Set(new.kind),
            label: Set(new.label.clone()),
            score: Set(new.score),
            bbox: Set(json(&new.bbox)),
            boxes: Set(json(&new.boxes)),
            zones: Set(json(&new.zones)),
            start_ms: Set(new.start_ms),
            end_ms: Set(None),
            snapshot: Set(new.snapshot.clone()),
            severity: Set(new.severity),
            status: Set(EventStatus::New),
            tags: Set("[]".into()),
            description: Set(None),
            stationary: Set(false),
            frame_width: Set(Some(new.frame.0 as i32)),
            frame_height: Set(Some(new.frame.1 as i32)),
            ..Default::default()
        };
        let id = self.insert_row(model).await?;
        self.refresh_search_text(id).await?;
        Ok(id)
    }

    pub async fn update_event(&self, id: i64, update: &EventUpdate) -> Result<()> {
        let mut query = event::Entity::update_many()
            .col_expr(event::Column::Score, Expr::value(update.score))
            .col_expr(event::Column::Bbox, Expr::value(json(&update.bbox)))
            .col_expr(event::Column::Boxes, Expr::value(json(&update.boxes)))
            .col_expr(event::Column::EndMs, Expr::value(update.end_ms))
            .col_expr(event::Column::Stationary, Expr::value(update.stationary));
        if let Some(history) = &update.score_history {
            query = query.col_expr(event::Column::ScoreHistory, Expr::value(json(history)));
        }
        if let Some(zones) = &update.zones {
            query = query.col_expr(event::Column::Zones, Expr::value(json(zones)));
        }
        if let Some(label) = &update.label {
            query = query.col_expr(event::Column::Label, Expr::value(label.clone()));
        }
        if let Some(snapshot) = &update.snapshot {
            query = query.col_expr(event::Column::Snapshot, Expr::value(snapshot.clone()));
        }
        query.filter(event::Column::Id.eq(id)).exec(&self.conn).await?;
        if update.zones.is_some() || update.label.is_some() {
            self.refresh_search_text(id).await?;
        }
        Ok(())
    }

    pub async fn get_event(&self, id: i64) -> Result<Option<event::Model>> {
        Ok(event::Entity::find_by_id(id).one(&self.conn).await?)
    }

    pub async fn set_event_status(&self, id: i64, status: EventStatus) -> Result<bool> {
        let result = event::Entity::update_many()
            .col_expr(event::Column::Status, Expr::value(status))
            .filter(event::Column::Id.eq(id))
            .exec(&self.conn)
            .await?;
        Ok(result.rows_affected > 0)
    }

    /// The events `filter` selects, before paging and search.
    fn events_selected(filter: &EventFilter) -> sea_orm::Select<event::Entity> {
        event::Entity::find().filter(Self::event_conditions(filter))
    }

    /// `filter`'s conditions on events but its search and paging (none: every event).
    fn event_conditions(filter: &EventFilter) -> sea_orm::Condition {
        let mut conditions = sea_orm::Condition::all();
        if let Some(camera) = &filter.camera {
            conditions = conditions.add(event::Column::CameraId.eq(camera.as_str()));
        }
        if let Some(allowed) = &filter.allowed_cameras {
            conditions = conditions.add(event::Column::CameraId.is_in(allowed.iter().map(String::as_str)));
        }
        if let Some(kind) = &filter.kind {
            conditions = conditions.add(event::Column::Kind.eq(*kind));
        }
        if let Some(label) = &filter.label {
            conditions = conditions.add(event::Column::Label.eq(label.as_str()));
        }
        if let Some(zone) = &filter.zone {
            // Zones are a JSON list of names: match the quoted name.
            conditions = conditions.add(event::Column::Zones.contains(format!("\"{zone}\"")));
        }
        if let Some(since) = filter.since_ms {
            conditions = conditions.add(event::Column::StartMs.gte(since));
        }
        if let Some(until) = filter.until_ms {
            conditions = conditions.add(event::Column::StartMs.lt(until));
        }
        if let Some(severity) = &filter.severity {
            conditions = conditions.add(event::Column::Severity.eq(*severity));
        }
        if let Some(status) = &filter.status {
            conditions = conditions.add(event::Column::Status.eq(*status));
        }
        if let Some(tag) = &filter.tag {
            // Tags are a JSON list of words: match the quoted tag.
            conditions = conditions.add(event::Column::Tags.contains(format!("\"{tag}\"")));
        }
        if filter.alerts_only {
            conditions = conditions.add(event::Column::AlertedMs.is_not_null());
        }
        conditions
    }

    /// Events matching `filter`, newest first.
    pub async fn list_events(&self, filter: &EventFilter) -> Result<Vec<event::Model>> {
        let limit = filter.limit.clamp(1, 500);
        let Some(text) = filter.query.as_deref() else {
            let mut query = Self::events_selected(filter);
            if let Some(before) = filter.before {
                query = query.filter(event::Column::Id.lt(before));
            }
            let newest = query.order_by_desc(event::Column::Id).limit(limit);
            // The page's ids first, then only their rows: a day's thousands of events, found by
            // the time index, are sorted as ids instead of whole rows (a day of 2,743 in SQLite:
            // 6 ms -> 1 ms; in PostgreSQL 2.9 -> 1.8 ms). Without a time window PostgreSQL reads
            // the rows at once: it planned the nested form in several times as long, and ran it
            // no faster (docs/performance.md).
            let sqlite = self.conn.get_database_backend() == sea_orm::DatabaseBackend::Sqlite;
            if !sqlite && filter.since_ms.is_none() && filter.until_ms.is_none() {
                return Ok(newest.all(&self.conn).await?);
            }
            let page = newest.select_only().column(event::Column::Id);
            return Ok(event::Entity::find()
                .filter(event::Column::Id.in_subquery(page.into_query()))
                .order_by_desc(event::Column::Id)
                .all(&self.conn)
                .await?);
        };
        let words = search_words(text);
        if words.is_empty() {
            return Ok(Vec::new());
        }
        // Search: the newest 500 matches within the other filters, best match first. Matches come
        // from the index newest first, in batches, until 500 pass the other filters; only their
        // texts are read to rank them (none, for one word on PostgreSQL: `search_batch`), and only
        // the page's events whole.
        let mut matched: Vec<(i64, usize)> = Vec::new();
        let (mut below, mut batch) = (filter.before, SEARCH_MATCHES);
        while matched.len() < SEARCH_MATCHES as usize {
            let batch_read = self.search_batch(filter, &words, below, batch).await?;
            matched.extend(batch_read.ranked);
            match batch_read.oldest_candidate {
                Some(oldest) if batch_read.candidates == batch => {
                    (below, batch) = (Some(oldest), (batch * 4).min(SEARCH_BATCH_MAX));
                }
                // The index holds no more matches below.
                _ => break,
            }
        }
        matched.truncate(SEARCH_MATCHES as usize);
        // Stable: equally good matches stay newest first.
        matched.sort_by_key(|&(_, relevance)| std::cmp::Reverse(relevance));
        matched.truncate(limit as usize);
        let order: std::collections::HashMap<i64, usize> =
            matched.iter().enumerate().map(|(place, &(id, _))| (id, place)).collect();
        let mut found =
            event::Entity::find().filter(event::Column::Id.is_in(order.keys().copied())).all(&self.conn).await?;
        found.sort_by_key(|e| order.get(&e.id).copied().unwrap_or(usize::MAX));
        Ok(found)
    }

    /// Every event matching `filter` (its search words matching any, no paging), oldest first;
    /// `filter.limit` and `before` are ignored.
    pub async fn events_matching(&self, filter: &EventFilter) -> Result<Vec<event::Model>> {
        let mut query = Self::events_selected(filter);
        if let Some(text) = &filter.query {
            let words = search_words(text);
            if words.is_empty() {
                return Ok(Vec::new());
            }
            query = query.filter(search::matches_any(self.conn.get_database_backend(), &words));
        }
        Ok(query.order_by_asc(event::Column::Id).all(&self.conn).await?)
    }

    pub async fn count_events(&self, camera: Option<&str>) -> Result<u64> {
        let mut query = event::Entity::find();
        if let Some(camera) = camera {
            query = query.filter(event::Column::CameraId.eq(camera));
        }
        Ok(query.count(&self.conn).await?)
    }
}

/// How many of the newest matches a search ranks.
const SEARCH_MATCHES: u64 = 500;
/// The most candidates a search reads from the index at once (batches grow fourfold from 500
/// while the other filters leave too few).
const SEARCH_BATCH_MAX: u64 = 8_000;

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "[]".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};

    /// Every pooled SQLite connection keeps its plans (`keep_sqlite_plans`): asked back from
    /// SQLite itself, on more connections than one.
    #[tokio::test]
    async fn sqlite_connections_keep_their_plans() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/watchpost.db", dir.path().display())).await.unwrap();
        let pool = db.conn.get_sqlite_connection_pool();
        let mut held = Vec::new();
        for _ in 0..2 {
            let mut conn = pool.acquire().await.unwrap();
            let enabled = query_planner_stability(&mut conn, -1).await.unwrap();
            assert_eq!(enabled, Ok(true), "a pooled connection plans around bound values");
            held.push(conn);
        }
    }

    /// SQLite does not count its memory (`set_up_sqlite`): with a database open and
    /// read, the count it would keep is still nothing. Every connection of this test binary
    /// comes through `Db::connect`, so the setting came before SQLite started.
    #[tokio::test]
    async fn sqlite_does_not_count_its_memory() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/watchpost.db", dir.path().display())).await.unwrap();
        assert_eq!(db.count_events(None).await.unwrap(), 0);
        // SAFETY: reads a counter; no arguments.
        let counted = unsafe { libsqlite3_sys::sqlite3_memory_used() };
        assert_eq!(counted, 0, "SQLite counted {counted} bytes in use");
    }

    /// The SQLite connections the pool opens read the file through a memory map.
    #[tokio::test]
    async fn sqlite_connections_map_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/watchpost.db", dir.path().display())).await.unwrap();
        let row = db
            .conn
            .query_one_raw(Statement::from_string(DatabaseBackend::Sqlite, "PRAGMA mmap_size"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.try_get_by_index::<i64>(0).unwrap(), SQLITE_MMAP_BYTES as i64);
    }
}
