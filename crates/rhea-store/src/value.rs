use crate::sds::Sds;

/// A value in the keyspace. The string type is the only one so far; the
/// other Redis types are added as variants with boxed payloads so the common
/// case (a small string) stays inline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Str(Sds),
}

impl Value {
    /// The name TYPE reports.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
        }
    }

    /// Approximate bytes held, for memory accounting.
    pub fn heap_size(&self) -> usize {
        match self {
            Value::Str(s) => s.heap_size(),
        }
    }
}
