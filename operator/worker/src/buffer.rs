//! What a worker holds between flushes, per source partition: decoded rows grouped by time
//! partition, dead letters, and the offsets they cover. Pure.

use meshplane_ingest::keys::{data_file_key, dead_letter_key};
use meshplane_ingest::table::TableSchema;
use meshplane_ingest::unique::UniqueChecks;
use meshplane_ingest::{Rejection, Row, TableBuilder, TableError, TimePartition};
use std::collections::BTreeMap;
use std::time::Instant;

/// Rows and rejections of one source partition since its last flush.
#[derive(Debug)]
pub struct PartitionBuffer {
    /// First offset held.
    pub start: i64,
    /// Last offset held.
    pub end: i64,
    /// Rows by time partition (one file each), gathered column by column.
    tables: BTreeMap<TimePartition, TableBuilder>,
    /// The table's schema.
    schema: TableSchema,
    /// Dead-letter lines.
    rejected: Vec<String>,
    /// Events held (rows + rejections).
    pub events: usize,
    /// Approximate bytes of the source events held.
    pub bytes: usize,
    /// When the first event arrived.
    pub opened_at: Instant,
    /// When the last event arrived.
    pub last_event_at: Instant,
    /// Newest event time among the rows, microseconds.
    pub newest_event_micros: Option<i64>,
    /// `unique` checks over the rows of this flush (one file per time partition).
    unique: UniqueChecks,
}

/// What an object of a flush is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    /// A Parquet data file of the table, in one time partition.
    Data {
        /// Its time partition.
        partition: TimePartition,
        /// Rows in it.
        rows: usize,
    },
    /// Dead letters (JSON lines).
    DeadLetters,
}

/// One object of a flush.
#[derive(Debug, Clone)]
pub struct FlushObject {
    /// Key.
    pub key: String,
    /// Content.
    pub body: Vec<u8>,
    /// MIME type.
    pub content_type: &'static str,
    /// Data file or dead letters.
    pub kind: ObjectKind,
}

/// How a flush names its objects.
#[derive(Debug, Clone)]
pub struct FileNaming {
    /// Source topic.
    pub topic: String,
    /// Key prefix of data files (`<table prefix>/data`).
    pub data_prefix: String,
    /// Key prefix of dead letters.
    pub dead_letter_prefix: String,
    /// Name of the table's partition field (`<field>_hour`), if partitioned.
    pub partition_name: Option<String>,
    /// Digest of what shapes a file's bytes besides its events (plan, masking key): two
    /// writers with the same digest write the same bytes for the same offsets.
    pub writer: String,
}

/// Everything one flush of one source partition writes.
#[derive(Debug)]
pub struct Flush {
    /// Source partition.
    pub partition: i32,
    /// First offset covered.
    pub start: i64,
    /// Last offset covered.
    pub end: i64,
    /// Objects to write.
    pub objects: Vec<FlushObject>,
    /// Rows written.
    pub rows: usize,
    /// Events rejected.
    pub rejected: usize,
    /// Bytes of source events covered.
    pub bytes: usize,
    /// Newest event time covered.
    pub newest_event_micros: Option<i64>,
    /// When the oldest event covered arrived (for event-to-object latency).
    pub opened_at: Instant,
}

/// A dead-letter line: where the event was and why it was rejected. The event itself is not
/// copied: it may hold unmasked personal data; its offset finds it in the source topic.
#[derive(serde::Serialize)]
struct DeadLetter<'a> {
    topic: &'a str,
    partition: i32,
    offset: i64,
    bytes: usize,
    reason: String,
}

impl PartitionBuffer {
    /// An empty buffer starting at `offset`.
    pub fn new(offset: i64, schema: &TableSchema, unique: UniqueChecks) -> Self {
        let now = Instant::now();
        PartitionBuffer {
            start: offset,
            end: offset,
            tables: BTreeMap::new(),
            schema: schema.clone(),
            rejected: Vec::new(),
            events: 0,
            bytes: 0,
            opened_at: now,
            last_event_at: now,
            newest_event_micros: None,
            unique,
        }
    }

    /// Adds the outcome of decoding the event at `offset`, which arrived at `now` (read once
    /// per batch of events by the caller: the clock is not free); whether it became a row.
    pub fn push(
        &mut self,
        topic: &str,
        (partition, offset): (i32, i64),
        size: usize,
        outcome: Result<Row, Rejection>,
        now: Instant,
    ) -> bool {
        self.end = offset;
        self.events += 1;
        self.bytes += size;
        self.last_event_at = now;
        let outcome = match outcome {
            Ok(row) if !self.unique.is_empty() => self.unique.admit(&row).map(|()| row),
            other => other,
        };
        match outcome {
            Ok(row) => {
                if let Some(t) = row.event_time_micros {
                    self.newest_event_micros =
                        Some(self.newest_event_micros.map_or(t, |n| n.max(t)));
                }
                self.tables
                    .entry(row.partition)
                    .or_insert_with(|| TableBuilder::new(&self.schema))
                    .append(&row.cells);
                true
            }
            Err(rejection) => {
                let line = DeadLetter {
                    topic,
                    partition,
                    offset,
                    bytes: size,
                    reason: rejection.to_string(),
                };
                self.rejected
                    .push(serde_json::to_string(&line).unwrap_or_default());
                false
            }
        }
    }

