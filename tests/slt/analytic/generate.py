#!/usr/bin/env python3
"""Writes the analytic .slt files of this directory with DuckDB's results.

Every expected row comes from DuckDB (`pip install duckdb`), never from velostream: each
case is run by DuckDB, and the rows it returns are written under the velostream query.

Velostream takes rows in arrival order (input order) and returns them in input order. To
ask DuckDB the same question, the generator
- numbers the input rows (`seq`, a column of every table) and sorts DuckDB's output by it;
- gives DuckDB an explicit order inside OVER where velostream's is arrival order (a case
  may carry its own DuckDB text for that);
- rewrites the Velostream `ROWS WINDOW BUFFER n ROWS` form to the standard frame;
- drops the velostream-only column types (VARCHAR_DICT, VARCHAR_VIEW) and `WITH (...)`.

Each group of cases is written once per (batch size, partitions) setting: the results
must not depend on either.

Usage: python3 tests/slt/analytic/generate.py   (from the repository root)
"""

import decimal
import math
import os
import re

import duckdb

HERE = os.path.dirname(os.path.abspath(__file__))

# ---------------------------------------------------------------------------------------
# tables

T_ROWS = [
    # seq, k, g, i, b, d, m, s, f
    (1, "'a'", 1, 5, 50, 1.5, "1.50", "'pear'", "true"),
    (2, "'b'", 2, 3, 30, 2.0, "2.25", "'fig'", "false"),
    (3, "'a'", 2, -2, -20, 4.25, "-3.10", "'apple'", "true"),
    (4, "'a'", 1, "NULL", 40, "NULL", "NULL", "NULL", "NULL"),
    (5, "NULL", 1, 7, 70, 3.5, "0.05", "'kiwi'", "false"),
    (6, "'b'", 1, 3, "NULL", 8.0, "10.00", "''", "true"),
    (7, "'a'", 2, "NULL", 60, "NULL", "4.00", "'zebra'", "false"),
    (8, "'c'", 1, 11, 110, -1.25, "7.75", "'date'", "true"),
    (9, "'a'", 1, 9, 90, 6.0, "NULL", "'banana'", "true"),
    (10, "'b'", 2, "NULL", 100, "NULL", "-1.00", "NULL", "false"),
    (11, "NULL", 2, 4, "NULL", 0.5, "2.50", "'kiwi'", "NULL"),
    (12, "'a'", 1, 1, 10, -3.0, "1.25", "'cherry'", "false"),
    (13, "'z'", 2, 42, 420, 42.0, "42.00", "'only'", "true"),
    (14, "'a'", 2, 8, 80, 2.5, "0.10", "'apple'", "true"),
    (15, "'b'", 1, -6, -60, 9.75, "3.30", "'lime'", "NULL"),
    (16, "'b'", 1, 2, 20, "NULL", "NULL", "'fig'", "true"),
    (17, "'a'", 2, 0, 0, 0.0, "0.00", "'melon'", "false"),
    (18, "NULL", 1, "NULL", "NULL", "NULL", "NULL", "NULL", "NULL"),
    (19, "'a'", 1, 12, 120, 7.5, "-0.55", "'apple'", "true"),
    (20, "'b'", 2, 5, 50, 1.0, "1.00", "'grape'", "false"),
    (21, "'a'", 2, 3, 30, 4.0, "2.00", "'pear'", "false"),
    (22, "'c'", 2, "NULL", 7, 2.25, "0.75", "NULL", "true"),
]


def t_table(key_type="VARCHAR", value_string_type="VARCHAR"):
    rows = ",\n".join(
        f"  ({seq}, {k}, {g}, TIMESTAMP '2024-01-01 00:00:{seq:02d}', {i}, {b}, {d}, {m}, {s}, {f})"
        for (seq, k, g, i, b, d, m, s, f) in T_ROWS
    )
    return (
        f"CREATE TABLE t (seq INTEGER, k {key_type}, g INTEGER, ts TIMESTAMP, i INTEGER, "
        f"b BIGINT, d DOUBLE, m DECIMAL(10,2), s {value_string_type}, f BOOLEAN) AS VALUES\n{rows}"
    )


# ties in ts within partitions (rows arrive sorted by ts), for RANK / DENSE_RANK
R_ROWS = [
    (1, "'x'", "'2024-01-01 00:00:01'", 10),
    (2, "'y'", "'2024-01-01 00:00:01'", 20),
    (3, "'x'", "'2024-01-01 00:00:01'", 30),
    (4, "'x'", "'2024-01-01 00:00:02'", 40),
    (5, "'y'", "'2024-01-01 00:00:03'", 50),
    (6, "'x'", "'2024-01-01 00:00:02'", 60),
    (7, "'x'", "'2024-01-01 00:00:02'", 70),
    (8, "NULL", "'2024-01-01 00:00:04'", 80),
    (9, "'y'", "'2024-01-01 00:00:03'", 90),
    (10, "'x'", "'2024-01-01 00:00:05'", 100),
    (11, "NULL", "'2024-01-01 00:00:04'", 110),
    (12, "'y'", "'2024-01-01 00:00:09'", 120),
]


