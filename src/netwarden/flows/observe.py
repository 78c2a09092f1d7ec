"""``hubble observe`` filter flags -> a request's whitelist and blacklist of FlowFilters.

:func:`observe_filters` builds them from ``--pod``/``--from-pod``/``--to-pod``,
``--namespace``, ``--not``, ... the way the CLI does (``hubble/cmd/observe/flows_filter.go``).
``since``/``until``/``--last`` are request fields, not filters: the caller applies them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeVar

from netwarden.flows.filter_core import FlowFilter, compile_filters, filter_flows, matches
from netwarden.flows.filter_types import (
    TCP_FLAG_NAMES,
    EventTypeFilter,
    FilterError,
    NetworkInterface,
    UnsupportedFilterError,
    go_uint,
)
from netwarden.model.endpoint import RESERVED_IDENTITIES
from netwarden.model.flow import (
    DropReason,
    Flow,
    HTTPHeader,
    IPVersion,
    TCPFlags,
    TrafficDirection,
    Verdict,
    Workload,
)

E = TypeVar("E", bound=Enum)


@dataclass(frozen=True, slots=True)
class ObserveFilters:
    """A request's ``whitelist`` and ``blacklist``, as ``hubble observe`` builds them."""

    whitelist: tuple[FlowFilter, ...] = ()
    blacklist: tuple[FlowFilter, ...] = ()

    def match(self, flow: Flow) -> bool:
        return matches(flow, self.whitelist, self.blacklist)

    def filter(self, flows: Iterable[Flow]) -> Iterator[Flow]:
        return filter_flows(flows, self.whitelist, self.blacklist)

    def to_json(self) -> dict[str, list[dict[str, Any]]]:
        return {
            "whitelist": [f.to_json() for f in self.whitelist],
            "blacklist": [f.to_json() for f in self.blacklist],
        }


# --- hubble observe flags -> FlowFilters ---------------------------------------------------

Option = tuple[str, str] | str
_SHORT_FLAGS = {"n": "namespace", "A": "all-namespaces", "l": "label", "t": "type"}
_SHORT_FLAGS |= {"4": "ipv4", "6": "ipv6"}

# Either-side flags: flag -> (field set in the left filter, field set in the right one).
_EITHER_SIDE = {
    "pod": ("source_pod", "destination_pod"),
    "ip": ("source_ip", "destination_ip"),
    "fqdn": ("source_fqdn", "destination_fqdn"),
    "label": ("source_label", "destination_label"),
    "service": ("source_service", "destination_service"),
    "port": ("source_port", "destination_port"),
    "identity": ("source_identity", "destination_identity"),
    "workload": ("source_workload", "destination_workload"),
    "cluster": ("source_cluster_name", "destination_cluster_name"),
}
_ONE_SIDE = {
    **{f"from-{flag}": left for flag, (left, _) in _EITHER_SIDE.items()},
    **{f"to-{flag}": right for flag, (_, right) in _EITHER_SIDE.items()},
    "snat-ip": "source_ip_xlated",
    "uuid": "uuid",
    "trace-id": "trace_id",
    "ip-trace-id": "ip_trace_id",
    "verdict": "verdict",
    "drop-reason-desc": "drop_reason_desc",
    "http-status": "http_status_code",
    "http-method": "http_method",
    "http-path": "http_path",
    "http-url": "http_url",
    "http-header": "http_header",
    "type": "event_type",
    "protocol": "protocol",
    "node-name": "node_name",
    "node-label": "node_labels",
    "tcp-flags": "tcp_flags",
    "traffic-direction": "traffic_direction",
    "ipv4": "ip_version",
    "ipv6": "ip_version",
    "ip-version": "ip_version",
    "interface": "interface",
    "encrypted": "encrypted",
    "unencrypted": "encrypted",
}
_NAMESPACE_FLAGS = {
    "namespace": "ns",
    "all-namespaces": "ns",
    "from-namespace": "src",
    "from-all-namespaces": "src",
    "to-namespace": "dst",
    "to-all-namespaces": "dst",
}
# Flags that cannot be combined, per group (hubble observe's conflict table).
_ALL_FROM = ("from-all-namespaces", "all-namespaces")
_ALL_TO = ("to-all-namespaces", "all-namespaces")
_CONFLICTS = (
    ("from-fqdn", "from-ip", "ip", "fqdn", "from-namespace", "namespace", *_ALL_FROM),
    ("from-fqdn", "from-ip", "ip", "fqdn", "from-pod", "pod"),
    ("to-fqdn", "to-ip", "ip", "fqdn", "to-namespace", "namespace", *_ALL_TO),
    ("to-fqdn", "to-ip", "ip", "fqdn", "to-pod", "pod"),
    ("to-pod", "namespace", "all-namespaces"),
    ("from-pod", "namespace", "all-namespaces"),
    ("to-service", "namespace", "all-namespaces"),
    ("from-service", "namespace", "all-namespaces"),
    ("label", "from-label"),
    ("label", "to-label"),
    ("service", "from-service"),
    ("service", "to-service"),
    ("port", "to-port"),
    ("port", "from-port"),
    ("identity", "to-identity"),
    ("identity", "from-identity"),
    ("workload", "to-workload"),
    ("workload", "from-workload"),
    ("encrypted", "unencrypted"),
)
FLAGS = frozenset(_EITHER_SIDE) | frozenset(_ONE_SIDE) | frozenset(_NAMESPACE_FLAGS) | {"not"}


