"""The demo company's staff: teams by region, roles with grants, users, and the sales channels.

Staff are few (tens to a few hundred), so they go through the real services
(``create_team``, ``create_role``, ``create_user``), audit rows included.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dangol.core.models import Role, Team, User
from dangol.core.normalize import business_number_check_digit
from dangol.core.services import create_role, create_team, create_user
from dangol.core.visibility import Action, Scope


def business_number(i: int) -> str:
    """A valid, distinct 사업자등록번호 for the ``i``-th demo organization (i < 63,920,000):
    a tax office code (101-899), a corporation code (81-88), a four-digit serial number and the
    check digit (``core.normalize``), written ``123-81-45678``."""
    serial, rest = i % 10_000, i // 10_000
    office, kind = 101 + rest % 799, 81 + (rest // 799) % 8
    first9 = f"{office:03d}{kind:02d}{serial:04d}"
    return f"{first9[:3]}-{first9[3:5]}-{first9[5:]}{business_number_check_digit(first9)}"


V, A, C, D, E = Action.VIEW, Action.ADD, Action.CHANGE, Action.DELETE, Action.EXPORT

# Region teams: (team name, regions it serves). Each is a sales team with a store network.
REGION_TEAMS: list[tuple[str, tuple[str, ...]]] = [
    ("수도권 영업팀", ("seoul", "gyeonggi", "incheon")),
    ("영남 영업팀", ("busan", "daegu", "ulsan", "gyeongbuk", "gyeongnam")),
    ("호남·제주 영업팀", ("gwangju", "jeonbuk", "jeonnam", "jeju")),
    ("충청·강원 영업팀", ("daejeon", "sejong", "chungbuk", "chungnam", "gangwon")),
]
B2B_TEAM = "B2B 도매팀"
SERVICE_TEAM = "고객센터"
MARKETING_TEAM = "마케팅팀"
FIELD_TEAM = "현장서비스팀"
HQ_TEAM = "본사"

# Stores: (code, name, region).
STORES: list[tuple[str, str, str]] = [
    ("store-gangnam", "강남 플래그십스토어", "seoul"),
    ("store-hongdae", "홍대점", "seoul"),
    ("store-pangyo", "판교 현대점", "gyeonggi"),
    ("store-songdo", "송도점", "incheon"),
    ("store-seomyeon", "부산 서면점", "busan"),
    ("store-dongseongro", "대구 동성로점", "daegu"),
    ("store-gwangju", "광주 충장로점", "gwangju"),
    ("store-daejeon", "대전 둔산점", "daejeon"),
    ("store-jeju", "제주 공항점", "jeju"),
]
ONLINE_CHANNELS: list[tuple[str, str, str]] = [
    ("online", "단골 공식몰", "online"),
    ("app", "단골 앱", "app"),
    ("marketplace", "오픈마켓 입점몰", "marketplace"),
    ("call-center", "전화 주문", "call_center"),
    ("wholesale", "B2B 도매", "wholesale"),
]

ADMIN_EMAIL = "admin@dangol.local"
ADMIN_PASSWORD = "dangol-admin-2025"  # noqa: S105 - the public demo login
DEMO_PASSWORD = "dangol-demo-2025"  # noqa: S105 - the public demo login

CUSTOMER_TYPES = [
    "customers.customer",
    "customers.organization",
    "customers.contactpoint",
    "customers.address",
    "customers.consent",
    "customers.interaction",
    "customers.note",
    "sales.task",  # follow-up tasks: scoped like the customers (own / team / all)
]
COMMERCE_TYPES = [
    "commerce.order",
    "commerce.return",
    "commerce.payment",  # granted like returns: the money side of the same orders
    "commerce.product",
    "commerce.saleschannel",
]


def _grants(
    customer: tuple[list[Action], Scope], commerce: tuple[list[Action], Scope]
) -> dict[str, tuple[list[Action], Scope]]:
    grants = dict.fromkeys(CUSTOMER_TYPES, customer)
    grants.update(dict.fromkeys(COMMERCE_TYPES, commerce))
    return grants


ROLE_SPECS: dict[str, dict[str, Any]] = {
    "sales_rep": {
        "name": "영업 담당",
        "description": "Sales rep: works their own accounts.",
        "grants": {
            **_grants(([V, A, C], Scope.OWN), ([V, A, C], Scope.OWN)),
            "commerce.product": ([V], Scope.ALL),
            "commerce.saleschannel": ([V], Scope.ALL),
        },
        "pii": True,
    },
    "team_lead": {
        "name": "팀장",
        "description": "Team lead: the whole team's accounts, with export.",
        "grants": {
            **_grants(([V, A, C, D, E], Scope.TEAM), ([V, A, C, E], Scope.TEAM)),
            "commerce.product": ([V], Scope.ALL),
            "commerce.saleschannel": ([V], Scope.ALL),
        },
        "pii": True,
    },
    "marketer": {
        "name": "마케터",
        "description": "Marketing: sees and exports everyone, personal data masked.",
        "grants": _grants(([V, E], Scope.ALL), ([V, E], Scope.ALL)),
        "pii": False,
    },
    "service_agent": {
        "name": "상담원",
        "description": "Call center: every customer, may update them and log interactions.",
        "grants": {
            **_grants(([V, C], Scope.ALL), ([V, C], Scope.ALL)),
            "customers.interaction": ([V, A, C], Scope.ALL),
            "customers.note": ([V, A, C], Scope.ALL),
        },
        "pii": True,
    },
    "technician": {
        "name": "현장 기술자",
        "description": "Field service: the team's customers, logs visits.",
        "grants": {
            "customers.customer": ([V], Scope.TEAM),
            "customers.address": ([V], Scope.TEAM),
            "customers.contactpoint": ([V], Scope.TEAM),
            "customers.interaction": ([V, A, C], Scope.TEAM),
            "commerce.order": ([V], Scope.TEAM),
            "commerce.product": ([V], Scope.ALL),
        },
        "pii": True,
    },
}

# The login table printed at the end: (role label, key, e-mail, team).
LOGINS: list[tuple[str, str, str, str]] = [
    ("sales rep", "sales_rep", "sales@dangol.local", REGION_TEAMS[0][0]),
    ("team lead", "team_lead", "lead@dangol.local", REGION_TEAMS[0][0]),
    ("marketer", "marketer", "marketing@dangol.local", MARKETING_TEAM),
    ("service agent", "service_agent", "service@dangol.local", SERVICE_TEAM),
    ("technician", "technician", "technician@dangol.local", FIELD_TEAM),
]


@dataclass
class Company:
    """Ids the data generators need to assign owners, teams, staff and channels."""

    admin_id: int
    region_team: dict[str, int]  # region code → team id
    reps_by_team: dict[int, np.ndarray]  # team id → sales rep user ids
    b2b_team: int
    b2b_reps: np.ndarray
    agents: np.ndarray
    technicians: np.ndarray
    channels: dict[str, int]  # channel code → SalesChannel id
    store_by_region: dict[str, list[int]] = field(default_factory=dict)
    logins: list[tuple[str, str, str]] = field(default_factory=list)  # (role, e-mail, password)


def staff_counts(n_customers: int) -> dict[str, int]:
    """How many of each kind of staff a company of this size employs."""
    return {
        "reps_per_team": int(np.clip(n_customers // 25_000, 3, 40)),
        "b2b_reps": int(np.clip(n_customers // 50_000, 3, 20)),
        "agents": int(np.clip(n_customers // 10_000, 4, 80)),
        "technicians": int(np.clip(n_customers // 100_000, 2, 10)),
        "marketers": 3,
    }


def _person_name(i: int) -> str:
    family = "김이박최정강조윤장임한오서신권황안송류홍"
    given = ["민수", "지은", "현우", "수진", "준호", "예린", "태희", "성민", "하늘", "보람", "재희"]
    return family[i % len(family)] + given[(i * 7) % len(given)]


def build_company(
    n_customers: int,
    *,
    admin_email: str = ADMIN_EMAIL,
    admin_password: str = ADMIN_PASSWORD,
    demo_password: str = DEMO_PASSWORD,
) -> Company:
    """Create teams, roles, users and sales channels; returns their ids."""
    from dangol.commerce.models import SalesChannel

    counts = staff_counts(n_customers)
    hq = create_team(name=HQ_TEAM)
    admin = create_user(
        email=admin_email, password=admin_password, display_name="관리자", team=hq,
        is_superuser=True,
    )  # fmt: skip
    roles: dict[str, Role] = {
        key: create_role(
            name=spec["name"],
            description=spec["description"],
            grants=spec["grants"],
            can_view_pii=spec["pii"],
            actor=admin,
        )
        for key, spec in ROLE_SPECS.items()
    }
    teams: dict[str, Team] = {}
    for name in [t[0] for t in REGION_TEAMS] + [B2B_TEAM, SERVICE_TEAM, MARKETING_TEAM, FIELD_TEAM]:
        teams[name] = create_team(name=name, parent=hq, actor=admin)

    serial = 0

    def staff(role: str, team: str, n: int, prefix: str) -> list[User]:
        nonlocal serial
        users = []
        for k in range(n):
            serial += 1
            users.append(
                create_user(
                    email=f"{prefix}{k + 1:03d}@staff.dangol.local",
                    password=None,  # unusable: only the demo logins below can sign in
                    display_name=_person_name(serial),
                    team=teams[team],
                    role=roles[role],
                    actor=admin,
                )
            )
        return users

    logins = [("admin", admin.email, admin_password)]
    login_users: dict[str, User] = {}
    for label, key, email, team in LOGINS:
        login_users[key] = create_user(
            email=email, password=demo_password, display_name=f"데모 {ROLE_SPECS[key]['name']}",
            team=teams[team], role=roles[key], actor=admin,
        )  # fmt: skip
        logins.append((label, email, demo_password))

    reps_by_team: dict[int, np.ndarray] = {}
    region_team: dict[str, int] = {}
    for ti, (name, regions) in enumerate(REGION_TEAMS):
        tid = teams[name].pk
        reps = [u.pk for u in staff("sales_rep", name, counts["reps_per_team"], f"rep{ti + 1}-")]
        staff("team_lead", name, 1, f"lead{ti + 1}-")
        if ti == 0:
            reps.append(login_users["sales_rep"].pk)
        reps_by_team[tid] = np.array(reps, dtype=np.int64)
        for r in regions:
            region_team[r] = tid
    region_team["overseas"] = teams[REGION_TEAMS[0][0]].pk
    b2b = [u.pk for u in staff("sales_rep", B2B_TEAM, counts["b2b_reps"], "b2b-")]
    staff("team_lead", B2B_TEAM, 1, "b2b-lead-")
    agents = [u.pk for u in staff("service_agent", SERVICE_TEAM, counts["agents"], "agent")]
    agents.append(login_users["service_agent"].pk)
    techs = [u.pk for u in staff("technician", FIELD_TEAM, counts["technicians"], "tech")]
    techs.append(login_users["technician"].pk)
    staff("marketer", MARKETING_TEAM, counts["marketers"], "mkt")

    channels = [
        SalesChannel(code=code, name=name, kind=kind) for code, name, kind in ONLINE_CHANNELS
    ] + [SalesChannel(code=code, name=name, kind="store", region=r) for code, name, r in STORES]
    SalesChannel.objects.bulk_create(channels)
    by_code = {c.code: c.pk for c in SalesChannel.objects.all()}
    store_by_region: dict[str, list[int]] = {}
    for code, _name, r in STORES:
        store_by_region.setdefault(r, []).append(by_code[code])
    return Company(
        admin_id=admin.pk,
        region_team=region_team,
        reps_by_team=reps_by_team,
        b2b_team=teams[B2B_TEAM].pk,
        b2b_reps=np.array(b2b, dtype=np.int64),
        agents=np.array(agents, dtype=np.int64),
        technicians=np.array(techs, dtype=np.int64),
        channels=by_code,
        store_by_region=store_by_region,
        logins=logins,
    )
