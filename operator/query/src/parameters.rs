//! Parameters bound by the extended protocol as DataFusion values (pure). A text-format
//! value is parsed as the placeholder's type; a binary one is decoded by the PostgreSQL
//! type it was declared with, then cast to the placeholder's type.

use crate::encode::{PG_EPOCH_DAYS, PG_EPOCH_MICROS};
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::ScalarValue;
use pgwire::api::Type;
use thiserror::Error;

/// A parameter that cannot be used.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ParameterError {
    /// Its value does not read as its type.
    #[error("parameter ${number}: {problem}")]
    Value {
        /// 1 for `$1`.
        number: usize,
        /// What is wrong.
        problem: String,
    },
    /// The client bound a different number of values than the statement has placeholders.
    #[error("the statement has {expected} parameters; {given} were bound")]
    Count {
        /// Placeholders.
        expected: usize,
        /// Values.
        given: usize,
    },
}

/// The Arrow type a PostgreSQL parameter type stands for, where the port reads it.
pub fn arrow_type(pg: &Type) -> Option<DataType> {
    Some(match *pg {
        Type::BOOL => DataType::Boolean,
        Type::INT2 => DataType::Int16,
        Type::INT4 => DataType::Int32,
        Type::INT8 => DataType::Int64,
        Type::FLOAT4 => DataType::Float32,
        Type::FLOAT8 => DataType::Float64,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => DataType::Utf8,
        Type::BYTEA => DataType::Binary,
        Type::DATE => DataType::Date32,
        Type::TIMESTAMP => DataType::Timestamp(TimeUnit::Microsecond, None),
        Type::TIMESTAMPTZ => DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
        _ => return None,
    })
}

/// The values of one Bind: `values[i]` (`None`: NULL) in binary when `binary(i)`,
/// declared as `declared[i]`, for a placeholder the plan types as `inferred[i]`.
pub fn decode(
    values: &[Option<&[u8]>],
    binary: impl Fn(usize) -> bool,
    declared: &[Type],
    inferred: &[Option<DataType>],
) -> Result<Vec<ScalarValue>, ParameterError> {
    if values.len() != inferred.len() {
        return Err(ParameterError::Count {
            expected: inferred.len(),
            given: values.len(),
        });
    }
    values
        .iter()
        .enumerate()
        .map(|(i, value)| {
            let pg = declared.get(i).cloned().unwrap_or(Type::UNKNOWN);
            let target = inferred[i]
                .clone()
                .or_else(|| arrow_type(&pg))
                .unwrap_or(DataType::Utf8);
            let bad = |problem: String| ParameterError::Value {
                number: i + 1,
                problem,
            };
            let Some(bytes) = value else {
                return ScalarValue::try_from(&target).map_err(|e| bad(e.to_string()));
            };
            let scalar = if binary(i) {
                from_binary(bytes, &pg).map_err(bad)?
            } else {
                let text = std::str::from_utf8(bytes)
                    .map_err(|_| bad("a text-format value is not UTF-8".into()))?;
                ScalarValue::try_from_string(text.to_owned(), &target)
                    .map_err(|_| bad(format!("{text:?} is not a value of type {target}")))?
            };
            if scalar.data_type() == target {
                Ok(scalar)
            } else {
                scalar
                    .cast_to(&target)
                    .map_err(|_| bad(format!("a {pg} value cannot be used as {target}")))
            }
        })
        .collect()
}

fn fixed<const N: usize>(bytes: &[u8], pg: &Type) -> Result<[u8; N], String> {
    bytes
        .try_into()
        .map_err(|_| format!("a binary {pg} is {N} bytes, got {}", bytes.len()))
}