class _Tracker:
    """One list (whitelist or blacklist) being built: a left and a right filter."""

    def __init__(self) -> None:
        self.left: dict[str, list[Any]] | None = None
        self.right: dict[str, list[Any]] | None = None
        self.namespaces: dict[str, list[str]] = {"ns": [], "src": [], "dst": []}
        self.changed: list[str] = []

    def add(self, side: str, name: str, value: object) -> None:
        if side in ("left", "both"):
            self.left = self.left if self.left is not None else {}
            self.left.setdefault(name, []).append(value)
        if side in ("right", "both"):
            self.right = self.right if self.right is not None else {}
            self.right.setdefault(name, []).append(value)

    def track(self, flag: str) -> None:
        if flag not in self.changed:
            self.changed.append(flag)
        for group in _CONFLICTS:
            for one in group:
                if one not in self.changed:
                    continue
                other = next((o for o in group if o != one and o in self.changed), None)
                if other is not None:
                    raise FilterError(f"filters --{one} and --{other} cannot be combined")

    def check_namespaces(self) -> None:
        for half in (self.left, self.right):
            if half is not None:
                _check_namespace_conflicts(half, self.namespaces)

    def filters(self) -> tuple[FlowFilter, ...]:
        ns, src, dst = (self.namespaces[k] for k in ("ns", "src", "dst"))
        if self.left is None and self.right is None and not (ns or src or dst):
            return ()
        left, right = self.left or {}, self.right or {}
        for half in (left, right):
            _apply_namespaces(half, dst, "destination")
            _apply_namespaces(half, src, "source")
        _apply_namespaces(left, ns, "source")
        _apply_namespaces(right, ns, "destination")
        built = tuple(
            FlowFilter(**{k: tuple(v) for k, v in half.items()}) for half in (left, right)
        )
        return built[:1] if built[0] == built[1] else built


def _apply_namespaces(half: dict[str, list[Any]], namespaces: list[str], side: str) -> None:
    """``--namespace NS``: ``NS/`` pods on that side, or NS/ before names without one."""
    if not namespaces:
        return
    pod, service = f"{side}_pod", f"{side}_service"
    if not half.get(pod) and not half.get(service):
        half[pod] = [""]
    for name in (pod, service):
        if half.get(name):
            half[name] = [
                item
                for value in half[name]
                for item in ([value] if "/" in value else [f"{ns}/{value}" for ns in namespaces])
            ]


def _check_namespace_conflicts(half: dict[str, list[Any]], nss: dict[str, list[str]]) -> None:
    def namespace_of(name: str) -> str:
        return name.split("/")[0] if "/" in name else ""

    pairs = [
        (nss["ns"], "source_pod"),
        (nss["ns"], "source_service"),
        (nss["ns"], "destination_pod"),
        (nss["ns"], "destination_service"),
        (nss["src"], "source_pod"),
        (nss["src"], "source_service"),
        (nss["dst"], "destination_pod"),
        (nss["dst"], "destination_service"),
    ]
    for namespaces, name in pairs:
        for ns in namespaces:
            for value in half.get(name, []):
                if namespace_of(value) not in ("", ns):
                    raise FilterError(f"namespace conflict: {ns!r} does not contain {value!r}")
    for side in ("source", "destination"):
        for pod in half.get(f"{side}_pod", []):
            pod_ns = namespace_of(pod)
            for service in half.get(f"{side}_service", []) if pod_ns else []:
                if namespace_of(service) != pod_ns:
                    raise FilterError(f"namespace of service {service!r} conflict with pod {pod!r}")


