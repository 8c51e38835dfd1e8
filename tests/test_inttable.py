"""The C-keyed fd table the state engine keeps per process."""
import random
import sys

import pytest

from falco_engine.inttable import IntTable


def test_reads_like_a_dict_in_fd_order():
    table = IntTable({7: "seven", 0: "stdin"})
    table[3] = "three"
    assert len(table) == 3
    assert list(table) == [0, 3, 7]
    assert table.items() == [(0, "stdin"), (3, "three"), (7, "seven")]
    assert table.values() == ["stdin", "three", "seven"]
    assert table[3] == "three" and table.get(4) is None and table.get(4, "x") == "x"
    assert 7 in table and 8 not in table and "7" not in table
    assert table == {0: "stdin", 3: "three", 7: "seven"}
    table[3] = "again"
    assert table[3] == "again" and len(table) == 3
    assert table.pop(3) == "again" and table.pop(3, None) is None
    with pytest.raises(KeyError):
        table.pop(3)
    with pytest.raises(KeyError):
        del table[3]
    with pytest.raises(KeyError):
        table[3]
    assert table.setdefault(0, "other") == "stdin"
    assert table.setdefault(9, "nine") == "nine" and table[9] == "nine"
    with pytest.raises(TypeError):
        table[1] = None


def test_matches_a_dict_through_random_churn():
    """Opens and closes in random order, with fds clustered as processes
    use them and a few far out, keep the table equal to a dict (growth,
    deleted slots reused, and the reset when it empties)."""
    rng = random.Random(4)
    table, model = IntTable(), {}
    for step in range(40000):
        fd = rng.choice((rng.randrange(64), rng.randrange(1 << 20),
                         -rng.randrange(1, 200), rng.randrange(8) * 1024))
        if rng.random() < 0.55:
            table[fd] = step
            model[fd] = step
        else:
            assert table.pop(fd, None) == model.pop(fd, None)
        if step % 997 == 0:
            assert table == model and len(table) == len(model)
            for probe in range(-5, 70):
                assert table.get(probe) == model.get(probe)
    assert dict(table.items()) == model
    for fd in list(model):
        del table[fd]
    assert len(table) == 0 and table.items() == []


def test_holds_its_values_and_lets_them_go():
    value = object()
    base = sys.getrefcount(value)
    table = IntTable()
    for fd in range(100):
        table[fd] = value
    assert sys.getrefcount(value) == base + 100
    for fd in range(0, 100, 2):
        del table[fd]
    table[1] = value                       # replacing keeps one reference
    assert sys.getrefcount(value) == base + 50
    copy = table.copy()
    assert copy == table
    copy.clear()
    assert len(copy) == 0
    assert sys.getrefcount(value) == base + 50
    del table
    assert sys.getrefcount(value) == base
