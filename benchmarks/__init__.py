"""Benchmark scripts; :mod:`benchmarks.makespan` holds the maths they share."""