    /// Encodes the buffer as the objects of one flush.
    pub fn into_flush(self, naming: &FileNaming, partition: i32) -> Result<Flush, TableError> {
        let mut objects = Vec::new();
        let mut rows = 0;
        for (time_partition, table) in self.tables {
            let file_rows = table.len();
            rows += file_rows;
            let path = naming
                .partition_name
                .as_deref()
                .map(|name| time_partition.iceberg_path(name))
                .unwrap_or_default();
            objects.push(FlushObject {
                key: data_file_key(
                    &naming.data_prefix,
                    &path,
                    (&naming.topic, partition),
                    (self.start, self.end),
                    &naming.writer,
                ),
                body: table.into_parquet()?,
                content_type: "application/vnd.apache.parquet",
                kind: ObjectKind::Data {
                    partition: time_partition,
                    rows: file_rows,
                },
            });
        }
        if !self.rejected.is_empty() {
            let mut body = self.rejected.join("\n");
            body.push('\n');
            objects.push(FlushObject {
                key: dead_letter_key(&naming.dead_letter_prefix, partition, self.start),
                body: body.into_bytes(),
                content_type: "application/x-ndjson",
                kind: ObjectKind::DeadLetters,
            });
        }
        Ok(Flush {
            partition,
            start: self.start,
            end: self.end,
            objects,
            rows,
            rejected: self.rejected.len(),
            bytes: self.bytes,
            newest_event_micros: self.newest_event_micros,
            opened_at: self.opened_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use meshplane_ingest::{arrow_schema, Decoder};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    use meshplane_api::ingest_plan::IngestPlan;

    fn naming() -> FileNaming {
        FileNaming {
            topic: "orders.events".into(),
            data_prefix: "table/data".into(),
            dead_letter_prefix: "_rejected".into(),
            partition_name: Some("event_time_hour".into()),
            writer: "w1".into(),
        }
    }

    fn plan() -> IngestPlan {
        serde_json::from_str(include_str!("../../ingest/tests/fixtures/orders-plan.json")).unwrap()
    }

    fn event(id: u32, hour: u32) -> String {
        format!(
            r#"{{"order_id":"o-{id}","customer_id":"c-1","customer_email":"ada@example.com","shipping_address":"1 Main St","order_total":12.5,"currency":"EUR","status":"paid","event_time":"2026-11-27T{hour:02}:15:00Z"}}"#
        )
    }

    #[test]
    fn a_flush_writes_one_file_per_time_partition_and_the_dead_letters() {
        let plan = plan();
        let decoder = Decoder::new(&plan, b"key").unwrap();
        let schema = arrow_schema(decoder.fields());
        let mut buffer = PartitionBuffer::new(100, &schema, UniqueChecks::new(&plan).unwrap());
        let events = [event(1, 9), event(2, 10), "{not json".into(), event(3, 9)];
        let now = Instant::now();
        let accepted: Vec<bool> = events
            .iter()
            .zip(100..)
            .map(|(e, offset)| {
                buffer.push(
                    "orders.events",
                    (3, offset),
                    e.len(),
                    decoder.decode(e.as_bytes()),
                    now,
                )
            })
            .collect();
        assert_eq!(accepted, [true, true, false, true]);
        assert_eq!((buffer.start, buffer.end, buffer.events), (100, 103, 4));

        let flush = buffer.into_flush(&naming(), 3).unwrap();
        assert_eq!((flush.rows, flush.rejected), (3, 1));
        let keys: Vec<&str> = flush.objects.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "table/data/event_time_hour=2026-11-27-09/orders.events-00003-00000000000000000100-00000000000000000103-w1.parquet",
                "table/data/event_time_hour=2026-11-27-10/orders.events-00003-00000000000000000100-00000000000000000103-w1.parquet",
                "_rejected/part-00003-00000000000000000100.jsonl",
            ]
        );
        let rows_in = |body: &[u8]| {
            let reader =
                ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::copy_from_slice(body))
                    .unwrap();
            assert_eq!(reader.schema().as_ref(), schema.as_ref());
            reader
                .build()
                .unwrap()
                .map(|b| b.unwrap().num_rows())
                .sum::<usize>()
        };
        assert_eq!(rows_in(&flush.objects[0].body), 2);
        assert_eq!(rows_in(&flush.objects[1].body), 1);
        let dead_letter = String::from_utf8(flush.objects[2].body.clone()).unwrap();
        assert!(dead_letter.contains(r#""offset":102"#), "{dead_letter}");
        assert!(dead_letter.contains("not valid JSON"), "{dead_letter}");
        assert!(!dead_letter.contains("ada@example.com"));
    }

    #[test]
    fn replaying_the_same_offsets_makes_byte_identical_objects() {
        // What makes a second write of the same offsets (a fenced-out worker, a replay)
        // harmless: equal keys, equal bytes.
        let plan = plan();
        let decoder = Decoder::new(&plan, b"key").unwrap();
        let schema = arrow_schema(decoder.fields());
        let flush = || {
            let mut buffer = PartitionBuffer::new(7, &schema, UniqueChecks::new(&plan).unwrap());
            for (i, offset) in (0..500).zip(7..) {
                let e = if i % 50 == 0 {
                    "[]".to_string()
                } else {
                    event(i, 9 + i % 3)
                };
                buffer.push(
                    "t",
                    (0, offset),
                    e.len(),
                    decoder.decode(e.as_bytes()),
                    Instant::now(),
                );
            }
            buffer.into_flush(&naming(), 0).unwrap().objects
        };
        let (first, second) = (flush(), flush());
        assert_eq!(first.len(), 4);
        for (a, b) in first.iter().zip(&second) {
            assert_eq!(a.key, b.key);
            assert!(a.body == b.body, "{} differs", a.key);
        }
    }
}
