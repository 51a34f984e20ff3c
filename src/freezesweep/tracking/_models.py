"""Trial models as MLflow models (the Keras flavor), and the study's registered model.

A trial's model is logged once into the trial's own run with MLflow's model machinery
(`mlflow.models.Model.log` with the `mlflow.keras` flavor): a LoggedModel of the run's
experiment, with a signature, an input example and the run's final metrics linked to it. Its id
is tagged on the run (`freezesweep.model_id`), so logging it again finds it instead. This is what
`mlflow.keras.log_model` calls, minus the global active run the project never uses:
`mlflow.keras.log_model` takes no run id, and without an active run its LoggedModel would land in
the default experiment, so the LoggedModel is initialized in the run's experiment first.

The study's registered model (named after the study) has one version per logged model it ever
pointed at; its aliases (`champion`, `knee`) move to another version when a later invocation of
the study finds a better trial. Nothing here imports Keras: the caller hands over the loaded
model, its example input and the model's output on it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.models import Model, infer_signature
from mlflow.tracking import MlflowClient

from freezesweep.spec import TrackingSpec
from freezesweep.tracking._store import client_for
from freezesweep.tracking._tags import MODEL_TAG

# The logged model's name (as the experiment's "Models" tab in the MLflow UI lists it).
MODEL_NAME = "model"


class _KerasFlavor:
    """`mlflow.keras` as `Model.log` calls it, with the model's folder made first.

    MLflow 3.17.2's `mlflow.keras.save_model` writes the input example before it creates the
    model's folder, so `mlflow.keras.log_model(..., input_example=...)` always fails with
    `FileNotFoundError` (mlflow/mlflow#16183, open; `tests/tracking/test_models.py` checks it is
    still so). Everything else is the Keras flavor itself: the MLmodel file names `keras` and its
    loader `mlflow.keras`. `validate_serving_input=False`: loading the model back is checked by
    the caller (`keras.saving.load_model(..., safe_mode=True)`), without MLflow's progress bar.
    """

    __name__ = "mlflow.keras"

    @staticmethod
    def save_model(path: str, **kwargs: Any) -> None:
        import mlflow.keras

        kwargs.pop("validate_serving_input", None)
        os.makedirs(path, exist_ok=True)
        mlflow.keras.save_model(path=path, **kwargs)


# One thread at a time may change the process's tracking URI.
_PROCESS_URI = threading.Lock()


@contextmanager
def _process_tracking_uri(uri: str) -> Iterator[None]:
    """`Model.log` reads the process's tracking URI (it takes no client); the caller's is put back
    afterwards, `$MLFLOW_TRACKING_URI` included (`mlflow.set_tracking_uri` writes it)."""
    with _PROCESS_URI:
        environment = os.environ.get("MLFLOW_TRACKING_URI")
        current = mlflow.get_tracking_uri() if mlflow.is_tracking_uri_set() else None
        # A URI that came from the environment is left to the environment, as it was.
        before = None if current == environment else current
        mlflow.set_tracking_uri(uri)
        try:
            yield
        finally:
            mlflow.set_tracking_uri(before)  # type: ignore[arg-type]  # None unsets it
            if environment is not None:
                os.environ["MLFLOW_TRACKING_URI"] = environment


def logged_model_id(spec: TrackingSpec, run_id: str) -> str | None:
    """The id of the model logged into run `run_id` by `log_keras_model`, else `None`."""
    return client_for(spec).get_run(run_id).data.tags.get(MODEL_TAG)


def log_keras_model(
    spec: TrackingSpec,
    run_id: str,
    model: Any,
    example: Any,
    prediction: Any,
    requirements: Sequence[str],
) -> str:
    """Log a Keras model as an MLflow model of run `run_id` (once) and return its model id.

    Args:
        spec: tracking settings.
        run_id: the trial's run (finished or not: the model is an output of it).
        model: the `keras.Model` (plain Keras: LoRA already merged).
        example: a few input rows, the model's input example.
        prediction: the model's output on `example` (for the signature).
        requirements: the pip requirements of the model's environment (pinned Keras and its
            backend: MLflow's own inference would load the model in a subprocess).

    Returns:
        The logged model's id (`models:/<id>` loads it).
    """
    client = client_for(spec)
    run = client.get_run(run_id)
    if MODEL_TAG in run.data.tags:
        return str(run.data.tags[MODEL_TAG])
    with _process_tracking_uri(spec.uri):
        logged = mlflow.initialize_logged_model(
            name=MODEL_NAME,
            source_run_id=run_id,
            params=dict(run.data.params),
            experiment_id=run.info.experiment_id,
        )
        Model.log(
            artifact_path=None,
            flavor=_KerasFlavor,
            name=MODEL_NAME,
            run_id=run_id,
            model_id=logged.model_id,
            model=model,
            signature=infer_signature(example, prediction),
            input_example=example,
            pip_requirements=list(requirements),
            validate_serving_input=False,
        )
    client.set_tag(run_id, MODEL_TAG, logged.model_id)
    return str(logged.model_id)


def register_aliases(
    spec: TrackingSpec,
    name: str,
    aliases: Mapping[str, str],
    version_tags: Mapping[str, Mapping[str, str]] | None = None,
) -> dict[str, str]:
    """Point each alias of registered model `name` at a version of its logged model.

    The registered model is created on first use; a logged model that already has a version
    keeps it (no duplicate versions), and an alias already on the right version is left alone.

    Args:
        spec: tracking settings.
        name: the registered model's name (the study's).
        aliases: alias -> logged model id (`{"champion": "m-...", "knee": "m-..."}`).
        version_tags: tags of a new version, by logged model id. Defaults to `None`.

    Returns:
        alias -> the version it points at.
    """
    client = client_for(spec)
    # A version's `models:/<id>` source is resolved through the process's tracking URI.
    with _process_tracking_uri(spec.uri):
        return _register(client, name, aliases, version_tags or {})


def _register(
    client: MlflowClient,
    name: str,
    aliases: Mapping[str, str],
    version_tags: Mapping[str, Mapping[str, str]],
) -> dict[str, str]:
    _registered_model(client, name)
    versions = {
        str(version.source): str(version.version)
        for version in client.search_model_versions(f"name = '{name}'")
    }
    pointed: dict[str, str] = {}
    for alias, model_id in aliases.items():
        source = f"models:/{model_id}"
        if source not in versions:
            created = client.create_model_version(
                name,
                source,
                run_id=client.get_logged_model(model_id).source_run_id,
                tags=dict(version_tags.get(model_id, {})),
                model_id=model_id,
            )
            versions[source] = str(created.version)
        if _alias_version(client, name, alias) != versions[source]:
            client.set_registered_model_alias(name, alias, versions[source])
        pointed[alias] = versions[source]
    return pointed


def _registered_model(client: MlflowClient, name: str) -> None:
    """Create registered model `name` unless it exists (another worker may create it first)."""
    try:
        client.create_registered_model(
            name, description=f"The freezesweep study {name}: aliases champion and knee."
        )
    except MlflowException as error:
        if error.error_code != "RESOURCE_ALREADY_EXISTS":
            raise


def _alias_version(client: MlflowClient, name: str, alias: str) -> str | None:
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException as error:
        if error.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise
        return None
