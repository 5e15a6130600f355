"""How an emulator instance behaves: credentials, persistence, latency, tenancy and the Kestra version it imitates.

Kept free of third-party imports so that `kestrasync.emulator` can be imported (and its pytest plugin loaded)
without the `emulator` extra installed.
"""

from __future__ import annotations

from dataclasses import dataclass

KESTRA_VERSIONS = ("0.24", "1.0", "2.0")
# Full version strings reported by GET /api/v1/configs.
SERVED_VERSIONS = {"0.24": "0.24.0", "1.0": "1.0.0", "2.0": "2.0.0-SNAPSHOT"}


@dataclass(frozen=True)
class EmulatorConfig:
    """Settings of one emulator; the defaults follow Kestra's documentation examples (basic auth on, as in OSS 0.24+)."""

    username: str | None = "admin@kestra.io"  # None together with password None: no authentication
    password: str | None = "Admin1234"
    token: str | None = None  # a Bearer token also accepted (Enterprise-like); OSS rejects Bearer otherwise
    state_file: str | None = None
    latency_ms: int = 0
    multi_tenant: bool = False
    kestra_version: str = "1.0"  # "0.24" | "1.0" | "2.0" (2.0 serves errors as application/problem+json)

    def __post_init__(self) -> None:
        if self.kestra_version not in KESTRA_VERSIONS:
            raise ValueError(f"Unknown Kestra version {self.kestra_version!r}; choose one of {', '.join(KESTRA_VERSIONS)}.")
        if (self.username is None) != (self.password is None):
            raise ValueError("Give both a username and a password, or neither.")
        if self.latency_ms < 0:
            raise ValueError("Latency cannot be negative.")

    @property
    def auth_enabled(self) -> bool:
        return self.username is not None or self.token is not None

    @classmethod
    def from_options(cls, *, username: str | None, password: str | None, no_auth: bool, token: str | None,
                     state_file: str | None, latency_ms: int, multi_tenant: bool,
                     kestra_version: str) -> "EmulatorConfig":
        """Build a config from the `kestra-sync emulator` options, refusing contradictory combinations."""
        if no_auth and (username or password or token):
            raise ValueError("--no-auth cannot be combined with --username, --password or --token.")
        if (username is None) != (password is None):
            raise ValueError("--username and --password go together.")
        if no_auth:
            username = password = None
        elif username is None:
            username, password = cls.username, cls.password
        return cls(username=username, password=password, token=token, state_file=state_file,
                   latency_ms=latency_ms, multi_tenant=multi_tenant, kestra_version=kestra_version)
