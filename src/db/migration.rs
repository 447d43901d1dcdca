//! Schema migrations, embedded in the binary and applied at start-up.
//!
//! Frozen: each migration holds every table name, column and SQL text it ran, and names nothing
//! outside this file, so changing today's code never changes what an old migration does to a
//! database that has not run it yet. A change to the schema or to stored data is a new migration.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(Initial),
            Box::new(Accounts),
            Box::new(ObjectEvents),
            Box::new(EventFrames),
            Box::new(ScoreHistory),
            Box::new(Outbox),
            Box::new(DiscoveredDevices),
            Box::new(NodeRegistry),
            Box::new(EventDescriptions),
            Box::new(Alerts),
            Box::new(WhatsAppNumbers),
            Box::new(Recordings),
            Box::new(StationaryObjects),
            Box::new(Reports),
            Box::new(PushSubscriptions),
            Box::new(EventsByCamera),
            Box::new(SearchByPrefix),
            Box::new(SearchTerms),
            Box::new(SearchTermsDescribed),
        ]
    }
}

/// The first schema; the name is what `seaql_migrations` records.
struct Initial;

impl MigrationName for Initial {
    fn name(&self) -> &str {
        "m20261122_000001_initial"
    }
}

#[derive(DeriveIden)]
enum Cameras {
    Table,
    Id,
    Name,
    Source,
    Settings,
    Status,
    LastError,
    LastFrameMs,
    UpdatedMs,
}

#[derive(DeriveIden)]
enum Events {
    Table,
    Id,
    CameraId,
    Kind,
    Label,
    Score,
    Bbox,
    Boxes,
    Zones,
    StartMs,
    EndMs,
    Snapshot,
    Severity,
    Status,
    Tags,
    Description,
}

#[derive(DeriveIden)]
enum Nodes {
    Table,
    Id,
    Name,
    Kind,
    Mac,
    Firmware,
    Address,
    LastSeenMs,
    CreatedMs,
}

#[derive(DeriveIden)]
enum Settings {
    Table,
    Key,
    Value,
    UpdatedMs,
}

#[async_trait::async_trait]
impl MigrationTrait for Initial {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Cameras::Table)
                    .if_not_exists()
                    .col(string(Cameras::Id).primary_key())
                    .col(string(Cameras::Name))
                    .col(string(Cameras::Source))
                    .col(text(Cameras::Settings))
                    .col(string(Cameras::Status))
                    .col(text_null(Cameras::LastError))
                    .col(big_integer_null(Cameras::LastFrameMs))
                    .col(big_integer(Cameras::UpdatedMs))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Events::Table)
                    .if_not_exists()
                    .col(big_pk_auto(Events::Id))
                    .col(string(Events::CameraId))
                    .col(string(Events::Kind))
                    .col(string_null(Events::Label))
                    .col(double(Events::Score))
                    .col(text(Events::Bbox))
                    .col(text(Events::Boxes))
                    .col(text(Events::Zones))
                    .col(big_integer(Events::StartMs))
                    .col(big_integer_null(Events::EndMs))
                    .col(text_null(Events::Snapshot))
                    .col(string(Events::Severity))
                    .col(string(Events::Status))
                    .col(text(Events::Tags))
                    .col(text_null(Events::Description))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_events_camera_start")
                    .table(Events::Table)
                    .col(Events::CameraId)
                    .col(Events::StartMs)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_events_start")
                    .table(Events::Table)
                    .col(Events::StartMs)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Nodes::Table)
                    .if_not_exists()
                    .col(string(Nodes::Id).primary_key())
                    .col(string(Nodes::Name))
                    .col(string(Nodes::Kind))
                    .col(string_null(Nodes::Mac))
                    .col(string_null(Nodes::Firmware))
                    .col(string_null(Nodes::Address))
                    .col(big_integer_null(Nodes::LastSeenMs))
                    .col(big_integer(Nodes::CreatedMs))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Settings::Table)
                    .if_not_exists()
                    .col(string(Settings::Key).primary_key())
                    .col(text(Settings::Value))
                    .col(big_integer(Settings::UpdatedMs))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Settings::Table.into_iden(),
            Nodes::Table.into_iden(),
            Events::Table.into_iden(),
            Cameras::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).if_exists().to_owned()).await?;
        }
        Ok(())
    }
}

/// Users, sessions, API tokens, the audit log, and sealed camera credentials.
struct Accounts;

impl MigrationName for Accounts {
    fn name(&self) -> &str {
        "m20261122_000002_accounts"
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Name,
    Role,
    PasswordHash,
    Cameras,
    Disabled,
    CreatedMs,
    PasswordChangedMs,
    LastLoginMs,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    UserId,
    Csrf,
    CreatedMs,
    LastSeenMs,
    Ip,
    UserAgent,
}

#[derive(DeriveIden)]
enum ApiTokens {
    Table,
    Id,
    UserId,
    Name,
    CreatedMs,
    ExpiresMs,
    RevokedMs,
    GraceUntilMs,
    Replaces,
    LastUsedMs,
}

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Id,
    AtMs,
    Actor,
    Ip,
    Action,
    Target,
    Ok,
    Detail,
}

#[derive(DeriveIden)]
enum CameraCredentials {
    Credentials,
}