fn from_binary(bytes: &[u8], pg: &Type) -> Result<ScalarValue, String> {
    Ok(match *pg {
        Type::BOOL => ScalarValue::Boolean(Some(fixed::<1>(bytes, pg)?[0] != 0)),
        Type::INT2 => ScalarValue::Int16(Some(i16::from_be_bytes(fixed(bytes, pg)?))),
        Type::INT4 => ScalarValue::Int32(Some(i32::from_be_bytes(fixed(bytes, pg)?))),
        Type::INT8 => ScalarValue::Int64(Some(i64::from_be_bytes(fixed(bytes, pg)?))),
        Type::FLOAT4 => ScalarValue::Float32(Some(f32::from_be_bytes(fixed(bytes, pg)?))),
        Type::FLOAT8 => ScalarValue::Float64(Some(f64::from_be_bytes(fixed(bytes, pg)?))),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
            ScalarValue::Utf8(Some(
                String::from_utf8(bytes.to_vec())
                    .map_err(|_| "text that is not UTF-8".to_string())?,
            ))
        }
        Type::BYTEA => ScalarValue::Binary(Some(bytes.to_vec())),
        Type::DATE => ScalarValue::Date32(Some(
            i32::from_be_bytes(fixed(bytes, pg)?)
                .checked_add(PG_EPOCH_DAYS)
                .ok_or("a date out of range")?,
        )),
        Type::TIMESTAMP | Type::TIMESTAMPTZ => {
            let micros = i64::from_be_bytes(fixed(bytes, pg)?)
                .checked_add(PG_EPOCH_MICROS)
                .ok_or("a timestamp out of range")?;
            let zone = (*pg == Type::TIMESTAMPTZ).then(|| "+00:00".into());
            ScalarValue::TimestampMicrosecond(Some(micros), zone)
        }
        _ => {
            return Err(format!(
                "binary {pg} parameters are not read; send it in text format"
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_values_take_the_placeholders_type_and_nulls_are_typed() {
        let values = decode(
            &[Some(b"42".as_slice()), Some(b"o-1".as_slice()), None],
            |_| false,
            &[Type::UNKNOWN, Type::TEXT, Type::UNKNOWN],
            &[Some(DataType::Int64), None, Some(DataType::Float64)],
        )
        .unwrap();
        assert_eq!(
            values,
            [
                ScalarValue::Int64(Some(42)),
                ScalarValue::Utf8(Some("o-1".into())),
                ScalarValue::Float64(None)
            ]
        );
    }

    #[test]
    fn binary_values_are_decoded_by_their_declared_type_then_cast() {
        let micros: i64 = 1_700_000_000_000_000 - PG_EPOCH_MICROS;
        let at = micros.to_be_bytes();
        let four = 4i32.to_be_bytes();
        let values = decode(
            &[Some(four.as_slice()), Some(at.as_slice())],
            |_| true,
            &[Type::INT4, Type::TIMESTAMPTZ],
            &[
                Some(DataType::Int64),
                Some(DataType::Timestamp(
                    TimeUnit::Microsecond,
                    Some("+00:00".into()),
                )),
            ],
        )
        .unwrap();
        assert_eq!(values[0], ScalarValue::Int64(Some(4)));
        assert_eq!(
            values[1],
            ScalarValue::TimestampMicrosecond(Some(1_700_000_000_000_000), Some("+00:00".into()))
        );
    }

    #[test]
    fn bad_values_name_the_parameter_and_the_problem() {
        let err = decode(
            &[Some(b"abc".as_slice())],
            |_| false,
            &[Type::INT8],
            &[Some(DataType::Int64)],
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "parameter $1: \"abc\" is not a value of type Int64"
        );
        let err = decode(
            &[Some([1u8, 2].as_slice())],
            |_| true,
            &[Type::INT8],
            &[None],
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "parameter $1: a binary int8 is 8 bytes, got 2"
        );
        let err = decode(
            &[Some([0u8; 16].as_slice())],
            |_| true,
            &[Type::UUID],
            &[None],
        )
        .unwrap_err();
        assert!(err.to_string().contains("send it in text format"), "{err}");
        let err = decode(&[], |_| false, &[], &[None]).unwrap_err();
        assert_eq!(
            err,
            ParameterError::Count {
                expected: 1,
                given: 0
            }
        );
    }

    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Arbitrary bytes in either format, of any declared type, are a value or an
        /// error naming the parameter, never a panic.
        #[test]
        fn arbitrary_values_are_answered(
            bytes in prop::collection::vec(any::<u8>(), 0..24),
            binary in any::<bool>(),
            declared in prop::sample::select(vec![
                Type::BOOL, Type::INT2, Type::INT4, Type::INT8, Type::FLOAT4, Type::FLOAT8,
                Type::TEXT, Type::BYTEA, Type::DATE, Type::TIMESTAMP, Type::TIMESTAMPTZ,
                Type::NUMERIC, Type::UUID, Type::UNKNOWN,
            ]),
            inferred in prop::sample::select(vec![
                None, Some(DataType::Int64), Some(DataType::Utf8), Some(DataType::Float64),
                Some(DataType::Date32), Some(DataType::Boolean),
                Some(DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into()))),
            ]),
        ) {
            match decode(&[Some(bytes.as_slice())], |_| binary, &[declared], &[inferred]) {
                Ok(values) => prop_assert_eq!(values.len(), 1),
                Err(e) => prop_assert!(e.to_string().starts_with("parameter $1"), "{}", e),
            }
        }
    }
}
