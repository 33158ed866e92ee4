"""Run a Pulumi program under the Azure mocks and record every registered resource.

The recording keeps what `pulumi preview` and the policy engine would see: type, name, URN,
parent, provider, dependencies, `protect`, and the inputs with their camelCase wire names.
Secrets are replaced by "[secret]" as they are recorded, so no later step can leak one.
"""
import asyncio
import gc
import json
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import pulumi
from google.protobuf import json_format
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime import stack as pulumi_stack
from pulumi.runtime.config import set_all_config
from pulumi.runtime.stack import run_in_stack
from pulumi.runtime.sync_await import _sync_await

from .mocks import AzureMocks

SECRET = "[secret]"
_SIG = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
_RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
_UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
STACK_TYPE = "pulumi:pulumi:Stack"


def plain(value: Any) -> Any:
    """A wire value as plain JSON: secrets hidden, resource references as their URN."""
    if isinstance(value, dict):
        sig = value.get(_SIG)
        if sig == _SECRET_SIG:
            return SECRET
        if sig == _RESOURCE_SIG:
            return value.get("urn")
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if value == _UNKNOWN:
        return "[unknown]"
    if isinstance(value, float) and value.is_integer():
        return int(value)  # protobuf carries every number as a double
    return value


@dataclass
class RecordedResource:
    urn: str
    type: str
    name: str
    custom: bool
    parent: Optional[str]
    provider: Optional[str]
    dependencies: list[str]
    protect: bool
    inputs: dict[str, Any]
    retain_on_delete: bool = False
    aliases: int = 0
    ignore_changes: list[str] = field(default_factory=list)


@dataclass
class Recording:
    project: str
    stack: str
    resources: list[RecordedResource] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)

    def of_type(self, type_: str) -> list[RecordedResource]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str, name: Optional[str] = None) -> RecordedResource:
        found = [r for r in self.of_type(type_) if name is None or r.name == name]
        if len(found) != 1:
            raise AssertionError(f"expected one {type_} {name or ''}, found {[r.name for r in found]}")
        return found[0]

    def children(self, component_type: str, type_: Optional[str] = None) -> list[RecordedResource]:
        """Resources parented to the (single) component of `component_type`, optionally of one type."""
        parent = self.one(component_type).urn
        return [r for r in self.resources if r.parent == parent and (type_ is None or r.type == type_)]

    def by_urn(self, urn: str) -> RecordedResource:
        return next(r for r in self.resources if r.urn == urn)


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """A MockMonitor that also keeps parent, dependencies, provider and options of each registration."""

    def __init__(self, mocks: pulumi.runtime.Mocks, recording: Recording, on_register: Optional[Callable[[RecordedResource], None]] = None):
        super().__init__(mocks)
        self.recording = recording
        self.on_register = on_register

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.additionalSecretOutputs:
            response = self._mark_secret_outputs(response, request.additionalSecretOutputs)
        provider_ref = request.provider or None
        recorded = RecordedResource(
            urn=response.urn,
            type=request.type,
            name=request.name,
            custom=bool(request.custom),
            parent=request.parent or None,
            provider=provider_ref.rsplit("::", 1)[0] if provider_ref else None,
            dependencies=sorted(set(request.dependencies)),
            protect=bool(request.protect),
            retain_on_delete=bool(request.retainOnDelete),
            inputs=plain(json_format.MessageToDict(request.object)),
            aliases=len(request.aliases),
            ignore_changes=sorted(request.ignoreChanges),
        )
        self.recording.resources.append(recorded)
        if self.on_register is not None:
            self.on_register(recorded)
        return response

    @staticmethod
    def _mark_secret_outputs(response, names):
        """What the engine does and MockMonitor does not: outputs listed in additionalSecretOutputs come back secret
        (e.g. RandomPassword.result). Without this, a password passed on without Output.secret looks harmless here."""
        outputs = json_format.MessageToDict(response.object)
        for name in names:
            if name in outputs:
                outputs[name] = {_SIG: _SECRET_SIG, "value": outputs[name]}
        response.object.Clear()
        response.object.update(outputs)
        return response

    def RegisterResourceOutputs(self, request):
        if request.urn.split("::")[2] == STACK_TYPE:
            self.recording.outputs = plain(json_format.MessageToDict(request.outputs))
        return super().RegisterResourceOutputs(request)


