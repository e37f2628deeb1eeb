//! A record's schema: its named 64-bit fields, in order, and their canonical text (what a shared
//! segment's header stores and `open` compares).
//!
//! Owns the rules for field names and types and the field limit. Knows nothing of memory or of
//! any front end's reserved words (a front end adds its own, e.g. the JS snapshot's methods).

use crate::error::{Error, Result};
use crate::records::line::MAX_FIELDS;

/// Longest field name accepted, in bytes.
pub const MAX_NAME_LEN: usize = 64;

/// How a field's 64 bits are read and written (bit-exact either way).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldType {
    F64,
    U64,
    /// Two's complement.
    I64,
}

impl FieldType {
    pub fn parse(s: &str) -> Option<FieldType> {
        match s {
            "f64" => Some(FieldType::F64),
            "u64" => Some(FieldType::U64),
            "i64" => Some(FieldType::I64),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            FieldType::F64 => "f64",
            FieldType::U64 => "u64",
            FieldType::I64 => "i64",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub ty: FieldType,
}

/// 1 to `MAX_FIELDS` fields with unique identifier names, in the order they are stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schema {
    fields: Vec<Field>,
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

impl Schema {
    pub fn new(fields: Vec<Field>) -> Result<Schema> {
        if fields.is_empty() {
            return Err(Error::option_range("fields", "a record needs at least one field (name and type f64, u64 or i64)"));
        }
        if fields.len() > MAX_FIELDS {
            return Err(Error::option_range(
                "fields",
                format!(
                    "{} fields asked for, at most {MAX_FIELDS} fit: a record is one 64-byte cache line of eight 64-bit words, \
                     one of which is the sequence word that keeps each copy consistent",
                    fields.len()
                ),
            ));
        }
        for (k, f) in fields.iter().enumerate() {
            if f.name.len() > MAX_NAME_LEN || !is_identifier(&f.name) {
                return Err(Error::bad_option(
                    "fields",
                    format!(
                        "field name {:?} must be an identifier (A-Z a-z 0-9 _ $, not starting with a digit) of 1 to {MAX_NAME_LEN} characters",
                        f.name.chars().take(80).collect::<String>()
                    ),
                ));
            }
            if fields[..k].iter().any(|g| g.name == f.name) {
                return Err(Error::bad_option("fields", format!("field name {:?} is given twice", f.name)));
            }
        }
        Ok(Schema { fields })
    }

    /// Parses `name:type,name:type,...` (the canonical text).
    pub fn parse(text: &str) -> Result<Schema> {
        let mut fields = Vec::new();
        for part in text.split(',') {
            let Some((name, ty)) = part.split_once(':') else {
                return Err(Error::bad_option("fields", format!("{part:?} is not name:type")));
            };
            let Some(ty) = FieldType::parse(ty) else {
                return Err(Error::bad_option("fields", format!("field {name:?} has type {ty:?}: use 'f64', 'u64' or 'i64'")));
            };
            fields.push(Field { name: name.to_string(), ty });
        }
        Schema::new(fields)
    }

    /// `name:type,name:type,...`, in field order.
    pub fn text(&self) -> String {
        self.fields.iter().map(|f| format!("{}:{}", f.name, f.ty.name())).collect::<Vec<_>>().join(",")
    }

    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(name: &str, ty: FieldType) -> Field {
        Field { name: name.into(), ty }
    }

    #[test]
    fn text_round_trips_in_field_order() {
        let s = Schema::new(vec![f("bid", FieldType::F64), f("qty", FieldType::U64), f("pos", FieldType::I64)]).unwrap();
        assert_eq!(s.text(), "bid:f64,qty:u64,pos:i64");
        assert_eq!(Schema::parse(&s.text()).unwrap(), s);
        assert_eq!(s.index_of("pos"), Some(2));
    }

    #[test]
    fn bad_schemas_are_refused_saying_why() {
        let seven: Vec<Field> = (0..7).map(|k| f(&format!("f{k}"), FieldType::U64)).collect();
        Schema::new(seven.clone()).unwrap();
        let mut eight = seven;
        eight.push(f("f7", FieldType::U64));
        let e = Schema::new(eight).unwrap_err();
        assert!(matches!(e, Error::OptionOutOfRange { option: "fields", .. }));
        assert!(e.to_string().contains("at most 7") && e.to_string().contains("sequence word"), "{e}");
        assert!(Schema::new(vec![]).is_err());
        for bad in ["", "1a", "a-b", "a b", "é"] {
            assert!(matches!(Schema::new(vec![f(bad, FieldType::F64)]), Err(Error::BadOption { .. })), "{bad:?}");
        }
        let e = Schema::new(vec![f("a", FieldType::F64), f("a", FieldType::U64)]).unwrap_err();
        assert!(e.to_string().contains("twice"));
        assert!(Schema::parse("a:f32").is_err());
        assert!(Schema::parse("a").is_err());
    }
}
