"""The readiness rules, one module per family, and the two entry points that run them: on a project folder
(check, export) and on the members of an archive (verify).

Families and their codes: files PF1xx, config PF2xx, documents PF3xx, requirements PF4xx, backend PF5xx,
git PF6xx, tests PF7xx, contents PF8xx, archive PF9xx (verify) and load PF95x (verify --load).
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from ..findings import Report
from . import archive, backend, config, contents, documents, files, git, load, requirements, tests  # noqa: F401


class Options(NamedTuple):
    allowed_secrets: frozenset = frozenset()
    run_tests: bool = False
    test_timeout: float = 600.0


class Inspection(NamedTuple):
    """A project as the rules saw it: the report, and what export needs to write it."""

    report: Report
    config: "config.ProjectConfig"
    selection: object  # selection.Selection, or None when packflow.yaml cannot name the archive
    git: object  # gitinfo.GitRepo or None


def static_checks(view, project_config, policy, selection=None) -> list:
    """The families that read files and never run anything: files, config, documents, requirements, backend.

    selection: the files an archive of the project would hold (None for an archive: all its members are in it).
    """
    findings = list(project_config.findings)
    if not project_config.findings:
        findings += config.check_config(project_config, policy)
    findings += files.check_files(view)
    parsed = requirements.read_requirements(view)
    findings += requirements.check_requirements(view, parsed)
    findings += documents.check_documents(view, project_config, policy)
    findings += backend.check_backend(view, project_config)
    findings += backend.check_module_loader(view, project_config, parsed)
    modules = backend.project_modules(view, project_config)
    findings += backend.check_imports(modules, view, parsed)
    findings += backend.check_data_files(modules, view, selection)
    findings += backend.check_samples(view)
    return findings


def inspect_project(project: Path, policy, *, strict: bool = False, options: Options = Options(),
                    scan: bool = True) -> Inspection:
    """Every readiness rule over a project folder: static checks, git, the files an archive would hold, tests.

    scan=False leaves the content scan (secrets, stand-ins) to the caller: export runs it beside the writer.
    """
    from ..gitinfo import GitRepo
    from ..project import DirectoryView
    from ..selection import select_files

    view = DirectoryView(project)
    project_config = config.load_config(view)
    report = Report(view.label, policy, strict)
    name = project_config.text_field("name")
    selection = select_files(view.root, name) if name else None
    report.add(static_checks(view, project_config, policy, selection))
    repo, skipped = GitRepo.open(view.root)
    report.add(git.check_git(repo, skipped, project_config))
    if selection is not None:
        report.add(contents.check_walk(selection))
        report.add(contents.check_names(f.name for f in selection.files))
        needed = contents.required_files(view, project_config, backend.find_backend_module(view, project_config))
        report.add(contents.check_required(selection, needed))
        if scan:
            from ..project import open_regular, read_chunks

            report.add(contents.scan_contents([(f.name, f.size, lambda f=f: read_chunks(f.path, f.identity),
                                                lambda f=f: open_regular(f.path, f.identity)) for f in selection.files],
                                              options.allowed_secrets))
    if options.run_tests:
        report.add(tests.run_project_tests(view.root, options.test_timeout))
    return Inspection(report, project_config, selection, repo)
