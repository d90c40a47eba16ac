"""docs/operations.md documents every environment variable the settings read, and no other.

The variables are found in the source of ``config/settings.py`` (through ``config.env``'s
``env_str``, ``env_int``, ``env_bool``, ``env_list``) and ``config/gunicorn.conf.py`` (through
``os.environ``), so a new setting cannot ship without its row in the "Environment variables"
table, and a removed one cannot leave a stale row behind. No database: the files are read as text.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [ROOT / "config" / "settings.py", ROOT / "config" / "gunicorn.conf.py"]
DOC = ROOT / "docs" / "operations.md"

# A read of the environment, and the same with its variable's name as a string literal. Both count
# so that a read whose name is not a literal (a variable, an f-string) fails the test instead of
# escaping it.
ENV_READ = re.compile(r"\b(?:env_str|env_int|env_bool|env_list)\(|\bos\.environ(?:\.get\(|\[)|\bos\.getenv\(")
ENV_READ_NAMED = re.compile(
    r"""(?:\b(?:env_str|env_int|env_bool|env_list)\(|\bos\.environ(?:\.get\(|\[)|\bos\.getenv\()\s*["']([A-Z][A-Z0-9_]*)["']"""
)
TABLE_HEADING = "## Environment variables"
TABLE_HEADER = "| variable | default (development) | production | what it does |"
ROW = re.compile(r"^\| `([A-Z][A-Z0-9_]*)` \|")


def variables_read(source: str) -> set[str]:
    """Names of the environment variables ``source`` reads; every read must name a literal."""
    reads = ENV_READ.findall(source)
    named = ENV_READ_NAMED.findall(source)
    assert len(named) == len(reads), "an environment read whose name is not a string literal"
    return set(named)


def table_rows(doc: str) -> list[str]:
    """The first cell of every row of the table under "## Environment variables"."""
    section = doc.split(TABLE_HEADING + "\n", 1)[1].split("\n## ", 1)[0]
    lines = section.splitlines()
    start = lines.index(TABLE_HEADER)
    assert lines[start + 1] == "|---|---|---|---|"
    names = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        match = ROW.match(line)
        assert match, f"a row must start with one variable in backticks: {line}"
        assert len(line.strip().strip("|").split("|")) == 4, f"four columns: {line}"
        names.append(match[1])
    return names


def test_the_source_scan_finds_reads_of_every_helper_and_of_os_environ():
    source = """
DEBUG = env_bool("DEBUG", True)
A = env_str("A_STR")
B = env_int( "B_INT", 1)
C = env_list("C_LIST", ["x"])
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
D = os.environ["D_ITEM"]
E = os.getenv('E_GETENV')
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
"""
    assert variables_read(source) == {"DEBUG", "A_STR", "B_INT", "C_LIST", "GUNICORN_BIND", "D_ITEM", "E_GETENV"}


def test_a_read_whose_name_is_not_a_literal_is_refused():
    source = 'name = "X"\nvalue = env_str(name)\nother = env_int("OTHER", 1)\n'
    with pytest.raises(AssertionError, match="not a string literal"):
        variables_read(source)


def test_the_code_reads_the_variables_this_test_was_written_against():
    # A floor, written out: the scan must keep finding these (a broken regex finding nothing
    # would otherwise pass the comparison below with an empty table).
    read = set().union(*(variables_read(path.read_text()) for path in SOURCES))
    assert {
        "DJANGO_ENV",
        "SECRET_KEY",
        "DATABASE_URL",
        "DATABASE_CONN_MAX_AGE",
        "CELERY_BROKER_URL",
        "CACHE_URL",
        "EVIDENCE_ROOT",
        "EVIDENCE_STORAGE",
        "EVIDENCE_S3_BUCKET",
        "EVIDENCE_X_ACCEL_REDIRECT",
        "SECURE_PROXY_SSL",
        "TRUSTED_PROXY_COUNT",
        "GUNICORN_BIND",
        "GUNICORN_WORKERS",
        "GUNICORN_THREADS",
        "GUNICORN_TIMEOUT",
    } <= read
    assert len(read) >= 74


def test_every_variable_the_code_reads_has_one_row_and_every_row_is_read():
    read = set().union(*(variables_read(path.read_text()) for path in SOURCES))
    rows = table_rows(DOC.read_text())
    duplicates = sorted({name for name in rows if rows.count(name) > 1})
    assert duplicates == []
    assert sorted(read - set(rows)) == [], "read by the code, missing from docs/operations.md"
    assert sorted(set(rows) - read) == [], "in docs/operations.md, read by no code"


def test_variables_read_by_other_programs_stay_out_of_the_table():
    rows = set(table_rows(DOC.read_text()))
    assert rows.isdisjoint({"GUNICORN_CMD_ARGS", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "CI"})
