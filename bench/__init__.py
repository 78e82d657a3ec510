"""Performance benchmarks. Each prints ratios against a baseline measured in the same process,
because these machines are noisy; results are recorded in docs/benchmarks.md with their command."""
