"""`netwarden verdict` on bad input: exit status 2, a located message on stderr, never a
traceback (DESIGN.md, "Contract: offline verdicts")."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from netwarden.cli.main import app
from tests.unit.helpers import dump, netpol, standard_objects

GOOD_PROBES = "- {from: x/a, to: y/b, port: 80, protocol: TCP}\n"
STANDARD = dump(*standard_objects())


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"unhandled exception: {result.exception!r}\n{result.output}")
    return result.exit_code, result.stdout, result.stderr


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def verdict(tmp_path: Path, manifests: str, probes: str = GOOD_PROBES) -> tuple[int, str, str]:
    m = write(tmp_path, "manifests.yaml", manifests)
    p = write(tmp_path, "probes.yaml", probes)
    return run("verdict", "-f", str(m), "--probes", str(p))


def assert_bad_input(code: int, stdout: str, stderr: str, *fragments: str) -> None:
    assert code == 2, (code, stdout, stderr)
    assert "Traceback" not in stderr + stdout
    assert stdout == ""
    for fragment in fragments:
        assert fragment in stderr, f"{fragment!r} not in:\n{stderr}"


# ---- the happy path, for contrast -----------------------------------------------------


def test_good_input_exits_zero(tmp_path: Path) -> None:
    policy = dump(netpol("deny", "y", {"podSelector": {}}))
    code, out, err = verdict(tmp_path, STANDARD + "---\n" + policy)
    assert code == 0, err
    [record] = json.loads(out)
    assert record["verdict"] == "deny"
    assert record["ingress"]["tier"] == "namespaced"
    assert record["ingress"]["policies"][0]["name"] == "deny"
    assert record["egress"]["tier"] == "default"


def test_warnings_go_to_stderr_and_do_not_fail(tmp_path: Path) -> None:
    banp = (
        "apiVersion: policy.networking.k8s.io/v1alpha1\nkind: BaselineAdminNetworkPolicy\n"
        "metadata: {name: strict}\nspec: {subject: {namespaces: {}}, ingress: []}\n"
    )
    code, out, err = verdict(tmp_path, STANDARD + "---\n" + banp)
    assert code == 0
    assert "must be named 'default'" in err
    assert json.loads(out)[0]["verdict"] == "allow"


# ---- bad manifests ----------------------------------------------------------------------

OPERATOR_POLICY = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: x}
spec:
  podSelector: {}
  ingress:
  - from:
    - podSelector: {}
    - podSelector:
        matchExpressions:
        - {key: app, operator: Equals, values: [a]}
"""


def test_bad_field_is_reported_with_file_document_line_and_path(tmp_path: Path) -> None:
    code, out, err = verdict(tmp_path, STANDARD + "---\n" + OPERATOR_POLICY)
    m = tmp_path / "manifests.yaml"
    document = STANDARD.count("\n---\n") + 2  # 1-based, as rendered
    line = (STANDARD + "---\n" + OPERATOR_POLICY).splitlines().index(
        "        - {key: app, operator: Equals, values: [a]}"
    ) + 1
    assert_bad_input(
        code,
        out,
        err,
        f"{m}:{line} (document {document}) "
        "spec.ingress[0].from[1].podSelector.matchExpressions[0].operator: error: "
        "unknown operator 'Equals'",
    )