def r_table():
    rows = ",\n".join(
        f"  ({seq}, {k}, TIMESTAMP {ts}, {v})" for (seq, k, ts, v) in R_ROWS
    )
    return f"CREATE TABLE r (seq INTEGER, k VARCHAR, ts TIMESTAMP, v INTEGER) AS VALUES\n{rows}"


# an integer event time (epoch milliseconds), named by WITH ('event.time.field' = ...)
E_TABLE = """CREATE TABLE e (seq INTEGER, k VARCHAR, et BIGINT, v DOUBLE) AS VALUES
  (1, 'p', 1000, 1.0),
  (2, 'q', 1000, 2.0),
  (3, 'p', 1000, 4.0),
  (4, 'p', 2000, 8.0),
  (5, 'q', 3000, 16.0),
  (6, 'p', 4000, 32.0)"""

# time RANGE frames: rows in order of ts, no two rows of a partition at the same ts (where
# DuckDB and the streaming frames agree), irregular gaps
Q_ROWS = [
    # seq, k, seconds, i, d, m, s
    (1, "'a'", 0, 5, 1.5, "1.50", "'pear'"),
    (2, "'b'", 2, 3, 2.0, "2.25", "'fig'"),
    (3, "'a'", 3, -2, 4.25, "-3.10", "'apple'"),
    (4, "'a'", 9, "NULL", "NULL", "NULL", "NULL"),
    (5, "NULL", 10, 7, 3.5, "0.05", "'kiwi'"),
    (6, "'b'", 12, 3, 8.0, "10.00", "''"),
    (7, "'a'", 13, "NULL", 6.5, "4.00", "'zebra'"),
    (8, "'a'", 14, 11, -1.25, "7.75", "'date'"),
    (9, "'b'", 21, 9, 6.0, "NULL", "'banana'"),
    (10, "'a'", 24, 4, "NULL", "-1.00", "'kiwi'"),
    (11, "NULL", 25, 4, 0.5, "2.50", "NULL"),
    (12, "'a'", 34, 1, -3.0, "1.25", "'cherry'"),
    (13, "'b'", 35, 42, 42.0, "42.00", "'only'"),
    (14, "'a'", 44, 8, 2.5, "0.10", "'apple'"),
    (15, "'b'", 45, -6, 9.75, "3.30", "'lime'"),
    (16, "'a'", 61, 2, "NULL", "NULL", "'fig'"),
    (17, "'a'", 62, 0, 0.0, "0.00", "'melon'"),
    (18, "'b'", 100, "NULL", "NULL", "NULL", "NULL"),
    (19, "'a'", 130, 12, 7.5, "-0.55", "'apple'"),
    (20, "'b'", 131, 5, 1.0, "1.00", "'grape'"),
]


def q_table():
    rows = ",\n".join(
        f"  ({seq}, {k}, TIMESTAMP '2024-01-01 00:{sec // 60:02d}:{sec % 60:02d}', {i}, {d}, {m}, {s})"
        for (seq, k, sec, i, d, m, s) in Q_ROWS
    )
    return (
        "CREATE TABLE q (seq INTEGER, k VARCHAR, ts TIMESTAMP, i INTEGER, d DOUBLE, "
        f"m DECIMAL(10,2), s VARCHAR) AS VALUES\n{rows}"
    )


# an integer event time without ties in a partition
F_TABLE = """CREATE TABLE f (seq INTEGER, k VARCHAR, et BIGINT, v DOUBLE) AS VALUES
  (1, 'p', 1000, 1.0),
  (2, 'q', 1000, 2.0),
  (3, 'p', 1500, 4.0),
  (4, 'p', 2600, 8.0),
  (5, 'q', 3000, 16.0),
  (6, 'p', 4000, 32.0),
  (7, 'p', 4100, 64.0)"""

# ---------------------------------------------------------------------------------------
# cases: (comment, velostream SQL[, DuckDB SQL])

W3 = "PARTITION BY k ORDER BY ts ROWS BETWEEN 2 PRECEDING AND CURRENT ROW"