#[async_trait::async_trait]
impl MigrationTrait for Accounts {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .if_not_exists()
                    .col(big_pk_auto(Users::Id))
                    .col(string_uniq(Users::Name))
                    .col(string(Users::Role))
                    .col(text(Users::PasswordHash))
                    .col(text(Users::Cameras))
                    .col(boolean(Users::Disabled))
                    .col(big_integer(Users::CreatedMs))
                    .col(big_integer(Users::PasswordChangedMs))
                    .col(big_integer_null(Users::LastLoginMs))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Sessions::Table)
                    .if_not_exists()
                    .col(string(Sessions::Id).primary_key())
                    .col(big_integer(Sessions::UserId))
                    .col(string(Sessions::Csrf))
                    .col(big_integer(Sessions::CreatedMs))
                    .col(big_integer(Sessions::LastSeenMs))
                    .col(string_null(Sessions::Ip))
                    .col(text_null(Sessions::UserAgent))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_sessions_user")
                    .table(Sessions::Table)
                    .col(Sessions::UserId)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ApiTokens::Table)
                    .if_not_exists()
                    .col(string(ApiTokens::Id).primary_key())
                    .col(big_integer(ApiTokens::UserId))
                    .col(string(ApiTokens::Name))
                    .col(big_integer(ApiTokens::CreatedMs))
                    .col(big_integer(ApiTokens::ExpiresMs))
                    .col(big_integer_null(ApiTokens::RevokedMs))
                    .col(big_integer_null(ApiTokens::GraceUntilMs))
                    .col(string_null(ApiTokens::Replaces))
                    .col(big_integer_null(ApiTokens::LastUsedMs))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AuditLog::Table)
                    .if_not_exists()
                    .col(big_pk_auto(AuditLog::Id))
                    .col(big_integer(AuditLog::AtMs))
                    .col(string_null(AuditLog::Actor))
                    .col(string_null(AuditLog::Ip))
                    .col(string(AuditLog::Action))
                    .col(text_null(AuditLog::Target))
                    .col(boolean(AuditLog::Ok))
                    .col(text_null(AuditLog::Detail))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter().table(Cameras::Table).add_column(text_null(CameraCredentials::Credentials)).to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(Table::alter().table(Cameras::Table).drop_column(CameraCredentials::Credentials).to_owned())
            .await?;
        for table in [
            AuditLog::Table.into_iden(),
            ApiTokens::Table.into_iden(),
            Sessions::Table.into_iden(),
            Users::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).if_exists().to_owned()).await?;
        }
        Ok(())
    }
}

/// The stationary flag of object events.
struct ObjectEvents;

impl MigrationName for ObjectEvents {
    fn name(&self) -> &str {
        "m20261122_000003_object_events"
    }
}

#[derive(DeriveIden)]
enum EventStationary {
    Stationary,
}

#[async_trait::async_trait]
impl MigrationTrait for ObjectEvents {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Events::Table)
                    .add_column(boolean(EventStationary::Stationary).default(false))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(Table::alter().table(Events::Table).drop_column(EventStationary::Stationary).to_owned())
            .await
    }
}

/// The size of the analysed frame that an event's boxes refer to, for boxes in pixels.
struct EventFrames;

impl MigrationName for EventFrames {
    fn name(&self) -> &str {
        "m20261122_000004_event_frames"
    }
}

#[derive(DeriveIden)]
enum EventFrame {
    FrameWidth,
    FrameHeight,
}

#[async_trait::async_trait]
impl MigrationTrait for EventFrames {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        for column in [EventFrame::FrameWidth, EventFrame::FrameHeight] {
            manager
                .alter_table(Table::alter().table(Events::Table).add_column(integer_null(column)).to_owned())
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [EventFrame::FrameHeight, EventFrame::FrameWidth] {
            manager.alter_table(Table::alter().table(Events::Table).drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}

/// An object event's score over time.
struct ScoreHistory;

impl MigrationName for ScoreHistory {
    fn name(&self) -> &str {
        "m20261122_000005_score_history"
    }
}

#[derive(DeriveIden)]
enum EventScores {
    ScoreHistory,
}

#[async_trait::async_trait]
impl MigrationTrait for ScoreHistory {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter().table(Events::Table).add_column(text_null(EventScores::ScoreHistory)).to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(Table::alter().table(Events::Table).drop_column(EventScores::ScoreHistory).to_owned()).await
    }
}

/// Messages to bridges (MQTT) kept until the far side has them.
struct Outbox;

impl MigrationName for Outbox {
    fn name(&self) -> &str {
        "m20261122_000006_outbox"
    }
}

#[derive(DeriveIden)]
enum OutboxMessages {
    Table,
    Id,
    Channel,
    Topic,
    Payload,
    Retain,
    StampId,
    CreatedMs,
}

#[async_trait::async_trait]
impl MigrationTrait for Outbox {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(OutboxMessages::Table)
                    .if_not_exists()
                    .col(big_pk_auto(OutboxMessages::Id))
                    .col(string(OutboxMessages::Channel))
                    .col(text(OutboxMessages::Topic))
                    .col(blob(OutboxMessages::Payload))
                    .col(boolean(OutboxMessages::Retain))
                    .col(boolean(OutboxMessages::StampId))
                    .col(big_integer(OutboxMessages::CreatedMs))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_outbox_channel_id")
                    .if_not_exists()
                    .table(OutboxMessages::Table)
                    .col(OutboxMessages::Channel)
                    .col(OutboxMessages::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(OutboxMessages::Table).to_owned()).await
    }
}

/// Devices found on the LAN, with what the user decided about them.
struct DiscoveredDevices;

impl MigrationName for DiscoveredDevices {
    fn name(&self) -> &str {
        "m20261122_000007_discovered_devices"
    }
}

#[derive(DeriveIden)]
enum Discovered {
    #[sea_orm(iden = "discovered_devices")]
    Table,
    Id,
    Kind,
    Name,
    Manufacturer,
    Model,
    Address,
    Xaddrs,
    Status,
    CameraId,
    FirstSeenMs,
    LastSeenMs,
}

#[async_trait::async_trait]
impl MigrationTrait for DiscoveredDevices {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Discovered::Table)
                    .if_not_exists()
                    .col(string(Discovered::Id).primary_key())
                    .col(string(Discovered::Kind))
                    .col(string_null(Discovered::Name))
                    .col(string_null(Discovered::Manufacturer))
                    .col(string_null(Discovered::Model))
                    .col(string(Discovered::Address))
                    .col(text(Discovered::Xaddrs))
                    .col(string(Discovered::Status))
                    .col(string_null(Discovered::CameraId))
                    .col(big_integer(Discovered::FirstSeenMs))
                    .col(big_integer(Discovered::LastSeenMs))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Discovered::Table).to_owned()).await
    }
}

