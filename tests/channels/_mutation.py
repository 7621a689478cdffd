"""Hypothesis strategies that mutate valid provider payloads (for the parsers' fuzz tests).

`mutated(bases)` picks a documented payload and applies one to four edits at
random paths: replace a value by arbitrary JSON, delete it, duplicate a list
item, or change its type. A parser must turn each result into sound events
or a `PayloadError`, nothing else.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from typing import Any

from hypothesis import strategies as st


def json_values(words: Sequence[str] = ()) -> st.SearchStrategy[Any]:
    """Arbitrary JSON, with ``words`` (a format's keywords) among the strings."""
    scalars = (
        st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
        | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20)
        | st.sampled_from(["", " ", "0", "-1", "1e400", *words])
    )
    return st.recursive(
        scalars,
        lambda children: st.lists(children, max_size=3)
        | st.dictionaries(st.text(max_size=8), children, max_size=3),
        max_leaves=6,
    )


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into ``node``, the empty path (the whole document) first."""
    found = [prefix]
    if isinstance(node, dict):
        for key, child in node.items():
            found.extend(paths(child, (*prefix, key)))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            found.extend(paths(child, (*prefix, index)))
    return found


@st.composite
def mutated(draw: st.DrawFn, bases: Sequence[Any], words: Sequence[str] = ()) -> bytes:
    """One of ``bases`` with one to four random edits, as a JSON body."""
    values = json_values(words)
    document = copy.deepcopy(draw(st.sampled_from(bases)))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        path = draw(st.sampled_from(paths(document)))
        if not path:
            document = draw(values)
            continue
        parent = document
        for step in path[:-1]:
            parent = parent[step]
        operation = draw(st.sampled_from(["replace", "delete", "duplicate", "retype"]))
        if operation == "replace":
            parent[path[-1]] = draw(values)
        elif operation == "delete":
            del parent[path[-1]]
        elif operation == "duplicate" and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[path[-1]]))
        else:
            value = parent[path[-1]]
            parent[path[-1]] = str(value) if not isinstance(value, str) else [value]
    return json.dumps(document).encode()
