"""The MNIST pipeline: one click command per DVC stage plus the small modules they share.

Stage modules (`download`, `prepare`, `train`, `evaluate`, `export`) are thin: they
read params, call pure functions from the shared modules and write artifacts.
"""
