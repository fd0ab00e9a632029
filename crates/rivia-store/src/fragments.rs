//! Small SQL text builders every area shares: keyset paging, `IN` lists, literal `LIKE`
//! prefixes and alias-qualified column lists. Values always go in as bound parameters.

use crate::db::Val;
use rivia_core::page::Keyset;

/// Appends a keyset condition and `ORDER BY … LIMIT` on the integer column `col` to `sql`,
/// binding the boundary after the existing `params`.
pub(crate) fn push_keyset(sql: &mut String, params: &mut Vec<Val>, col: &str, keyset: &Keyset) {
    push_keyset_by(sql, params, col, col, keyset)
}

/// [`push_keyset`] ordering by `order` (the same column, possibly written so that the
/// planner cannot walk its index: SQLite takes `+id` as "sort, don't scan by id").
pub(crate) fn push_keyset_by(
    sql: &mut String,
    params: &mut Vec<Val>,
    col: &str,
    order: &str,
    keyset: &Keyset,
) {
    if let Some((greater, pk)) = keyset.bound {
        params.push(Val::Int(pk));
        sql.push_str(" AND ");
        sql.push_str(col);
        sql.push_str(if greater { " > " } else { " < " });
        push_placeholder(sql, params.len());
    }
    sql.push_str(" ORDER BY ");
    sql.push_str(order);
    sql.push_str(if keyset.sql_descending {
        " DESC LIMIT "
    } else {
        " ASC LIMIT "
    });
    // The limit is a validated integer written into the SQL text: SQLite re-prepares a
    // statement on every execution when its LIMIT is a bound parameter.
    push_int(sql, keyset.limit.max(0));
}

/// Appends the placeholder `$n`. (SQL text on the read paths is built with `push_str`:
/// `format!` was a tenth of the store's own instructions on a page of users.)
pub(crate) fn push_placeholder(sql: &mut String, n: usize) {
    sql.push('$');
    push_int(sql, n);
}

/// Appends an integer's decimal digits.
pub(crate) fn push_int(sql: &mut String, n: impl itoa::Integer) {
    sql.push_str(itoa::Buffer::new().format(n));
}

/// Reverses rows fetched backwards so the page reads in its normal order.
pub(crate) fn finish_keyset<T>(mut rows: Vec<T>, keyset: &Keyset) -> Vec<T> {
    if keyset.reverse_after {
        rows.reverse();
    }
    rows
}

/// `$n, $n+1, …` placeholders for a list of values appended to `params`.
pub(crate) fn push_in_list(params: &mut Vec<Val>, values: impl IntoIterator<Item = Val>) -> String {
    let mut out = String::new();
    for v in values {
        params.push(v);
        if !out.is_empty() {
            out.push_str(", ");
        }
        push_placeholder(&mut out, params.len());
    }
    if out.is_empty() {
        out.push_str("NULL");
    }
    out
}

/// `cols` ("a, b") with every column prefixed by `alias` ("u.a, u.b"), for joins; built
/// once per constant (`LazyLock`), not per request.
pub(crate) fn qualify(cols: &str, alias: &str) -> String {
    cols.split(", ")
        .map(|c| format!("{alias}.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Escapes `%`, `_` and `\` so a user prefix is literal inside `LIKE … ESCAPE '\'`.
pub(crate) fn like_prefix(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}
