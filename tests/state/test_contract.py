"""The KeyValueState contract, the same for every backend."""

from __future__ import annotations

import pytest

import squall.state
from squall.state import StateClosedError, StateError, StateKeyError, TransactionStateError, TxStatus


def _commit(st, txid):
    st.prepare_commit(txid)
    st.commit(txid)


def test_public_surface():
    for name in squall.state.__all__:
        assert getattr(squall.state, name) is not None


def test_get_put_delete_items_and_own_uncommitted_reads(backend):
    st = backend.state("counter", 1)
    assert st.get("a") is None and st.get("a", 0) == 0 and st.committed_txid is None
    st.put("a", 1)
    st.put(("car-7", 3), {"speed": [1.5, 2]})
    st.put(b"raw", None)  # None is a value, not a deletion
    assert st.get("a") == 1 and "a" in st and b"raw" in st and st.get(b"raw", "x") is None
    assert st.get(("car-7", 3)) == {"speed": [1.5, 2]}
    st.delete("a")
    assert "a" not in st
    assert dict(st.items()) == {("car-7", 3): {"speed": [1.5, 2]}, b"raw": None}
    _commit(st, 1)
    assert st.committed_txid == 1 and st.status is TxStatus.OPEN
    st.put("b", 2)
    st.delete(b"raw")
    assert dict(st.items()) == {("car-7", 3): {"speed": [1.5, 2]}, "b": 2}


def test_values_are_copied_at_put(backend):
    st = backend.state("c", 0)
    v = [1]
    st.put("k", v)
    v.append(2)
    assert st.get("k") == [1]


def test_unsupported_key_type_is_refused(backend):
    st = backend.state("c", 0)
    with pytest.raises(StateKeyError):
        st.put(["list"], 1)
    with pytest.raises(StateKeyError):
        st.get(("ok", object()))


def test_namespaces_are_separate(backend):
    a, b, c = backend.state("x", 1), backend.state("x", 2), backend.state("y", 1)
    a.put("k", "a"); b.put("k", "b"); c.put("k", "c")
    for st in (a, b, c):
        _commit(st, 1)
    assert [dict(s.items()) for s in (a, b, c)] == [{"k": "a"}, {"k": "b"}, {"k": "c"}]


def test_namespace_open_twice_on_one_backend_is_refused(backend):
    st = backend.state("x", 1)
    with pytest.raises(StateError, match="already open"):
        backend.state("x", 1)
    st.close()
    backend.state("x", 1).close()


def test_rollback_discards_pending_and_prepared_writes(backend):
    st = backend.state("c", 1)
    st.put("keep", 1)
    _commit(st, 1)
    st.put("keep", 2)
    st.put("new", 1)
    st.prepare_commit(2)
    st.put("later", 1)
    st.delete("keep")
    assert st.status is TxStatus.PREPARED and st.prepared_txid == 2
    st.rollback()
    assert st.status is TxStatus.OPEN and st.prepared_txid is None and st.committed_txid == 1
    assert dict(st.items()) == {"keep": 1}
    # ... durably: a new incarnation sees the same, and no prepared transaction.
    st.close()
    st2 = backend.state("c", 1)
    assert st2.status is TxStatus.OPEN and dict(st2.items()) == {"keep": 1}


def test_writes_after_prepare_belong_to_the_next_transaction(new_backend):
    st = new_backend().state("c", 1)
    st.put("a", 1)
    st.prepare_commit(1)
    st.put("b", 2)
    st.commit(1)
    assert st.has_uncommitted and dict(st.items()) == {"a": 1, "b": 2}
    st.close()
    st2 = new_backend().state("c", 1)
    assert dict(st2.items()) == {"a": 1} and st2.committed_txid == 1


def test_lifecycle_errors(backend):
    st = backend.state("c", 1)
    with pytest.raises(TransactionStateError, match="prepare_commit"):
        st.commit(1)
    _commit(st, 5)
    with pytest.raises(TransactionStateError, match="must grow"):
        st.prepare_commit(5)
    st.commit(5)  # a resent COMMIT of the committed txid is a no-op
    st.prepare_commit(6)
    with pytest.raises(TransactionStateError, match="6 is prepared"):
        st.prepare_commit(7)
    with pytest.raises(TransactionStateError):
        st.commit(7)
    st.put("x", 1)
    st.prepare_commit(6)  # a resent PREPARE folds later writes in
    st.commit(6)
    assert st.get("x") == 1 and st.committed_txid == 6
    st.close()
    assert st.status is TxStatus.CLOSED
    with pytest.raises(StateClosedError):
        st.get("x")


def test_committed_state_survives_a_new_backend_object(new_backend):
    st = new_backend().state("c", 3)
    st.put("a", 1)
    _commit(st, 1)
    st.put("uncommitted", 1)  # neither prepared nor committed: lost
    # No close(): the old object is simply abandoned, as after a crash.
    st2 = new_backend().state("c", 3) if new_backend.kind != "memory" else _reopen(new_backend, st)
    assert dict(st2.items()) == {"a": 1} and st2.committed_txid == 1 and st2.status is TxStatus.OPEN


def _reopen(new_backend, st):
    st.close()  # the memory backend is one object: free the namespace first
    return new_backend().state(*st.namespace)


@pytest.mark.parametrize("then", ["commit", "rollback"])
def test_crash_between_prepare_and_commit(new_backend, then):
    st = new_backend().state("c", 1)
    st.put("a", 1)
    st.put("gone", 1)
    _commit(st, 1)
    st.put("a", 2)
    st.delete("gone")
    st.put("b", 2)
    st.prepare_commit(2)
    # crash here: the next incarnation sees the last committed state only ...
    st2 = new_backend().state("c", 1) if new_backend.kind != "memory" else _reopen(new_backend, st)
    assert st2.status is TxStatus.RECOVERING
    assert st2.committed_txid == 1 and st2.prepared_txid == 2
    assert dict(st2.items()) == {"a": 1, "gone": 1}
    with pytest.raises(TransactionStateError, match="refused"):
        st2.put("x", 1)
    with pytest.raises(TransactionStateError, match="commit\\(2\\) or rollback"):
        st2.prepare_commit(3)
    # ... and the checkpoint coordinator decides: the checkpoint completed, or it did not.
    if then == "commit":
        st2.commit(2)
        expect, txid = {"a": 2, "b": 2}, 2
    else:
        st2.rollback()
        expect, txid = {"a": 1, "gone": 1}, 1
    assert dict(st2.items()) == expect and st2.committed_txid == txid and st2.status is TxStatus.OPEN
    st2.close()
    st3 = new_backend().state("c", 1)
    assert dict(st3.items()) == expect and st3.committed_txid == txid and st3.status is TxStatus.OPEN


def test_many_keys_commit_and_iterate(backend):
    st = backend.state("c", 1)
    for i in range(2000):
        st.put(i, i * i)
    _commit(st, 1)
    for i in range(0, 2000, 2):
        st.delete(i)
    _commit(st, 2)
    assert dict(st.items()) == {i: i * i for i in range(1, 2000, 2)}
