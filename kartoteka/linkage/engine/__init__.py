"""The linkage engine: prepare records, train a Splink model, score pairs, cluster (docs/linkage.md).

No Django here (``runs`` is the database side): ``prepare_records`` → ``model_train`` → ``predict`` →
``cluster``, all in memory.
"""

from __future__ import annotations

from kartoteka.linkage.engine.features import OpenedRecord, prepare_records
from kartoteka.linkage.engine.model import ACCEPT, REVIEW, LinkModel, cluster, model_train, predict

__all__ = [
    "ACCEPT",
    "REVIEW",
    "LinkModel",
    "OpenedRecord",
    "cluster",
    "model_train",
    "predict",
    "prepare_records",
]
