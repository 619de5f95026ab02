//! The exactly-once protocol between one source partition and the product's Iceberg table,
//! as a pure state machine.
//!
//! The table is the record of what was ingested: every commit appends data files and, in
//! the same atomic catalog update, sets the partition's *next offset* (one table property
//! per source partition, also written into the snapshot summary). A worker that is
//! assigned a partition resumes from the table's next offset, whatever the consumer
//! group's offsets say (those only measure lag). Before a commit the worker re-reads the
//! table and commits only if the partition's next offset is still the one its files start
//! from (the *fence*): a fenced-out worker that wakes up late finds the offset moved and
//! drops its files instead of adding them a second time. A commit whose answer was lost
//! (the catalog restarted mid-commit) is recognised on the retry: the table already holds
//! the offset the commit would have set.
//!
//! Files roll often; commits happen on the update interval. Files written but never
//! committed (a crash, a fence) are unreferenced: readers never see them and table
//! maintenance removes them as orphans.

/// Where the consumer must be positioned before events of a partition count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeekTarget {
    /// The first offset still in the topic (nothing of this partition is in the table).
    Beginning,
    /// This offset.
    Offset(i64),
}

/// What to do with an event the consumer delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Buffer it: it is the next event of the partition.
    Accept,
    /// Buffer it; the offsets from `missing_from` up to it are gone from the topic
    /// (retention deleted them before they were ingested) or hold no event.
    AcceptAfterGap {
        /// The first offset the table expected.
        missing_from: i64,
    },
    /// Drop it: the table holds it already (or it is a second delivery).
    Skip,
    /// Drop it and move the consumer to the table's position first.
    Seek(SeekTarget),
}

/// How the table stands for a partition that has files to commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settlement {
    /// The table is where this worker's files start: commit them, setting `next`.
    Commit {
        /// The next offset the table holds now (the fence the commit asserts).
        expected: Option<i64>,
        /// The next offset the commit sets.
        next: i64,
    },
    /// The table already holds exactly what the commit would set: an earlier attempt whose
    /// answer was lost went through (or another worker committed the same offsets).
    AlreadyCommitted {
        /// The table's next offset.
        next: i64,
    },
    /// Another worker committed this partition meanwhile: the files are dropped and the
    /// partition resumes from the table's offset.
    Fenced {
        /// The table's next offset.
        table_next: Option<i64>,
    },
    /// Nothing to commit.
    Nothing,
}

/// Where consumption stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Position {
    /// Waiting for the consumer to reach the table's next offset (`None`: the beginning).
    Resuming {
        /// The table's next offset.
        from: Option<i64>,
        /// Whether the seek was asked for.
        sought: bool,
    },
    /// Consuming; `last` is the last offset accepted.
    Streaming {
        /// Last offset accepted.
        last: i64,
    },
}

/// One worker's view of one source partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionProgress {
    /// The table's next offset as of this worker's last look (resume or commit).
    base: Option<i64>,
    position: Position,
    /// Offsets accepted since `base` (in files or buffered): `(first, last)`.
    accepted: Option<(i64, i64)>,
    /// The last offset that is in written files (the rest is still buffered).
    written_to: Option<i64>,
}

impl PartitionProgress {
    /// A partition just assigned, whose table holds `table_next` (`None`: no event yet).
    pub fn resume(table_next: Option<i64>) -> Self {
        PartitionProgress {
            base: table_next,
            position: Position::Resuming {
                from: table_next,
                sought: false,
            },
            accepted: None,
            written_to: None,
        }
    }

    /// The table's next offset as of this worker's last look.
    pub fn base(&self) -> Option<i64> {
        self.base
    }

    /// Decides about an event at `offset`.
    pub fn admit(&mut self, offset: i64) -> Admission {
        let admission = match self.position {
            Position::Streaming { last } if offset <= last => Admission::Skip,
            Position::Streaming { .. } => Admission::Accept,
            Position::Resuming { from: None, sought } => {
                if sought {
                    Admission::Accept
                } else {
                    self.position = Position::Resuming {
                        from: None,
                        sought: true,
                    };
                    return Admission::Seek(SeekTarget::Beginning);
                }
            }
            Position::Resuming {
                from: Some(from),
                sought,
            } => match offset.cmp(&from) {
                std::cmp::Ordering::Equal => Admission::Accept,
                std::cmp::Ordering::Less if sought => Admission::Skip,
                std::cmp::Ordering::Greater if sought => {
                    Admission::AcceptAfterGap { missing_from: from }
                }
                _ => {
                    self.position = Position::Resuming {
                        from: Some(from),
                        sought: true,
                    };
                    return Admission::Seek(SeekTarget::Offset(from));
                }
            },
        };
        if matches!(
            admission,
            Admission::Accept | Admission::AcceptAfterGap { .. }
        ) {
            self.position = Position::Streaming { last: offset };
            self.accepted = Some(match self.accepted {
                Some((first, _)) => (first, offset),
                None => (offset, offset),
            });
        }
        admission
    }