@pytest.mark.parametrize(
    ("manifest", "fragments"),
    [
        ("kind: Pod\nmetadata: {name: [unclosed\n", [":3 (document 1): error: invalid YAML"]),
        (
            "kind: Pod\nmetadata: {name: p, creationTimestamp: 2001-13-01}\n",
            [":2 (document 1)", "month"],
        ),
        ("kind: Pod\nmetadata:\n  labels: &l {a: *l}\n", ["recursive alias"]),
        ("kind: Pod\nmetadata: {name: \x07}\n", [":2 (document 1)", "unacceptable character"]),
        (
            "apiVersion: v1\nmetadata: {name: x}\n",
            [":1 (document 1) kind: error: kind is required"],
        ),
        (
            "apiVersion: networking.k8s.io/v1beta1\nkind: NetworkPolicy\nmetadata: {name: p}\n"
            "spec: {podSelector: {}}\n",
            [":1 (document 1) apiVersion: error: NetworkPolicy needs apiVersion"],
        ),
        (
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {namespace: x}\n"
            "spec: {podSelector: {}}\n",
            [":3 (document 1) metadata.name: error: metadata.name is required"],
        ),
        (
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p}\n"
            "spec:\n  podSelector: {}\n  ingress:\n  - ports:\n    - {port: 80, endPort: 79}\n",
            [":8 (document 1) spec.ingress[0].ports[0].endPort: error: endPort 79 is smaller"],
        ),
        (
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p}\n"
            "spec:\n  podSelector: {}\n  egress:\n  - to:\n"
            "    - ipBlock: {cidr: 10.0.0.0/24, except: [10.1.0.0/24]}\n",
            ["spec.egress[0].to[0].ipBlock.except[0]: error: except 10.1.0.0/24 is not inside"],
        ),
        (
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p}\n"
            "spec:\n  podSelector: {}\n  ingress:\n  - ports:\n    - {port: 99999}\n",
            ["spec.ingress[0].ports[0].port: error: port 99999 is out of range"],
        ),
        (
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p}\n"
            "spec:\n  podSelector: {}\n  ingress:\n  - ports:\n    - {port: http, endPort: 90}\n",
            ["spec.ingress[0].ports[0].endPort: error: endPort cannot be used with a named port"],
        ),
        (
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p}\n"
            "spec:\n  podSelector: {}\n  ingress:\n  - ports:\n    - {protocol: TPC}\n",
            ["spec.ingress[0].ports[0].protocol: error: unknown protocol 'TPC'"],
        ),
        (
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p}\n"
            "spec:\n  podSelector:\n    matchExpressions: [{key: a, operator: In}]\n",
            ["spec.podSelector.matchExpressions[0].values: error: operator In needs"],
        ),
        (
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p}\n"
            "spec:\n  podSelector: {}\n  ingress:\n  - from:\n    - ipBlock: {cidr: 10.0.0.0/99}\n",
            ["spec.ingress[0].from[0].ipBlock.cidr: error: '10.0.0.0/99' is not a valid CIDR"],
        ),
        (
            "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: p}\n"
            "spec:\n  endpointSelector: {}\n  ingress:\n  - fromEndpoints: {}\n",
            [":7 (document 1) spec.ingress[0].fromEndpoints: error: expected a list"],
        ),
        (
            "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: p}\n"
            "spec:\n  endpointSelector: {}\n  egres: []\n",
            ["spec.egres: error: unknown field 'egres'"],
        ),
        (
            "apiVersion: policy.networking.k8s.io/v1alpha1\nkind: AdminNetworkPolicy\n"
            "metadata: {name: p}\nspec:\n  priority: '10'\n  subject: {namespaces: {}}\n"
            "  ingress:\n  - {action: Drop, from: [{namespaces: {}}]}\n",
            [":8 (document 1) spec.ingress[0].action: error: action must be one of"],
        ),
        (
            "apiVersion: policy.networking.k8s.io/v1alpha2\nkind: ClusterNetworkPolicy\n"
            "metadata: {name: p}\nspec:\n  tier: Admin\n  priority: 1\n"
            "  subject: {namespaces: {}}\n"
            "  ingress:\n  - action: Deny\n    from: [{namespaces: {}}]\n"
            "    protocols: [{tcp: {destinationPort: {range: {start: 9, end: 1}}}}]\n",
            ["spec.ingress[0].protocols[0].tcp.destinationPort.range: error: range start 9"],
        ),
    ],
    ids=[
        "yaml-syntax",
        "yaml-bad-timestamp",
        "yaml-recursive-alias",
        "yaml-control-character",
        "missing-kind",
        "wrong-api-version",
        "missing-name",
        "end-port-below-port",
        "except-outside-cidr",
        "port-out-of-range",
        "end-port-with-named-port",
        "bad-protocol",
        "in-without-values",
        "invalid-cidr",
        "cilium-wrong-type",
        "cilium-unknown-field",
        "anp-bad-action",
        "cnp2-bad-range",
    ],
)
def test_bad_manifest_exits_2_with_a_located_message(
    tmp_path: Path, manifest: str, fragments: list[str]
) -> None:
    code, out, err = verdict(tmp_path, manifest)
    m = tmp_path / "manifests.yaml"
    assert_bad_input(code, out, err, str(m), *fragments)
    assert err.startswith(str(m))