FUNCTIONS = [
    ("ROW_NUMBER, RANK, DENSE_RANK (ts distinct: ranks are row numbers), COUNT(*), COUNT(x)",
     f"SELECT seq, k, ROW_NUMBER() OVER (PARTITION BY k ORDER BY ts), RANK() OVER (PARTITION BY k ORDER BY ts), "
     f"DENSE_RANK() OVER (PARTITION BY k ORDER BY ts), COUNT(*) OVER ({W3}), COUNT(i) OVER ({W3}), "
     f"COUNT(s) OVER ({W3}) FROM t"),
    ("SUM over a 3-row frame: INTEGER and BIGINT give HUGEINT, DOUBLE gives DOUBLE, DECIMAL(10,2) gives DECIMAL(38,2)",
     f"SELECT seq, SUM(i) OVER ({W3}), SUM(b) OVER ({W3}), SUM(d) OVER ({W3}), SUM(m) OVER ({W3}) FROM t"),
    ("AVG over a 3-row frame (a frame of NULLs gives NULL)",
     f"SELECT seq, AVG(i) OVER ({W3}), AVG(b) OVER ({W3}), AVG(d) OVER ({W3}), ROUND(AVG(m) OVER ({W3}), 9) FROM t"),
    ("MIN / MAX of numbers and decimals",
     f"SELECT seq, MIN(i) OVER ({W3}), MAX(i) OVER ({W3}), MIN(d) OVER ({W3}), MAX(d) OVER ({W3}), "
     f"MIN(m) OVER ({W3}), MAX(m) OVER ({W3}) FROM t"),
    ("MIN / MAX of strings, timestamps and booleans",
     f"SELECT seq, MIN(s) OVER ({W3}), MAX(s) OVER ({W3}), MIN(ts) OVER ({W3}), MAX(ts) OVER ({W3}), "
     f"MIN(f) OVER ({W3}), MAX(f) OVER ({W3}) FROM t"),
    ("STDDEV / VARIANCE family (rounded: the last bits depend on the summation order)",
     f"SELECT seq, ROUND(STDDEV(d) OVER ({W3}), 9), ROUND(STDDEV_SAMP(i) OVER ({W3}), 9), "
     f"ROUND(STDDEV_POP(d) OVER ({W3}), 9), ROUND(VARIANCE(b) OVER ({W3}), 9), "
     f"ROUND(VAR_SAMP(d) OVER ({W3}), 9), ROUND(VAR_POP(i) OVER ({W3}), 9) FROM t"),
    ("STDDEV / VARIANCE of decimals",
     f"SELECT seq, ROUND(STDDEV_POP(m) OVER ({W3}), 9), ROUND(VAR_SAMP(m) OVER ({W3}), 9) FROM t"),
    ("FIRST_VALUE (NULL when the frame's first value is NULL) and LAST_VALUE",
     f"SELECT seq, FIRST_VALUE(i) OVER ({W3}), FIRST_VALUE(d) OVER ({W3}), FIRST_VALUE(s) OVER ({W3}), "
     f"FIRST_VALUE(f) OVER ({W3}), FIRST_VALUE(m) OVER ({W3}), LAST_VALUE(i) OVER ({W3}), "
     f"LAST_VALUE(s) OVER ({W3}) FROM t"),
    ("LAG with offsets and defaults",
     "SELECT seq, LAG(i) OVER (PARTITION BY k ORDER BY ts), LAG(i, 2) OVER (PARTITION BY k ORDER BY ts), "
     "LAG(i, 2, -1) OVER (PARTITION BY k ORDER BY ts), LAG(s, 1, 'none') OVER (PARTITION BY k ORDER BY ts), "
     "LAG(d, 3) OVER (PARTITION BY k ORDER BY ts), LAG(i, 0) OVER (PARTITION BY k ORDER BY ts) FROM t"),
    ("LAG of timestamps, booleans, decimals and BIGINT with a default",
     "SELECT seq, LAG(ts) OVER (PARTITION BY k ORDER BY ts), LAG(f) OVER (PARTITION BY k ORDER BY ts), "
     "LAG(m, 1, 9.99) OVER (PARTITION BY k ORDER BY ts), LAG(b, 4, 0) OVER (PARTITION BY k ORDER BY ts) FROM t"),
    ("a partition by an integer, and by two keys",
     "SELECT seq, SUM(i) OVER (PARTITION BY g ORDER BY ts ROWS 2 PRECEDING), "
     "ROW_NUMBER() OVER (PARTITION BY k, g ORDER BY ts), MAX(s) OVER (PARTITION BY g, k ORDER BY ts ROWS 1 PRECEDING) FROM t"),
    ("named windows: OVER w, and OVER (w <frame>) refining a window without a frame",
     "SELECT seq, AVG(d) OVER w3, MIN(i) OVER w3, SUM(b) OVER (w ROWS BETWEEN 1 PRECEDING AND CURRENT ROW), "
     "ROW_NUMBER() OVER w FROM t WINDOW w AS (PARTITION BY k ORDER BY ts), "
     "w3 AS (PARTITION BY k ORDER BY ts ROWS BETWEEN 2 PRECEDING AND CURRENT ROW)"),
    ("the Velostream form ROWS WINDOW BUFFER n ROWS gives the standard form's results",
     "SELECT seq, AVG(d) OVER (ROWS WINDOW BUFFER 3 ROWS PARTITION BY k ORDER BY ts), "
     "MAX(i) OVER (ROWS WINDOW BUFFER 2 ROWS ORDER BY ts PARTITION BY k), "
     "COUNT(*) OVER (ROWS WINDOW BUFFER 1 ROWS PARTITION BY k), "
     "SUM(i) OVER (ROWS WINDOW BUFFER 100 ROWS PARTITION BY k ORDER BY ts) FROM t",
     "SELECT seq, AVG(d) OVER (PARTITION BY k ORDER BY ts ROWS BETWEEN 2 PRECEDING AND CURRENT ROW), "
     "MAX(i) OVER (PARTITION BY k ORDER BY ts ROWS BETWEEN 1 PRECEDING AND CURRENT ROW), "
     "COUNT(*) OVER (PARTITION BY k ORDER BY seq ROWS BETWEEN 0 PRECEDING AND CURRENT ROW), "
     "SUM(i) OVER (PARTITION BY k ORDER BY ts ROWS BETWEEN 99 PRECEDING AND CURRENT ROW) FROM t"),
    ("the Velostream form in a named window",
     "SELECT seq, AVG(d) OVER w, COUNT(*) OVER w FROM t WINDOW w AS (ROWS WINDOW BUFFER 3 ROWS PARTITION BY k ORDER BY ts)",
     "SELECT seq, AVG(d) OVER w, COUNT(*) OVER w FROM t WINDOW w AS (PARTITION BY k ORDER BY ts ROWS BETWEEN 2 PRECEDING AND CURRENT ROW)"),
    ("... and the same calls in the standard form",
     "SELECT seq, AVG(d) OVER (PARTITION BY k ORDER BY ts ROWS BETWEEN 2 PRECEDING AND CURRENT ROW), "
     "MAX(i) OVER (PARTITION BY k ORDER BY ts ROWS BETWEEN 1 PRECEDING AND CURRENT ROW), "
     "COUNT(*) OVER (PARTITION BY k ROWS BETWEEN 0 PRECEDING AND CURRENT ROW), "
     "SUM(i) OVER (PARTITION BY k ORDER BY ts ROWS BETWEEN 99 PRECEDING AND CURRENT ROW) FROM t",
     "SELECT seq, AVG(d) OVER (PARTITION BY k ORDER BY ts ROWS BETWEEN 2 PRECEDING AND CURRENT ROW), "
     "MAX(i) OVER (PARTITION BY k ORDER BY ts ROWS BETWEEN 1 PRECEDING AND CURRENT ROW), "
     "COUNT(*) OVER (PARTITION BY k ORDER BY seq ROWS BETWEEN 0 PRECEDING AND CURRENT ROW), "
     "SUM(i) OVER (PARTITION BY k ORDER BY ts ROWS BETWEEN 99 PRECEDING AND CURRENT ROW) FROM t"),
    ("SELECT * with analytic columns, and a LIMIT",
     "SELECT *, ROW_NUMBER() OVER (PARTITION BY k ORDER BY ts) AS n FROM t LIMIT 6",
     "SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY k ORDER BY ts) AS n FROM t) ORDER BY seq LIMIT 6"),
]

