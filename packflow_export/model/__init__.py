"""The project model: what reads a project, below the rules. Views of a folder or an archive's members, the files
an archive holds, git facts, packflow.yaml, requirements, sample inputs, the backend's modules, an archive's
records, and the context one run builds over them. Nothing here knows a rule: what reading finds wrong is a
Problem that a rule family reports.

Submodules are imported where used (start-up time is product): `from packflow_export.model.context import ...`.
"""
