//! Arrow results as PostgreSQL rows: a type per column (its OID on the wire) and every
//! value in PostgreSQL's text format, or in its binary format where an extended-protocol
//! client asks for it (pure).

use datafusion::arrow::array::{Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use pgwire::api::results::{DataRowEncoder, FieldFormat, FieldInfo};
use pgwire::api::Type;
use pgwire::messages::data::DataRow;
use std::sync::Arc;

/// The PostgreSQL type a column is described as.
pub fn pg_type(data_type: &DataType) -> Type {
    match data_type {
        DataType::Boolean => Type::BOOL,
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => Type::INT2,
        DataType::Int32 | DataType::UInt16 => Type::INT4,
        DataType::Int64 | DataType::UInt32 | DataType::UInt64 => Type::INT8,
        DataType::Float16 | DataType::Float32 => Type::FLOAT4,
        DataType::Float64 => Type::FLOAT8,
        DataType::Decimal32(..)
        | DataType::Decimal64(..)
        | DataType::Decimal128(..)
        | DataType::Decimal256(..) => Type::NUMERIC,
        DataType::Date32 | DataType::Date64 => Type::DATE,
        DataType::Time32(_) | DataType::Time64(_) => Type::TIME,
        DataType::Timestamp(_, Some(_)) => Type::TIMESTAMPTZ,
        DataType::Timestamp(_, None) => Type::TIMESTAMP,
        DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_) => Type::BYTEA,
        _ => Type::TEXT,
    }
}

/// The row description of `schema`, every column in text format.
pub fn fields(schema: &Schema) -> Arc<Vec<FieldInfo>> {
    fields_in(schema, |_| FieldFormat::Text)
}

/// The row description of `schema`, column `i` in `format(i)`.
pub fn fields_in(schema: &Schema, format: impl Fn(usize) -> FieldFormat) -> Arc<Vec<FieldInfo>> {
    Arc::new(
        schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| {
                FieldInfo::new(
                    f.name().clone(),
                    None,
                    None,
                    pg_type(f.data_type()),
                    format(i),
                )
            })
            .collect(),
    )
}

/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01), the origin of its binary
/// dates and timestamps (also of bound parameters).
pub(crate) const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;
/// Days from the Unix epoch to PostgreSQL's.
pub(crate) const PG_EPOCH_DAYS: i32 = 10_957;

/// The value at `row` of `column` in PostgreSQL's binary format for [`pg_type`]'s type.
fn binary_value(column: &dyn Array, row: usize, index: usize) -> Result<Vec<u8>, EncodeError> {
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::datatypes::{
        Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, UInt16Type,
        UInt32Type, UInt64Type, UInt8Type,
    };
    use datafusion::arrow::datatypes::{TimeUnit, TimestampMicrosecondType};
    let out = match column.data_type() {
        DataType::Boolean => vec![u8::from(column.as_boolean().value(row))],
        DataType::Int8 => i16::from(column.as_primitive::<Int8Type>().value(row))
            .to_be_bytes()
            .to_vec(),
        DataType::UInt8 => i16::from(column.as_primitive::<UInt8Type>().value(row))
            .to_be_bytes()
            .to_vec(),
        DataType::Int16 => column
            .as_primitive::<Int16Type>()
            .value(row)
            .to_be_bytes()
            .to_vec(),
        DataType::Int32 => column
            .as_primitive::<Int32Type>()
            .value(row)
            .to_be_bytes()
            .to_vec(),
        DataType::UInt16 => i32::from(column.as_primitive::<UInt16Type>().value(row))
            .to_be_bytes()
            .to_vec(),
        DataType::Int64 => column
            .as_primitive::<Int64Type>()
            .value(row)
            .to_be_bytes()
            .to_vec(),
        DataType::UInt32 => i64::from(column.as_primitive::<UInt32Type>().value(row))
            .to_be_bytes()
            .to_vec(),
        DataType::UInt64 => i64::try_from(column.as_primitive::<UInt64Type>().value(row))
            .map_err(|_| EncodeError::Value(index))?
            .to_be_bytes()
            .to_vec(),
        DataType::Float32 => column
            .as_primitive::<Float32Type>()
            .value(row)
            .to_be_bytes()
            .to_vec(),
        DataType::Float64 => column
            .as_primitive::<Float64Type>()
            .value(row)
            .to_be_bytes()
            .to_vec(),
        DataType::Utf8 => column.as_string::<i32>().value(row).as_bytes().to_vec(),
        DataType::LargeUtf8 => column.as_string::<i64>().value(row).as_bytes().to_vec(),
        DataType::Utf8View => column.as_string_view().value(row).as_bytes().to_vec(),
        DataType::Binary => column.as_binary::<i32>().value(row).to_vec(),
        DataType::LargeBinary => column.as_binary::<i64>().value(row).to_vec(),
        DataType::BinaryView => column.as_binary_view().value(row).to_vec(),
        DataType::Date32 => (column
            .as_primitive::<datafusion::arrow::datatypes::Date32Type>()
            .value(row)
            - PG_EPOCH_DAYS)
            .to_be_bytes()
            .to_vec(),
        DataType::Timestamp(unit, tz) => {
            let micros = if *unit == TimeUnit::Microsecond {
                column.slice(row, 1)
            } else {
                let target = DataType::Timestamp(TimeUnit::Microsecond, tz.clone());
                datafusion::arrow::compute::cast(&column.slice(row, 1), &target)
                    .map_err(EncodeError::Format)?
            };
            (micros.as_primitive::<TimestampMicrosecondType>().value(0) - PG_EPOCH_MICROS)
                .to_be_bytes()
                .to_vec()
        }
        other => return Err(EncodeError::NoBinary(index, other.to_string())),
    };
    Ok(out)
}

