//! Reading an object body: the writable built-in fields and one change per submitted
//! schema field (a value, an update operator, an upload or a file URL).

use crate::body::Upload;
use rivia_core::FieldErrors;
use rivia_core::errors::msg;
use rivia_core::object::{NewValue, Operator, parse_operator, validate_value};
use rivia_core::perms::ObjectPerm;
use rivia_core::schema::{Field, FieldType, Schema};
use serde_json::{Map, Value};

/// A submitted change to one schema field.
#[derive(Debug, Clone)]
pub(super) enum Change {
    Set(NewValue),
    Op(Operator),
    Upload(Upload),
    FileUrl(String),
}

/// The validated writable fields of an object body.
#[derive(Debug, Default)]
pub(super) struct ObjectInput {
    pub(super) changes: Vec<(Field, Change)>,
    pub(super) owner: Option<Option<i64>>,
    pub(super) owner_permissions: Option<i64>,
    pub(super) group: Option<Option<i64>>,
    pub(super) group_permissions: Option<i64>,
    pub(super) other_permissions: Option<i64>,
    pub(super) channel: Option<Option<String>>,
    pub(super) channel_room: Option<Option<String>>,
    /// Messages for the fields that failed to read (those fields have no change here).
    /// They are answered together with what the later checks find (uploads, operators,
    /// references), as DRF validates every field before it answers.
    pub(super) errors: FieldErrors,
}

pub(super) fn read_input(
    body: &Map<String, Value>,
    uploads: &[Upload],
    schema: &Schema,
    creating: bool,
) -> ObjectInput {
    let mut f = crate::fields::Fields::new(body, true);
    let perm = |f: &mut crate::fields::Fields, name: &str| {
        f.choice(name, ObjectPerm::NAMES, false)
            .and_then(|s| ObjectPerm::parse(&s))
            .map(ObjectPerm::as_i64)
    };
    let mut input = ObjectInput {
        owner: f.pk("owner", true, false),
        owner_permissions: perm(&mut f, "owner_permissions"),
        group: f.pk("group", true, false),
        group_permissions: perm(&mut f, "group_permissions"),
        other_permissions: perm(&mut f, "other_permissions"),
        ..Default::default()
    };
    if creating {
        for name in ["channel", "channel_room"] {
            if body.get(name).is_some_and(rivia_core::object::contains_nul) {
                f.errors.add(name, msg::NOT_STRING);
            }
        }
        input.channel = f.char(
            "channel",
            crate::fields::Char {
                max: 64,
                allow_blank: false,
                allow_null: true,
                trim: true,
            },
            false,
        );
        input.channel_room = f.char(
            "channel_room",
            crate::fields::Char {
                max: 64,
                allow_blank: true,
                allow_null: true,
                trim: false,
            },
            false,
        );
    }
    let mut errors = std::mem::take(&mut f.errors);
    for field in &schema.fields {
        let upload = uploads.iter().find(|u| u.field == field.name);
        match read_change(field, body.get(&field.name), upload, creating) {
            Ok(Some(c)) => input.changes.push((field.clone(), c)),
            Ok(None) => {}
            Err(m) => errors.add(&field.name, m),
        }
    }
    input.errors = errors;
    input
}

pub(super) fn read_change(
    field: &Field,
    raw: Option<&Value>,
    upload: Option<&Upload>,
    creating: bool,
) -> Result<Option<Change>, String> {
    if field.ftype == FieldType::File {
        if let Some(u) = upload {
            return Ok(Some(Change::Upload(u.clone())));
        }
        return match raw {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(Change::Set(NewValue::Null))),
            Some(Value::String(s)) if s.is_empty() => Ok(Some(Change::Set(NewValue::Null))),
            Some(Value::String(s)) => Ok(Some(Change::FileUrl(s.clone()))),
            Some(_) => Err(
                "The submitted data was not a file. Check the encoding type on the form.".into(),
            ),
        };
    }
    let Some(v) = raw else {
        return Ok(None);
    };
    if !creating && let Some(op) = parse_operator(field, v)? {
        return Ok(Some(Change::Op(op)));
    }
    validate_value(field, v).map(|n| Some(Change::Set(n)))
}
