"""The data side of API load: endpoints as data, a weighted mix, response validation, Retry-After.

Nothing here sends a request (``stresskit.users.api.ApiUser`` does, on FastHttpUser); these are
pure functions and frozen data, tested without a server.

An :class:`Endpoint` is one row of the mix::

    Endpoint("GET", "/api/items/{id}", weight=5, params=lambda u: {"id": u.random.randint(1, 1000)},
             shape={"id": int, "name": str, "price": float})

``shape`` describes the JSON a response must have: a type (``int`` also accepts nothing but
ints, ``float`` accepts ints too), a tuple of types, a dict of required keys (extra keys are
fine), a one-element list (every item has that shape), or a callable returning ``True`` or
an error text.
"""

from __future__ import annotations

import bisect
import email.utils
import itertools
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from stresskit.errors import ConfigError, TargetError

__all__ = ["Endpoint", "EndpointMix", "ResponseInvalid", "check_shape", "group_name", "parse_retry_after",
           "shape_checker"]

METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


class ResponseInvalid(TargetError):
    """A response had an unexpected status or did not have the expected JSON shape."""


def group_name(template: str) -> str:
    """The stats name of a path template: ``/api/items/{id}`` → ``/api/items/[id]``."""
    return _PLACEHOLDER.sub(r"[\1]", template)


@dataclass(frozen=True)
class Endpoint:
    """One weighted entry of an API mix (see the module docstring)."""

    method: str
    path: str
    """Path template; ``{name}`` placeholders are filled from ``params`` and URL-quoted."""
    weight: float = 1.0
    name: str | None = None
    """Stats name; default: the template with ``{x}`` shown as ``[x]``."""
    params: Callable[[Any], dict[str, Any]] | None = None
    """``params(user)`` → values for the placeholders."""
    body: Callable[[Any], Any] | None = None
    """``body(user)`` → the JSON body (``None``: no body)."""
    expect: tuple[int, ...] = (200,)
    """Statuses that count as success."""
    shape: Any = None
    """Expected JSON shape of a successful response (``None``: body not checked)."""
    headers: dict[str, str] = field(default_factory=dict)
    _parts: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _checker: Callable[[Any], str | None] = field(init=False, repr=False, compare=False)
    _fast_check: Callable[[Any], bool] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        method = self.method.upper()
        object.__setattr__(self, "method", method)
        if method not in METHODS:
            raise ConfigError(f"endpoint {self.path!r}: unknown HTTP method {self.method!r}")
        if not self.path.startswith("/") and not self.path.startswith(("http://", "https://")):
            raise ConfigError(f"endpoint {self.path!r}: the path must start with '/'")
        if not (isinstance(self.weight, (int, float)) and self.weight > 0):
            raise ConfigError(f"endpoint {self.path!r}: weight must be a number > 0, not {self.weight!r}")
        if _PLACEHOLDER.search(self.path) and self.params is None:
            raise ConfigError(f"endpoint {self.path!r}: the template has placeholders but no params factory")
        if not self.expect or not all(isinstance(s, int) and 100 <= s <= 599 for s in self.expect):
            raise ConfigError(f"endpoint {self.path!r}: expect must list HTTP statuses, not {self.expect!r}")
        if self.name is None:
            object.__setattr__(self, "name", group_name(self.path))
        object.__setattr__(self, "_parts", tuple(_PLACEHOLDER.split(self.path)))
        object.__setattr__(self, "_checker", shape_checker(self.shape))
        # the hot path: True when a value passes, no message (check() walks a failing one again)
        object.__setattr__(self, "_fast_check", _compile(self.shape))

    def url(self, user: Any) -> str:
        """The concrete path for ``user`` (placeholders filled and quoted)."""
        if self.params is None:
            return self.path
        values = self.params(user)
        parts = self._parts
        out = [parts[0]]
        for i in range(1, len(parts), 2):
            value = values[parts[i]]
            out.append(str(value) if type(value) is int else quote(str(value), safe=""))
            out.append(parts[i + 1])
        return "".join(out)

    def check(self, value: Any) -> str | None:
        """``None`` when ``value`` (decoded JSON) has this endpoint's shape, else what differs."""
        return self._checker(value)