FRAMES = [
    ("frame of 1 row: the current row's own value",
     "SELECT seq, SUM(d) OVER (PARTITION BY k ORDER BY ts ROWS BETWEEN CURRENT ROW AND CURRENT ROW), "
     "AVG(i) OVER (PARTITION BY k ORDER BY ts ROWS 0 PRECEDING), MIN(s) OVER (PARTITION BY k ORDER BY ts ROWS CURRENT ROW), "
     "COUNT(d) OVER (PARTITION BY k ORDER BY ts ROWS 0 PRECEDING), FIRST_VALUE(d) OVER (PARTITION BY k ORDER BY ts ROWS 0 PRECEDING), "
     "ROUND(STDDEV_POP(d) OVER (PARTITION BY k ORDER BY ts ROWS 0 PRECEDING), 9) FROM t"),
    ("frame of 2 rows",
     "SELECT seq, SUM(d) OVER w, AVG(i) OVER w, MIN(d) OVER w, MAX(s) OVER w, COUNT(d) OVER w, "
     "FIRST_VALUE(s) OVER w, ROUND(STDDEV(d) OVER w, 9), SUM(m) OVER w FROM t "
     "WINDOW w AS (PARTITION BY k ORDER BY ts ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)"),
    ("frame of 100 rows (larger than any partition)",
     "SELECT seq, SUM(d) OVER w, AVG(i) OVER w, MIN(d) OVER w, MAX(s) OVER w, COUNT(d) OVER w, "
     "FIRST_VALUE(s) OVER w, ROUND(VAR_POP(d) OVER w, 9), MAX(f) OVER w FROM t "
     "WINDOW w AS (PARTITION BY k ORDER BY ts ROWS BETWEEN 99 PRECEDING AND CURRENT ROW)"),
    ("UNBOUNDED PRECEDING",
     "SELECT seq, SUM(d) OVER w, AVG(i) OVER w, MIN(d) OVER w, MAX(s) OVER w, COUNT(*) OVER w, "
     "FIRST_VALUE(s) OVER w, FIRST_VALUE(i) OVER w, ROUND(STDDEV(d) OVER w, 9), SUM(b) OVER w FROM t "
     "WINDOW w AS (PARTITION BY k ORDER BY ts ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"),
    ("the shorthand ROWS UNBOUNDED PRECEDING, and the default frame with ORDER BY (RANGE UNBOUNDED PRECEDING; ts has no ties)",
     "SELECT seq, SUM(i) OVER (PARTITION BY k ORDER BY ts ROWS UNBOUNDED PRECEDING), "
     "MAX(d) OVER (PARTITION BY k ORDER BY ts), COUNT(s) OVER (PARTITION BY k ORDER BY ts RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW), "
     "MIN(f) OVER (PARTITION BY k ORDER BY ts) FROM t"),
    ("no PARTITION BY: the whole stream is one partition",
     "SELECT seq, SUM(i) OVER (ORDER BY ts ROWS 2 PRECEDING), ROW_NUMBER() OVER (ORDER BY ts), "
     "MAX(d) OVER (ROWS BETWEEN 3 PRECEDING AND CURRENT ROW), LAG(s) OVER (ORDER BY ts), "
     "COUNT(*) OVER (ROWS UNBOUNDED PRECEDING) FROM t",
     "SELECT seq, SUM(i) OVER (ORDER BY ts ROWS 2 PRECEDING), ROW_NUMBER() OVER (ORDER BY ts), "
     "MAX(d) OVER (ORDER BY seq ROWS BETWEEN 3 PRECEDING AND CURRENT ROW), LAG(s) OVER (ORDER BY ts), "
     "COUNT(*) OVER (ORDER BY seq ROWS UNBOUNDED PRECEDING) FROM t"),
    ("several OVER clauses with different partitions in one SELECT, in expressions",
     "SELECT seq, k, d - AVG(d) OVER (PARTITION BY k ORDER BY ts ROWS 2 PRECEDING) AS dev, "
     "ROW_NUMBER() OVER (PARTITION BY g ORDER BY ts) * 10 AS n10, "
     "CASE WHEN SUM(i) OVER (ORDER BY ts ROWS 3 PRECEDING) > 10 THEN 'hi' ELSE 'lo' END AS level, "
     "COALESCE(LAG(i) OVER (PARTITION BY k, g ORDER BY ts), 0) + i AS pair, "
     "MAX(d) OVER (PARTITION BY g ORDER BY ts ROWS 1 PRECEDING) - MIN(d) OVER (PARTITION BY g ORDER BY ts ROWS 1 PRECEDING) AS spread "
     "FROM t"),
    ("WHERE filters before the window: frames hold only the rows that pass",
     "SELECT seq, SUM(i) OVER (PARTITION BY k ORDER BY ts ROWS 1 PRECEDING), ROW_NUMBER() OVER (PARTITION BY k ORDER BY ts), "
     "LAG(s) OVER (PARTITION BY k ORDER BY ts) FROM t WHERE d IS NOT NULL AND seq % 3 <> 0"),
    ("a WHERE that keeps no row",
     "SELECT seq, SUM(i) OVER (PARTITION BY k ORDER BY ts ROWS 1 PRECEDING) FROM t WHERE seq > 100"),
]

