//! The time partition of a row, kept as a number while rows are buffered; its Hive-style
//! path (`dt=YYYY-MM-DD/hr=HH`) is formatted once per file, not once per event.

use crate::decode::civil_from_days;

/// Which file of a flush a row belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TimePartition {
    /// The product's table is not partitioned.
    Unpartitioned,
    /// The partition field is null: `dt=__null__`.
    Null,
    /// A day: days since 1970-01-01.
    Day(i64),
    /// An hour: hours since 1970-01-01T00:00Z.
    Hour(i64),
}

impl TimePartition {
    /// The object path segment: `dt=YYYY-MM-DD/hr=HH`, `dt=YYYY-MM-DD`, `dt=__null__` or
    /// empty when unpartitioned.
    pub fn path(&self) -> String {
        match *self {
            TimePartition::Unpartitioned => String::new(),
            TimePartition::Null => "dt=__null__".into(),
            TimePartition::Day(days) => format!("dt={}", date(days)),
            TimePartition::Hour(hours) => format!(
                "dt={}/hr={:02}",
                date(hours.div_euclid(24)),
                hours.rem_euclid(24)
            ),
        }
    }
}

impl TimePartition {
    /// The path segment of a data file in the Iceberg table, as engines write it:
    /// `<partition name>=YYYY-MM-DD-HH` (hour), `=YYYY-MM-DD` (day), `=null`, or empty.
    pub fn iceberg_path(&self, partition_name: &str) -> String {
        match *self {
            TimePartition::Unpartitioned => String::new(),
            TimePartition::Null => format!("{partition_name}=null"),
            TimePartition::Day(days) => format!("{partition_name}={}", date(days)),
            TimePartition::Hour(hours) => format!(
                "{partition_name}={}-{:02}",
                date(hours.div_euclid(24)),
                hours.rem_euclid(24)
            ),
        }
    }
}

fn date(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_hive_style() {
        assert_eq!(TimePartition::Unpartitioned.path(), "");
        assert_eq!(TimePartition::Null.path(), "dt=__null__");
        assert_eq!(TimePartition::Day(20_784).path(), "dt=2026-11-27");
        assert_eq!(
            TimePartition::Hour(20_784 * 24 + 9).path(),
            "dt=2026-11-27/hr=09"
        );
        assert_eq!(TimePartition::Hour(-1).path(), "dt=1969-12-31/hr=23");
    }

    #[test]
    fn iceberg_paths_name_the_partition_field() {
        assert_eq!(
            TimePartition::Hour(20_784 * 24 + 9).iceberg_path("event_time_hour"),
            "event_time_hour=2026-11-27-09"
        );
        assert_eq!(
            TimePartition::Day(20_784).iceberg_path("event_time_day"),
            "event_time_day=2026-11-27"
        );
        assert_eq!(TimePartition::Null.iceberg_path("t_day"), "t_day=null");
        assert_eq!(TimePartition::Unpartitioned.iceberg_path("x"), "");
    }

    #[test]
    fn order_is_chronological() {
        assert!(TimePartition::Hour(5) < TimePartition::Hour(6));
        assert!(TimePartition::Day(1) < TimePartition::Day(2));
    }
}
