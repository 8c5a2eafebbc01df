"""A data-only reader for the pickled values of 3.11 requests (spec/protocol-311.md §2).

Upstream's factory `pickle.loads` these values, so anyone allowed to advertise to the
Collector could run code in it. We never execute request data: a value is first walked
opcode by opcode (`pickletools.genops` only parses) with a symbolic stack, and refused
unless every global is one of the upstream names we map, every REDUCE calls one of the
mapped enums, every NEWOBJ builds one of the mapped objects and BUILD only fills those
in; sizes, opcode counts and nesting are bounded. Only then does a `pickle.Unpickler`
whose `find_class` knows just those names (ours, not upstream's) build plain data, and
the result is checked field by field into `credential_objects` records.
"""

from __future__ import annotations

import enum
import io
import pickle
import pickletools
import posixpath
from dataclasses import dataclass, field
from typing import Any, TypeVar

from glideinwms_factory.lib.credential_objects import (
    AUTH_SET_CLASS,
    CREDENTIAL_CLASSES,
    ENUM_CLASSES,
    OBJECT_CLASSES,
    PAIR_CLASSES,
    PARAMETER_CLASSES,
    UPSTREAM_PACKAGE,
    AuthMember,
    AuthSet,
    Credential,
    CredentialPairType,
    CredentialPurpose,
    CredentialType,
    ParameterName,
    SecurityParameter,
)

MAX_BYTES = 256 * 1024  # an X509 proxy chain is ~10 kB; a token ~1-2 kB
MAX_OPCODES = 20_000
MAX_DEPTH = 16  # containers within containers
MAX_STACK = 2_000
MAX_ITEMS = 64  # credentials or parameters in one value

PICKLE_MAGIC = b"\x80"  # PROTO: every pickle of protocol >= 2 starts with it

_STRINGS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "STRING",
            "BINSTRING", "SHORT_BINSTRING"}  # fmt: skip
_SCALARS = {"SHORT_BINBYTES", "BINBYTES", "BINBYTES8", "NONE", "NEWTRUE", "NEWFALSE",
            "INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "BINFLOAT",
            "FLOAT"}  # fmt: skip
_EMPTY = {"EMPTY_TUPLE", "EMPTY_LIST", "EMPTY_DICT", "EMPTY_SET"}
_FROM_MARK = {"TUPLE", "LIST", "DICT", "FROZENSET"}  # pop to MARK, push a container
_INTO_FROM_MARK = {"APPENDS", "SETITEMS", "ADDITEMS"}  # pop to MARK into the container below
_TUPLE_N = {"TUPLE1": 1, "TUPLE2": 2, "TUPLE3": 3}
_PUTS = {"PUT", "BINPUT", "LONG_BINPUT"}
_GETS = {"GET", "BINGET", "LONG_BINGET"}
_NOOPS = {"PROTO", "FRAME", "STOP"}
# The only calls: REDUCE makes an enum member from one text, NEWOBJ an object from nothing.
_CALLS = {
    "REDUCE": (ENUM_CLASSES, "(str,)", "enum", "enums may be"),
    "NEWOBJ": (OBJECT_CLASSES, "()", "object", "credential objects may be"),
}


class PickleRefused(ValueError):
    """A pickled value we will not read; the message says what was refused."""


@dataclass
class _Sym:
    """What a stack slot holds, as far as the safety walk cares."""

    kind: str  # "mark", "str", "scalar", "container", "global", "enum", "object", "built"
    text: str = ""  # the string, or the global's name
    depth: int = 0


def _short(name: str) -> str | None:
    """`tokens.SciToken` for `glideinwms.lib.credentials.tokens.SciToken`, else None."""
    prefix = UPSTREAM_PACKAGE + "."
    return name[len(prefix) :] if name.startswith(prefix) else None


