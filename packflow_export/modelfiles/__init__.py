"""Static analysis of model files: it never executes or imports what it reads (no pickle.load, torch.load,
numpy.load(allow_pickle=True)); every pickle it finds is walked opcode by opcode and judged by an allow-list.

    scan = scan_model_file("model.pkl", lambda: open(path, "rb"))
    scan.format, scan.globals, scan.issues, scan.complete, scan.distributions
"""

from __future__ import annotations

from .allowlist import AllowList, AllowListError, bundled_allowlist, distribution_of, load_allowlist, read_allowlist
from .results import DEFAULT_LIMITS, Format, Issue, IssueKind, Limits, ModelScan
from .scan import scan_model_file, scan_path

__all__ = [
    "AllowList", "AllowListError", "DEFAULT_LIMITS", "Format", "Issue", "IssueKind", "Limits", "ModelScan",
    "bundled_allowlist", "distribution_of", "load_allowlist", "read_allowlist", "scan_model_file", "scan_path",
]
