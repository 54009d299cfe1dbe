"""Outputs: whole images predicted block by block (:mod:`.predict`), results turned into sources and
dtypes (:mod:`.results`), exported (:mod:`.export`), and many files by batch (:mod:`.batch`, with
:mod:`.blockwise` and :mod:`.on_dask`). Functions here take a project and use its public methods."""
from .batch import batch_predict
from .blockwise import predict_blockwise
from .on_dask import predict_dask
from .results import uncertainty_from

__all__ = ["batch_predict", "predict_blockwise", "predict_dask", "uncertainty_from"]
