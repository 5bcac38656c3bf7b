"""Inference backend of this Packflow project.

Packflow loads `{{ cookiecutter.__backend_class }}` from this module (see `inference_backend` in packflow.yaml)
and calls it with a list of records (dicts). Each call runs, in order:

    transform_inputs(records) -> execute(features) -> transform_outputs(results)

and must return one JSON-serialisable dict per input record, in the same order.
The example below computes simple text features so the project works out of the box:
replace it with your model, keeping the contract.
"""

from typing import Any, Dict, List

from packflow import InferenceBackend


class {{ cookiecutter.__backend_class }}(InferenceBackend):
    """Example backend: scores the `text` field of each record. Replace with your model."""

    def initialize(self) -> None:
        """Load model weights and other heavy state once, when the backend is created."""
        # Example: self.model = joblib.load(Path(__file__).parent / "model.joblib")
        self.positive_words = {"good", "great", "excellent", "love", "happy"}

    def transform_inputs(self, inputs: List[Dict[str, Any]]) -> List[str]:
        """Turn raw records into model features; must not drop or reorder records."""
        return [str(record.get("text", "")) for record in inputs]

    def execute(self, inputs: List[str]) -> List[Dict[str, Any]]:
        """Run the model on the features; keep this step to inference only."""
        results = []
        for text in inputs:
            words = text.lower().split()
            hits = sum(word.strip(".,!?") in self.positive_words for word in words)
            results.append({"word_count": len(words), "positive_hits": hits})
        return results

    def transform_outputs(self, outputs: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
        """Turn model output into JSON-serialisable records, one per input."""
        return [
            {**result, "label": "positive" if result["positive_hits"] else "neutral"}
            for result in outputs
        ]
