"""The shipped pipelines (.github/workflows/infrastructure.yml with .github/actions/pulumi-stack, azure-pipelines.yml
with .azure-pipelines/) do what the platform needs: on a pull request the tests, the offline preview of every stack
with the pack and `pulumi preview --policy-pack` of every stack; on main `pulumi up` of every stack, production ones
behind an approval gate, one run at a time per stack; Azure access by OIDC federation only, no stored credential, every
GitHub action pinned to a commit. The checkers return findings; each one is shown failing on a broken copy.

Stacks come from the `Pulumi.<stack>.yaml` files, their tier from components/tier.py, so a new stack file without a
pipeline entry fails here. The Azure Pipelines files are expanded (templates and their `${{ parameters }}`) the way
Azure Pipelines does before anything is checked, and both platforms' files are validated against their published
schemas (tests/data/README.md names the source and commit of each).
"""
import copy
import gzip
import json
import os
import re
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, Callable, Iterator

import jsonschema
import jsonschema.validators
import pytest
import yaml

from components.tier import tier_for_stack
from tools.fleet import discover

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
GITHUB_WORKFLOW = ROOT / ".github" / "workflows" / "infrastructure.yml"
GITHUB_ACTION_REF = "./.github/actions/pulumi-stack"
GITHUB_ACTION = ROOT / GITHUB_ACTION_REF / "action.yml"
AZURE_PIPELINE = ROOT / "azure-pipelines.yml"

NON_PRODUCTION, PRODUCTION = "non-production", "production"
PRODUCTION_PREVIEW = "production-preview"  # GitHub: the production identity's second federated subject, reviewed

# Variables that only ever carry a stored credential; `creds`/`client-secret` are azure/login's secret inputs.
CREDENTIAL_NAMES = (
    "ARM_CLIENT_SECRET", "AZURE_CLIENT_SECRET", "ARM_CLIENT_CERTIFICATE_PASSWORD", "AZURE_CLIENT_CERTIFICATE_PASSWORD",
    "AZURE_STORAGE_KEY", "AZURE_STORAGE_SAS_TOKEN", "AZURE_STORAGE_CONNECTION_STRING", "PULUMI_CONFIG_PASSPHRASE",
    "PULUMI_ACCESS_TOKEN",
)
CREDENTIAL_KEYS = {"creds", "client-secret", "clientsecret"}
SECRET_LIKE_KEY = re.compile(r"secret|password|passwd|passphrase|api[-_]?key|access[-_]?key", re.IGNORECASE)
EXPRESSION = re.compile(r"^\s*(\$\{\{.*\}\}|\$\(.*\))\s*$", re.DOTALL)
PINNED_ACTION = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
PINNED_TASK = re.compile(r"^\w+@\d+$")
PREVIEW_COMMAND = re.compile(r"^\s*(preview\)\s*)?pulumi preview\b[^\n]*--policy-pack policies", re.MULTILINE)
UP_COMMAND = re.compile(r"^\s*(up\)\s*)?pulumi up\b(?=[^\n]*--policy-pack policies)(?=[^\n]*--yes)", re.MULTILINE)
FLEET_PREVIEW = re.compile(r"python -m tools\.fleet preview\b")


def stack_tiers() -> dict[str, bool]:
    """Every stack with a `Pulumi.<stack>.yaml` file (as the fleet finds them), and whether it is production."""
    return {stack: tier_for_stack(stack).is_production for stack in discover(str(ROOT), "*")}


