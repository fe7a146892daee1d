"""The `.pyi` stub types every public class, method and property of the native module."""

from __future__ import annotations

import ast
import pathlib

import liveagent
from liveagent import _native

STUB = pathlib.Path(liveagent.__file__).with_name("_native.pyi")


def stub_classes() -> dict:
    tree = ast.parse(STUB.read_text())
    return {
        node.name: {
            item.name
            for item in node.body
            if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))
        }
        for node in tree.body
        if isinstance(node, ast.ClassDef)
    }


def test_every_native_method_is_in_the_stub() -> None:
    stub = stub_classes()
    for cls in (_native.Session, _native.Pair):
        public = {name for name in dir(cls) if not name.startswith("_")}
        typed = stub[cls.__name__] - {"__init__"}
        assert public == typed, f"{cls.__name__}: missing {public - typed}, stale {typed - public}"


def test_the_package_is_marked_typed() -> None:
    assert STUB.with_name("py.typed").exists()
