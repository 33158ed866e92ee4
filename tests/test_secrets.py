"""No secret in clear: not in recorded inputs, outputs or plan files; the mocks mark secret outputs as the engine does."""
import json
import re

import pulumi
import pulumi_random as random
from pulumi_azure_native import keyvault

from tools.plan import build_plan
from tools.recording import run_program

MOCK_SECRET = re.compile(r"mock-(primary|secondary|[0-9a-f]{8}-)")


def test_no_plan_contains_a_password_or_key(stack):
    text = json.dumps(build_plan(stack))
    assert not MOCK_SECRET.search(text)
    assert text.count("[secret]") >= 3


def test_random_password_result_is_secret_even_when_passed_on_plainly():
    """The engine honours additionalSecretOutputs (RandomPassword.result); the recording must too."""

    def program():
        password = random.RandomPassword("pw", length=20)
        keyvault.Secret("s", resource_group_name="rg", vault_name="kv", secret_name="s", properties=keyvault.SecretPropertiesArgs(value=password.result))
        pulumi.export("pw", password.result)

    rec = run_program(program, "dev", {})
    assert rec.one("azure-native:keyvault:Secret").inputs["properties"]["value"] == "[secret]"
    assert rec.outputs["pw"] == "[secret]"
