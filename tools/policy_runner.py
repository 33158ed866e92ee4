"""Run a CrossGuard policy pack over its own Analyzer gRPC protocol, as `pulumi preview --policy-pack` does.

The pack is started as `python -u <pack dir>`; it prints the port it serves on. Then:
GetAnalyzerInfo, Configure (the pack config, with schema defaults filled in as the CLI does),
ConfigureStack, Analyze per resource and AnalyzeStack once.
"""
import gc
import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Optional

import grpc
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

LEVELS = {"advisory": analyzer_pb2.ADVISORY, "mandatory": analyzer_pb2.MANDATORY, "disabled": analyzer_pb2.DISABLED, "remediate": analyzer_pb2.REMEDIATE}
LEVEL_NAMES = {v: k for k, v in LEVELS.items()}


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# How the pack is started: `python -u <pack dir>`, with decode_each_struct_once() and proxy_on_access() installed first.
_PACK_BOOTSTRAP = (
    "import runpy, sys; sys.path.insert(0, sys.argv[1]); from tools.policy_runner import decode_each_struct_once, proxy_on_access; "
    "decode_each_struct_once(); proxy_on_access(); sys.argv = sys.argv[2:]; runpy.run_path(sys.argv[0], run_name='__main__')"
)


def decode_each_struct_once() -> None:
    """In the pack's process, before the pack starts: decode each message once per request.

    pulumi_policy 1.21 decodes a resource's properties (`json_format.MessageToDict`) inside its loop over policies:
    once per resource policy in `Analyze` (76 times per resource here) and every resource once per stack policy in
    `AnalyzeStack`, then `deserialize_properties` of the result as often. Profiled at 200 tenant environments
    (py-spy), the decoding was 45% of the pack's time. Within one Analyze/AnalyzeStack call this keeps each message's
    decoded and deserialized values and hands the same ones out again. Neither function changes its input, and each
    policy still gets a proxy of its own (`unknown_checking_proxy`, see proxy_on_access), so no policy sees another's
    changes. Each request also runs with the cyclic collector paused, and AnalyzeStack reads its resources' messages
    once (StackRequestRead). Skipped where the SDK no longer has this shape."""
    from google.protobuf import json_format
    from pulumi_policy import policy as sdk

    servicer = getattr(sdk, "_PolicyAnalyzerServicer", None)
    deserialize_properties = getattr(sdk, "deserialize_properties", None)
    if servicer is None or getattr(sdk, "json_format", None) is not json_format or deserialize_properties is None:
        return
    memo = threading.local()

    def once(kind: str, value: Any, compute: Callable[[Any], Any]) -> Any:
        cache = memo.cache
        hit = cache.get((kind, id(value)))
        if hit is None or hit[0] is not value:  # the value itself is kept: its id cannot be reused meanwhile
            hit = cache[(kind, id(value))] = (value, compute(value))
        return hit[1]

    class OncePerRequest:
        def __getattr__(self, name: str) -> Any:
            return getattr(json_format, name)

        @staticmethod
        def MessageToDict(message, *args, **kwargs):  # noqa: N802 (json_format's name)
            if getattr(memo, "cache", None) is None or args or kwargs:
                return json_format.MessageToDict(message, *args, **kwargs)
            return once("decoded", message, json_format.MessageToDict)

    def deserialize_once(props: dict[str, Any], proxy_secrets: bool = False) -> dict[str, Any]:
        if getattr(memo, "cache", None) is None or proxy_secrets:
            return deserialize_properties(props, proxy_secrets)
        return once("deserialized", props, deserialize_properties)

    def per_request(method, view=lambda request: request):
        def call(self, request, context):
            # The cyclic collector paused while a request runs: it allocates a proxy and arguments per policy and
            # resource, and each collection walks the pack's whole heap (half of AnalyzeStack at 200 environments).
            # What a request leaves is freed by reference counting when it ends; the collector resumes after.
            memo.cache = {}
            gc.disable()
            try:
                return method(self, view(request), context)
            finally:
                memo.cache = None
                gc.enable()

        return call

    sdk.json_format = OncePerRequest()
    sdk.deserialize_properties = deserialize_once
    servicer.Analyze = per_request(servicer.Analyze)
    servicer.AnalyzeStack = per_request(servicer.AnalyzeStack, StackRequestRead)


