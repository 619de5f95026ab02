//! Rows → an Arrow record batch → a zstd-compressed Parquet file, with the declared schema
//! (masked fields are text: pseudonyms, partial values or the redaction marker).

use crate::cell::Cell;
use arrow_array::builder::{
    BooleanBuilder, Date32Builder, Float64Builder, Int32Builder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use meshplane_api::ingest_plan::PlannedField;
use meshplane_api::{FieldType, MaskingStrategy};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use std::sync::Arc;

/// The schema type callers hold.
pub use arrow_schema::SchemaRef as TableSchema;
use thiserror::Error;

/// Writing a file failed.
#[derive(Debug, Error)]
pub enum TableError {
    /// Building the record batch failed.
    #[error("failed to build a record batch: {0}")]
    Batch(#[from] arrow_schema::ArrowError),
    /// Encoding Parquet failed.
    #[error("failed to encode Parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
}

/// The Arrow type a field is stored as.
pub fn data_type(field: &PlannedField) -> DataType {
    if field.masking != MaskingStrategy::None {
        return DataType::Utf8;
    }
    match field.field_type {
        FieldType::String | FieldType::Decimal => DataType::Utf8,
        FieldType::Int => DataType::Int32,
        FieldType::Long => DataType::Int64,
        FieldType::Double => DataType::Float64,
        FieldType::Boolean => DataType::Boolean,
        FieldType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        FieldType::Date => DataType::Date32,
    }
}

/// The table's Arrow schema, in plan order.
pub fn arrow_schema(fields: &[PlannedField]) -> SchemaRef {
    Arc::new(Schema::new(
        fields
            .iter()
            .map(|f| Field::new(&f.name, data_type(f), f.nullable))
            .collect::<Vec<_>>(),
    ))
}

fn column(rows: &[Vec<Cell>], index: usize, data_type: &DataType) -> ArrayRef {
    let cells = rows.iter().map(|r| &r[index]);
    match data_type {
        DataType::Int32 => {
            let mut b = Int32Builder::with_capacity(rows.len());
            cells.for_each(|c| b.append_option(if let Cell::Int(v) = c { Some(*v) } else { None }));
            Arc::new(b.finish())
        }
        DataType::Int64 => {
            let mut b = Int64Builder::with_capacity(rows.len());
            cells.for_each(|c| {
                b.append_option(if let Cell::Long(v) = c {
                    Some(*v)
                } else {
                    None
                })
            });
            Arc::new(b.finish())
        }
        DataType::Float64 => {
            let mut b = Float64Builder::with_capacity(rows.len());
            cells.for_each(|c| {
                b.append_option(if let Cell::Double(v) = c {
                    Some(*v)
                } else {
                    None
                })
            });
            Arc::new(b.finish())
        }
        DataType::Boolean => {
            let mut b = BooleanBuilder::with_capacity(rows.len());
            cells.for_each(|c| {
                b.append_option(if let Cell::Bool(v) = c {
                    Some(*v)
                } else {
                    None
                })
            });
            Arc::new(b.finish())
        }
        DataType::Timestamp(_, _) => {
            let mut b = TimestampMicrosecondBuilder::with_capacity(rows.len()).with_timezone("UTC");
            cells.for_each(|c| {
                b.append_option(if let Cell::Micros(v) = c {
                    Some(*v)
                } else {
                    None
                })
            });
            Arc::new(b.finish())
        }
        DataType::Date32 => {
            let mut b = Date32Builder::with_capacity(rows.len());
            cells.for_each(|c| {
                b.append_option(if let Cell::Days(v) = c {
                    Some(*v)
                } else {
                    None
                })
            });
            Arc::new(b.finish())
        }
        _ => {
            let mut b = StringBuilder::with_capacity(rows.len(), rows.len() * 16);
            cells.for_each(|c| match c {
                Cell::Text(s) => b.append_value(s),
                _ => b.append_null(),
            });
            Arc::new(b.finish())
        }
    }
}

/// Encodes rows (cells in schema order) as one Parquet file.
pub fn write_parquet(schema: &SchemaRef, rows: &[Vec<Cell>]) -> Result<Vec<u8>, TableError> {
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| column(rows, i, f.data_type()))
        .collect();
    let batch = RecordBatch::try_new(schema.clone(), columns)?;
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1)?))
        .set_created_by("meshplane".into())
        .build();
    let mut out = Vec::with_capacity(rows.len() * 64);
    let mut writer = ArrowWriter::try_new(&mut out, schema.clone(), Some(properties))?;
    writer.write(&batch)?;
    writer.close()?;
    Ok(out)
}
