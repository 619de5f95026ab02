//! Object keys. They are deterministic — the source partition and the first offset of a
//! flush name every object — so that a replay after a crash overwrites what an
//! interrupted flush wrote instead of adding a second copy.

/// Key of a table file: `<prefix>/<partition path>/part-<kafka partition>-<start offset>.parquet`.
pub fn table_key(prefix: &str, partition_path: &str, source_partition: i32, start: i64) -> String {
    let file = format!("part-{source_partition:05}-{start:020}.parquet");
    [prefix, partition_path, &file]
        .iter()
        .filter(|part| !part.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join("/")
}

/// Key of a dead-letter file (JSON lines) for the same flush.
pub fn dead_letter_key(prefix: &str, source_partition: i32, start: i64) -> String {
    format!("{prefix}/part-{source_partition:05}-{start:020}.jsonl")
}

/// Key of the marker a flush writes before its objects and removes after its offsets are
/// committed; one per consumer group and source partition.
pub fn flush_marker_key(consumer_group: &str, source_partition: i32) -> String {
    format!("_ingest/{consumer_group}/partition-{source_partition:05}.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_fixed_width_and_sort_by_offset() {
        assert_eq!(
            table_key("table", "dt=2026-11-27/hr=09", 3, 1200),
            "table/dt=2026-11-27/hr=09/part-00003-00000000000000001200.parquet"
        );
        assert!(table_key("t", "", 0, 99) < table_key("t", "", 0, 100));
        assert_eq!(
            dead_letter_key("_rejected", 1, 7),
            "_rejected/part-00001-00000000000000000007.jsonl"
        );
        assert_eq!(flush_marker_key("g", 2), "_ingest/g/partition-00002.json");
    }
}
