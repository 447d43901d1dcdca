//! Event descriptions and text search over events: SQLite FTS5 (`events_fts`, kept by triggers,
//! with prefix indexes) or PostgreSQL's word lists (`search_terms` and `search_term_events`, kept
//! by a trigger) find the newest events matching any word, newest first, within the other
//! filters; the newest 500 matches are then ranked by how many of the words they hold.

use super::entities::event;
use super::{Db, EventFilter};
use crate::error::Result;
use crate::model::DescribedBy;
use sea_orm::sea_query::Expr;
use sea_orm::sea_query::SimpleExpr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Statement,
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
/// (SQLite FTS5) or on `search_term_events` (PostgreSQL). Each word is a prefix, and none of the
/// user's text reaches the query syntax unquoted.
pub(super) fn matches_any(backend: DatabaseBackend, words: &[String]) -> SimpleExpr {
    match backend {
        DatabaseBackend::Sqlite => Expr::cust_with_values(
            "events.id IN (SELECT rowid FROM events_fts WHERE events_fts MATCH ?)",
            [fts_query(words, usize::MAX)],
        ),
        _ => {
            let mut values = Vec::new();
            let terms = term_ranges("term", words, &mut values);
            Expr::cust_with_values(
                format!("events.id IN (SELECT event_id FROM search_term_events WHERE {terms})"),
                values,
            )
        }
    }
}

/// FTS5's "any of these word prefixes", each word cut to its first `chars` characters and quoted.
fn fts_query(words: &[String], chars: usize) -> String {
    words.iter().map(|w| format!("\"{}\"*", w.chars().take(chars).collect::<String>())).collect::<Vec<_>>().join(" OR ")
}

/// Characters of a word SQLite's index looks up as one term (its longest prefix index).
const INDEXED_PREFIX: usize = 8;

/// Whether [`candidates`] may return events that match none of `words` (SQLite looks longer words
/// up by their first characters): the caller keeps only those [`relevance`] finds a word in.
fn candidates_need_narrowing(backend: DatabaseBackend, words: &[String]) -> bool {
    backend == DatabaseBackend::Sqlite && words.iter().any(|w| w.chars().count() > INDEXED_PREFIX)
}

impl Db {
    /// PostgreSQL: the newest `count` events below `below` (all when `None`) holding a term that
    /// begins with any of `words`, newest first, each with whether a term it was found by is in
    /// its title or description. (SQLite reads them from its FTS5 index alone, newest first:
    /// [`SQLITE_CANDIDATES`]; a word longer than 8 characters is looked up by its first 8, as a
    /// prefix index answers those without reading every match; see [`candidates_need_narrowing`].)
    ///
    /// The terms a word begins are one range of `search_terms` (the "C" collation orders by code
    /// point); for each, the newest `count` of its events below `below` are read backwards off
    /// `search_term_events`' primary key (term, event id, with the flag `described` beside it), and
    /// of all those the newest `count` are kept. So a common word and a rare one cost alike: at
    /// most `count` index entries per term, never every match (a GIN index, which held the terms
    /// before, gives its matches in no order).
    async fn search_candidates(&self, words: &[String], below: Option<i64>, count: u64) -> Result<Vec<(i64, bool)>> {
        let mut values: Vec<sea_orm::Value> = vec![below.unwrap_or(i64::MAX).into(), (count as i64).into()];
        let terms = term_ranges("t.term", words, &mut values);
        let rows = self
            .conn
            .query_all_raw(Statement::from_sql_and_values(
                self.conn.get_database_backend(),
                format!(
                    "SELECT m.event_id, bool_or(m.described) FROM search_terms t CROSS JOIN LATERAL \
                     (SELECT e.event_id, e.described FROM search_term_events e WHERE e.term = t.term \
                     AND e.event_id < $1 ORDER BY e.event_id DESC LIMIT $2) m WHERE {terms} \
                     GROUP BY m.event_id ORDER BY m.event_id DESC LIMIT $2"
                ),
                values,
            ))
            .await?;
        Ok(rows
            .iter()
            .map(|row| Ok((row.try_get_by_index::<i64>(0)?, row.try_get_by_index::<bool>(1)?)))
            .collect::<std::result::Result<_, sea_orm::DbErr>>()?)
    }
}

/// PostgreSQL's condition "`column` begins with one of `words`", as ranges of the "C" collation
/// (`column >= word AND column < end`, the end from [`prefix_end`]) a primary key answers; the
/// words are appended to `values` and named by their places in it (`$n`).
fn term_ranges(column: &str, words: &[String], values: &mut Vec<sea_orm::Value>) -> String {
    let mut ranges = Vec::new();
    for word in words {
        values.push(word.clone().into());
        values.push(prefix_end(word).into());
        ranges.push(format!("({column} >= ${} AND {column} < ${})", values.len() - 1, values.len()));
    }
    format!("({})", ranges.join(" OR "))
}

/// The first string after every string that begins with `prefix`, in code point order (the "C"
/// collation's, for UTF-8): the prefix with its last character raised by one (a character with
/// none above it is dropped and the one before raised). A prefix of only such characters has no
/// end; "\u{10FFFF}" repeated one more time than it has characters stands in (search words are
/// letters and digits, never that).
fn prefix_end(prefix: &str) -> String {
    let mut end: Vec<char> = prefix.chars().collect();
    while let Some(last) = end.pop() {
        if let Some(next) = (u32::from(last) + 1..=u32::from(char::MAX)).find_map(char::from_u32) {
            end.push(next);
            return end.into_iter().collect();
        }
    }
    std::iter::repeat_n(char::MAX, prefix.chars().count() + 1).collect()
}