def test_every_error_is_printed(tmp_path: Path) -> None:
    manifest = (
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p}\n"
        "spec:\n  podSelector: {}\n  ingress:\n  - ports:\n    - {port: 0}\n    - {port: 70000}\n"
    )
    code, out, err = verdict(tmp_path, manifest)
    assert_bad_input(code, out, err, "ports[0].port", "ports[1].port")
    assert len(err.strip().splitlines()) == 2


def test_error_in_a_directory_names_the_file(tmp_path: Path) -> None:
    d = tmp_path / "manifests"
    d.mkdir()
    write(d, "00-cluster.yaml", STANDARD)
    write(d, "10-bad.yml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  labels: {a: b}\n")
    write(d, "README.md", "not a manifest: ignored")
    probes = write(tmp_path, "probes.yaml", GOOD_PROBES)
    code, out, err = run("verdict", "-f", str(d), "--probes", str(probes))
    assert_bad_input(code, out, err, f"{d / '10-bad.yml'}:3 (document 1) metadata.name: error")


def test_json_manifest_syntax_error(tmp_path: Path) -> None:
    m = write(tmp_path, "objs.json", '[{"kind": "Namespace",\n "metadata": {"name": "x"}\n')
    p = write(tmp_path, "probes.yaml", GOOD_PROBES)
    code, out, err = run("verdict", "-f", str(m), "--probes", str(p))
    assert_bad_input(code, out, err, str(m))


def test_undecodable_manifest(tmp_path: Path) -> None:
    m = tmp_path / "latin1.yaml"
    m.write_bytes(b"kind: Namespace\nmetadata: {name: caf\xe9}\n")
    p = write(tmp_path, "probes.yaml", GOOD_PROBES)
    code, out, err = run("verdict", "-f", str(m), "--probes", str(p))
    assert_bad_input(code, out, err, str(m), "cannot read")


def test_nonexistent_manifest_path(tmp_path: Path) -> None:
    p = write(tmp_path, "probes.yaml", GOOD_PROBES)
    missing = tmp_path / "nope.yaml"
    code, out, err = run("verdict", "-f", str(missing), "--probes", str(p))
    assert_bad_input(code, out, err, f"{missing}: error: no such file or directory")


def test_one_nonexistent_path_among_good_ones(tmp_path: Path) -> None:
    m = write(tmp_path, "m.yaml", STANDARD)
    p = write(tmp_path, "probes.yaml", GOOD_PROBES)
    code, out, err = run("verdict", "-f", str(m), "-f", str(tmp_path / "gone"), "--probes", str(p))
    assert_bad_input(code, out, err, "gone: error: no such file or directory")


def test_missing_file_option() -> None:
    code, _out, err = run("verdict", "--probes", "p.yaml")
    assert code == 2
    assert "Traceback" not in err


# ---- bad probe files ------------------------------------------------------------------------


def probe_error(tmp_path: Path, probes: str, *fragments: str) -> str:
    code, out, err = verdict(tmp_path, STANDARD, probes)
    p = tmp_path / "probes.yaml"
    assert_bad_input(code, out, err, str(p), *fragments)
    return err


def test_probe_missing_port(tmp_path: Path) -> None:
    probes = "- {from: x/a, to: y/b, port: 80}\n- from: x/a\n  to: y/b\n  protocol: TCP\n"
    probe_error(tmp_path, probes, "probes.yaml:2 (document 1) [1].port: error: port is required")


def test_probe_unknown_endpoint_is_located_at_the_probe(tmp_path: Path) -> None:
    probes = "- {from: x/a, to: y/b, port: 80}\n\n- from: x/a\n  to: y/zz\n  port: 80\n"
    probe_error(tmp_path, probes, "probes.yaml:3 (document 1) [1]: error: no pod y/zz")


def test_probe_unknown_cluster(tmp_path: Path) -> None:
    probe_error(
        tmp_path, "- {from: other:x/a, to: y/b, port: 80}\n", ":1 (document 1) [0]", "cluster other"
    )


def test_probe_endpoint_not_a_pod_or_ip(tmp_path: Path) -> None:
    probe_error(
        tmp_path, "- {from: x-a, to: y/b, port: 80}\n", "[0]: error:", "neither namespace/pod"
    )


