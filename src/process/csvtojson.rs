//! CSVTOJSON: split a delimited line into named JSON string fields.
//!
//! Java (`CSVToJSONDataConverter`): strip ONE trailing `\n`; `columns = line.split(delimiter)`;
//! for each field name `i`, `map.put(name, columns[i])` or `null` past the last column;
//! print the `LinkedHashMap` with Jackson and append `\n`. No quoting, trimming or typing.
//!
//! The map is a `LinkedHashMap`, so a field name listed twice keeps its FIRST position and
//! its LAST value; that is reproduced here.

use crate::config::JsonFormat;

use super::{utf8, ConvertError, Converter};
use crate::java::json::{FlatObject, FlatWriter};
use crate::java::regex::RegexError;
use crate::java::split::{self, JavaSplitter};

/// The CSVTOJSON converter.
#[derive(Debug)]
pub struct CsvToJson {
    /// Output keys (distinct field names in first-occurrence order), laid out once.
    object: FlatObject,
    /// Column feeding each key: the last occurrence of its name.
    columns: Vec<usize>,
    /// No duplicate names: key `i` is column `i`, so columns can be consumed as a stream.
    in_order: bool,
    splitter: JavaSplitter,
}

impl CsvToJson {
    /// Build from `customFieldNames`, `delimiter` (a Java regex) and `jsonFormat`.
    pub fn new(
        field_names: &[String],
        delimiter: &str,
        format: JsonFormat,
    ) -> Result<Self, RegexError> {
        let splitter = JavaSplitter::new(delimiter)?;
        let mut keys: Vec<&str> = Vec::with_capacity(field_names.len());
        let mut columns: Vec<usize> = Vec::with_capacity(field_names.len());
        for (col, name) in field_names.iter().enumerate() {
            match keys.iter().position(|k| k == name) {
                Some(existing) => columns[existing] = col,
                None => {
                    keys.push(name);
                    columns.push(col);
                }
            }
        }
        let in_order = keys.len() == field_names.len();
        Ok(CsvToJson {
            object: FlatObject::new(&keys, format),
            columns,
            in_order,
            splitter,
        })
    }

    /// One pass over the line for the common single-byte delimiter: each column is escaped
    /// straight into `out` while looking for its end, and nothing past the last key is read.
    fn convert_byte_delimited(&self, line: &str, delimiter: u8, w: &mut FlatWriter<'_>) {
        if let Some(span) = split::byte_span(line, delimiter) {
            let mut from = 0;
            while w.remaining() > 0 {
                let end = w.delimited(span, from, delimiter);
                // The span ends in a column, not a delimiter: this was the last column.
                if end >= span.len() {
                    break;
                }
                from = end + 1;
            }
        }
        while w.remaining() > 0 {
            w.null();
        }
    }

    fn convert_split(&self, line: &str, w: &mut FlatWriter<'_>) -> Result<(), ConvertError> {
        let mut pieces = self.splitter.split(line);
        if self.in_order {
            while w.remaining() > 0 {
                match pieces.next().transpose()? {
                    Some(v) => w.string(&v),
                    None => w.null(),
                }
            }
        } else {
            // Duplicate names need random access; rare enough to allow the allocation.
            let wanted = self.columns.iter().max().map_or(0, |m| m + 1);
            let cols = pieces.take(wanted).collect::<Result<Vec<_>, _>>()?;
            for &col in &self.columns {
                match cols.get(col) {
                    Some(v) => w.string(v),
                    None => w.null(),
                }
            }
        }
        Ok(())
    }
}

impl Converter for CsvToJson {
    fn name(&self) -> &'static str {
        "CSVTOJSON"
    }

    fn convert(&self, input: &[u8], out: &mut Vec<u8>) -> Result<bool, ConvertError> {
        let text = utf8::decode(input);
        let line = text.strip_suffix('\n').unwrap_or(&text);
        let mut w = self.object.writer(out, line.len() + 1);
        match self.splitter.single_byte() {
            Some(delimiter) if self.in_order => {
                self.convert_byte_delimited(line, delimiter, &mut w)
            }
            _ => self.convert_split(line, &mut w)?,
        }
        w.finish();
        out.push(b'\n');
        Ok(true)
    }
}

#[cfg(test)]
mod tests;