    /// Everything accepted so far is now in written files.
    pub fn written(&mut self) {
        self.written_to = self.accepted.map(|(_, last)| last);
    }

    /// Whether accepted events are not yet in files.
    pub fn has_unwritten(&self) -> bool {
        self.accepted.map(|(_, last)| last) != self.written_to
    }

    /// The next offset a commit of the written files sets, if there is anything to commit.
    pub fn proposed_next(&self) -> Option<i64> {
        self.written_to.map(|last| last + 1)
    }

    /// Compares the table's current next offset with this worker's files.
    pub fn settle(&self, table_next: Option<i64>) -> Settlement {
        let Some(next) = self.proposed_next() else {
            return Settlement::Nothing;
        };
        if table_next == self.base {
            Settlement::Commit {
                expected: table_next,
                next,
            }
        } else if table_next == Some(next) {
            Settlement::AlreadyCommitted { next }
        } else {
            Settlement::Fenced { table_next }
        }
    }

    /// The table now holds everything written, up to `next`: the events buffered since the
    /// files were written stay accepted and are committed next time.
    pub fn committed(&mut self, next: i64) {
        self.base = Some(next);
        self.accepted = match self.accepted {
            Some((_, last)) if last >= next => Some((next, last)),
            _ => None,
        };
        self.written_to = None;
    }

    /// The partition was fenced: what this worker wrote or buffered is dropped and it
    /// resumes from the table's offset.
    pub fn fenced(&mut self, table_next: Option<i64>) {
        *self = PartitionProgress::resume(table_next);
    }
}

#[cfg(test)]
mod tests {
    //! A model of the table (next offset + committed offsets), the topic and the worker's
    //! steps, driven through every crash point of the protocol.
    use super::*;
    use std::collections::BTreeMap;

    /// The table: offsets whose events it holds (with multiplicity) and its next offset.
    #[derive(Default, Clone)]
    struct Table {
        next: Option<i64>,
        rows: BTreeMap<i64, usize>,
    }

    impl Table {
        fn holds_exactly_once(&self, offsets: impl IntoIterator<Item = i64>) {
            let expected: Vec<i64> = offsets.into_iter().collect();
            let held: Vec<i64> = self.rows.keys().copied().collect();
            assert_eq!(held, expected, "the table holds other offsets");
            assert!(
                self.rows.values().all(|n| *n == 1),
                "an offset is in the table twice: {:?}",
                self.rows
            );
        }
    }

    /// One worker: its progress, the offsets it buffered and those in its written files.
    struct Worker {
        progress: PartitionProgress,
        buffered: Vec<i64>,
        files: Vec<i64>,
        /// Where the consumer reads next (the topic's offsets).
        cursor: usize,
    }

    impl Worker {
        /// Assigned: reads the table and starts at the consumer group's position.
        fn assign(table: &Table, group_position: usize) -> Self {
            Worker {
                progress: PartitionProgress::resume(table.next),
                buffered: Vec::new(),
                files: Vec::new(),
                cursor: group_position,
            }
        }

        /// Consumes up to `n` events of `topic` (offsets, in order).
        fn consume(&mut self, topic: &[i64], n: usize) {
            let mut taken = 0;
            while taken < n && self.cursor < topic.len() {
                let offset = topic[self.cursor];
                self.cursor += 1;
                match self.progress.admit(offset) {
                    Admission::Accept | Admission::AcceptAfterGap { .. } => {
                        self.buffered.push(offset);
                        taken += 1;
                    }
                    Admission::Skip => {}
                    Admission::Seek(SeekTarget::Beginning) => self.cursor = 0,
                    Admission::Seek(SeekTarget::Offset(o)) => {
                        self.cursor = topic.partition_point(|x| *x < o);
                    }
                }
            }
        }

        fn write_files(&mut self) {
            self.files.append(&mut self.buffered);
            self.progress.written();
        }

