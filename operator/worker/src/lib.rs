//! The streaming ingestion worker (`meshplane ingest`): a Kafka consumer group on the
//! product's source topic, the pure record pipeline of `meshplane-ingest`, and S3 as the
//! table. Exactly once: a flush writes a marker naming its objects, then the objects under
//! deterministic keys, then commits the offsets, then removes the marker; a worker that
//! starts on a partition with a marker left by an uncommitted flush deletes that flush's
//! objects before it consumes the same offsets again.
#![forbid(unsafe_code)]

pub mod buffer;
pub mod metrics;
pub mod run;
pub mod store;
pub mod stream_out;

pub use run::{run, WorkerError, WorkerSettings};
