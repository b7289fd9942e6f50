"""The keyed state contract shared by every backend.

A :class:`KeyValueState` is the key-value state of one task of one component (its
*namespace*). Writes go to an in-memory overlay; ``prepare_commit(txid)`` stages them
durably in the backend, ``commit(txid)`` makes the staged transaction current in one
atomic write, ``rollback()`` drops everything not committed. Reads see the task's own
uncommitted writes.

Serialization:
    * keys - msgpack of plain values (str, bytes, int, float, bool, None, and tuples of
      them). msgpack gives *canonical* bytes: equal keys always encode equally (pickle
      does not promise that - it memoizes repeated objects by identity), and the keys
      stay readable from other languages. ``1``, ``1.0`` and ``True`` are distinct keys.
      A key read back is the same type it was written as (tuples stay tuples).
    * values - data only: msgpack with explicit extension types for tuples, sets, big
      ints, dates and the user types registered by name (:mod:`squall.state.codec`).
      Reading a value never runs code: a value that does not decode raises
      :class:`~squall.state.errors.StateDecodeError` naming the key, a pickle from an
      older Squall (or planted) raises
      :class:`~squall.state.errors.LegacyPickleStateError`. A value holding a type
      state cannot store fails at ``put`` (so at ``pre_prepare``) with
      :class:`~squall.state.errors.StateValueError`. Pickle only when the backend is
      opened with ``serializer="pickle"``, a declaration that the store is trusted.

Backends subclass :class:`KeyValueState` and implement the storage primitives
(``_get_committed``, ``_scan_committed``, ``_stage``, ``_load_staged``, ``_apply_staged``,
``_drop_staged``, ``_close``); the lifecycle lives here, once.

Semantics: Storm 2 State Checkpointing (``KeyValueState``; ``StatefulBolt``'s
``prepareCommit(txid)`` / ``commit(txid)`` / ``rollback()``).
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgpack

from squall.state.codec import StateCodec, StateType
from squall.state.errors import (StateClosedError, StateDecodeError, StateKeyError, StateValueError,
                                 TransactionStateError)

__all__ = ["TxStatus", "KeyValueState", "StateBackend", "StateStore", "StateType", "encode_key", "decode_key"]

_PLAIN = (str, bytes, int, float, bool, type(None))
_pack_key = msgpack.Packer(use_bin_type=True).pack


def _check_key(key: Any) -> None:
    if isinstance(key, tuple):
        for part in key:
            _check_key(part)
    elif not isinstance(key, _PLAIN):
        raise StateKeyError(f"state key {key!r} has type {type(key).__name__}; keys must be str, bytes, "
                            f"int, float, bool, None or tuples of them (convert it, e.g. str(key))")


def encode_key(key: Any) -> bytes:
    """Return the canonical bytes of a state key (msgpack).

    >>> decode_key(encode_key(("car-7", 3)))
    ('car-7', 3)

    Raises:
        StateKeyError: ``key`` is not a plain value or tuple of plain values.
    """
    _check_key(key)
    return _pack_key(key)


def decode_key(data: bytes) -> Any:
    """Inverse of :func:`encode_key`."""
    return msgpack.unpackb(data, use_list=False, raw=False, strict_map_key=False)


_DEFAULT_CODEC = StateCodec()


class TxStatus(enum.Enum):
    """Where a state is in its transaction lifecycle.

    * ``OPEN`` - accepting writes; no transaction staged.
    * ``PREPARED`` - ``prepare_commit(txid)`` staged a transaction durably; further
      writes belong to the next transaction. Next: ``commit(txid)`` or ``rollback()``.
    * ``RECOVERING`` - opened over a transaction an earlier incarnation prepared but
      never committed. Reads see the last committed state; writes are refused until
      ``commit(prepared_txid)`` (the checkpoint completed) or ``rollback()`` (it did not).
    * ``CLOSED`` - ``close()`` ran; every call but ``close()`` raises.
    """

    OPEN = "open"
    PREPARED = "prepared"
    RECOVERING = "recovering"
    CLOSED = "closed"


_TOMBSTONE = None  # a staged/pending value of None means "deleted"


class KeyValueState(ABC):
    """Key-value state of one ``(component, task)``, with a prepare/commit/rollback lifecycle.

    Get one from :meth:`StateBackend.state`; do not construct it directly.

    Threading: one task thread owns a state; it is not safe for concurrent use.
    Lifecycle: see :class:`TxStatus`. ``committed_txid`` is ``None`` until the first commit.
    Transaction ids are ints and must grow: ``prepare_commit(txid)`` needs
    ``txid > committed_txid``.

    Semantics: Storm 2 State Checkpointing (``KeyValueState``, ``StatefulBolt``).
    """

    #: how values become bytes; the backend sets its own in :meth:`StateBackend.state`
    _codec: StateCodec = _DEFAULT_CODEC

    def __init__(self, component: str, task: int, committed_txid: int | None,
                 prepared_txid: int | None) -> None:
        self._ns = (component, task)
        self._committed_txid = committed_txid
        self._prepared_txid = prepared_txid
        self._pending: dict[bytes, bytes | None] = {}  # writes since the last prepare
        self._staged: dict[bytes, bytes | None] = {}   # the prepared transaction's writes
        self._status = TxStatus.RECOVERING if prepared_txid is not None else TxStatus.OPEN
        self._on_close = None  # set by the backend: frees the namespace
        self._staged_bytes = 0

    # -- introspection --------------------------------------------------------------

    @property
    def namespace(self) -> tuple[str, int]:
        """``(component, task)`` this state belongs to."""
        return self._ns

    @property
    def status(self) -> TxStatus:
        """The lifecycle state (:class:`TxStatus`)."""
        return self._status

    @property
    def committed_txid(self) -> int | None:
        """The txid of the last committed transaction, ``None`` before the first."""
        return self._committed_txid

    @property
    def prepared_txid(self) -> int | None:
        """The txid staged by ``prepare_commit`` and not yet committed, else ``None``."""
        return self._prepared_txid

    @property
    def staged_bytes(self) -> int:
        """Bytes the last ``prepare_commit`` staged: encoded keys plus encoded values
        (a delete counts its key), what the backend was handed to store, before its own
        overhead or compression; 0 before the first prepare. Preparing the same txid
        again counts the whole transaction, the earlier writes folded in.

        Semantics: Flink's checkpointed data size (what a checkpoint wrote, not the
        whole state: a state staged incrementally stages only what changed)."""
        return self._staged_bytes

    @property
    def has_uncommitted(self) -> bool:
        """Whether writes exist that the last commit does not include."""
        return bool(self._pending) or self._prepared_txid is not None

    # -- reads and writes -----------------------------------------------------------

    def get(self, key: Any, default: Any = None) -> Any:
        """Return the value of ``key`` (own uncommitted writes included), else ``default``.

        Raises:
            StateKeyError: unsupported key type.
        """
        self._check_open()
        kb = encode_key(key)
        for overlay in (self._pending, self._staged):
            if kb in overlay:
                vb = overlay[kb]
                return default if vb is _TOMBSTONE else self._decode(key, vb)
        vb = self._get_committed(kb)
        return default if vb is None else self._decode(key, vb)

    def _decode(self, key: Any, vb: bytes) -> Any:
        try:
            return self._codec.decode(vb)
        except StateDecodeError as exc:
            raise exc.at(key, self._ns) from exc.__cause__

    def __contains__(self, key: Any) -> bool:
        marker = object()
        return self.get(key, marker) is not marker

    def put(self, key: Any, value: Any) -> None:
        """Set ``key`` to ``value`` in the current transaction (encoded now, so later
        mutation of ``value`` does not change the state).

        Raises:
            StateKeyError: unsupported key type.
            StateValueError: ``value`` holds an object of a type state cannot store
                (register it with :meth:`register_type`).
        """
        self._check_writable()
        kb = encode_key(key)
        try:
            vb = self._codec.encode(value)
        except StateValueError as exc:
            raise exc.at(key, self._ns) from exc.__cause__
        self._pending[kb] = vb

    def register_type(self, cls: type, name: str, encode, decode) -> None:
        """Let this state store objects of ``cls``: ``encode(obj)`` gives supported data
        (see :mod:`squall.state.codec`), ``decode(data)`` rebuilds the object; ``name`` is
        stored with the data, so keep it stable. Call it in ``init_state`` before reading.

        Raises:
            StateError: ``name`` or ``cls`` is already registered differently.

        Semantics: Storm "Serialization" (``topology.kryo.register``).
        """
        self._codec = self._codec.with_type(cls, name, encode, decode)

    def delete(self, key: Any) -> None:
        """Remove ``key`` in the current transaction (no error when absent)."""
        self._check_writable()
        self._pending[encode_key(key)] = _TOMBSTONE

    def items(self) -> Iterator[tuple[Any, Any]]:
        """Yield every live ``(key, value)``, own uncommitted writes included.

        Committed entries come in backend order, then keys first written in this or
        the prepared transaction. Do not write while iterating.
        """
        self._check_open()
        overlay = {**self._staged, **self._pending}
        for kb, vb in self._scan_committed():
            if kb in overlay:
                continue
            key = self._decode_key(kb)
            yield key, self._decode(key, vb)
        for kb, vb in overlay.items():
            if vb is not _TOMBSTONE:
                key = decode_key(kb)
                yield key, self._decode(key, vb)

    def _decode_key(self, kb: bytes) -> Any:
        try:
            return decode_key(kb)
        except Exception as exc:  # bytes another program wrote into the store
            raise StateDecodeError(f"the stored key is not a msgpack state key ({exc})", kb,
                                   self._ns) from exc

    iterate = items

    def keys(self) -> Iterator[Any]:
        """Yield every live key (see :meth:`items`)."""
        for k, _ in self.items():
            yield k

    # -- lifecycle --------------------------------------------------------------------

    def prepare_commit(self, txid: int) -> None:
        """Stage every write since the last prepare as transaction ``txid``, durably.

        Preparing the same ``txid`` again (a resent PREPARE) folds later writes in.

        Raises:
            TransactionStateError: ``txid`` does not exceed ``committed_txid``; another
                txid is already prepared; or the state is RECOVERING.
        """
        self._check_open()
        if self._status is TxStatus.RECOVERING:
            raise self._tx_error(f"cannot prepare {txid}: transaction {self._prepared_txid} from an "
                                 f"earlier run is prepared; call commit({self._prepared_txid}) or rollback()")
        if self._status is TxStatus.PREPARED:
            if txid != self._prepared_txid:
                raise self._tx_error(f"cannot prepare {txid}: transaction {self._prepared_txid} is "
                                     f"prepared; commit({self._prepared_txid}) or rollback() it first")
            staged = {**self._staged, **self._pending}
        else:
            if self._committed_txid is not None and txid <= self._committed_txid:
                raise self._tx_error(f"cannot prepare {txid}: transaction ids must grow and "
                                     f"{self._committed_txid} is already committed")
            staged = dict(self._pending)
        self._stage(txid, staged)
        # One pass over what was just written (its cost is the write's): the checkpoint's size.
        self._staged_bytes = sum(len(kb) + (0 if vb is None else len(vb)) for kb, vb in staged.items())
        self._staged, self._pending = staged, {}
        self._prepared_txid = txid
        self._status = TxStatus.PREPARED

    def commit(self, txid: int) -> None:
        """Make prepared transaction ``txid`` the committed state, in one atomic write.

        Committing the already committed ``txid`` again is a no-op (a resent COMMIT).
        Writes made after ``prepare_commit`` stay pending for the next transaction.

        Raises:
            TransactionStateError: ``txid`` is not the prepared transaction.
        """
        self._check_open()
        if txid == self._committed_txid and self._prepared_txid is None:
            return
        if self._prepared_txid is None or txid != self._prepared_txid:
            raise self._tx_error(f"cannot commit {txid}: the prepared transaction is "
                                 f"{self._prepared_txid}; call prepare_commit({txid}) first")
        staged = self._load_staged() if self._status is TxStatus.RECOVERING else self._staged
        self._apply_staged(txid, staged)
        self._committed_txid = txid
        self._prepared_txid = None
        self._staged = {}
        self._status = TxStatus.OPEN

    def rollback(self) -> None:
        """Drop every uncommitted write (pending and prepared); back to ``committed_txid``."""
        self._check_open()
        if self._prepared_txid is not None:
            self._drop_staged()
        self._pending = {}
        self._staged = {}
        self._prepared_txid = None
        self._status = TxStatus.OPEN

    def close(self) -> None:
        """Release the backend resources; uncommitted writes not yet prepared are lost.
        A prepared transaction stays staged for the next incarnation. Idempotent."""
        if self._status is TxStatus.CLOSED:
            return
        self._status = TxStatus.CLOSED
        self._pending = {}
        self._staged = {}
        try:
            self._close()
        finally:
            if self._on_close is not None:
                self._on_close(self._ns)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} {self._ns[0]!r}[task {self._ns[1]}] {self._status.value} "
                f"committed={self._committed_txid} prepared={self._prepared_txid}>")

    # -- helpers ----------------------------------------------------------------------

    def _tx_error(self, message: str) -> TransactionStateError:
        return TransactionStateError(message, self._ns, self._status)

    def _check_open(self) -> None:
        if self._status is TxStatus.CLOSED:
            raise StateClosedError("the state is closed", self._ns, self._status)

    def _check_writable(self) -> None:
        self._check_open()
        if self._status is TxStatus.RECOVERING:
            raise self._tx_error(f"writes are refused until transaction {self._prepared_txid}, "
                                 f"prepared by an earlier run, is committed or rolled back")

    # -- storage primitives (backends) -------------------------------------------------

    @abstractmethod
    def _get_committed(self, kb: bytes) -> bytes | None:
        """The committed value bytes of encoded key ``kb``, or None."""

    @abstractmethod
    def _scan_committed(self) -> Iterator[tuple[bytes, bytes]]:
        """Every committed ``(key bytes, value bytes)`` of this namespace."""

    @abstractmethod
    def _stage(self, txid: int, changes: Mapping[bytes, bytes | None]) -> None:
        """Durably replace the staged transaction with ``changes`` (None = delete) as ``txid``."""

    @abstractmethod
    def _load_staged(self) -> dict[bytes, bytes | None]:
        """The staged changes as written by ``_stage`` (used when recovering)."""

    @abstractmethod
    def _apply_staged(self, txid: int, changes: Mapping[bytes, bytes | None]) -> None:
        """Atomically: apply ``changes`` to committed, set committed txid, clear staging."""

    @abstractmethod
    def _drop_staged(self) -> None:
        """Durably clear the staged transaction."""

    def _close(self) -> None:
        """Release resources held for this namespace."""


@dataclass(frozen=True)
class StateBackend(ABC):
    """Where the keyed state of every task lives, as configuration: frozen, picklable, ``open()``.

    A backend object holds only plain settings (a directory, a Redis config, the user
    types), so it travels with a topology to worker processes by ordinary pickling;
    the worker calls :meth:`open` and gets the live :class:`StateStore`, from which
    each task's :class:`KeyValueState` is opened.

    Args (of every backend, keyword-only):
        types: the user types every state of this backend may hold (:class:`StateType`;
            their functions module-level so the backend pickles).
        serializer: ``"msgpack"`` (default: data only) or ``"pickle"``. **Pickle runs
            the code a stored value names when it is read**: choose it only for a store
            no one else can write (a private RocksDB directory), never for a Redis
            server other programs use. It reads the pickles older Squall releases wrote.

    Raises:
        StateError: an unknown serializer, or ``types`` that clash (checked at construction).

    Semantics: Heron's component specs (nothing live is shipped; the worker builds it).
    """

    types: tuple[StateType, ...] = field(default=(), kw_only=True)
    serializer: str = field(default="msgpack", kw_only=True)

    def __post_init__(self) -> None:
        object.__setattr__(self, "types", tuple(self.types))
        StateCodec(self.types, self.serializer)  # checked here, at build time

    @property
    @abstractmethod
    def single_writer_key(self) -> str | None:
        """The resource only one OS process may open for writing (``"rocksdb:/abs/dir"``), or None."""

    @abstractmethod
    def open(self) -> StateStore:
        """Return the live store; close it when done (or use ``with``).

        Raises:
            StoreLockedError: a RocksDB directory is held by another process.
            StateBackendError: the storage cannot be reached.
        """


class StateStore(ABC):
    """A live state store opened from a :class:`StateBackend`; hands out one state per namespace.

    Threading: ``state`` and ``close`` may be called from any thread; each returned
    state is owned by one task thread. Not picklable: ship the backend instead.
    """

    def __init__(self, backend: StateBackend) -> None:
        self.backend = backend
        self._open: dict[tuple[str, int], KeyValueState] = {}
        self.codec = StateCodec(backend.types, backend.serializer)

    def state(self, component: str, task: int) -> KeyValueState:
        """Open the state of ``task`` of ``component``.

        Returns a state whose ``committed_txid`` and contents are the last committed
        transaction; if an earlier incarnation left a transaction prepared, the state
        starts RECOVERING (see :class:`TxStatus`).

        Raises:
            StateError: this store already has that namespace open (close it first).
            ValueError: ``component`` is empty or ``task`` is not a non-negative int.
        """
        from squall.state.errors import StateError
        if not isinstance(component, str) or not component:
            raise ValueError(f"component must be a non-empty str, got {component!r}")
        if not isinstance(task, int) or isinstance(task, bool) or task < 0:
            raise ValueError(f"task must be a non-negative int task id, got {task!r}")
        ns = (component, task)
        if ns in self._open:
            raise StateError(f"state {component!r}[task {task}] is already open on this store; "
                             f"close() it before opening it again")
        st = self._open_state(component, task)
        st._codec = self.codec
        st._on_close = self._open.pop
        self._open[ns] = st
        return st

    @abstractmethod
    def _open_state(self, component: str, task: int) -> KeyValueState:
        """Build the live state of a namespace."""

    @abstractmethod
    def namespaces(self) -> list[tuple[str, int]]:
        """Every ``(component, task)`` the storage holds a committed or prepared
        transaction of, sorted (for tools: migration, inspection)."""

    def close(self) -> None:
        """Close every state this store handed out, then the store's own resources."""
        for st in list(self._open.values()):
            st.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
