//! Validation of a submitted schema against the current one, with Syncano's exact
//! messages, and the storage key each field keeps or gets.

use super::stored::field_from_public;
use super::{ALL_TYPES, FieldType, MAX_FIELDS, MAX_INDEXES, Schema};
use serde_json::{Map, Value};

/// Field names that would shadow built-in object attributes (checked lowercased).
const RESERVED_NAMES: &[&str] = &[
    "expected_revision",
    "links",
    "self",
    "id",
    "created_at",
    "updated_at",
    "revision",
    "owner",
    "owner_id",
    "owner_permissions",
    "group",
    "group_id",
    "group_permissions",
    "other_permissions",
    "channel",
    "channel_id",
    "channel_room",
    "acl",
    "pk",
    "objects",
    "all_objects",
    "save",
    "save_base",
    "delete",
    "clean",
    "check",
    "full_clean",
    "clean_fields",
    "validate_unique",
    "refresh_from_db",
    "from_db",
    "serializable_value",
    "prepare_database_save",
    "get_deferred_fields",
    "date_error_message",
    "unique_error_message",
    "doesnotexist",
    "multipleobjectsreturned",
    "get_next_by_created_at",
    "get_previous_by_created_at",
    "get_next_by_updated_at",
    "get_previous_by_updated_at",
    "klass",
    "klass_id",
    "load_klass",
    "permissions",
];

/// A rejected schema: the single message Syncano puts in `{"schema": [msg]}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError(pub String);

fn fail<T>(msg: impl Into<String>) -> Result<T, String> {
    Err(msg.into())
}

/// Validates a submitted schema against the current one.
///
/// `new_revision` is the class revision the schema will be saved under (used for the
/// storage keys of new or retyped fields); `class_exists` answers whether a target class
/// exists. Returns the normalised schema.
pub fn validate_schema(
    input: &Value,
    old: &Schema,
    new_revision: i64,
    class_exists: &dyn Fn(&str) -> bool,
) -> Result<Schema, SchemaError> {
    let parsed = match input {
        Value::String(s) => serde_json::from_str::<Value>(s)
            .map_err(|_| SchemaError("Not a valid JSON string.".into()))?,
        Value::Null => Value::Array(Vec::new()),
        other => other.clone(),
    };
    let Value::Array(items) = parsed else {
        return Err(SchemaError("Schema passed in invalid format.".into()));
    };
    if items.len() > MAX_FIELDS {
        return Err(SchemaError(format!(
            "Too many fields defined (exceeds {MAX_FIELDS})."
        )));
    }
    let mut seen: Vec<String> = Vec::new();
    let mut counts = IndexCounts::default();
    let mut fields = Vec::new();
    for (idx, item) in items.iter().enumerate() {
        let Value::Object(def) = item else {
            return Err(SchemaError("Schema passed in invalid format.".into()));
        };
        let checked = validate_field(def, old, &mut seen, &mut counts, class_exists);
        match checked {
            Ok(public) => {
                let key = storage_key(&public, old, new_revision);
                if let Some(f) = field_from_public(public, key) {
                    fields.push(f);
                }
            }
            Err(msg) => {
                let shown = match def.get("name") {
                    Some(Value::String(s)) => s.clone(),
                    Some(other) => other.to_string(),
                    None => "unknown".into(),
                };
                return Err(SchemaError(format!(
                    "Error processing field definition \"{shown}\" #{idx}: {msg}"
                )));
            }
        }
    }
    Ok(Schema { fields })
}

#[derive(Default)]
struct IndexCounts {
    total: usize,
    geopoint: usize,
}

fn validate_field(
    def: &Map<String, Value>,
    old: &Schema,
    seen: &mut Vec<String>,
    counts: &mut IndexCounts,
    class_exists: &dyn Fn(&str) -> bool,
) -> Result<Map<String, Value>, String> {
    let (Some(raw_name), Some(raw_type)) = (def.get("name"), def.get("type")) else {
        return fail("Field name and type is required.");
    };
    let name = validate_field_name(raw_name)?;
    let Value::String(type_text) = raw_type else {
        return fail("Invalid type of field type. Expected string.");
    };
    let Some(ftype) = FieldType::parse(&type_text.to_lowercase()) else {
        let names: Vec<&str> = ALL_TYPES.iter().map(|t| t.name()).collect();
        return fail(format!(
            "Invalid field type value. Possible types: {}.",
            names.join(", ")
        ));
    };
    let allowed = ftype.allowed_keys();
    if def.keys().any(|k| !allowed.contains(&k.as_str())) {
        return fail(format!(
            "Field {} definition can only consist of {}.",
            ftype.name(),
            allowed.join(", ")
        ));
    }
    if seen.contains(&name) {
        return fail(format!("Field \"{name}\" defined more than once."));
    }
    seen.push(name.clone());
    let mut public = def.clone();
    public.insert("type".into(), Value::String(ftype.name().into()));
    if ftype.indexable() {
        validate_indexes(&mut public, &name, ftype, old, counts)?;
    }
    if matches!(ftype, FieldType::Reference | FieldType::Relation) {
        validate_target(&public, class_exists)?;
    }
    Ok(public)
}