@dataclass
class _Walk:
    stack: list[_Sym] = field(default_factory=list)
    memo: dict[int, _Sym] = field(default_factory=dict)

    def pop(self, what: str) -> _Sym:
        if not self.stack or self.stack[-1].kind == "mark":
            raise PickleRefused(f"malformed pickle: {what} on an empty stack")
        return self.stack.pop()

    def pop_mark(self, what: str) -> list[_Sym]:
        items: list[_Sym] = []
        while self.stack and self.stack[-1].kind != "mark":
            items.append(self.stack.pop())
        if not self.stack:
            raise PickleRefused(f"malformed pickle: {what} without MARK")
        self.stack.pop()
        return items

    def push(self, sym: _Sym) -> None:
        if sym.depth > MAX_DEPTH:
            raise PickleRefused(f"pickle nested deeper than {MAX_DEPTH}")
        if len(self.stack) >= MAX_STACK:
            raise PickleRefused(f"pickle stack exceeds {MAX_STACK} items")
        self.stack.append(sym)

    def fill(self, items: list[_Sym], what: str) -> None:
        target = self.pop(what)
        if target.kind != "container":
            raise PickleRefused(f"{what} into a {target.kind}")
        target.depth = max([target.depth, *(item.depth + 1 for item in items)])
        self.push(target)

    def global_name(self, module: _Sym, name: _Sym) -> _Sym:
        if module.kind != "str" or name.kind != "str":
            raise PickleRefused("STACK_GLOBAL of a computed name")
        return self.check_global(f"{module.text}.{name.text}")

    @staticmethod
    def check_global(full: str) -> _Sym:
        short = _short(full)
        if short not in ENUM_CLASSES and short not in OBJECT_CLASSES:
            raise PickleRefused(f"refused global {full[:120]!r}")
        return _Sym("global", short)

    def step(self, op: str, arg: Any) -> None:  # one branch per opcode family
        if op in _NOOPS:
            if op == "STOP":
                self.pop("STOP")
        elif op in _STRINGS:
            self.push(_Sym("str", str(arg)))
        elif op in _SCALARS:
            self.push(_Sym("scalar"))
        elif op in _EMPTY:
            self.push(_Sym("container", "()" if op == "EMPTY_TUPLE" else "", depth=1))
        elif op == "MARK":
            self.push(_Sym("mark"))
        elif op in _FROM_MARK:
            items = self.pop_mark(op)
            self.push(_Sym("container", depth=1 + max((i.depth for i in items), default=0)))
        elif op in _TUPLE_N:
            items = [self.pop(op) for _ in range(_TUPLE_N[op])]
            one_str = op == "TUPLE1" and items[0].kind == "str"
            self.push(
                _Sym("container", "(str,)" if one_str else "", 1 + max(i.depth for i in items))
            )
        elif op == "APPEND":
            self.fill([self.pop(op)], op)
        elif op == "SETITEM":
            self.fill([self.pop(op), self.pop(op)], op)
        elif op in _INTO_FROM_MARK:
            self.fill(self.pop_mark(op), op)
        elif op == "MEMOIZE":
            self.memo[len(self.memo)] = self._top(op)
        elif op in _PUTS:
            self.memo[int(arg)] = self._top(op)
        elif op in _GETS:
            if int(arg) not in self.memo:
                raise PickleRefused(f"malformed pickle: {op} of unknown memo {arg}")
            self.push(self.memo[int(arg)])
        elif op == "STACK_GLOBAL":
            name = self.pop(op)
            self.push(self.global_name(self.pop(op), name))
        elif op == "GLOBAL":
            self.push(self.check_global(str(arg).replace(" ", ".", 1)))
        elif op in _CALLS:
            allowed, shape, made, only = _CALLS[op]
            args, callee = self.pop(op), self.pop(op)
            if callee.kind != "global" or callee.text not in allowed:
                raise PickleRefused(f"{op} of {callee.text or callee.kind!r}: only {only}")
            if args.text != shape:
                raise PickleRefused(f"{op} of {callee.text} with arguments other than {shape}")
            self.push(_Sym(made, callee.text))
        elif op == "BUILD":
            state = self.pop(op)
            target = self.pop(op)
            if target.kind != "object":
                raise PickleRefused(f"BUILD of {target.text or target.kind!r}")
            self.push(_Sym("built", target.text, state.depth + 1))
        else:
            raise PickleRefused(f"refused pickle opcode {op}")

    def _top(self, what: str) -> _Sym:
        if not self.stack:
            raise PickleRefused(f"malformed pickle: {what} on an empty stack")
        return self.stack[-1]


def check_opcodes(data: bytes) -> None:
    """Refuse `data` unless it is plain data and the mapped upstream objects only."""
    if len(data) > MAX_BYTES:
        raise PickleRefused(f"pickle of {len(data)} bytes exceeds {MAX_BYTES}")
    walk = _Walk()
    count = 0
    try:
        for opcode, arg, _pos in pickletools.genops(data):
            count += 1
            if count > MAX_OPCODES:
                raise PickleRefused(f"pickle has more than {MAX_OPCODES} opcodes")
            walk.step(opcode.name, arg)
    except PickleRefused:
        raise
    except Exception as exc:  # genops: truncated or unknown opcodes (ValueError and kin)
        raise PickleRefused(f"malformed pickle: {str(exc)[:80]}") from None


class _Object:
    """An instance made by NEWOBJ; BUILD gives it its state, nothing else runs."""

    upstream = ""

    def __setstate__(self, state: object) -> None:
        if hasattr(self, "state"):
            raise pickle.UnpicklingError("object built twice")
        self.state = state


_OBJECTS: dict[str, type[_Object]] = {
    name: type(name.replace(".", "_"), (_Object,), {"upstream": name}) for name in OBJECT_CLASSES
}


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        short = _short(f"{module}.{name}")
        if short in ENUM_CLASSES:
            return ENUM_CLASSES[short]
        if short in _OBJECTS:
            return _OBJECTS[short]
        raise pickle.UnpicklingError(f"refused global {module}.{name}")


