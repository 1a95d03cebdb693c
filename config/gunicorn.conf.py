"""gunicorn's settings: `gunicorn -c config/gunicorn.conf.py config.wsgi:application --bind ... --workers N`.

- Access log: one JSON object per line on stdout, *without the path or query string*: paths can
  carry one-time secrets (e-mail confirmation and invitation links), and no secret may reach a
  log. A line has the method, status, size, duration and the request id (`X-Request-ID`), which
  the application's own log lines carry too; the route of each request is in /metrics.
- Metrics: Prometheus counters live in each process, so with several workers they are added up
  through files in PROMETHEUS_MULTIPROC_DIR (marketplace/metrics.py). Unset, this file uses a
  fresh private folder for this gunicorn and removes it at exit; set, the folder is yours: empty
  it before the processes start (docs/operations.md, "Metrics").
"""

import os
import shutil
import tempfile

accesslog = "-"
access_log_format = (
    '{"time": "%(t)s", "logger": "gunicorn.access", "remote": "%(h)s", "method": "%(m)s", '
    '"status": %(s)s, "bytes": %(B)s, "ms": %(M)s, "request_id": "%({x-request-id}o)s"}'
)

_PREFIX = "marketplace-metrics-"
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix=_PREFIX)  # inherited by the workers
_metrics_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"]
# Ours (also after a reload with SIGHUP, which reads this file again): removed at exit.
_OWN_METRICS_DIR = (
    _metrics_dir
    if os.path.dirname(_metrics_dir) == tempfile.gettempdir() and os.path.basename(_metrics_dir).startswith(_PREFIX)
    else ""
)


def child_exit(server, worker):  # type: ignore[no-untyped-def]
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):  # type: ignore[no-untyped-def]
    if _OWN_METRICS_DIR:
        shutil.rmtree(_OWN_METRICS_DIR, ignore_errors=True)