/// The nodes registry filled in: what mDNS said about each node (JSON), the camera it became, and
/// its sensors' changes.
struct NodeRegistry;

impl MigrationName for NodeRegistry {
    fn name(&self) -> &str {
        "m20261122_000008_node_registry"
    }
}

#[derive(DeriveIden)]
enum NodeDetails {
    #[sea_orm(iden = "nodes")]
    Table,
    Info,
    CameraId,
}

#[derive(DeriveIden)]
enum NodeEvents {
    Table,
    Id,
    NodeId,
    Sensor,
    Name,
    Kind,
    Active,
    AtMs,
}

#[async_trait::async_trait]
impl MigrationTrait for NodeRegistry {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one thing at a time.
        for column in [text_null(NodeDetails::Info), string_null(NodeDetails::CameraId)] {
            manager.alter_table(Table::alter().table(NodeDetails::Table).add_column(column).to_owned()).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(NodeEvents::Table)
                    .if_not_exists()
                    .col(big_pk_auto(NodeEvents::Id))
                    .col(string(NodeEvents::NodeId))
                    .col(string(NodeEvents::Sensor))
                    .col(string(NodeEvents::Name))
                    .col(string(NodeEvents::Kind))
                    .col(boolean(NodeEvents::Active))
                    .col(big_integer(NodeEvents::AtMs))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("node_events_by_node")
                    .table(NodeEvents::Table)
                    .col(NodeEvents::NodeId)
                    .col(NodeEvents::AtMs)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(NodeEvents::Table).to_owned()).await?;
        for column in [NodeDetails::Info, NodeDetails::CameraId] {
            manager.alter_table(Table::alter().table(NodeDetails::Table).drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}

/// Descriptions written by a vision-language model (or from the detections) and what search reads:
/// a title, a threat level, who wrote it and how long it took; `search_text` (title, description,
/// label, camera, zones) indexed by SQLite FTS5 or a PostgreSQL full-text GIN index.
struct EventDescriptions;

impl MigrationName for EventDescriptions {
    fn name(&self) -> &str {
        "m20261122_000009_event_descriptions"
    }
}

#[derive(DeriveIden)]
enum EventText {
    #[sea_orm(iden = "events")]
    Table,
    Title,
    ThreatLevel,
    DescribedBy,
    DescribeMs,
    SearchText,
}

/// The search text as this migration computed it for the events before it. Frozen: a change to
/// what search reads goes into `db::search::SEARCH_TEXT_SQL` and, for old rows, a new migration.
const SEARCH_TEXT_SQL_V9: &str = "coalesce(title, '') || ' ' || coalesce(description, '') || ' ' || \
coalesce(label, '') || ' ' || camera_id || ' ' || \
coalesce((SELECT name FROM cameras WHERE cameras.id = events.camera_id), '') || ' ' || zones";

#[async_trait::async_trait]
impl MigrationTrait for EventDescriptions {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            text_null(EventText::Title),
            integer_null(EventText::ThreatLevel),
            string_null(EventText::DescribedBy),
            big_integer_null(EventText::DescribeMs),
            text_null(EventText::SearchText),
        ] {
            manager.alter_table(Table::alter().table(EventText::Table).add_column(column).to_owned()).await?;
        }
        let db = manager.get_connection();
        match manager.get_database_backend() {
            sea_orm::DatabaseBackend::Sqlite => {
                for statement in [
                    "CREATE VIRTUAL TABLE IF NOT EXISTS events_fts USING fts5(search_text, content='events', \
                     content_rowid='id', tokenize='unicode61 remove_diacritics 2')",
                    "CREATE TRIGGER IF NOT EXISTS events_fts_insert AFTER INSERT ON events BEGIN \
                     INSERT INTO events_fts(rowid, search_text) VALUES (new.id, new.search_text); END",
                    "CREATE TRIGGER IF NOT EXISTS events_fts_delete AFTER DELETE ON events BEGIN \
                     INSERT INTO events_fts(events_fts, rowid, search_text) VALUES ('delete', old.id, old.search_text); END",
                    "CREATE TRIGGER IF NOT EXISTS events_fts_update AFTER UPDATE OF search_text ON events BEGIN \
                     INSERT INTO events_fts(events_fts, rowid, search_text) VALUES ('delete', old.id, old.search_text); \
                     INSERT INTO events_fts(rowid, search_text) VALUES (new.id, new.search_text); END",
                ] {
                    db.execute_unprepared(statement).await?;
                }
            }
            _ => {
                db.execute_unprepared(
                    "CREATE INDEX IF NOT EXISTS events_search ON events \
                     USING GIN (to_tsvector('simple', coalesce(search_text, '')))",
                )
                .await?;
            }
        }
        // Events from before are searchable by label, camera and zones.
        db.execute_unprepared(&format!("UPDATE events SET search_text = {SEARCH_TEXT_SQL_V9}")).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            sea_orm::DatabaseBackend::Sqlite => {
                for statement in [
                    "DROP TRIGGER IF EXISTS events_fts_insert",
                    "DROP TRIGGER IF EXISTS events_fts_delete",
                    "DROP TRIGGER IF EXISTS events_fts_update",
                    "DROP TABLE IF EXISTS events_fts",
                ] {
                    db.execute_unprepared(statement).await?;
                }
            }
            _ => {
                db.execute_unprepared("DROP INDEX IF EXISTS events_search").await?;
            }
        }
        for column in [
            EventText::Title,
            EventText::ThreatLevel,
            EventText::DescribedBy,
            EventText::DescribeMs,
            EventText::SearchText,
        ] {
            manager.alter_table(Table::alter().table(EventText::Table).drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}

/// Alerts: an event that alerted keeps when it did (`alerted_ms`) beside its severity, status and
/// tags; each channel's delivery of it, to each recipient, is a row of `alert_deliveries`, which is
/// also the outbox those channels send from. Event severities join the alerts' vocabulary
/// (low/medium/high). An MQTT outbox message may belong to a delivery.
struct Alerts;

impl MigrationName for Alerts {
    fn name(&self) -> &str {
        "m20261123_000010_alerts"
    }
}

#[derive(DeriveIden)]
enum AlertEvents {
    #[sea_orm(iden = "events")]
    Table,
    AlertedMs,
}

#[derive(DeriveIden)]
enum AlertDeliveries {
    Table,
    Id,
    EventId,
    Channel,
    Recipient,
    Status,
    Attempts,
    NextTryMs,
    LastError,
    CreatedMs,
    SentMs,
    RemoteRef,
}

#[derive(DeriveIden)]
enum OutboxDelivery {
    #[sea_orm(iden = "outbox_messages")]
    Table,
    DeliveryId,
}

#[async_trait::async_trait]
impl MigrationTrait for Alerts {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AlertEvents::Table)
                    .add_column(big_integer_null(AlertEvents::AlertedMs))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(OutboxDelivery::Table)
                    .add_column(big_integer_null(OutboxDelivery::DeliveryId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AlertDeliveries::Table)
                    .if_not_exists()
                    .col(big_pk_auto(AlertDeliveries::Id))
                    .col(big_integer(AlertDeliveries::EventId))
                    .col(string(AlertDeliveries::Channel))
                    .col(string(AlertDeliveries::Recipient))
                    .col(string(AlertDeliveries::Status))
                    .col(integer(AlertDeliveries::Attempts))
                    .col(big_integer(AlertDeliveries::NextTryMs))
                    .col(text_null(AlertDeliveries::LastError))
                    .col(big_integer(AlertDeliveries::CreatedMs))
                    .col(big_integer_null(AlertDeliveries::SentMs))
                    .col(string_null(AlertDeliveries::RemoteRef))
                    .to_owned(),
            )
            .await?;
        // One delivery per alert, channel and recipient: nothing is sent twice to anyone.
        manager
            .create_index(
                Index::create()
                    .name("idx_alert_deliveries_once")
                    .if_not_exists()
                    .unique()
                    .table(AlertDeliveries::Table)
                    .col(AlertDeliveries::EventId)
                    .col(AlertDeliveries::Channel)
                    .col(AlertDeliveries::Recipient)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_alert_deliveries_due")
                    .if_not_exists()
                    .table(AlertDeliveries::Table)
                    .col(AlertDeliveries::Channel)
                    .col(AlertDeliveries::Status)
                    .col(AlertDeliveries::NextTryMs)
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE events SET severity = CASE severity WHEN 'info' THEN 'low' WHEN 'warning' THEN 'medium' \
                 WHEN 'critical' THEN 'high' ELSE severity END",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(AlertDeliveries::Table).to_owned()).await?;
        manager
            .alter_table(Table::alter().table(OutboxDelivery::Table).drop_column(OutboxDelivery::DeliveryId).to_owned())
            .await?;
        manager
            .alter_table(Table::alter().table(AlertEvents::Table).drop_column(AlertEvents::AlertedMs).to_owned())
            .await
    }
}

/// WhatsApp numbers that asked for alerts: pending with a one-time code until the person sends it
/// from that number, then verified; when the person last wrote (the 24-hour window).
struct WhatsAppNumbers;

impl MigrationName for WhatsAppNumbers {
    fn name(&self) -> &str {
        "m20261123_000011_whatsapp_numbers"
    }
}

#[derive(DeriveIden)]
enum WhatsappNumbers {
    Table,
    Number,
    Status,
    Code,
    CreatedMs,
    VerifiedMs,
    LastInboundMs,
}

#[async_trait::async_trait]
impl MigrationTrait for WhatsAppNumbers {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WhatsappNumbers::Table)
                    .if_not_exists()
                    .col(string(WhatsappNumbers::Number).primary_key())
                    .col(string(WhatsappNumbers::Status))
                    .col(string(WhatsappNumbers::Code))
                    .col(big_integer(WhatsappNumbers::CreatedMs))
                    .col(big_integer_null(WhatsappNumbers::VerifiedMs))
                    .col(big_integer_null(WhatsappNumbers::LastInboundMs))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(WhatsappNumbers::Table).to_owned()).await
    }
}

