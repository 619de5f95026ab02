//! Object keys. They are deterministic — the source topic and partition, the offsets a
//! file covers and the writer's configuration name every object — so that a second write
//! of the same events (a replay after a crash, a fenced-out worker) produces the same key
//! and the same bytes instead of a second copy, and the table's duplicate-file check
//! refuses to add a file twice.

/// Key of a data file: `<data prefix>/<partition path>/<topic>-<partition>-<first>-<last>-<writer>.parquet`.
pub fn data_file_key(
    data_prefix: &str,
    partition_path: &str,
    (topic, source_partition): (&str, i32),
    (first, last): (i64, i64),
    writer: &str,
) -> String {
    let file = format!("{topic}-{source_partition:05}-{first:020}-{last:020}-{writer}.parquet");
    [data_prefix, partition_path, &file]
        .iter()
        .filter(|part| !part.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join("/")
}

/// Key of a dead-letter file (JSON lines) for the same offsets.
pub fn dead_letter_key(prefix: &str, source_partition: i32, start: i64) -> String {
    format!("{prefix}/part-{source_partition:05}-{start:020}.jsonl")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_fixed_width_and_sort_by_offset() {
        assert_eq!(
            data_file_key("table/data", "t_hour=2026-11-27-09", ("orders", 3), (1200, 1299), "ab12"),
            "table/data/t_hour=2026-11-27-09/orders-00003-00000000000000001200-00000000000000001299-ab12.parquet"
        );
        assert!(
            data_file_key("t", "", ("o", 0), (99, 99), "w")
                < data_file_key("t", "", ("o", 0), (100, 100), "w")
        );
        assert_eq!(
            dead_letter_key("_rejected", 1, 7),
            "_rejected/part-00001-00000000000000000007.jsonl"
        );
    }
}
