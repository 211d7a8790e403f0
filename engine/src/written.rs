//! The handle of a vector or map streamed into a save (see [`crate::Writer`]), apart
//! from the writer so that the map and field code that checks it depends on nothing
//! above the format.

use crate::error::{Error, Result};
use crate::format::table::TableHeader;

/// A vector or map a [`Writer`](crate::Writer) wrote: its table, and the save and
/// field it was written for. Not part of the public API.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Written {
    header: TableHeader,
    save: u64,
    name: &'static str,
}

impl Written {
    /// The table, checked to belong to save `save` and to be stored in field `field`.
    pub(crate) fn check(&self, save: u64, field: &str) -> Result<TableHeader> {
        if self.save != save {
            return Err(Error::Serialize(format!(
                "`{}` was streamed into another save than the one writing field `{field}`",
                self.name
            )));
        }
        if self.name != field {
            return Err(Error::Serialize(format!(
                "`{}` was streamed for another field than `{field}`: stream it under the field's name",
                self.name
            )));
        }
        Ok(self.header)
    }

    pub(crate) fn new(header: TableHeader, save: u64, name: &'static str) -> Self {
        Self { header, save, name }
    }

    /// The table.
    pub(crate) fn header(&self) -> &TableHeader {
        &self.header
    }
}