/// PostgreSQL's text forms where Arrow's differ (timestamps with a space, `+00:00`).
fn format_options() -> FormatOptions<'static> {
    FormatOptions::default()
        .with_null("")
        .with_timestamp_format(Some("%Y-%m-%d %H:%M:%S%.f"))
        .with_timestamp_tz_format(Some("%Y-%m-%d %H:%M:%S%.f%:z"))
        .with_date_format(Some("%Y-%m-%d"))
}

/// Every row of `batch`, encoded.
pub fn rows(
    fields: &Arc<Vec<FieldInfo>>,
    batch: &RecordBatch,
) -> Result<Vec<DataRow>, EncodeError> {
    let options = format_options();
    let columns = batch.columns();
    let formatters = columns
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
        .collect::<Result<Vec<_>, ArrowError>>()
        .map_err(EncodeError::Format)?;
    let binary: Vec<bool> = columns
        .iter()
        .map(|c| pg_type(c.data_type()) == Type::BYTEA)
        .collect();
    let mut out = Vec::with_capacity(batch.num_rows());
    let mut encoder = DataRowEncoder::new(fields.clone());
    let mut text = String::new();
    for row in 0..batch.num_rows() {
        for (index, formatter) in formatters.iter().enumerate() {
            if columns[index].is_null(row) {
                encoder
                    .encode_field(&None::<&str>)
                    .map_err(EncodeError::Wire)?;
                continue;
            }
            if fields[index].format() == FieldFormat::Binary {
                let value = binary_value(columns[index].as_ref(), row, index)?;
                encoder
                    .encode_field(&value.as_slice())
                    .map_err(EncodeError::Wire)?;
                continue;
            }
            text.clear();
            use std::fmt::Write as _;
            write!(text, "{}", formatter.value(row)).map_err(|_| EncodeError::Value(index))?;
            if binary[index] {
                // Arrow prints bytes as hex; PostgreSQL's text form of bytea is `\x<hex>`.
                text.insert_str(0, "\\x");
            }
            encoder
                .encode_field(&text.as_str())
                .map_err(EncodeError::Wire)?;
        }
        out.push(encoder.take_row());
    }
    Ok(out)
}

/// A result that could not be put on the wire.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// Arrow cannot format a column's type.
    #[error("cannot format a result column: {0}")]
    Format(#[source] ArrowError),
    /// A value could not be written.
    #[error("cannot format the value of result column {0}")]
    Value(usize),
    /// The client asked for a binary column of a type the port writes as text only.
    #[error("result column {0} ({1}) has no binary format here; ask for it in text format")]
    NoBinary(usize, String),
    /// pgwire refused a value.
    #[error("cannot encode a result row: {0}")]
    Wire(#[source] pgwire::error::PgWireError),
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{
        Float64Array, Int64Array, StringArray, TimestampMicrosecondArray,
    };
    use datafusion::arrow::datatypes::{Field, TimeUnit};

    #[test]
    fn values_are_postgres_text_and_nulls_are_null() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, true),
            Field::new("n", DataType::Int64, true),
            Field::new("total", DataType::Float64, true),
            Field::new(
                "at",
                DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
                true,
            ),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(vec![Some("a"), None])),
                Arc::new(Int64Array::from(vec![Some(7), None])),
                Arc::new(Float64Array::from(vec![Some(1.5), None])),
                Arc::new(
                    TimestampMicrosecondArray::from(vec![Some(1_700_000_000_000_000), None])
                        .with_timezone("+00:00"),
                ),
            ],
        )
        .unwrap();
        let fields = fields(&schema);
        assert_eq!(fields[1].datatype(), &Type::INT8);
        assert_eq!(fields[3].datatype(), &Type::TIMESTAMPTZ);
        let rows = rows(&fields, &batch).unwrap();
        assert_eq!(rows.len(), 2);
        let first = String::from_utf8_lossy(&rows[0].data).to_string();
        assert!(first.contains("2023-11-14 22:13:20+00:00"), "{first:?}");
        assert!(first.contains("1.5"), "{first:?}");
        // Four NULLs: a length of -1 each.
        assert_eq!(rows[1].data.len(), 4 * 4);
        assert_eq!(rows[1].field_count, 4);

        // In binary: each value as PostgreSQL's binary format, length-prefixed.
        let binary = fields_in(&schema, |_| FieldFormat::Binary);
        let rows = super::rows(&binary, &batch).unwrap();
        let data = &rows[0].data;
        let mut expected = Vec::new();
        for value in [
            b"a".to_vec(),
            7i64.to_be_bytes().to_vec(),
            1.5f64.to_be_bytes().to_vec(),
            (1_700_000_000_000_000i64 - PG_EPOCH_MICROS)
                .to_be_bytes()
                .to_vec(),
        ] {
            expected.extend((value.len() as i32).to_be_bytes());
            expected.extend(value);
        }
        assert_eq!(data.as_ref(), expected.as_slice());
    }

    #[test]
    fn a_binary_column_without_a_binary_form_is_refused_by_name() {
        let schema = Arc::new(Schema::new(vec![Field::new(
            "amount",
            DataType::Decimal128(10, 2),
            true,
        )]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(
                datafusion::arrow::array::Decimal128Array::from(vec![Some(1234)])
                    .with_precision_and_scale(10, 2)
                    .unwrap(),
            )],
        )
        .unwrap();
        let error = rows(&fields_in(&schema, |_| FieldFormat::Binary), &batch).unwrap_err();
        assert!(error.to_string().contains("no binary format"), "{error}");
        // In text it is fine.
        assert_eq!(rows(&fields(&schema), &batch).unwrap().len(), 1);
    }
}
