"""Jinja helpers the template needs that stock Jinja and cookiecutter lack."""

import sys

import yaml
from jinja2.ext import Extension


def yaml_string(value):
    """Render a value as a YAML double-quoted scalar that safe_load reads back exactly."""
    text = yaml.safe_dump(
        str(value), allow_unicode=True, default_style='"', width=float("inf")
    )
    return text.rstrip("\n")


def maintainer_list(value):
    """Split the comma-separated maintainers answer into a list of addresses."""
    return [part.strip() for part in str(value).split(",") if part.strip()]


def folder_name(value):
    """The slug as a folder name, or a harmless stand-in when it is a path, so nothing lands outside the output folder.

    The pre-generation hook then refuses the slug and cookiecutter removes the stand-in folder.
    """
    text = str(value)
    if not text or text in (".", "..") or any(char in text for char in "/\\\0:"):
        return "refused-project-slug"
    return text


class PackflowTemplateExtension(Extension):
    """Adds the running interpreter's version and the filters the template uses."""

    def __init__(self, environment):
        super().__init__(environment)
        environment.globals["running_python_version"] = "{}.{}.{}".format(*sys.version_info[:3])
        environment.filters["yaml_string"] = yaml_string
        environment.filters["maintainer_list"] = maintainer_list
        environment.filters["folder_name"] = folder_name
