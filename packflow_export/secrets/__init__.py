"""Secret detection by file name and by content: the rules are data (rules.yaml, and a fork's own files), the
engine a linear prefiltered scan. rules/contents.py turns what it finds into findings."""

from __future__ import annotations

from .engine import (CHUNK_BYTES, CODE_SUFFIXES, FAST_FINDER_FROM_BYTES, MAX_HITS_PER_FILE, SAMPLE_BYTES, Finder,
                     Hit, HyperscanFinder, PythonFinder, Scanner, example_problems, finder_for, is_code, name_rule,
                     printable_runs, scan_chunks, sniff)
from .ruleset import (BUNDLED_RULES, WINDOW, RuleSet, SecretRule, SecretRulesError, configured_rules,
                      default_rules, load_secret_rules)

__all__ = ["BUNDLED_RULES", "CHUNK_BYTES", "CODE_SUFFIXES", "FAST_FINDER_FROM_BYTES", "MAX_HITS_PER_FILE",
           "SAMPLE_BYTES", "WINDOW", "Finder", "Hit", "HyperscanFinder", "PythonFinder", "RuleSet", "Scanner",
           "SecretRule", "SecretRulesError", "configured_rules", "default_rules", "example_problems", "finder_for",
           "is_code", "load_secret_rules", "name_rule", "printable_runs", "scan_chunks", "sniff"]
