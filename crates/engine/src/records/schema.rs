//! A record's schema: its named 64-bit fields, in order, and their canonical text (what a shared
//! segment's header stores and `open` compares).
//!
//! Owns the rules for field names and types and the field limit. Knows nothing of memory or of
//! any front end's reserved words (a front end adds its own, e.g. the JS snapshot's methods).

use crate::error::{Error, Result};
use crate::records::line::MAX_FIELDS;

/// Longest field name accepted, in bytes.
pub(crate) const MAX_NAME_LEN: usize = 64;

/// How a field's 64-bit word is read and written. Every type fills the whole word, so a record
/// reads the same from every front end: the narrow integer types are the u64/i64 word of their
/// value (zero- or sign-extended), only their range is narrower; a JS front end reads them as
/// numbers rather than BigInts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldType {
    /// IEEE 754 binary64 bits.
    F64,
    /// Unsigned 64-bit.
    U64,
    /// Two's complement.
    I64,
    /// 0 to 2^32 - 1, zero-extended.
    U32,
    /// -2^31 to 2^31 - 1, sign-extended (two's complement).
    I32,
    /// -(2^53 - 1) to 2^53 - 1 (every integer a JS number holds exactly), two's complement.
    Int53,
}

/// The largest magnitude an `int53` field holds: 2^53 - 1 (JavaScript's `Number.MAX_SAFE_INTEGER`).
pub(crate) const INT53_MAX: i64 = (1 << 53) - 1;

/// The type names, in the order messages list them.
pub(crate) const TYPE_NAMES: &str = "'f64', 'u64', 'i64', 'u32', 'i32' or 'int53'";

impl FieldType {
    pub(crate) fn parse(s: &str) -> Option<FieldType> {
        match s {
            "f64" => Some(FieldType::F64),
            "u64" => Some(FieldType::U64),
            "i64" => Some(FieldType::I64),
            "u32" => Some(FieldType::U32),
            "i32" => Some(FieldType::I32),
            "int53" => Some(FieldType::Int53),
            _ => None,
        }
    }
    pub(crate) fn name(self) -> &'static str {
        match self {
            FieldType::F64 => "f64",
            FieldType::U64 => "u64",
            FieldType::I64 => "i64",
            FieldType::U32 => "u32",
            FieldType::I32 => "i32",
            FieldType::Int53 => "int53",
        }
    }

    /// Whether `word` is a value of this type (every word is an f64, u64 or i64).
    pub(crate) fn holds(self, word: u64) -> bool {
        let signed = word as i64;
        match self {
            FieldType::F64 | FieldType::U64 | FieldType::I64 => true,
            FieldType::U32 => word <= u32::MAX as u64,
            FieldType::I32 => i32::try_from(signed).is_ok(),
            FieldType::Int53 => (-INT53_MAX..=INT53_MAX).contains(&signed),
        }
    }

    /// The range of this type, as a message says it.
    pub(crate) fn range(self) -> &'static str {
        match self {
            FieldType::F64 => "any f64",
            FieldType::U64 => "0 to 2^64 - 1",
            FieldType::I64 => "-2^63 to 2^63 - 1",
            FieldType::U32 => "0 to 2^32 - 1 (4294967295)",
            FieldType::I32 => "-2^31 to 2^31 - 1 (-2147483648 to 2147483647)",
            FieldType::Int53 => "-(2^53 - 1) to 2^53 - 1 (Number.MAX_SAFE_INTEGER)",
        }
    }
}

/// One field of a record: its name and type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// An identifier (A-Z a-z 0-9 _ $, not starting with a digit), unique in its schema.
    pub name: String,
    /// How its word is read and written.
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
    /// A schema of `fields`, stored in that order.
    ///
    /// # Errors
    ///
    /// [`Error::OptionOutOfRange`] for no fields or more than `MAX_FIELDS`;
    /// [`Error::BadOption`] for a name that is not an identifier or is given twice.
    ///
    /// # Examples
    ///
    /// ```
    /// use ultraslayer::records::{Field, FieldType, Schema};
    ///
    /// let schema = Schema::new(vec![
    ///     Field { name: "bid".into(), ty: FieldType::F64 },
    ///     Field { name: "qty".into(), ty: FieldType::U32 },
    /// ])?;
    /// assert_eq!(schema.text(), "bid:f64,qty:u32");
    /// assert_eq!(Schema::parse("bid:f64,qty:u32")?, schema);
    /// # Ok::<(), ultraslayer::Error>(())
    /// ```
    pub fn new(fields: Vec<Field>) -> Result<Schema> {
        if fields.is_empty() {
            return Err(Error::option_range("fields", format!("a record needs at least one field (a name and a type: {TYPE_NAMES})")));
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
    ///
    /// # Errors
    ///
    /// [`Error::BadOption`] for a part that is not `name:type` or names an unknown type, and
    /// whatever [`Schema::new`] refuses.
    pub fn parse(text: &str) -> Result<Schema> {
        let mut fields = Vec::new();
        for part in text.split(',') {
            let Some((name, ty)) = part.split_once(':') else {
                return Err(Error::bad_option("fields", format!("{part:?} is not name:type")));
            };
            let Some(ty) = FieldType::parse(ty) else {
                return Err(Error::bad_option("fields", format!("field {name:?} has type {ty:?}: use {TYPE_NAMES}")));
            };
            fields.push(Field { name: name.to_string(), ty });
        }
        Schema::new(fields)
    }

    /// `name:type,name:type,...`, in field order.
    pub fn text(&self) -> String {
        self.fields.iter().map(|f| format!("{}:{}", f.name, f.ty.name())).collect::<Vec<_>>().join(",")
    }

    pub(crate) fn fields(&self) -> &[Field] {
        &self.fields
    }

    /// How many fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether it has no fields (never, for a schema `new` made).
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The position of the field called `name`, if there is one.
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
    fn narrow_integer_types_round_trip_and_hold_only_their_range() {
        let s = Schema::parse("n:u32,s:i32,big:int53").unwrap();
        assert_eq!(s.fields().iter().map(|f| f.ty).collect::<Vec<_>>(), [FieldType::U32, FieldType::I32, FieldType::Int53]);
        assert_eq!(Schema::parse(&s.text()).unwrap(), s);
        let word = |v: i64| v as u64;
        for (ty, ok, bad) in [
            (FieldType::U32, vec![0, u32::MAX as i64], vec![u32::MAX as i64 + 1, -1]),
            (FieldType::I32, vec![i32::MIN as i64, -1, i32::MAX as i64], vec![i32::MAX as i64 + 1, i32::MIN as i64 - 1]),
            (FieldType::Int53, vec![-INT53_MAX, 0, INT53_MAX], vec![INT53_MAX + 1, -INT53_MAX - 1, i64::MIN]),
        ] {
            for v in ok {
                assert!(ty.holds(word(v)), "{ty:?} {v}");
            }
            for v in bad {
                assert!(!ty.holds(word(v)), "{ty:?} {v}");
            }
        }
        assert!(FieldType::U64.holds(u64::MAX) && FieldType::F64.holds(f64::NAN.to_bits()));
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
        assert!(Schema::parse("a:int54").is_err());
        assert!(Schema::parse("a").is_err());
    }
}