def observe_filters(
    options: Iterable[Option],
    *,
    allowlist: Sequence[FlowFilter] = (),
    denylist: Sequence[FlowFilter] = (),
) -> ObserveFilters:
    """Whitelist and blacklist from ``hubble observe`` filter flags, in command-line order.

    Each option is ``(flag, value)`` or a bare flag for the ones without a value
    (``"not"``, ``"ipv4"``, ``"all-namespaces"``, ``"encrypted"``). Flags are the long
    names with or without dashes (``"--from-pod"``, ``"from-pod"``) or the short ones
    (``n``, ``A``, ``l``, ``t``, ``4``, ``6``). ``not`` sends the next flag to the one
    blacklist builder, so several ``--not`` flags AND together there exactly as in the
    CLI. ``allowlist``/``denylist`` are appended like ``--allowlist``/``--denylist``.
    Raises FilterError for what the CLI or the server would reject.
    """
    white, black = _Tracker(), _Tracker()
    negate = False
    for option in options:
        flag, value = (option, "") if isinstance(option, str) else option
        flag = flag.lstrip("-")
        flag = _SHORT_FLAGS.get(flag, flag)
        if flag == "cel-expression":
            raise UnsupportedFilterError("--cel-expression: CEL filters are not supported")
        if flag not in FLAGS:
            raise FilterError(f"unknown hubble observe filter flag --{flag}")
        if flag == "not":
            if negate:
                raise FilterError("consecutive --not statements")
            negate = True
            continue
        tracker, negate = (black if negate else white), False
        tracker.track(flag)
        _set(tracker, flag, value)
        tracker.check_namespaces()
    if negate:
        raise FilterError("trailing --not found in the arguments")
    result = ObserveFilters(white.filters() + tuple(allowlist), black.filters() + tuple(denylist))
    compile_filters(result.whitelist + result.blacklist)
    return result


def _set(tracker: _Tracker, flag: str, value: str) -> None:
    if flag in _NAMESPACE_FLAGS:
        namespace = "" if "all-namespaces" in flag else value
        tracker.namespaces[_NAMESPACE_FLAGS[flag]].append(namespace)
        return
    parsed = _FLAG_VALUES.get(flag, _keep_text)(value, flag)
    if flag in _EITHER_SIDE:
        left, right = _EITHER_SIDE[flag]
        tracker.add("left", left, parsed)
        tracker.add("right", right, parsed)
    else:
        tracker.add("both", _ONE_SIDE[flag], parsed)


def _keep_text(value: str, flag: str) -> object:
    return value


def _enum_flag(enum: type[E]) -> Callable[[str, str], object]:
    def parse(value: str, flag: str) -> object:
        if value not in enum.__members__:
            raise FilterError(f"invalid --{flag} value: {value}")
        return enum.__members__[value]

    return parse


def _identity_flag(value: str, flag: str) -> object:
    if value in RESERVED_IDENTITIES:
        return RESERVED_IDENTITIES[value]
    number = go_uint(value, base0=True)
    if number is None or number > 0xFFFFFFFF:
        names = ", ".join(RESERVED_IDENTITIES)
        raise FilterError(f"invalid security identity, expected one of [{names}] or a number")
    return number


def _ip_trace_id_flag(value: str, flag: str) -> object:
    number = go_uint(value)
    if value == "0" or number is None or number >= 2**64:
        raise FilterError(f"invalid --ip-trace-id value: {value!r}")
    return number


def _workload_flag(value: str, flag: str) -> object:
    kind, slash, name = value.partition("/")
    return Workload(name=name, kind=kind) if slash else Workload(name=value)


