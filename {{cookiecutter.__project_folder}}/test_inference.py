"""Tests for the backend, loaded through Packflow exactly as it will be in production."""

import json
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parent
SAMPLE_INPUTS = json.loads((PROJECT_DIR / "sample_inputs.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def backend():
    from packflow.loaders import InferenceBackendLoader

    return InferenceBackendLoader.from_project(PROJECT_DIR)


def test_backend_loads(backend):
    from packflow import InferenceBackend

    assert isinstance(backend, InferenceBackend)


def test_check_io_passes_on_sample_inputs(backend):
    outputs = backend.check_io(SAMPLE_INPUTS)
    assert len(outputs) == len(SAMPLE_INPUTS)


def test_single_record_returns_single_record(backend):
    output = backend(SAMPLE_INPUTS[0])
    assert isinstance(output, dict)
    json.dumps(output)


def test_example_scores_each_record_in_order(backend):
    """Specific to the example backend: replace with known cases of your model."""
    outputs = backend(SAMPLE_INPUTS)
    assert [out["word_count"] for out in outputs] == [len(r["text"].split()) for r in SAMPLE_INPUTS]


# Add real cases here: known inputs with the outputs your model must give, e.g.
# def test_known_positive_review(backend):
#     assert backend({"text": "great"})["label"] == "positive"
