"""Turn an OpenAPI document's schemas into JSON Schema 2020-12 that says what the authors meant.

OAS 3.1 schemas already are 2020-12 (``contentEncoding``, ``contentMediaType`` and ``examples``
are annotations there, so they need nothing). OAS 3.0 schemas differ in two ways that change
validation results: ``nullable`` and the boolean ``exclusiveMinimum``/``exclusiveMaximum``.
Both are rewritten here. One defect of the reference files is repaired too, and reported: a
``oneOf`` whose alternatives are all the same can never match exactly one of them, so it
rejects every instance; the MEC 011 V2.1.1 service POST body lost its two ``required`` lists
that way in the OAS 3.1 conversion (see SOURCES.md), and it is taken as "any" here.
"""

from __future__ import annotations

import json
from typing import Any

JsonPointer = tuple[str, ...]


def escape(part: str) -> str:
    """One RFC 6901 reference token."""
    return part.replace("~", "~0").replace("/", "~1")


def pointer_text(pointer: JsonPointer) -> str:
    return "/" + "/".join(escape(p) for p in pointer) if pointer else ""


def normalize(document: Any, *, source: str) -> tuple[Any, list[str]]:
    """The document with its schemas made 2020-12, and a note for each defect repaired.

    Keys become strings too: YAML reads an unquoted ``200:`` status as an integer.
    """
    oas30 = isinstance(document, dict) and str(document.get("openapi", "")).startswith("3.0")
    quirks: list[str] = []

    def walk(node: Any, pointer: JsonPointer) -> Any:
        if isinstance(node, list):
            return [walk(item, (*pointer, str(i))) for i, item in enumerate(node)]
        if not isinstance(node, dict):
            return node
        out = {str(key): walk(value, (*pointer, str(key))) for key, value in node.items()}
        alternatives = out.get("oneOf")
        if isinstance(alternatives, list) and _degenerate(alternatives):
            del out["oneOf"]
            shown = json.dumps(alternatives[0], sort_keys=True)
            quirks.append(
                f"{source}#{pointer_text(pointer)}: oneOf of {len(alternatives)} identical "
                f"alternatives ({shown}) can never match exactly one; treated as any"
            )
        return _from_oas30(out) if oas30 else out

    normalized = walk(document, ())
    quirks += _enforce_discriminators(normalized, source)
    return normalized, quirks


def _enforce_discriminators(document: Any, source: str) -> list[str]:
    """Pin each schema a ``discriminator.mapping`` names to its discriminating value.

    JSON Schema ignores ``discriminator``, so alternatives that differ only by it (MEC 012
    MeasTaSubscription and CaReconfSubscription both require just ``filterCriteriaAssoc``)
    all match, and a ``oneOf`` of them rejects every such body. OAS means the value to select
    the schema; a ``const`` says the same in JSON Schema. Mappings to other files are left.
    """
    schemas = document.get("components", {}).get("schemas") if isinstance(document, dict) else None
    if not isinstance(schemas, dict):
        return []
    notes = []
    for name, schema in schemas.items():
        found = schema.get("discriminator") if isinstance(schema, dict) else None
        if not isinstance(found, dict):
            continue
        mapping, member = found.get("mapping"), found.get("propertyName")
        if not isinstance(mapping, dict) or not isinstance(member, str):
            continue
        pinned = 0
        for value, target in mapping.items():
            child = schemas.get(str(target).removeprefix("#/components/schemas/"))
            if isinstance(child, dict) and child is not schema:
                pin = {"properties": {member: {"const": value}}}
                child["allOf"] = [*child.get("allOf", []), pin]
                pinned += 1
        if pinned:
            notes.append(
                f"{source}#/components/schemas/{escape(name)}: discriminator {member!r} "
                f"enforced as a const on the {pinned} schemas its mapping names"
            )
    return notes


def _degenerate(alternatives: list[Any]) -> bool:
    return len(alternatives) >= 2 and all(branch == alternatives[0] for branch in alternatives[1:])


def _from_oas30(node: dict[str, Any]) -> dict[str, Any]:
    for bound, exclusive in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        flag = node.get(exclusive)
        if isinstance(flag, bool):
            del node[exclusive]
            if flag and bound in node:
                node[exclusive] = node.pop(bound)
    # Only the boolean is the keyword: under ``properties`` a member may be named "nullable".
    nullable = node.get("nullable")
    if not isinstance(nullable, bool):
        return node
    del node["nullable"]
    if not nullable:
        return node
    kind = node.get("type")
    if isinstance(kind, str):
        node["type"] = [kind, "null"]
        if isinstance(node.get("enum"), list) and None not in node["enum"]:
            node["enum"] = [*node["enum"], None]
        return node
    # No type beside nullable (a $ref, allOf, ...): null is allowed next to whatever it is.
    return {"anyOf": [node, {"type": "null"}]}