        /// Re-reads the table and commits if the fence holds; the commit is the table
        /// update, `answer_lost` drops the catalog's answer after it went through.
        fn commit(&mut self, table: &mut Table, answer_lost: bool) -> Settlement {
            let settlement = self.progress.settle(table.next);
            match settlement {
                Settlement::Commit { expected, next } => {
                    assert_eq!(table.next, expected);
                    for o in self.files.drain(..) {
                        *table.rows.entry(o).or_default() += 1;
                    }
                    table.next = Some(next);
                    if !answer_lost {
                        self.progress.committed(next);
                    }
                }
                Settlement::AlreadyCommitted { next } => {
                    self.files.clear();
                    self.progress.committed(next);
                }
                Settlement::Fenced { table_next } => {
                    self.files.clear();
                    self.buffered.clear();
                    self.progress.fenced(table_next);
                }
                Settlement::Nothing => {}
            }
            settlement
        }
    }

    fn topic(n: i64) -> Vec<i64> {
        (0..n).collect()
    }

    /// Runs a fresh worker from the table until the topic is drained.
    fn drain(table: &mut Table, topic: &[i64], group_position: usize) {
        let mut w = Worker::assign(table, group_position);
        while w.cursor < topic.len() || !w.buffered.is_empty() {
            w.consume(topic, 7);
            w.write_files();
            w.commit(table, false);
        }
    }

    #[test]
    fn a_clean_run_commits_every_offset_once() {
        let topic = topic(100);
        let mut table = Table::default();
        drain(&mut table, &topic, 0);
        table.holds_exactly_once(0..100);
        assert_eq!(table.next, Some(100));
    }

    #[test]
    fn a_crash_before_data_is_written_loses_nothing() {
        let topic = topic(50);
        let mut table = Table::default();
        let mut w = Worker::assign(&table, 0);
        w.consume(&topic, 10);
        w.write_files();
        w.commit(&mut table, false);
        w.consume(&topic, 10);
        drop(w); // killed with 10 events buffered
        drain(&mut table, &topic, 10); // the group's offset may lag the table
        table.holds_exactly_once(0..50);
    }

    #[test]
    fn a_crash_after_files_are_written_before_the_commit_leaves_them_unreferenced() {
        let topic = topic(40);
        let mut table = Table::default();
        let mut w = Worker::assign(&table, 0);
        w.consume(&topic, 25);
        w.write_files();
        drop(w); // killed: files written, never committed
        drain(&mut table, &topic, 0);
        table.holds_exactly_once(0..40);
    }

    #[test]
    fn a_crash_after_the_commit_before_the_group_commit_resumes_from_the_table() {
        let topic = topic(60);
        let mut table = Table::default();
        let mut w = Worker::assign(&table, 0);
        w.consume(&topic, 30);
        w.write_files();
        w.commit(&mut table, false);
        drop(w); // killed before the consumer group's offset was committed
                 // The next owner starts at the group's old position (0) and skips what the table has.
        let mut next = Worker::assign(&table, 0);
        next.consume(&topic, 1);
        assert_eq!(next.buffered, vec![30], "resumes at the table's offset");
        drain(&mut table, &topic, 0);
        table.holds_exactly_once(0..60);
    }

    #[test]
    fn a_commit_whose_answer_was_lost_is_recognised_on_the_retry() {
        let topic = topic(20);
        let mut table = Table::default();
        let mut w = Worker::assign(&table, 0);
        w.consume(&topic, 20);
        w.write_files();
        w.commit(&mut table, true); // the catalog applied it, the answer never came
        assert_eq!(
            w.commit(&mut table, false),
            Settlement::AlreadyCommitted { next: 20 }
        );
        table.holds_exactly_once(0..20);
        assert_eq!(w.progress.base(), Some(20));
        assert_eq!(w.progress.settle(table.next), Settlement::Nothing);
    }

    #[test]
    fn a_late_commit_by_a_fenced_out_worker_adds_nothing() {
        let topic = topic(80);
        let mut table = Table::default();
        let mut stalled = Worker::assign(&table, 0);
        stalled.consume(&topic, 30);
        stalled.write_files();
        // It stalls past the session timeout; the partition moves to a second worker,
        // which commits the same offsets and more.
        let mut second = Worker::assign(&table, 0);
        second.consume(&topic, 45);
        second.write_files();
        second.commit(&mut table, false);
        // The stalled worker wakes up and tries to commit its files.
        assert_eq!(
            stalled.commit(&mut table, false),
            Settlement::Fenced {
                table_next: Some(45)
            }
        );
        // Fenced, it resumes from the table like any new owner would.
        stalled.consume(&topic, 5);
        assert_eq!(stalled.buffered, vec![45, 46, 47, 48, 49]);
        stalled.buffered.clear();
        drain(&mut table, &topic, 0);
        table.holds_exactly_once(0..80);
    }

