"""labbook's configuration values, declared once with type, default and meaning."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import ranges

if TYPE_CHECKING:
    from sphinx.application import Sphinx
    from sphinx.config import Config

EXECUTE_MODES = ("auto", "cache", "force", "off")


@dataclass(frozen=True)
class Option:
    name: str
    default: Any
    types: tuple[type, ...]
    help: str
    env: str | None = None  # environment variable that overrides it (CI)


OPTIONS = (
    Option(
        "labbook_execute",
        "auto",
        (str,),
        "auto: run labs whose inputs changed, reuse cached results otherwise; "
        "cache: only recorded or cached results, never run; force: always run; "
        "off: render without running",
        env="LABBOOK_EXECUTE",
    ),
    Option(
        "labbook_provider", "netns", (str,), "provider of every lab that names none with :provider:"
    ),
    Option(
        "labbook_provider_force",
        "",
        (str,),
        "run every lab on this provider, whatever its :provider: says (labbook check --provider)",
        env="LABBOOK_PROVIDER",
    ),
    Option(
        "labbook_provider_options",
        {},
        (dict,),
        "options of the provider, e.g. {'inventory': 'inventory.yaml'} for ssh",
    ),
    Option(
        "labbook_labs_dir",
        "labs",
        (str,),
        "where a bare lab name (`.. lab:: macvlan`) is looked up, relative to conf.py",
    ),
    Option(
        "labbook_prompts",
        ["$ ", "# "],
        (list, tuple),
        "prompts that introduce a command in a console block",
    ),
    Option("labbook_timeout", 60.0, (int, float), "default :timeout: of a lab-run block (s)"),
    Option(
        "labbook_show_drift",
        True,
        (bool,),
        "show the actual output and the diff under a drifted block (else only warn)",
    ),
    Option(
        "labbook_stop_on_fail",
        False,
        (bool,),
        "stop a lab at its first failing step (like labbook check -x)",
        env="LABBOOK_STOP_ON_FAIL",
    ),
    Option(
        "labbook_no_apply",
        False,
        (bool,),
        "compare existing machines (ssh provider) with the pages without changing them: "
        "files are read, only :safe: lab-run blocks run (like labbook check --no-apply)",
        env="LABBOOK_NO_APPLY",
    ),
    Option(
        "labbook_cache_dir",
        "",
        (str,),
        "where results are cached; default: labbook-cache/ in the doctree directory",
    ),
    Option(
        "labbook_output_dir",
        "",
        (str,),
        "where the whole output of a command too long to show is kept (pages, reports "
        "and warnings show its first and last lines); default: labbook-output/ in the "
        "doctree directory",
    ),
    Option(
        "labbook_results",
        "",
        (str,),
        "recorded results: a directory (relative to conf.py) where a build that runs labs "
        "writes one JSON file per document, to commit with the pages; builds with "
        "labbook_execute = 'cache' show them. Empty: off",
    ),
    Option(
        "labbook_results_locked",
        False,
        (bool,),
        "never write labbook_results; note the documents whose recorded results would "
        "change (labbook check --locked)",
        env="LABBOOK_RESULTS_LOCKED",
    ),
)


def value(config: Config, name: str) -> Any:
    """The effective value: the environment override if set, else conf.py's."""
    opt = next(o for o in OPTIONS if o.name == name)
    if opt.env and os.environ.get(opt.env):
        raw = os.environ[opt.env]
        if isinstance(opt.default, bool):
            return raw.lower() in ("1", "true", "yes", "on")
        return raw
    return getattr(config, name)


def _apply_environment(config: Config) -> None:
    """Environment overrides become config values, so Sphinx sees that the configuration
    changed (``LABBOOK_EXECUTE=off`` then a plain build re-reads the documents)."""
    for opt in OPTIONS:
        if opt.env and os.environ.get(opt.env):
            setattr(config, opt.name, value(config, opt.name))


def _check(app: Sphinx, config: Config) -> None:
    from sphinx.errors import ConfigError

    from ..providers import provider_names

    _apply_environment(config)

    mode = value(config, "labbook_execute")
    if mode not in EXECUTE_MODES:
        raise ConfigError(
            f"labbook_execute = {mode!r}: write one of {', '.join(EXECUTE_MODES)}"
            " (or set LABBOOK_EXECUTE)"
        )
    try:
        ranges.seconds(value(config, "labbook_timeout"), like="labbook_timeout = 60")
    except ValueError as exc:
        raise ConfigError(f"labbook_timeout in conf.py: {exc}") from None
    for name in ("labbook_provider", "labbook_provider_force"):
        provider = value(config, name)
        if provider and provider not in provider_names():
            raise ConfigError(f"{name} = {provider!r}: write one of {', '.join(provider_names())}")


def _copybutton_prompts(app: Sphinx, config: Config) -> None:
    """With sphinx-copybutton installed, copying a console block leaves the prompts out."""
    import re

    if "sphinx_copybutton" in config.extensions and not getattr(
        config, "copybutton_prompt_text", "x"
    ):
        prompts = value(config, "labbook_prompts")
        config.copybutton_prompt_text = "|".join(re.escape(p) for p in prompts)
        config.copybutton_prompt_is_regexp = True
        config.copybutton_only_copy_prompt_lines = True


def add_config_value(app: Sphinx, name: str, default: Any, types: Any, description: str) -> None:
    """``app.add_config_value`` with ``rebuild="env"``; the description goes where Sphinx
    takes one (7.4 and later), so older releases still load the extension."""
    import inspect

    extra = (
        {"description": description}
        if "description" in inspect.signature(app.add_config_value).parameters
        else {}
    )
    app.add_config_value(name, default, "env", types=types, **extra)


def setup(app: Sphinx) -> None:
    for opt in OPTIONS:
        add_config_value(app, opt.name, opt.default, opt.types, opt.help)
    app.connect("config-inited", _check)
    app.connect("config-inited", _copybutton_prompts)
