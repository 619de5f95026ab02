//! The streaming ingestion worker (`meshplane ingest`): a Kafka consumer group on the
//! product's source topic, the pure record pipeline of `meshplane-ingest`, and the
//! product's Apache Iceberg table. Exactly once: buffers roll into Parquet data files
//! under deterministic names; on the update interval one Iceberg commit appends the files
//! of every partition and sets each partition's next offset in the table, fenced on the
//! offsets the files start from (`meshplane_ingest::commit`). A partition resumes from the
//! table's offsets, never from the consumer group's (those only measure lag).
#![forbid(unsafe_code)]

pub mod buffer;
pub mod metrics;
pub mod run;
pub mod store;
pub mod stream_out;

pub use run::{run, WorkerError, WorkerSettings};
