"""Protocols and port specifications."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Protocol(Enum):
    TCP = "TCP"
    UDP = "UDP"
    SCTP = "SCTP"
    ICMP = "ICMP"
    ICMPV6 = "ICMPv6"
    ANY = "ANY"

    @staticmethod
    def parse(text: str) -> Protocol:
        proto = _BY_NAME.get(text.upper())
        if proto is None:
            raise ValueError(f"unknown protocol {text!r} (expected TCP, UDP, SCTP or ANY)")
        return proto


_BY_NAME = {p.value.upper(): p for p in Protocol}
CONCRETE_PROTOCOLS = (Protocol.TCP, Protocol.UDP, Protocol.SCTP)
MIN_PORT = 0
MAX_PORT = 65535


@dataclass(frozen=True, slots=True)
class PortSpec:
    """A protocol with a port range, or a named port resolved at evaluation time.

    ``protocol`` ANY matches every protocol. A range ``0..65535`` is every port.
    """

    protocol: Protocol
    start: int = MIN_PORT
    end: int = MAX_PORT
    name: str | None = None

    @property
    def all_ports(self) -> bool:
        return self.name is None and self.start <= MIN_PORT and self.end >= MAX_PORT

    def matches_protocol(self, protocol: Protocol) -> bool:
        return self.protocol is Protocol.ANY or self.protocol is protocol

    def __str__(self) -> str:
        proto = self.protocol.value
        if self.name is not None:
            return f"{self.name}/{proto}"
        if self.all_ports:
            return f"*/{proto}"
        if self.start == self.end:
            return f"{self.start}/{proto}"
        return f"{self.start}-{self.end}/{proto}"


ALL_PORTS = PortSpec(Protocol.ANY)


@dataclass(frozen=True, slots=True)
class NamedPort:
    """A container port of a pod that named-port rules resolve against."""

    name: str
    protocol: Protocol
    port: int
