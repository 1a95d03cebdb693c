"""A fresh checkout has no var/ (git ignores it): the embedded default must still start there,
since `make run` migrates and loads the demo before anything else has made the folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings


def test_migrate_on_the_embedded_default_creates_its_own_folder(tmp_path: Path) -> None:
    var_dir = tmp_path / "fresh-checkout" / "var"
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env.update(MARKETPLACE_VAR_DIR=str(var_dir), DJANGO_SETTINGS_MODULE="config.settings.local")
    result = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert (var_dir / "db.sqlite3").stat().st_size > 0