fn validate_field_name(raw: &Value) -> Result<String, String> {
    let Value::String(name) = raw else {
        return fail("Invalid type of field name. Expected string.");
    };
    let len = name.chars().count();
    if len > 64 {
        return fail("Value of field name is too long, maximum length is 64.");
    }
    if len < 1 {
        return fail("Value of field name is too short, minimum length is 1.");
    }
    let mut chars = name.chars();
    let starts_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    if !starts_ok || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return fail(format!(
            "Wrong characters used in field name \"{name}\". Allowed characters are: letters, numbers and underscores. Name has to start with a letter."
        ));
    }
    if RESERVED_NAMES.contains(&name.to_lowercase().as_str()) {
        return fail(format!("Field name \"{name}\" is reserved."));
    }
    Ok(name.clone())
}

fn validate_indexes(
    public: &mut Map<String, Value>,
    name: &str,
    ftype: FieldType,
    old: &Schema,
    counts: &mut IndexCounts,
) -> Result<(), String> {
    let unique = match public.get("unique") {
        None => false,
        Some(Value::Bool(b)) => *b,
        // Syncano only tests truthiness here; a non-boolean truthy value acts as true.
        Some(v) => truthy(v),
    };
    if unique {
        let existing = old
            .field(name)
            .is_some_and(|f| f.ftype == ftype && !f.unique);
        if existing {
            return fail("Unique index can only be set on a new field. Delete field first.");
        }
        public.insert("filter_index".into(), Value::Bool(true));
    }
    for (key, label) in [
        ("order_index", "order index"),
        ("filter_index", "filter index"),
    ] {
        let on = match public.get(key) {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return fail(format!(
                    "Invalid type of field \"{label}\". Expected boolean."
                ));
            }
        };
        if on {
            counts.total += 1;
            if ftype == FieldType::Geopoint {
                counts.geopoint += 1;
            }
        } else {
            public.remove(key);
        }
    }
    if counts.total > MAX_INDEXES {
        return fail(format!("Too many indexes defined (exceeds {MAX_INDEXES})."));
    }
    if counts.geopoint > 1 {
        return fail("Too many indexes defined on field type geopoint (exceeds 1).");
    }
    Ok(())
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

fn validate_target(
    public: &Map<String, Value>,
    class_exists: &dyn Fn(&str) -> bool,
) -> Result<(), String> {
    let target = match public.get("target") {
        None | Some(Value::Null) => {
            return fail("Target must specify class name or \"self\".");
        }
        Some(Value::String(s)) if !s.is_empty() => s.to_lowercase(),
        Some(_) => return fail("Invalid value of target. Expected non-empty string."),
    };
    if target == "users" {
        return fail("Target cannot be set to \"users\". Use \"user\" instead.");
    }
    if target != "self" && target != "user" && !class_exists(&target) {
        return fail("Class specified by target is missing.");
    }
    Ok(())
}

