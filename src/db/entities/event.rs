//! An event: something seen on a camera over a span of time, with its best snapshot.

use crate::model::{EventKind, EventStatus, Severity};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub camera_id: String,
    /// Motion, a tracked object, or a node's sensor.
    pub kind: EventKind,
    pub label: Option<String>,
    pub score: f64,
    /// JSON `[x, y, w, h]`, relative to the frame (0–1).
    pub bbox: String,
    /// JSON list of `[x, y, w, h]` boxes seen in the snapshot frame.
    pub boxes: String,
    /// JSON list of zone names entered.
    pub zones: String,
    pub start_ms: i64,
    pub end_ms: Option<i64>,
    /// Path of the snapshot JPEG, relative to the media directory.
    pub snapshot: Option<String>,
    /// The alert's severity once it alerted, raised by a model's threat level.
    pub severity: Severity,
    pub status: EventStatus,
    /// JSON list of tags.
    pub tags: String,
    pub description: Option<String>,
    /// An object event whose object stopped moving (a parked car).
    pub stationary: bool,
    /// The size of the analysed frame the boxes refer to (unknown for events from before 0.1).
    pub frame_width: Option<i32>,
    pub frame_height: Option<i32>,
    /// JSON list of `[seconds since the start, score]` while the object was tracked.
    pub score_history: Option<String>,
    /// A short title from the describer.
    pub title: Option<String>,
    /// 0 normal, 1 worth a look, 2 a threat (from the model; none without one).
    pub threat_level: Option<i32>,
    /// `rules` (written from the detections) or `<provider>:<model>`.
    pub described_by: Option<String>,
    /// How long the model took, in milliseconds.
    pub describe_ms: Option<i64>,
    /// What text search reads (title, description, label, camera, zones); kept by the database layer.
    pub search_text: Option<String>,
    /// When the event alerted (it is then an alert, delivered as `alert_deliveries` say).
    pub alerted_ms: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