@pytest.mark.parametrize(
    ("probes", "fragment"),
    [
        (
            "- {from: x/a, to: y/b, port: 70000}\n",
            ":1 (document 1) [0].port: error: port is required",
        ),
        ("- {from: x/a, to: y/b, port: http}\n", "[0].port: error: expected an integer"),
        ("- {from: x/a, to: y/b, port: 80, protocol: ICMP}\n", "[0].protocol: error"),
        (
            "- {from: x/a, to: y/b, port: 80, protocl: TCP}\n",
            "[0].protocl: error: unknown probe field",
        ),
        ("- {to: y/b, port: 80}\n", "[0].from: error: from is required"),
        ("- {from: x/a, to: '', port: 80}\n", "[0].to: error: to is required"),
        (
            "- {from: x/a, to: y/b, port: 80, http: GET}\n",
            "[0].http: error: expected an HTTP request",
        ),
        ("- [x/a, y/b, 80]\n", "[0]: error: expected a probe"),
        ("from: x/a\nto: y/b\n", ":1 (document 1): error: expected a list of probes"),
        ("probes: {from: x/a}\n", "probes: error: expected a list"),
        ("- {from: x/a, to: y/b, port: [80\n", "error: invalid YAML"),
        ("just text\n", "error: expected a list"),
    ],
    ids=[
        "port-out-of-range",
        "port-not-a-number",
        "bad-protocol",
        "unknown-field",
        "missing-from",
        "empty-to",
        "http-not-an-object",
        "probe-not-an-object",
        "not-a-list",
        "probes-key-not-a-list",
        "yaml-syntax",
        "scalar",
    ],
)
def test_bad_probe_file(tmp_path: Path, probes: str, fragment: str) -> None:
    probe_error(tmp_path, probes, fragment)


def test_probes_with_a_probes_key(tmp_path: Path) -> None:
    code, out, err = verdict(tmp_path, STANDARD, "probes:\n- {from: x/a, to: y/b, port: 80}\n")
    assert code == 0, err
    assert len(json.loads(out)) == 1


def test_nonexistent_probes_file(tmp_path: Path) -> None:
    m = write(tmp_path, "m.yaml", STANDARD)
    missing = tmp_path / "no-probes.yaml"
    code, out, err = run("verdict", "-f", str(m), "--probes", str(missing))
    assert_bad_input(code, out, err, str(missing), "cannot read probes")


def test_probes_path_is_a_directory(tmp_path: Path) -> None:
    m = write(tmp_path, "m.yaml", STANDARD)
    code, out, err = run("verdict", "-f", str(m), "--probes", str(tmp_path))
    assert_bad_input(code, out, err, "cannot read probes")


def test_bad_output_format(tmp_path: Path) -> None:
    m = write(tmp_path, "m.yaml", STANDARD)
    p = write(tmp_path, "probes.yaml", GOOD_PROBES)
    code, _out, err = run("verdict", "-f", str(m), "--probes", str(p), "-o", "xml")
    assert code == 2
    assert "Traceback" not in err


def test_manifest_errors_are_reported_before_probe_errors(tmp_path: Path) -> None:
    code, out, err = verdict(tmp_path, "kind: Pod\nmetadata: {}\n", "- {from: nowhere}\n")
    assert_bad_input(code, out, err, "metadata.name: error")
    assert "probes.yaml" not in err


# ---- the installed command, as a separate process ------------------------------------------


@pytest.mark.parametrize(
    ("manifest", "fragment"),
    [
        ("kind: Pod\nmetadata:\n  labels: &l {a: *l}\n", "recursive alias"),
        (
            "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: p}\n"
            "spec:\n  endpointSelector: {}\n  ingress:\n  - toPorts:\n    - ports: [{port: '²'}]\n",
            "spec.ingress[0].toPorts[0].ports[0].port: error",
        ),
        ("apiVersion: v1\nkind: ConfigMap\nmetadata: [cilium-config]\n", None),
    ],
    ids=["recursive-alias", "unicode-digit-port", "configmap-metadata-list"],
)
def test_subprocess_never_prints_a_traceback(
    tmp_path: Path, manifest: str, fragment: str | None
) -> None:
    m = write(tmp_path, "m.yaml", STANDARD + "---\n" + manifest)
    p = write(tmp_path, "probes.yaml", GOOD_PROBES)
    proc = subprocess.run(
        [sys.executable, "-m", "netwarden.cli.main", "verdict", "-f", str(m), "--probes", str(p)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "Traceback" not in proc.stderr
    if fragment is None:
        assert proc.returncode == 0, proc.stderr
    else:
        assert proc.returncode == 2, proc.stderr
        assert fragment in proc.stderr
        assert proc.stdout == ""