/// Keeps the old storage key when name, type and target are unchanged; otherwise the field
/// starts empty under a key of the new revision.
fn storage_key(public: &Map<String, Value>, old: &Schema, new_revision: i64) -> String {
    let name = public.get("name").and_then(Value::as_str).unwrap_or("");
    let ftype = public.get("type").and_then(Value::as_str);
    let target = public
        .get("target")
        .and_then(Value::as_str)
        .map(str::to_lowercase);
    match old.field(name) {
        Some(f) if Some(f.ftype.name()) == ftype && f.target == target => f.key.clone(),
        _ => format!("{new_revision}_{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(v: Value) -> Result<Schema, String> {
        validate_schema(&v, &Schema::default(), 1, &|c| c == "books").map_err(|e| e.0)
    }

    #[test]
    fn normalises_definitions() {
        let s = check(json!([
            {"name": "title", "type": "STRING", "order_index": false, "unique": true},
            {"name": "tags", "type": "array", "filter_index": true},
            {"name": "author", "type": "reference", "target": "Books"},
        ]))
        .expect("valid");
        assert_eq!(
            s.public(),
            json!([
                {"name": "title", "type": "string", "unique": true, "filter_index": true},
                {"name": "tags", "type": "array", "filter_index": true},
                {"name": "author", "type": "reference", "target": "Books"},
            ])
        );
        assert_eq!(s.fields[0].key, "1_title");
        assert_eq!(s.fields[2].target.as_deref(), Some("books"));
        let round = Schema::from_stored(&s.to_stored());
        assert_eq!(round, s);
    }

    #[test]
    fn exact_messages() {
        let e = |v: Value| check(v).expect_err("invalid");
        assert_eq!(e(json!({})), "Schema passed in invalid format.");
        assert_eq!(e(json!([1])), "Schema passed in invalid format.");
        assert_eq!(
            e(json!([{"name": "a"}])),
            "Error processing field definition \"a\" #0: Field name and type is required."
        );
        assert_eq!(
            e(json!([{"type": "string"}])),
            "Error processing field definition \"unknown\" #0: Field name and type is required."
        );
        assert_eq!(
            e(json!([{"name": "id", "type": "string"}])),
            "Error processing field definition \"id\" #0: Field name \"id\" is reserved."
        );
        assert!(
            e(json!([{"name": "1a", "type": "string"}]))
                .contains("Wrong characters used in field name \"1a\".")
        );
        assert!(e(json!([{"name": "a", "type": "nope"}])).ends_with(
            "Invalid field type value. Possible types: string, text, integer, float, boolean, datetime, file, reference, object, array, geopoint, relation."
        ));
        assert!(
            e(json!([{"name": "a", "type": "text", "filter_index": true}]))
                .ends_with("Field text definition can only consist of name, type.")
        );
        assert!(
            e(json!([{"name": "a", "type": "string"}, {"name": "a", "type": "text"}]))
                .ends_with("#1: Field \"a\" defined more than once.")
        );
        assert!(
            e(json!([{"name": "a", "type": "string", "order_index": 1}]))
                .ends_with("Invalid type of field \"order index\". Expected boolean.")
        );
        assert!(
            e(json!([{"name": "a", "type": "reference"}]))
                .ends_with("Target must specify class name or \"self\".")
        );
        assert!(
            e(json!([{"name": "a", "type": "relation", "target": "users"}]))
                .ends_with("Target cannot be set to \"users\". Use \"user\" instead.")
        );
        assert!(
            e(json!([{"name": "a", "type": "relation", "target": "nope"}]))
                .ends_with("Class specified by target is missing.")
        );
        assert!(
            e(json!([
                {"name": "a", "type": "geopoint", "filter_index": true},
                {"name": "b", "type": "geopoint", "filter_index": true}
            ]))
            .ends_with("Too many indexes defined on field type geopoint (exceeds 1).")
        );
        let many: Vec<Value> = (0..9)
            .map(|i| json!({"name": format!("f{i}"), "type": "integer", "filter_index": true, "order_index": true}))
            .collect();
        assert!(e(Value::Array(many)).ends_with("Too many indexes defined (exceeds 16)."));
        let too_many: Vec<Value> = (0..33)
            .map(|i| json!({"name": format!("f{i}"), "type": "text"}))
            .collect();
        assert_eq!(
            e(Value::Array(too_many)),
            "Too many fields defined (exceeds 32)."
        );
    }

    #[test]
    fn keys_survive_index_changes_but_not_retyping() {
        let v1 = check(json!([{"name": "a", "type": "integer"}, {"name": "b", "type": "string"}]))
            .expect("v1");
        let v2 = validate_schema(
            &json!([{"name": "a", "type": "integer", "filter_index": true}, {"name": "b", "type": "text"}]),
            &v1,
            2,
            &|_| false,
        )
        .expect("v2");
        assert_eq!(v2.fields[0].key, "1_a");
        assert_eq!(v2.fields[1].key, "2_b");
        let unique_late = validate_schema(
            &json!([{"name": "a", "type": "integer", "unique": true}]),
            &v1,
            2,
            &|_| false,
        );
        assert_eq!(
            unique_late.map_err(|e| e.0),
            Err("Error processing field definition \"a\" #0: Unique index can only be set on a new field. Delete field first.".to_string())
        );
    }
}
