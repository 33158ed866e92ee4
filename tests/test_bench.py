"""tools/bench.py: the floor the program's run is measured against registers what the program registered."""
import pulumi
import pulumi_azure_native.network as network
import pulumi_azure_native.resources as resources

from tools.bench import declared_properties, floor_program
from tools.recording import run_program


def _program() -> None:
    class Part(pulumi.ComponentResource):
        def __init__(self, name: str):
            super().__init__("test:index:Part", name)
            group = resources.ResourceGroup(f"{name}-rg", location="westeurope", opts=pulumi.ResourceOptions(parent=self))
            network.VirtualNetwork(f"{name}-vnet", resource_group_name=group.name, address_space={"address_prefixes": ["10.0.0.0/16"]},
                                   opts=pulumi.ResourceOptions(parent=self, protect=True))

    Part("a")
    Part("b")


def test_the_floor_registers_the_same_resources_with_as_many_properties():
    with declared_properties() as declared:
        program = run_program(_program, "dev", {})
    vnet = next(r for r in program.resources if r.type == "azure-native:network:VirtualNetwork")
    assert declared["azure-native:network:VirtualNetwork"] > len(vnet.inputs)  # outputs the program did not set count too

    with declared_properties() as registered:
        floor = run_program(floor_program(program, declared), "dev", {})
    shape = lambda recording: [(r.urn, r.type, r.parent, r.custom, r.protect, r.inputs) for r in recording.resources]  # noqa: E731
    assert sorted(shape(floor), key=str) == sorted(shape(program), key=str)
    custom_types = {r.type for r in program.resources if r.custom}
    assert {t: registered[t] for t in custom_types} == {t: declared[t] for t in custom_types}
