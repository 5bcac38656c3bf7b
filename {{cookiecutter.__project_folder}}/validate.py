"""Check the backend against Packflow's I/O contract (check_io) on the sample inputs in sample_inputs.json.

Run `python validate.py`: exit 0 when the backend honours the contract, 1 with the reason when it does not.
`python -m packflow_export verify ARCHIVE --load` runs the same check on the exported archive in a clean
environment, so keep sample_inputs.json shaped like your production traffic.
"""

import json
import sys
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent
SAMPLE_INPUTS = PROJECT_DIR / "sample_inputs.json"


def load_samples():
    """The sample input records: a JSON list of objects, one per record."""
    return json.loads(SAMPLE_INPUTS.read_text(encoding="utf-8"))


def main() -> int:
    from packflow.loaders import InferenceBackendLoader

    try:
        samples = load_samples()
    except (OSError, ValueError) as exc:
        print(f"validate.py: cannot read {SAMPLE_INPUTS.name}: {exc}", file=sys.stderr)
        return 1
    try:
        backend = InferenceBackendLoader.from_project(PROJECT_DIR)
    except Exception as exc:  # noqa: BLE001 - any load failure is reported, not raised
        print(f"validate.py: could not load the backend from packflow.yaml: {exc}", file=sys.stderr)
        return 1
    try:
        outputs = backend.check_io(samples)
    except Exception as exc:  # noqa: BLE001 - the contract violation is the message
        cause = f" (caused by: {exc.__cause__})" if exc.__cause__ else ""
        print(f"validate.py: the backend breaks Packflow's I/O contract: {exc}{cause}", file=sys.stderr)
        return 1
    print(f"validate.py: OK, {len(outputs)} sample records passed check_io")
    return 0


if __name__ == "__main__":
    sys.exit(main())