def _http_header_flag(value: str, flag: str) -> object:
    key, colon, header_value = value.partition(":")
    if not colon:
        raise FilterError(f"invalid http-header value {value!r}, expected name:value")
    return HTTPHeader(key=key, value=header_value)


def _tcp_flags_flag(value: str, flag: str) -> object:
    names = set()
    for name in value.split(","):
        if name.upper() not in TCP_FLAG_NAMES:
            raise FilterError(f"unknown tcp flag: {name}")
        names.add(name.upper())
    return TCPFlags(**dict.fromkeys(names, True))


def _traffic_direction_flag(value: str, flag: str) -> object:
    direction = value.lower()
    if direction not in ("ingress", "egress"):
        raise FilterError(f"{direction}: invalid traffic direction, expected ingress or egress")
    return TrafficDirection[direction.upper()]


def _ip_version_flag(value: str, flag: str) -> object:
    if flag != "ip-version":
        return IPVersion.IPv4 if flag == "ipv4" else IPVersion.IPv6
    version = value.lower()
    if version in ("4", "v4", "ipv4", "ip4"):
        return IPVersion.IPv4
    if version in ("6", "v6", "ipv6", "ip6"):
        return IPVersion.IPv6
    return IPVersion.IP_NOT_USED  # the CLI maps anything else (even a typo) to "not IP"


def _event_type_flag(value: str, flag: str) -> object:
    name, colon, sub = value.partition(":")
    named = EVENT_TYPES.get(name)
    number = named if named is not None else go_uint(name)
    if number is None or number > 0xFFFFFFFF:
        raise FilterError(f"unable to parse type {name!r}: not a known type name or number")
    if not colon:
        return EventTypeFilter(type=number)
    # As in the CLI, sub-type names are looked up only when the type was given by name.
    sub_names = {4: TRACE_OBSERVATION_POINTS, 130: AGENT_EVENT_SUBTYPES}.get(named or 0, {})
    sub_number = sub_names.get(sub)
    if sub_number is None:
        sub_number = go_uint(sub)
        if sub_number is None or sub_number > 0xFFFFFFFF:
            raise FilterError(f"unable to parse event sub-type {sub!r}")
    return EventTypeFilter(type=number, match_sub_type=True, sub_type=sub_number)


def _true_flag(value: str, flag: str) -> object:
    return flag == "encrypted"


# --type names (pkg/monitor/api/types.go) and trace observation point sub-types.
EVENT_TYPES = {
    "drop": 1,
    "debug": 2,
    "capture": 3,
    "trace": 4,
    "policy-verdict": 5,
    "trace-sock": 7,
    "l7": 129,
    "agent": 130,
}
_TRACE_POINT_NAMES = (
    "to-endpoint to-proxy to-host to-stack to-overlay from-endpoint from-proxy from-host "
    "from-stack from-overlay from-network to-network from-crypto to-crypto"
)
TRACE_OBSERVATION_POINTS = {name: i for i, name in enumerate(_TRACE_POINT_NAMES.split())}
_AGENT_EVENT_NAMES = (
    "unspecified message agent-started endpoint-regenerate-success endpoint-regenerate-failure "
    "policy-updated policy-deleted endpoint-created endpoint-deleted ipcache-upserted "
    "ipcache-deleted"
)
AGENT_EVENT_SUBTYPES = {name: i for i, name in enumerate(_AGENT_EVENT_NAMES.split())}

_FLAG_VALUES: dict[str, Callable[[str, str], object]] = {
    "verdict": _enum_flag(Verdict),
    "drop-reason-desc": _enum_flag(DropReason),
    "identity": _identity_flag,
    "from-identity": _identity_flag,
    "to-identity": _identity_flag,
    "workload": _workload_flag,
    "from-workload": _workload_flag,
    "to-workload": _workload_flag,
    "http-header": _http_header_flag,
    "tcp-flags": _tcp_flags_flag,
    "traffic-direction": _traffic_direction_flag,
    "ipv4": _ip_version_flag,
    "ipv6": _ip_version_flag,
    "ip-version": _ip_version_flag,
    "type": _event_type_flag,
    "ip-trace-id": _ip_trace_id_flag,
    "interface": lambda value, flag: NetworkInterface(name=value),
    "encrypted": _true_flag,
    "unencrypted": _true_flag,
}
