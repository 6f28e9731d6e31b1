"""Performance harness: `python -m benchmarks --quick --json PATH`.

Every speed figure is a ratio of two timings taken in the same run on the same machine, and the
machine's fp32 GEMM peak is measured in that run too, so results from different machines compare
as ratios. Timings live here, never in the tests.
"""
