"""Hubble ``flow.FlowFilter`` semantics as a pure matcher over :class:`netwarden.model.flow.Flow`.

The behaviour follows the Hubble server (Cilium v1.19.4 ``pkg/hubble/filters``) and
the ``hubble observe`` CLI (``hubble/cmd/observe/flows_filter.go``), both Apache-2.0:

- within one :class:`FlowFilter` every populated field must match (AND); within one
  field any value may match (OR); a filter with no field set matches every flow;
- a request keeps a flow when any whitelist filter matches (an empty whitelist keeps
  everything) and no blacklist filter matches (:func:`matches`, :func:`filter_flows`);
- a filter Hubble's server would refuse (bad CIDR, empty pod name, unknown protocol,
  bad regex or label selector, an HTTP field next to a non-L7 ``event_type``, ...)
  raises :class:`FilterError` when it is compiled, before any flow is looked at;
- fields whose flow data ``model.flow`` does not decode yet (services, node labels,
  trace context, interface, IP trace id) raise :class:`UnsupportedFilterError`
  instead of silently matching nothing.

:func:`observe_filters` builds the whitelist and blacklist from ``hubble observe``
flags (``--pod``/``--from-pod``/``--to-pod``, ``--namespace``, ``--not``, ...) the way
the CLI does. ``since``/``until``/``--last`` are request fields, not filters: the
caller applies them. See ``docs/design/flows.md`` ("Filters").

This module is the public entry point; the parts live next to it:

- ``filter_core``: :class:`FlowFilter`, :func:`compile_filters`, :func:`matches`,
  :func:`filter_flows`;
- ``filter_predicates``: compiling one filter, field by field (``filter_http``: the
  HTTP fields and the request URI path);
- ``filter_labels``: label selectors; ``filter_patterns``: FQDN, node-name and
  pod/service name patterns; ``filter_json``: the protojson form;
- ``filter_types``: errors and small filter values; ``observe``: the CLI flags.
"""

from __future__ import annotations

from netwarden.flows.filter_core import FlowFilter, compile_filters, filter_flows, matches
from netwarden.flows.filter_http import L7_EVENT, request_uri_path
from netwarden.flows.filter_labels import (
    CiliumLabel,
    LabelSelector,
    parse_cilium_label,
    parse_label_selector,
)
from netwarden.flows.filter_patterns import (
    compile_fqdn_patterns,
    compile_node_name_patterns,
    namespaced_name_matcher,
)
from netwarden.flows.filter_predicates import DEFAULT_CLUSTER
from netwarden.flows.filter_types import (
    TCP_FLAG_NAMES,
    EventTypeFilter,
    FilterError,
    NetworkInterface,
    Predicate,
    UnsupportedFilterError,
)
from netwarden.flows.observe import (
    AGENT_EVENT_SUBTYPES,
    EVENT_TYPES,
    FLAGS,
    TRACE_OBSERVATION_POINTS,
    ObserveFilters,
    Option,
    observe_filters,
)
from netwarden.model.endpoint import RESERVED_IDENTITIES

__all__ = [
    "AGENT_EVENT_SUBTYPES",
    "DEFAULT_CLUSTER",
    "EVENT_TYPES",
    "FLAGS",
    "L7_EVENT",
    "RESERVED_IDENTITIES",
    "TCP_FLAG_NAMES",
    "TRACE_OBSERVATION_POINTS",
    "CiliumLabel",
    "EventTypeFilter",
    "FilterError",
    "FlowFilter",
    "LabelSelector",
    "NetworkInterface",
    "ObserveFilters",
    "Option",
    "Predicate",
    "UnsupportedFilterError",
    "compile_filters",
    "compile_fqdn_patterns",
    "compile_node_name_patterns",
    "filter_flows",
    "matches",
    "namespaced_name_matcher",
    "observe_filters",
    "parse_cilium_label",
    "parse_label_selector",
    "request_uri_path",
]
