"""Strategies named for the domain, biased towards what an attacker or a broken client
sends: control characters, NUL, very long values, path tricks, lookalike digits."""

import string

from hypothesis import strategies as st

CONTROL = "".join(chr(c) for c in [*range(0x20), 0x7F])
PATH_TRICKS = ["../", "..%2F", "%00", "%2e%2e", "/", "\\", "?", "#", ";", "%", "~", " "]
NON_ASCII_DIGITS = "٠١٢٣٤٥٦٧٨٩۵५๕１２"


def hostile_text(max_size: int = 40) -> st.SearchStrategy[str]:
    """Short text, often with a control character or a path trick in it."""
    return st.one_of(
        st.text(max_size=max_size),
        st.text(alphabet=st.sampled_from(CONTROL + "ab/.%"), min_size=1, max_size=max_size),
        st.builds(
            lambda a, trick, b: a + trick + b,
            st.text(string.ascii_letters, max_size=8),
            st.sampled_from([*PATH_TRICKS, *CONTROL]),
            st.text(string.ascii_letters, max_size=8),
        ),
    )


def long_text() -> st.SearchStrategy[str]:
    return st.integers(min_value=65, max_value=5000).map(lambda n: "x" * n)


def quantities() -> st.SearchStrategy[str]:
    """What a quantity field may receive: mostly not a whole number from 1 to 99."""
    return st.one_of(
        st.integers(max_value=0).map(str),
        st.integers(min_value=100, max_value=10**40).map(str),
        st.decimals(allow_nan=True, allow_infinity=True).map(str),
        st.text(alphabet=NON_ASCII_DIGITS, min_size=1, max_size=4),
        st.just(""),
        st.integers(min_value=1, max_value=99).map(lambda n: f" {n}\x00"),
        hostile_text(),
    )


def skus() -> st.SearchStrategy[str]:
    return st.one_of(st.just("NOPE"), hostile_text(), long_text())


slugs = tokens = skus


def emails() -> st.SearchStrategy[str]:
    """Malformed addresses, and well-formed ones around the 254-character column."""
    sized = st.sampled_from([253, 254, 255, 320, 321, 1000]).map(
        lambda n: "a" * (n - len("@example.com")) + "@example.com"
    )
    return st.one_of(
        sized,
        hostile_text(),
        st.builds(lambda a: f"{a}@example.com", hostile_text(12)),
        st.just("no-at-sign.example.com"),
        st.just(""),
    )


def addresses() -> st.SearchStrategy[str]:
    return st.one_of(hostile_text(60), st.just("1 Queue Street\nFifo Town"), long_text())


def dates() -> st.SearchStrategy[str]:
    return st.one_of(
        st.just("2020-01-01"),
        st.just("2031-02-30"),
        st.just("soon"),
        st.dates().map(lambda d: d.isoformat()),
        hostile_text(12),
    )


def csv_files() -> st.SearchStrategy[bytes]:
    """Product CSV files that must be refused whole: bad headers, encodings, fields."""
    header = "sku,name,price,category,backorder_policy,backorder_limit,lead_time_days,description"

    def row(sku, name, price, policy, limit):
        return f"{sku},{name},{price},Gear,{policy},{limit},14,"

    bad_row = st.builds(
        row,
        skus(),
        st.one_of(hostile_text(), st.just("x" * 200_000)),
        st.one_of(st.just("-1"), st.just("1e9"), st.just("NaN"), hostile_text(6)),
        st.one_of(st.just("maybe"), hostile_text(6)),
        quantities(),
    )
    text = st.builds(lambda rows: "\n".join([header, *rows]) + "\n", st.lists(bad_row, max_size=3))
    return st.one_of(
        text.map(lambda t: t.encode("utf-8", "surrogatepass")),
        text.map(lambda t: t.encode("utf-16")),
        st.builds(lambda h: (h + "\nA,B\n").encode(), hostile_text()),  # wrong header
        st.binary(max_size=200),
        st.just(b"\xff\xfe\x00garbage"),
    )


def _names_a_row(value: str) -> bool:
    try:
        return 0 < int(value) < 10**6
    except ValueError:
        return False


def selections() -> st.SearchStrategy[list[str]]:
    """An admin action's `_selected_action` list that names no row: mangled ids."""
    value = st.one_of(quantities(), hostile_text()).filter(lambda v: not _names_a_row(v))
    return st.lists(value, min_size=1, max_size=4)