/// Recorded video: one row per segment file (stream copy of a camera's H.264/H.265), by camera
/// and wall-clock span.
struct Recordings;

impl MigrationName for Recordings {
    fn name(&self) -> &str {
        "m20261202_000012_recordings"
    }
}

#[derive(DeriveIden)]
enum RecordingSegments {
    Table,
    Id,
    CameraId,
    StartMs,
    EndMs,
    Bytes,
    Path,
    Codec,
    Width,
    Height,
}

#[async_trait::async_trait]
impl MigrationTrait for Recordings {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RecordingSegments::Table)
                    .if_not_exists()
                    .col(big_pk_auto(RecordingSegments::Id))
                    .col(string(RecordingSegments::CameraId))
                    .col(big_integer(RecordingSegments::StartMs))
                    .col(big_integer(RecordingSegments::EndMs))
                    .col(big_integer(RecordingSegments::Bytes))
                    .col(string_uniq(RecordingSegments::Path))
                    .col(string(RecordingSegments::Codec))
                    .col(integer(RecordingSegments::Width))
                    .col(integer(RecordingSegments::Height))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_recording_segments_camera_start")
                    .table(RecordingSegments::Table)
                    .col(RecordingSegments::CameraId)
                    .col(RecordingSegments::StartMs)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_recording_segments_start")
                    .table(RecordingSegments::Table)
                    .col(RecordingSegments::StartMs)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(RecordingSegments::Table).to_owned()).await
    }
}

