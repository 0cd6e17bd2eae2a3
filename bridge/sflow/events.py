"""The field log a decoded datagram carries.

A decoded datagram keeps, in sflowtool's order, every field sflowtool would print.
An ordinary field is the pair ``(name, value)`` with both as ``str``; a run of
fields printed together is ``(Block, values)``; everything else is
``(code, payload)`` with one of the integer codes below. Output sinks walk
this list; none of them decodes anything.
"""

from typing import Any, Final

LOG: Final = 0  # free text printed only by the text and -g outputs (payload: str with "\n")
CTX: Final = 1  # -g line context changed (payload: (agent, subId, seq, dsClass, dsIndex, sampleTag, elementTag))
OBJ: Final = 2  # JSON object opens (payload: name or None)
OBJ_END: Final = 3
ARR: Final = 4  # JSON array opens (payload: name)
ARR_END: Final = 5
JSON_FIELD: Final = 6  # field that only the JSON output shows (payload: (name, value))
FLAT_FIELD: Final = 7  # field that every output but JSON shows (payload: (name, value))
JSON_ITEM: Final = 8  # bare JSON array item of the host adaptors MAC list (payload: the MAC, or "," between items)
SCOPE: Final = 9  # -L field scope changes (payload: SCOPE_DATAGRAM or SCOPE_SAMPLE)
TIME: Final = 10  # field whose value is a local time (payload: (name, unix seconds))
DONE: Final = 11  # a sample finished (payload: (kind, Sample)); drives -l, -L, -H and pcap lines
CTX_ELEMENT: Final = 13  # -g context: only the record tag changed (payload: tag)

SCOPE_NONE: Final = 0
SCOPE_DATAGRAM: Final = 1
SCOPE_SAMPLE: Final = 2

# kinds carried by DONE
DONE_FLOW: Final = "flow"  # sFlow v5 flow sample
DONE_FLOW_V2V4: Final = "flow_v2v4"
DONE_COUNTERS: Final = "counters"
DONE_DISCARD: Final = "discard"
DONE_RT: Final = "rt"  # rtmetric / rtflow: -L writes its line here

Event = tuple[Any, Any]


class Block:
    """A run of fields printed together, with its output templates made once.

    The values of a block are numbers or text without newlines (the -g output
    prefixes each line by splitting the block's text at newlines).
    """

    __slots__ = ("names", "text", "json", "json_after", "_json_indented")

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names
        esc = [n.replace("%", "%%") for n in names]
        self.text = "".join(f"{n} %s\n" for n in esc)
        self.json = ",".join(f'"{n}":"%s"' for n in esc)
        self.json_after = "," + self.json  # after another member
        self._json_indented: dict[int, str] = {}

    def json_indented(self, depth: int) -> str:
        t = self._json_indented.get(depth)
        if t is None:
            pad = "\n" + " " * depth
            esc = [n.replace("%", "%%") for n in self.names]
            t = self._json_indented[depth] = ",".join(f'{pad}"{n}":"%s"' for n in esc)
        return t


_BLOCKS: dict[tuple[str, tuple[str, ...]], Block] = {}


def block(names: tuple[str, ...], prefix: str = "") -> Block:
    """The shared Block for these field names under this prefix."""
    key = (prefix, names)
    b = _BLOCKS.get(key)
    if b is None:
        b = _BLOCKS[key] = Block(tuple(prefix + n for n in names))
    return b


# the events that never vary, made once: no tuple to build per datagram
OBJ_OPEN: Final = (OBJ, None)
OBJ_CLOSE: Final = (OBJ_END, None)
ARR_CLOSE: Final = (ARR_END, None)
ARR_ELEMENTS: Final = (ARR, "elements")
ARR_SAMPLES: Final = (ARR, "samples")
SCOPE_TO_DATAGRAM: Final = (SCOPE, SCOPE_DATAGRAM)
SCOPE_TO_SAMPLE: Final = (SCOPE, SCOPE_SAMPLE)
START_SAMPLE: Final = (LOG, "startSample ----------------------\n")
END_SAMPLE: Final = (LOG, "endSample   ----------------------\n")


def block_under(plain: Block, prefix: str) -> Block:
    """``plain``'s fields under a prefix (discard samples' ``discarded_``); ``plain`` itself without one."""
    return block(plain.names, prefix) if prefix else plain