async def drain_linearly(await_all_outstanding_tasks: bool = True) -> None:
    """`pulumi.runtime.stack.wait_for_rpcs` (SDK 3.272) with one change: it awaits the outstanding outputs one by one.
    The SDK calls `asyncio.wait(every pending output, FIRST_COMPLETED)` in a loop, which adds and removes a callback on
    every pending task each time one finishes: quadratic in the outputs (python/cpython#74741). Profiled at 200 tenant
    environments (py-spy), that loop was 65% of the program's time. Every output is still awaited and the first
    failure still raised; only the order in which this coroutine wakes up differs, not what the program registers."""
    rpc_manager = pulumi_settings._get_rpc_manager()
    outputs = pulumi_settings.SETTINGS.outputs
    while True:
        while rpc_manager.rpcs:
            await asyncio.sleep(0)
            try:
                await rpc_manager.rpcs.pop()
            except Exception as exn:
                if rpc_manager.unhandled_exception is not None:
                    raise exn from rpc_manager.unhandled_exception.with_traceback(rpc_manager.exception_traceback)
                raise
        if rpc_manager.unhandled_exception is not None:
            raise rpc_manager.unhandled_exception.with_traceback(rpc_manager.exception_traceback)
        while await_all_outstanding_tasks:
            with pulumi_settings.SETTINGS.lock:
                pending = list(outputs)
                outputs.clear()
            if not pending:
                break
            for task in pending:
                await task  # raises the task's exception as the SDK's loop does
        if not rpc_manager.rpcs:
            break


@contextmanager
def linear_drain():
    """Run programs with `drain_linearly` in place of the SDK's loop (only where the SDK still has its shape)."""
    original = getattr(pulumi_stack, "wait_for_rpcs", None)
    fits = original is not None and hasattr(pulumi_settings, "_get_rpc_manager") and hasattr(pulumi_settings.SETTINGS, "outputs")
    if fits:
        pulumi_stack.wait_for_rpcs = drain_linearly
    try:
        yield
    finally:
        if fits:
            pulumi_stack.wait_for_rpcs = original


def config_values(project: str, raw: dict[str, Any]) -> dict[str, str]:
    """Stack settings the way the CLI hands them to a program: namespaced, objects as JSON."""
    return {f"{project}:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in raw.items()}


def run_program(
    program: Callable[[], Any],
    stack: str,
    raw_config: dict[str, Any],
    project: str = "odoo-platform",
    on_register: Optional[Callable[[RecordedResource], None]] = None,
) -> Recording:
    """Run `program` as stack `stack` under the Azure mocks (not a preview: every output is known).
    `on_register` sees each resource as it registers, as the engine's analyzers do."""
    recording = Recording(project, stack)
    monitor = RecordingMonitor(AzureMocks(), recording, on_register)
    set_all_config(config_values(project, raw_config))
    # set_mocks() would create and finish a root stack at once; run_in_stack makes it around the program.
    pulumi_settings.ROOT.set(None)
    pulumi_settings.configure(
        pulumi_mocks.MockSettings(
            monitor=monitor,
            monitor_features=set(monitor.GetDeploymentInfo(None).supportedFeatures),
            engine=pulumi_mocks.MockEngine(None),
            project=project,
            stack=stack,
            dry_run=False,
            organization="organization",
            callbacks=None,
        )
    )
    pulumi_settings.SETTINGS.outputs.clear()
    with linear_drain(), imports_frozen():
        _sync_await(run_in_stack(program))
    return recording


@contextmanager
def imports_frozen():
    """The objects that exist before the program runs (mostly the SDK modules: about 340,000) left out of the cyclic
    garbage collector's walks while it runs (`gc.freeze`): every full collection walked them all again (dev's program:
    4.2-4.7 s before, 3.6-3.9 s with this, measured). They are handed back to the collector when the program ends."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
