"""The opcode handlers of the pickle analyser, grouped as pickletools documents them; each returns True at STOP."""

from __future__ import annotations

import struct
from typing import Any, Callable

from .pickle_vm import MAX_LINE, Malformed, PickleVM, _decode_line, _int, _number, _quoted
from .results import IssueKind
from .values import Container, Opaque, Skipped, describe


Handler = Callable[[], Any]


def handlers(vm: PickleVM) -> dict[str, Handler]:
    """Every opcode of protocols 0-5."""
    table: dict[str, Handler] = {}
    for group in (_control, _numbers, _texts, _containers, _memo, _objects):
        table.update(group(vm))
    return table


def _control(vm: PickleVM) -> dict[str, Handler]:
    stack = vm.stack
    r = vm.r

    def proto() -> None:
        vm.proto = r.read(1)[0]
        if vm.proto > 5:
            raise Malformed(f"unsupported pickle protocol {vm.proto}")

    def pop() -> None:
        if vm.marks and vm.marks[-1] == len(stack):
            vm.marks.pop()
        else:
            vm.pop()

    return {
        ".": lambda: True,
        "\x80": proto,
        "\x95": lambda: r.skip(8),                     # FRAME: a size hint; the opcodes inside are walked
        "(": lambda: vm.marks.append(len(stack)),
        "0": pop,
        "1": vm.pop_mark,
        "2": lambda: stack.append(vm.top()),
        "\x97": lambda: stack.append(Opaque("an out-of-band buffer")),
        "\x98": vm.top,                                # READONLY_BUFFER
    }


def _numbers(vm: PickleVM) -> dict[str, Handler]:
    stack = vm.stack
    r = vm.r

    def int_line() -> None:
        line = r.readline(MAX_LINE)
        if line in (b"00", b"01"):
            stack.append(line == b"01")
        else:
            stack.append(_number(line, int))

    def long_n(width: int) -> Handler:
        def load() -> None:
            size = _int(r.read(width), signed=width == 4)
            if size < 0:
                raise Malformed("LONG pickle has negative byte count")
            stack.append(vm.blob(size, lambda data: int.from_bytes(data, "little", signed=True)))
        return load

    return {
        "I": int_line,
        "L": lambda: stack.append(_number(r.readline(MAX_LINE), int)),
        "F": lambda: stack.append(_number(r.readline(MAX_LINE), float)),
        "J": lambda: stack.append(_int(r.read(4), signed=True)),
        "K": lambda: stack.append(r.read(1)[0]),
        "M": lambda: stack.append(_int(r.read(2))),
        "G": lambda: stack.append(struct.unpack(">d", r.read(8))[0]),
        "\x8a": long_n(1),
        "\x8b": long_n(4),
        "N": lambda: stack.append(None),
        "\x88": lambda: stack.append(True),
        "\x89": lambda: stack.append(False),
    }


def _utf8(data: bytes) -> str:
    try:
        return data.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        raise Malformed("a string that is not UTF-8") from None


def _latin(data: bytes) -> str:
    return data.decode("latin-1")


def _texts(vm: PickleVM) -> dict[str, Handler]:
    stack = vm.stack
    r = vm.r

    def sized(width: int, decode: Callable[[bytes], Any], signed: bool = False) -> Handler:
        def load() -> None:
            size = _int(r.read(width), signed=signed)
            if size < 0:
                raise Malformed("negative byte count")
            stack.append(vm.text(size, decode))
        return load

    def blob(width: int, kind: Callable[[bytes], Any] = bytes) -> Handler:
        def load() -> None:
            stack.append(vm.blob(_int(r.read(width)), kind))
        return load

    def unicode_line() -> None:
        line = r.readline(MAX_LINE)
        stack.append(Skipped(MAX_LINE, True) if line is None else line.decode("raw-unicode-escape"))

    return {
        "S": lambda: stack.append(_quoted(r.readline(MAX_LINE))),
        "T": sized(4, _latin, signed=True),
        "U": sized(1, _latin),
        "V": unicode_line,
        "X": sized(4, _utf8),
        "\x8c": sized(1, _utf8),
        "\x8d": sized(8, _utf8),
        "B": blob(4),
        "C": blob(1),
        "\x8e": blob(8),
        "\x96": blob(8, bytearray),
    }


def _add(vm: PickleVM, target: Any, items: list[Any], pairs: bool) -> None:
    """APPEND(S)/SETITEM(S)/ADDITEMS: into a container built here, else a method call on the target."""
    if pairs and len(items) % 2:
        raise Malformed("odd number of items for SETITEMS")
    if isinstance(target, Container):
        if pairs:
            for index in range(0, len(items), 2):
                vm.keep_pair(target, items[index], items[index + 1])
        else:
            for item in items:
                vm.keep(target, item)
        return
    for index in range(0, len(items), 2 if pairs else 1):
        vm.mutate(target, items[index] if pairs else None)