RANKS = [
    ("RANK / DENSE_RANK: peers are rows of a partition with equal ts",
     "SELECT seq, k, RANK() OVER (PARTITION BY k ORDER BY ts), DENSE_RANK() OVER (PARTITION BY k ORDER BY ts), "
     "ROW_NUMBER() OVER (PARTITION BY k ORDER BY ts) FROM r",
     "SELECT seq, k, RANK() OVER (PARTITION BY k ORDER BY ts), DENSE_RANK() OVER (PARTITION BY k ORDER BY ts), "
     "ROW_NUMBER() OVER (PARTITION BY k ORDER BY ts, seq) FROM r"),
    ("RANK without ORDER BY: every row is a peer",
     "SELECT seq, RANK() OVER (PARTITION BY k), DENSE_RANK() OVER ()  FROM r"),
    ("ROWS frames over tied timestamps take the rows in arrival order",
     "SELECT seq, SUM(v) OVER (PARTITION BY k ORDER BY ts ROWS 1 PRECEDING), FIRST_VALUE(v) OVER (PARTITION BY k ORDER BY ts ROWS 2 PRECEDING), "
     "LAG(v) OVER (PARTITION BY k ORDER BY ts) FROM r",
     "SELECT seq, SUM(v) OVER (PARTITION BY k ORDER BY ts, seq ROWS 1 PRECEDING), FIRST_VALUE(v) OVER (PARTITION BY k ORDER BY ts, seq ROWS 2 PRECEDING), "
     "LAG(v) OVER (PARTITION BY k ORDER BY ts, seq) FROM r"),
    ("an integer event-time column named by 'event.time.field' may order the window",
     "SELECT seq, RANK() OVER (PARTITION BY k ORDER BY et), SUM(v) OVER (PARTITION BY k ORDER BY et ROWS 1 PRECEDING) "
     "FROM e WITH ('event.time.field' = 'et')",
     "SELECT seq, RANK() OVER (PARTITION BY k ORDER BY et), SUM(v) OVER (PARTITION BY k ORDER BY et, seq ROWS 1 PRECEDING) FROM e"),
]

