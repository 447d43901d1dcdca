//! One file of recorded video: a camera's stream, copied as it came, over a wall-clock span.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "recording_segments")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub camera_id: String,
    /// Wall-clock time of the first frame.
    pub start_ms: i64,
    /// Wall-clock time the last frame ends.
    pub end_ms: i64,
    pub bytes: i64,
    /// Relative to the recordings directory: `<camera>/<YYYY-MM-DD>/<start_ms>.mp4`.
    pub path: String,
    /// RFC 6381 codec string (`avc1.64001f`) or the sample entry's name (`hvc1`).
    pub codec: String,
    pub width: i32,
    pub height: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
