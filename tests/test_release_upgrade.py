"""release/base/upgrade.py, the release's upgrade Job and start gate, against a real PostgreSQL server.

Odoo cannot run here, so ODOO_COMMAND points at a test double that records its arguments and marks the modules given to
`-i` and `-u` installed, as `odoo -i/-u --stop-after-init` leaves them; it skips modules not on the addons path, as Odoo
does (a warning, exit 0). Everything else is real: the tables Odoo keeps module state and parameters in, the addons on
disk, the checksums, the advisory lock.
"""
import json
import os
import subprocess
import sys
import textwrap

import pytest

from tests.postgres_servers import server
from tools.preview import ROOT

UPGRADE = os.path.join(ROOT, "release", "base", "upgrade.py")
CHECKSUMS = "module_auto_update.installed_checksums"

ODOO_DOUBLE = textwrap.dedent("""\
    import json, os, sys
    import psycopg
    args = sys.argv[1:]
    with open(os.environ["DOUBLE_CALLS"], "a") as f:
        f.write(json.dumps(args) + "\\n")
    if os.environ.get("DOUBLE_EXIT"):
        sys.exit(int(os.environ["DOUBLE_EXIT"]))
    database = args[args.index("-d") + 1]
    names = []
    for flag in ("-i", "-u"):
        if flag in args:
            names += args[args.index(flag) + 1].split(",")
    paths = os.environ["ODOO_ADDONS_PATH"].split(",")
    found = [n for n in names if any(os.path.isfile(os.path.join(p, n, "__manifest__.py")) for p in paths)]
    with psycopg.connect(host=os.environ["DOUBLE_HOST"], port=os.environ["DOUBLE_PORT"], dbname=database, user="postgres", autocommit=True) as c:
        for n in found:
            c.execute("INSERT INTO ir_module_module (name, state) VALUES (%s, 'installed') ON CONFLICT (name) DO UPDATE SET state = 'installed'", (n,))
""")


class Database:
    """An Odoo-shaped database (module states, parameters, languages) and an addons path on disk."""

    def __init__(self, pg, name: str):
        self.pg, self.name = pg, name
        self.work = pg.workdir()
        pg.sql(f'CREATE DATABASE "{name}"')
        pg.sql(
            "CREATE TABLE ir_module_module (id serial PRIMARY KEY, name varchar UNIQUE NOT NULL, state varchar);"
            "CREATE TABLE ir_config_parameter (id serial PRIMARY KEY, key varchar UNIQUE NOT NULL, value text NOT NULL, create_date timestamp, write_date timestamp);"
            "CREATE TABLE res_lang (id serial PRIMARY KEY, code varchar NOT NULL, active boolean);"
            "INSERT INTO res_lang (code, active) VALUES ('en_US', true), ('de_DE', false);"
            "INSERT INTO ir_module_module (name, state) VALUES ('base', 'installed'), ('web', 'installed'), ('sale', 'uninstalled');",
            db=name,
        )
        self.addons = os.path.join(self.work, "addons")
        for module in ("base", "web", "sale", "construction_project"):
            self.write(module, "__manifest__.py", f"{{'name': '{module}', 'installable': True}}\n")
            self.write(module, "models.py", "# v1\n")
        self.rc = os.path.join(self.work, "odoo.conf")
        with open(self.rc, "w") as f:
            f.write(f"[options]\ndb_host = {pg.base}\ndb_port = {pg.port}\ndb_name = {name}\ndb_user = postgres\ndb_password = unused\ndb_sslmode = disable\n")
        with open(os.path.join(self.work, "odoo_double.py"), "w") as f:
            f.write(ODOO_DOUBLE)

    def write(self, module: str, path: str, text: str) -> None:
        full = os.path.join(self.addons, module, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as f:
            f.write(text)

    def run(self, command: str, modules: str = "construction_project", **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, UPGRADE, command, "--rc", self.rc, "--timeout", "1", "--interval", "0.2"],
            env={
                **os.environ, "ODOO_MODULES": modules, "ODOO_ADDONS_PATH": self.addons,
                "ODOO_COMMAND": f"{sys.executable} {os.path.join(self.work, 'odoo_double.py')}",
                "DOUBLE_CALLS": os.path.join(self.work, "calls"), "DOUBLE_HOST": self.pg.base, "DOUBLE_PORT": str(self.pg.port), **env,
            },
            capture_output=True, text=True, timeout=120,
        )

    def calls(self) -> list[list[str]]:
        path = os.path.join(self.work, "calls")
        return [json.loads(line) for line in open(path)] if os.path.exists(path) else []

    def stored(self) -> dict:
        value = self.pg.sql(f"SELECT value FROM ir_config_parameter WHERE key = '{CHECKSUMS}'", db=self.name)
        return json.loads(value) if value else {}

    def installed(self) -> set:
        return set(self.pg.sql("SELECT name FROM ir_module_module WHERE state = 'installed'", db=self.name).split())


