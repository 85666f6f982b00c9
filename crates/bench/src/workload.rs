//! The raw client's workloads: `seq` reads a whole object in chunks with a fixed number
//! of GETs in flight (independent ranges, so in parallel); `random` reads seeded ranges
//! one after the other, as a reader that waits for each read does.

use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tokio::task::JoinSet;

use crate::client::RangeClient;
use crate::error::BenchError;
use crate::offsets::random_offsets;
use crate::report::{millis, LatencySummary, RawReport, RequestCounts};

/// Whole-object sequential read.
#[derive(Debug, Clone, Copy)]
pub struct SeqOptions {
    /// Bytes per ranged GET.
    pub chunk: u64,
    /// GETs in flight at once.
    pub parallel: usize,
    /// Known object size; `None` asks with a HEAD (part of the timed run).
    pub object_size: Option<u64>,
}

/// Seeded random reads, one at a time.
#[derive(Debug, Clone, Copy)]
pub struct RandomOptions {
    pub count: usize,
    pub read_size: u64,
    pub seed: u64,
    /// Known object size; `None` asks with a HEAD (part of the timed run).
    pub object_size: Option<u64>,
}

/// Splits `0..size` into consecutive ranges of `chunk` bytes (the last may be shorter).
pub fn chunk_ranges(size: u64, chunk: u64) -> Vec<Range<u64>> {
    let chunk = chunk.max(1);
    (0..size.div_ceil(chunk))
        .map(|i| i * chunk..((i + 1) * chunk).min(size))
        .collect()
}

/// The object size, and how many HEADs it took to learn it.
async fn object_size(client: &RangeClient, known: Option<u64>) -> Result<(u64, u64), BenchError> {
    match known {
        Some(size) => Ok((size, 0)),
        None => Ok((client.object_size().await?, 1)),
    }
}

/// Reads the whole object with `parallel` workers taking the next chunk as they finish.
pub async fn run_seq(client: &RangeClient, opts: SeqOptions) -> Result<RawReport, BenchError> {
    if opts.chunk == 0 || opts.parallel == 0 {
        return Err(BenchError::InvalidWorkload(
            "--chunk and --parallel must be at least 1".into(),
        ));
    }
    let start = Instant::now();
    let (size, heads) = object_size(client, opts.object_size).await?;
    let ranges = Arc::new(chunk_ranges(size, opts.chunk));
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = JoinSet::new();
    for _ in 0..opts.parallel.min(ranges.len()) {
        let (client, ranges, next) = (client.clone(), Arc::clone(&ranges), Arc::clone(&next));
        workers.spawn(async move {
            let mut timed = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(range) = ranges.get(i) else {
                    return Ok::<_, BenchError>(timed);
                };
                let t0 = Instant::now();
                let got = client.read_range(range.clone()).await?;
                timed.push((i, got, millis(t0.elapsed())));
            }
        });
    }
    let mut timed = Vec::with_capacity(ranges.len());
    while let Some(joined) = workers.join_next().await {
        // Dropping the JoinSet on an early return aborts the other workers.
        timed.extend(joined.map_err(|e| BenchError::Worker(e.to_string()))??);
    }
    let elapsed = start.elapsed();
    timed.sort_by_key(|(i, _, _)| *i);
    let bytes = timed.iter().map(|(_, n, _)| n).sum();
    let latencies: Vec<f64> = timed.iter().map(|(_, _, ms)| *ms).collect();
    Ok(RawReport {
        workload: "seq",
        bucket: client.bucket().to_owned(),
        key: client.key().to_owned(),
        object_size: size,
        bytes,
        seconds: elapsed.as_secs_f64(),
        mb_per_s: RawReport::throughput_mb_per_s(bytes, elapsed),
        requests: RequestCounts {
            head: heads,
            get: timed.len() as u64,
        },
        request_size: opts.chunk,
        parallel: opts.parallel,
        latency_ms: LatencySummary::of(&latencies),
        latencies_ms: latencies,
        offsets: Vec::new(),
        seed: None,
    })
}

/// Reads `count` seeded ranges of `read_size` bytes in sequence, timing each.
pub async fn run_random(
    client: &RangeClient,
    opts: RandomOptions,
) -> Result<RawReport, BenchError> {
    let start = Instant::now();
    let (size, heads) = object_size(client, opts.object_size).await?;
    let offsets = random_offsets(opts.seed, opts.count, size, opts.read_size).ok_or_else(|| {
        BenchError::InvalidWorkload(format!(
            "cannot take reads of {} bytes from an object of {size} bytes",
            opts.read_size
        ))
    })?;
    let mut latencies = Vec::with_capacity(offsets.len());
    let mut bytes = 0;
    for &offset in &offsets {
        let t0 = Instant::now();
        bytes += client.read_range(offset..offset + opts.read_size).await?;
        latencies.push(millis(t0.elapsed()));
    }
    let elapsed = start.elapsed();
    Ok(RawReport {
        workload: "random",
        bucket: client.bucket().to_owned(),
        key: client.key().to_owned(),
        object_size: size,
        bytes,
        seconds: elapsed.as_secs_f64(),
        mb_per_s: RawReport::throughput_mb_per_s(bytes, elapsed),
        requests: RequestCounts {
            head: heads,
            get: offsets.len() as u64,
        },
        request_size: opts.read_size,
        parallel: 1,
        latency_ms: LatencySummary::of(&latencies),
        latencies_ms: latencies,
        offsets,
        seed: Some(opts.seed),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_the_object_exactly() {
        assert_eq!(chunk_ranges(10, 4), vec![0..4, 4..8, 8..10]);
        assert_eq!(chunk_ranges(8, 4), vec![0..4, 4..8]);
        assert_eq!(chunk_ranges(0, 4), Vec::<Range<u64>>::new());
        assert_eq!(chunk_ranges(3, 8), vec![0..3]);
    }
}
