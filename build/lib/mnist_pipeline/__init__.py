"""The library behind the pipeline: the stages in `stages/` are thin commands over it.

Sub-packages by concern: `data` (getting and checking the IDX files), `model` (architectures
and training), `evaluation` (scores, plots, the model card), `serving` (exports and the
runtime that answers with them). It never imports `stages`.
"""
