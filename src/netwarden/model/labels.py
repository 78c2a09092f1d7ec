"""Label sets and Kubernetes label selectors (matchLabels + matchExpressions)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import Enum


class Labels(Mapping[str, str]):
    """An immutable, hashable label map."""

    __slots__ = ("_data", "_hash", "_items")

    def __init__(self, data: Mapping[str, str] | None = None) -> None:
        self._data: dict[str, str] = dict(data or {})
        self._items = tuple(sorted(self._data.items()))
        self._hash = hash(self._items)

    def __getitem__(self, key: str) -> str:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Labels):
            return self._items == other._items
        return NotImplemented

    def __repr__(self) -> str:
        return "Labels({" + ", ".join(f"{k!r}: {v!r}" for k, v in self._items) + "})"

    def sorted_items(self) -> tuple[tuple[str, str], ...]:
        return self._items

    def merged(self, other: Mapping[str, str]) -> Labels:
        return Labels({**self._data, **other})


EMPTY_LABELS = Labels()


class Operator(Enum):
    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"


@dataclass(frozen=True, slots=True)
class Requirement:
    key: str
    operator: Operator
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        op = self.operator
        if op is Operator.IN:
            value = labels.get(self.key)
            return value is not None and value in self.values
        if op is Operator.NOT_IN:
            value = labels.get(self.key)
            return value is None or value not in self.values
        if op is Operator.EXISTS:
            return self.key in labels
        return self.key not in labels

    def __str__(self) -> str:
        if self.operator is Operator.EXISTS:
            return self.key
        if self.operator is Operator.DOES_NOT_EXIST:
            return f"!{self.key}"
        if self.operator is Operator.IN and len(self.values) == 1:
            return f"{self.key}={next(iter(self.values))}"
        op = "in" if self.operator is Operator.IN else "notin"
        return f"{self.key} {op} ({','.join(sorted(self.values))})"


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """A label selector; no requirements selects everything.

    ``matches_nothing`` models selectors that can never match (for example a
    null selector where the API gives it that meaning).
    """

    requirements: tuple[Requirement, ...] = ()
    matches_nothing: bool = False

    @staticmethod
    def from_match_labels(match_labels: Mapping[str, str]) -> LabelSelector:
        reqs = tuple(
            Requirement(k, Operator.IN, frozenset({v})) for k, v in sorted(match_labels.items())
        )
        return LabelSelector(reqs)

    @property
    def is_empty(self) -> bool:
        return not self.requirements and not self.matches_nothing

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.matches_nothing:
            return False
        return all(r.matches(labels) for r in self.requirements)

    def keys(self) -> frozenset[str]:
        return frozenset(r.key for r in self.requirements)

    def with_requirement(self, req: Requirement) -> LabelSelector:
        return LabelSelector((*self.requirements, req), self.matches_nothing)

    def __str__(self) -> str:
        if self.matches_nothing:
            return "<nothing>"
        if not self.requirements:
            return "{}"
        return ",".join(str(r) for r in self.requirements)


MATCH_ALL = LabelSelector()
MATCH_NOTHING = LabelSelector(matches_nothing=True)
