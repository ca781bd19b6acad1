//! CPU time per worker thread, to show how evenly the partitions share the work.
//!
//! Read from `/proc/self/task/<tid>/schedstat` (nanoseconds on a CPU) for the threads
//! named `velo-worker-N`; a snapshot before and after a run gives each worker's share.
//! On systems without `/proc` the snapshots are empty and no balance is reported.

use std::collections::HashMap;

/// CPU nanoseconds of each live worker thread, by thread id.
#[derive(Debug, Clone, Default)]
pub struct WorkerCpu {
    /// (thread id, worker name, nanoseconds on a CPU so far).
    threads: Vec<(u32, String, u64)>,
}

impl WorkerCpu {
    /// The worker threads' CPU time now.
    pub fn snapshot() -> WorkerCpu {
        let mut threads = Vec::new();
        let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
            return WorkerCpu::default();
        };
        for entry in dir.flatten() {
            let Some(tid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            let path = entry.path();
            let Ok(name) = std::fs::read_to_string(path.join("comm")) else {
                continue;
            };
            let name = name.trim();
            if !name.starts_with("velo-worker-") {
                continue;
            }
            if let Some(ns) = std::fs::read_to_string(path.join("schedstat"))
                .ok()
                .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
            {
                threads.push((tid, name.to_string(), ns));
            }
        }
        WorkerCpu { threads }
    }

    /// CPU seconds each worker spent since `before`, by worker name (threads of the same
    /// name in successive pools added up), sorted by name.
    pub fn since(&self, before: &WorkerCpu) -> Vec<(String, f64)> {
        let earlier: HashMap<u32, u64> = before
            .threads
            .iter()
            .map(|(tid, _, ns)| (*tid, *ns))
            .collect();
        let mut by_name: HashMap<&str, u64> = HashMap::new();
        for (tid, name, ns) in &self.threads {
            let spent = ns.saturating_sub(earlier.get(tid).copied().unwrap_or(0));
            *by_name.entry(name.as_str()).or_default() += spent;
        }
        let mut out: Vec<(String, f64)> = by_name
            .into_iter()
            .map(|(n, ns)| (n.to_string(), ns as f64 / 1e9))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

/// The least busy worker's CPU time over the busiest one's (1.0 = perfectly even), or
/// `None` with fewer than two workers or no work.
pub fn balance(per_worker: &[(String, f64)]) -> Option<f64> {
    if per_worker.len() < 2 {
        return None;
    }
    let most = per_worker.iter().map(|w| w.1).fold(0.0f64, f64::max);
    let least = per_worker.iter().map(|w| w.1).fold(f64::INFINITY, f64::min);
    (most > 0.0).then(|| least / most)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balance_is_least_over_most() {
        let w = |v: &[f64]| -> Vec<(String, f64)> {
            v.iter()
                .enumerate()
                .map(|(i, s)| (format!("velo-worker-{i}"), *s))
                .collect()
        };
        assert_eq!(balance(&w(&[1.0])), None);
        assert_eq!(balance(&w(&[0.0, 0.0])), None);
        assert_eq!(balance(&w(&[2.0, 1.0])), Some(0.5));
        assert_eq!(balance(&w(&[1.0, 4.0, 2.0])), Some(0.25));
    }

    #[test]
    fn busy_worker_threads_are_seen() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .thread_name(|i| format!("velo-worker-{i}"))
            .build()
            .unwrap();
        let before = WorkerCpu::snapshot();
        // enough work on both threads to be measured
        let total: u64 = pool.install(|| {
            use rayon::prelude::*;
            (0..2_000_000u32)
                .into_par_iter()
                .with_min_len(1000)
                .map(|i| u64::from(i).wrapping_mul(u64::from(i)) % 7)
                .sum()
        });
        assert!(total > 0);
        let spent = WorkerCpu::snapshot().since(&before);
        if std::path::Path::new("/proc/self/task").exists() {
            // other tests' pools may add workers of their own
            for name in ["velo-worker-0", "velo-worker-1"] {
                assert!(spent.iter().any(|w| w.0 == name), "{name}: {spent:?}");
            }
            assert!(spent.iter().any(|w| w.1 > 0.0), "{spent:?}");
        }
    }
}
