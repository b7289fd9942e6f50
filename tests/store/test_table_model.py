"""Property test: the embedded table behaves like a plain dict-of-dicts model."""

from __future__ import annotations

import tempfile

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from squall.store import EmbeddedTableStore

ROWS = st.text(alphabet="ab\u00e9\u4e2d-0", min_size=0, max_size=4)
COLUMNS = st.sampled_from(["f:a", "f:b", "f:", "g:a", "g:zz"])
VALUES = st.one_of(st.binary(max_size=4), st.text(max_size=4), st.integers(-5, 5))
FILTERS = st.one_of(st.none(), st.lists(st.sampled_from(["f", "g", "f:a", "g:zz", "f:"]), min_size=1,
                                        max_size=3))


def _enc(v):
    return v if isinstance(v, bytes) else str(v).encode() if isinstance(v, int) else v.encode()


def _select(cells, columns):
    if columns is None:
        return dict(cells)
    return {c: v for c, v in cells.items() if c in columns or c.split(":", 1)[0] in columns}


class TableModel(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.dir = tempfile.TemporaryDirectory()
        self.store = EmbeddedTableStore(self.dir.name).open()
        self.store.create_table("t", ["f", "g"])
        self.table = self.store.open_table("t")
        self.model: dict[str, dict[str, bytes]] = {}

    def teardown(self):
        self.store.close()
        self.dir.cleanup()

    @rule(batch=st.lists(st.tuples(ROWS, st.dictionaries(COLUMNS, VALUES, max_size=3)), max_size=4))
    def put_many(self, batch):
        self.table.put_many(batch)
        for row, cols in batch:
            if cols:
                self.model.setdefault(row, {}).update({c: _enc(v) for c, v in cols.items()})

    @rule(row=ROWS, columns=FILTERS)
    def delete(self, row, columns):
        self.table.delete(row, columns)
        if row in self.model:
            left = {c: v for c, v in self.model[row].items() if c not in _select(self.model[row], columns)}
            if columns is None or not left:
                del self.model[row]
            else:
                self.model[row] = left

    @rule(row=ROWS, columns=FILTERS)
    def get(self, row, columns):
        assert self.table.get(row, columns) == _select(self.model.get(row, {}), columns)

    @rule(start=st.one_of(st.none(), ROWS), stop=st.one_of(st.none(), ROWS), columns=FILTERS,
          limit=st.one_of(st.none(), st.integers(1, 4)))
    def scan_range(self, start, stop, columns, limit):
        expected = []
        for row in sorted(self.model):
            if (start is not None and row < start) or (stop is not None and row >= stop):
                continue
            cells = _select(self.model[row], columns)
            if cells:
                expected.append((row, cells))
        if limit is not None:
            expected = expected[:limit]
        assert list(self.table.scan(row_start=start, row_stop=stop, columns=columns, limit=limit)) == expected

    @rule(prefix=ROWS)
    def scan_prefix(self, prefix):
        expected = [(r, self.model[r]) for r in sorted(self.model) if r.startswith(prefix)]
        assert list(self.table.scan(row_prefix=prefix)) == expected

    @rule()
    def reopen(self):
        self.store.close()
        self.store = EmbeddedTableStore(self.dir.name).open()
        self.table = self.store.open_table("t")

    @invariant()
    def count_matches(self):
        assert self.table.count() == len(self.model)


TableModel.TestCase.settings = settings(max_examples=60, stateful_step_count=25, deadline=None,
                                        suppress_health_check=[HealthCheck.too_slow])
test_table_matches_dict_model = TableModel.TestCase
