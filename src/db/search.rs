//! Event descriptions and text search over events: SQLite FTS5 (`events_fts`, kept by triggers,
//! with prefix indexes) or PostgreSQL full text (a GIN index on the stored `search_vector`) find
//! the events matching any word, newest first (from SQLite's index; on PostgreSQL by walking the
//! newest rows or from the index, whichever it judges cheaper), within the other filters; the
//! newest 500 matches are then ranked by how many of the words they hold.

use super::entities::event;
use super::{Db, EventFilter, SearchedText};
use crate::error::Result;
use crate::model::DescribedBy;
use sea_orm::sea_query::Expr;
use sea_orm::sea_query::SimpleExpr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Statement,
    TransactionTrait,
};

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

/// Rows of the newest events PostgreSQL reads first for a search, before it judges whether
/// reading on, newest first, or asking the index for every older match costs less.
const FIRST_WALK: u64 = 2_000;
/// The most rows one further walk reads.
const WALK_MAX: u64 = 16_000;

impl Db {
    /// PostgreSQL: the ids of the newest `count` events below `below` (all when `None`) that
    /// match any of `words`, newest first. (SQLite reads them from its index alone, newest first,
    /// so that a common word costs no more than a rare one: [`SQLITE_CANDIDATES`]; a word longer
    /// than 8 characters is looked up by its first 8, as a prefix index answers those without
    /// reading every match; see [`candidates_need_narrowing`].)
    ///
    /// PostgreSQL's GIN index cannot give its matches in order: the planner either walks the
    /// events newest first, testing each (fast for a common word, every row for a word no event
    /// holds), or reads every match from the index and sorts them (fast for a rare word, every
    /// row for a common one), and it guesses poorly which. So this walks the newest 2,000 rows
    /// first and, from how many matched, estimates the rows a further walk needs against the
    /// matches left to read from the index, and takes the cheaper: walking on, or the index for
    /// the rest.
    async fn search_candidates(&self, words: &[String], below: Option<i64>, count: u64) -> Result<Vec<i64>> {
        let backend = self.conn.get_database_backend();
        let below = below.unwrap_or(i64::MAX);
        let query = tsquery(words);
        let count = count as usize;
        let mut found: Vec<i64> = Vec::new();
        let (mut below, mut walk, mut walked) = (below, FIRST_WALK, 0u64);
        let rows_to_walk = loop {
            // The matches among the next `walk` rows, and the oldest row read (to go on below it).
            let rows = self
                .conn
                .query_all_raw(Statement::from_sql_and_values(
                    backend,
                    "WITH newest AS (SELECT id, search_vector @@ to_tsquery('simple', $1) AS hit FROM events \
                     WHERE id < $2 ORDER BY id DESC LIMIT $3) \
                     SELECT id, hit FROM newest WHERE hit OR id = (SELECT min(id) FROM newest) ORDER BY id DESC",
                    [query.clone().into(), below.into(), (walk as i64).into()],
                ))
                .await?;
            let mut oldest = None;
            for row in &rows {
                let (id, hit): (i64, bool) = (row.try_get_by_index(0)?, row.try_get_by_index(1)?);
                if hit {
                    found.push(id);
                }
                oldest = Some(id);
            }
            let Some(oldest) = oldest else { return Ok(found) };
            if found.len() >= count {
                found.truncate(count);
                return Ok(found);
            }
            (below, walked) = (oldest, walked + walk);
            let rate = found.len() as f64 / walked as f64;
            let rows_to_walk = (count - found.len()) as f64 / rate;
            // Ids are about as many as the rows below them (deleted events make this high).
            let matches_in_index = rate * below as f64;
            if rows_to_walk > matches_in_index {
                break rows_to_walk;
            }
            walk = ((rows_to_walk * 1.25).ceil() as u64).clamp(FIRST_WALK, WALK_MAX);
        };
        // From the index, range by range: the ids just below that should hold the matches still
        // wanted at the rate the walk found (half as many rows again), four times wider while a
        // range holds too few. PostgreSQL visits a table page for every match its GIN index gives
        // (GIN has no index-only scan): asked for every match below, a word in 1 event in 128 of
        // a million visited 7,815 pages; with index scans off for the query it ANDs the primary
        // key's bitmap of the range with the index's and visits only the range's matches (563).
        // A range reaching the first event is asked without a floor: `id + 0`, an order the
        // primary key cannot give, makes the planner read the GIN index instead of walking rows
        // (a word the walk never met has few matches: its rows to walk are infinite, and the
        // span, saturated to `i64::MAX`, reaches the first event at once).
        let mut span = (rows_to_walk * 1.5).ceil() as i64;
        loop {
            let wanted = ((count - found.len()) as i64).into();
            let rows = if span >= below {
                self.conn
                    .query_all_raw(Statement::from_sql_and_values(
                        backend,
                        "SELECT id FROM events WHERE search_vector @@ to_tsquery('simple', $1) AND id < $2 \
                         ORDER BY id + 0 DESC LIMIT $3",
                        [query.clone().into(), below.into(), wanted],
                    ))
                    .await?
            } else {
                let txn = self.conn.begin().await?;
                txn.execute_unprepared("SET LOCAL enable_indexscan = off").await?;
                let rows = txn
                    .query_all_raw(Statement::from_sql_and_values(
                        backend,
                        "SELECT id FROM events WHERE search_vector @@ to_tsquery('simple', $1) AND id < $2 \
                         AND id >= $3 ORDER BY id + 0 DESC LIMIT $4",
                        [query.clone().into(), below.into(), (below - span).into(), wanted],
                    ))
                    .await?;
                txn.commit().await?;
                rows
            };
            found.extend(ids_of(&rows)?);
            if found.len() >= count || span >= below {
                return Ok(found);
            }
            (below, span) = (below - span, span.saturating_mul(4));
        }
    }
}