/// One batch of a search's candidates: those that pass the other filters, newest first, each
/// with its [`relevance`]; how many candidates the index gave, and the oldest of them (where the
/// next batch starts).
pub(super) struct SearchBatch {
    pub ranked: Vec<(i64, usize)>,
    pub candidates: u64,
    pub oldest_candidate: Option<i64>,
}

impl Db {
    /// The newest `count` events below `below` matching any of `words` (the candidates: on
    /// PostgreSQL [`Db::search_candidates`], on SQLite [`SQLITE_CANDIDATES`]), and of those
    /// passing `filter`'s other conditions, their [`relevance`].
    ///
    /// PostgreSQL ranks a search for one word with no other condition from the word lists alone:
    /// the event holds the word (it was found by it), and the list says whether its title or
    /// description does; reading the 500 candidates' texts was the largest cost of such a search
    /// (docs/performance.md). Otherwise it reads the candidates, then their texts to rank.
    ///
    /// SQLite reads both in one query, the candidates a sub-query on its index: sqlx hands every
    /// row from SQLite's thread to the caller's, and 500 ids and then their 500 texts took twice
    /// the hand-offs, and a statement with 500 parameters to parse (docs/performance.md). The
    /// candidates are counted only when fewer than `count` passed.
    pub(super) async fn search_batch(
        &self,
        filter: &EventFilter,
        words: &[String],
        below: Option<i64>,
        count: u64,
    ) -> Result<SearchBatch> {
        let conditions = Self::event_conditions(filter);
        let texts_of = || {
            event::Entity::find()
                .filter(conditions.clone())
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
        let narrow = candidates_need_narrowing(backend, words);
        let rank = |texts: Vec<SearchedText>| -> Vec<(i64, usize)> {
            texts
                .into_iter()
                .filter_map(|(id, text, title, description)| {
                    let relevance = relevance(words, text.as_deref(), [title.as_deref(), description.as_deref()]);
                    (!narrow || relevance > 0).then_some((id, relevance))
                })
                .collect()
        };
        if backend != DatabaseBackend::Sqlite {
            let candidates = self.search_candidates(words, below, count).await?;
            let Some(&(oldest, _)) = candidates.last() else {
                return Ok(SearchBatch { ranked: Vec::new(), candidates: 0, oldest_candidate: None });
            };
            let ranked = if words.len() == 1 && conditions.is_empty() {
                candidates.iter().map(|&(id, described)| (id, 1 + usize::from(described))).collect()
            } else {
                let ids = candidates.iter().map(|&(id, _)| id);
                rank(texts_of().filter(event::Column::Id.is_in(ids)).into_tuple().all(&self.conn).await?)
            };
            return Ok(SearchBatch { ranked, candidates: candidates.len() as u64, oldest_candidate: Some(oldest) });
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
            return Ok(SearchBatch { ranked: rank(texts), candidates: count, oldest_candidate });
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
        Ok(SearchBatch { ranked: rank(texts), candidates, oldest_candidate })
    }
}

/// What a search reads of a candidate to rank it: id, search text, title, description.
type SearchedText = (i64, Option<String>, Option<String>, Option<String>);

/// SQLite's newest matches of a search below an id, from its index alone: the FTS5 query
/// ([`fts_query`]), the id to stay below and how many.
const SQLITE_CANDIDATES: &str =
    "SELECT rowid FROM events_fts WHERE events_fts MATCH ? AND rowid < ? ORDER BY rowid DESC LIMIT ?";

/// How well an event matches: how many of the words its text (`search_text`) holds as word
/// prefixes, its title and description (`described`) counting twice.
///
/// `words` are lower case ([`search_words`]). Called for every candidate of a search (500), so it
/// reads the texts in place instead of copying them lowered.
fn relevance(words: &[String], search_text: Option<&str>, described: [Option<&str>; 2]) -> usize {
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
    fn a_prefix_ends_where_the_strings_beginning_with_it_do() {
        assert_eq!(prefix_end("kayak"), "kayal");
        assert_eq!(prefix_end("caf\u{e9}"), "caf\u{ea}");
        // No character between the last before the surrogates and the first after them.
        assert_eq!(prefix_end("a\u{d7ff}"), "a\u{e000}");
        assert_eq!(prefix_end("ab\u{10ffff}"), "ac");
        assert_eq!(prefix_end("\u{10ffff}"), "\u{10ffff}\u{10ffff}");
        let mut sorted = ["kayak", "kayal", "kayaks", "kayak\u{10ffff}", "kayaj\u{10ffff}"];
        sorted.sort();
        let within: Vec<_> = sorted.iter().filter(|t| **t >= "kayak" && **t < prefix_end("kayak").as_str()).collect();
        assert_eq!(within, [&"kayak", &"kayaks", &"kayak\u{10ffff}"]);
    }

    #[test]
    fn term_ranges_name_each_word_and_its_end_by_place() {
        let mut values = vec![sea_orm::Value::from(7i64)];
        let sql = term_ranges("t.term", &search_words("van Kayak"), &mut values);
        assert_eq!(sql, "((t.term >= $2 AND t.term < $3) OR (t.term >= $4 AND t.term < $5))");
        let words: Vec<sea_orm::Value> = ["van", "vao", "kayak", "kayal"].map(sea_orm::Value::from).into();
        assert_eq!(values[1..], words[..]);
    }

    #[test]
    fn only_sqlite_and_words_longer_than_its_prefix_index_need_narrowing() {
        let words = |text: &str| search_words(text);
        assert!(!candidates_need_narrowing(DatabaseBackend::Sqlite, &words("a man at the driveway")));
        assert!(candidates_need_narrowing(DatabaseBackend::Sqlite, &words("van courtyard")));
        assert!(!candidates_need_narrowing(DatabaseBackend::Postgres, &words("van courtyard")));
    }
}
