"""A trial's data as an MLflow dataset input: where it came from, its digest, its split sizes.

The digest is the one the feature cache keys on (`freezesweep.train.feature_cache.data_digest`:
SHA-256 of the train and validation images as the backbone sees them). MLflow keeps a dataset's
digest in 36 characters, so the digest field holds its first 32 hex digits and the source holds
all 64. Runs that saw the same images share one dataset in the experiment's "Datasets" column.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from mlflow.data.code_dataset_source import CodeDatasetSource
from mlflow.entities import Dataset, DatasetInput, InputTag

# MLflow's dataset digest column is 36 characters wide.
DIGEST_CHARS = 32


def dataset_input(record: Mapping[str, Any]) -> DatasetInput:
    """The MLflow dataset input of a trial's data record (`freezesweep.trial_records`).

    Args:
        record: `name`, `digest` (64 hex digits, or `None` for a streamed pipeline), `source`
            (the data settings it was built from) and `profile` (split sizes, classes, shape).
    """
    digest = record.get("digest")
    source = CodeDatasetSource({**record["source"], "sha256": digest})
    profile = dict(record["profile"])
    # A pipeline has no digest of its images: one of its description stands in for it.
    short = digest[:DIGEST_CHARS] if digest else _description_digest(record)
    dataset = Dataset(
        name=str(record["name"]),
        digest=short,
        source_type="code",
        source=source.to_json(),
        profile=json.dumps(profile),
    )
    return DatasetInput(dataset, tags=[InputTag("mlflow.data.context", "training")])


def _description_digest(record: Mapping[str, Any]) -> str:
    import hashlib

    text = json.dumps({**record, "digest": None}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:DIGEST_CHARS]