/// Objects standing still (a parked car) whose events stay open across restarts: one row per
/// such event, with where and as what the object was last seen.
struct StationaryObjects;

impl MigrationName for StationaryObjects {
    fn name(&self) -> &str {
        "m20261203_000013_stationary_objects"
    }
}

#[derive(DeriveIden)]
enum StationaryObjectsTable {
    #[sea_orm(iden = "stationary_objects")]
    Table,
    EventId,
    CameraId,
    Label,
    Score,
    Bbox,
    LastSeenMs,
}

#[async_trait::async_trait]
impl MigrationTrait for StationaryObjects {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(StationaryObjectsTable::Table)
                    .if_not_exists()
                    .col(big_integer(StationaryObjectsTable::EventId).primary_key())
                    .col(string(StationaryObjectsTable::CameraId))
                    .col(string(StationaryObjectsTable::Label))
                    .col(double(StationaryObjectsTable::Score))
                    .col(text(StationaryObjectsTable::Bbox))
                    .col(big_integer(StationaryObjectsTable::LastSeenMs))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_stationary_objects_camera")
                    .table(StationaryObjectsTable::Table)
                    .col(StationaryObjectsTable::CameraId)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(StationaryObjectsTable::Table).to_owned()).await
    }
}

/// Camera outages (for the reports' uptime), the reports made, and their deliveries by e-mail and
/// Telegram.
struct Reports;

impl MigrationName for Reports {
    fn name(&self) -> &str {
        "m20261203_000014_reports"
    }
}

#[derive(DeriveIden)]
enum CameraOutagesTable {
    #[sea_orm(iden = "camera_outages")]
    Table,
    Id,
    CameraId,
    StartMs,
    EndMs,
    Reason,
}

#[derive(DeriveIden)]
enum ReportsTable {
    #[sea_orm(iden = "reports")]
    Table,
    Id,
    Name,
    Period,
    FromMs,
    ToMs,
    Timezone,
    Cameras,
    CreatedMs,
    Path,
    Bytes,
    Pages,
    Events,
    RequestedBy,
}

#[derive(DeriveIden)]
enum ReportDeliveriesTable {
    #[sea_orm(iden = "report_deliveries")]
    Table,
    Id,
    ReportId,
    Channel,
    Recipient,
    Status,
    Attempts,
    NextTryMs,
    LastError,
    CreatedMs,
    SentMs,
}

#[async_trait::async_trait]
impl MigrationTrait for Reports {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CameraOutagesTable::Table)
                    .if_not_exists()
                    .col(big_pk_auto(CameraOutagesTable::Id))
                    .col(string(CameraOutagesTable::CameraId))
                    .col(big_integer(CameraOutagesTable::StartMs))
                    .col(big_integer_null(CameraOutagesTable::EndMs))
                    .col(string_null(CameraOutagesTable::Reason))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_camera_outages_camera_start")
                    .table(CameraOutagesTable::Table)
                    .col(CameraOutagesTable::CameraId)
                    .col(CameraOutagesTable::StartMs)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ReportsTable::Table)
                    .if_not_exists()
                    .col(big_pk_auto(ReportsTable::Id))
                    .col(string(ReportsTable::Name))
                    .col(string(ReportsTable::Period))
                    .col(big_integer(ReportsTable::FromMs))
                    .col(big_integer(ReportsTable::ToMs))
                    .col(string(ReportsTable::Timezone))
                    .col(text(ReportsTable::Cameras))
                    .col(big_integer(ReportsTable::CreatedMs))
                    .col(string(ReportsTable::Path))
                    .col(big_integer(ReportsTable::Bytes))
                    .col(integer(ReportsTable::Pages))
                    .col(big_integer(ReportsTable::Events))
                    .col(string_null(ReportsTable::RequestedBy))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_reports_name_from")
                    .table(ReportsTable::Table)
                    .col(ReportsTable::Name)
                    .col(ReportsTable::FromMs)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ReportDeliveriesTable::Table)
                    .if_not_exists()
                    .col(big_pk_auto(ReportDeliveriesTable::Id))
                    .col(big_integer(ReportDeliveriesTable::ReportId))
                    .col(string(ReportDeliveriesTable::Channel))
                    .col(string(ReportDeliveriesTable::Recipient))
                    .col(string(ReportDeliveriesTable::Status))
                    .col(integer(ReportDeliveriesTable::Attempts))
                    .col(big_integer(ReportDeliveriesTable::NextTryMs))
                    .col(text_null(ReportDeliveriesTable::LastError))
                    .col(big_integer(ReportDeliveriesTable::CreatedMs))
                    .col(big_integer_null(ReportDeliveriesTable::SentMs))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_report_deliveries_due")
                    .table(ReportDeliveriesTable::Table)
                    .col(ReportDeliveriesTable::Channel)
                    .col(ReportDeliveriesTable::Status)
                    .col(ReportDeliveriesTable::NextTryMs)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            ReportDeliveriesTable::Table.into_iden(),
            ReportsTable::Table.into_iden(),
            CameraOutagesTable::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}

