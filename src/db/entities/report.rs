//! A report made (a PDF under `<data>/reports/`), scheduled or asked for.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "reports")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The `[[reports]]` entry's name, or `manual`.
    pub name: String,
    /// `daily` or `weekly`.
    pub period: String,
    /// The period covered, `[from_ms, to_ms)`.
    pub from_ms: i64,
    pub to_ms: i64,
    /// The time zone its days were counted in.
    pub timezone: String,
    /// JSON list of the camera ids it covers; empty = every camera.
    pub cameras: String,
    pub created_ms: i64,
    /// The PDF's file name inside the reports directory.
    pub path: String,
    pub bytes: i64,
    pub pages: i32,
    /// How many events the period held.
    pub events: i64,
    /// Who asked for it (`None` for the schedule).
    pub requested_by: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
