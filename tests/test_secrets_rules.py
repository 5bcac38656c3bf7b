"""The secret rules as data: every rule's examples are found and its counter-examples are not, through both
anchor finders; the rules file is checked (bounded, printable-only patterns); a fork adds and disables rules by
data alone; and the fallback finder's shortest run is derived from the rules."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from helpers import FORK_SECRET_RULES as FORK_RULES

from packflow_export import secrets
from packflow_export.secrets import (Finder, Hit, HyperscanFinder, PythonFinder, RuleSet, SecretRule, SecretRulesError,
                                     load_secret_rules, scan_chunks)
from packflow_export.secrets.checks import crc32_base62_suffix
from packflow_export.secrets.ruleset import compile_rule, parse_rules_file

RULES = secrets.default_rules()
FINDERS: dict[str, Finder] = {"bytes.find": PythonFinder(RULES), "hyperscan": HyperscanFinder(RULES)}
SINGLE = {
    (rule.id, name): kind(RULES.subset([rule.id]))
    for rule in RULES.content
    for name, kind in (("bytes.find", PythonFinder), ("hyperscan", HyperscanFinder))
}
CONTENT_CASES = [(rule.id, example, True) for rule in RULES.content for example in rule.examples] + [
    (rule.id, example, False) for rule in RULES.content for example in rule.counter_examples
]


def found(finder: Finder, text: str, name: str) -> list[Hit]:
    return scan_chunks([text.encode()], name, finder)[1]


@pytest.mark.parametrize("finder", list(FINDERS))
@pytest.mark.parametrize(
    "rule_id, example, must_match",
    CONTENT_CASES,
    ids=[f"{rule_id}-{'example' if must else 'counter'}{i}" for i, (rule_id, _, must) in enumerate(CONTENT_CASES)],
)
def test_rule_examples_through_both_finders(finder: str, rule_id: str, example: str, must_match: bool) -> None:
    """An example is found by its rule alone and by the whole set (where a more specific rule may win its line); a
    counter-example by neither."""
    rule = next(rule for rule in RULES.content if rule.id == rule_id)
    alone = SINGLE[(rule_id, finder)]
    hits, own = found(FINDERS[finder], example, rule.example_path), found(alone, example, rule.example_path)
    if must_match:
        assert hits and [hit.rule_id for hit in own] == [rule_id] * len(own) and own, (example, hits, own)
    else:
        assert hits == [] and own == [], (example, hits, own)


@pytest.mark.parametrize("rule", RULES.path_rules, ids=lambda rule: rule.id)
def test_path_rule_examples(rule: SecretRule) -> None:
    for example in rule.examples:
        assert RULES.name_rule(example) == rule, example
    for counter in rule.counter_examples:
        assert RULES.name_rule(counter) is None, counter


def test_every_bundled_rule_compiles_bounded_and_printable_and_has_a_source() -> None:
    RULES.compile_all()
    ids = RULES.ids
    assert len(ids) == len(set(ids)) and len(RULES.content) >= 60
    for rule in RULES.content + RULES.path_rules:
        assert re.match(r"https://", rule.docs), rule.id


def test_the_fallback_finder_run_length_is_the_shortest_match_any_rule_can_make() -> None:
    widths = [compile_rule(rule).pattern for rule in RULES.content]
    from packflow_export.secrets.ruleset import _parse

    shortest = min(_parse(rule).getwidth()[0] for rule in RULES.content)
    assert RULES.min_match_bytes == shortest and len(widths) == len(RULES.content)
    # The fallback finder reads binary files only in printable runs this long: a bundled rule that could match a
    # few bytes would make it read every run of random bytes (write such a rule to need more context).
    assert RULES.min_match_bytes >= 10, RULES.min_match_bytes
    # A rule with a shorter match lowers it, so the fallback never skips a run that could hold a secret.
    short = RuleSet(RULES.content + (RULES.content[0]._replace(id="short", keywords=("Q!",), pattern="Q![0-9]{2}"),))
    assert short.min_match_bytes == min(4, RULES.min_match_bytes)
    binary = b"\x00\x01" * 20 + b"Q!42" + b"\x00" * 20
    for finder in (PythonFinder(short), HyperscanFinder(short)):
        assert [hit.rule_id for hit in scan_chunks([binary], "x.bin", finder)[1]] == ["short"]


@pytest.mark.parametrize(
    "pattern, problem",
    [
        ("AB[0-9]+", "unbounded"),
        ("AB.{4}", "outside printable"),
        ("AB[^x]{4}", "outside printable"),
        ("(AB)\\1", "backreference"),
        ("AB\\S{3}", "outside printable"),
        ("AB[0-9]{4097}", "4096"),
        ("AB(", "not a valid"),
        ("AB[0-9]{3}", None),
    ],
)
def test_patterns_are_checked_when_compiled(pattern: str, problem: str | None) -> None:
    rule = RULES.content[0]._replace(id="probe", pattern=pattern, keywords=("AB",))
    if problem is None:
        compile_rule(rule)
        return
    with pytest.raises(SecretRulesError, match=problem) as caught:
        compile_rule(rule)
    assert "probe" in str(caught.value)


@pytest.mark.parametrize(
    "text, problem",
    [
        ("rules: [{id: x}]", "description is required"),
        ("rules: [{id: x, description: d, docs: u, pattern: 'a', keywords: [a]}]", "needs examples"),
        ("rules: [{id: x, description: d, docs: u, pattern: 'a', examples: [a]}]", "needs keywords"),
        ("rules: [{id: x, description: d, docs: u, paterns: 'a'}]", "unknown field 'paterns'"),
        ("rules: [{id: Bad Id, description: d, docs: u}]", "id must be"),
        (
            "rules: [{id: x, description: d, docs: u, validator: nope, pattern: a, keywords: [a], examples: [a]}]",
            "validator",
        ),
        ("rules: [{id: x, description: d, docs: u, entropy: 9, pattern: a, keywords: [a], examples: [a]}]", "entropy"),
        ("rule: []", "unknown key 'rule'"),
        ("[1, 2]", "must be a mapping"),
        ("rules: [x: [", "not valid YAML"),
    ],
)
def test_a_bad_rules_file_is_refused_naming_the_rule_and_field(text: str, problem: str) -> None:
    with pytest.raises(SecretRulesError, match=re.escape(problem)) as caught:
        parse_rules_file(text, "fork-rules.yaml")
    assert "fork-rules.yaml" in str(caught.value)


def test_a_fork_adds_and_disables_rules_by_data_alone(tmp_path: Path) -> None:
    """A throwaway rule in a file of the fork's own: the scan finds its example; disabling its id (or a bundled
    one) removes those findings; an unknown id is refused rather than ignored."""
    extra = tmp_path / "acme-rules.yaml"
    extra.write_text(FORK_RULES)
    text = "deploy with acmedk_q8w7e6r5t4y3u2i1o9p8a7s6 today\nthen ghp_k3J9x2LmQ8vR4tY7wB1nC5zD6fH0gA2sE9uI\n"
    assert [(hit.rule_id, hit.line) for hit in found(PythonFinder(RULES), text, "deploy.cfg")] == [("github-token", 2)]
    with_fork = load_secret_rules([extra])
    for finder in (PythonFinder(with_fork), HyperscanFinder(with_fork)):
        assert [(hit.rule_id, hit.line) for hit in found(finder, text, "deploy.cfg")] == [
            ("acme-deploy-key", 1),
            ("github-token", 2),
        ]
    assert secrets.name_rule("deploy/prod.acmevault", with_fork) == "ACME vault file"
    assert secrets.name_rule("deploy/prod.acmevault") is None
    off = ["acme-deploy-key", "github-token", "acme-vault-file", "dotenv-file"]
    disabled = load_secret_rules([extra], disabled=off)
    assert found(PythonFinder(disabled), text, "deploy.cfg") == []
    assert secrets.name_rule("deploy/prod.acmevault", disabled) is None and secrets.name_rule(".env", disabled) is None
    with pytest.raises(SecretRulesError, match="acme-typo"):
        load_secret_rules([extra], disabled=["acme-typo"])


def test_a_fork_rule_with_a_bundled_id_replaces_it(tmp_path: Path) -> None:
    extra = tmp_path / "override.yaml"
    extra.write_text(FORK_RULES.replace("acme-deploy-key", "github-token"))
    rules = load_secret_rules([extra])
    (github,) = [rule for rule in rules.content if rule.id == "github-token"]
    assert github.description == "ACME deploy key" and github.source == str(extra)


def test_checksummed_tokens_are_verified_by_their_crc() -> None:
    import random
    import zlib

    from packflow_export.secrets.checks import BASE62_DIGITS_FIRST, _base62

    body = "".join(random.Random(7).choice("abcdefghijkLMNOPQRSTUVWXYZ0123456789") for _ in range(30))
    checksum = _base62(zlib.crc32(body.encode()), BASE62_DIGITS_FIRST, 6).decode()
    assert crc32_base62_suffix(f"ghp_{body}{checksum}".encode()) is True
    assert crc32_base62_suffix(f"ghp_{body}AAAAAA".encode()) is None


def test_rule_files_are_parsed_once_per_process(tmp_path: Path) -> None:
    extra = tmp_path / "acme-rules.yaml"
    extra.write_text(FORK_RULES)
    from packflow_export.secrets.ruleset import read_rules_file

    assert read_rules_file(extra) is read_rules_file(extra)
    assert read_rules_file(Path(secrets.BUNDLED_RULES)) is read_rules_file(Path(secrets.BUNDLED_RULES))