/// One batch of a search's candidates: the texts of those that pass the other filters, newest
/// first, how many candidates the index gave, and the oldest of them (where the next batch starts).
pub(super) struct SearchBatch {
    pub texts: Vec<SearchedText>,
    pub candidates: u64,
    pub oldest_candidate: Option<i64>,
}

impl Db {
    /// The newest `count` events below `below` matching any of `words` (the candidates: on
    /// PostgreSQL [`Db::search_candidates`], on SQLite [`SQLITE_CANDIDATES`]), and of those
    /// passing `filter`'s other conditions the texts [`relevance`] ranks.
    ///
    /// SQLite reads both in one query, the candidates a sub-query on its index: sqlx hands every
    /// row from SQLite's thread to the caller's, and 500 ids and then their 500 texts took twice
    /// the hand-offs, and a statement with 500 parameters to parse (docs/performance.md). The
    /// candidates are counted only when fewer than `count` passed. PostgreSQL reads the ids
    /// first (its search judges between walking and the index), then their texts.
    pub(super) async fn search_batch(
        &self,
        filter: &EventFilter,
        words: &[String],
        below: Option<i64>,
        count: u64,
    ) -> Result<SearchBatch> {
        let texts_of = || {
            Self::events_selected(filter)
                .select_only()
                .columns([
                    event::Column::Id,
                    event::Column::SearchText,
                    event::Column::Title,
                    event::Column::Description,
                ])
                .order_by_desc(event::Column::Id)
        };
        let backend = self.conn.get_database_backend();
        if backend != DatabaseBackend::Sqlite {
            let ids = self.search_candidates(words, below, count).await?;
            let Some(&oldest) = ids.last() else {
                return Ok(SearchBatch { texts: Vec::new(), candidates: 0, oldest_candidate: None });
            };
            let texts =
                texts_of().filter(event::Column::Id.is_in(ids.iter().copied())).into_tuple().all(&self.conn).await?;
            return Ok(SearchBatch { texts, candidates: ids.len() as u64, oldest_candidate: Some(oldest) });
        }
        let candidates_values = || -> [sea_orm::Value; 3] {
            [fts_query(words, INDEXED_PREFIX).into(), below.unwrap_or(i64::MAX).into(), (count as i64).into()]
        };
        let texts: Vec<SearchedText> = texts_of()
            .filter(Expr::cust_with_values(format!("events.id IN ({SQLITE_CANDIDATES})"), candidates_values()))
            .into_tuple()
            .all(&self.conn)
            .await?;
        if texts.len() as u64 == count {
            let oldest_candidate = texts.last().map(|t| t.0);
            return Ok(SearchBatch { texts, candidates: count, oldest_candidate });
        }
        let counted = self
            .conn
            .query_one_raw(Statement::from_sql_and_values(
                backend,
                format!("SELECT count(*), min(rowid) FROM ({SQLITE_CANDIDATES})"),
                candidates_values(),
            ))
            .await?;
        let (candidates, oldest_candidate) = match counted {
            Some(row) => (row.try_get_by_index::<i64>(0)? as u64, row.try_get_by_index::<Option<i64>>(1)?),
            None => (0, None),
        };
        Ok(SearchBatch { texts, candidates, oldest_candidate })
    }
}

/// SQLite's newest matches of a search below an id, from its index alone: the FTS5 query
/// ([`fts_query`]), the id to stay below and how many.
const SQLITE_CANDIDATES: &str =
    "SELECT rowid FROM events_fts WHERE events_fts MATCH ? AND rowid < ? ORDER BY rowid DESC LIMIT ?";

/// The first column of `rows`, an event id each.
fn ids_of(rows: &[sea_orm::QueryResult]) -> Result<Vec<i64>> {
    Ok(rows.iter().map(|row| row.try_get_by_index::<i64>(0)).collect::<std::result::Result<_, _>>()?)
}

/// How well an event matches: how many of the words its text (`search_text`) holds as word
/// prefixes, its title and description (`described`) counting twice.
///
/// `words` are lower case ([`search_words`]). Called for every candidate of a search (500), so it
/// reads the texts in place instead of copying them lowered.
pub(super) fn relevance(words: &[String], search_text: Option<&str>, described: [Option<&str>; 2]) -> usize {
    let holds = |text: Option<&str>, word: &str| {
        text.unwrap_or_default().split(|c: char| !c.is_alphanumeric()).any(|token| begins_with(token, word))
    };
    words
        .iter()
        .map(|w| usize::from(holds(search_text, w)) + usize::from(described.iter().any(|&text| holds(text, w))))
        .sum()
}

/// Whether `token`, lowered, begins with `word` (lower case).
fn begins_with(token: &str, word: &str) -> bool {
    let mut lowered = token.chars().flat_map(char::to_lowercase);
    word.chars().all(|w| lowered.next() == Some(w))
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
        // Any case in the text; a word longer than the text's is not in it.
        assert_eq!(rank("WHITE-VANS", Some("Whit")), 2);
    }

    #[test]
    fn only_sqlite_and_words_longer_than_its_prefix_index_need_narrowing() {
        let words = |text: &str| search_words(text);
        assert!(!candidates_need_narrowing(DatabaseBackend::Sqlite, &words("a man at the driveway")));
        assert!(candidates_need_narrowing(DatabaseBackend::Sqlite, &words("van courtyard")));
        assert!(!candidates_need_narrowing(DatabaseBackend::Postgres, &words("van courtyard")));
    }
}
