"""Check request and response bodies against a reference OpenAPI document (OAS 3.0 or 3.1).

The document is the JSON Schema registry: ``#/components/...`` references resolve inside it and
``Other.yaml#/...`` references load ``Other.yaml`` from the same directory (the 3GPP files refer
to one another that way). Each check answers a list of readable errors, empty when the body fits.
Formats are not asserted, as JSON Schema 2020-12 makes them annotations.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urldefrag, urljoin, urlsplit
from urllib.request import url2pathname

import yaml
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError
from jsonschema.protocols import Validator
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource, Unresolvable
from referencing.jsonschema import DRAFT202012

from conformance.describe import describe
from conformance.normalize import JsonPointer, normalize, pointer_text

METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options", "trace"})
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ReferenceLoadError(Exception):
    """The reference file cannot be read or is not an OpenAPI document."""


def _required(skipped: str) -> Callable[..., Iterator[ValidationError]]:
    """``required``, except members declared ``readOnly`` (requests) or ``writeOnly`` (responses).

    OAS: a read-only property listed as required is required in responses only, and the
    other way round for write-only ones.
    """

    def required(
        validator: Validator, names: Any, instance: Any, schema: dict[str, Any]
    ) -> Iterator[ValidationError]:
        if not validator.is_type(instance, "object"):
            return
        declared = schema.get("properties", {})
        for name in names:
            member = declared.get(name)
            if isinstance(member, dict) and member.get(skipped) is True:
                continue
            if name not in instance:
                yield ValidationError(f"{name!r} is a required property")

    return required


# jsonschema's stubs leave ``extend`` untyped; it returns a validator class.
_REQUEST: type[Validator] = validators.extend(  # type: ignore[no-untyped-call]
    Draft202012Validator, {"required": _required("readOnly")}
)
_RESPONSE: type[Validator] = validators.extend(  # type: ignore[no-untyped-call]
    Draft202012Validator, {"required": _required("writeOnly")}
)


class _Library:
    """Every document reachable from one reference file, read and normalised once each."""

    def __init__(self) -> None:
        self.documents: dict[str, Any] = {}
        self.quirks: list[str] = []
        self.missing: dict[str, str] = {}

    def get(self, uri: str) -> Any:
        if uri not in self.documents:
            path = _path_of(uri)
            if path is None or not path.is_file():
                self.missing[uri] = f"{path.name if path else uri} is not in {_where(path)}"
                raise NoSuchResource(ref=uri)  # type: ignore[call-arg]  # attrs field
            try:
                raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)  # noqa: S506
            except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
                raise ReferenceLoadError(f"{path}: {error}") from error
            document, quirks = normalize(raw, source=path.name)
            self.documents[uri] = document
            self.quirks.extend(quirks)
        return self.documents[uri]

    def retrieve(self, uri: str) -> Resource[Any]:
        return DRAFT202012.create_resource(self.get(uri))

    def node(self, uri: str, pointer: JsonPointer) -> Any:
        node = self.get(uri)
        for part in pointer:
            node = node[int(part)] if isinstance(node, list) else node[part]
        return node

    def explain(self, error: Unresolvable) -> str:
        ref = str(error.ref)
        target = urldefrag(ref)[0].rsplit("/", 1)[-1]
        for uri, why in self.missing.items():
            if target and uri.rsplit("/", 1)[-1] == target:
                return f"unresolvable $ref {ref!r}: {why}"
        return f"unresolvable $ref {ref!r}: no such place in the referenced document"


def _path_of(uri: str) -> Path | None:
    parts = urlsplit(uri)
    return Path(url2pathname(parts.path)) if parts.scheme == "file" else None


def _where(path: Path | None) -> str:
    return str(path.parent) if path else "a local directory (only file references are followed)"


def _fragment(pointer: JsonPointer) -> str:
    return quote(pointer_text(pointer), safe="/~")


def _parse_fragment(fragment: str) -> JsonPointer:
    text = unquote(fragment)
    if not text:
        return ()
    return tuple(p.replace("~1", "/").replace("~0", "~") for p in text.lstrip("/").split("/"))


def _server_prefixes(document: dict[str, Any]) -> list[str]:
    """The path part of each server URL (``{apiRoot}/rni/v2`` and ``http://h/rni/v2`` both
    give ``/rni/v2``), so a full request path matches the document's relative templates."""
    prefixes = []
    for server in document.get("servers") or []:
        url = str(server.get("url", "")) if isinstance(server, dict) else ""
        path = re.sub(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/]*", "", url)
        path = re.sub(r"^\{[^}]*\}", "", path).rstrip("/")
        if path.startswith("/"):
            prefixes.append(path)
    return sorted(set(prefixes), key=len, reverse=True)


