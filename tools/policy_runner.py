"""Run a CrossGuard policy pack over its own Analyzer gRPC protocol, as `pulumi preview --policy-pack` does.

The pack is started as `python -u <pack dir>`; it prints the port it serves on. Then:
GetAnalyzerInfo, Configure (the pack config, with schema defaults filled in as the CLI does),
ConfigureStack, Analyze per resource and AnalyzeStack once.
"""
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

import grpc
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

LEVELS = {"advisory": analyzer_pb2.ADVISORY, "mandatory": analyzer_pb2.MANDATORY, "disabled": analyzer_pb2.DISABLED, "remediate": analyzer_pb2.REMEDIATE}
LEVEL_NAMES = {v: k for k, v in LEVELS.items()}


class PolicyPackError(RuntimeError):
    """The pack could not be started or answered out of protocol."""


@dataclass
class Violation:
    policy: str
    level: str
    urn: str
    message: str


@dataclass
class PolicyResult:
    pack: str
    policies: list[str]
    violations: list[Violation] = field(default_factory=list)

    @property
    def mandatory(self) -> list[Violation]:
        return [v for v in self.violations if v.level == "mandatory"]

    def as_plan_section(self) -> dict[str, Any]:
        return {
            "pack": self.pack,
            "policies": len(self.policies),
            "violations": [v.__dict__ for v in self.violations],
        }


def _struct(value: dict[str, Any]) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(value)
    return s


def _policy_configs(info, pack_config: dict[str, Any]) -> dict[str, analyzer_pb2.PolicyConfig]:
    """The per-policy config the CLI sends: `all` level, then each policy's level and properties over schema defaults."""
    all_level = pack_config.get("all")
    known = {p.name for p in info.policies}
    unknown = sorted(set(pack_config) - known - {"all"})
    if unknown:
        raise PolicyPackError(f"policy pack config names unknown policies: {', '.join(unknown)}")
    configs = {}
    for p in info.policies:
        level = p.enforcementLevel
        if isinstance(all_level, str):
            level = LEVELS[all_level]
        props = {k: v["default"] for k, v in _schema_properties(p).items() if "default" in v}
        own = pack_config.get(p.name)
        if isinstance(own, str):
            level = LEVELS[own]
        elif isinstance(own, dict):
            own = dict(own)
            if "enforcementLevel" in own:
                level = LEVELS[own.pop("enforcementLevel")]
            props.update(own)
        configs[p.name] = analyzer_pb2.PolicyConfig(enforcementLevel=level, properties=_struct(props))
    return configs


def _schema_properties(policy_info) -> dict[str, Any]:
    return json_format.MessageToDict(policy_info.configSchema.properties) if policy_info.HasField("configSchema") else {}


class PolicyPack:
    """A running policy pack process and a client of its Analyzer service."""

    def __init__(self, pack_dir: str, python: str = sys.executable):
        self.pack_dir = pack_dir
        self.process = subprocess.Popen(
            [python, "-u", pack_dir],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )
        port_line = self.process.stdout.readline().strip() if self.process.stdout else ""
        if not port_line.isdigit():
            self.process.kill()
            _, err = self.process.communicate(timeout=10)
            raise PolicyPackError(f"policy pack {pack_dir} did not start: {port_line} {err.strip()[-2000:]}")
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port_line}", options=[("grpc.max_receive_message_length", 400 * 1024 * 1024)])
        self.stub = analyzer_pb2_grpc.AnalyzerStub(self.channel)

    def __enter__(self) -> "PolicyPack":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.channel.close()
        self.process.kill()
        self.process.communicate(timeout=10)

    def info(self):
        return self.stub.GetAnalyzerInfo(empty_pb2.Empty())

    def plugin_version(self) -> str:
        return self.stub.GetPluginInfo(empty_pb2.Empty()).version

    def analyze(
        self,
        resources: Iterable[dict[str, Any]],
        project: str,
        stack: str,
        pack_config: Optional[dict[str, Any]] = None,
    ) -> PolicyResult:
        """Analyze plan-file resource entries (see tools/plan.py) and collect the violations."""
        resources = list(resources)
        info = self.info()
        self.stub.Configure(analyzer_pb2.ConfigureAnalyzerRequest(policyConfig=_policy_configs(info, pack_config or {})))
        self.stub.ConfigureStack(analyzer_pb2.AnalyzerStackConfigureRequest(stack=stack, project=project, dry_run=True))
        result = PolicyResult(pack=info.name, policies=[p.name for p in info.policies])
        by_urn = {r["urn"]: r for r in resources}

        def provider_of(r: dict[str, Any]) -> Optional[analyzer_pb2.AnalyzerProviderResource]:
            prov = by_urn.get(r.get("provider") or "")
            if prov is None:
                return None
            return analyzer_pb2.AnalyzerProviderResource(type=prov["type"], properties=_struct(prov["inputs"]), urn=prov["urn"], name=prov["name"])

        def options_of(r: dict[str, Any]) -> analyzer_pb2.AnalyzerResourceOptions:
            return analyzer_pb2.AnalyzerResourceOptions(protect=bool(r.get("protect")), parent=r.get("parent") or "")

        def collect(response, default_urn: str) -> None:
            for d in response.diagnostics:
                result.violations.append(Violation(d.policyName, LEVEL_NAMES.get(d.enforcementLevel, "advisory"), d.urn or default_urn, d.message))

        for r in resources:
            request = analyzer_pb2.AnalyzeRequest(
                type=r["type"], properties=_struct(r["inputs"]), urn=r["urn"], name=r["name"], options=options_of(r), provider=provider_of(r)
            )
            collect(self.stub.Analyze(request), r["urn"])
        stack_request = analyzer_pb2.AnalyzeStackRequest(
            resources=[
                analyzer_pb2.AnalyzerResource(
                    type=r["type"],
                    properties=_struct(r["inputs"]),
                    urn=r["urn"],
                    name=r["name"],
                    options=options_of(r),
                    provider=provider_of(r),
                    parent=r.get("parent") or "",
                    dependencies=r.get("dependencies") or [],
                )
                for r in resources
            ]
        )
        collect(self.stub.AnalyzeStack(stack_request), "")
        return result


def load_pack_config(path: Optional[str]) -> dict[str, Any]:
    if not path:
        return {}
    with open(path, encoding="utf-8") as f:
        return json.load(f)

