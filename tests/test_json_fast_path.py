"""The receivers' JSON parse (orjson's fast path) gives exactly the strict parser's answer, for any bytes.

``parse_json_object`` takes orjson's result only where it must equal ``parse_json_strictly``'s;
otherwise the strict parser answers. Here both parse the same bodies and must agree: the same
value (types, float signs, key order, a repeated key's last value) or the same refusal (status and
reason). The bodies are what the strict rules are about (huge and 64-bit-edge integers, numbers past
a float's range, NaN and Infinity, escapes of every code point including lone surrogates, repeated
keys, deep nesting, odd whitespace), written as text by hand so that nothing a serializer would
normalise is lost, and the same texts with bytes flipped, cut or inserted.
"""

from __future__ import annotations

import json

import orjson
import pytest
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from webhooks.intake import _FEW_BRACKETS, Rejected, parse_json_object, parse_json_strictly

EXAMPLES = hsettings(max_examples=500, deadline=None, derandomize=True,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def answer(parse, body: bytes):
    """What a parser makes of ``body``, comparable exactly: ("ok", typed value) or ("refused", status, reason)."""
    try:
        return ("ok", _typed(parse(body)))
    except Rejected as exc:
        return ("refused", exc.status, exc.reason)


def _typed(value) -> list:
    """The value as a flat list of typed tokens (no recursion: the value may be nested ~1,000 deep)."""
    tokens, stack = [], [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            tokens.append(("dict", len(node)))
            for key, item in reversed(list(node.items())):  # order kept
                stack += [item, ("key", key)]
        elif isinstance(node, list):
            tokens.append(("list", len(node)))
            stack += reversed(node)
        elif isinstance(node, tuple):
            tokens.append(node)
        elif isinstance(node, float):
            tokens.append(("float", repr(node)))  # -0.0 and 0.0 differ; 1.0 is not 1
        else:
            tokens.append((type(node).__name__, node))
    return tokens


def assert_same(body: bytes) -> None:
    assert answer(parse_json_object, body) == answer(parse_json_strictly, body), body[:300]


# --- JSON text, written by hand -------------------------------------------------------------------

_EDGE_INTEGERS = [0, -0, 2**53 + 1, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64 - 1, 2**64, 10**18, 10**19 - 1,
                  10**19, 10**30, 10**308, 10**309, 10**4299, 10**4300 - 1]
integers = st.one_of(st.integers(), st.sampled_from(_EDGE_INTEGERS), st.integers(min_value=-(2**70), max_value=2**70))


@st.composite
def numbers(draw, risky: bool) -> str:
    kinds = ["int", "int", "float", "exponent", "long"] + (["constant"] if risky else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "int":
        return str(draw(integers))
    if kind == "float":
        return repr(draw(st.floats(allow_nan=False, allow_infinity=False)))
    if kind == "exponent":
        mantissa = draw(st.sampled_from(["1", "-1", "2.5", "0", "-0.0", "9.999", "17976931348623157", "4.9"]))
        exponent = draw(st.one_of(st.integers(-400, 400), st.sampled_from([308, 309, -324, -325, 99999, -99999])))
        return f"{mantissa}{draw(st.sampled_from(['e', 'E', 'e+', 'E-']))}{exponent}"
    if kind == "constant":
        return draw(st.sampled_from(["NaN", "Infinity", "-Infinity", "nan", "inf", "-0", "01", "1.", ".5", "+1"]))
    digits = "".join(draw(st.lists(st.sampled_from("0123456789"), min_size=15, max_size=4400)))
    return draw(st.sampled_from(["1", "-9", "0."])) + digits


@st.composite
def strings(draw, risky: bool) -> str:
    """A JSON string literal: characters as they are, as \\u escapes (lone surrogates too) or short escapes."""
    parts = []
    for char in draw(st.text(max_size=12)):
        how = draw(st.sampled_from(["raw", "raw", "escape", "short"]))
        if how == "escape" or (how == "raw" and (char in '"\\' or ord(char) < 0x20)):
            parts.append(f"\\u{ord(char):04x}" if ord(char) < 0x10000 else json.dumps(char)[1:-1])
        elif how == "short":
            parts.append(json.dumps(char, ensure_ascii=draw(st.booleans()))[1:-1])
        else:
            parts.append(char)
    if draw(st.integers(0, 5)) == 0:  # a surrogate escape: a pair, or (risky) a lone one
        high, low = draw(st.integers(0xD800, 0xDBFF)), draw(st.integers(0xDC00, 0xDFFF))
        pairs = [f"\\u{high:04x}\\u{low:04x}", f"\\u{high:04X}\\u{low:04X}"]
        lone = [f"\\u{high:04x}", f"\\u{low:04X}", f"\\u{high:04X}\\u{high:04x}", f"\\u{low:04x}\\u{high:04x}"]
        parts.insert(draw(st.integers(0, len(parts))), draw(st.sampled_from(pairs + lone if risky else pairs)))
    return '"' + "".join(parts) + '"'


def spaces(risky: bool):
    valid = ["", "", "", " ", "\n", "\t", "\r\n  "]
    return st.sampled_from(valid + (["\x0c", "\u00a0", "\u3000", "\x0b"] if risky else []))


def _containers(inner, risky: bool):
    space = spaces(risky)

    @st.composite
    def obj(draw) -> str:
        keys = draw(st.lists(st.one_of(strings(risky), st.sampled_from(['"id"', '"a"', '"$id"'])), max_size=5))
        if keys and draw(st.booleans()):
            keys.append(draw(st.sampled_from(keys)))  # a repeated key
        members = [f"{draw(space)}{k}{draw(space)}:{draw(space)}{draw(inner)}{draw(space)}" for k in keys]
        return "{" + ",".join(members) + "}"

    @st.composite
    def arr(draw) -> str:
        return "[" + ",".join(f"{draw(space)}{v}" for v in draw(st.lists(inner, max_size=5))) + "]"

    return st.one_of(obj(), obj(), arr())


def values(risky: bool):
    leaves = st.one_of(numbers(risky), strings(risky), st.sampled_from(["true", "false", "null"]))
    return st.recursive(leaves, lambda inner: _containers(inner, risky), max_leaves=25)


@st.composite
def documents(draw) -> bytes:
    """An object (mostly) of valid JSON, or (risky) with parts the strict rules refuse; maybe buried deep,
    maybe broken: bytes flipped, cut, inserted."""
    risky = draw(st.booleans())
    text = draw(st.one_of(_containers(values(risky), risky), values(risky)))
    if draw(st.integers(0, 6)) == 0:
        depth = draw(st.one_of(st.integers(1, 1100), st.sampled_from([_FEW_BRACKETS, _FEW_BRACKETS + 1, 900, 1024])))
        opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
        text = '{"x":' + opener * depth + text + closer * depth + "}"
    space = spaces(risky)
    body = (draw(space) + text + draw(space)).encode("utf-8", "surrogatepass")
    if risky and draw(st.integers(0, 2)) == 0:
        at = draw(st.integers(0, len(body)))
        how = draw(st.sampled_from(["flip", "cut", "insert"]))
        if how == "flip" and at < len(body):
            body = body[:at] + bytes([body[at] ^ draw(st.integers(1, 255))]) + body[at + 1:]
        elif how == "cut":
            body = body[:at]
        else:
            body = body[:at] + draw(st.binary(min_size=1, max_size=4)) + body[at:]
    return body


@EXAMPLES
@given(body=documents())
@example(body=b'{"a": 1, "a": 2}')
@example(body=b'{"a": 1, "b": 2, "a": [3]}')
@example(body=b'{"n": 18446744073709551616}')
@example(body=b'{"n": -9223372036854775809}')
@example(body=b'{"n": 1e309}')
@example(body=b'{"s": "\\ud800"}')
@example(body=b'{"s": "\\ud83d\\ude00"}')
@example(body=b"\xef\xbb\xbf{}")
def test_fast_and_strict_parsers_give_the_same_answer(body):
    assert_same(body)


@EXAMPLES
@given(body=st.binary(max_size=300))
def test_fast_and_strict_parsers_agree_on_any_bytes(body):
    assert_same(body)


@pytest.mark.parametrize("depth", [1, _FEW_BRACKETS - 1, _FEW_BRACKETS, 900, 950, 999, 1000, 1023, 1024, 1025, 5000])
@pytest.mark.parametrize("opener,closer", [("[", "]"), ('{"a":', "}")])
def test_nesting_the_strict_parser_refuses_is_refused_on_the_fast_path_too(depth, opener, closer):
    body = ('{"x":' + opener * depth + "1" + closer * depth + "}").encode()
    assert_same(body)


@pytest.mark.parametrize("number", ["9" * 18, "9" * 19, str(2**63), str(-(2**63) - 1), str(2**64), "1" + "0" * 400,
                                    "1" * 4300, "1" * 4301, "0.1000000000000000055511151231257827"])
def test_integers_orjson_would_read_as_floats_stay_exact(number):
    body = f'{{"n": {number}}}'.encode()
    assert_same(body)
    if answer(parse_json_strictly, body)[0] == "ok" and "." not in number:
        assert parse_json_object(body)["n"] == int(number)


def test_a_kintone_notification_is_read_by_orjson_alone(kintone, mappings):
    """The receiver's everyday body: orjson's reading is taken (nothing in it sends it to the strict parser)."""
    from kgbridge.samples import notification, seed_embedded

    ids = seed_embedded(kintone, mappings)
    body = json.dumps(notification(kintone, "3", ids["order_complete"]), ensure_ascii=False).encode()
    assert answer(parse_json_object, body) == answer(parse_json_strictly, body) == answer(orjson.loads, body)
    scan = body.translate(bytes.maketrans(b"0123456789[", b"0000000000{"))
    assert scan.count(b"{") <= _FEW_BRACKETS and b"0" * 19 not in scan


@EXAMPLES
@given(text=st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40), min_size=6,
                     max_size=6),
       status=st.one_of(st.none(), st.text(max_size=10)))
def test_an_inbox_entry_is_the_text_json_dumps_wrote(text, status):
    """Entries written before orjson wrote them read the same, and the dispatcher reads them back."""
    from kgbridge.inbox import FORMAT, InboxEvent

    event = InboxEvent(origin=text[0], event_id=text[1], app_key=text[2], record_id=text[3], marker=text[4],
                       event_type=text[5], status_key=status, params=(("envelope_id", text[1]),))
    entry = {"v": FORMAT, "origin": event.origin, "event_id": event.event_id, "app": event.app_key,
             "record_id": event.record_id, "marker": event.marker, "type": event.event_type,
             "status": event.status_key, "flow": event.flow, "params": dict(event.params), "source": event.source}
    assert event.dumps() == json.dumps(entry, ensure_ascii=False, separators=(",", ":"))
    assert event.encoded() == event.dumps().encode("utf-8")  # what the receiver writes to Redis
    assert InboxEvent.loads(event.dumps()) == event == InboxEvent.loads(event.encoded())
