"""The study's parent run as the study's summary: the addresses of its pages in the MLflow UI, the
best trial (tags and description), the search space (params).

MLflow 3.17's UI keeps chart layouts in the browser and picks its landing page from a switch in
the browser's memory, so what must show without configuring anything is an artifact of the
parent run, reached by one printed address: `comparison_url`.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from freezesweep.spec import TrackingSpec
from freezesweep.tracking._store import client_for, experiment_id
from freezesweep.tracking._study_progress import set_description, set_shared_tag
from freezesweep.tracking._study_runs import study_run_id
from freezesweep.tracking._tags import BEST_RUN_TAG, BEST_TRIAL_TAG, BEST_URL_TAG

# `mlflow ui` and `mlflow server` listen here unless told otherwise.
DEFAULT_UI = "http://127.0.0.1:5000"
# The comparison page, an artifact of the parent run (`freezesweep.study.comparison`).
COMPARISON_FILE = "comparison.html"
# Keeps the UI on its model-training pages (it opens on GenAI pages otherwise).
MODEL_TRAINING = "workflowType=machine_learning"


@dataclass(frozen=True)
class StudyPages:
    """Where a study's runs are in the MLflow UI.

    Args:
        base: the UI's address, e.g. `http://127.0.0.1:5000`.
        experiment: the study's experiment id.
        parent: the study's parent run id.
    """

    base: str
    experiment: str
    parent: str

    def route(self, run_id: str) -> str:
        """A run's page as a UI route, `#/experiments/<experiment>/runs/<run_id>`."""
        return f"#/experiments/{self.experiment}/runs/{run_id}"

    def url(self, run_id: str) -> str:
        """A run's page as an address to open."""
        return f"{self.base}/{self.route(run_id)}?{MODEL_TRAINING}"

    @property
    def comparison(self) -> str:
        """The parent run's comparison page in the artifact viewer: the one address to open."""
        route = f"{self.route(self.parent)}/artifacts/{COMPARISON_FILE}"
        return f"{self.base}/{route}?{MODEL_TRAINING}"


def ui_base(spec: TrackingSpec) -> str:
    """The MLflow UI's address: a tracking server's own (credentials and query dropped), else
    where `mlflow ui` listens by default over a local store.

    Args:
        spec: tracking settings.
    """
    if not spec.uri.startswith(("http://", "https://")):
        return DEFAULT_UI
    parts = urllib.parse.urlsplit(spec.uri)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def run_address(spec: TrackingSpec, client: MlflowClient, run_id: str) -> str:
    """A run's page in the MLflow UI, e.g. `http://127.0.0.1:5000/#/experiments/1/runs/<id>`.

    Args:
        spec: tracking settings.
        client: a client on the store.
        run_id: the run.
    """
    experiment = client.get_run(run_id).info.experiment_id
    return StudyPages(ui_base(spec), experiment, run_id).url(run_id)


def study_pages(spec: TrackingSpec, study_name: str) -> StudyPages:
    """The UI's address, the study's experiment and parent run (created on first use).

    Args:
        spec: tracking settings.
        study_name: the study (= experiment).
    """
    client = client_for(spec)
    experiment = experiment_id(client, spec, study_name)
    return StudyPages(ui_base(spec), experiment, study_run_id(client, experiment, study_name))


def summarize_study_run(
    spec: TrackingSpec,
    study_name: str,
    space: Mapping[str, str],
    best: tuple[int, str | None] | None,
) -> StudyPages:
    """Put the search space and the warm-start studies (params) and the best trial (tags,
    description) on the parent run.

    Params cannot change once logged: a parameter logged by an earlier invocation keeps its
    value (a resumed sweep's space is checked equal to the study's before it starts).

    Args:
        spec: tracking settings.
        study_name: the study (= experiment).
        space: `search_space.<name>` -> the distribution as text, and `warm_start` -> the
            studies the sampler started from (when any).
        best: the best trial's number and run id (`None`: not recorded), or `None` before any
            trial completed.

    Returns:
        The study's pages (`comparison` is the address to print).
    """
    pages = study_pages(spec, study_name)
    client = client_for(spec)
    logged = client.get_run(pages.parent).data.params
    for key, value in space.items():
        if key not in logged:
            _log_shared_param(client, pages.parent, key, value)
    best_line = ""
    if best is not None:
        number, run_id = best
        set_shared_tag(client, pages.parent, BEST_TRIAL_TAG, str(number))
        if run_id:
            set_shared_tag(client, pages.parent, BEST_RUN_TAG, run_id)
            set_shared_tag(client, pages.parent, BEST_URL_TAG, pages.url(run_id))
            best_line = f"Best trial: [trial-{number:04d}]({pages.route(run_id)}) (run `{run_id}`)."
        else:
            best_line = f"Best trial: {number} (its run was not recorded)."
    set_description(client, pages.experiment, pages.parent, study_name, best_line)
    return pages


def _log_shared_param(client: MlflowClient, run_id: str, key: str, value: str) -> None:
    """`client.log_param` on the parent run that workers finishing together both write: the same
    unique-key race as `set_shared_tag`, and a second try finds the equal value logged."""
    try:
        client.log_param(run_id, key, value)
    except MlflowException:
        client.log_param(run_id, key, value)