R10 = "PARTITION BY k ORDER BY ts RANGE BETWEEN INTERVAL '10' SECOND PRECEDING AND CURRENT ROW"

RANGES = [
    ("a 10-second RANGE: COUNT(*), COUNT(x), SUM, AVG, MIN, MAX",
     f"SELECT seq, COUNT(*) OVER ({R10}), COUNT(i) OVER ({R10}), SUM(i) OVER ({R10}), SUM(d) OVER ({R10}), "
     f"AVG(i) OVER ({R10}), AVG(d) OVER ({R10}), MIN(i) OVER ({R10}), MAX(d) OVER ({R10}) FROM q"),
    ("DECIMAL sums, strings, FIRST_VALUE (NULL when the frame's first value is NULL) and LAST_VALUE",
     f"SELECT seq, SUM(m) OVER ({R10}), MIN(s) OVER ({R10}), MAX(s) OVER ({R10}), FIRST_VALUE(s) OVER ({R10}), "
     f"FIRST_VALUE(i) OVER ({R10}), FIRST_VALUE(m) OVER ({R10}), LAST_VALUE(d) OVER ({R10}), MIN(ts) OVER ({R10}) FROM q"),
    ("STDDEV / VARIANCE family (rounded)",
     f"SELECT seq, ROUND(STDDEV(d) OVER ({R10}), 9), ROUND(STDDEV_POP(i) OVER ({R10}), 9), "
     f"ROUND(VAR_SAMP(d) OVER ({R10}), 9), ROUND(VAR_POP(m) OVER ({R10}), 9) FROM q"),
    ("the duration shorthand: 10s, '10s', INTERVAL '10 seconds', RANGE 10s PRECEDING without BETWEEN, 1m, 500ms",
     "SELECT seq, SUM(i) OVER (PARTITION BY k ORDER BY ts RANGE BETWEEN 10s PRECEDING AND CURRENT ROW), "
     "SUM(i) OVER (PARTITION BY k ORDER BY ts RANGE BETWEEN '10s' PRECEDING AND CURRENT ROW), "
     "SUM(i) OVER (PARTITION BY k ORDER BY ts RANGE BETWEEN INTERVAL '10 seconds' PRECEDING AND CURRENT ROW), "
     "COUNT(*) OVER (PARTITION BY k ORDER BY ts RANGE 10s PRECEDING), "
     "COUNT(*) OVER (PARTITION BY k ORDER BY ts RANGE BETWEEN 1m PRECEDING AND CURRENT ROW), "
     "COUNT(*) OVER (PARTITION BY k ORDER BY ts RANGE BETWEEN 500ms PRECEDING AND CURRENT ROW) FROM q",
     "SELECT seq, SUM(i) OVER (PARTITION BY k ORDER BY ts RANGE BETWEEN INTERVAL '10' SECOND PRECEDING AND CURRENT ROW), "
     "SUM(i) OVER (PARTITION BY k ORDER BY ts RANGE BETWEEN INTERVAL '10' SECOND PRECEDING AND CURRENT ROW), "
     "SUM(i) OVER (PARTITION BY k ORDER BY ts RANGE BETWEEN INTERVAL '10' SECOND PRECEDING AND CURRENT ROW), "
     "COUNT(*) OVER (PARTITION BY k ORDER BY ts RANGE BETWEEN INTERVAL '10' SECOND PRECEDING AND CURRENT ROW), "
     "COUNT(*) OVER (PARTITION BY k ORDER BY ts RANGE BETWEEN INTERVAL '1' MINUTE PRECEDING AND CURRENT ROW), "
     "COUNT(*) OVER (PARTITION BY k ORDER BY ts RANGE BETWEEN INTERVAL '500' MILLISECOND PRECEDING AND CURRENT ROW) FROM q"),
    ("frame edges are inclusive: a row exactly 9 or 10 s back is in a 10 s frame, 11 s back is not; a span of 0 (or CURRENT ROW) is the row's own peers",
     "SELECT seq, COUNT(*) OVER (PARTITION BY k ORDER BY ts RANGE BETWEEN INTERVAL '9' SECOND PRECEDING AND CURRENT ROW), "
     "SUM(i) OVER (PARTITION BY k ORDER BY ts RANGE BETWEEN INTERVAL '11' SECOND PRECEDING AND CURRENT ROW), "
     "SUM(i) OVER (PARTITION BY k ORDER BY ts RANGE BETWEEN CURRENT ROW AND CURRENT ROW), "
     "SUM(i) OVER (PARTITION BY k ORDER BY ts RANGE BETWEEN INTERVAL '0' SECOND PRECEDING AND CURRENT ROW) FROM q"),
    ("RANGE UNBOUNDED PRECEDING, with and without BETWEEN",
     "SELECT seq, SUM(i) OVER (PARTITION BY k ORDER BY ts RANGE UNBOUNDED PRECEDING), "
     "MAX(s) OVER (PARTITION BY k ORDER BY ts RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW), "
     "COUNT(*) OVER (PARTITION BY k ORDER BY ts RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) FROM q"),
    ("a named window with a RANGE frame; ROW_NUMBER, RANK and LAG ignore the frame",
     "SELECT seq, AVG(d) OVER w, MAX(i) OVER w, COUNT(*) OVER w, ROW_NUMBER() OVER w, RANK() OVER w, LAG(i) OVER w, "
     "SUM(i) OVER (v RANGE BETWEEN INTERVAL '20' SECOND PRECEDING AND CURRENT ROW) FROM q "
     "WINDOW w AS (PARTITION BY k ORDER BY ts RANGE BETWEEN INTERVAL '15' SECOND PRECEDING AND CURRENT ROW), "
     "v AS (PARTITION BY k ORDER BY ts)"),
    ("no PARTITION BY, a one-minute frame; a RANGE frame beside a ROWS frame",
     "SELECT seq, SUM(i) OVER (ORDER BY ts RANGE BETWEEN INTERVAL '1' MINUTE PRECEDING AND CURRENT ROW), "
     "COUNT(*) OVER (ORDER BY ts RANGE BETWEEN INTERVAL '1' MINUTE PRECEDING AND CURRENT ROW), "
     "MIN(s) OVER (ORDER BY ts RANGE BETWEEN INTERVAL '30' SECOND PRECEDING AND CURRENT ROW), "
     "SUM(i) OVER (ORDER BY ts ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) FROM q"),
    ("WHERE filters before the frame",
     f"SELECT seq, SUM(i) OVER ({R10}), COUNT(*) OVER ({R10}) FROM q WHERE d IS NOT NULL AND seq % 4 <> 0"),
    ("an integer event-time column (epoch milliseconds): a plain number is milliseconds, a duration converts",
     "SELECT seq, SUM(v) OVER (PARTITION BY k ORDER BY et RANGE BETWEEN 1500 PRECEDING AND CURRENT ROW), "
     "SUM(v) OVER (PARTITION BY k ORDER BY et RANGE BETWEEN 2s PRECEDING AND CURRENT ROW), "
     "COUNT(*) OVER (PARTITION BY k ORDER BY et RANGE BETWEEN INTERVAL '1' SECOND PRECEDING AND CURRENT ROW) "
     "FROM f WITH ('event.time.field' = 'et')",
     "SELECT seq, SUM(v) OVER (PARTITION BY k ORDER BY et RANGE BETWEEN 1500 PRECEDING AND CURRENT ROW), "
     "SUM(v) OVER (PARTITION BY k ORDER BY et RANGE BETWEEN 2000 PRECEDING AND CURRENT ROW), "
     "COUNT(*) OVER (PARTITION BY k ORDER BY et RANGE BETWEEN 1000 PRECEDING AND CURRENT ROW) FROM f"),
]

