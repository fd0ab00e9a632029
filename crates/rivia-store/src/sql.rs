//! The one SQL generator shared by both dialects: the JSON field expression used by index
//! DDL *and* by filters (a planner only uses an expression index when the query contains
//! the identical expression), and the compiler from a parsed [`Query`] to a parameterised
//! `WHERE` fragment.
//!
//! User input never reaches SQL text: values are bound parameters; the only schema-derived
//! text is a field's storage key (`<revision>_<name>`, validated to `[A-Za-z0-9_]`), which
//! must be literal for the expression to match the index.

use crate::db::{Dialect, Val};
use crate::table_name;
use rivia_core::query::{
    CmpOp, Col, Cond, FieldRef, Query, Readable, Scalar, StrOp, Target, TargetKind,
};
use rivia_core::schema::{Field, FieldType, IndexKind};

/// Whether a storage key is safe to embed in SQL text (it always is once validated; this
/// guards against a corrupted stored schema).
fn safe_key(key: &str) -> bool {
    !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The expression reading a schema field, exactly as the index DDL writes it.
/// `prefix` qualifies the `data` column (`""` or `"p."`).
pub(crate) fn field_expr(dialect: Dialect, prefix: &str, key: &str) -> String {
    let key = if safe_key(key) { key } else { "_invalid_" };
    match dialect {
        Dialect::Sqlite => format!("json_extract({prefix}data, '$.\"{key}\"')"),
        Dialect::Postgres => format!("({prefix}data -> '{key}')"),
    }
}

/// The field as SQL text (strings unquoted), for string operators.
fn text_expr(dialect: Dialect, prefix: &str, key: &str) -> String {
    match dialect {
        Dialect::Sqlite => field_expr(dialect, prefix, key),
        Dialect::Postgres => {
            let key = if safe_key(key) { key } else { "_invalid_" };
            format!("({prefix}data ->> '{key}')")
        }
    }
}

/// Stable short hash of a storage key for index names (identifiers never carry user
/// text, and PostgreSQL limits them to 63 bytes).
fn key_hash(key: &str) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in key.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{h:016x}")
}

/// Name of the index of a field of a class.
pub(crate) fn index_name(class_id: i64, key: &str) -> String {
    format!("c{class_id}_x{}", key_hash(key))
}

impl crate::Constraint {
    /// Whether this is the unique index of the schema field stored under `key` in class
    /// `class_id` (see [`index_name`]).
    pub fn is_field_index(&self, class_id: i64, key: &str) -> bool {
        self.name() == index_name(class_id, key)
    }
}

/// `CREATE INDEX` for a field, built from [`field_expr`]. Arrays and relations get a GIN
/// index on PostgreSQL (containment), everything else a B-tree expression index.
pub(crate) fn create_index_ddl(
    dialect: Dialect,
    class_id: i64,
    field: &Field,
    kind: IndexKind,
) -> String {
    let name = index_name(class_id, &field.key);
    let table = table_name(class_id);
    let expr = field_expr(dialect, "", &field.key);
    let unique = if kind == IndexKind::Unique {
        "UNIQUE "
    } else {
        ""
    };
    match dialect {
        Dialect::Postgres if field.ftype.is_list() => {
            format!("CREATE INDEX {name} ON {table} USING gin ({expr} jsonb_path_ops)")
        }
        // Geopoints are small objects; a B-tree on them only serves `_exists`.
        Dialect::Postgres => format!("CREATE {unique}INDEX {name} ON {table} ({expr})"),
        Dialect::Sqlite => format!("CREATE {unique}INDEX {name} ON {table} ({expr})"),
    }
}

/// `DROP INDEX` for a field's index.
pub(crate) fn drop_index_ddl(class_id: i64, key: &str) -> String {
    format!("DROP INDEX IF EXISTS {}", index_name(class_id, key))
}

/// Binds a value compared with a schema field: native on SQLite (where `json_extract`
/// yields SQL values), JSON on PostgreSQL (where `->` yields `jsonb`).
fn bind_json(dialect: Dialect, params: &mut Vec<Val>, s: &Scalar) -> String {
    let v = match dialect {
        Dialect::Postgres => Val::Json(s.to_json().to_string()),
        Dialect::Sqlite => native(s),
    };
    params.push(v);
    format!("${}", params.len())
}

fn native(s: &Scalar) -> Val {
    match s {
        Scalar::Int(i) => Val::Int(*i),
        Scalar::Float(f) => Val::Float(*f),
        Scalar::Bool(b) => Val::Int(*b as i64),
        Scalar::Str(t) => Val::Text(t.clone()),
    }
}

fn bind(params: &mut Vec<Val>, v: Val) -> String {
    params.push(v);
    format!("${}", params.len())
}