def events(result) -> list[dict]:
    return [json.loads(line) for line in result.stdout.splitlines()]


def modules_of(call, flag):
    return call[call.index(flag) + 1].split(",") if flag in call else []


@pytest.fixture(scope="module")
def pg(request):
    return server(17, request.config)


@pytest.fixture()
def db(pg, request):
    return Database(pg, f"upgrade_{request.node.name.split('[')[0][-40:]}")


def test_first_release_installs_its_modules_and_updates_what_has_no_checksum(db):
    assert db.run("wait").returncode == 1  # the gate stays closed before the Job has run
    result = db.run("apply")
    assert result.returncode == 0, result.stdout + result.stderr
    [call] = db.calls()
    assert modules_of(call, "-i") == ["construction_project"] and modules_of(call, "-u") == ["base", "web"]
    assert "--stop-after-init" in call and call[call.index("-d") + 1] == db.name
    assert db.installed() == {"base", "web", "construction_project"}
    assert set(db.stored()) == {"base", "web", "construction_project"}
    assert db.run("wait").returncode == 0  # and opens once it has


def test_only_modules_whose_files_changed_are_updated(db):
    assert db.run("apply").returncode == 0
    assert db.run("apply").returncode == 0 and len(db.calls()) == 1  # nothing changed: Odoo not started
    db.write("web", "models.py", "# v2\n")
    db.write("construction_project", "static/src/app.js", "// assets only\n")  # excluded, as click-odoo-update does
    db.write("base", "i18n/de.po", "msgid x\n")  # a language the database does not use
    assert events(db.run("plan"))[-1]["update"] == ["web"]
    assert db.run("wait").returncode == 1
    assert db.run("apply").returncode == 0
    assert modules_of(db.calls()[-1], "-u") == ["web"] and modules_of(db.calls()[-1], "-i") == []
    db.write("base", "i18n/en.po", "msgid y\n")  # the active language's translations count
    assert events(db.run("plan"))[-1]["update"] == ["base"]


def test_checksums_agree_with_click_odoo_update(db):
    """The same SHA-1 as click-odoo-contrib's addon_hash: file names and contents in walk order."""
    import hashlib

    assert db.run("apply").returncode == 0
    digest = hashlib.sha1()
    for path in ("__manifest__.py", "models.py"):
        digest.update(path.encode())
        digest.update(open(os.path.join(db.addons, "web", path), "rb").read())
    assert db.stored()["web"] == digest.hexdigest()


def test_a_module_odoo_cannot_find_keeps_the_gate_closed(db):
    result = db.run("apply", modules="construction_project,no_such_module")
    assert result.returncode == 1 and "no_such_module" in events(result)[-1]["message"]
    assert db.stored() == {}  # not recorded: the next run retries, the pods keep waiting
    assert db.run("wait", modules="construction_project,no_such_module").returncode == 1


def test_a_failing_odoo_leaves_the_previous_state(db):
    assert db.run("apply").returncode == 0
    before = db.stored()
    db.write("web", "models.py", "# v3\n")
    result = db.run("apply", DOUBLE_EXIT="1")
    assert result.returncode == 3 and "odoo exited with 1" in events(result)[-1]["message"]
    assert db.stored() == before and db.run("wait").returncode == 1


def test_bad_input_is_one_line_and_exit_2(db):
    result = db.run("apply", modules="construction_project,Bad-Name")
    assert result.returncode == 2 and "Bad-Name" in result.stdout and "Traceback" not in result.stderr
    unreachable = subprocess.run([sys.executable, UPGRADE, "plan", "--rc", os.path.join(db.work, "missing.conf")], capture_output=True, text=True)
    assert unreachable.returncode == 2 and "no such configuration file" in unreachable.stdout
