"""Check the backend against Packflow's I/O contract (check_io) on realistic sample inputs.

Run `python validate.py`: exit 0 when the backend honours the contract, 1 with the reason when it does not.
"""

import sys
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent

# Replace with records shaped like your production traffic; test_inference.py uses them too.
SAMPLE_INPUTS = [
    {"text": "This is a great product, I love it."},
    {"text": "The delivery was late."},
    {"text": ""},
]


def load_backend():
    """Load the backend exactly as a Packflow runtime does: from packflow.yaml."""
    from packflow.loaders import InferenceBackendLoader

    return InferenceBackendLoader.from_project(PROJECT_DIR)


def main() -> int:
    try:
        backend = load_backend()
    except Exception as exc:  # noqa: BLE001 - any load failure is reported, not raised
        print(f"validate.py: could not load the backend from packflow.yaml: {exc}", file=sys.stderr)
        return 1
    try:
        outputs = backend.check_io(SAMPLE_INPUTS)
    except Exception as exc:  # noqa: BLE001 - the contract violation is the message
        cause = f" (caused by: {exc.__cause__})" if exc.__cause__ else ""
        print(f"validate.py: the backend breaks Packflow's I/O contract: {exc}{cause}", file=sys.stderr)
        return 1
    print(f"validate.py: OK, {len(outputs)} sample records passed check_io")
    return 0


if __name__ == "__main__":
    sys.exit(main())
