"""Moving keyed state between tasks when a component's parallelism changes.

Squall's fields grouping sends a tuple whose grouping key is ``k`` to
``target_tasks[stable_hash(k) % len(target_tasks)]``. State written by a task under
the grouping key therefore belongs, after a rescale, to the task that same rule picks
over the *new* task list; :func:`redistribute` computes that assignment.

Semantics: Flink keyed state redistribution on rescale (here by the fields-grouping
rule, not Flink's contiguous key-group ranges, so state lands exactly where tuples go).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from squall.hashing import stable_hash
from squall.state.base import KeyValueState
from squall.state.errors import StateError

__all__ = ["fields_key_to_task", "redistribute", "load_redistributed"]


def fields_key_to_task(task_ids: Sequence[int]) -> Callable[[Any], int]:
    """Return ``key -> task id`` as :class:`squall.grouping.FieldsGrouping` routes over ``task_ids``.

    ``key`` is the grouping key: the field's value for one grouping field, the tuple of
    values for several.

    >>> route = fields_key_to_task([4, 5, 6])
    >>> route("car-7") in (4, 5, 6)
    True
    """
    tasks = list(task_ids)
    if not tasks:
        raise ValueError("task_ids must not be empty")
    n = len(tasks)
    return lambda key: tasks[stable_hash(key) % n]


def redistribute(states_by_task: Mapping[int, KeyValueState], new_tasks: int | Sequence[int],
                 key_to_task: Callable[[Any], int] | None = None) -> dict[int, dict[Any, Any]]:
    """Split the committed state of the old tasks among the new ones, by key.

    Args:
        states_by_task: old task id -> its state; every state must have no uncommitted
            writes (commit or roll back first), so what moves is the checkpoint.
        new_tasks: the new task ids, or a count ``n`` meaning ids ``0 .. n-1``.
        key_to_task: the routing rule; default :func:`fields_key_to_task` over
            ``new_tasks``, i.e. where a fields grouping now sends each key.

    Returns:
        new task id -> ``{key: value}``; every new task is present (maybe empty).
        Load each into the new task's state with :func:`load_redistributed`.

    Raises:
        StateError: a state has uncommitted writes, a key appears in two old tasks, or
            ``key_to_task`` returns a task id not in ``new_tasks``.
    """
    tasks = list(range(new_tasks)) if isinstance(new_tasks, int) else list(new_tasks)
    route = key_to_task or fields_key_to_task(tasks)
    out: dict[int, dict[Any, Any]] = {t: {} for t in tasks}
    owner: dict[Any, int] = {}
    for old_task, st in states_by_task.items():
        if st.has_uncommitted:
            raise StateError(f"state {st.namespace[0]!r}[task {old_task}] has uncommitted writes; "
                             f"commit or roll back before redistributing")
        for key, value in st.items():
            if key in owner:
                raise StateError(f"key {key!r} is in the state of both task {owner[key]} and task "
                                 f"{old_task}; keyed state must be partitioned by key")
            owner[key] = old_task
            target = route(key)
            if target not in out:
                raise StateError(f"key_to_task sent {key!r} to task {target}, not one of {tasks}")
            out[target][key] = value
    return out


def load_redistributed(state: KeyValueState, items: Mapping[Any, Any], txid: int) -> None:
    """Replace ``state``'s contents with ``items`` and commit them as ``txid``.

    Keys present in ``state`` but not in ``items`` are deleted, so a namespace reused
    across rescales holds exactly its share.
    """
    for key in list(state.keys()):
        if key not in items:
            state.delete(key)
    for key, value in items.items():
        state.put(key, value)
    state.prepare_commit(txid)
    state.commit(txid)