def _load(data: bytes) -> object:
    check_opcodes(data)
    try:
        return _Unpickler(io.BytesIO(data)).load()
    except (pickle.UnpicklingError, ValueError, TypeError, EOFError) as exc:
        raise PickleRefused(f"unreadable pickle: {str(exc)[:80]}") from None


# ------------------------------------------------------------------ typed records

E = TypeVar("E", bound=enum.Enum)


def _state(obj: object, what: str) -> dict[str, object]:
    if not isinstance(obj, _Object):
        raise PickleRefused(f"{what}: expected an object, found {type(obj).__name__}")
    state = getattr(obj, "state", None)
    if isinstance(state, tuple) and len(state) == 2 and state[1] is None:
        state = state[0]  # (dict, slots) form
    if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
        raise PickleRefused(f"{what}: {obj.upstream} state is not a dict of names")
    return state


def _opt_text(state: dict[str, object], key: str, what: str) -> str | None:
    value = state.get(key)
    if value is None or isinstance(value, str):
        return value
    raise PickleRefused(f"{what}: {key} is {type(value).__name__}, expected text")


def _purpose(value: object, what: str) -> CredentialPurpose | None:
    if (
        isinstance(value, tuple)
        and len(value) == 2
        and (value[1] is None or isinstance(value[1], str))
    ):
        value = value[0]
    if value is None or isinstance(value, CredentialPurpose):
        return value
    raise PickleRefused(f"{what}: _purpose is not a CredentialPurpose")


def _credential(obj: object, what: str) -> Credential:
    state = _state(obj, what)
    assert isinstance(obj, _Object)
    cred_type = CREDENTIAL_CLASSES.get(obj.upstream) or PAIR_CLASSES.get(obj.upstream)
    if cred_type is None:
        raise PickleRefused(f"{what}: {obj.upstream} is not a credential")
    raw = state.get("_string")
    if isinstance(raw, bytes):  # any bytes (upstream's TextCredential takes any file)
        raw = raw.decode("utf-8", "surrogateescape")
    if not isinstance(raw, str) or not raw:
        raise PickleRefused(f"{what}: {obj.upstream} has no credential text (_string)")
    path = _opt_text(state, "path", what)
    return Credential(
        cred_type=cred_type,
        text=raw,
        purpose=_purpose(state.get("_purpose"), what),
        trust_domain=_opt_text(state, "trust_domain", what),
        security_class=_opt_text(state, "security_class", what),
        file_name=posixpath.basename(path) or None if path else None,
        pair=obj.upstream if obj.upstream in PAIR_CLASSES else None,
    )


def _items(value: object, what: str) -> list[object]:
    if not isinstance(value, list | tuple | set | frozenset):
        raise PickleRefused(f"{what}: expected a list, found {type(value).__name__}")
    if len(value) > MAX_ITEMS:
        raise PickleRefused(f"{what}: more than {MAX_ITEMS} items")
    return list(value)


def credentials(data: bytes, what: str) -> list[Credential]:
    """`RequestCredentials` / `PayloadCredentials`: a list of credential objects."""
    return [_credential(item, what) for item in _items(_load(data), what)]


def _enum_member(value: object, kinds: tuple[type[E], ...], what: str) -> E:
    if isinstance(value, kinds):
        return value
    raise PickleRefused(f"{what}: {type(value).__name__} where an enum member belongs")


def security_parameters(data: bytes, what: str) -> list[SecurityParameter]:
    """`SecurityParameters`: String/Integer/ExpressionParameter objects (a list, or a dict
    keyed by name); an IntegerParameter's value is read as its decimal text."""
    loaded = _load(data)
    values = list(loaded.values()) if isinstance(loaded, dict) else _items(loaded, what)
    result = []
    for item in values:
        if not isinstance(item, _Object) or item.upstream not in PARAMETER_CLASSES:
            raise PickleRefused(f"{what}: expected {'/'.join(PARAMETER_CLASSES)} objects")
        state = _state(item, what)
        name = _enum_member(state.get("_name"), (ParameterName,), what)
        value = state.get("_value")
        if type(value) is int:  # IntegerParameter (a bool is no integer value)
            value = str(value)
        if not isinstance(value, str):
            raise PickleRefused(f"{what}: value of {name.value} is not text")
        result.append(SecurityParameter(name, value))
    return result


def auth_set(data: bytes, what: str) -> AuthSet:
    """`AuthSet`: an AuthenticationSet of credential types and parameter names."""
    loaded = _load(data)
    if not isinstance(loaded, _Object) or loaded.upstream != AUTH_SET_CLASS:
        raise PickleRefused(f"{what}: expected a {AUTH_SET_CLASS}")
    members = _items(_state(loaded, what).get("_required_types"), what)
    kinds: tuple[type[AuthMember], ...] = (CredentialType, CredentialPairType, ParameterName)
    return AuthSet(frozenset(_enum_member(m, kinds, what) for m in members))


def looks_pickled(data: bytes) -> bool:
    """A decrypted value that starts like a protocol >= 2 pickle (3.11), not text (3.10)."""
    return data[:1] == PICKLE_MAGIC