class ResourceRead:
    """An AnalyzeStack resource's fields read out of its message once. The SDK reads every resource once per stack
    policy; iterating the repeated field and its empty `propertyDependencies` map each time was a quarter of AnalyzeStack's
    samples at 200 tenant environments (py-spy). The sub-messages are the message's own objects, so their decoding is shared
    too; any other attribute is the message's."""

    __slots__ = ("message", "type", "urn", "name", "parent", "dependencies", "propertyDependencies", "properties", "options", "provider")

    def __init__(self, message: Any):
        self.message = message
        self.type, self.urn, self.name, self.parent = message.type, message.urn, message.name, message.parent
        self.dependencies = list(message.dependencies)
        self.propertyDependencies = dict(message.propertyDependencies.items())
        self.properties, self.options, self.provider = message.properties, message.options, message.provider

    def HasField(self, name: str) -> bool:  # noqa: N802 (protobuf's name)
        return self.message.HasField(name)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.message, name)


class StackRequestRead:
    """An AnalyzeStackRequest whose `resources` are read once (ResourceRead); anything else is the request's."""

    def __init__(self, request: Any):
        self.request = request
        self.resources = [ResourceRead(r) for r in request.resources]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.request, name)


def proxy_on_access() -> None:
    """In the pack's process, before the pack starts: build each policy's unknown-checking proxy as it reads it.

    pulumi_policy 1.21 gives every policy its own `unknown_checking_proxy` of the resource's properties, built eagerly:
    a proxy for every dict and list, each holding a copy of its path, before the policy runs. Most policies read a
    resource's type and return, so those copies were most of the pack's time once decoding was shared (py-spy: 3.5 s
    of Analyze over dev's 726 resources, 1.6 s with this). Skipped where the SDK no longer has this shape."""
    from pulumi_policy import policy as sdk

    proxy = on_access_proxy()
    if proxy is not None and hasattr(sdk, "unknown_checking_proxy"):
        sdk.unknown_checking_proxy = proxy


def on_access_proxy() -> Optional[Callable[[Any], Any]]:
    """`unknown_checking_proxy` built on access: a proxy holds a shallow copy of its dict or list and proxies a member
    the first time it is read, with the path the eager one gives it. What a policy reads, the errors it gets and what
    it writes into its own copy are as before, and no policy sees another's changes; `__target` (the SDK's serializer
    reads it) proxies every member first, as the eager one has. None where the SDK's proxy classes have changed."""
    from pulumi_policy import proxy

    if not all(hasattr(proxy, n) for n in ("_DictProxy", "_ListProxy", "_raise_if_unknown")):
        return None

    def wrap(value: Any, path: list[str]) -> Any:
        if isinstance(value, dict):
            return OnAccessDict(value, path)
        if isinstance(value, list):
            return OnAccessList(value, path)
        return value

    class OnAccess:
        """What both proxies add: `members` is the proxy's own copy, its members proxied as they are first read."""

        def _start(self, members: Any, path: list[str]) -> None:
            self._members, self._path, self._wrapped = members, path, set()

        def _member(self, key: Any) -> Any:
            if key not in self._wrapped:
                self._members[key] = wrap(self._members[key], self._path + [str(key)])
                self._wrapped.add(key)
            return self._members[key]

        def _all_members(self, keys: Iterable[Any]) -> Any:
            for key in list(keys):
                self._member(key)
            return self._members

    class OnAccessDict(OnAccess, proxy._DictProxy):
        def __init__(self, source: dict, path: list[str]):
            members = dict(source)
            proxy._DictProxy.__init__(self, members, path)
            self._start(members, path)

        def __getitem__(self, key):
            if key == "__target":
                return self._all_members(self._members)
            return proxy._raise_if_unknown(key, self._member(key), self._path)

        def __setitem__(self, key, value):
            self._members[key] = value
            self._wrapped.add(key)

    class OnAccessList(OnAccess, proxy._ListProxy):
        def __init__(self, source: list, path: list[str]):
            members = list(source)
            proxy._ListProxy.__init__(self, members, path)
            self._start(members, path)

        def __getitem__(self, key):
            if key == "__target":
                return self._all_members(range(len(self._members)))
            if isinstance(key, slice):
                return [self._member(i) for i in range(*key.indices(len(self)))]
            index = key + len(self) if isinstance(key, int) and key < 0 else key
            return proxy._raise_if_unknown(key, self._member(index), self._path)

    return lambda props: wrap(props, [])


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


def connect(port: int) -> tuple[grpc.Channel, analyzer_pb2_grpc.AnalyzerStub]:
    channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.max_receive_message_length", 400 * 1024 * 1024)])
    return channel, analyzer_pb2_grpc.AnalyzerStub(channel)


