//! The record pipeline of `meshplane ingest`, as pure functions over bytes: JSON events are
//! decoded against the product's declared schema, checked (types, required fields, quality
//! checks), masked (keyed HMAC-SHA256 pseudonyms, partial masking, redaction) and grouped
//! into time partitions, which become zstd-compressed Parquet files. Every event is either
//! a row or a [`Rejection`] with its reason; nothing is dropped. The worker (operator/worker)
//! does the Kafka and S3 I/O around it.
#![forbid(unsafe_code)]

pub mod cell;
pub mod commit;
pub mod decode;
mod hmac_sha256;
pub mod json_row;
pub mod keys;
pub mod mask;
pub mod partition;
pub mod scalar;
pub mod stream;
pub mod table;
pub mod unique;

pub use cell::Cell;
pub use decode::{Decoder, DecoderError, Rejection, Row};
pub use partition::TimePartition;
pub use table::{
    arrow_schema, arrow_schema_with_field_ids, write_parquet, TableBuilder, TableError,
};
