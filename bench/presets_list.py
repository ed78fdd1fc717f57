"""Benchmark: list and search presets in one organisation holding 100,000 presets, through the real API view.

Run from the project root (the first run seeds for a few minutes; later runs reuse the data):

    DJANGO_ENV=test DATABASE_URL=postgres://postgres@127.0.0.1:5432/chatpresets_bench \
        REDIS_URL=redis://127.0.0.1:6379/14 .venv/bin/python bench/presets_list.py

Options: `--requests N` (timed requests per case, default 200), `--explain-all` (EXPLAIN ANALYZE
every case, not only the slowest).

It creates and migrates its own database, seeds the organisation "bench" when it holds fewer than
100,000 presets, then calls GET /api/v1/orgs/bench/presets/ with Django's test client, so each request
crosses the whole stack: middleware, session authentication, membership lookup, role check, throttle
(Redis), django-filter, `PresetViewSet.scope_queryset`, pagination (COUNT + page) and the serializer.
No HTTP server or socket is involved. It prints p50/p95/max per case against the 100 ms p95 budget
and against GET /healthz through the same client (the fixed cost of a request), prints EXPLAIN
ANALYZE for the slowest case, and exits 1 when any case's p95 exceeds the budget.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatpresets.settings")
# Production runs without DEBUG; with it every query would also be appended to connection.queries.
os.environ.setdefault("DEBUG", "false")
# Two users x seven cases x ~220 requests exceed the default 1200/min per user. The throttle still
# runs on every request (a Redis round trip); it just never answers 429 here.
os.environ.setdefault("API_THROTTLE_USER_RATE", "1000000/min")

import django  # noqa: E402

django.setup()

import psycopg  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth.models import Permission  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402
from django.utils.text import slugify  # noqa: E402
from psycopg import sql  # noqa: E402

from presets.models import (  # noqa: E402
    Preset,
    PresetGroupObjectPermission,
    PresetUserObjectPermission,
    Scope,
    Status,
)
from tenancy.models import Membership, Organization, Role, Team, TeamMembership, User  # noqa: E402

ORG_SLUG = "bench"
PRESET_COUNT = 100_000
BATCH_SIZE = 2_000
BUDGET_MS = 100.0
SEED = 20_250_601
URL = f"/api/v1/orgs/{ORG_SLUG}/presets/"

# Ranked by how often they are drawn (weight 1/rank), so the first words are everywhere and the last
# ones are uncommon. No English stop words: to_tsvector would drop them.
WORD_TEXT = (
    "assistant customer support answer question write code review summary email translate data report "
    "policy product sales draft document style tone brief analysis user ticket query research legal "
    "contract clause marketing campaign copy blog article outline release notes changelog bug error "
    "stack trace python javascript typescript sql schema migration database index performance latency "
    "cache security audit compliance privacy incident postmortem meeting agenda minutes action items "
    "onboarding guide tutorial lesson quiz teacher student grammar spelling formal friendly concise "
    "detailed bullet table json yaml markdown format template persona expert senior junior reviewer "
    "editor writer translator french german spanish japanese chinese italian portuguese dutch korean "
    "finance budget forecast invoice expense revenue churn retention pricing discount refund shipping "
    "order inventory supplier logistics warehouse recruiting interview candidate resume job posting "
    "feedback survey sentiment classification extraction entity keyword headline slogan tagline "
    "newsletter social tweet linkedin press statement crisis escalation apology recipe travel itinerary "
    "fitness nutrition medical symptom disclaimer insurance claim mortgage tax accounting spreadsheet "
    "formula regex shell kubernetes docker terraform ansible pipeline deploy rollback monitoring alert "
    "dashboard metric kpi okr roadmap milestone sprint backlog story estimate architecture diagram "
    "api endpoint webhook oauth token encryption backup restore archive compression benchmark profiler"
)
WORDS = WORD_TEXT.split()
WORD_WEIGHTS = [1 / rank for rank in range(1, len(WORDS) + 1)]
TAG_TEXT = (
    "writing coding support sales marketing legal hr finance research translation education data "
    "devops security product design analytics ops internal external draft experimental customer "
    "onboarding email social seo sql python review summarise classify extract brainstorm qa "
    "compliance medical travel recipes"
)
TAGS = TAG_TEXT.split()
TAG_WEIGHTS = [1 / rank**0.8 for rank in range(1, len(TAGS) + 1)]
MODELS = ["gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "o3-mini", "llama-3.1-70b", "mistral-large"]
TEAM_SLUGS = ["platform", "support", "sales", "research", "legal", "marketing"]

COMMON_WORD = WORDS[0]  # drawn most often: matches most presets, the worst case for ranking
RARE_WORD = "quokka"  # planted in every RARE_EVERY-th preset's description only
RARE_EVERY = 5_000
TAG_CASE = "devops"
MEMBER = "bench-member-01"  # the measured ordinary member (role member, in two teams, with grants)
ADMIN = "bench-admin-1"  # the measured admin (sees every non-private preset)
MEMBER_TEAMS = ["support", "research"]
MEMBER_GRANTS = 200

CASES = [
    ("no params", ""),
    (f"q={COMMON_WORD} (common)", f"?q={COMMON_WORD}"),
    (f"q={RARE_WORD} (rare)", f"?q={RARE_WORD}"),
    (f"tag={TAG_CASE}", f"?tag={TAG_CASE}"),
    ("scope=org&ordering=name", "?scope=org&ordering=name"),
    ("page=50", "?page=50"),
]


# --- database ------------------------------------------------------------------------------------


def ensure_database() -> None:
    """Create the configured database (connecting to `postgres`) if missing, then migrate it."""
    db = settings.DATABASES["default"]
    if connection.vendor != "postgresql":
        raise SystemExit("The benchmark needs DATABASE_URL=postgres://…/chatpresets_bench")
    params = {"host": db["HOST"] or "127.0.0.1", "port": db["PORT"] or 5432, "user": db["USER"] or "postgres"}
    if db["PASSWORD"]:
        params["password"] = db["PASSWORD"]
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]).fetchone()
        if not exists:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db["NAME"])))
            print(f"created database {db['NAME']}")
    call_command("migrate", verbosity=0)


# --- seeding -------------------------------------------------------------------------------------


@dataclass
class People:
    org: Organization
    users: list[User]
    owner_weights: list[float]
    teams: dict[str, Team]
    team_members: dict[str, list[User]] = field(default_factory=dict)


def seed_people() -> People:
    """50 members of mixed roles and six teams. Plain ORM writes: services would audit each one."""
    org, _ = Organization.objects.get_or_create(slug=ORG_SLUG, defaults={"name": "Bench", "plan": "enterprise"})
    roles = (
        [("bench-owner", Role.OWNER)]
        + [(f"bench-admin-{n}", Role.ADMIN) for n in range(1, 3)]
        + [(f"bench-approver-{n}", Role.APPROVER) for n in range(1, 4)]
        + [(f"bench-member-{n:02d}", Role.MEMBER) for n in range(1, 41)]
        + [(f"bench-viewer-{n}", Role.VIEWER) for n in range(1, 5)]
    )
    users = []
    for username, role in roles:
        user, _ = User.objects.get_or_create(username=username, defaults={"email": f"{username}@bench.example"})
        Membership.objects.get_or_create(org=org, user=user, defaults={"role": role})
        users.append(user)
    teams = {
        slug: Team.objects.get_or_create(org=org, slug=slug, defaults={"name": slug.title()})[0] for slug in TEAM_SLUGS
    }
    rng = random.Random(SEED)
    people = People(org=org, users=users, owner_weights=[1 / (n + 2) ** 0.7 for n in range(len(users))], teams=teams)
    for user in users:
        slugs = MEMBER_TEAMS if user.username == MEMBER else rng.sample(TEAM_SLUGS, rng.choice([1, 1, 2]))
        for slug in slugs:
            people.team_members.setdefault(slug, []).append(user)
    for slug, members in people.team_members.items():
        for position, user in enumerate(members):
            TeamMembership.objects.get_or_create(
                org=org, team=teams[slug], user=user, defaults={"is_lead": position == 0}
            )
    return people


def words(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choices(WORDS, weights=WORD_WEIGHTS, k=rng.randint(low, high)))


def preset_text(rng: random.Random, number: int) -> dict[str, Any]:
    name = words(rng, 2, 4).title()
    description = words(rng, 8, 20).capitalize() + "."
    if number % RARE_EVERY == 0:
        description += f" Mentions the {RARE_WORD}."
    tags = list(dict.fromkeys(rng.choices(TAGS, weights=TAG_WEIGHTS, k=rng.choice([0, 1, 1, 2, 2, 3, 4]))))
    return {
        "name": name,
        "slug": f"{slugify(name)[:80]}-{number}",
        "description": description,
        "tags": tags,
        "system_prompt": f"You are a {words(rng, 25, 60)}.",
        "model": rng.choice(MODELS),
        "params": {"temperature": round(rng.uniform(0, 1.2), 1), "max_tokens": rng.choice([256, 512, 1024, 2048])},
    }


def preset_state(rng: random.Random, people: People) -> dict[str, Any]:
    """Scope, owner, team and review state: mostly private, some team, some org, a few public."""
    scope = rng.choices([Scope.PRIVATE, Scope.TEAM, Scope.ORG, Scope.PUBLIC], weights=[78, 12, 7, 3])[0]
    version = rng.choice([1, 1, 1, 2, 2, 3, 4, 6])
    state: dict[str, Any] = {"scope": scope, "version": version, "status": Status.DRAFT, "team": None}
    state["owner"] = rng.choices(people.users, weights=people.owner_weights)[0]
    if scope == Scope.TEAM:
        state["team"] = people.teams[rng.choice(TEAM_SLUGS)]
        state["owner"] = rng.choice(people.team_members[state["team"].slug])
    review = rng.random()
    if (scope == Scope.TEAM and review < 0.5) or (scope in (Scope.ORG, Scope.PUBLIC) and review < 0.8):
        state.update(status=Status.APPROVED, approved_version=version)
    elif scope in (Scope.ORG, Scope.PUBLIC) and review < 0.9:
        state.update(status=Status.PENDING_REVIEW, approved_version=version - 1 or None)
    if scope == Scope.PUBLIC and state["status"] == Status.APPROVED:
        state["public_approved_version"] = version
    return state


def build_preset(rng: random.Random, people: People, number: int, now: Any) -> Preset:
    state = preset_state(rng, people)
    if rng.random() < 0.02:
        state.update(deleted_at=now, deleted_by=state["owner"])
    return Preset(org=people.org, **preset_text(rng, number), **state)


def seed_presets(people: People) -> None:
    """Bulk insert. bulk_create skips save(), so there is no history row, no PresetVersion, no audit
    and no service rule: on purpose, the list never reads them. The BEFORE INSERT trigger still fills
    search_vector, exactly as for presets created through the API."""
    rng = random.Random(SEED)
    now = timezone.now()
    started = time.perf_counter()
    for start in range(0, PRESET_COUNT, BATCH_SIZE):
        batch = [build_preset(rng, people, number, now) for number in range(start, start + BATCH_SIZE)]
        Preset.objects.bulk_create(batch)
        if (start + BATCH_SIZE) % 20_000 == 0:
            print(f"  {start + BATCH_SIZE:>7,} presets ({time.perf_counter() - started:.0f} s)", flush=True)
    # auto_now stamps every row with the same instant; spread them over 18 months so that ordering
    # by -updated_at and the (org, deleted_at, -updated_at) index see a realistic distribution.
    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(0.42)")
        cursor.execute(
            """UPDATE presets_preset p SET updated_at = t.updated, created_at = t.updated - t.age
               FROM (SELECT id, now() - random() * interval '540 days' AS updated,
                            random() * interval '180 days' AS age
                     FROM presets_preset WHERE org_id = %s ORDER BY slug) t
               WHERE p.id = t.id""",
            [people.org.pk],
        )


def seed_grants(people: People) -> None:
    """Guardian object grants: the measured member may view 200 private presets of others; other
    users and team groups hold some grants too, so the grant subqueries read a non-trivial table."""
    rng = random.Random(SEED + 1)
    perms = {
        p.codename: p
        for p in Permission.objects.filter(content_type__app_label="presets", codename__endswith="_preset")
    }
    member = next(user for user in people.users if user.username == MEMBER)
    private = list(
        Preset.objects.for_org(people.org)
        .filter(scope=Scope.PRIVATE)
        .exclude(owner=member)
        .order_by("slug")
        .values_list("pk", flat=True)
    )
    grants = {(member.pk, "view_preset", pk) for pk in rng.sample(private, MEMBER_GRANTS)}
    while len(grants) < MEMBER_GRANTS + 1_500:
        grants.add(
            (
                rng.choice(people.users).pk,
                rng.choice(["use_preset", "view_preset", "change_preset"]),
                rng.choice(private),
            )
        )
    PresetUserObjectPermission.objects.bulk_create(
        PresetUserObjectPermission(user_id=user, permission=perms[codename], content_object_id=pk)
        for user, codename, pk in grants
    )
    team_grants = {
        (rng.choice(TEAM_SLUGS), rng.choice(["use_preset", "view_preset"]), rng.choice(private)) for _ in range(300)
    }
    PresetGroupObjectPermission.objects.bulk_create(
        PresetGroupObjectPermission(
            group_id=people.teams[slug].group_id, permission=perms[codename], content_object_id=pk
        )
        for slug, codename, pk in team_grants
    )


def seed() -> None:
    """Idempotent: does nothing when the organisation already holds 100,000 presets."""
    org = Organization.objects.filter(slug=ORG_SLUG).first()
    existing = Preset.objects.for_org(org).count() if org else 0
    if existing >= PRESET_COUNT:
        print(f"seed: organisation {ORG_SLUG!r} already holds {existing:,} presets")
        return
    print(f"seed: {PRESET_COUNT:,} presets into organisation {ORG_SLUG!r} (found {existing:,})", flush=True)
    started = time.perf_counter()
    with transaction.atomic():
        people = seed_people()
        if existing:  # a partial earlier seed: start over. Only the bench writes to this database.
            with connection.cursor() as cursor:
                for table in ("presets_presetuserobjectpermission", "presets_presetgroupobjectpermission"):
                    cursor.execute(
                        f"DELETE FROM {table} WHERE content_object_id IN "  # noqa: S608 (constant table names)
                        "(SELECT id FROM presets_preset WHERE org_id = %s)",
                        [org.pk],
                    )
                cursor.execute("DELETE FROM presets_preset WHERE org_id = %s", [org.pk])
        seed_presets(people)
        seed_grants(people)
    with connection.cursor() as cursor:
        # The timestamp UPDATE left a dead copy of every row: without VACUUM FULL the heap would be
        # twice its real size and every sequential scan twice as slow as on a live table.
        cursor.execute("VACUUM FULL presets_preset")
        cursor.execute("VACUUM ANALYZE")  # statistics and visibility map, as autovacuum would leave them
    print(f"seed: done in {time.perf_counter() - started:.0f} s", flush=True)


# --- measuring -----------------------------------------------------------------------------------


@dataclass
class Result:
    who: str
    case: str
    url: str
    timings_ms: list[float]
    matched: int | None = None
    queries: int = 0
    db_ms: float = 0.0

    @property
    def p50(self) -> float:
        return statistics.median(self.timings_ms)

    @property
    def p95(self) -> float:
        return statistics.quantiles(self.timings_ms, n=100, method="inclusive")[94]

    @property
    def max(self) -> float:
        return max(self.timings_ms)


def timed(client: Client, url: str, requests: int, warmup: int) -> list[float]:
    """Wall time of each request, in ms; any answer but 200 aborts the run."""
    timings = []
    gc.collect()
    for n in range(warmup + requests):
        started = time.perf_counter()
        response = client.get(url)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise SystemExit(f"GET {url} answered {response.status_code}: {response.content[:500]!r}")
        if n >= warmup:
            timings.append(elapsed)
    return timings


def measure_case(client: Client, who: str, case: str, url: str, requests: int) -> Result:
    result = Result(who=who, case=case, url=url, timings_ms=timed(client, url, requests, warmup=10))
    with CaptureQueriesContext(connection) as captured:  # one more request, outside the timings
        response = client.get(url)
    result.matched = response.json().get("count")
    result.queries = len(captured.captured_queries)
    result.db_ms = sum(float(query["time"]) for query in captured.captured_queries) * 1000
    return result


def signed_in(username: str) -> Client:
    client = Client()
    client.force_login(User.objects.get(username=username))
    return client


def explain(client: Client, result: Result) -> None:
    """EXPLAIN ANALYZE every preset query that one request of this case runs."""
    print(f"\n=== EXPLAIN ANALYZE: {result.who} {result.case}  (GET {result.url}) ===")
    with CaptureQueriesContext(connection) as captured:
        client.get(result.url)
    for query in captured.captured_queries:
        if "presets_preset" not in query["sql"]:
            continue
        print(f"\n-- {float(query['time']) * 1000:.1f} ms as run by the view:\n{query['sql']}\n")
        with connection.cursor() as cursor:
            # The SQL is what the view just ran, with its parameters already bound by the driver.
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + query["sql"])
            print("\n".join(row[0] for row in cursor.fetchall()))


# --- report --------------------------------------------------------------------------------------


def print_context() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        server = cursor.fetchone()[0]
    org = Organization.objects.get(slug=ORG_SLUG)
    presets = Preset.objects.for_org(org)
    by_scope = {scope: presets.filter(scope=scope).count() for scope in Scope.values}
    print(
        f"\nmachine: {os.cpu_count()} CPUs, PostgreSQL {server}, Python {sys.version.split()[0]}, "
        f"Django {django.get_version()}, DEBUG={settings.DEBUG}"
    )
    print(
        f"organisation {ORG_SLUG!r}: {presets.count():,} presets ({presets.trashed().count():,} in trash), "
        + ", ".join(f"{scope} {count:,}" for scope, count in by_scope.items())
        + f"; {Membership.objects.for_org(org).count()} members; "
        f"{PresetUserObjectPermission.objects.count():,} user grants, "
        f"{PresetGroupObjectPermission.objects.count():,} team grants"
    )


def print_table(results: list[Result], baseline: Result) -> None:
    print(f"\nbaseline GET /healthz: p50 {baseline.p50:.2f} ms, p95 {baseline.p95:.2f} ms, max {baseline.max:.2f} ms")
    header = (
        f"{'user':<7} {'case':<26} {'count':>7} {'queries':>7} {'db ms':>7} {'p50 ms':>7} {'p95 ms':>7} "
        f"{'max ms':>7} {'p95/base':>8} {'p95/100ms':>9}  result"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        verdict = "PASS" if r.p95 <= BUDGET_MS else "FAIL"
        print(
            f"{r.who:<7} {r.case:<26} {r.matched or 0:>7,} {r.queries:>7} {r.db_ms:>7.1f} {r.p50:>7.1f} "
            f"{r.p95:>7.1f} {r.max:>7.1f} {r.p95 / baseline.p95:>7.1f}x {r.p95 / BUDGET_MS:>8.0%}  {verdict}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="timed requests per case")
    parser.add_argument("--explain-all", action="store_true", help="EXPLAIN ANALYZE every case")
    args = parser.parse_args()

    ensure_database()
    seed()
    print_context()
    clients = {"member": signed_in(MEMBER), "admin": signed_in(ADMIN)}
    load_before = os.getloadavg()[0]  # anything else running on the machine shows in the timings
    baseline = Result(who="member", case="/healthz", url="/healthz", timings_ms=[])
    baseline.timings_ms = timed(clients["member"], "/healthz", args.requests, warmup=20)
    results = [
        measure_case(client, who, case, URL + query, args.requests)
        for who, client in clients.items()
        for case, query in CASES
    ]
    print_table(results, baseline)
    print(f"load average (1 min) before/after measuring: {load_before:.2f} / {os.getloadavg()[0]:.2f}")
    slowest = max(results, key=lambda r: r.p95)
    for result in results if args.explain_all else [slowest]:
        explain(clients[result.who], result)
    failed = [r for r in results if r.p95 > BUDGET_MS]
    print(f"\n{len(results) - len(failed)}/{len(results)} cases within the {BUDGET_MS:.0f} ms p95 budget")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
