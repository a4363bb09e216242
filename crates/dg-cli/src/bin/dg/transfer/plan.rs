//! The order jobs run in: which start at once, which wait for another.
//!
//! - Uploads: in each deltaspace the first delta-eligible file goes first and alone, so it
//!   creates `reference.bin` and the others become deltas against it (racing uploads would all
//!   find no reference; the core settles such races correctly, but the losers' work is wasted).
//! - Deletes: one at a time per deltaspace, so the delete of the last delta sees the others
//!   gone and removes the reference, and no two deletes race over it.
//! - Otherwise larger files start first, which keeps all workers busy until the end.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;

use dg_core::keys::DeltaSpace;
use dg_core::policy::{DeltaPolicy, SNIFF_LEN};

use super::Job;

/// Jobs with their order.
#[derive(Debug, Default)]
pub struct Plan {
    pub jobs: Vec<Job>,
    /// Indices of jobs ready at the start, in the order to start them.
    pub first: Vec<usize>,
    /// Jobs released when the job of the key finishes.
    pub after: HashMap<usize, Vec<usize>>,
}

impl Plan {
    /// Number of jobs.
    pub fn len(&self) -> usize {
        self.jobs.len()
    }

    /// True without jobs.
    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    /// Total bytes of the jobs.
    pub fn bytes(&self) -> u64 {
        self.jobs.iter().map(Job::size).fold(0, u64::saturating_add)
    }

    /// Independent jobs, larger first.
    pub fn parallel(jobs: Vec<Job>) -> Plan {
        let mut first: Vec<usize> = (0..jobs.len()).collect();
        first.sort_by_key(|&i| std::cmp::Reverse(jobs.get(i).map_or(0, Job::size)));
        Plan {
            jobs,
            first,
            after: HashMap::new(),
        }
    }

    /// Uploads: the first delta-eligible file (in the given order) of each deltaspace first,
    /// the deltaspace's other eligible files after it. `policy` is `None` when every file is
    /// stored whole.
    pub fn uploads(jobs: Vec<Job>, policy: Option<&DeltaPolicy>) -> Plan {
        let Some(policy) = policy else {
            return Plan::parallel(jobs);
        };
        let mut plan = Plan {
            jobs,
            ..Plan::default()
        };
        let mut leaders: BTreeMap<DeltaSpace, usize> = BTreeMap::new();
        let mut free = Vec::new();
        for i in 0..plan.jobs.len() {
            // copies are judged by name: their first bytes are not at hand
            let (destination, first_bytes) = match plan.jobs.get(i) {
                Some(Job::Upload {
                    source,
                    destination,
                    ..
                }) => (destination, head(source)),
                Some(Job::Copy { destination, .. }) => (destination, Vec::new()),
                _ => {
                    free.push(i);
                    continue;
                }
            };
            let name = dg_core::keys::file_name(&destination.key);
            if !policy.judge(name, &first_bytes).is_eligible() {
                free.push(i);
                continue;
            }
            match leaders.entry(DeltaSpace::of(destination)) {
                std::collections::btree_map::Entry::Vacant(v) => {
                    v.insert(i);
                }
                std::collections::btree_map::Entry::Occupied(o) => {
                    plan.after.entry(*o.get()).or_default().push(i);
                }
            }
        }
        let size = |i: &usize| std::cmp::Reverse(plan.jobs.get(*i).map_or(0, Job::size));
        let mut leaders: Vec<usize> = leaders.into_values().collect();
        leaders.sort_by_key(size);
        free.sort_by_key(size);
        for followers in plan.after.values_mut() {
            followers.sort_by_key(size);
        }
        plan.first = leaders.into_iter().chain(free).collect();
        plan
    }

    /// Remote deletes: one at a time within a deltaspace, deltaspaces in parallel.
    pub fn deletes(jobs: Vec<Job>) -> Plan {
        let mut chains: BTreeMap<DeltaSpace, Vec<usize>> = BTreeMap::new();
        let mut free = Vec::new();
        for (i, job) in jobs.iter().enumerate() {
            match job {
                Job::Delete { target } => chains.entry(DeltaSpace::of(target)).or_default().push(i),
                _ => free.push(i),
            }
        }
        let mut plan = Plan {
            jobs,
            first: free,
            after: HashMap::new(),
        };
        for chain in chains.into_values() {
            let mut it = chain.into_iter();
            let Some(mut previous) = it.next() else {
                continue;
            };
            plan.first.push(previous);
            for next in it {
                plan.after.insert(previous, vec![next]);
                previous = next;
            }
        }
        plan
    }
}

/// The first bytes of a file, for the delta policy (empty when unreadable: the upload itself
/// reports the error).
fn head(path: &std::path::Path) -> Vec<u8> {
    let mut head = Vec::with_capacity(SNIFF_LEN);
    if let Ok(f) = std::fs::File::open(path) {
        let _ = f.take(SNIFF_LEN as u64).read_to_end(&mut head);
    }
    head
}

#[cfg(test)]
mod tests {
    use super::*;
    use dg_ports::Location;

    fn upload(dir: &std::path::Path, key: &str, size: usize) -> Job {
        let source = dir.join(key.replace('/', "_"));
        std::fs::write(&source, vec![b'x'; size]).unwrap();
        Job::Upload {
            source,
            destination: Location::new("b", key),
            size: size as u64,
        }
    }

    #[test]
    fn the_first_eligible_file_of_a_deltaspace_goes_first_and_alone() {
        let dir = tempfile::tempdir().unwrap();
        let jobs = vec![
            upload(dir.path(), "app/a-1.zip", 10),
            upload(dir.path(), "app/a-2.zip", 30),
            upload(dir.path(), "app/notes.txt", 5),
            upload(dir.path(), "lib/l-1.jar", 20),
            upload(dir.path(), "app/a-3.zip", 20),
        ];
        let plan = Plan::uploads(jobs, Some(&DeltaPolicy::default()));
        // leaders: the first zip of app (0) and the jar (3), larger first; then the text file
        assert_eq!(plan.first, vec![3, 0, 2]);
        assert_eq!(plan.after.get(&0), Some(&vec![1, 4]));
        assert_eq!(plan.after.len(), 1);
        let whole = Plan::uploads(plan.jobs, None);
        assert_eq!(whole.first, vec![1, 3, 4, 0, 2]);
    }

    #[test]
    fn deletes_chain_within_a_deltaspace() {
        let del = |k: &str| Job::Delete {
            target: Location::new("b", k),
        };
        let plan = Plan::deletes(vec![del("a/1"), del("b/1"), del("a/2"), del("a/3")]);
        assert_eq!(plan.first, vec![0, 1]);
        assert_eq!(plan.after.get(&0), Some(&vec![2]));
        assert_eq!(plan.after.get(&2), Some(&vec![3]));
    }
}