def _template_regex(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}/]+\})", template)
    return re.compile("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts))


class ReferenceDocument:
    """One reference OpenAPI file, ready to check bodies against."""

    def __init__(self, path: Path, library: _Library, uri: str) -> None:
        self.path = path
        self.uri = uri
        self._library = library
        self._registry: Registry[Any] = Registry(retrieve=library.retrieve)  # type: ignore[call-arg]
        document = library.get(uri)
        paths = document.get("paths") if isinstance(document, dict) else None
        if not isinstance(paths, dict):
            raise ReferenceLoadError(f"{path}: not an OpenAPI document (no paths)")
        self.document: dict[str, Any] = document
        self.paths: dict[str, Any] = paths
        self._prefixes = _server_prefixes(self.document)
        # Literal templates win over ones with variables (OAS 3.x "Path Templating Matching").
        self._templates: list[tuple[str, re.Pattern[str]]] = sorted(
            ((t, _template_regex(t)) for t in paths), key=lambda item: item[0].count("{")
        )

    @classmethod
    def load(cls, path: str | Path) -> ReferenceDocument:
        resolved = Path(path).resolve()
        if not resolved.is_file():
            raise ReferenceLoadError(f"{resolved}: no such file")
        return cls(resolved, _Library(), resolved.as_uri())

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def version(self) -> str:
        return str(self.document.get("info", {}).get("version", "?"))

    @property
    def quirks(self) -> tuple[str, ...]:
        """The defects repaired while loading (and following references), one line each."""
        return tuple(self._library.quirks)

    def operation(self, path: str, method: str) -> str | None:
        """The path template of the document that ``path`` (a template, or a concrete path,
        with or without the server's base path) names, if it has ``method``."""
        verb = method.lower()
        candidates = [path, *(path[len(p) :] for p in self._prefixes if path.startswith(p + "/"))]
        for candidate in candidates:
            if verb in self.paths.get(candidate, {}):
                return candidate
        for candidate in candidates:
            for template, regex in self._templates:
                if regex.fullmatch(candidate) and verb in self.paths[template]:
                    return template
        return None

    def documents(self, path: str, method: str, status: int) -> bool:
        """Whether the document describes this response."""
        template = self.operation(path, method)
        if template is None:
            return False
        return _status_key(self.paths[template][method.lower()], status) is not None

    def check(
        self,
        path: str,
        method: str,
        status: int,
        body: Any,
        *,
        media_type: str | None = None,
    ) -> list[str]:
        """Errors of a response body (``None``: no body) against the documented response."""
        verb = method.lower()
        template = self.operation(path, method)
        if template is None:
            return [f"{method.upper()} {path}: no such operation in {self.name}"]
        what = f"{method.upper()} {template} {status}"
        key = _status_key(self.paths[template][verb], status)
        if key is None:
            documented = ", ".join(map(str, self.paths[template][verb].get("responses", {})))
            return [f"{what}: status not documented in {self.name} (documented: {documented})"]
        uri, pointer, response = self._follow(self.uri, ("paths", template, verb, "responses", key))
        content = response.get("content") or {}
        if body is None and content:
            return [f"{what}: documented with a body ({', '.join(content)}), got none"]
        if body is None:
            return []
        return self._check_content(what, uri, pointer, content, body, media_type, _RESPONSE)

    def check_request(
        self, path: str, method: str, body: Any, *, media_type: str | None = None
    ) -> list[str]:
        """Errors of a request body (``None``: no body) against the documented request body."""
        verb = method.lower()
        template = self.operation(path, method)
        if template is None:
            return [f"{method.upper()} {path}: no such operation in {self.name}"]
        what = f"{method.upper()} {template} request"
        if "requestBody" not in self.paths[template][verb]:
            return [] if body is None else [f"{what}: documented without a body, got one"]
        uri, pointer, request = self._follow(self.uri, ("paths", template, verb, "requestBody"))
        if body is None:
            return [f"{what}: the body is required"] if request.get("required") else []
        content = request.get("content") or {}
        return self._check_content(what, uri, pointer, content, body, media_type, _REQUEST)

    def check_schema(self, name: str, instance: Any) -> list[str]:
        """Errors of ``instance`` against ``#/components/schemas/<name>`` (e.g. a notification)."""
        pointer = ("components", "schemas", name)
        try:
            self._library.node(self.uri, pointer)
        except (KeyError, IndexError, TypeError):
            return [f"no schema {name!r} in {self.name}"]
        return self._validate(self.uri, pointer, instance, _RESPONSE)

    def has_schema(self, name: str) -> bool:
        return name in self.document.get("components", {}).get("schemas", {})

    def closed_schemas(self) -> list[str]:
        """Pointers to the component schemas that refuse unknown members."""
        found = []
        for name, schema in self.document.get("components", {}).get("schemas", {}).items():
            for keyword in ("additionalProperties", "unevaluatedProperties"):
                if isinstance(schema, dict) and schema.get(keyword) is False:
                    found.append(f"{self.name}#/components/schemas/{name} ({keyword}: false)")
        return found

    def broken_refs(self) -> list[str]:
        """Each ``$ref`` of this file that leads nowhere (a missing file, or no such place).

        A broken reference only matters when a check reaches it; the check then reports it.
        """
        broken: list[str] = []

        def walk(node: Any) -> None:
            if isinstance(node, list):
                for item in node:
                    walk(item)
            elif isinstance(node, dict):
                ref = node.get("$ref")
                if isinstance(ref, str) and ref not in broken:
                    uri, fragment = urldefrag(urljoin(self.uri, ref))
                    try:
                        self._library.node(uri, _parse_fragment(fragment))
                    except (NoSuchResource, KeyError, IndexError, ValueError, TypeError):
                        broken.append(ref)
                for value in node.values():
                    walk(value)

        walk(self.document)
        return broken

    def _follow(self, uri: str, pointer: JsonPointer) -> tuple[str, JsonPointer, dict[str, Any]]:
        """The object at ``pointer``, through ``$ref``s (which may lead to another file)."""
        node = self._library.node(uri, pointer)
        for _ in range(32):
            if not (isinstance(node, dict) and isinstance(node.get("$ref"), str)):
                return uri, pointer, node
            uri, fragment = urldefrag(urljoin(uri, node["$ref"]))
            pointer = _parse_fragment(fragment)
            node = self._library.node(uri, pointer)
        raise ReferenceLoadError(f"{self.name}: $ref loop at {pointer_text(pointer)}")

    def _check_content(
        self,
        what: str,
        uri: str,
        pointer: JsonPointer,
        content: dict[str, Any],
        body: Any,
        media_type: str | None,
        kind: type[Validator],
    ) -> list[str]:
        if not content:
            return [f"{what}: documented without a body, got one"]
        media = _pick_media(content, media_type)
        if media is None:
            return [f"{what}: media type {media_type} not documented ({', '.join(content)})"]
        if "schema" not in (content[media] or {}):
            return []
        return self._validate(uri, (*pointer, "content", media, "schema"), body, kind)

    def _validate(
        self, uri: str, pointer: JsonPointer, instance: Any, kind: type[Validator]
    ) -> list[str]:
        # A $ref into the whole document, so that the schema's own relative refs resolve.
        root = {"$ref": f"{uri}#{_fragment(pointer)}"}
        errors: list[ValidationError] = []
        try:
            errors.extend(kind(root, registry=self._registry).iter_errors(instance))
        except Unresolvable as error:
            return [describe(e) for e in errors] + [self._library.explain(error)]
        return [describe(e) for e in sorted(errors, key=lambda e: list(map(str, e.path)))]


def _status_key(operation: dict[str, Any], status: int) -> str | None:
    responses = operation.get("responses") or {}
    for key in (str(status), f"{status // 100}XX", f"{status // 100}xx", "default"):
        if key in responses:
            return key
    return None


def _bare(media: str) -> str:
    return media.split(";", 1)[0].strip().lower()


def _pick_media(content: dict[str, Any], wanted: str | None) -> str | None:
    if wanted is None:
        json_like = [m for m in content if _bare(m) == "application/json" or "+json" in m]
        return (json_like or list(content))[0]
    bare = _bare(wanted)
    for media in content:
        if _bare(media) == bare:
            return media
    family = bare.split("/", 1)[0] + "/*"
    for media in content:
        if _bare(media) in (family, "*/*"):
            return media
    return None
