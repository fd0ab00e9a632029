//! Statement texts as SQLite reads them: the store writes every statement once with
//! PostgreSQL's `$1` placeholders, and SQLite's form of each read is kept per thread.

use std::cell::RefCell;
use std::collections::HashMap;

/// Distinct statement texts [`with_sqlite_text`] remembers per thread before it starts
/// over (texts vary with `IN` list lengths and page sizes).
const SQLITE_TEXT_MEMO: usize = 512;

thread_local! {
    /// Each read's text in SQLite's placeholders, by its text as written.
    static SQLITE_TEXT: RefCell<HashMap<Box<str>, Box<str>, foldhash::fast::RandomState>> =
        RefCell::new(HashMap::default());
}

/// Calls `f` with `sql` in SQLite's placeholders ([`sqlite_placeholders`]), rewritten once
/// per distinct text on this thread: looking a text up costs a third of rewriting it (the
/// users page runs 1.3 KB of SQL a request; callgrind).
pub(super) fn with_sqlite_text<T>(sql: &str, f: impl FnOnce(&str) -> T) -> T {
    SQLITE_TEXT.with(|cell| {
        let Ok(mut memo) = cell.try_borrow_mut() else {
            return f(&sqlite_placeholders(sql));
        };
        if let Some(text) = memo.get(sql) {
            return f(text);
        }
        if memo.len() >= SQLITE_TEXT_MEMO {
            memo.clear();
        }
        let text: Box<str> = sqlite_placeholders(sql).into();
        let result = f(&text);
        memo.insert(sql.into(), text);
        result
    })
}

/// Rewrites `$1` placeholders into SQLite's numbered `+?1`; `$` followed by anything but a
/// digit (for example a JSON path `'$.title'`) is left alone. The unary plus (a no-op on
/// any value) matters: SQLite re-prepares a statement on every execution when a bare
/// parameter in an equality constraint could let the planner drop an ORDER BY, which made
/// cached statements recompile each time; `+?1` still uses the same indexes.
pub(super) fn sqlite_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut rest = sql;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        out.push_str(if after.starts_with(|c: char| c.is_ascii_digit()) {
            "+?"
        } else {
            "$"
        });
        rest = after;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_rewritten_but_json_paths_kept() {
        assert_eq!(
            sqlite_placeholders("SELECT json_extract(data, '$.a') FROM t WHERE id = $12 AND x=$1"),
            "SELECT json_extract(data, '$.a') FROM t WHERE id = +?12 AND x=+?1"
        );
    }

    #[test]
    fn remembered_texts_are_the_rewritten_ones() {
        let sql = "SELECT id FROM t WHERE id = $1";
        for _ in 0..2 {
            assert_eq!(
                with_sqlite_text(sql, str::to_owned),
                "SELECT id FROM t WHERE id = +?1"
            );
        }
        assert_eq!(with_sqlite_text("SELECT $1", str::to_owned), "SELECT +?1");
    }
}
