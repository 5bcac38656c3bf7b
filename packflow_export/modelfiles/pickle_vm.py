"""The pickle analyser: walks a pickle's opcodes (protocols 0-5) with a symbolic stack and memo, executing
nothing, and checks every import, call, instantiation and state change against the allow-list.

Every opcode CPython's unpickler accepts is modelled, so what a load would do is seen in the order it would
do it: a name fetched from the memo, a dotted STACK_GLOBAL, a callable passed around before it is called all
arrive at REDUCE/NEWOBJ/BUILD as the symbolic value they are. Bulk bytes (BINBYTES*, long strings) are
skipped, not kept; containers keep their first elements (what REDUCE arguments and BUILD state need).
"""

from __future__ import annotations

import _compat_pickle
import codecs
from typing import Any, Callable

from .context import Context, LimitHit
from .reader import Reader, Truncated
from .results import IssueKind
from .values import KEEP_ITEMS, KEEP_TEXT, Container, Global, Made, Opaque, Skipped, describe, is_dunder

JOBLIB_WRAPPER = "joblib.numpy_pickle.NumpyArrayWrapper"
MAX_LINE = 1 << 16
_VERBS = {"new": "create", "build": "give state to", "call": "call", "instantiate": "call", "ref": "refer to"}


class Malformed(Exception):
    """The bytes are not a pickle CPython would finish loading (the load fails at this point)."""


def _int(data: bytes, signed: bool = False) -> int:
    return int.from_bytes(data, "little", signed=signed)


def _permitted(actions: frozenset[str]) -> str:
    verbs = sorted({_VERBS[action] for action in actions if action != "ref"}) or ["refer to"]
    return " or ".join(verbs)