/// The browsers and installed apps that turned on push notifications, one row per device.
struct PushSubscriptions;

impl MigrationName for PushSubscriptions {
    fn name(&self) -> &str {
        "m20261203_000015_push_subscriptions"
    }
}

#[derive(DeriveIden)]
enum PushSubscriptionsTable {
    #[sea_orm(iden = "push_subscriptions")]
    Table,
    Id,
    UserId,
    Name,
    Endpoint,
    P256dh,
    Auth,
    CreatedMs,
    LastSentMs,
}

#[async_trait::async_trait]
impl MigrationTrait for PushSubscriptions {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(PushSubscriptionsTable::Table)
                    .if_not_exists()
                    .col(big_pk_auto(PushSubscriptionsTable::Id))
                    .col(big_integer(PushSubscriptionsTable::UserId))
                    .col(string(PushSubscriptionsTable::Name))
                    .col(text(PushSubscriptionsTable::Endpoint))
                    .col(string(PushSubscriptionsTable::P256dh))
                    .col(string(PushSubscriptionsTable::Auth))
                    .col(big_integer(PushSubscriptionsTable::CreatedMs))
                    .col(big_integer_null(PushSubscriptionsTable::LastSentMs))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_push_subscriptions_user")
                    .table(PushSubscriptionsTable::Table)
                    .col(PushSubscriptionsTable::UserId)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(PushSubscriptionsTable::Table).to_owned()).await
    }
}

/// The newest events of one camera (the events page and `/api/events` filtered by camera, newest
/// first by id): an index on the camera and the id, so the answer is read off the index instead of
/// sorting every event of the camera. Measured with a million events (`bench_events`): 572 ms
/// alone before, on SQLite.
struct EventsByCamera;

impl MigrationName for EventsByCamera {
    fn name(&self) -> &str {
        "m20261203_000016_events_by_camera"
    }
}

#[derive(DeriveIden)]
enum EventsById {
    #[sea_orm(iden = "events")]
    Table,
    Id,
    CameraId,
}

#[async_trait::async_trait]
impl MigrationTrait for EventsByCamera {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("idx_events_camera_id")
                    .table(EventsById::Table)
                    .col(EventsById::CameraId)
                    .col(EventsById::Id)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_index(Index::drop().name("idx_events_camera_id").table(EventsById::Table).to_owned()).await
    }
}

/// Search that answers from its index without reading every match: on SQLite the full-text table
/// gains prefix indexes of 2 to 8 characters, so a word (or a longer word's first 8 characters) is
/// looked up as one term, newest first, instead of merging every term it begins (with a million
/// events a common word took 20 ms, a two-letter one 97 ms; now under 1 ms); on PostgreSQL the
/// text's `tsvector` is stored in a column of its own, with the GIN index on it, so a match is
/// tested without parsing the text again (a rare word walked 127,000 rows parsing each, 1.4 s).
struct SearchByPrefix;

impl MigrationName for SearchByPrefix {
    fn name(&self) -> &str {
        "m20261204_000017_search_by_prefix"
    }
}

/// The full-text table over `events.search_text`, with or without the prefix indexes.
fn events_fts_sql(prefixes: bool) -> String {
    format!(
        "CREATE VIRTUAL TABLE events_fts USING fts5(search_text, content='events', content_rowid='id', \
         tokenize='unicode61 remove_diacritics 2'{})",
        if prefixes { ", prefix='2 3 4 5 6 7 8'" } else { "" }
    )
}

/// Runs `statements` in one transaction: the pool's other connections see the old search index or
/// the new one, never none (an insert on one of them once found no `events_fts` between the drop
/// and the create).
async fn in_one_transaction(db: &SchemaManagerConnection<'_>, statements: &[String]) -> Result<(), DbErr> {
    use sea_orm::TransactionTrait;
    let transaction = db.begin().await?;
    for statement in statements {
        transaction.execute_unprepared(statement).await?;
    }
    transaction.commit().await
}

#[async_trait::async_trait]
impl MigrationTrait for SearchByPrefix {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let statements = match manager.get_database_backend() {
            // The triggers of migration 9 keep writing to the table by its name.
            sea_orm::DatabaseBackend::Sqlite => vec![
                "DROP TABLE IF EXISTS events_fts".to_string(),
                events_fts_sql(true),
                "INSERT INTO events_fts(events_fts) VALUES ('rebuild')".to_string(),
            ],
            _ => vec![
                "ALTER TABLE events ADD COLUMN IF NOT EXISTS search_vector tsvector GENERATED ALWAYS AS \
                 (to_tsvector('simple', coalesce(search_text, ''))) STORED"
                    .to_string(),
                "CREATE INDEX IF NOT EXISTS events_search_vector ON events USING GIN (search_vector)".to_string(),
                "DROP INDEX IF EXISTS events_search".to_string(),
            ],
        };
        in_one_transaction(db, &statements).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let statements = match manager.get_database_backend() {
            sea_orm::DatabaseBackend::Sqlite => vec![
                "DROP TABLE IF EXISTS events_fts".to_string(),
                events_fts_sql(false),
                "INSERT INTO events_fts(events_fts) VALUES ('rebuild')".to_string(),
            ],
            _ => vec![
                "CREATE INDEX IF NOT EXISTS events_search ON events \
                 USING GIN (to_tsvector('simple', coalesce(search_text, '')))"
                    .to_string(),
                "DROP INDEX IF EXISTS events_search_vector".to_string(),
                "ALTER TABLE events DROP COLUMN IF EXISTS search_vector".to_string(),
            ],
        };
        in_one_transaction(db, &statements).await
    }
}

