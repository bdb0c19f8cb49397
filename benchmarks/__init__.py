"""Speed and latency benchmarks (not tests): `python -m benchmarks.speed`, `python -m benchmarks.latency`."""