    #[test]
    fn a_fenced_worker_whose_files_match_the_commit_is_not_mistaken_for_fenced() {
        // Two workers read the same 10 events; the first commits; the second's files end
        // at the same offset: the table already has them, nothing is added.
        let topic = topic(10);
        let mut table = Table::default();
        let mut a = Worker::assign(&table, 0);
        let mut b = Worker::assign(&table, 0);
        a.consume(&topic, 10);
        b.consume(&topic, 10);
        a.write_files();
        b.write_files();
        a.commit(&mut table, false);
        assert_eq!(
            b.commit(&mut table, false),
            Settlement::AlreadyCommitted { next: 10 }
        );
        table.holds_exactly_once(0..10);
    }

    #[test]
    fn a_replay_whose_first_offsets_are_gone_starts_at_the_first_kept_one() {
        let mut table = Table::default();
        let full = topic(100);
        let mut w = Worker::assign(&table, 0);
        w.consume(&full, 20);
        w.write_files();
        w.commit(&mut table, false);
        drop(w);
        // Retention deleted offsets 20..50 before anyone ingested them.
        let kept: Vec<i64> = (50..100).collect();
        let mut next = Worker::assign(&table, 0);
        let mut admissions = Vec::new();
        while next.cursor < kept.len() && admissions.len() < 3 {
            let offset = kept[next.cursor];
            next.cursor += 1;
            admissions.push(next.progress.admit(offset));
            if let Some(Admission::Seek(SeekTarget::Offset(o))) = admissions.last() {
                next.cursor = kept.partition_point(|x| x < o);
            }
        }
        assert_eq!(
            admissions,
            vec![
                Admission::Seek(SeekTarget::Offset(20)),
                Admission::AcceptAfterGap { missing_from: 20 },
                Admission::Accept,
            ]
        );
        drain(&mut table, &kept, 0);
        table.holds_exactly_once((0..20).chain(50..100));
    }

    #[test]
    fn a_partition_new_to_the_table_starts_at_the_beginning_of_the_topic() {
        // The group has an offset (e.g. from an older table); the table has nothing.
        let topic = topic(30);
        let mut table = Table::default();
        let mut w = Worker::assign(&table, 12);
        w.consume(&topic, 30);
        assert_eq!(w.buffered.first(), Some(&0));
        w.write_files();
        w.commit(&mut table, false);
        table.holds_exactly_once(0..30);
    }

    #[test]
    fn events_buffered_after_the_files_are_committed_next_time() {
        let topic = topic(30);
        let mut table = Table::default();
        let mut w = Worker::assign(&table, 0);
        w.consume(&topic, 10);
        w.write_files();
        w.consume(&topic, 5); // buffered, not in files
        assert!(w.progress.has_unwritten());
        w.commit(&mut table, false);
        assert_eq!(table.next, Some(10));
        assert!(w.progress.has_unwritten());
        w.write_files();
        w.commit(&mut table, false);
        assert_eq!(table.next, Some(15));
        table.holds_exactly_once(0..15);
    }

    #[test]
    fn second_deliveries_are_skipped() {
        let mut p = PartitionProgress::resume(Some(5));
        assert_eq!(p.admit(5), Admission::Accept);
        assert_eq!(p.admit(6), Admission::Accept);
        assert_eq!(p.admit(6), Admission::Skip);
        assert_eq!(p.admit(4), Admission::Skip);
        assert_eq!(p.admit(9), Admission::Accept, "gaps in a stream are normal");
    }

    #[test]
    fn random_crashes_and_fences_never_lose_or_duplicate() {
        // A deterministic pseudo-random schedule of two workers, crashes, lost answers and
        // stale wake-ups over 2,000 offsets.
        let topic = topic(2_000);
        let mut table = Table::default();
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut rand = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut workers = [Worker::assign(&table, 0), Worker::assign(&table, 0)];
        for _ in 0..2_000 {
            let i = rand(2) as usize;
            match rand(10) {
                0 => workers[i] = Worker::assign(&table, rand(topic.len() as u64) as usize),
                1..=5 => workers[i].consume(&topic, 1 + rand(40) as usize),
                6 | 7 => workers[i].write_files(),
                _ => {
                    workers[i].commit(&mut table, rand(4) == 0);
                }
            }
        }
        drain(&mut table, &topic, 0);
        table.holds_exactly_once(0..2_000);
    }
}
