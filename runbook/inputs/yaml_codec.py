"""PyYAML as the session, params and lab files are read and written: libyaml's C loader and dumper when present.

Its own module so that importing the store does not import PyYAML: `runbook status` on an unchanged session reads
the parsed twin (runbook.record.parsed) and never needs it.
"""
from __future__ import annotations

from typing import Any

import yaml

try:  # the C loader keeps big sessions fast
    from yaml import CSafeDumper as _Dumper
    from yaml import CSafeLoader as Loader
except ImportError:  # pragma: no cover - pyyaml without libyaml
    from yaml import SafeDumper as _Dumper  # type: ignore[assignment]
    from yaml import SafeLoader as Loader  # type: ignore[assignment]

YAMLError = yaml.YAMLError
__all__ = ["Dumper", "Loader", "YAMLError", "dump", "load"]


class Dumper(_Dumper):
    """Writes a value that appears twice out twice: the files we write never hold an alias (loading refuses them)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def load(text: str) -> Any:
    return yaml.load(text, Loader=Loader)


def dump(data: Any) -> str:
    return yaml.dump(data, Dumper=Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False, width=110)
