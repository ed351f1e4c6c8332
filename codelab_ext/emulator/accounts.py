"""Accounts the emulator knows: AK/SK pairs, IAM users and their projects.

:data:`DEMO_ACCOUNT` is the account the demo, the embedded emulator and the tests use. Its keys are
**public constants** of this emulator: they open nothing anywhere else.

Demo account values (cn-north-4 is the default region):

=================  ===========================================
access key         ``CODELABEMULATORDEMO1``
secret key         ``codelabEmulatorDemoSecretKey000000000000``
project id         ``c0de1ab0000000000000000000000404`` (cn-north-4; every region in
                   :data:`DEMO_REGIONS` has its own, see ``DEMO_ACCOUNT.projects``)
IAM user/password  ``codelab-demo`` / ``codelab-demo-password``
IAM domain         ``codelab-demo`` (the account name)
SSH key pair       ``KeyPair-c0de``
=================  ===========================================
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ..regions import KNOWN_REGIONS

__all__ = [
    "DEMO_ACCOUNT",
    "DEMO_PROJECT_ID",
    "DEMO_REGION",
    "DEMO_REGIONS",
    "Account",
    "AccountBook",
    "make_project_ids",
]

DEMO_REGION = "cn-north-4"
DEMO_PROJECT_ID = "c0de1ab0000000000000000000000404"

#: regions the demo account has a project in: every region ModelArts runs in (the SDK's table,
#: :data:`codelab_ext.regions.KNOWN_REGIONS`), the default region first
DEMO_REGIONS = (DEMO_REGION, *(region for region in KNOWN_REGIONS if region != DEMO_REGION))


def make_project_ids(seed: str, regions: Iterable[str]) -> dict[str, str]:
    """Stable 32-hex-digit project ids, one per region, derived from ``seed``."""
    return {region: hashlib.sha256(f"{seed}:{region}".encode()).hexdigest()[:32] for region in regions}


@dataclass(frozen=True)
class Account:
    """One Huawei Cloud account as the emulator sees it.

    ``projects`` maps region names to project ids. ``security_token`` makes the AK/SK temporary: every
    signed request must then carry it as ``X-Security-Token``. ``iam_user``/``iam_password`` enable the
    IAM password sign-in (``iam_domain`` is the account name). ``repr`` hides every secret.
    """

    name: str
    access_key: str
    secret_key: str = field(repr=False)
    projects: Mapping[str, str] = field(default_factory=dict, hash=False)
    security_token: str | None = field(default=None, repr=False)
    iam_user: str | None = None
    iam_password: str | None = field(default=None, repr=False)
    iam_domain: str | None = None
    domain_id: str = ""
    user_id: str = ""
    key_pair_name: str = "KeyPair-0000"

    def __post_init__(self) -> None:
        if not self.access_key or not self.secret_key:
            raise ValueError(f"account {self.name!r} needs an access key and a secret key")
        object.__setattr__(self, "projects", dict(self.projects))
        if not self.iam_domain:
            object.__setattr__(self, "iam_domain", self.name)
        if not self.domain_id:
            object.__setattr__(
                self, "domain_id", hashlib.sha256(f"domain:{self.name}".encode()).hexdigest()[:32]
            )
        if not self.user_id:
            object.__setattr__(self, "user_id", hashlib.sha256(f"user:{self.name}".encode()).hexdigest()[:32])

    @property
    def project_ids(self) -> frozenset[str]:
        return frozenset(self.projects.values())

    def region_of(self, project_id: str) -> str | None:
        """The region of one of this account's projects (None when it is not one of them)."""
        for region, pid in self.projects.items():
            if pid == project_id:
                return region
        return None

    def public_view(self) -> dict[str, object]:
        """What the admin routes may show: no secret key, token or password."""
        return {
            "name": self.name,
            "access_key": self.access_key,
            "temporary": self.security_token is not None,
            "iam_user": self.iam_user,
            "iam_domain": self.iam_domain,
            "domain_id": self.domain_id,
            "projects": dict(self.projects),
        }


_DEMO_PROJECTS = make_project_ids("codelab-demo", DEMO_REGIONS)
_DEMO_PROJECTS[DEMO_REGION] = DEMO_PROJECT_ID

#: the demo account (public constants of the emulator; see the module docstring)
DEMO_ACCOUNT = Account(
    name="codelab-demo",
    access_key="CODELABEMULATORDEMO1",
    secret_key="codelabEmulatorDemoSecretKey000000000000",  # noqa: S106 (public demo constant)
    projects=_DEMO_PROJECTS,
    iam_user="codelab-demo",
    iam_password="codelab-demo-password",  # noqa: S106 (public demo constant)
    iam_domain="codelab-demo",
    domain_id="d0de1ab0000000000000000000000001",
    user_id="a0de1ab0000000000000000000000001",
    key_pair_name="KeyPair-c0de",
)


class AccountBook:
    """Lookup of accounts by access key, IAM user and project id."""

    def __init__(self, accounts: Iterable[Account]) -> None:
        self.accounts: tuple[Account, ...] = tuple(accounts)
        if not self.accounts:
            raise ValueError("the emulator needs at least one account")
        self._by_ak: dict[str, Account] = {}
        self._by_project: dict[str, Account] = {}
        for account in self.accounts:
            if account.access_key in self._by_ak:
                raise ValueError(f"two accounts share the access key {account.access_key!r}")
            self._by_ak[account.access_key] = account
            for project_id in account.projects.values():
                if project_id in self._by_project:
                    raise ValueError(f"two accounts share the project id {project_id!r}")
                self._by_project[project_id] = account

    def by_access_key(self, access_key: str) -> Account | None:
        return self._by_ak.get(access_key)

    def by_project(self, project_id: str) -> Account | None:
        return self._by_project.get(project_id)

    def by_iam_user(self, user: str, domain: str | None) -> Account | None:
        """The account whose IAM user is ``user`` (in ``domain``, when given)."""
        for account in self.accounts:
            if (
                account.iam_user
                and account.iam_user == user
                and (domain is None or account.iam_domain == domain)
            ):
                return account
        return None
