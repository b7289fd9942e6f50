"""The ``--types`` option of ``squall epl run`` and ``squall epl query``: a JSON object
mapping property names to type names, turned into the properties that
:meth:`squall.cep.engine.EPLEngine.define_event_type` takes.

Type names: ``long``, ``int``/``integer`` (Python int), ``double``, ``float`` (float),
``string`` (str), ``boolean`` (bool), case-insensitive.

Semantics: Esper 8 reference, 3 "Event Representations" (the map event type's property
types), restricted to the scalar types Squall checks.
"""

from __future__ import annotations

import json

from squall.cli import CliError

__all__ = ["TYPE_NAMES", "parse_types"]

TYPE_NAMES = {"long": int, "int": int, "integer": int, "double": float, "float": float,
              "string": str, "boolean": bool}


def parse_types(text: str) -> dict[str, type]:
    """``--types`` JSON (property -> type name) -> ``{property: Python type}``.

    Raises:
        CliError: the text is not JSON, not an object, or names a type not in
            :data:`TYPE_NAMES` (the message names the property).
    """
    try:
        spec = json.loads(text)
    except ValueError as exc:
        raise CliError(f"--types is not valid JSON: {exc}") from None
    if not isinstance(spec, dict):
        raise CliError("--types must be a JSON object mapping property names to type names")
    props = {}
    for name, tname in spec.items():
        t = TYPE_NAMES.get(tname.lower()) if isinstance(tname, str) else None
        if t is None:
            raise CliError(f"--types: property {name!r} has unknown type {tname!r} (use one of "
                           f"{', '.join(sorted(TYPE_NAMES))})")
        props[name] = t
    return props
