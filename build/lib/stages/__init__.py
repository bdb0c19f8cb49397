"""The commands `dvc.yaml` runs, one per stage; each reads params, calls `mnist_pipeline` and writes artifacts."""
