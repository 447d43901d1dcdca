//! Event descriptions and text search over events: SQLite FTS5 (`events_fts`, kept by triggers,
//! with prefix indexes) or PostgreSQL full text (a GIN index on the stored `search_vector`) find
//! the events matching any word, newest first from the index, within the other filters; the newest
//! 500 matches are then ranked by how many of the words they hold.

use super::Db;
use super::entities::event;
use crate::error::Result;
use crate::model::DescribedBy;
use sea_orm::sea_query::Expr;
use sea_orm::sea_query::SimpleExpr;
use sea_orm::{ColumnTrait, DatabaseBackend, EntityTrait, QueryFilter, Statement};

/// The text search reads, from an event's own columns and its camera's name. Events keep what
/// was computed when they last changed; changing this needs a migration that recomputes old rows.
const SEARCH_TEXT_SQL: &str = "coalesce(title, '') || ' ' || coalesce(description, '') || ' ' || \
coalesce(label, '') || ' ' || camera_id || ' ' || \
coalesce((SELECT name FROM cameras WHERE cameras.id = events.camera_id), '') || ' ' || zones";

/// What the describer wrote about an event.
#[derive(Debug, Clone, PartialEq)]
pub struct Description {
    pub title: Option<String>,
    pub text: String,
    pub threat_level: Option<i32>,
    /// `rules` or `<provider>:<model>`.
    pub by: String,
    pub took_ms: Option<i64>,
}

/// The words of a search, as the index sees them: letters and digits, 2 characters or more, 8 at
/// most, lowercase.
pub fn search_words(query: &str) -> Vec<String> {
    query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 2)
        .map(|w| w.to_lowercase().chars().take(40).collect())
        .take(8)
        .collect()
}

impl Db {
    /// Recomputes what search reads for event `id` (after it was inserted or changed).
    pub async fn refresh_search_text(&self, id: i64) -> Result<()> {
        event::Entity::update_many()
            .col_expr(event::Column::SearchText, Expr::cust(SEARCH_TEXT_SQL))
            .filter(event::Column::Id.eq(id))
            .exec(&self.conn)
            .await?;
        Ok(())
    }

    pub async fn set_event_description(&self, id: i64, description: &Description) -> Result<()> {
        event::Entity::update_many()
            .col_expr(event::Column::Title, Expr::value(description.title.clone()))
            .col_expr(event::Column::Description, Expr::value(description.text.clone()))
            .col_expr(event::Column::ThreatLevel, Expr::value(description.threat_level))
            .col_expr(event::Column::DescribedBy, Expr::value(description.by.clone()))
            .col_expr(event::Column::DescribeMs, Expr::value(description.took_ms))
            .filter(event::Column::Id.eq(id))
            .exec(&self.conn)
            .await?;
        self.refresh_search_text(id).await
    }

    /// Raises an event's severity to `severity`; never lowers it.
    pub async fn raise_event_severity(&self, id: i64, severity: crate::model::Severity) -> Result<()> {
        use crate::model::Severity;
        let lower: &[&str] = match severity {
            Severity::High => &["low", "medium"],
            Severity::Medium => &["low"],
            Severity::Low => &[],
        };
        event::Entity::update_many()
            .col_expr(event::Column::Severity, Expr::value(severity.as_str()))
            .filter(event::Column::Id.eq(id))
            .filter(event::Column::Severity.is_in(lower.iter().copied()))
            .exec(&self.conn)
            .await?;
        Ok(())
    }

    /// Updates a description written from the detections (at the event's end, with how long it
    /// lasted), unless a model has described the event since.
    pub async fn replace_rules_description(&self, id: i64, text: &str) -> Result<()> {
        let result = event::Entity::update_many()
            .col_expr(event::Column::Description, Expr::value(text))
            .filter(event::Column::Id.eq(id))
            .filter(event::Column::DescribedBy.eq(DescribedBy::Rules.as_str()))
            .exec(&self.conn)
            .await?;
        if result.rows_affected > 0 {
            self.refresh_search_text(id).await?;
        }
        Ok(())
    }
}

/// The condition "matches any of `words`", for the backend's index: a sub-query on `events_fts`
/// (SQLite FTS5) or `@@` on the stored `search_vector` the GIN index covers (PostgreSQL). Each word
/// is a prefix, and none of the user's text reaches the query syntax unquoted.
pub(super) fn matches_any(backend: DatabaseBackend, words: &[String]) -> SimpleExpr {
    match backend {
        DatabaseBackend::Sqlite => Expr::cust_with_values(
            "events.id IN (SELECT rowid FROM events_fts WHERE events_fts MATCH ?)",
            [fts_query(words, usize::MAX)],
        ),
        _ => Expr::cust_with_values("search_vector @@ to_tsquery('simple', $1)", [tsquery(words)]),
    }
}

