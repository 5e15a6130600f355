"""Environments: one repository planned against dev, staging, prod or a preview, its namespaces
mapped and its resources changed by each kind's overlay.

An environment's namespace mapping is a prefix (`pr-123`: `company.team` -> `pr-123.company.team`)
or renames (`company` -> `company-staging`, and every namespace below it); it maps only the
repository's own namespaces, so a reference to another team's namespace is left as it is. What
else changes in a resource (a flow's triggers turned off, its labels and variables set) is the
kind's overlay (Settings.overlays), applied by the kind (kestrasync.kinds.base.Kind.in_environment).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kestrasync.model import in_namespace

ENVIRONMENT_VARIABLE = "KESTRA_SYNC_ENV"  # names the environment when --env does not


@dataclass(frozen=True)
class Environment:
    name: str
    prefix: str = ""
    renames: tuple[tuple[str, str], ...] = ()  # (from, to), the longest `from` first
    watch: bool = False  # `watch` may sync to this environment's server even when it is not local
    preview: str = ""  # --namespace-prefix: a throw-away copy under this prefix, its triggers off

    @property
    def label(self) -> str:
        """How plans name it: `staging`, `preview (prefix pr-123)`."""
        return f"{self.name} (prefix {self.preview})" if self.preview else self.name

    def namespace(self, namespace: str) -> str:
        """What one of the repository's namespaces is called in this environment."""
        for source, target in self.renames:
            if in_namespace(namespace, source):
                namespace = target + namespace[len(source):]
                break
        return f"{self.prefix}.{namespace}" if self.prefix else namespace

    @property
    def maps(self) -> bool:
        return bool(self.prefix or self.renames)


def variable_prefix(name: str) -> str:
    """`KESTRA_PROD_`: what an environment's own variables start with (its URL, its credentials)."""
    return "KESTRA_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper() + "_"


OWNER_LABEL = "kestra-sync.managed-by"  # ownership by label: the repository's name, on every flow it applies
