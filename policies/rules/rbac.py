"""Azure RBAC: no privileged role at subscription or resource-group scope (or above) for a workload identity.

A stack policy, because "workload identity" is partly a fact of the stack: a principal the stack computes from a
user-assigned identity, a cluster or any resource with a managed identity is a workload even when the assignment
omits `principalType`.
"""
import re

from .common import StackRule, known, per_resource

ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
ROLE_DEFINITION = "azure-native:authorization:RoleDefinition"
URL = "https://learn.microsoft.com/azure/role-based-access-control/built-in-roles"
# Built-in role definition ids (the same in every tenant; names and ids from the built-in roles reference above).
PRIVILEGED_ROLES = {
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
    "b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
    "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": "User Access Administrator",
    "f58310d9-a9f6-439a-9e8d-f62e7b41a168": "Role Based Access Control Administrator",
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
    "17d1049b-9a84-46fb-8f53-869881c3d3ab": "Storage Account Contributor",  # lists the account keys
    "00482a5a-887f-4fb3-b363-3b7fe8e74483": "Key Vault Administrator",
    "8b54135c-b56d-4d72-a534-26097cfdc8d8": "Key Vault Data Access Administrator",
    "b86a8fe4-44ce-4948-aee5-eccb2c155cd7": "Key Vault Secrets Officer",
    "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b": "Azure Kubernetes Service RBAC Cluster Admin",
    "0ab0b1a8-8aac-4efd-b8c2-3ee1fb270be8": "Azure Kubernetes Service Cluster Admin Role",
}
GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# A scope that is a subscription or resource group (or a management group, or the tenant root) rather than one resource.
BROAD_SCOPE = re.compile(r"^(/|/subscriptions/[^/]+|/subscriptions/[^/]+/resourcegroups/[^/]+|/providers/microsoft\.management/managementgroups/[^/]+)$")
IDENTITY_TYPES = ("azure-native:managedidentity:UserAssignedIdentity", "azure-native:containerservice:ManagedCluster")
# A custom role is as strong as the privileged built-ins when it holds a wildcard other than reading, writes Azure RBAC
# itself, or reads or resets a service's keys and secrets (what makes Storage Account Contributor privileged above).
SECRET_ACTIONS = re.compile(r"/(listkeys|regeneratekey|listsecrets|listcredentials?|listconnectionstrings|listadmincredential)/action$")


def role_id(role_definition_id) -> str:
    """The role's GUID from a bare GUID or a full `/subscriptions/.../roleDefinitions/<guid>` path, in any case."""
    found = GUID.findall(str(role_definition_id).lower())
    return found[-1] if found else ""


def broad(scope) -> bool:
    return bool(BROAD_SCOPE.match(str(scope).strip().lower().rstrip("/") or "/"))


def _workload_urns(resources) -> set[str]:
    return {r.urn for r in resources if r.resource_type in IDENTITY_TYPES or known(lambda r=r: bool(r.props.get("identity")), False)}


def _principal_from_stack(assignment, workloads: set[str]) -> bool:
    deps = assignment.property_dependencies.get("principalId") if "principalId" in assignment.property_dependencies else assignment.dependencies
    return any(d.urn in workloads for d in deps or [])


def _privileged_action(definition) -> str:
    """The first action of a custom role that makes it privileged, or ''."""
    for permission in known(lambda: definition.props.get("permissions"), None) or []:
        for action in [*(permission.get("actions") or []), *(permission.get("dataActions") or [])]:
            a = str(action).lower()
            if ("*" in a and not a.endswith("/read")) or (a.startswith("microsoft.authorization/") and not a.endswith("/read")) or SECRET_ACTIONS.search(a):
                return str(action)
    return ""


def _custom_role(assignment, definitions) -> str:
    """A privileged custom role of the stack the assignment grants: matched by its GUID, or, while the assignment's
    role id is unknown (preview), by the definition it depends on."""
    wanted = role_id(known(lambda: assignment.props.get("roleDefinitionId"), ""))
    for d in definitions:
        if (wanted and role_id(known(lambda d=d: d.props.get("roleDefinitionId"), "")) == wanted) or (not wanted and d.urn in {x.urn for x in assignment.dependencies or []}):
            action = _privileged_action(d)
            if action:
                return f"custom role {d.name!r} (it allows {action!r})"
    return ""


def _privileged_assignments(resources, c):
    workloads = _workload_urns(resources)
    definitions = [r for r in resources if r.resource_type == ROLE_DEFINITION]

    def judge(r):
        if r.resource_type != ROLE_ASSIGNMENT:
            return
        role = PRIVILEGED_ROLES.get(role_id(known(lambda: r.props.get("roleDefinitionId"), ""))) or _custom_role(r, definitions)
        kind = str(r.props.get("principalType") or "").lower()
        workload = kind == "serviceprincipal" or (not kind and _principal_from_stack(r, workloads))
        if role and workload and broad(r.props.get("scope")):
            yield f"RoleAssignment {r.name!r} grants {role} on {r.props.get('scope')!r} to a workload identity; grant a narrower role on the resource", r.urn

    yield from per_resource(resources, judge)


RULES = [
    StackRule("azure-no-privileged-roles-for-workloads",
              "No workload identity (service principal, managed identity) holds Owner, Contributor, User Access Administrator or a data-plane owner role, "
              "or a custom role as strong (a wildcard, RBAC writes, listing or regenerating keys), at subscription or resource-group scope.",
              _privileged_assignments, control="PA-7",
              remediation="Grant the narrowest built-in role on the resource itself (see components/interfaces.py role_assignment).", url=URL),
]