# ---------------------------------------------------------------------------------------
# DuckDB

BUFFER = re.compile(r"ROWS WINDOW BUFFER (\d+) ROWS\s*([^)]*)\)", re.IGNORECASE)


def duck_sql(sql):
    """The velostream query as DuckDB reads it, with its rows in input (seq) order."""
    sql = re.sub(r"\s+WITH \(.*\)\s*$", "", sql)
    m = re.search(r"\bLIMIT\s+(\d+)\s*$", sql)
    limit = ""
    if m:
        limit = f" LIMIT {m.group(1)}"
        sql = sql[: m.start()]
    assert sql.startswith("SELECT "), sql
    inner = "SELECT seq AS __seq, " + sql[len("SELECT "):]
    return f"SELECT * EXCLUDE (__seq) FROM ({inner}) ORDER BY __seq{limit}"


def cell(v):
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        if math.isnan(v):
            return "NaN"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        r = repr(v)
        if "e" in r or "E" in r:
            r = format(decimal.Decimal(r), "f")
        if r.endswith(".0"):
            r = r[:-2]
        return r
    if isinstance(v, str):
        return v if v != "" else "(empty)"
    return str(v)


def type_letter(t):
    t = str(t)
    if t in ("INTEGER", "BIGINT", "HUGEINT", "SMALLINT", "TINYINT"):
        return "I"
    if t in ("DOUBLE", "FLOAT") or t.startswith("DECIMAL"):
        return "R"
    return "T"


