#!/usr/bin/env python3
"""Polars on the SPEC §9 scenarios S0, S2 and S3a, on this host, for BENCHMARKS.md.

Usage: POLARS_MAX_THREADS=1 python3 scripts/polars_peer.py /path/to/trades.arrow

Input: an IPC file from `velo gen trades`. For each scenario prints the median of five
timed runs after a warm-up, as ANCHORS.md does, for the better of Polars' eager and lazy
APIs: `mem` (the DataFrame already in memory,
rechunked to one chunk per column)
and `read` (reading the IPC file inside the timing), in input rows per second, with the
full result materialized. Not part of the product or its tests: a calibration of the
host, since ANCHORS.md was measured on another machine.
"""
import statistics
import sys
import time

import polars as pl


def s0(df):
    return df.filter(pl.col("price") > 120).select(
        "symbol", "price", "quantity", (pl.col("price") * pl.col("quantity")).alias("value")
    )


def aggs():
    return [
        pl.len().alias("trade_count"),
        pl.col("price").mean().alias("avg_price"),
        pl.col("quantity").sum().alias("total_quantity"),
        (pl.col("price") * pl.col("quantity")).sum().alias("total_value"),
    ]


def s2(df):
    return df.group_by("trader_id", "symbol").agg(aggs())


def s3a(df):
    minute = pl.col("ts").cast(pl.Int64) // 60_000 * 60_000
    return df.group_by(minute.alias("window_start"), "trader_id", "symbol").agg(aggs())


def median_rate(f, rows):
    f()
    times = []
    for _ in range(5):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return rows / statistics.median(times)


def main():
    path = sys.argv[1]
    # one contiguous chunk per column, the engine's own in-memory format
    df = pl.read_ipc(path).rechunk()
    rows = df.height
    for name, q in [("S0", s0), ("S2", s2), ("S3a", s3a)]:
        # the better of Polars' eager and lazy engines (each wins somewhere)
        mem = {
            "eager": median_rate(lambda: q(df), rows),
            "lazy": median_rate(lambda: q(df.lazy()).collect(), rows),
        }
        read = {
            "eager": median_rate(lambda: q(pl.read_ipc(path)), rows),
            "lazy": median_rate(lambda: q(pl.scan_ipc(path)).collect(), rows),
        }
        best = lambda d: max(d.items(), key=lambda kv: kv[1])
        (mem_how, mem_rate), (read_how, read_rate) = best(mem), best(read)
        print(f"{name}: mem {mem_rate / 1e6:.1f} M rows/s ({mem_how}), "
              f"read {read_rate / 1e6:.1f} M rows/s ({read_how}), output rows {q(df).height}")


if __name__ == "__main__":
    main()
