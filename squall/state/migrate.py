"""One-time migration of state pickled by older Squall releases to the data-only format.

Squall used to store state values as pickles; it now refuses them
(:class:`~squall.state.errors.LegacyPickleStateError`), because unpickling runs the code
the bytes name. A store that only your own topology ever wrote can be converted once:

    >>> from squall.state import MemoryStateBackend, migrate_pickled_state
    >>> old = MemoryStateBackend(serializer="pickle").open()   # stands in for an old store
    >>> st = old.state("counter", 0); st.put("car-7", (3, {"a"})); st.prepare_commit(1); st.commit(1)
    >>> st.close(); migrate_pickled_state(old)
    {('counter', 0): 1}
    >>> migrate_pickled_state(old)      # nothing pickled is left
    {}

Semantics: none upstream; Storm's equivalent is re-registering Kryo serializers, which
cannot read Java-serialized state either.
"""

from __future__ import annotations

from squall.state.base import StateStore, TxStatus, decode_key
from squall.state.codec import StateCodec, is_pickle
from squall.state.errors import StateError, StateValueError

__all__ = ["migrate_pickled_state"]


def migrate_pickled_state(backend: StateStore) -> dict[tuple[str, int], int]:
    """Rewrite every pickled committed value of an open store's storage as data, in place.

    **This unpickles every pickled value it finds, which runs the code the bytes name**:
    run it only on a store no one else can have written (a private RocksDB directory,
    a Redis no other program writes to), with the topology stopped. The store must
    be opened from a backend configured with ``serializer="pickle"`` - that is the
    declaration - and with ``types=`` for the user types the values hold. Values already in the data format
    are left as they are, so running it again rewrites nothing. Committed txids do not
    change, so the checkpoints stay consistent.

    Args:
        backend: the open store (``StateBackend(..., serializer="pickle", types=...).open()``).

    Returns:
        ``(component, task)`` -> how many values were rewritten, for every namespace
        that had any.

    Raises:
        StateError: ``backend`` was not opened with ``serializer="pickle"``, or a
            namespace holds a prepared transaction (start the topology once with the
            pickle backend so recovery settles it, stop it, then migrate).
        StateValueError: a value holds a type that is not registered (names the key
            and the type); nothing of that namespace was rewritten.
    """
    if backend.codec.serializer != "pickle":
        raise StateError("migrate_pickled_state reads pickles: open the backend with serializer='pickle' "
                         "to declare that no one else can have written it")
    data = StateCodec(backend.codec.types)
    done: dict[tuple[str, int], int] = {}
    for component, task in backend.namespaces():
        state = backend.state(component, task)
        try:
            if state.status is TxStatus.RECOVERING:
                raise StateError(f"state {component!r}[task {task}] holds transaction {state.prepared_txid}, "
                                 f"prepared and not committed: start the topology once with the "
                                 f"serializer='pickle' backend so recovery settles it, stop it, then migrate")
            changes = {}
            for kb, vb in state._scan_committed():
                if is_pickle(vb):
                    key = decode_key(kb)
                    try:
                        changes[kb] = data.encode(backend.codec.decode(vb))
                    except StateValueError as exc:
                        raise exc.at(key, state.namespace) from None
            if changes:
                state._apply_staged(state.committed_txid, changes)
                done[(component, task)] = len(changes)
        finally:
            state.close()
    return done