class PickleVM:
    """One pickle's symbolic machine; `run()` walks it to STOP and returns the value it would load."""

    def __init__(self, reader: Reader, ctx: Context, member: str, joblib: bool = False,
                 keep_items: int = KEEP_ITEMS, persistent_ids: list[Any] | None = None, torch: bool = False) -> None:
        self.r = reader
        self.ctx = ctx
        self.member = member
        self.joblib = joblib
        self.keep_items = keep_items
        self.persistent_ids = persistent_ids
        self.torch = torch
        self.stack: list[Any] = []
        self.marks: list[int] = []
        self.memo: dict[int, Any] = {}
        self.proto = 0
        self.offset = 0
        self.effects = 0           # globals, extension codes and persistent ids seen: what makes it a pickle
        self._dispatch = self._table()

    # -- the walk -------------------------------------------------------------------------------------------
    def handlers(self) -> dict[str, Callable[[], bool | None]]:
        """Opcode -> handler; pickle_ops.Machine supplies them (the opcodes live there, the state here)."""
        raise NotImplementedError

    def nested(self) -> None:
        """Analyse a pickle nested in this one's file (joblib's object arrays) with the same context."""
        type(self)(self.r, self.ctx, self.member).run()

    def run(self) -> Any:
        """Walk opcodes to STOP; Malformed where CPython's load would fail, LimitHit at a bound."""
        ctx = self.ctx
        dispatch = self._dispatch
        budget = ctx.limits.max_opcodes - ctx.opcodes
        check_every = 4096
        read = self.r.byte
        tell = self.r.tell
        steps = 0
        try:
            while True:
                self.offset = tell()
                code = read()
                if code < 0:
                    raise Malformed("the pickle ends without STOP")
                handler = dispatch[code]
                if handler is None:
                    raise Malformed(f"unknown opcode 0x{code:02x}")
                steps += 1
                if steps % check_every == 0:
                    self._check_bounds(steps, budget)
                if handler():
                    return self.stack.pop() if len(self.stack) > self._fence() else None
        except Truncated as error:
            raise Malformed(f"the pickle is cut short ({error})") from None
        finally:
            ctx.opcodes += steps
            if steps > budget:
                ctx.opcodes = ctx.limits.max_opcodes

    def _check_bounds(self, steps: int, budget: int) -> None:
        limits = self.ctx.limits
        if steps > budget:
            raise LimitHit(f"more than {limits.max_opcodes:,} pickle opcodes")
        if len(self.stack) + len(self.marks) > limits.max_stack:
            raise LimitHit(f"a pickle stack deeper than {limits.max_stack:,}")

    def _fence(self) -> int:
        return self.marks[-1] if self.marks else 0

    def pop(self) -> Any:
        if len(self.stack) <= self._fence():
            raise Malformed("stack underflow")
        return self.stack.pop()

    def top(self) -> Any:
        if len(self.stack) <= self._fence():
            raise Malformed("stack underflow")
        return self.stack[-1]

    def pop_mark(self) -> list[Any]:
        if not self.marks:
            raise Malformed("MARK missing")
        mark = self.marks.pop()
        items = self.stack[mark:]
        del self.stack[mark:]
        return items

    def _table(self) -> list[Callable[[], bool | None] | None]:
        table: list[Callable[[], bool | None] | None] = [None] * 256
        for opcode, handler in self.handlers().items():
            table[ord(opcode)] = handler
        return table

    # -- values ---------------------------------------------------------------------------------------------
    def keep(self, container: Container, item: Any) -> None:
        """Count an element in; keep it while the container and the file's budget allow."""
        container.count += 1
        if len(container.items) < self.keep_items and self.ctx.retained < self.ctx.limits.max_retained:
            container.items.append(item)
            self.ctx.retained += 1
        else:
            container.truncated = True

    def keep_pair(self, container: Container, key: Any, value: Any) -> None:
        if is_dunder(key) and len(container.dunder) < 8:
            container.dunder.append(key)
        self.keep(container, (key, value))

    def tuple_of(self, items: list[Any]) -> tuple[Any, ...]:
        if len(items) <= 3:
            return tuple(items)
        kept = min(len(items), self.keep_items, max(0, self.ctx.limits.max_retained - self.ctx.retained))
        self.ctx.retained += kept
        if kept < len(items):
            return (*items[:kept], Opaque("elements not kept"))
        return tuple(items)

    def text(self, size: int, decode: Callable[[bytes], Any]) -> Any:
        if size > KEEP_TEXT:
            self.r.skip(size)
            return Skipped(size, True)
        return decode(self.r.read(size))

    def blob(self, size: int, kind: Callable[[bytes], Any] = bytes) -> Any:
        if size > KEEP_TEXT:
            self.r.skip(size)
            return Skipped(size, False)
        return kind(self.r.read(size))

    # -- globals --------------------------------------------------------------------------------------------
    def resolve(self, module: str, name: str) -> Global:
        """The global `module`.`name` as find_class would import it, checked against the allow-list."""
        if self.proto < 3:
            if (module, name) in _compat_pickle.NAME_MAPPING:
                module, name = _compat_pickle.NAME_MAPPING[(module, name)]
            elif module in _compat_pickle.IMPORT_MAPPING:
                module = _compat_pickle.IMPORT_MAPPING[module]
        if _importable(module) and _importable(name):  # "mport os" (a Python file read as INST) imports nothing
            self.effects += 1
        glob = Global(module, name, self.ctx.allow.actions(module, name))
        self.ctx.globals.add(glob.dotted)
        if glob.actions is None:
            if "." in name:
                self.ctx.issue(IssueKind.ATTRIBUTE, glob.dotted, self.member, self.offset,
                               f"loading it reaches {name} through the module {module} "
                               f"(attribute access that the allow-list does not hold)")
            else:
                self.ctx.issue(IssueKind.IMPORT, glob.dotted, self.member, self.offset,
                               f"loading it imports {glob.dotted}, which the model-file allow-list does not hold")
        return glob

    def refuse(self, kind: IssueKind, value: Any, verb: str) -> Opaque:
        """Record that loading would `verb` something the allow-list does not permit; model the result."""
        subject = describe(value)
        text = f"loading it {verb} {subject}"
        if isinstance(value, Global) and value.actions is not None:
            text += f", which the allow-list lets loading only {_permitted(value.actions)}"
        self.ctx.issue(kind, subject, self.member, self.offset, text)
        return Opaque(f"the result of {subject}")

    # -- the operations that matter -------------------------------------------------------------------------
    def call(self, func: Any, args: Any) -> Any:
        """REDUCE, INST, OBJ: calling `func(*args)`."""
        if isinstance(func, Global):
            if func.allows("instantiate"):
                return self.instantiate_via(func, args)
            if func.allows("call"):
                return Made(func, False, args)
        return self.refuse(IssueKind.CALL, func, "calls")

    def instantiate_via(self, func: Global, args: Any) -> Any:
        """A reconstructor: it creates an object of the class in its first argument (its base in the second)."""
        if not isinstance(args, tuple) or not args:
            return self.refuse(IssueKind.CALL, func, "calls")
        cls = args[0]
        if not isinstance(cls, Global):
            self.ctx.issue(IssueKind.CALL, describe(cls), self.member, self.offset,
                           f"loading it calls {func.dotted} on {describe(cls)}, which is not a class it may create")
            return Opaque(f"the result of {func.dotted}")
        if len(args) > 1 and isinstance(args[1], Global) and not args[1].allows("new"):
            self.refuse(IssueKind.NEW, args[1], "creates an object through")
        if not cls.allows("new"):
            return self.refuse(IssueKind.NEW, cls, "creates an object of")
        return Made(cls, True, args)

    def new(self, cls: Any, args: Any) -> Any:
        """NEWOBJ, NEWOBJ_EX: `cls.__new__(cls, *args)`."""
        if isinstance(cls, Global) and cls.allows("new"):
            return Made(cls, True, args)
        return self.refuse(IssueKind.NEW, cls, "creates an object of")

    def build(self, target: Any, state: Any) -> None:
        """BUILD: set `state` on `target` (its __setstate__, or its attributes)."""
        if not (isinstance(target, Made) and target.buildable()):
            verb = "sets attributes of" if isinstance(target, Global) else "sets the state of"
            self.refuse(IssueKind.BUILD, target, verb)
            return
        parts = state if isinstance(state, tuple) and len(state) == 2 else (state,)
        for part in parts:
            keys = part.dunder if isinstance(part, (Container, Made)) else []
            for key in keys:
                self.ctx.issue(IssueKind.DUNDER_STATE, key, self.member, self.offset,
                               f"loading it sets {key} on {target.describe()} (state that replaces how the object "
                               f"behaves)")
        target.state = state
        if self.joblib and target.instance and target.origin.dotted == JOBLIB_WRAPPER:
            from .joblib_arrays import read_array

            self.stack[-1] = read_array(self, target)

    def mutate(self, target: Any, key: Any = None) -> None:
        """APPEND(S), SETITEM(S), ADDITEMS on `target`: fine on built containers and objects made at load time."""
        if isinstance(target, Made):
            if is_dunder(key) and len(target.dunder) < 8:
                target.dunder.append(key)
            return
        if isinstance(target, Global):
            self.refuse(IssueKind.BUILD, target, "modifies")

    def persistent(self, pid: Any) -> Any:
        """PERSID/BINPERSID: only PyTorch's loaders resolve them: a storage, or (legacy) a module's class. Plain
        pickle.load refuses one before anything runs, so outside PyTorch it does not make bytes a pickle (a PNG's
        first bytes read as NEWFALSE, PERSID)."""
        if self.torch:
            self.effects += 1
        if self.persistent_ids is not None and len(self.persistent_ids) < self.ctx.limits.max_retained:
            self.persistent_ids.append(pid)
        if self.torch and isinstance(pid, tuple) and len(pid) > 1 and pid[0] == "module" \
                and isinstance(pid[1], Global):
            return pid[1]
        return Opaque("a tensor storage" if self.torch else "a persistent id")

    def extension(self, code: int) -> Any:
        if code <= 0:
            raise Malformed("EXT code <= 0")
        self.effects += 1
        target = self.ctx.allow.extensions.get(code)
        if target is None:
            self.ctx.issue(IssueKind.EXTENSION, f"EXT {code}", self.member, self.offset,
                           f"loading it imports whatever extension code {code} names in the loading process's "
                           f"copyreg registry, which the allow-list does not map")
            return Opaque(f"extension code {code}")
        module, _, name = target.rpartition(".")
        return self.resolve(module, name)

    def memo_put(self, index: int) -> None:
        if index < 0:
            raise Malformed("negative memo index")
        if len(self.memo) >= self.ctx.limits.max_memo and index not in self.memo:
            raise LimitHit(f"a memo larger than {self.ctx.limits.max_memo:,} entries")
        self.memo[index] = self.top()

    def memo_get(self, index: int) -> None:
        try:
            self.stack.append(self.memo[index])
        except KeyError:
            raise Malformed(f"memo key {index} not found") from None


def _decode_line(line: bytes | None, codec: str = "utf-8") -> str:
    if line is None:
        raise Malformed("a line too long to be a name")
    try:
        return line.decode(codec)
    except UnicodeDecodeError:
        raise Malformed("a line that is not UTF-8") from None


def _number(line: bytes | None, kind: Callable[[str], Any]) -> Any:
    if line is None:
        return Skipped(MAX_LINE, True)
    try:
        return kind(line.decode("ascii").rstrip("L") if kind is int else line.decode("ascii"))
    except (ValueError, UnicodeDecodeError):
        raise Malformed(f"not a number: {line[:40]!r}") from None


def _quoted(line: bytes | None) -> Any:
    if line is None:
        return Skipped(MAX_LINE, True)
    if len(line) < 2 or line[0] != line[-1] or line[:1] not in (b"'", b'"'):
        raise Malformed("the STRING opcode argument must be quoted")
    try:
        return codecs.escape_decode(line[1:-1])[0].decode("latin-1")
    except ValueError:
        raise Malformed("bad escape in STRING") from None


def _importable(dotted: str) -> bool:
    """Whether an import or getattr of this name could succeed (and so run anything)."""
    return bool(dotted) and all(part.isidentifier() for part in dotted.split("."))