class PolicyPack:
    """A running policy pack process and a client of its Analyzer service."""

    def __init__(self, pack_dir: str, python: str = sys.executable, decode_once: bool = True):
        """`decode_once=False` runs the pack exactly as the CLI does, without decode_each_struct_once()."""
        self.pack_dir = pack_dir
        self.process = subprocess.Popen(
            [python, "-u", "-c", _PACK_BOOTSTRAP, ROOT, pack_dir] if decode_once else [python, "-u", pack_dir],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )
        try:
            port_line = self.process.stdout.readline().strip() if self.process.stdout else ""
        except BaseException:  # stopped while the pack starts (tools/pack_feed.py on SIGTERM): it must not outlive us
            self.process.kill()
            self.process.wait()
            raise
        if not port_line.isdigit():
            self.process.kill()
            _, err = self.process.communicate(timeout=10)
            raise PolicyPackError(f"policy pack {pack_dir} did not start: {port_line} {err.strip()[-2000:]}")
        self.port = int(port_line)
        self.channel, self.stub = connect(self.port)

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

    @staticmethod
    def configure(stub, project: str, stack: str, pack_config: Optional[dict[str, Any]] = None) -> "AnalysisSession":
        """Configure the pack for one stack, as the CLI does before the first resource registers."""
        info = stub.GetAnalyzerInfo(empty_pb2.Empty())
        stub.Configure(analyzer_pb2.ConfigureAnalyzerRequest(policyConfig=_policy_configs(info, pack_config or {})))
        stub.ConfigureStack(analyzer_pb2.AnalyzerStackConfigureRequest(stack=stack, project=project, dry_run=True))
        return AnalysisSession(stub, PolicyResult(pack=info.name, policies=[p.name for p in info.policies]))

    def analyze(
        self,
        resources: Iterable[dict[str, Any]],
        project: str,
        stack: str,
        pack_config: Optional[dict[str, Any]] = None,
    ) -> PolicyResult:
        """Analyze plan-file resource entries (see tools/plan.py) and collect the violations."""
        session = self.configure(self.stub, project, stack, pack_config)
        resources = list(resources)
        for r in resources:
            session.analyze(r)
        return session.analyze_stack(resources)


class AnalysisSession:
    """`Analyze` per resource as each one arrives (the CLI analyzes during registration), then `AnalyzeStack` once."""

    def __init__(self, stub: analyzer_pb2_grpc.AnalyzerStub, result: PolicyResult):
        self.stub, self.result = stub, result
        self._providers: dict[str, dict[str, Any]] = {}
        self._encoded: dict[str, tuple[dict[str, Any], struct_pb2.Struct]] = {}

    def _properties(self, r: dict[str, Any]) -> struct_pb2.Struct:
        """The entry's inputs as a Struct, encoded once: AnalyzeStack reuses what Analyze encoded for the same inputs."""
        inputs = r["inputs"]
        known = self._encoded.get(r["urn"])
        if known is None or known[0] is not inputs:
            known = self._encoded[r["urn"]] = (inputs, _struct(inputs))
        return known[1]

    def _provider(self, r: dict[str, Any]) -> Optional[analyzer_pb2.AnalyzerProviderResource]:
        prov = self._providers.get(r.get("provider") or "")
        if prov is None:
            return None
        return analyzer_pb2.AnalyzerProviderResource(type=prov["type"], properties=_struct(prov["inputs"]), urn=prov["urn"], name=prov["name"])

    @staticmethod
    def _options(r: dict[str, Any]) -> analyzer_pb2.AnalyzerResourceOptions:
        return analyzer_pb2.AnalyzerResourceOptions(protect=bool(r.get("protect")), parent=r.get("parent") or "")

    def _collect(self, response, default_urn: str) -> None:
        for d in response.diagnostics:
            self.result.violations.append(Violation(d.policyName, LEVEL_NAMES.get(d.enforcementLevel, "advisory"), d.urn or default_urn, d.message))

    def analyze(self, r: dict[str, Any]) -> None:
        if r["type"].startswith("pulumi:providers:"):
            self._providers[r["urn"]] = r
        request = analyzer_pb2.AnalyzeRequest(
            type=r["type"], properties=self._properties(r), urn=r["urn"], name=r["name"], options=self._options(r), provider=self._provider(r)
        )
        self._collect(self.stub.Analyze(request), r["urn"])

    def analyze_stack(self, resources: list[dict[str, Any]]) -> PolicyResult:
        for r in resources:
            if r["type"].startswith("pulumi:providers:"):
                self._providers[r["urn"]] = r
        request = analyzer_pb2.AnalyzeStackRequest(
            resources=[
                analyzer_pb2.AnalyzerResource(
                    type=r["type"],
                    properties=self._properties(r),
                    urn=r["urn"],
                    name=r["name"],
                    options=self._options(r),
                    provider=self._provider(r),
                    parent=r.get("parent") or "",
                    dependencies=r.get("dependencies") or [],
                )
                for r in resources
            ]
        )
        self._collect(self.stub.AnalyzeStack(request), "")
        return self.result


def load_pack_config(path: Optional[str]) -> dict[str, Any]:
    if not path:
        return {}
    with open(path, encoding="utf-8") as f:
        return json.load(f)

