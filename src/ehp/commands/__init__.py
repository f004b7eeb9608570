"""Command groups of the `ehp` CLI that join several layers (registries, benchmarks, synthetic data)."""
