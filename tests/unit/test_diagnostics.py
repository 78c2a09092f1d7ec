"""Bad input yields located diagnostics (file, document, 1-based line, field path),
never an exception. Expected lines are found from a marker substring in the text."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netwarden.model.diagnostics import Diagnostic, Severity
from netwarden.sources.loader import load_text
from tests.unit.helpers import errors

FILE = "bad.yaml"


def line_of(text: str, marker: str) -> int:
    for number, line in enumerate(text.splitlines(), start=1):
        if marker in line:
            return number
    raise AssertionError(f"marker {marker!r} not in text")


@dataclass(frozen=True)
class Case:
    id: str
    text: str
    path: str
    marker: str  # a substring of the line the diagnostic must point at
    message: str  # a substring of the message
    code: str = "invalid-field"
    document: int = 0


def doc(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


NP = doc(
    """
    apiVersion: networking.k8s.io/v1
    kind: NetworkPolicy
    metadata:
      name: p
      namespace: x
    spec:
    """
)
CNP = doc(
    """
    apiVersion: cilium.io/v2
    kind: CiliumNetworkPolicy
    metadata:
      name: p
      namespace: x
    spec:
      endpointSelector: {}
    """
)
ANP = doc(
    """
    apiVersion: policy.networking.k8s.io/v1alpha1
    kind: AdminNetworkPolicy
    metadata:
      name: p
    spec:
      priority: 10
      subject: {namespaces: {}}
    """
)
CNP2 = doc(
    """
    apiVersion: policy.networking.k8s.io/v1alpha2
    kind: ClusterNetworkPolicy
    metadata:
      name: p
    spec:
      tier: Admin
      priority: 10
      subject: {namespaces: {}}
    """
)


def spec(head: str, body: str) -> str:
    return head + textwrap.indent(doc(body), "  ")


UNKNOWN = "unknown-field"
DENY_ALL_RULE = "ingress:\n- action: Deny\n  from: [{namespaces: {}}]\n"
CASES = [
    # ---- NetworkPolicy: selectors -----------------------------------------------------
    Case(
        "np-unknown-operator",
        spec(
            NP,
            """
            podSelector: {}
            ingress:
            - from:
              - podSelector: {}
              - podSelector:
                  matchExpressions:
                  - key: app
                    operator: Equals
                    values: [a]
            """,
        ),
        "spec.ingress[0].from[1].podSelector.matchExpressions[0].operator",
        "operator: Equals",
        "unknown operator 'Equals'",
    ),
    Case(
        "np-in-without-values",
        spec(
            NP,
            """
            podSelector:
              matchExpressions:
              - {key: app, operator: In}
            """,
        ),
        "spec.podSelector.matchExpressions[0].values",
        "key: app",
        "operator In needs at least one value",
    ),
    Case(
        "np-notin-empty-values",
        spec(
            NP,
            """
            podSelector:
              matchExpressions:
              - key: app
                operator: NotIn
                values: []
            """,
        ),
        "spec.podSelector.matchExpressions[0].values",
        "values: []",
        "operator NotIn needs at least one value",
    ),
    Case(
        "np-exists-with-values",
        spec(
            NP,
            """
            podSelector:
              matchExpressions:
              - key: app
                operator: Exists
                values: [a]
            """,
        ),
        "spec.podSelector.matchExpressions[0].values",
        "values: [a]",
        "takes no values",
    ),
    Case(
        "np-expression-without-key",
        spec(
            NP,
            """
            podSelector:
              matchExpressions:
              - operator: Exists
            """,
        ),
        "spec.podSelector.matchExpressions[0].key",
        "- operator: Exists",
        "needs a key",
    ),
    Case(
        "np-match-labels-list",
        spec(NP, "podSelector:\n  matchLabels: [app]\n"),
        "spec.podSelector.matchLabels",
        "matchLabels: [app]",
        "expected a map of strings, got a list",
    ),
    Case(
        "np-match-labels-bool-value",
        spec(NP, "podSelector:\n  matchLabels:\n    app: true\n"),
        "spec.podSelector.matchLabels.app",
        "app: true",
        "expected a string, got a boolean",
    ),
    Case(
        "np-selector-unknown-field",
        spec(NP, "podSelector:\n  matchLabel: {app: a}\n"),
        "spec.podSelector.matchLabel",
        "matchLabel:",
        "unknown field 'matchLabel'",
        UNKNOWN,
    ),
    Case(
        "np-selector-wrong-type",
        spec(NP, "podSelector: [a]\n"),
        "spec.podSelector",
        "podSelector: [a]",
        "expected a label selector",
    ),
    # ---- NetworkPolicy: structure -----------------------------------------------------
    Case(
        "np-unknown-spec-field",
        spec(NP, "podSelector: {}\ningres: []\n"),
        "spec.ingres",
        "ingres: []",
        "unknown field 'ingres'",
        UNKNOWN,
    ),
    Case(
        "np-unknown-rule-field",
        spec(NP, "podSelector: {}\ningress:\n- frm: []\n"),
        "spec.ingress[0].frm",
        "frm: []",
        "unknown field 'frm'",
        UNKNOWN,
    ),
    Case(
        "np-unknown-peer-field",
        spec(NP, "podSelector: {}\ningress:\n- from:\n  - podselector: {}\n"),
        "spec.ingress[0].from[0].podselector",
        "podselector: {}",
        "unknown field 'podselector'",
        UNKNOWN,
    ),
    Case(
        "np-ingress-not-a-list",
        spec(NP, "podSelector: {}\ningress:\n  from: []\n"),
        "spec.ingress",
        "ingress:",
        "expected a list, got an object",
    ),
    Case(
        "np-peer-not-an-object",
        spec(NP, "podSelector: {}\ningress:\n- from:\n  - frontend\n"),
        "spec.ingress[0].from[0]",
        "- frontend",
        "expected a peer, got a string",
    ),
    Case(
        "np-empty-peer",
        spec(NP, "podSelector: {}\ningress:\n- from:\n  - {}\n"),
        "spec.ingress[0].from[0]",
        "- {}",
        "a peer must set podSelector, namespaceSelector or ipBlock",
    ),
    Case(
        "np-port-entry-not-an-object",
        spec(NP, "podSelector: {}\ningress:\n- ports:\n  - 80\n"),
        "spec.ingress[0].ports[0]",
        "- 80",
        "expected a port, got a number",
    ),
    Case(
        "np-port-bool",
        spec(NP, "podSelector: {}\ningress:\n- ports:\n  - port: true\n"),
        "spec.ingress[0].ports[0].port",
        "port: true",
        "expected an integer, got a boolean",
    ),
    Case(
        "np-policy-types-string",
        spec(NP, "podSelector: {}\npolicyTypes: Ingress\n"),
        "spec.policyTypes",
        "policyTypes: Ingress",
        "expected a list, got a string",
    ),
    Case(
        "np-policy-types-unknown",
        spec(NP, "podSelector: {}\npolicyTypes:\n- Ingress\n- Egres\n"),
        "spec.policyTypes[1]",
        "- Egres",
        "unknown policy type 'Egres'",
    ),
    Case(
        "np-missing-pod-selector",
        spec(NP, "policyTypes: [Ingress]\n"),
        "spec.podSelector",
        "spec:",
        "spec.podSelector is required",
    ),
    Case(
        "np-missing-spec",
        doc(
            """
            apiVersion: networking.k8s.io/v1
            kind: NetworkPolicy
            metadata: {name: p, namespace: x}
            """
        ),
        "spec",
        "apiVersion",
        "spec is required",
    ),
    Case(
        "np-spec-list",
        NP.replace("spec:\n", "spec: []\n"),
        "spec",
        "spec: []",
        "expected the policy spec, got a list",
    ),
    Case(
        "np-missing-name",
        doc(
            """
            apiVersion: networking.k8s.io/v1
            kind: NetworkPolicy
            metadata:
              namespace: x
            spec: {podSelector: {}}
            """
        ),
        "metadata.name",
        "metadata:",
        "metadata.name is required",
    ),
    Case(
        "np-wrong-api-version",
        NP.replace("networking.k8s.io/v1", "networking.k8s.io/v1beta1") + "  podSelector: {}\n",
        "apiVersion",
        "apiVersion:",
        "NetworkPolicy needs apiVersion networking.k8s.io/v1, got 'networking.k8s.io/v1beta1'",
        "api-version",
    ),
    Case(
        "np-missing-api-version",
        NP.replace("apiVersion: networking.k8s.io/v1\n", "") + "  podSelector: {}\n",
        "apiVersion",
        "kind: NetworkPolicy",
        "got None",
        "api-version",
    ),
    # ---- NetworkPolicy: ipBlock -------------------------------------------------------
    Case(
        "np-ipblock-string",
        spec(NP, "podSelector: {}\ningress:\n- from:\n  - ipBlock: 10.0.0.0/8\n"),
        "spec.ingress[0].from[0].ipBlock",
        "ipBlock: 10.0.0.0/8",
        "expected an ipBlock, got a string",
    ),
    Case(
        "np-ipblock-with-selector",
        spec(
            NP,
            """
            podSelector: {}
            ingress:
            - from:
              - ipBlock: {cidr: 10.0.0.0/8}
                podSelector: {}
            """,
        ),
        "spec.ingress[0].from[0]",
        "- ipBlock",
        "ipBlock cannot be combined",
    ),
    Case(
        "np-invalid-cidr",
        spec(NP, "podSelector: {}\ningress:\n- from:\n  - ipBlock:\n      cidr: 10.0.0.0/33\n"),
        "spec.ingress[0].from[0].ipBlock.cidr",
        "cidr: 10.0.0.0/33",
        "'10.0.0.0/33' is not a valid CIDR",
    ),
    Case(
        "np-ipblock-without-cidr",
        spec(NP, "podSelector: {}\ningress:\n- from:\n  - ipBlock:\n      except: [10.0.0.0/24]\n"),
        "spec.ingress[0].from[0].ipBlock.cidr",
        "ipBlock:",
        "ipBlock.cidr is required",
    ),
    Case(
        "np-except-outside-cidr",
        spec(
            NP,
            """
            podSelector: {}
            egress:
            - to:
              - ipBlock:
                  cidr: 10.0.0.0/16
                  except:
                  - 10.0.1.0/24
                  - 10.1.0.0/24
            """,
        ),
        "spec.egress[0].to[0].ipBlock.except[1]",
        "- 10.1.0.0/24",
        "except 10.1.0.0/24 is not inside cidr 10.0.0.0/16",
    ),
    Case(
        "np-except-equal-to-cidr",
        spec(
            NP,
            "podSelector: {}\negress:\n- to:\n"
            "  - ipBlock: {cidr: 10.0.0.0/16, except: [10.0.0.0/16]}\n",
        ),
        "spec.egress[0].to[0].ipBlock.except[0]",
        "ipBlock:",
        "strict subset",
    ),
    Case(
        "np-except-other-family",
        spec(
            NP,
            "podSelector: {}\negress:\n- to:\n"
            "  - ipBlock: {cidr: 10.0.0.0/8, except: ['2001:db8::/64']}\n",
        ),
        "spec.egress[0].to[0].ipBlock.except[0]",
        "ipBlock:",
        "is not inside cidr",
    ),
    # ---- NetworkPolicy: ports ---------------------------------------------------------
    Case(
        "np-port-out-of-range",
        spec(NP, "podSelector: {}\ningress:\n- ports:\n  - port: 70000\n"),
        "spec.ingress[0].ports[0].port",
        "port: 70000",
        "port 70000 is out of range 1-65535",
    ),
    Case(
        "np-port-zero",
        spec(NP, "podSelector: {}\ningress:\n- ports:\n  - port: 0\n"),
        "spec.ingress[0].ports[0].port",
        "port: 0",
        "out of range 1-65535",
    ),
    Case(
        "np-end-port-below-port",
        spec(NP, "podSelector: {}\ningress:\n- ports:\n  - port: 8080\n    endPort: 8000\n"),
        "spec.ingress[0].ports[0].endPort",
        "endPort: 8000",
        "endPort 8000 is smaller than port 8080",
    ),
    Case(
        "np-end-port-out-of-range",
        spec(NP, "podSelector: {}\ningress:\n- ports:\n  - port: 8080\n    endPort: 65536\n"),
        "spec.ingress[0].ports[0].endPort",
        "endPort: 65536",
        "out of range",
    ),
    Case(
        "np-end-port-with-named-port",
        spec(NP, "podSelector: {}\ningress:\n- ports:\n  - port: http\n    endPort: 8000\n"),
        "spec.ingress[0].ports[0].endPort",
        "endPort: 8000",
        "endPort cannot be used with a named port",
    ),
    Case(
        "np-end-port-without-port",
        spec(NP, "podSelector: {}\ningress:\n- ports:\n  - endPort: 8000\n"),
        "spec.ingress[0].ports[0].endPort",
        "endPort: 8000",
        "endPort requires port",
    ),
    Case(
        "np-unknown-protocol",
        spec(NP, "podSelector: {}\ningress:\n- ports:\n  - protocol: HTTP\n"),
        "spec.ingress[0].ports[0].protocol",
        "protocol: HTTP",
        "unknown protocol 'HTTP'",
    ),
    Case(
        "np-icmp-protocol",
        spec(NP, "podSelector: {}\ningress:\n- ports:\n  - protocol: ICMP\n"),
        "spec.ingress[0].ports[0].protocol",
        "protocol: ICMP",
        "not allowed here",
    ),
    Case(
        "np-any-protocol",
        spec(NP, "podSelector: {}\ningress:\n- ports:\n  - protocol: ANY\n"),
        "spec.ingress[0].ports[0].protocol",
        "protocol: ANY",
        "not allowed here",
    ),
    Case(
        "np-invalid-port-name",
        spec(NP, "podSelector: {}\ningress:\n- ports:\n  - port: Serve_80\n"),
        "spec.ingress[0].ports[0].port",
        "port: Serve_80",
        "not a valid port name",
    ),
    Case(
        "np-port-unicode-digit",
        spec(NP, "podSelector: {}\ningress:\n- ports:\n  - port: '²'\n"),
        "spec.ingress[0].ports[0].port",
        "port: '²'",
        "is not a valid port name",
    ),
    Case(
        # IntOrString: a quoted number is a port name, and names need a letter.
        "np-port-quoted-number",
        spec(NP, "podSelector: {}\ningress:\n- ports:\n  - port: '80'\n"),
        "spec.ingress[0].ports[0].port",
        "port: '80'",
        "'80' is not a valid port name (IANA_SVC_NAME) (write the number unquoted)",
    ),
    Case(
        "np-port-huge-digit-string",
        spec(NP, "podSelector: {}\ningress:\n- ports:\n  - port: '" + "9" * 5000 + "'\n"),
        "spec.ingress[0].ports[0].port",
        "port: '999",
        "(write the number unquoted)",
    ),
    # ---- documents --------------------------------------------------------------------
    Case(
        "missing-kind",
        doc("apiVersion: v1\nmetadata: {name: x}\n"),
        "kind",
        "apiVersion: v1",
        "kind is required",
    ),
    Case(
        "document-is-a-scalar",
        "just a string\n",
        "",
        "just a string",
        "expected a Kubernetes object, got a string",
    ),
    Case(
        "third-document",
        doc(
            """
            apiVersion: v1
            kind: Namespace
            metadata: {name: x}
            ---
            apiVersion: v1
            kind: Namespace
            metadata: {name: y}
            ---
            apiVersion: networking.k8s.io/v1
            kind: NetworkPolicy
            metadata: {name: p, namespace: x}
            spec:
              podSelector:
                matchLabels: {pod: [a]}
            """
        ),
        "spec.podSelector.matchLabels.pod",
        "matchLabels: {pod: [a]}",
        "expected a string, got a list",
        document=2,
    ),
    Case(
        "list-items",
        doc(
            """
            apiVersion: v1
            kind: List
            items:
            - apiVersion: v1
              kind: Namespace
              metadata: {name: x}
            - apiVersion: networking.k8s.io/v1
              kind: NetworkPolicy
              metadata: {name: p, namespace: x}
              spec:
                podSelector: {}
                ingress:
                - ports:
                  - port: -1
            """
        ),
        "items[1].spec.ingress[0].ports[0].port",
        "port: -1",
        "out of range",
    ),
    # ---- Cilium -------------------------------------------------------------------------
    Case(
        "cnp-unknown-spec-field",
        spec(CNP, "ingres: []\n"),
        "spec.ingres",
        "ingres: []",
        "unknown field 'ingres'",
        UNKNOWN,
    ),
    Case(
        "cnp-unknown-rule-field",
        spec(CNP, "ingress:\n- fromEndpoint: [{}]\n"),
        "spec.ingress[0].fromEndpoint",
        "fromEndpoint:",
        "unknown field 'fromEndpoint' in a ingress rule",
        UNKNOWN,
    ),
    Case(
        "cnp-egress-field-in-ingress",
        spec(CNP, "ingress:\n- toEndpoints: [{}]\n"),
        "spec.ingress[0].toEndpoints",
        "toEndpoints:",
        "unknown field 'toEndpoints'",
        UNKNOWN,
    ),
    Case(
        "cnp-node-selector-in-namespaced-policy",
        CNP.replace("endpointSelector: {}", "nodeSelector: {}"),
        "spec.nodeSelector",
        "nodeSelector: {}",
        "only allowed in a CiliumClusterwideNetworkPolicy",
    ),
    Case(
        "cnp-both-selectors",
        spec(CNP, "nodeSelector: {}\n"),
        "spec",
        "spec:",
        "exactly one of endpointSelector or nodeSelector",
    ),
    Case(
        "cnp-no-selector",
        CNP.replace("  endpointSelector: {}\n", "  ingress: [{}]\n"),
        "spec",
        "spec:",
        "exactly one of endpointSelector or nodeSelector",
    ),
    Case(
        "cnp-missing-spec",
        CNP.split("spec:")[0],
        "spec",
        "apiVersion",
        "spec or specs is required",
    ),
    Case(
        "cnp-specs-item-not-object",
        CNP.split("spec:")[0] + "specs:\n- 1\n",
        "specs[0]",
        "- 1",
        "expected a policy rule, got a number",
    ),
    Case(
        "cnp-selector-operator",
        spec(
            CNP,
            """
            ingress:
            - fromEndpoints:
              - matchExpressions:
                - {key: app, operator: in, values: [a]}
            """,
        ),
        "spec.ingress[0].fromEndpoints[0].matchExpressions[0].operator",
        "key: app",
        "unknown operator 'in'",
    ),
    Case(
        "cnp-unknown-entity",
        spec(CNP, "ingress:\n- fromEntities:\n  - world\n  - internet\n"),
        "spec.ingress[0].fromEntities[1]",
        "- internet",
        "unknown entity 'internet'",
    ),
    Case(
        "cnp-invalid-cidr",
        spec(CNP, "egress:\n- toCIDR:\n  - 10.0.0.0/8\n  - 10.0.0.256/32\n"),
        "spec.egress[0].toCIDR[1]",
        "- 10.0.0.256/32",
        "is not a valid CIDR",
    ),
    Case(
        "cnp-cidrset-except-outside",
        spec(CNP, "egress:\n- toCIDRSet:\n  - cidr: 10.0.0.0/8\n    except:\n    - 11.0.0.0/16\n"),
        "spec.egress[0].toCIDRSet[0].except[0]",
        "- 11.0.0.0/16",
        "except 11.0.0.0/16 is not inside cidr 10.0.0.0/8",
    ),
    Case(
        "cnp-cidrset-without-cidr",
        spec(CNP, "egress:\n- toCIDRSet:\n  - except: [10.0.0.0/16]\n"),
        "spec.egress[0].toCIDRSet[0].cidr",
        "- except",
        "cidr is required",
    ),
    Case(
        "cnp-port-out-of-range",
        spec(CNP, "ingress:\n- toPorts:\n  - ports:\n    - port: '70000'\n"),
        "spec.ingress[0].toPorts[0].ports[0].port",
        "port: '70000'",
        "out of range",
    ),
    Case(
        "cnp-end-port-below-port",
        spec(CNP, "ingress:\n- toPorts:\n  - ports:\n    - port: '8080'\n      endPort: 80\n"),
        "spec.ingress[0].toPorts[0].ports[0].endPort",
        "endPort: 80",
        "invalid port range 8080-80",
    ),
    Case(
        "cnp-bad-protocol",
        spec(CNP, "ingress:\n- toPorts:\n  - ports:\n    - port: '80'\n      protocol: FOO\n"),
        "spec.ingress[0].toPorts[0].ports[0].protocol",
        "protocol: FOO",
        "unknown protocol 'FOO'",
    ),
    Case(
        "cnp-icmp-in-to-ports",
        spec(CNP, "ingress:\n- toPorts:\n  - ports:\n    - port: '80'\n      protocol: ICMP\n"),
        "spec.ingress[0].toPorts[0].ports[0].protocol",
        "protocol: ICMP",
        "not allowed in toPorts",
    ),
    Case(
        "cnp-bad-port-name",
        spec(CNP, "ingress:\n- toPorts:\n  - ports:\n    - port: http_alt\n"),
        "spec.ingress[0].toPorts[0].ports[0].port",
        "port: http_alt",
        "neither a port number nor a port name",
    ),
    Case(
        "cnp-port-unicode-digit",
        spec(CNP, "ingress:\n- toPorts:\n  - ports:\n    - port: '8²'\n"),
        "spec.ingress[0].toPorts[0].ports[0].port",
        "port: '8²'",
        "neither a port number nor a port name",
    ),
    Case(
        "cnp-ports-not-a-list",
        spec(CNP, "ingress:\n- toPorts:\n  - ports: {port: '80'}\n"),
        "spec.ingress[0].toPorts[0].ports",
        "ports: {port:",
        "expected a list, got an object",
    ),
    Case(
        "cnp-fqdn-both-name-and-pattern",
        spec(
            CNP,
            "egress:\n- toFQDNs:\n  - matchName: a.example.com\n"
            "    matchPattern: '*.example.com'\n",
        ),
        "spec.egress[0].toFQDNs[0]",
        "- matchName",
        "exactly one of matchName or matchPattern",
    ),
    Case(
        "cnp-l7-in-deny",
        spec(
            CNP,
            """
            ingressDeny:
            - toPorts:
              - ports: [{port: '80', protocol: TCP}]
                rules:
                  http: [{method: GET}]
            """,
        ),
        "spec.ingressDeny[0].toPorts[0].rules",
        "rules:",
        "L7 rules are not allowed in deny rules",
    ),
    Case(
        "cnp-l7-http-on-udp",
        spec(
            CNP,
            """
            ingress:
            - toPorts:
              - ports: [{port: '80', protocol: UDP}]
                rules:
                  http: [{method: GET}]
            """,
        ),
        "spec.ingress[0].toPorts[0].ports",
        "ports: [{port: '80', protocol: UDP}]",
        "L7 rules can only apply to TCP (not UDP)",
    ),
    Case(
        "cnp-l7-http-without-protocol",
        spec(
            CNP,
            """
            ingress:
            - toPorts:
              - ports: [{port: '80'}]
                rules:
                  http: [{method: GET}]
            """,
        ),
        "spec.ingress[0].toPorts[0].ports",
        "ports: [{port: '80'}]",
        "L7 rules can only apply to TCP (not ANY)",
    ),
    Case(
        "cnp-l7-on-port-zero",
        spec(
            CNP,
            """
            egress:
            - toPorts:
              - ports: [{port: '0', protocol: TCP}]
                rules:
                  http: [{method: GET}]
            """,
        ),
        "spec.egress[0].toPorts[0].ports",
        "ports: [{port: '0'",
        "L7 rules can not be used when a port is 0",
    ),
    Case(
        "cnp-dns-rules-on-ingress",
        spec(
            CNP,
            """
            ingress:
            - toPorts:
              - ports: [{port: '53', protocol: ANY}]
                rules:
                  dns: [{matchPattern: '*'}]
            """,
        ),
        "spec.ingress[0].toPorts[0].rules.dns",
        "dns: [{matchPattern",
        "DNS rules are not allowed on ingress",
    ),
    Case(
        "cnp-default-deny-not-bool",
        spec(CNP, "ingress: [{}]\nenableDefaultDeny:\n  ingress: 'sometimes'\n"),
        "spec.enableDefaultDeny.ingress",
        "ingress: 'sometimes'",
        "expected true or false, got a string",
    ),
    Case(
        "cnp-default-deny-not-object",
        spec(CNP, "ingress: [{}]\nenableDefaultDeny: true\n"),
        "spec.enableDefaultDeny",
        "enableDefaultDeny: true",
        "expected an object with ingress/egress flags",
    ),
    Case(
        "cnp-default-deny-unknown-key",
        spec(CNP, "ingress: [{}]\nenableDefaultDeny: {ingres: false}\n"),
        "spec.enableDefaultDeny.ingres",
        "enableDefaultDeny:",
        "unknown field 'ingres'",
        UNKNOWN,
    ),
    Case(
        "cnp-wrong-api-version",
        CNP.replace("cilium.io/v2", "cilium.io/v1"),
        "apiVersion",
        "apiVersion",
        "CiliumNetworkPolicy needs apiVersion cilium.io/v2",
        "api-version",
    ),
    Case(
        "ccnp-missing-name",
        doc(
            """
            apiVersion: cilium.io/v2
            kind: CiliumClusterwideNetworkPolicy
            metadata: {}
            spec: {endpointSelector: {}}
            """
        ),
        "metadata.name",
        "metadata: {}",
        "metadata.name is required",
    ),
    # ---- AdminNetworkPolicy / BaselineAdminNetworkPolicy --------------------------------
    Case(
        "anp-priority-string",
        ANP.replace("priority: 10", "priority: high") + "  ingress: []\n",
        "spec.priority",
        "priority: high",
        "expected an integer, got a string 'high'",
    ),
    Case(
        "anp-priority-out-of-range",
        ANP.replace("priority: 10", "priority: 1001"),
        "spec.priority",
        "priority: 1001",
        "priority 1001 is out of range 0-1000",
    ),
    Case(
        "anp-missing-priority",
        ANP.replace("  priority: 10\n", ""),
        "spec.priority",
        "spec:",
        "priority is required",
    ),
    Case(
        "anp-subject-two-keys",
        ANP.replace("subject: {namespaces: {}}", "subject: {namespaces: {}, pods: {}}"),
        "spec.subject",
        "subject:",
        "subject needs exactly one of namespaces or pods",
    ),
    Case(
        "anp-subject-missing",
        ANP.replace("  subject: {namespaces: {}}\n", ""),
        "spec.subject",
        "spec:",
        "subject is required",
    ),
    Case(
        "anp-subject-pods-unknown-field",
        ANP.replace("subject: {namespaces: {}}", "subject: {pods: {podSelectors: {}}}"),
        "spec.subject.pods.podSelectors",
        "subject:",
        "unknown field 'podSelectors'",
        UNKNOWN,
    ),
    Case(
        "anp-unknown-spec-field",
        ANP + "  tier: Admin\n",
        "spec.tier",
        "tier: Admin",
        "unknown field 'tier'",
        UNKNOWN,
    ),
    Case(
        "anp-bad-action",
        spec(ANP, "ingress:\n- action: Reject\n  from: [{namespaces: {}}]\n"),
        "spec.ingress[0].action",
        "action: Reject",
        "action must be one of Allow, Deny, Pass, got 'Reject'",
    ),
    Case(
        "anp-missing-action",
        spec(ANP, "ingress:\n- from: [{namespaces: {}}]\n"),
        "spec.ingress[0].action",
        "- from",
        "got None",
    ),
    Case(
        "anp-empty-from",
        spec(ANP, "ingress:\n- action: Allow\n  from: []\n"),
        "spec.ingress[0].from",
        "from: []",
        "from needs at least one peer",
    ),
    Case(
        "anp-unknown-rule-field",
        spec(ANP, "ingress:\n- action: Allow\n  from: [{namespaces: {}}]\n  protocols: []\n"),
        "spec.ingress[0].protocols",
        "protocols: []",
        "unknown field 'protocols'",
        UNKNOWN,
    ),
    Case(
        "anp-peer-two-keys",
        spec(ANP, "egress:\n- action: Deny\n  to:\n  - {namespaces: {}, networks: [10.0.0.0/8]}\n"),
        "spec.egress[0].to[0]",
        "- {namespaces",
        "a peer needs exactly one of",
    ),
    Case(
        "anp-ingress-networks",
        spec(ANP, "ingress:\n- action: Deny\n  from:\n  - networks: [10.0.0.0/8]\n"),
        "spec.ingress[0].from[0].networks",
        "- networks",
        "unknown ingress peer type 'networks'",
        UNKNOWN,
    ),
    Case(
        "anp-invalid-network",
        spec(ANP, "egress:\n- action: Deny\n  to:\n  - networks:\n    - 300.0.0.0/8\n"),
        "spec.egress[0].to[0].networks[0]",
        "- 300.0.0.0/8",
        "is not a valid CIDR",
    ),
    Case(
        "anp-pods-peer-unknown-field",
        spec(
            ANP,
            "ingress:\n- action: Deny\n  from:\n  - pods: {namespaceSelector: {}, selector: {}}\n",
        ),
        "spec.ingress[0].from[0].pods.selector",
        "- pods",
        "unknown field 'selector'",
        UNKNOWN,
    ),
    Case(
        "anp-domain-names-in-deny",
        spec(ANP, "egress:\n- action: Deny\n  to:\n  - domainNames: ['*.example.com']\n"),
        "spec.egress[0].to[0].domainNames",
        "- domainNames",
        "only allowed in Allow/Accept rules",
    ),
    Case(
        "anp-port-two-keys",
        spec(
            ANP,
            """
            ingress:
            - action: Deny
              from: [{namespaces: {}}]
              ports:
              - portNumber: {port: 80}
                namedPort: http
            """,
        ),
        "spec.ingress[0].ports[0]",
        "- portNumber",
        "exactly one of portNumber, namedPort or portRange",
    ),
    Case(
        "anp-port-zero",
        spec(
            ANP,
            DENY_ALL_RULE + "  ports:\n  - portNumber:\n      port: 0\n",
        ),
        "spec.ingress[0].ports[0].portNumber.port",
        "port: 0",
        "port 0 is out of range 1-65535",
    ),
    Case(
        "anp-port-without-number",
        spec(
            ANP,
            DENY_ALL_RULE + "  ports:\n  - portNumber: {protocol: UDP}\n",
        ),
        "spec.ingress[0].ports[0].portNumber.port",
        "portNumber:",
        "port is required",
    ),
    Case(
        "anp-port-range-reversed",
        spec(
            ANP,
            """
            ingress:
            - action: Deny
              from: [{namespaces: {}}]
              ports:
              - portRange:
                  start: 9000
                  end: 8000
            """,
        ),
        "spec.ingress[0].ports[0].portRange.end",
        "end: 8000",
        "end 8000 is smaller than start 9000",
    ),
    Case(
        "anp-bad-named-port",
        spec(
            ANP,
            DENY_ALL_RULE + "  ports:\n  - namedPort: Web_Port\n",
        ),
        "spec.ingress[0].ports[0].namedPort",
        "namedPort: Web_Port",
        "not a valid port name",
    ),
    Case(
        "anp-unknown-port-type",
        spec(
            ANP,
            DENY_ALL_RULE + "  ports:\n  - portnumber: {port: 80}\n",
        ),
        "spec.ingress[0].ports[0].portnumber",
        "portnumber:",
        "unknown port type 'portnumber'",
        UNKNOWN,
    ),
    Case(
        "anp-empty-ports",
        spec(ANP, "ingress:\n- action: Deny\n  from: [{namespaces: {}}]\n  ports: []\n"),
        "spec.ingress[0].ports",
        "ports: []",
        "ports needs at least one entry",
    ),
    Case(
        "anp-named-port-with-networks",
        spec(
            ANP,
            """
            egress:
            - action: Allow
              to:
              - networks: [10.0.0.0/8]
              ports:
              - namedPort: http
            """,
        ),
        "spec.egress[0].ports",
        "ports:",
        "named ports cannot be used with networks",
    ),
    Case(
        "anp-wrong-api-version",
        ANP.replace("v1alpha1", "v1alpha2"),
        "apiVersion",
        "apiVersion",
        "AdminNetworkPolicy needs apiVersion policy.networking.k8s.io/v1alpha1",
        "api-version",
    ),
    Case(
        "banp-pass",
        doc(
            """
            apiVersion: policy.networking.k8s.io/v1alpha1
            kind: BaselineAdminNetworkPolicy
            metadata: {name: default}
            spec:
              subject: {namespaces: {}}
              egress:
              - action: Pass
                to: [{namespaces: {}}]
            """
        ),
        "spec.egress[0].action",
        "action: Pass",
        "action must be one of Allow, Deny, got 'Pass'",
    ),
    # ---- ClusterNetworkPolicy v1alpha2 --------------------------------------------------------
    Case(
        "cnp2-missing-tier",
        CNP2.replace("  tier: Admin\n", ""),
        "spec.tier",
        "spec:",
        "tier must be Admin or Baseline, got None",
    ),
    Case(
        "cnp2-bad-tier",
        CNP2.replace("tier: Admin", "tier: admin"),
        "spec.tier",
        "tier: admin",
        "tier must be Admin or Baseline, got 'admin'",
    ),
    Case(
        "cnp2-allow-action",
        spec(CNP2, "ingress:\n- action: Allow\n  from: [{namespaces: {}}]\n"),
        "spec.ingress[0].action",
        "action: Allow",
        "action must be one of Accept, Deny, Pass, got 'Allow'",
    ),
    Case(
        "cnp2-v1alpha1-ports-field",
        spec(
            CNP2,
            DENY_ALL_RULE + "  ports:\n  - portNumber: {port: 80}\n",
        ),
        "spec.ingress[0].ports",
        "ports:",
        "unknown field 'ports'",
        UNKNOWN,
    ),
    Case(
        "cnp2-range-start-not-below-end",
        spec(
            CNP2,
            """
            ingress:
            - action: Deny
              from: [{namespaces: {}}]
              protocols:
              - tcp:
                  destinationPort:
                    range: {start: 8080, end: 8080}
            """,
        ),
        "spec.ingress[0].protocols[0].tcp.destinationPort.range",
        "range:",
        "range start 8080 must be smaller than end 8080",
    ),
    Case(
        "cnp2-port-number-out-of-range",
        spec(
            CNP2,
            """
            ingress:
            - action: Deny
              from: [{namespaces: {}}]
              protocols:
              - udp:
                  destinationPort: {number: 65536}
            """,
        ),
        "spec.ingress[0].protocols[0].udp.destinationPort.number",
        "destinationPort:",
        "port 65536 is out of range 1-65535",
    ),
    Case(
        "cnp2-destination-port-shape",
        spec(
            CNP2,
            """
            ingress:
            - action: Deny
              from: [{namespaces: {}}]
              protocols:
              - tcp:
                  destinationPort: 80
            """,
        ),
        "spec.ingress[0].protocols[0].tcp.destinationPort",
        "destinationPort: 80",
        "destinationPort needs number or range",
    ),
    Case(
        "cnp2-protocol-entry-two-keys",
        spec(
            CNP2,
            DENY_ALL_RULE + "  protocols:\n  - {tcp: {}, udp: {}}\n",
        ),
        "spec.ingress[0].protocols[0]",
        "- {tcp",
        "exactly one of tcp, udp, sctp or destinationNamedPort",
    ),
    Case(
        "cnp2-unknown-protocol",
        spec(
            CNP2,
            "ingress:\n- action: Deny\n  from: [{namespaces: {}}]\n  protocols:\n  - icmp: {}\n",
        ),
        "spec.ingress[0].protocols[0].icmp",
        "- icmp",
        "unknown protocol 'icmp'",
        UNKNOWN,
    ),
    Case(
        "cnp2-named-port-with-networks",
        spec(
            CNP2,
            """
            egress:
            - action: Accept
              to: [{networks: [10.0.0.0/8]}]
              protocols: [{destinationNamedPort: http}]
            """,
        ),
        "spec.egress[0].protocols",
        "protocols:",
        "named ports cannot be used with networks",
    ),
    Case(
        "cnp2-wrong-api-version",
        CNP2.replace("v1alpha2", "v1alpha1"),
        "apiVersion",
        "apiVersion",
        "ClusterNetworkPolicy needs apiVersion policy.networking.k8s.io/v1alpha2",
        "api-version",
    ),
    # ---- inventory ----------------------------------------------------------------------
    Case(
        "pod-missing-name",
        doc("apiVersion: v1\nkind: Pod\nmetadata:\n  namespace: x\n"),
        "metadata.name",
        "metadata:",
        "metadata.name is required",
    ),
    Case(
        "namespace-missing-name",
        doc("apiVersion: v1\nkind: Namespace\nmetadata:\n  labels: {a: b}\n"),
        "metadata.name",
        "metadata:",
        "metadata.name is required",
    ),
    Case(
        "pod-bad-ip",
        doc("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nstatus:\n  podIP: 10.0.0.999\n"),
        "status.podIP",
        "podIP:",
        "'10.0.0.999' is not an IP address",
    ),
    Case(
        "pod-host-network-string",
        doc("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  hostNetwork: 'true'\n"),
        "spec.hostNetwork",
        "hostNetwork:",
        "expected true or false, got a string",
    ),
    Case(
        "pod-container-port-string",
        doc(
            """
            apiVersion: v1
            kind: Pod
            metadata: {name: p}
            spec:
              containers:
              - name: c
                ports:
                - {name: http, containerPort: eighty}
            """
        ),
        "spec.containers[0].ports[0].containerPort",
        "containerPort: eighty",
        "expected an integer",
    ),
    Case(
        "node-bad-address",
        doc(
            """
            apiVersion: v1
            kind: Node
            metadata: {name: n}
            status:
              addresses:
              - {type: InternalIP, address: 10.0.0.1.1}
            """
        ),
        "status.addresses[0].address",
        "type: InternalIP",
        "is not an IP address",
    ),
    Case(
        "cilium-config-enable-policy",
        doc(
            """
            apiVersion: v1
            kind: ConfigMap
            metadata: {name: cilium-config, namespace: kube-system}
            data:
              enable-policy: sometimes
            """
        ),
        "data.enable-policy",
        "enable-policy: sometimes",
        "enable-policy must be default, always or never, got 'sometimes'",
    ),
    Case(
        "cilium-config-flag",
        doc(
            """
            apiVersion: v1
            kind: ConfigMap
            metadata: {name: cilium-config, namespace: kube-system}
            data:
              enable-non-default-deny-policies: maybe
            """
        ),
        "data.enable-non-default-deny-policies",
        "enable-non-default-deny-policies: maybe",
        "must be true or false",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_located_diagnostic(case: Case) -> None:
    diags = errors(case.text, FILE)
    matching = [d for d in diags if d.location.path == case.path]
    assert matching, f"no error at {case.path!r}; got:\n" + "\n".join(str(d) for d in diags)
    diag = matching[0]
    assert case.message in diag.message, str(diag)
    assert diag.code == case.code, str(diag)
    assert diag.severity is Severity.ERROR
    loc = diag.location
    assert (loc.file, loc.document) == (FILE, case.document), str(diag)
    assert loc.line == line_of(case.text, case.marker), str(diag)
    # The rendered form carries every part of the location.
    text = str(diag)
    assert text.startswith(f"{FILE}:{loc.line} (document {case.document + 1})"), text
    if case.path:
        assert f" {case.path}: error: " in text, text


def test_case_ids_are_unique() -> None:
    assert len({c.id for c in CASES}) == len(CASES)


def test_every_error_of_a_document_is_reported() -> None:
    text = spec(
        NP,
        """
        podSelector: {matchLabels: {app: 1.5e400}}
        ingress:
        - ports:
          - port: 70000
          - protocol: XTP
        - from:
          - ipBlock: {cidr: nope}
        """,
    )
    paths = sorted(d.location.path for d in errors(text))
    assert paths == [
        "spec.ingress[0].ports[0].port",
        "spec.ingress[0].ports[1].protocol",
        "spec.ingress[1].from[0].ipBlock.cidr",
    ]


def test_null_label_value_is_an_empty_string() -> None:
    # Like Kubernetes' map[string]string: {app: null} is app="", not "no requirement".
    from netwarden.sources.loader import load_text as load

    inp = load(spec(NP, "podSelector:\n  matchLabels: {app: null}\n"), FILE)
    assert not inp.errors
    [policy] = inp.policies
    [iso] = policy.isolations
    assert iso.subject.pod is not None
    assert not iso.subject.pod.is_empty


# ---- YAML syntax and YAML constructor errors ----------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("kind: Pod\nmetadata: {name: [unclosed\n", 3, "invalid YAML"),
        ("kind: Pod\nmetadata:\n\tname: p\n", 3, "invalid YAML"),
        ("a: b\n c: d\n", 2, "invalid YAML"),
        (
            "kind: Pod\nmetadata: {name: p, creationTimestamp: 2001-13-01}\n",
            2,
            "month must be in 1..12",
        ),
        ("kind: Pod\nmetadata:\n  name: !!int abc\n", 3, "cannot read"),
        ("kind: Pod\nspec:\n  hostNetwork: !!bool maybe\n", 3, "cannot read"),
        ("kind: Pod\nmetadata:\n  name: !!timestamp p\n", 3, "cannot read"),
        ("kind: Pod\nmetadata:\n  !!timestamp name: p\n", 3, "cannot read"),
        ("kind: Pod\nmetadata:\n  name: !custom p\n", 3, "invalid YAML"),
        ("kind: Pod\nmetadata:\n  labels: &l {a: *l}\n", 3, "recursive alias"),
        ("kind: Pod\nspec:\n  x: " + "9" * 5000 + "\n", 3, "cannot read"),
    ],
    ids=[
        "unclosed-flow",
        "tab-indent",
        "bad-indent",
        "bad-timestamp",
        "bad-int-tag",
        "bad-bool-tag",
        "bad-timestamp-tag",
        "bad-timestamp-tag-on-key",
        "unknown-tag",
        "recursive-alias",
        "huge-integer",
    ],
)
def test_yaml_errors_are_located(text: str, line: int, message: str) -> None:
    diags = errors(text, FILE)
    assert len(diags) == 1, diags
    [diag] = diags
    assert diag.code == "yaml-syntax"
    assert message in diag.message
    assert (diag.location.file, diag.location.document, diag.location.line) == (FILE, 0, line)


def test_yaml_error_in_a_later_document() -> None:
    text = "kind: Namespace\nmetadata: {name: x}\n---\nkind: Namespace\nmetadata: {name: [y\n"
    [diag] = errors(text, FILE)
    assert diag.code == "yaml-syntax"
    assert (diag.location.document, diag.location.line) == (1, 6)


def test_deeply_nested_document_is_an_error_not_a_crash() -> None:
    text = "kind: Pod\nspec: " + "[" * 5000 + "]" * 5000 + "\n"
    [diag] = errors(text, FILE)
    assert diag.code == "yaml-syntax"
    assert diag.location.file == FILE


def test_control_character_is_an_error() -> None:
    [diag] = errors("kind: Pod\nmetadata: {name: \x07}\n", FILE)
    assert diag.code == "yaml-syntax"
    assert diag.location.line is not None


def test_configmap_with_odd_metadata_is_not_a_crash() -> None:
    load_text("apiVersion: v1\nkind: ConfigMap\nmetadata: [1, 2]\n", FILE)
    load_text("apiVersion: v1\nkind: ConfigMap\nmetadata: cilium-config\n", FILE)


def test_empty_input_has_no_diagnostics() -> None:
    assert load_text("", FILE).diagnostics == []
    assert load_text("---\n---\n", FILE).diagnostics == []


# ---- Hypothesis: random and mutated documents never raise ----------------------------------

KINDS = [
    "NetworkPolicy",
    "CiliumNetworkPolicy",
    "CiliumClusterwideNetworkPolicy",
    "AdminNetworkPolicy",
    "BaselineAdminNetworkPolicy",
    "ClusterNetworkPolicy",
    "Namespace",
    "Pod",
    "Node",
    "Endpoints",
    "EndpointSlice",
    "ConfigMap",
    "List",
    "Service",
]
API_VERSIONS = [
    "networking.k8s.io/v1",
    "cilium.io/v2",
    "policy.networking.k8s.io/v1alpha1",
    "policy.networking.k8s.io/v1alpha2",
    "v1",
    "discovery.k8s.io/v1",
]
FIELDS = [
    # NetworkPolicy
    "podSelector", "namespaceSelector", "policyTypes", "ingress", "egress", "from", "to",
    "ports", "port", "endPort", "protocol", "ipBlock", "cidr", "except",
    "matchLabels", "matchExpressions", "key", "operator", "values",
    # Cilium
    "endpointSelector", "nodeSelector", "ingressDeny", "egressDeny", "fromEndpoints",
    "toEndpoints", "fromEntities", "toEntities", "fromCIDR", "toCIDR", "fromCIDRSet",
    "toCIDRSet", "toFQDNs", "matchName", "matchPattern", "toPorts", "rules", "http", "dns",
    "kafka", "method", "path", "headers", "enableDefaultDeny", "specs", "fromNodes", "icmps",
    "toServices", "fromRequires",
    # admin
    "priority", "subject", "namespaces", "pods", "action", "name", "networks", "nodes",
    "domainNames", "portNumber", "namedPort", "portRange", "start", "end", "tier",
    "protocols", "tcp", "udp", "sctp", "destinationPort", "destinationNamedPort", "number", "range",
    # inventory
    "metadata", "labels", "namespace", "spec", "status", "containers", "containerPort",
    "hostNetwork", "nodeName", "podIP", "hostIP", "addresses", "address", "type", "subsets",
    "ip", "endpoints", "data", "items", "kind", "apiVersion",
]  # fmt: skip
SPECIAL_STRINGS = [
    "", "*", "**.x.com", "0", "80", "65536", "-1", "²", "8²", "http", "Serve-80-TCP", "TCP",
    "UDP", "SCTP", "ANY", "ICMP", "In", "NotIn", "Exists", "DoesNotExist", "Ingress", "Egress",
    "Allow", "Deny", "Pass", "Accept", "Admin", "Baseline", "world", "cluster", "host", "all",
    "none", "10.0.0.0/8", "10.0.0.0/33", "::/0", "10.0.1.1", "default", "kube-system",
    "cilium-config", "always", "never", "reserved:host", "k8s:app", "2001-13-01", "~", "null",
    "true", "yes", "1e999", "nan", "é", "\u2028", "a" * 300, "9" * 5000,
]  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(SPECIAL_STRINGS),
    st.text(max_size=12),
)
keys = st.one_of(st.sampled_from(FIELDS), st.text(max_size=6))
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(keys, children, max_size=5),
    ),
    max_leaves=30,
)
documents = st.fixed_dictionaries(
    {
        "apiVersion": st.one_of(st.sampled_from(API_VERSIONS), scalars),
        "kind": st.one_of(st.sampled_from(KINDS), scalars),
    },
    optional={
        "metadata": st.one_of(
            st.fixed_dictionaries(
                {},
                optional={
                    "name": st.one_of(
                        st.sampled_from(["default", "cilium-config", "kubernetes", "p"]), scalars
                    ),
                    "namespace": st.one_of(
                        st.sampled_from(["default", "kube-system", "x"]), scalars
                    ),
                    "labels": values,
                },
            ),
            values,
        ),
        "spec": values,
        "specs": values,
        "status": values,
        "data": values,
        "items": values,
        "subsets": values,
        "endpoints": values,
    },
)


def _assert_located(diags: list[Diagnostic], file: str) -> None:
    for diag in diags:
        assert diag.location.file == file, str(diag)
        if diag.severity is Severity.ERROR:
            assert diag.location.document is not None, str(diag)
            assert diag.location.line is not None and diag.location.line >= 1, str(diag)
        str(diag)
        diag.to_dict()


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(documents, min_size=1, max_size=3))
def test_random_policy_shaped_documents_never_raise(docs: list[dict[str, Any]]) -> None:
    text = yaml.safe_dump_all(docs, allow_unicode=True)
    result = load_text(text, "fuzz.yaml")
    _assert_located(result.diagnostics, "fuzz.yaml")


SEED_TEXT = (
    spec(
        NP,
        """
        podSelector: {matchLabels: {pod: a}}
        policyTypes: [Ingress, Egress]
        ingress:
        - from:
          - namespaceSelector: {matchExpressions: [{key: ns, operator: In, values: [y]}]}
            podSelector: {}
          - ipBlock: {cidr: 10.0.0.0/8, except: [10.0.2.0/24]}
          ports:
          - {port: 80, endPort: 90, protocol: TCP}
          - {port: serve-81-tcp}
        egress:
        - to: [{podSelector: {}}]
        """,
    )
    + "---\n"
    + spec(
        CNP,
        """
        ingress:
        - fromEndpoints: [{matchLabels: {k8s:pod: b}}]
          toPorts:
          - ports: [{port: '80', protocol: TCP}]
            rules: {http: [{method: GET, path: /public, headers: ['X-A: 1']}]}
        egressDeny:
        - toEntities: [world]
        enableDefaultDeny: {ingress: false}
        """,
    )
    + "---\n"
    + spec(
        CNP2,
        """
        ingress:
        - action: Pass
          from: [{pods: {namespaceSelector: {}, podSelector: {}}}]
          protocols:
          - {tcp: {destinationPort: {range: {start: 1, end: 2}}}}
          - {destinationNamedPort: x}
        """,
    )
    + "---\n"
    + "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cilium-config, namespace: kube-system}\n"
    + "data: {enable-policy: always}\n"
)
TOKENS = [
    "", " ", "  ", "\t", ":", "- ", "[", "]", "{", "}", ",", "'", '"', "&a ", "*a", "!!int ",
    "!!bool ", "!!timestamp ", "!x ", "---\n", "\n", "#", "?", "|", ">", "%", "@", "`", "null",
    "~", "²", "\x00",
    "2001-13-01", "0x", "1e999", "9" * 5000,
]  # fmt: skip


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0), st.integers(min_value=0, max_value=3), st.sampled_from(TOKENS)
        ),
        min_size=1,
        max_size=6,
    )
)
def test_mutated_manifests_never_raise(edits: list[tuple[int, int, str]]) -> None:
    text = SEED_TEXT
    for position, delete, token in edits:
        at = position % (len(text) + 1)
        text = text[:at] + token + text[at + delete :]
    result = load_text(text, "fuzz.yaml")
    _assert_located(result.diagnostics, "fuzz.yaml")


def test_seed_text_is_valid() -> None:
    result = load_text(SEED_TEXT, "seed.yaml")
    assert not result.errors, [str(d) for d in result.errors]
    assert len(result.policies) == 3


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out += _paths(item, (*prefix, index))
    return out


SEED_DOCS = list(yaml.safe_load_all(SEED_TEXT))
SEED_PATHS = [(i, path) for i, d in enumerate(SEED_DOCS) for path in _paths(d) if path]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(SEED_PATHS), values), min_size=1, max_size=4))
def test_policies_with_random_subtrees_never_raise(
    replacements: list[tuple[tuple[int, tuple[Any, ...]], Any]],
) -> None:
    import copy

    docs = copy.deepcopy(SEED_DOCS)
    for (index, path), value in replacements:
        parent: Any = docs[index]
        try:
            for part in path[:-1]:
                parent = parent[part]
            parent[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier replacement removed this path
    text = yaml.safe_dump_all(docs, allow_unicode=True)
    result = load_text(text, "fuzz.yaml")
    _assert_located(result.diagnostics, "fuzz.yaml")