def _containers(vm: PickleVM) -> dict[str, Handler]:
    stack = vm.stack

    def make(kind: str, items: list[Any] | None = None) -> Container:
        container = Container(kind)
        for item in items or ():
            vm.keep(container, item)
        return container

    def dict_of(items: list[Any]) -> Container:
        if len(items) % 2:
            raise Malformed("odd number of items for DICT")
        container = Container("dict")
        for index in range(0, len(items), 2):
            vm.keep_pair(container, items[index], items[index + 1])
        return container

    def append() -> None:
        value = vm.pop()
        _add(vm, vm.top(), [value], False)

    def setitem() -> None:
        value = vm.pop()
        key = vm.pop()
        _add(vm, vm.top(), [key, value], True)

    def extend(pairs: bool) -> Handler:
        def load() -> None:
            items = vm.pop_mark()
            _add(vm, vm.top(), items, pairs)
        return load

    return {
        ")": lambda: stack.append(()),
        "t": lambda: stack.append(vm.tuple_of(vm.pop_mark())),
        "\x85": lambda: stack.append((vm.pop(),)),
        "\x86": lambda: stack.append(tuple(reversed([vm.pop(), vm.pop()]))),
        "\x87": lambda: stack.append(tuple(reversed([vm.pop(), vm.pop(), vm.pop()]))),
        "]": lambda: stack.append(make("list")),
        "l": lambda: stack.append(make("list", vm.pop_mark())),
        "}": lambda: stack.append(make("dict")),
        "d": lambda: stack.append(dict_of(vm.pop_mark())),
        "\x8f": lambda: stack.append(make("set")),
        "\x91": lambda: stack.append(make("frozenset", vm.pop_mark())),
        "a": append,
        "e": extend(False),
        "\x90": extend(False),
        "s": setitem,
        "u": extend(True),
    }


def _memo(vm: PickleVM) -> dict[str, Handler]:
    r = vm.r

    def line_index() -> int:
        value = _number(r.readline(MAX_LINE), int)
        if not isinstance(value, int):
            raise Malformed("memo index too long")
        return value

    return {
        "p": lambda: vm.memo_put(line_index()),
        "q": lambda: vm.memo_put(r.read(1)[0]),
        "r": lambda: vm.memo_put(_int(r.read(4), signed=True)),
        "\x94": lambda: vm.memo_put(len(vm.memo)),
        "g": lambda: vm.memo_get(line_index()),
        "h": lambda: vm.memo_get(r.read(1)[0]),
        "j": lambda: vm.memo_get(_int(r.read(4))),
    }


def _objects(vm: PickleVM) -> dict[str, Handler]:
    stack = vm.stack
    r = vm.r

    def global_line() -> None:
        module = _decode_line(r.readline(MAX_LINE))
        stack.append(vm.resolve(module, _decode_line(r.readline(MAX_LINE))))

    def stack_global() -> None:
        name = vm.pop()
        module = vm.pop()
        if isinstance(module, str) and isinstance(name, str):
            stack.append(vm.resolve(module, name))
            return
        vm.effects += 1
        subject = f"{describe(module)}, {describe(name)}"
        vm.ctx.issue(IssueKind.UNRESOLVED, subject, vm.member, vm.offset,
                     "loading it imports a name the analysis cannot read (STACK_GLOBAL of values built at load time)")
        stack.append(Opaque("a global whose name is not known"))

    def inst() -> None:
        module = _decode_line(r.readline(MAX_LINE))
        glob = vm.resolve(module, _decode_line(r.readline(MAX_LINE)))
        stack.append(vm.call(glob, tuple(vm.pop_mark())))

    def obj() -> None:
        items = vm.pop_mark()
        if not items:
            raise Malformed("OBJ without a class")
        stack.append(vm.call(items[0], tuple(items[1:])))

    def reduce() -> None:
        args = vm.pop()
        stack.append(vm.call(vm.pop(), args))

    def newobj() -> None:
        args = vm.pop()
        stack.append(vm.new(vm.pop(), args))

    def newobj_ex() -> None:
        vm.pop()
        args = vm.pop()
        stack.append(vm.new(vm.pop(), args))

    def build() -> None:
        state = vm.pop()
        vm.build(vm.top(), state)

    return {
        "c": global_line,
        "\x93": stack_global,
        "i": inst,
        "o": obj,
        "R": reduce,
        "\x81": newobj,
        "\x92": newobj_ex,
        "b": build,
        **_references(vm),
    }


def _references(vm: PickleVM) -> dict[str, Handler]:
    """Persistent ids and extension codes: names the loader, not the pickle, resolves."""
    stack = vm.stack
    r = vm.r

    def persid_line() -> None:
        line = r.readline(MAX_LINE)
        stack.append(vm.persistent(None if line is None else line.decode("ascii", "replace")))

    return {
        "P": persid_line,
        "Q": lambda: stack.append(vm.persistent(vm.pop())),
        "\x82": lambda: stack.append(vm.extension(r.read(1)[0])),
        "\x83": lambda: stack.append(vm.extension(_int(r.read(2)))),
        "\x84": lambda: stack.append(vm.extension(_int(r.read(4), signed=True))),
    }


class Machine(PickleVM):
    """The symbolic pickle machine with its opcodes: what the scanners run."""

    def handlers(self) -> dict[str, Handler]:
        return handlers(self)