/// Where a query's columns live.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scope<'a> {
    /// Qualifier of the object table's columns (`""` or `"p."`).
    pub(crate) prefix: &'a str,
    /// Nested query on target `user`: `id`/`username` are columns of `users u`.
    pub(crate) users: bool,
    /// The instance (for user lookups).
    pub(crate) instance_id: i64,
}

impl Scope<'_> {
    fn col(&self, c: Col) -> String {
        let p = self.prefix;
        match c {
            Col::Id if self.users => "u.id".into(),
            Col::Username => "u.username".into(),
            Col::Id => format!("{p}id"),
            Col::CreatedAt => format!("{p}created_at"),
            Col::UpdatedAt => format!("{p}updated_at"),
            Col::Revision => format!("{p}revision"),
            Col::Owner => format!("{p}owner"),
            Col::Group => format!("{p}group_id"),
            Col::Channel => format!("{p}channel"),
            Col::ChannelRoom => format!("{p}channel_room"),
        }
    }
}

/// Compiles a query into a `WHERE` fragment (`1=1` when empty), appending its parameters.
pub(crate) fn compile(dialect: Dialect, q: &Query, scope: Scope, params: &mut Vec<Val>) -> String {
    if q.conds.is_empty() {
        return "1=1".into();
    }
    q.conds
        .iter()
        .map(|c| format!("({})", compile_cond(dialect, c, scope, params)))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// The expression and a binder for a field reference.
fn operand(dialect: Dialect, f: &FieldRef, scope: Scope) -> (String, bool) {
    match f {
        FieldRef::Builtin(c) => (scope.col(*c), false),
        FieldRef::Schema(s) => (field_expr(dialect, scope.prefix, &s.key), true),
    }
}

fn bind_for(dialect: Dialect, is_json: bool, params: &mut Vec<Val>, s: &Scalar) -> String {
    if is_json {
        bind_json(dialect, params, s)
    } else {
        bind(params, native(s))
    }
}

fn compile_cond(dialect: Dialect, c: &Cond, scope: Scope, params: &mut Vec<Val>) -> String {
    match c {
        Cond::Cmp(f, op, s) => {
            let (x, json) = operand(dialect, f, scope);
            let p = bind_for(dialect, json, params, s);
            match op {
                CmpOp::Eq => format!("{x} = {p}"),
                CmpOp::Neq => format!("{x} IS NULL OR {x} <> {p}"),
                CmpOp::Gt => format!("{x} > {p}"),
                CmpOp::Gte => format!("{x} >= {p}"),
                CmpOp::Lt => format!("{x} < {p}"),
                CmpOp::Lte => format!("{x} <= {p}"),
            }
        }
        Cond::In(f, values, negate) => {
            let (x, json) = operand(dialect, f, scope);
            if values.is_empty() {
                return if *negate { "1=1".into() } else { "1=0".into() };
            }
            let list: Vec<String> = values
                .iter()
                .map(|v| bind_for(dialect, json, params, v))
                .collect();
            let list = list.join(", ");
            if *negate {
                format!("{x} IS NULL OR {x} NOT IN ({list})")
            } else {
                format!("{x} IN ({list})")
            }
        }
        Cond::Exists(f, want) => {
            let (x, _) = operand(dialect, f, scope);
            if *want {
                format!("{x} IS NOT NULL")
            } else {
                format!("{x} IS NULL")
            }
        }
        Cond::Str(f, op, needle) => compile_str(dialect, f, *op, needle, scope, params),
        Cond::Contains(f, values) => compile_contains(dialect, f, values, scope, params),
        Cond::Is(f, target, nested) => compile_is(dialect, f, target, nested, scope, params),
        Cond::Near(f, lon, lat, km) => {
            let FieldRef::Schema(s) = f else {
                return "1=0".into();
            };
            let (plon, plat) = geo_parts(dialect, scope.prefix, &s.key);
            let a = bind(params, Val::Float(*lon));
            let b = bind(params, Val::Float(*lat));
            let d = bind(params, Val::Float(*km));
            format!(
                "rivia_geo_km({plon}, {plat}, CAST({a} AS DOUBLE PRECISION), CAST({b} AS DOUBLE PRECISION)) <= CAST({d} AS DOUBLE PRECISION)"
            )
        }
    }
}

fn geo_parts(dialect: Dialect, prefix: &str, key: &str) -> (String, String) {
    let key = if safe_key(key) { key } else { "_invalid_" };
    match dialect {
        Dialect::Sqlite => (
            format!("json_extract({prefix}data, '$.\"{key}\".longitude')"),
            format!("json_extract({prefix}data, '$.\"{key}\".latitude')"),
        ),
        Dialect::Postgres => (
            format!("CAST({prefix}data -> '{key}' ->> 'longitude' AS DOUBLE PRECISION)"),
            format!("CAST({prefix}data -> '{key}' ->> 'latitude' AS DOUBLE PRECISION)"),
        ),
    }
}

fn compile_str(
    dialect: Dialect,
    f: &FieldRef,
    op: StrOp,
    needle: &str,
    scope: Scope,
    params: &mut Vec<Val>,
) -> String {
    let x = match f {
        FieldRef::Builtin(c) => scope.col(*c),
        FieldRef::Schema(s) => text_expr(dialect, scope.prefix, &s.key),
    };
    let lower_x = format!("lower({x})");
    let pg = dialect == Dialect::Postgres;
    let p = match op {
        StrOp::Like if !pg => bind(params, Val::Text(like_to_glob(needle))),
        _ => bind(params, Val::Text(needle.to_string())),
    };
    // PostgreSQL cannot infer the type of a parameter used only in text functions.
    let p = if pg { format!("CAST({p} AS TEXT)") } else { p };
    let lp = format!("lower({p})");
    let (len, find) = if pg {
        ("char_length", "strpos")
    } else {
        ("length", "instr")
    };
    let starts = |e: &str, n: &str| {
        if pg {
            format!("left({e}, {len}({n})) = {n}")
        } else {
            format!("substr({e}, 1, {len}({n})) = {n}")
        }
    };
    let ends = |e: &str, n: &str| {
        if pg {
            format!("right({e}, {len}({n})) = {n}")
        } else {
            format!("substr({e}, {len}({e}) - {len}({n}) + 1) = {n}")
        }
    };
    match op {
        StrOp::Contains => format!("{find}({x}, {p}) > 0"),
        StrOp::IContains => format!("{find}({lower_x}, {lp}) > 0"),
        StrOp::StartsWith => starts(&x, &p),
        StrOp::IStartsWith => starts(&lower_x, &lp),
        StrOp::EndsWith => ends(&x, &p),
        StrOp::IEndsWith => ends(&lower_x, &lp),
        StrOp::IEq => format!("{lower_x} = {lp}"),
        StrOp::Like if pg => format!("{x} LIKE {p}"),
        // SQLite's LIKE ignores ASCII case, so a case-sensitive LIKE becomes a GLOB.
        StrOp::Like => format!("{x} GLOB {p}"),
        StrOp::ILike if pg => format!("{x} ILIKE {p}"),
        StrOp::ILike => format!("{x} LIKE {p} ESCAPE '\\'"),
    }
}

/// Rewrites a LIKE pattern (`%`, `_`, `\` escapes) as an equivalent GLOB pattern.
pub(crate) fn like_to_glob(pattern: &str) -> String {
    use rivia_core::query::{LikeToken, like_tokens};
    let mut out = String::with_capacity(pattern.len() + 4);
    for t in like_tokens(pattern) {
        match t {
            LikeToken::AnyRun => out.push('*'),
            LikeToken::AnyOne => out.push('?'),
            LikeToken::Lit(c @ ('*' | '?' | '[')) => {
                out.push('[');
                out.push(c);
                out.push(']');
            }
            LikeToken::Lit(c) => out.push(c),
        }
    }
    out
}

fn compile_contains(
    dialect: Dialect,
    f: &FieldRef,
    values: &[Scalar],
    scope: Scope,
    params: &mut Vec<Val>,
) -> String {
    let FieldRef::Schema(s) = f else {
        return "1=0".into();
    };
    if values.is_empty() {
        return format!("{} IS NOT NULL", field_expr(dialect, scope.prefix, &s.key));
    }
    match dialect {
        Dialect::Postgres => {
            let list: Vec<serde_json::Value> = values.iter().map(Scalar::to_json).collect();
            let p = bind(
                params,
                Val::Json(serde_json::Value::Array(list).to_string()),
            );
            format!("{} @> {p}", field_expr(dialect, scope.prefix, &s.key))
        }
        Dialect::Sqlite => {
            let key = if safe_key(&s.key) {
                &s.key
            } else {
                "_invalid_"
            };
            let prefix = scope.prefix;
            values
                .iter()
                .map(|v| {
                    let types = match v {
                        Scalar::Int(_) | Scalar::Float(_) => "'integer', 'real'",
                        Scalar::Str(_) => "'text'",
                        Scalar::Bool(true) => "'true'",
                        Scalar::Bool(false) => "'false'",
                    };
                    let cond = match v {
                        Scalar::Bool(_) => String::new(),
                        other => format!(" AND je.value = {}", bind(params, native(other))),
                    };
                    format!(
                        "EXISTS (SELECT 1 FROM json_each({prefix}data, '$.\"{key}\"') AS je WHERE je.type IN ({types}){cond})"
                    )
                })
                .collect::<Vec<_>>()
                .join(" AND ")
        }
    }
}

/// The condition limiting target rows (columns qualified by `prefix`) to those the caller
/// may read, so an `_is` query never matches on what the caller could not read.
fn readable_sql(prefix: &str, readable: &Readable, params: &mut Vec<Val>) -> String {
    match readable {
        Readable::All => "1=1".into(),
        Readable::Nothing => "1=0".into(),
        Readable::Others => format!("{prefix}other_permissions >= 1"),
        Readable::User { id, groups } => {
            let u = bind(params, Val::Int(*id));
            let group_cond = if groups.is_empty() {
                String::new()
            } else {
                let list = crate::push_in_list(params, groups.iter().map(|g| Val::Int(*g)));
                format!(" OR ({prefix}group_id IN ({list}) AND {prefix}group_permissions >= 1)")
            };
            format!(
                "(({prefix}owner = {u} AND {prefix}owner_permissions >= 1) OR {prefix}other_permissions >= 1{group_cond})"
            )
        }
    }
}

/// The subquery selecting the ids of target objects matching a nested query.
fn target_ids(
    dialect: Dialect,
    target: &Target,
    nested: &Query,
    scope: Scope,
    params: &mut Vec<Val>,
) -> String {
    let limit = rivia_core::query::NESTED_LIMIT;
    let pg = dialect == Dialect::Postgres;
    match &target.kind {
        TargetKind::Class(id) => {
            let inner = Scope {
                prefix: "",
                users: false,
                instance_id: scope.instance_id,
            };
            let w = compile(dialect, nested, inner, params);
            let r = readable_sql("", &target.readable, params);
            let sel = if pg { "to_jsonb(id)" } else { "id" };
            format!(
                "SELECT {sel} FROM {} WHERE {w} AND {r} LIMIT {limit}",
                table_name(*id)
            )
        }
        TargetKind::User { profile_class_id } => {
            let inner = Scope {
                prefix: "p.",
                users: true,
                instance_id: scope.instance_id,
            };
            let inst = bind(params, Val::Int(scope.instance_id));
            let w = compile(dialect, nested, inner, params);
            let r = readable_sql("p.", &target.readable, params);
            let sel = if pg { "to_jsonb(u.id)" } else { "u.id" };
            format!(
                "SELECT {sel} FROM users u JOIN {} p ON p.id = u.profile_id WHERE u.instance_id = {inst} AND {w} AND {r} LIMIT {limit}",
                table_name(*profile_class_id)
            )
        }
    }
}

fn compile_is(
    dialect: Dialect,
    f: &FieldRef,
    target: &Target,
    nested: &Query,
    scope: Scope,
    params: &mut Vec<Val>,
) -> String {
    let FieldRef::Schema(s) = f else {
        return "1=0".into();
    };
    let ids = target_ids(dialect, target, nested, scope, params);
    let x = field_expr(dialect, scope.prefix, &s.key);
    if s.ftype == FieldType::Relation {
        match dialect {
            Dialect::Postgres => format!(
                "EXISTS (SELECT 1 FROM jsonb_array_elements({x}) AS re(v) WHERE re.v IN ({ids}))"
            ),
            Dialect::Sqlite => {
                let key = if safe_key(&s.key) {
                    &s.key
                } else {
                    "_invalid_"
                };
                format!(
                    "EXISTS (SELECT 1 FROM json_each({}data, '$.\"{key}\"') AS re WHERE re.value IN ({ids}))",
                    scope.prefix
                )
            }
        }
    } else {
        format!("{x} IN ({ids})")
    }
}

/// Binds a value of an ordering cursor for a field (schema or built-in).
pub(crate) fn bind_order_value(
    dialect: Dialect,
    is_json: bool,
    params: &mut Vec<Val>,
    s: &Scalar,
) -> String {
    bind_for(dialect, is_json, params, s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_translation_keeps_literals() {
        assert_eq!(like_to_glob("a%b_c"), "a*b?c");
        assert_eq!(like_to_glob("data\\%\\_a*"), "data%_a[*]");
    }

    #[test]
    fn expressions_match_between_ddl_and_filters() {
        assert_eq!(
            field_expr(Dialect::Sqlite, "", "1_title"),
            "json_extract(data, '$.\"1_title\"')"
        );
        assert_eq!(
            field_expr(Dialect::Postgres, "", "1_title"),
            "(data -> '1_title')"
        );
        assert_eq!(
            field_expr(Dialect::Postgres, "", "x'; drop"),
            "(data -> '_invalid_')"
        );
    }
}