/// PostgreSQL's search reads each word's events newest first from an index of its own, instead
/// of the GIN index, which gives its matches in no order: a word in 1 event in 128 of a million
/// took 15.6 ms alone (a walk of the newest rows, then the GIN index range by range), and such a
/// search, one request in 13, held the p99 of `bench_events` under 50 connections at 137 ms.
/// `search_terms` lists the distinct words (lexemes of `to_tsvector('simple', search_text)`, as the
/// GIN index held), `search_term_events` each word's events, its primary key (term, event id)
/// read backwards from a word's last id; both kept by a trigger on `events`, both in the "C"
/// collation so that a prefix is one range of terms. The stored `tsvector` and its GIN index go.
/// SQLite is unchanged: its FTS5 index gives matches newest first already.
struct SearchTerms;

impl MigrationName for SearchTerms {
    fn name(&self) -> &str {
        "m20261205_000018_search_terms"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for SearchTerms {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == sea_orm::DatabaseBackend::Sqlite {
            return Ok(());
        }
        let terms_of = |row: &str| format!("tsvector_to_array(to_tsvector('simple', coalesce({row}.search_text, '')))");
        let statements = [
            "CREATE TABLE IF NOT EXISTS search_terms (term text COLLATE \"C\" PRIMARY KEY)".to_string(),
            "CREATE TABLE IF NOT EXISTS search_term_events (term text COLLATE \"C\" NOT NULL, \
             event_id bigint NOT NULL, PRIMARY KEY (term, event_id))"
                .to_string(),
            // A search reads only the primary key while its pages are marked all-visible, which
            // only a vacuum does; by default autovacuum waits for a fifth of the table to be new
            // (with a million events, the newest 200,000 events' words, those searched most).
            "ALTER TABLE search_term_events SET (autovacuum_vacuum_insert_threshold = 10000, \
             autovacuum_vacuum_insert_scale_factor = 0)"
                .to_string(),
            format!(
                "CREATE OR REPLACE FUNCTION events_search_terms() RETURNS trigger LANGUAGE plpgsql AS $$ \
                 DECLARE new_terms text[]; \
                 BEGIN \
                   IF TG_OP = 'UPDATE' AND OLD.search_text IS NOT DISTINCT FROM NEW.search_text THEN RETURN NULL; END IF; \
                   IF TG_OP <> 'INSERT' THEN \
                     DELETE FROM search_term_events WHERE event_id = OLD.id AND term = ANY({old}); \
                   END IF; \
                   IF TG_OP <> 'DELETE' THEN \
                     new_terms := {new}; \
                     INSERT INTO search_terms (term) SELECT unnest(new_terms) ON CONFLICT DO NOTHING; \
                     INSERT INTO search_term_events (term, event_id) SELECT unnest(new_terms), NEW.id ON CONFLICT DO NOTHING; \
                   END IF; \
                   RETURN NULL; \
                 END $$",
                old = terms_of("OLD"),
                new = terms_of("NEW"),
            ),
            "DROP TRIGGER IF EXISTS events_search_terms ON events".to_string(),
            "CREATE TRIGGER events_search_terms AFTER INSERT OR DELETE OR UPDATE OF search_text ON events \
             FOR EACH ROW EXECUTE FUNCTION events_search_terms()"
                .to_string(),
            "INSERT INTO search_terms (term) SELECT DISTINCT unnest(tsvector_to_array(search_vector)) FROM events \
             ON CONFLICT DO NOTHING"
                .to_string(),
            "INSERT INTO search_term_events (term, event_id) \
             SELECT unnest(tsvector_to_array(search_vector)), id FROM events ON CONFLICT DO NOTHING"
                .to_string(),
            "DROP INDEX IF EXISTS events_search_vector".to_string(),
            "ALTER TABLE events DROP COLUMN IF EXISTS search_vector".to_string(),
        ];
        in_one_transaction(manager.get_connection(), &statements).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == sea_orm::DatabaseBackend::Sqlite {
            return Ok(());
        }
        let statements = [
            "ALTER TABLE events ADD COLUMN IF NOT EXISTS search_vector tsvector GENERATED ALWAYS AS \
             (to_tsvector('simple', coalesce(search_text, ''))) STORED"
                .to_string(),
            "CREATE INDEX IF NOT EXISTS events_search_vector ON events USING GIN (search_vector)".to_string(),
            "DROP TRIGGER IF EXISTS events_search_terms ON events".to_string(),
            "DROP FUNCTION IF EXISTS events_search_terms()".to_string(),
            "DROP TABLE IF EXISTS search_term_events".to_string(),
            "DROP TABLE IF EXISTS search_terms".to_string(),
        ];
        in_one_transaction(manager.get_connection(), &statements).await
    }
}

/// PostgreSQL's word lists say, for each word of an event, whether it is in the event's title or
/// description (`described`, kept beside the primary key so that reading the key gives it): a
/// search for one word is then ranked without reading its candidates' texts. The table is made
/// again from the events (its rows all change), and the trigger also follows changes to the title
/// and description. SQLite: nothing (FTS5 is ranked from the texts it reads with the candidates).
struct SearchTermsDescribed;

impl MigrationName for SearchTermsDescribed {
    fn name(&self) -> &str {
        "m20261205_000019_search_terms_described"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for SearchTermsDescribed {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == sea_orm::DatabaseBackend::Sqlite {
            return Ok(());
        }
        let terms = |text: &str| format!("tsvector_to_array(to_tsvector('simple', {text}))");
        let search_text = |row: &str| terms(&format!("coalesce({row}.search_text, '')"));
        let described =
            |row: &str| terms(&format!("coalesce({row}.title, '') || ' ' || coalesce({row}.description, '')"));
        let statements = [
            "DROP TABLE IF EXISTS search_term_events".to_string(),
            "CREATE TABLE search_term_events (term text COLLATE \"C\" NOT NULL, event_id bigint NOT NULL, \
             described boolean NOT NULL)"
                .to_string(),
            format!(
                "INSERT INTO search_term_events (term, event_id, described) \
                 SELECT t.term, e.id, t.term = ANY(d.terms) FROM events e \
                 CROSS JOIN LATERAL (SELECT {described} AS terms) d \
                 CROSS JOIN LATERAL unnest({search_text}) AS t(term)",
                described = described("e"),
                search_text = search_text("e"),
            ),
            "ALTER TABLE search_term_events ADD PRIMARY KEY (term, event_id) INCLUDE (described)".to_string(),
            "ALTER TABLE search_term_events SET (autovacuum_vacuum_insert_threshold = 10000, \
             autovacuum_vacuum_insert_scale_factor = 0)"
                .to_string(),
            format!(
                "CREATE OR REPLACE FUNCTION events_search_terms() RETURNS trigger LANGUAGE plpgsql AS $$ \
                 DECLARE new_terms text[]; described_terms text[]; \
                 BEGIN \
                   IF TG_OP = 'UPDATE' AND OLD.search_text IS NOT DISTINCT FROM NEW.search_text \
                     AND OLD.title IS NOT DISTINCT FROM NEW.title \
                     AND OLD.description IS NOT DISTINCT FROM NEW.description THEN RETURN NULL; END IF; \
                   IF TG_OP <> 'INSERT' THEN \
                     DELETE FROM search_term_events WHERE event_id = OLD.id AND term = ANY({old}); \
                   END IF; \
                   IF TG_OP <> 'DELETE' THEN \
                     new_terms := {new}; \
                     described_terms := {new_described}; \
                     INSERT INTO search_terms (term) SELECT unnest(new_terms) ON CONFLICT DO NOTHING; \
                     INSERT INTO search_term_events (term, event_id, described) \
                       SELECT t, NEW.id, t = ANY(described_terms) FROM unnest(new_terms) AS t ON CONFLICT DO NOTHING; \
                   END IF; \
                   RETURN NULL; \
                 END $$",
                old = search_text("OLD"),
                new = search_text("NEW"),
                new_described = described("NEW"),
            ),
            "DROP TRIGGER IF EXISTS events_search_terms ON events".to_string(),
            "CREATE TRIGGER events_search_terms AFTER INSERT OR DELETE OR UPDATE OF search_text, title, description \
             ON events FOR EACH ROW EXECUTE FUNCTION events_search_terms()"
                .to_string(),
        ];
        in_one_transaction(manager.get_connection(), &statements).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == sea_orm::DatabaseBackend::Sqlite {
            return Ok(());
        }
        let terms_of = |row: &str| format!("tsvector_to_array(to_tsvector('simple', coalesce({row}.search_text, '')))");
        let statements = [
            "ALTER TABLE search_term_events DROP CONSTRAINT search_term_events_pkey".to_string(),
            "ALTER TABLE search_term_events DROP COLUMN described".to_string(),
            "ALTER TABLE search_term_events ADD PRIMARY KEY (term, event_id)".to_string(),
            format!(
                "CREATE OR REPLACE FUNCTION events_search_terms() RETURNS trigger LANGUAGE plpgsql AS $$ \
                 DECLARE new_terms text[]; \
                 BEGIN \
                   IF TG_OP = 'UPDATE' AND OLD.search_text IS NOT DISTINCT FROM NEW.search_text THEN RETURN NULL; END IF; \
                   IF TG_OP <> 'INSERT' THEN \
                     DELETE FROM search_term_events WHERE event_id = OLD.id AND term = ANY({old}); \
                   END IF; \
                   IF TG_OP <> 'DELETE' THEN \
                     new_terms := {new}; \
                     INSERT INTO search_terms (term) SELECT unnest(new_terms) ON CONFLICT DO NOTHING; \
                     INSERT INTO search_term_events (term, event_id) SELECT unnest(new_terms), NEW.id ON CONFLICT DO NOTHING; \
                   END IF; \
                   RETURN NULL; \
                 END $$",
                old = terms_of("OLD"),
                new = terms_of("NEW"),
            ),
            "DROP TRIGGER IF EXISTS events_search_terms ON events".to_string(),
            "CREATE TRIGGER events_search_terms AFTER INSERT OR DELETE OR UPDATE OF search_text ON events \
             FOR EACH ROW EXECUTE FUNCTION events_search_terms()"
                .to_string(),
        ];
        in_one_transaction(manager.get_connection(), &statements).await
    }
}
