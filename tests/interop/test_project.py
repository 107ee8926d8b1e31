"""The Django test project itself: Debian's packages at the versions the
interop notes describe, and a project that passes Django's checks and
migrates on a fresh SQLite database."""

import os
import subprocess

from conftest import DJANGO_PYTHON, DJPROJECT


def manage(tmp_path, *args):
    """Run djproject/manage.py with a private SQLite database; return the result."""
    env = dict(os.environ, INTEROP_DB=f"sqlite:{tmp_path / 'db.sqlite3'}", PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run([DJANGO_PYTHON, "manage.py", *args], cwd=DJPROJECT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_debian_packages_at_the_described_versions():
    out = subprocess.run([DJANGO_PYTHON, "-c",
                          "import django, channels, channels_redis, daphne, rest_framework, rest_framework_simplejwt;"
                          "print(django.get_version(), channels.__version__, channels_redis.__version__, daphne.__version__)"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    django_v, channels_v, redis_v, daphne_v = out.stdout.split()
    assert django_v.startswith("3.2."), django_v
    assert channels_v.startswith("4."), channels_v
    assert redis_v.startswith("4."), redis_v
    assert daphne_v.startswith("4."), daphne_v


def test_project_checks_and_migrates(tmp_path):
    check = manage(tmp_path, "check")
    assert check.returncode == 0, check.stderr
    migrate = manage(tmp_path, "migrate", "-v", "0")
    assert migrate.returncode == 0, migrate.stderr
    assert (tmp_path / "db.sqlite3").stat().st_size > 0