/// FTS5's "any of these word prefixes", each word cut to its first `chars` characters and quoted.
fn fts_query(words: &[String], chars: usize) -> String {
    words.iter().map(|w| format!("\"{}\"*", w.chars().take(chars).collect::<String>())).collect::<Vec<_>>().join(" OR ")
}

fn tsquery(words: &[String]) -> String {
    words.iter().map(|w| format!("{w}:*")).collect::<Vec<_>>().join(" | ")
}

/// Characters of a word SQLite's index looks up as one term (its longest prefix index).
const INDEXED_PREFIX: usize = 8;

/// Whether [`candidates`] may return events that match none of `words` (SQLite looks longer words
/// up by their first characters): the caller keeps only those [`relevance`] finds a word in.
pub(super) fn candidates_need_narrowing(backend: DatabaseBackend, words: &[String]) -> bool {
    backend == DatabaseBackend::Sqlite && words.iter().any(|w| w.chars().count() > INDEXED_PREFIX)
}

/// The ids of the newest `count` events below `below` (all when `None`) that match any of `words`,
/// newest first, read from the search index alone so that a common word costs no more than a rare
/// one. On SQLite a word longer than 8 characters is looked up by its first 8 (a prefix index
/// answers those without reading every match; see [`candidates_need_narrowing`]).
pub(super) fn candidates(backend: DatabaseBackend, words: &[String], below: Option<i64>, count: u64) -> Statement {
    let below = below.unwrap_or(i64::MAX);
    match backend {
        DatabaseBackend::Sqlite => Statement::from_sql_and_values(
            backend,
            "SELECT rowid FROM events_fts WHERE events_fts MATCH ? AND rowid < ? ORDER BY rowid DESC LIMIT ?",
            [fts_query(words, INDEXED_PREFIX).into(), below.into(), (count as i64).into()],
        ),
        _ => Statement::from_sql_and_values(
            backend,
            "SELECT id FROM events WHERE search_vector @@ to_tsquery('simple', $1) AND id < $2 \
             ORDER BY id DESC LIMIT $3",
            [tsquery(words).into(), below.into(), (count as i64).into()],
        ),
    }
}

/// How well an event matches: how many of the words its text (`search_text`) holds as word
/// prefixes, its title and description (`described`) counting twice.
pub(super) fn relevance(words: &[String], search_text: Option<&str>, described: [Option<&str>; 2]) -> usize {
    let tokens = |text: &str| -> Vec<String> {
        text.split(|c: char| !c.is_alphanumeric()).filter(|t| !t.is_empty()).map(str::to_lowercase).collect()
    };
    let all = tokens(search_text.unwrap_or_default());
    let described = tokens(&format!("{} {}", described[0].unwrap_or_default(), described[1].unwrap_or_default()));
    words
        .iter()
        .map(|w| {
            usize::from(all.iter().any(|t| t.starts_with(w.as_str())))
                + usize::from(described.iter().any(|t| t.starts_with(w.as_str())))
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_words_are_plain_and_bounded() {
        assert_eq!(search_words("Man with a LADDER!"), ["man", "with", "ladder"]);
        assert_eq!(search_words("\"white\" OR van* NEAR(x)"), ["white", "or", "van", "near"]);
        assert!(search_words("a . -").is_empty());
        assert_eq!(search_words(&"w ".repeat(5).replace('w', "word")).len(), 5);
        assert_eq!(search_words(&"ab ".repeat(20)).len(), 8);
    }

    #[test]
    fn more_words_held_rank_higher_and_descriptions_count_twice() {
        let rank = |search: &str, description: Option<&str>| {
            relevance(&search_words("white van"), Some(search), [None, description])
        };
        let both = rank("A white van stops. person", Some("A white van stops."));
        let one = rank("A white car. person", Some("A white car."));
        let label_only = rank("van garage", None);
        // Words are prefixes: "van" is in "vanilla" and "vane".
        let prefixes = rank("vanilla? no: a white-ish vane", None);
        assert_eq!([both, one, label_only, prefixes], [4, 2, 1, 2]);
        assert_eq!(rank("a red kayak", Some("A red kayak.")), 0);
    }

    #[test]
    fn only_sqlite_and_words_longer_than_its_prefix_index_need_narrowing() {
        let words = |text: &str| search_words(text);
        assert!(!candidates_need_narrowing(DatabaseBackend::Sqlite, &words("a man at the driveway")));
        assert!(candidates_need_narrowing(DatabaseBackend::Sqlite, &words("van courtyard")));
        assert!(!candidates_need_narrowing(DatabaseBackend::Postgres, &words("van courtyard")));
    }
}
