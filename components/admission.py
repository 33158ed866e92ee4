"""AdmissionGuardrails: Azure Policy for Kubernetes assignments on a cluster, so that what Flux or a person applies
is checked at admission time like what Pulumi deploys is checked by the pack (policies/).

Built-in definitions, by id (Azure/azure-policy, built-in-policies/):
- policySetDefinitions/Kubernetes/Kubernetes_PSPRestrictedStandard.json: "Kubernetes cluster pod security restricted
  standards for Linux-based workloads" (42b8ef37-...); parameters `effect` (audit|Audit|deny|Deny|disabled|Disabled),
  `excludedNamespaces`, `namespaces`, `allowedCapabilities`, `requiredDropCapabilities`. Its members: no privileged
  containers, no privilege escalation, no host network/PID/IPC, capabilities, volume types (configMap, csi,
  downwardAPI, emptyDir, ephemeral, persistentVolumeClaim, projected, secret), users and groups (runAsNonRoot;
  runAsGroup, supplementalGroups and fsGroup MustRunAs 1-65535), seccomp runtime/default.
- policyDefinitions/Kubernetes/ContainerAllowedImages.json: "Kubernetes cluster containers should only use allowed
  images" (febd0533-...); parameters `effect`, `excludedNamespaces`, `allowedContainerImagesRegex`.
Both evaluate only once the cluster's `azurepolicy` add-on runs (components/aks.py turns it on).
"""
import re
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import pulumi
from pulumi_azure_native import authorization

from .certificates import NAMESPACE as CERT_MANAGER_NAMESPACE
from .flux import FLUX_NAMESPACE
from .tier import Tier, admission_effect
from .traefik import NAMESPACE as TRAEFIK_NAMESPACE

POD_SECURITY_RESTRICTED = "/providers/Microsoft.Authorization/policySetDefinitions/42b8ef37-b724-4e24-bbc8-7a7708edfe00"
ALLOWED_IMAGES = "/providers/Microsoft.Authorization/policyDefinitions/febd0533-8e55-448f-b837-bd0e06f16469"

# Namespaces whose pods Azure or the platform's installed charts run, not tenants: AKS add-ons (the Key Vault CSI
# driver, KEDA, Azure Monitor agents and the cost-analysis agent all run in kube-system), the policy add-on itself
# (gatekeeper-system), Arc and extension usage (the initiative's own defaults), the Flux extension, Traefik and
# cert-manager (charts whose pods need what tenants may not: NET_BIND_SERVICE, upstream images cached under other
# names). Everything else, tenant namespaces and the platform's own job namespaces included, is checked.
SYSTEM_NAMESPACES = (
    "kube-system",
    "gatekeeper-system",
    "azure-arc",
    "azure-extensions-usage-system",
    FLUX_NAMESPACE,
    TRAEFIK_NAMESPACE,
    CERT_MANAGER_NAMESPACE,
)


ALLOWED_CAPABILITIES = ("NET_BIND_SERVICE",)


def allowed_images_regex(registry_servers: Sequence[str]) -> str:
    """Images only from these registries (login servers), any repository and tag or digest under them."""
    if not registry_servers:
        raise ValueError("at least one registry is needed: an empty allow-list would reject every image")
    alternatives = "|".join(re.escape(server) for server in registry_servers)
    return f"^({alternatives})/.+$"


@dataclass(frozen=True)
class AdmissionGuardrailsArgs:
    tier: Tier
    cluster_id: pulumi.Input[str]
    cluster_name: str
    # The platform registry's login server, and any external registry the stack allows.
    registry_servers: Sequence[pulumi.Input[str]]
    excluded_namespaces: Sequence[str] = field(default_factory=lambda: SYSTEM_NAMESPACES)


class AdmissionGuardrails(pulumi.ComponentResource):
    assignments: dict[str, authorization.PolicyAssignment]

    def __init__(self, name: str, args: AdmissionGuardrailsArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("odoo-platform:admission:AdmissionGuardrails", name, None, opts)
        effect = admission_effect(args.tier)
        excluded = list(args.excluded_namespaces)
        regex = pulumi.Output.all(*args.registry_servers).apply(lambda servers: allowed_images_regex(list(servers)))

        def parameters(**values: Any) -> dict[str, authorization.ParameterValuesValueArgs]:
            return {key: authorization.ParameterValuesValueArgs(value=value) for key, value in values.items()}

        wanted = {
            "pod-security": (
                POD_SECURITY_RESTRICTED,
                "pod security restricted standards",
                # The pack's k8s-capabilities-dropped, at admission: drop ALL, add nothing but NET_BIND_SERVICE (the
                # initiative's default would admit fourteen added capabilities and require no drop).
                parameters(effect=effect, excludedNamespaces=excluded, allowedCapabilities=list(ALLOWED_CAPABILITIES), requiredDropCapabilities=["ALL"]),
            ),
            "allowed-images": (
                ALLOWED_IMAGES,
                "images from the platform's registries only",
                parameters(effect=effect, excludedNamespaces=excluded, allowedContainerImagesRegex=regex),
            ),
        }
        self.assignments = {}
        for key, (definition, purpose, values) in wanted.items():
            self.assignments[key] = authorization.PolicyAssignment(
                f"{name}-{key}",
                # Assignment names are at most 64 characters at a resource scope; the cluster name is at most 63.
                policy_assignment_name=f"{key}-{args.cluster_name}"[:64],
                display_name=f"[{args.cluster_name}] {purpose}",
                description=f"odoo-platform admission guardrail: {purpose} ({effect}).",
                scope=args.cluster_id,
                policy_definition_id=definition,
                parameters=values,
                # The `effect` parameter decides Deny or Audit (components/tier.py); the assignment itself stays enforced:
                # DoNotEnforce would turn a production Deny into a report without saying so.
                enforcement_mode=authorization.EnforcementMode.DEFAULT,
                non_compliance_messages=[
                    authorization.NonComplianceMessageArgs(
                        message=f"odoo-platform: {purpose}; system namespaces excluded: {', '.join(excluded)}."
                    )
                ],
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.register_outputs({"assignments": {k: a.id for k, a in self.assignments.items()}})