def _walk(node: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    """(path, key, value) of every mapping entry, and (path, None, item) of every scalar in a list."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield path, key, value
            yield from _walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            if not isinstance(item, (dict, list)):
                yield path, None, item
            yield from _walk(item, f"{path}[{index}]")


def credential_findings(name: str, document: Any) -> list[str]:
    """A stored credential anywhere: a credential variable, azure/login's secret inputs, a secret-like key with a literal
    value, or (GitHub) any use of the `secrets` context: everything here is an id, a name or an OIDC token."""
    findings = []
    for path, key, value in _walk(document):
        for text in (key, value):
            if isinstance(text, str):
                found = [n for n in CREDENTIAL_NAMES if n in text] + (["secrets."] if "secrets." in text else [])
                findings += [f"{name}{path}: {n} appears ({text!r}); Azure access is OIDC federation only" for n in found]
        if isinstance(key, str) and key.lower() in CREDENTIAL_KEYS:
            findings.append(f"{name}{path}.{key}: a stored credential input; log in with client-id/tenant-id by OIDC")
        elif isinstance(key, str) and SECRET_LIKE_KEY.search(key) and isinstance(value, (str, int)) and value != "" \
                and not EXPRESSION.match(str(value)):
            findings.append(f"{name}{path}.{key}: literal {value!r}; no secret in clear in a pipeline file")
    return findings


def pin_findings(name: str, document: Any) -> list[str]:
    """GitHub actions pinned to a full commit (a tag can be moved), local actions allowed; Azure tasks to a major."""
    findings = []
    for path, key, value in _walk(document):
        if key == "uses" and isinstance(value, str) and not value.startswith("./") and not PINNED_ACTION.match(value):
            findings.append(f"{name}{path}.uses = {value!r}: pin the action to a 40-hex commit SHA")
        if key == "task" and isinstance(value, str) and not PINNED_TASK.match(value):
            findings.append(f"{name}{path}.task = {value!r}: name the task's major version (Task@N)")
    return findings


def coverage_findings(platform: str, listed: dict[str, list[str]], stacks: dict[str, bool]) -> list[str]:
    """Each stack file previewed once and brought up once; no pipeline entry for a stack without a file."""
    findings = []
    for command, names in listed.items():
        for stack in stacks:
            if names.count(stack) != 1:
                findings.append(f"{platform}: stack {stack} has {names.count(stack)} `pulumi {command}` entries; every Pulumi.<stack>.yaml needs exactly one")
        findings += [f"{platform}: `pulumi {command}` of stack {s} has no Pulumi.{s}.yaml" for s in sorted(set(names) - set(stacks))]
    return findings


def _deepest(error: jsonschema.ValidationError) -> list[jsonschema.ValidationError]:
    """The errors under an anyOf/oneOf that got furthest into the document: the ones that say what is wrong."""
    leaves = [leaf for child in error.context for leaf in _deepest(child)] if error.context else [error]
    depth = max(len(leaf.absolute_path) for leaf in leaves)
    return [leaf for leaf in leaves if len(leaf.absolute_path) == depth]


def schema_findings(name: str, document: Any, schema: dict, validator: type = jsonschema.Draft7Validator) -> list[str]:
    return sorted({f"{name}: schema: {'.'.join(map(str, leaf.absolute_path)) or '(root)'}: {leaf.message[:200]}"
                   for error in validator(schema).iter_errors(document) for leaf in _deepest(error)})


# Azure Pipelines reads every scalar as text and converts a task input to the type its task declares, so the
# service schema types pipeline keys as strings but task inputs as booleans and numbers: accept their text forms.
AzurePipelinesValidator = jsonschema.validators.extend(
    jsonschema.Draft7Validator,
    type_checker=jsonschema.Draft7Validator.TYPE_CHECKER.redefine_many({
        "boolean": lambda _, value: isinstance(value, bool) or (isinstance(value, str) and value.lower() in ("true", "false")),
        "number": lambda _, value: isinstance(value, (int, float)) or (isinstance(value, str) and re.fullmatch(r"-?\d+(\.\d+)?", value) is not None),
        "integer": lambda _, value: isinstance(value, int) or (isinstance(value, str) and re.fullmatch(r"-?\d+", value) is not None),
    }),
)


# ---------------------------------------------------------------------------------------------------- GitHub Actions

def load_github(path: Path) -> dict:
    """The workflow as GitHub reads it: PyYAML's YAML 1.1 turns the key `on` into True, so it is put back."""
    document = yaml.safe_load(path.read_text())
    if True in document:
        document["on"] = document.pop(True)
    return document


def _steps_text(steps: list) -> str:
    return "\n".join(step.get("run", "") for step in steps or [])


def _needs(job: dict) -> list[str]:
    needs = job.get("needs") or []
    return [needs] if isinstance(needs, str) else needs


def github_findings(workflow: dict, action: dict, stacks: dict[str, bool]) -> list[str]:
    findings = []
    if workflow.get("permissions") != {"contents": "read"}:
        findings.append(f"workflow permissions = {workflow.get('permissions')!r}: exactly contents: read, jobs ask for more")
    events = workflow.get("on") or {}
    for event in ("pull_request", "push"):
        if "main" not in ((events.get(event) or {}).get("branches") or []):
            findings.append(f"on.{event}: must run for branch main")
    jobs = workflow.get("jobs") or {}
    test_jobs = [name for name, job in jobs.items() if re.search(r"\bmake test\b", _steps_text(job.get("steps")))]
    if not test_jobs:
        findings.append("no job runs `make test`")
    if not any(FLEET_PREVIEW.search(_steps_text(jobs[name].get("steps"))) for name in test_jobs):
        findings.append("the test job does not run the offline preview of every stack (python -m tools.fleet preview)")
    listed: dict[str, list[str]] = {"preview": [], "up": []}
    up_tiers: dict[str, bool] = {}
    for name, job in jobs.items():
        calls = [s for s in job.get("steps") or [] if s.get("uses") == GITHUB_ACTION_REF]
        if not calls:
            continue
        command, where = (calls[0].get("with") or {}).get("command"), f"jobs.{name}"
        if command not in listed:
            findings.append(f"{where}: command {command!r}, expected preview or up")
            continue
        job_stacks = ((job.get("strategy") or {}).get("matrix") or {}).get("stack") or []
        listed[command] += job_stacks
        if (calls[0].get("with") or {}).get("stack") != "${{ matrix.stack }}":
            findings.append(f"{where}: the action must run the matrix's stack")
        tiers = {stacks.get(stack, tier_for_stack(stack).is_production) for stack in job_stacks}
        if len(tiers) > 1:
            findings.append(f"{where}: mixes production and non-production stacks {job_stacks}; one gate per job")
        production = tiers == {True}
        permissions = job.get("permissions") or {}
        if permissions.get("id-token") != "write":
            findings.append(f"{where}: permissions id-token: write is missing (OIDC federation)")
        allowed_writes = {"id-token", "pull-requests"} if command == "preview" else {"id-token"}
        writes = sorted(p for p, level in permissions.items() if level == "write" and p not in allowed_writes)
        findings += [f"{where}: permission {p}: write is more than `pulumi {command}` needs" for p in writes]
        if command == "preview" and test_jobs and not set(test_jobs) & set(_needs(job)):
            findings.append(f"{where}: must need the test job")
        condition = job.get("if", "")
        environment = job.get("environment")
        environment = environment.get("name") if isinstance(environment, dict) else environment
        if command == "preview":
            if "pull_request" not in condition:
                findings.append(f"{where}: `pulumi preview` runs on pull requests only (if: github.event_name == 'pull_request')")
            if production and environment != PRODUCTION_PREVIEW:
                findings.append(f"{where}: a production preview runs in environment {PRODUCTION_PREVIEW} (reviewed), not {environment!r}")
        else:
            if "refs/heads/main" not in condition or "!= 'pull_request'" not in condition:
                findings.append(f"{where}: `pulumi up` runs on main only, never for a pull request")
            expected = PRODUCTION if production else NON_PRODUCTION
            if environment != expected:
                findings.append(f"{where}: `pulumi up` of {job_stacks} runs in environment {expected} (the gate), not {environment!r}")
            concurrency = job.get("concurrency") or {}
            if concurrency.get("group") != "pulumi-${{ matrix.stack }}" or concurrency.get("cancel-in-progress") is not False:
                findings.append(f"{where}: concurrency must be group pulumi-${{{{ matrix.stack }}}}, cancel-in-progress false (one run at a time per stack)")
            up_tiers[name] = production
    for name, production in up_tiers.items():
        if production and not any(up_tiers.get(n) is False for n in _needs(jobs[name])):
            findings.append(f"jobs.{name}: production goes up after the non-production stacks (needs their up job)")
    findings += coverage_findings("GitHub", listed, stacks)
    findings += github_action_findings(action)
    return findings


def github_action_findings(action: dict) -> list[str]:
    findings = []
    steps = (action.get("runs") or {}).get("steps") or []
    logins = [s for s in steps if str(s.get("uses", "")).startswith("azure/login@")]
    if not logins or any(set(s.get("with") or {}) != {"client-id", "tenant-id", "subscription-id"} for s in logins):
        findings.append("action: azure/login must log in with client-id, tenant-id and subscription-id only (OIDC)")
    pulumi_steps = [s for s in steps if PREVIEW_COMMAND.search(s.get("run", "")) or UP_COMMAND.search(s.get("run", ""))]
    if not any(PREVIEW_COMMAND.search(s.get("run", "")) for s in pulumi_steps):
        findings.append("action: no `pulumi preview ... --policy-pack policies`")
    if not any(UP_COMMAND.search(s.get("run", "")) for s in pulumi_steps):
        findings.append("action: no `pulumi up ... --policy-pack policies --yes`")
    for step in pulumi_steps:
        env = step.get("env") or {}
        if str(env.get("ARM_USE_OIDC")).lower() != "true" or not all(env.get(v) for v in ("ARM_CLIENT_ID", "ARM_TENANT_ID", "ARM_SUBSCRIPTION_ID")):
            findings.append(f"action step {step.get('name')!r}: the provider needs ARM_USE_OIDC=true, ARM_CLIENT_ID, ARM_TENANT_ID, ARM_SUBSCRIPTION_ID")
        if not env.get("AZURE_STORAGE_ACCOUNT"):
            findings.append(f"action step {step.get('name')!r}: the azblob state backend needs AZURE_STORAGE_ACCOUNT")
    return findings


# ----------------------------------------------------------------------------------------------------- Azure Pipelines

TEMPLATE_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
PARAMETER = re.compile(r"^parameters\.(\w+)$")
REPLACE = re.compile(r"^replace\(\s*parameters\.(\w+)\s*,\s*'([^']*)'\s*,\s*'([^']*)'\s*\)$")


def load_azure(path: Path) -> Any:
    """Azure Pipelines reads every scalar as a string (its schema types them so): YAML's base loader does the same."""
    return yaml.load(path.read_text(), Loader=yaml.BaseLoader)


def _evaluate(expression: str, parameters: dict, where: str) -> Any:
    if match := PARAMETER.match(expression):
        return parameters[match.group(1)]
    if match := REPLACE.match(expression):
        return str(parameters[match.group(1)]).replace(match.group(2), match.group(3))
    raise ValueError(f"{where}: template expression ${{{{ {expression} }}}} is not one this test expands; extend _evaluate")


def _substitute(node: Any, parameters: dict, where: str) -> Any:
    if isinstance(node, dict):
        return {_substitute(k, parameters, where): _substitute(v, parameters, where) for k, v in node.items()}
    if isinstance(node, list):
        return [_substitute(item, parameters, where) for item in node]
    if isinstance(node, str):
        whole = TEMPLATE_EXPRESSION.fullmatch(node.strip())
        if whole:  # an object parameter stays an object
            return _evaluate(whole.group(1), parameters, where)
        return TEMPLATE_EXPRESSION.sub(lambda m: str(_evaluate(m.group(1), parameters, where)), node)
    return node


def _expand_templates(node: Any, directory: Path) -> Any:
    """Splice `- template: file` items of jobs and steps lists, relative to the including file, as Azure Pipelines does."""
    if isinstance(node, dict):
        return {key: _expand_templates(value, directory) for key, value in node.items()}
    if not isinstance(node, list):
        return node
    expanded = []
    for item in node:
        if isinstance(item, dict) and set(item) <= {"template", "parameters"} and "template" in item:
            path = directory / item["template"]
            template = load_azure(path)
            declared = {p["name"]: p for p in template.get("parameters") or []}
            given = item.get("parameters") or {}
            unknown = sorted(set(given) - set(declared))
            if unknown:
                raise ValueError(f"{path.name}: unknown parameters {unknown}")
            values = {name: given.get(name, p.get("default")) for name, p in declared.items()}
            for name, p in declared.items():
                if values[name] is None:
                    raise ValueError(f"{path.name}: parameter {name} is required")
                if "values" in p and values[name] not in p["values"]:
                    raise ValueError(f"{path.name}: parameter {name} = {values[name]!r}, allowed {p['values']}")
            body = _substitute({k: v for k, v in template.items() if k != "parameters"}, values, path.name)
            (kind,) = body  # a jobs or a steps template
            expanded += _expand_templates(body[kind], path.parent)
        else:
            expanded.append(_expand_templates(item, directory))
    return expanded


def expand_azure(path: Path) -> dict:
    return _expand_templates(load_azure(path), path.parent)


def _azure_jobs(stage: dict) -> Iterator[tuple[dict, list]]:
    for job in stage.get("jobs") or []:
        if "deployment" in job:
            yield job, ((((job.get("strategy") or {}).get("runOnce") or {}).get("deploy") or {}).get("steps") or [])
        else:
            yield job, job.get("steps") or []


def azure_findings(pipeline: dict, stacks: dict[str, bool]) -> list[str]:
    findings = []
    stages = {stage.get("stage"): stage for stage in pipeline.get("stages") or []}
    scripts = {name: "\n".join(s.get("script", "") for _, steps in _azure_jobs(stage) for s in steps) for name, stage in stages.items()}
    test_stages = [name for name, text in scripts.items() if re.search(r"\bmake test\b", text)]
    if not test_stages:
        findings.append("no stage runs `make test`")
    if not any(FLEET_PREVIEW.search(scripts[name]) for name in test_stages):
        findings.append("the test stage does not run the offline preview of every stack (python -m tools.fleet preview)")
    if "main" not in ((pipeline.get("trigger") or {}).get("branches") or {}).get("include", []):
        findings.append("trigger: must run for main")
    listed: dict[str, list[str]] = {"preview": [], "up": []}
    up_stages: dict[str, bool] = {}
    for stage_name, stage in stages.items():
        condition, where = stage.get("condition", ""), f"stages.{stage_name}"
        for job, steps in _azure_jobs(stage):
            for step in steps:
                if step.get("task") != "AzureCLI@2":
                    continue
                env, inputs = step.get("env") or {}, step.get("inputs") or {}
                command, stack = env.get("PULUMI_COMMAND"), str(env.get("STACK"))
                job_where = f"{where}.{job.get('job') or job.get('deployment')}"
                if command not in listed:
                    findings.append(f"{job_where}: PULUMI_COMMAND {command!r}, expected preview or up")
                    continue
                listed[command].append(stack)
                script = inputs.get("inlineScript", "")
                if not (PREVIEW_COMMAND if command == "preview" else UP_COMMAND).search(script):
                    flags = "--policy-pack policies --yes" if command == "up" else "--policy-pack policies"
                    findings.append(f"{job_where}: the script does not run `pulumi {command} ... {flags}`")
                if not inputs.get("azureSubscription") or inputs.get("addSpnToEnvironment") != "true":
                    findings.append(f"{job_where}: Azure access through a workload-identity service connection (azureSubscription, addSpnToEnvironment: true)")
                if "SYSTEM_OIDCREQUESTURI" not in script:
                    findings.append(f"{job_where}: the Azure CLI login must be renewed from the job's OIDC endpoint (runs outlast the token)")
                production = stacks.get(stack, tier_for_stack(stack).is_production)
                if command == "preview":
                    if "eq(variables['Build.Reason'], 'PullRequest')" not in condition:
                        findings.append(f"{job_where}: `pulumi preview` runs on pull requests only")
                    continue
                if "deployment" not in job:
                    findings.append(f"{job_where}: `pulumi up` of {stack} must be a deployment job (environment checks are the gate)")
                expected = PRODUCTION if production else NON_PRODUCTION
                environment = job.get("environment")
                environment = environment.get("name") if isinstance(environment, dict) else environment
                if environment != expected:
                    findings.append(f"{job_where}: `pulumi up` of {stack} runs on environment {expected} (the gate), not {environment!r}")
                if "ne(variables['Build.Reason'], 'PullRequest')" not in condition or "refs/heads/main" not in condition:
                    findings.append(f"{where}: `pulumi up` runs on main only, never for a pull request")
                if stage.get("lockBehavior") != "sequential":
                    findings.append(f"{where}: lockBehavior must be sequential (the environment's exclusive lock queues runs in order)")
                if up_stages.setdefault(stage_name, production) != production:
                    findings.append(f"{where}: mixes production and non-production stacks; one gate per stage")
    for name, production in up_stages.items():
        depends = stages[name].get("dependsOn")
        depends = [depends] if isinstance(depends, str) else depends or []
        if production and not any(up_stages.get(d) is False for d in depends):
            findings.append(f"stages.{name}: production goes up after the non-production stacks (dependsOn their stage)")
    findings += coverage_findings("Azure Pipelines", listed, stacks)
    return findings


# ----------------------------------------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def stacks() -> dict[str, bool]:
    found = stack_tiers()
    assert any(found.values()) and not all(found.values()), f"expected production and non-production stacks: {found}"
    return found


@pytest.fixture(scope="module")
def github() -> tuple[dict, dict]:
    return load_github(GITHUB_WORKFLOW), load_github(GITHUB_ACTION)


@pytest.fixture(scope="module")
def azure() -> dict:
    return expand_azure(AZURE_PIPELINE)


@pytest.fixture(scope="module")
def azure_schema() -> dict:
    with gzip.open(DATA / "azure-pipelines.schema.json.gz") as schema:
        return json.load(schema)


def _github_all(workflow: dict, action: dict, stacks: dict[str, bool]) -> list[str]:
    return (github_findings(workflow, action, stacks)
            + credential_findings("workflow", workflow) + credential_findings("action", action)
            + pin_findings("workflow", workflow) + pin_findings("action", action))


def _azure_all(pipeline: dict, stacks: dict[str, bool]) -> list[str]:
    return azure_findings(pipeline, stacks) + credential_findings("azure-pipelines", pipeline) + pin_findings("azure-pipelines", pipeline)


# -------------------------------------------------------------------------------------------------------------- tests

def test_github_pipeline_as_shipped(github, stacks):
    workflow, action = github
    assert _github_all(workflow, action, stacks) == []
    assert schema_findings("workflow", workflow, json.loads((DATA / "github-workflow.schema.json").read_text())) == []
    assert schema_findings("action", action, json.loads((DATA / "github-action.schema.json").read_text())) == []


def test_azure_pipeline_as_shipped(azure, stacks, azure_schema):
    assert _azure_all(azure, stacks) == []
    assert schema_findings("azure-pipelines", azure, azure_schema, AzurePipelinesValidator) == []


def test_no_credential_text_in_any_pipeline_file():
    """Comments included: the files never even name a stored credential."""
    files = [GITHUB_WORKFLOW, GITHUB_ACTION, AZURE_PIPELINE, *sorted((ROOT / ".azure-pipelines").glob("*.yml"))]
    found = [f"{path.relative_to(ROOT)}: {name}" for path in files for name in CREDENTIAL_NAMES if name in path.read_text()]
    assert found == []


def _job_with_stack(jobs: dict, command: str, production: bool) -> dict:
    return next(job for job in jobs.values()
                if any((s.get("with") or {}).get("command") == command for s in job.get("steps") or [])
                and any(tier_for_stack(s).is_production == production for s in job["strategy"]["matrix"]["stack"]))


def _github_step(document: dict, prefix: str) -> dict:
    return next(s for s in document["runs"]["steps"] if str(s.get("uses", "")).startswith(prefix))


GITHUB_BREAKS: dict[str, tuple[Callable[[dict, dict, dict], None], str]] = {
    "gate dropped": (lambda w, a, s: _job_with_stack(w["jobs"], "up", True).pop("environment"), "runs in environment production"),
    "gate renamed": (lambda w, a, s: _job_with_stack(w["jobs"], "up", True).update(environment="prod-auto"), "'prod-auto'"),
    "production preview without review": (lambda w, a, s: _job_with_stack(w["jobs"], "preview", True).pop("environment"), "production-preview"),
    "client secret": (lambda w, a, s: a["runs"]["steps"][-2]["env"].update(ARM_CLIENT_SECRET="${{ secrets.ARM }}"), "ARM_CLIENT_SECRET appears"),
    "password literal": (lambda w, a, s: w["jobs"]["test"]["steps"][-1].setdefault("env", {}).update(PGPASSWORD="hunter2"), "literal 'hunter2'"),
    "azure/login with creds": (lambda w, a, s: _github_step(a, "azure/login@")["with"].update(creds="${{ secrets.AZURE_CREDENTIALS }}"), "stored credential input"),
    "action unpinned": (lambda w, a, s: _github_step(a, "azure/login@").update(uses="azure/login@v3"), "'azure/login@v3': pin"),
    "short sha": (lambda w, a, s: w["jobs"]["test"]["steps"][0].update(uses="actions/checkout@3d3c42e"), "pin the action"),
    "no id-token": (lambda w, a, s: _job_with_stack(w["jobs"], "up", False)["permissions"].pop("id-token"), "id-token: write is missing"),
    "broad workflow permissions": (lambda w, a, s: w.update(permissions="write-all"), "exactly contents: read"),
    "pull-requests write on up": (lambda w, a, s: _job_with_stack(w["jobs"], "up", True)["permissions"].update({"pull-requests": "write"}), "pull-requests: write is more"),
    "cancel in progress": (lambda w, a, s: _job_with_stack(w["jobs"], "up", False)["concurrency"].update({"cancel-in-progress": True}), "one run at a time per stack"),
    "shared concurrency group": (lambda w, a, s: _job_with_stack(w["jobs"], "up", True)["concurrency"].update(group="pulumi"), "one run at a time per stack"),
    "stack file without entry": (lambda w, a, s: s.update({"prod-gc": True}), "stack prod-gc has 0 `pulumi up` entries"),
    "stack dropped from up": (lambda w, a, s: _job_with_stack(w["jobs"], "up", True)["strategy"]["matrix"].update(stack=[]), "stack prod has 0 `pulumi up`"),
    "preview without the pack": (lambda w, a, s: a["runs"]["steps"][-2].update(run=a["runs"]["steps"][-2]["run"].replace("preview --stack \"$STACK\" --policy-pack policies", "preview --stack \"$STACK\"")), "no `pulumi preview ... --policy-pack"),
    "up on pull requests": (lambda w, a, s: _job_with_stack(w["jobs"], "up", False).update({"if": "always()"}), "never for a pull request"),
    "no fleet preview": (lambda w, a, s: w["jobs"]["test"]["steps"].pop(), "tools.fleet preview"),
    "provider without OIDC": (lambda w, a, s: a["runs"]["steps"][-2]["env"].pop("ARM_USE_OIDC"), "ARM_USE_OIDC=true"),
}


@pytest.mark.parametrize("name", GITHUB_BREAKS)
def test_github_checker_catches(name, github, stacks):
    workflow, action, known = copy.deepcopy(github[0]), copy.deepcopy(github[1]), dict(stacks)
    breaker, expected = GITHUB_BREAKS[name]
    breaker(workflow, action, known)
    findings = _github_all(workflow, action, known)
    assert any(expected in finding for finding in findings), findings


def _azure_job(pipeline: dict, command: str, production: bool) -> tuple[dict, dict, dict]:
    """(stage, job, AzureCLI step) running `command` for a stack of that tier."""
    for stage in pipeline["stages"]:
        for job, steps in _azure_jobs(stage):
            for step in steps:
                env = step.get("env") or {}
                if step.get("task") == "AzureCLI@2" and env.get("PULUMI_COMMAND") == command \
                        and tier_for_stack(env["STACK"]).is_production == production:
                    return stage, job, step
    raise LookupError(command)


def _as_plain_job(stage: dict) -> None:
    """Turn the stage's deployment jobs into plain jobs with the same steps: no environment, so no checks."""
    stage["jobs"] = [{"job": job["deployment"], "pool": job["pool"], "steps": steps} for job, steps in _azure_jobs(stage)]


AZURE_BREAKS: dict[str, tuple[Callable[[dict, dict], None], str]] = {
    "gate dropped": (lambda p, s: _azure_job(p, "up", True)[1].update(environment="non-production"), "runs on environment production"),
    "up not a deployment": (lambda p, s: _as_plain_job(_azure_job(p, "up", True)[0]), "must be a deployment job"),
    "lock behaviour": (lambda p, s: _azure_job(p, "up", False)[0].pop("lockBehavior"), "lockBehavior must be sequential"),
    "client secret": (lambda p, s: _azure_job(p, "up", True)[2]["env"].update(ARM_CLIENT_SECRET="$(armSecret)"), "ARM_CLIENT_SECRET appears"),
    "password literal": (lambda p, s: _azure_job(p, "preview", False)[2]["env"].update(DB_PASSWORD="hunter2"), "literal 'hunter2'"),
    "task unpinned": (lambda p, s: p["stages"][0]["jobs"][0]["steps"][1].update(task="UsePythonVersion"), "major version"),
    "no service connection": (lambda p, s: _azure_job(p, "up", False)[2]["inputs"].pop("azureSubscription"), "workload-identity service connection"),
    "no login renewal": (lambda p, s: _azure_job(p, "up", True)[2]["inputs"].update(inlineScript=_azure_job(p, "up", True)[2]["inputs"]["inlineScript"].replace("SYSTEM_OIDCREQUESTURI", "X")), "renewed from the job's OIDC endpoint"),
    "stack file without entry": (lambda p, s: s.update({"prod-gc": True}), "stack prod-gc has 0 `pulumi preview` entries"),
    "up without --yes": (lambda p, s: _azure_job(p, "up", False)[2]["inputs"].update(inlineScript=_azure_job(p, "up", False)[2]["inputs"]["inlineScript"].replace("--yes", "")), "--policy-pack policies --yes"),
    "production before non-production": (lambda p, s: _azure_job(p, "up", True)[0].update(dependsOn="test"), "after the non-production stacks"),
    "no fleet preview": (lambda p, s: p["stages"][0]["jobs"][0]["steps"].pop(), "tools.fleet preview"),
}


@pytest.mark.parametrize("name", AZURE_BREAKS)
def test_azure_checker_catches(name, azure, stacks):
    pipeline, known = copy.deepcopy(azure), dict(stacks)
    breaker, expected = AZURE_BREAKS[name]
    breaker(pipeline, known)
    findings = _azure_all(pipeline, known)
    assert any(expected in finding for finding in findings), findings


def test_schemas_catch_invalid_files(github, azure, azure_schema):
    workflow = copy.deepcopy(github[0])
    workflow["jobs"]["test"]["runs_on"] = workflow["jobs"]["test"].pop("runs-on")
    assert schema_findings("workflow", workflow, json.loads((DATA / "github-workflow.schema.json").read_text()))
    pipeline = copy.deepcopy(azure)
    _azure_job(pipeline, "up", True)[0]["lockBehavior"] = "whenever"
    assert schema_findings("azure-pipelines", pipeline, azure_schema, AzurePipelinesValidator)


def test_template_expansion_refuses_what_it_cannot_evaluate(tmp_path):
    """The expansion must not pass an expression through unevaluated (the checks would then read its text)."""
    (tmp_path / "steps.yml").write_text("parameters:\n  - name: stack\n    type: string\nsteps:\n  - script: echo ${{ upper(parameters.stack) }}\n")
    (tmp_path / "pipeline.yml").write_text("steps:\n  - template: steps.yml\n    parameters:\n      stack: dev\n")
    with pytest.raises(ValueError, match="upper"):
        expand_azure(tmp_path / "pipeline.yml")
    (tmp_path / "pipeline.yml").write_text("steps:\n  - template: steps.yml\n    parameters:\n      stak: dev\n")
    with pytest.raises(ValueError, match="unknown parameters"):
        expand_azure(tmp_path / "pipeline.yml")


def _summary_script(platform: str, github: tuple[dict, dict], azure: dict) -> str:
    if platform == "github":
        return next(s["run"] for s in github[1]["runs"]["steps"] if s.get("name", "").startswith("Summary"))
    return next(s["script"] for stage in azure["stages"] for _, steps in _azure_jobs(stage) for s in steps
                if s.get("displayName", "").startswith("Summary"))


@pytest.mark.parametrize("platform", ["github", "azure"])
def test_preview_output_is_posted_on_the_pull_request(platform, github, azure, tmp_path):
    """The summary step really runs: it writes the run summary and posts the preview where each platform takes it."""
    posted: list[tuple[str, str, dict]] = []

    class PullRequestApi(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            posted.append((self.path, self.headers["Authorization"], json.loads(self.rfile.read(int(self.headers["Content-Length"])))))
            self.send_response(201)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

    server = HTTPServer(("127.0.0.1", 0), PullRequestApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    api = f"http://127.0.0.1:{server.server_port}"
    (tmp_path / "pulumi-dev.log").write_text("Previewing update (dev)\n    + 412 to create\n")
    env = {**os.environ, "STACK": "dev", "PULUMI_COMMAND": "preview"}
    if platform == "github":
        env |= {"RUNNER_TEMP": str(tmp_path), "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"), "PR_NUMBER": "42",
                "GH_TOKEN": "job-token", "GITHUB_API_URL": api, "GITHUB_REPOSITORY": "acme/odoo-platform"}
        expected_path, auth = "/repos/acme/odoo-platform/issues/42/comments", "Bearer job-token"
    else:
        env |= {"AGENT_TEMPDIRECTORY": str(tmp_path), "BUILD_REASON": "PullRequest", "BUILD_REPOSITORY_PROVIDER": "TfsGit",
                "SYSTEM_COLLECTIONURI": f"{api}/acme/", "SYSTEM_TEAMPROJECTID": "erp", "BUILD_REPOSITORY_ID": "platform",
                "SYSTEM_PULLREQUEST_PULLREQUESTID": "7", "SYSTEM_ACCESSTOKEN": "job-token"}
        expected_path, auth = "/acme/erp/_apis/git/repositories/platform/pullRequests/7/threads?api-version=7.1", "Bearer job-token"
    try:
        run = subprocess.run(["bash", "-c", _summary_script(platform, github, azure)], env=env, capture_output=True, text=True, timeout=60)
    finally:
        server.shutdown()
    assert run.returncode == 0, run.stderr
    summary = (tmp_path / ("summary.md" if platform == "github" else "pulumi-dev.md")).read_text()
    assert "+ 412 to create" in summary
    [(path, authorization, body)] = posted
    assert (path, authorization) == (expected_path, auth)
    text = body["body"] if platform == "github" else body["comments"][0]["content"]
    assert text == summary


def _login_refresher(platform: str, github: tuple[dict, dict], azure: dict) -> str:
    """The loop that re-logs the Azure CLI in with fresh OIDC tokens, as the pipeline runs it."""
    if platform == "github":
        step = next(s["run"] for s in github[1]["runs"]["steps"] if "azure-login-refresh" in s.get("run", ""))
        return re.search(r"<<'SCRIPT'\n(.*?)\nSCRIPT\n", step, re.DOTALL).group(1)  # type: ignore[union-attr]
    script = next(s["inputs"]["inlineScript"] for stage in azure["stages"] for _, steps in _azure_jobs(stage) for s in steps
                  if s.get("task") == "AzureCLI@2")
    return re.search(r"^refresh_login\(\) \{\n.*?^\}$", script, re.DOTALL | re.MULTILINE).group(0) + "\nrefresh_login\n"  # type: ignore[union-attr]


@pytest.mark.parametrize("platform", ["github", "azure"])
def test_azure_cli_login_is_renewed_with_fresh_oidc_tokens(platform, github, azure, tmp_path):
    """Two turns of the renewal loop (a fake `sleep` ends it, a fake `az` records its calls) against a local OIDC
    endpoint: each turn asks the platform for a new token the way it documents and logs the CLI in with it."""
    requests: list[tuple[str, str, str]] = []

    class TokenEndpoint(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            requests.append((self.command, self.path, self.headers["Authorization"]))
            key = "value" if platform == "github" else "oidcToken"
            body = json.dumps({key: f"oidc-{len(requests)}"}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer  # noqa: N815 (http.server's names)

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

    server = HTTPServer(("127.0.0.1", 0), TokenEndpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    api = f"http://127.0.0.1:{server.server_port}"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sleep").write_text('#!/bin/sh\nn=$(cat "$TURNS" 2>/dev/null || echo 0); echo $((n + 1)) > "$TURNS"; [ "$n" -lt 2 ]\n')
    (bin_dir / "az").write_text('#!/bin/sh\necho "$*" >> "$AZ_LOG"\n')
    for tool in ("sleep", "az"):
        (bin_dir / tool).chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "TURNS": str(tmp_path / "turns"), "AZ_LOG": str(tmp_path / "az.log")}
    if platform == "github":
        env |= {"ACTIONS_ID_TOKEN_REQUEST_URL": f"{api}/token?api-version=2.0", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "request-token",
                "AZURE_CLIENT_ID": "client-1", "AZURE_TENANT_ID": "tenant-1", "AZURE_SUBSCRIPTION_ID": "sub-1"}
        expected_request = ("GET", "/token?api-version=2.0&audience=api://AzureADTokenExchange", "bearer request-token")
    else:
        env |= {"SYSTEM_OIDCREQUESTURI": f"{api}/oidctoken", "AZURESUBSCRIPTION_SERVICE_CONNECTION_ID": "connection-1",
                "SYSTEM_ACCESSTOKEN": "job-token", "servicePrincipalId": "client-1", "tenantId": "tenant-1", "subscription": "sub-1"}
        expected_request = ("POST", "/oidctoken?api-version=7.1&serviceConnectionId=connection-1", "Bearer job-token")
    try:
        run = subprocess.run(["bash", "-c", _login_refresher(platform, github, azure)], env=env, capture_output=True, text=True, timeout=60)  # ends when the fake sleep fails
    finally:
        server.shutdown()
    assert requests == [expected_request, expected_request], run.stderr
    assert (tmp_path / "az.log").read_text().splitlines() == [
        "login --service-principal --username client-1 --tenant tenant-1 --federated-token oidc-1 --output none",
        "account set --subscription sub-1",
        "login --service-principal --username client-1 --tenant tenant-1 --federated-token oidc-2 --output none",
        "account set --subscription sub-1",
    ]
