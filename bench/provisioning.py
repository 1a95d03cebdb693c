"""Provisioning throughput: 1,000 trials approved at once, provisioned by two Celery workers on Redis.

Usage: .venv/bin/python bench/provisioning.py [--trials 1000] [--offerings 10] [--noop-tasks 2000]
                                              [--concurrency N] [--keep]

1. Creates its own PostgreSQL database (`bench_provisioning` on 127.0.0.1:5432 as postgres, or the
   one BENCH_DATABASE_URL names; its name must contain "bench": it is dropped first and at the end)
   and flushes its own Redis database (BENCH_BROKER_URL, default redis://127.0.0.1:6379/13).
2. Through the services: vendors with `--offerings` cloud offerings (sandbox provisioner, a plan
   with a trial), trials // offerings provider organizations with one member each, and one trial
   request per provider and offering (trial_request), so the one-open-trial rule holds; the
   daily trial limit is off for the bench (MARKETPLACE_LIMIT_TRIAL_REQUESTS_PER_DAY=0).
3. Starts TWO `celery -A config worker` processes (production settings, every queue, the
   sandbox at zero delay: MARKETPLACE_SANDBOX_STEP_SECONDS=0) and waits until they are idle.
4. Measures a no-op task (`bench.noop`, acks_late, on the provisioning queue) with those workers:
   `--noop-tasks` published at once, until the broker holds none, before and after step 5.
5. Approves every trial (trials_approve, by a member of each vendor) in one transaction, so all 1,000
   deployments are handed to the workers when it commits, and waits until all are active.
6. Prints deployments per second (from the commit to the last activation), no-op tasks per
   second, their ratio, and checks that every deployment became active exactly once: one
   `deployment.active` event each, one SandboxCall per provisioning step, called once.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BENCH_DIR = ROOT / "var" / "bench-provisioning"
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/bench_provisioning"
DEFAULT_BROKER = "redis://127.0.0.1:6379/13"
VENV_BIN = Path(sys.executable).parent
QUEUES = ("default", "provisioning", "notifications", "webhooks")


def database_url() -> str:
    url = os.environ.get("BENCH_DATABASE_URL") or DEFAULT_URL
    name = urlsplit(url).path.lstrip("/")
    if "bench" not in name:
        sys.exit(f"bench/provisioning.py drops and re-creates its database; {name!r} does not look like one.")
    return url


def recreate_database(url: str, *, drop_only: bool = False) -> None:
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        if not drop_only:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


# --- workers and the broker ---------------------------------------------------------------------


class Worker:
    def __init__(self, number: int, concurrency: int | None) -> None:
        self.log = BENCH_DIR / f"worker-{number}.log"
        command = [
            str(VENV_BIN / "celery"),
            "-A",
            "config",
            "worker",
            "-Q",
            ",".join(QUEUES),
            "-n",
            f"bench{number}@%h",
            "--loglevel",
            "INFO",
            "--include",
            "bench.provisioning_tasks",
        ]
        if concurrency:
            command += ["--concurrency", str(concurrency)]
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=os.environ.copy(),
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def ready(self) -> bool:
        if self.process.poll() is not None:
            sys.exit(f"a worker exited ({self.process.returncode}); see {self.log}")
        return " ready." in self.log.read_text(errors="replace")

    def processes(self) -> int:
        out = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True, check=False)
        return len(out.stdout.split())

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # warm shutdown
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def broker_backlog(redis: Any) -> int:
    """Messages waiting in our queues plus those a worker has taken but not acknowledged."""
    pipe = redis.pipeline()
    for queue in QUEUES:
        pipe.llen(queue)
    pipe.hlen("unacked")
    return sum(pipe.execute())


def wait_idle(redis: Any, *, timeout: float, quiet: float = 1.5) -> float:
    """Wait until the broker has held nothing for `quiet` seconds; returns when it first emptied."""
    deadline = time.monotonic() + timeout
    empty_since: float | None = None
    while time.monotonic() < deadline:
        if broker_backlog(redis) == 0:
            empty_since = empty_since or time.time()
            if time.time() - empty_since >= quiet:
                return empty_since
        else:
            empty_since = None
        time.sleep(0.02)
    sys.exit(f"the workers did not finish within {timeout:.0f} s (backlog {broker_backlog(redis)})")


def pause(app: Any) -> None:
    """Stop the workers taking work (every queue), so a burst can be queued whole first."""
    for queue in QUEUES:
        replies = app.control.cancel_consumer(queue, reply=True, timeout=10, limit=2)
        if len(replies) < 2:
            sys.exit(f"only {len(replies)} workers answered cancel_consumer({queue})")


def resume(app: Any) -> float:
    """Let the workers take work again; returns when they were told."""
    started = time.time()
    for queue in QUEUES:
        app.control.add_consumer(queue, reply=True, timeout=10, limit=2)
    return started


def measure_noop(app: Any, redis: Any, count: int, hops: int, timeout: float) -> tuple[float, float]:
    """Queue `count` no-op chains of `hops` tasks each (1: single no-op tasks) while the workers
    are paused, let them go; seconds until the broker holds none, and chains per second."""
    from bench.provisioning_tasks import noop, noop_hop

    pause(app)
    for _ in range(count):
        if hops == 1:
            noop.apply_async(queue="provisioning")
        else:
            noop_hop.apply_async(kwargs={"remaining": hops}, queue="provisioning")
    started = resume(app)
    finished = wait_idle(redis, timeout=timeout, quiet=0.5)
    return finished - started, count / (finished - started)


# --- the data -----------------------------------------------------------------------------------


def member(organization: Any, email: str) -> Any:
    from apps.accounts.models import User
    from apps.organizations.models import MemberRole, Membership
    from marketplace.principal import Principal, PrincipalKind, Role

    user = User.objects.create_user(email=email)
    Membership.objects.create(user=user, organization=organization, role=MemberRole.MEMBER)
    return Principal(kind=PrincipalKind.MEMBER, label=email, organization=organization, role=Role.MEMBER, user=user)


def create_catalog(offerings: int) -> tuple[list[Any], dict[int, Any]]:
    """`offerings` published listings, two per vendor, each with one cloud offering (sandbox) and
    one plan with a 30-day trial; returns the (listing, offering, plan) triples and a vendor
    member per vendor id."""
    from django.utils import timezone

    from apps.catalog.models import Listing, Offering, Plan
    from apps.organizations.models import Organization

    now = timezone.now()
    triples, vendors = [], {}
    for index in range(offerings):
        if index % 2 == 0:
            vendor = Organization.objects.create(
                name=f"Bench Vendor {index // 2}",
                slug=f"bench-vendor-{index // 2}",
                kind=Organization.Kind.VENDOR,
                country="DE",
                verified_at=now,
            )
            vendors[vendor.pk] = member(vendor, f"vendor{index // 2}@bench.example")
        listing = Listing.objects.create(
            vendor=vendor,
            slug=f"bench-app-{index}",
            name=f"Bench App {index}",
            tagline="Provisioning benchmark",
            status=Listing.Status.PUBLISHED,
            published_at=now,
            submitted_at=now,
        )
        offering = Offering.objects.create(
            listing=listing,
            mode=Offering.Mode.CLOUD,
            name=f"Bench App {index} (Cloud)",
            regions=["eu-central", "us-east"],
            provisioner="sandbox",
        )
        plan = Plan.objects.create(
            offering=offering,
            name="Trial",
            pricing_model=Plan.PricingModel.SUBSCRIPTION,
            price=100,
            currency="EUR",
            billing_period=Plan.BillingPeriod.MONTH,
            trial_days=30,
        )
        triples.append((listing, offering, plan))
    return triples, vendors


def request_trials(trials: int, triples: list[Any]) -> list[Any]:
    from apps.organizations.models import Organization
    from apps.procurement.services.trials import trial_request

    requested = []
    providers = -(-trials // len(triples))
    for index in range(providers):
        provider = Organization.objects.create(
            name=f"Bench Hospital {index}",
            slug=f"bench-hospital-{index}",
            kind=Organization.Kind.PROVIDER,
            country="DE",
        )
        actor = member(provider, f"hospital{index}@bench.example")
        for listing, offering, plan in triples:
            if len(requested) == trials:
                break
            requested.append(
                trial_request(
                    provider=provider, actor=actor, listing=listing, offering=offering, plan=plan, region="eu-central"
                )
            )
    return requested


# --- checks ---------------------------------------------------------------------------------------


def check(trials: list[Any]) -> list[str]:
    from django.db.models import Count, Max, Min

    from apps.procurement.models import Trial
    from apps.provisioning.models import Deployment, DeploymentStep, SandboxCall
    from marketplace.models import Event

    problems = []
    deployments = Deployment.objects.filter(
        pk__in=Trial.objects.filter(pk__in=[t.pk for t in trials]).values("deployment")
    )
    statuses = dict(deployments.values_list("status").annotate(n=Count("id")))
    if statuses != {"active": len(trials)}:
        problems.append(f"deployment states {statuses}, expected {len(trials)} active")
    public_ids = {str(p) for p in deployments.values_list("public_id", flat=True)}
    activations = dict(
        Event.objects.filter(type="deployment.active", subject_id__in=public_ids)
        .values_list("subject_id")
        .annotate(n=Count("id"))
    )
    missing = len(public_ids - set(activations))
    repeated = sum(1 for n in activations.values() if n > 1)
    if missing or repeated:
        problems.append(f"deployment.active events: {missing} deployments without one, {repeated} with more than one")
    steps = DeploymentStep.objects.filter(deployment__in=deployments, phase=DeploymentStep.Phase.PROVISION).count()
    calls = SandboxCall.objects.filter(deployment__in=deployments).aggregate(
        n=Count("id"), most=Max("attempts"), least=Min("attempts")
    )
    if calls["n"] != steps or calls["most"] != 1 or calls["least"] != 1:
        problems.append(f"sandbox calls: {calls['n']} for {steps} steps, attempts {calls['least']}-{calls['most']}")
    trial_states = dict(
        Trial.objects.filter(pk__in=[t.pk for t in trials]).values_list("status").annotate(n=Count("id"))
    )
    if trial_states != {"active": len(trials)}:
        problems.append(f"trial states {trial_states}")
    return problems


# --- the run --------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--offerings", type=int, default=10, help="cloud offerings; providers = trials / offerings")
    parser.add_argument("--noop-tasks", type=int, default=2000, help="no-op tasks per measurement (two measurements)")
    parser.add_argument(
        "--concurrency", type=int, default=0, help="pool processes per worker (default: Celery's, the CPUs)"
    )
    parser.add_argument("--timeout", type=float, default=1800, help="give up after this many seconds per phase")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()

    url = database_url()
    broker = os.environ.get("BENCH_BROKER_URL") or DEFAULT_BROKER
    shutil.rmtree(BENCH_DIR, ignore_errors=True)
    BENCH_DIR.mkdir(parents=True)
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        DJANGO_LOG_LEVEL="WARNING",
        DJANGO_EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        DATABASE_URL=url,
        CELERY_BROKER_URL=broker,
        CACHE_URL=broker,
        MARKETPLACE_VAR_DIR=str(BENCH_DIR),
        MARKETPLACE_MEDIA_ROOT=str(BENCH_DIR / "media"),
        MARKETPLACE_SANDBOX_STEP_SECONDS="0",
        MARKETPLACE_LIMIT_TRIAL_REQUESTS_PER_DAY="0",
    )
    import redis as redis_lib

    redis = redis_lib.Redis.from_url(broker)
    redis.flushdb()
    recreate_database(url)
    workers: list[Worker] = []
    try:
        import warnings

        import django

        warnings.filterwarnings("ignore", message="No directory at")
        django.setup()
        from django.core.management import call_command
        from django.db import connection, transaction
        from django.db.models import Count, Max

        from apps.procurement.services.trials import trials_approve
        from apps.provisioning.models import Deployment
        from marketplace.models import OutboxMessage

        call_command("migrate", verbosity=0)
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            pg_version = cursor.fetchone()[0]
        redis_version = redis.info("server")["redis_version"]

        started = time.perf_counter()
        triples, vendors = create_catalog(args.offerings)
        trials = request_trials(args.trials, triples)
        print(
            f"{len(trials)} trials requested (trial_request) by {-(-len(trials) // len(triples))} provider "
            f"organizations for {len(triples)} cloud offerings in {time.perf_counter() - started:.0f} s",
            flush=True,
        )

        workers = [Worker(1, args.concurrency), Worker(2, args.concurrency)]
        deadline = time.monotonic() + 120
        while not all(w.ready() for w in workers):
            if time.monotonic() > deadline:
                sys.exit("the workers did not start within 120 s")
            time.sleep(0.2)
        pool = [w.processes() for w in workers]
        wait_idle(redis, timeout=args.timeout)  # what the requests queued (e-mails, webhook fan-out)
        print(f"2 workers ready ({pool[0]} + {pool[1]} pool processes); measuring", flush=True)

        from config.celery_app import app

        hops = 4  # a sandbox cloud deployment runs four steps (in one task while under the inline budget)
        loads = [os.getloadavg()[0]]
        noop = [measure_noop(app, redis, args.noop_tasks, 1, args.timeout)]
        print(f"  no-op task: {args.noop_tasks} in {noop[0][0]:.2f} s = {noop[0][1]:.0f}/s", flush=True)
        chain = [measure_noop(app, redis, len(trials), hops, args.timeout)]
        print(f"  no-op chain of {hops}: {len(trials)} in {chain[0][0]:.2f} s = {chain[0][1]:.1f}/s", flush=True)
        loads.append(os.getloadavg()[0])

        first_outbox = OutboxMessage.objects.aggregate(m=Max("id"))["m"] or 0
        pause(app)
        committed: list[float] = []
        approve_started = time.time()
        with transaction.atomic():
            transaction.on_commit(lambda: committed.append(time.time()))  # runs first, right at the commit
            for vendor_id, vendor_trials in itertools.groupby(
                sorted(trials, key=lambda t: (t.vendor_id, t.pk)), key=lambda t: t.vendor_id
            ):
                trials_approve(trials=list(vendor_trials), actor=vendors[vendor_id])
        queued = time.time()
        print(
            f"  approved {len(trials)} trials in one transaction in {committed[0] - approve_started:.1f} s; "
            f"its after-commit work queued them in {queued - committed[0]:.1f} s more (workers paused)",
            flush=True,
        )
        started = resume(app)
        deployments = Deployment.objects.filter(provider__slug__startswith="bench-hospital-")
        deadline = time.monotonic() + args.timeout
        while True:
            states = dict(deployments.values_list("status").annotate(n=Count("id")))
            if states.get("active", 0) + states.get("failed", 0) >= len(trials):
                break
            if time.monotonic() > deadline:
                sys.exit(f"deployments not done within {args.timeout:.0f} s: {states}")
            time.sleep(0.1)
        last = deployments.aggregate(m=Max("activated_at"))["m"].timestamp()
        elapsed = last - started
        rate = len(trials) / elapsed
        print(
            f"  deployments: {states.get('active', 0)} active, {states.get('failed', 0)} failed, the last "
            f"{elapsed:.1f} s after the workers were let go = {rate:.1f}/s",
            flush=True,
        )
        loads.append(os.getloadavg()[0])
        drained = wait_idle(redis, timeout=args.timeout)  # the e-mails and webhook fan-out they queued
        tasks = dict(OutboxMessage.objects.filter(id__gt=first_outbox).values_list("task_name").annotate(n=Count("id")))
        noop.append(measure_noop(app, redis, args.noop_tasks, 1, args.timeout))
        print(f"  no-op task: {args.noop_tasks} in {noop[1][0]:.2f} s = {noop[1][1]:.0f}/s", flush=True)
        chain.append(measure_noop(app, redis, len(trials), hops, args.timeout))
        print(f"  no-op chain of {hops}: {len(trials)} in {chain[1][0]:.2f} s = {chain[1][1]:.1f}/s", flush=True)
        loads.append(os.getloadavg()[0])
        noop_rate = statistics.mean(r for _, r in noop)
        chain_rate = statistics.mean(r for _, r in chain)
        problems = check(trials)

        free = subprocess.run(["free", "-g"], capture_output=True, text=True, check=False).stdout.splitlines()
        print(
            f"\nprovisioning: {len(trials):,} trials approved at once, 2 x `celery -A config worker` "
            f"({pool[0]} + {pool[1]} pool processes), Redis, sandbox step 0 s"
        )
        print(
            f"machine: {os.cpu_count()} CPUs, {' '.join(free[1].split()[1:2]) if len(free) > 1 else '?'} GiB RAM, "
            f"Python {platform.python_version()}, PostgreSQL {pg_version}, Redis {redis_version}; "
            f"load (1-min avg) {', '.join(f'{x:.1f}' for x in loads)}"
        )
        per_deployment = ", ".join(f"{name} {n / len(trials):.2f}" for name, n in sorted(tasks.items()))
        print(
            f"tasks per deployment (outbox): {per_deployment}; plus webhooks.fan_out after commits with events; "
            f"broker empty {drained - last:.1f} s after the last activation"
        )
        print(f"no-op task:       {noop_rate:8.1f} /s (mean of {noop[0][1]:.0f} before and {noop[1][1]:.0f} after)")
        print(f"no-op chain of {hops}: {chain_rate:8.1f} /s (mean of {chain[0][1]:.1f} and {chain[1][1]:.1f})")
        print(f"deployments:      {rate:8.1f} /s ({len(trials)} active {elapsed:.1f} s after the workers were let go)")
        print(f"ratio deployments/s : no-op tasks/s = {rate / noop_rate:.3f} (target at least 0.3)")
        print(f"ratio deployments/s : no-op chains of {hops}/s = {rate / chain_rate:.3f}")
        if problems:
            for problem in problems:
                print(f"!! {problem}")
        else:
            print(
                f"checked: all {len(trials)} deployments and trials active; exactly one deployment.active event "
                "per deployment; one SandboxCall per provisioning step, each called once"
            )
    finally:
        for worker in workers:
            worker.stop()
        try:
            from django.db import connections

            connections.close_all()
        except Exception:
            pass
        if not args.keep:
            recreate_database(url, drop_only=True)
        redis.flushdb()


if __name__ == "__main__":
    main()