def run_case(con, sql, duck):
    r = con.execute(duck if duck is not None else duck_sql(sql))
    types = "".join(type_letter(d[1]) for d in r.description)
    rows = r.fetchall()
    lines = [" ".join(cell(v) for v in row) for row in rows]
    return types, lines


def write_file(name, header, setup_duck, setup_velo, cases, settings):
    con = duckdb.connect()
    for s in setup_duck:
        # the harness's CREATE TABLE ... AS VALUES is CREATE + INSERT for DuckDB
        head, values = s.split(" AS VALUES", 1)
        con.execute(head)
        table = head.split()[2]
        con.execute(f"INSERT INTO {table} VALUES {values}")
    blocks = []
    for case in cases:
        comment, sql = case[0], case[1]
        duck = case[2] if len(case) > 2 else None
        if duck is not None:
            # explicit DuckDB text: the same rows in seq order
            duck = duck if "ORDER BY seq LIMIT" in duck else duck_sql(duck)
        types, lines = run_case(con, sql, duck)
        block = f"# {comment}\nquery {types}\n{sql}\n----\n" + "\n".join(lines) + "\n"
        blocks.append(block)
    for suffix, batch, parts in settings:
        out = [header.rstrip() + "\n"]
        out.append(f"# Generated by generate.py (expected rows from DuckDB {duckdb.__version__}); "
                   f"batch size {batch or 'whole table'}, {parts} partition(s).\n")
        if batch:
            out.append(f"statement ok\nSET batch_size = {batch}\n")
        if parts != 1:
            out.append(f"statement ok\nSET partitions = {parts}\n")
        for s in setup_velo:
            out.append(f"statement ok\n{s}\n")
        out.extend(blocks)
        path = os.path.join(HERE, f"{name}{suffix}.slt")
        with open(path, "w") as f:
            f.write("\n".join(out))
        print("wrote", path)


SETTINGS = [
    ("", None, 1),
    ("_batch1_p2", 1, 2),
    ("_batch3_p1", 3, 1),
    ("_batch3_p2", 3, 2),
]


def main():
    write_file(
        "functions",
        "# Every analytic function over ROWS frames, both syntaxes, named windows.",
        [t_table()],
        [t_table()],
        FUNCTIONS,
        SETTINGS,
    )
    write_file(
        "frames",
        "# Frame sizes 1, 2, 100 and UNBOUNDED; no PARTITION BY; several windows; WHERE.",
        [t_table()],
        [t_table()],
        FRAMES,
        SETTINGS,
    )
    # dictionary partition keys and view strings give the same rows
    write_file(
        "encodings",
        "# The functions cases again with a dictionary-encoded partition key and Utf8View strings.",
        [t_table()],
        [t_table("VARCHAR_DICT", "VARCHAR_VIEW")],
        FUNCTIONS[:9],
        [("", None, 1), ("_batch3_p2", 3, 2)],
    )
    write_file(
        "ranges",
        "# Time RANGE frames over rows in ts order without ties in a partition (where the streaming\n"
        "# frames are SQL's); ranges_arrival.slt has ties, late rows and NULL keys.",
        [q_table(), F_TABLE],
        [q_table(), F_TABLE],
        RANGES,
        [("", None, 1), ("_batch1_p2", 1, 2), ("_batch3_p2", 3, 2)],
    )
    write_file(
        "ranks",
        "# RANK / DENSE_RANK ties, arrival order over tied timestamps, an integer event time.",
        [r_table(), E_TABLE],
        [r_table(), E_TABLE],
        RANKS,
        [("", None, 1), ("_batch1_p2", 1, 2), ("_batch3_p2", 3, 2)],
    )


if __name__ == "__main__":
    main()
