"""Everything one emulator instance holds: its config, each tenant's stores, the test hooks, the state file.

Open source Kestra has one tenant, `main`; in multi-tenant mode (Enterprise-like) every tenant named in a
path gets its own, independent stores on first use.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .config import EmulatorConfig
from .executions import Executions
from .flowservice import FlowService
from .hooks import Hooks
from .kvstore import KVStore
from .nsfiles import NamespaceFiles, namespace_files
from .statefile import StateWriter, read_state
from .store import FlowStore

MAIN_TENANT = "main"


@dataclass
class Tenant:
    flows: FlowStore
    kv: KVStore
    service: FlowService
    files: NamespaceFiles
    executions: Executions = field(default_factory=Executions)


class Emulator:
    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.hooks = Hooks(config.latency_ms)
        self.tenants: dict[str, Tenant] = {}
        self.writer = StateWriter(config.state_file, self.snapshot) if config.state_file else None
        if config.state_file:
            self._load(read_state(config.state_file))

    def tenant(self, name: str = MAIN_TENANT) -> Tenant:
        tenant = self.tenants.get(name)
        if tenant is None:
            flows = FlowStore(self._changed)
            version = self.config.kestra_version
            tenant = Tenant(flows, KVStore(self._changed, kestra_version=version), FlowService(flows, name, version),
                            namespace_files(name, version, self._changed))
            self.tenants[name] = tenant
        return tenant

    def clear(self) -> None:
        """Empty every store (the hooks' `reset` with `store: true`)."""
        for tenant in self.tenants.values():
            tenant.flows.clear()
            tenant.kv.clear()
            tenant.files.clear()
            tenant.executions.clear()

    def _changed(self) -> None:
        if self.writer is not None:
            self.writer.mark_dirty()

    def snapshot(self) -> dict:
        return {"tenants": {name: {"flows": t.flows.dump(), "kv": t.kv.dump(), "files": t.files.dump()}
                            for name, t in self.tenants.items()}}

    def _load(self, state: dict | None) -> None:
        for name, content in (state or {}).get("tenants", {}).items():
            tenant = self.tenant(name)
            tenant.flows.load(content.get("flows", []))
            tenant.kv.load(content.get("kv", []))
            tenant.files.load(content.get("files", []))
