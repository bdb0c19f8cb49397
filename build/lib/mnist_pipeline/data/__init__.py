"""Getting the dataset: IDX format, mirrors and checksums, the raw files and their checks."""