class EndpointMix:
    """Picks endpoints in proportion to their weights."""

    def __init__(self, endpoints: Sequence[Endpoint]) -> None:
        if not endpoints:
            raise ConfigError("the endpoint mix is empty: give the user class at least one Endpoint")
        self.endpoints = tuple(endpoints)
        self._cumulative = list(itertools.accumulate(e.weight for e in self.endpoints))
        self._total = self._cumulative[-1]

    def pick(self, rng: random.Random) -> Endpoint:
        """One endpoint, chosen with probability weight / total weight."""
        index = bisect.bisect_right(self._cumulative, rng.random() * self._total)
        return self.endpoints[min(index, len(self.endpoints) - 1)]


def shape_checker(shape: Any) -> Callable[[Any], str | None]:
    """A fast checker for ``shape``: a compiled boolean test per level, so a passing response
    costs a few type comparisons per field; only a failing one is walked again by
    :func:`check_shape` for its message."""
    fast = _compile(shape)

    def check(value: Any) -> str | None:
        return None if fast(value) else (check_shape(value, shape) or "rejected by the shape check")

    return check


_JSON_TYPES = frozenset({dict, list, str, int, float, bool, type(None)})


def _exact_types(shape: Any) -> frozenset | None:
    """For a leaf shape of JSON types, the exact ``type()`` values that pass (json.loads never
    makes subclasses; ``float`` accepts ints, ``int`` does not accept booleans); else None."""
    if not isinstance(shape, (type, tuple)):
        return None
    types = set(shape if isinstance(shape, tuple) else (shape,))
    if not types <= _JSON_TYPES:
        return None
    if float in types:
        types.add(int)
    return frozenset(types)


def _compile(shape: Any) -> Callable[[Any], bool]:
    if shape is None:
        return lambda value: True
    if isinstance(shape, dict):
        leaves = tuple((k, t) for k, sub in shape.items() if (t := _exact_types(sub)) is not None)
        nested = tuple((k, _compile(sub)) for k, sub in shape.items() if _exact_types(sub) is None)

        def check_dict(value: Any) -> bool:
            if type(value) is not dict:
                return False
            try:
                for key, types in leaves:
                    if type(value[key]) not in types:
                        return False
                for key, check in nested:
                    if not check(value[key]):
                        return False
            except KeyError:
                return False
            return True

        return check_dict
    if isinstance(shape, list):
        if not shape:
            return lambda value: type(value) is list
        types = _exact_types(shape[0])
        if types is not None:
            return lambda value: type(value) is list and all(type(x) in types for x in value)
        item = _compile(shape[0])
        return lambda value: type(value) is list and all(map(item, value))
    exact = _exact_types(shape)
    if exact is not None:
        return lambda value: type(value) in exact
    if isinstance(shape, (type, tuple)):
        classes = shape if isinstance(shape, tuple) else (shape,)
        return lambda value: isinstance(value, classes)
    if callable(shape):
        return lambda value: shape(value) in (True, None)
    raise ConfigError(f"cannot use {shape!r} as a JSON shape")


def check_shape(value: Any, shape: Any, where: str = "$") -> str | None:
    """``None`` when ``value`` has ``shape``, else one line saying where and what differs."""
    if shape is None:
        return None
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            return f"{where}: expected an object, got {_kind(value)}"
        for key, sub in shape.items():
            if key not in value:
                return f"{where}: missing key {key!r}"
            problem = check_shape(value[key], sub, f"{where}.{key}")
            if problem:
                return problem
        return None
    if isinstance(shape, list):
        if not isinstance(value, list):
            return f"{where}: expected a list, got {_kind(value)}"
        if shape:
            for index, item in enumerate(value):
                problem = check_shape(item, shape[0], f"{where}[{index}]")
                if problem:
                    return problem
        return None
    if isinstance(shape, (type, tuple)):
        types = shape if isinstance(shape, tuple) else (shape,)
        if float in types:
            types = (*types, int)
        if isinstance(value, bool) and bool not in types:
            return f"{where}: expected {_names(shape)}, got a boolean"
        if not isinstance(value, types):
            return f"{where}: expected {_names(shape)}, got {_kind(value)}"
        return None
    if callable(shape):
        result = shape(value)
        if result is True or result is None:
            return None
        return f"{where}: {result if isinstance(result, str) else 'rejected by the shape check'}"
    raise ConfigError(f"cannot use {shape!r} as a JSON shape")


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), type(value).__name__
    )


def _names(shape: Any) -> str:
    types = shape if isinstance(shape, tuple) else (shape,)
    return " or ".join(t.__name__ for t in types)


def parse_retry_after(value: str | None, default: float = 1.0, now: float | None = None) -> float:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); ``default``
    when it is missing or unreadable; never negative."""
    if not value:
        return default
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return default
    return max(0.0, when - (time.time() if now is None else now))
