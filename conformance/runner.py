"""Make the scenario's HTTP calls, check each answer, and keep one table row per check.

Each response is checked against the official reference file when it documents the operation
and status, and against our own ``specs/`` document as well (it is stricter: our
implementation must say what our specification says). An operation the reference does not have
(V2.2.1 and V3 additions) is checked against our document alone and marked so.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp

from conformance.reference import ReferenceDocument

NOTHING: Any = object()
"""``body=NOTHING``: the request has no body (``None`` would send JSON ``null``)."""


@dataclass(frozen=True)
class Api:
    """One API of the platform: where it lives, our document, and the official one if any."""

    name: str
    base: str
    own: ReferenceDocument
    reference: ReferenceDocument | None = None


@dataclass(frozen=True)
class Row:
    operation: str
    case: str
    status: str
    schema: str
    problems: tuple[str, ...] = ()
    skipped: bool = False

    @property
    def result(self) -> str:
        if self.skipped:
            return "SKIP"
        return "FAIL" if self.problems else "PASS"


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any
    headers: Mapping[str, str]
    content_type: str

    def member(self, name: str, default: Any = None) -> Any:
        return self.body.get(name, default) if isinstance(self.body, dict) else default


_NO_REPLY = Reply(0, None, {}, "")


def _schema_verdict(
    api: Api, template: str, method: str, status: int, body: Any, media: str | None
) -> tuple[str, list[str]]:
    verdicts: list[str] = []
    problems: list[str] = []
    ref = api.reference
    in_ref = ref is not None and ref.operation(template, method) is not None
    for label, doc in (("ref", ref), ("own", api.own)):
        if doc is None or not doc.documents(template, method, status):
            continue
        errors = doc.check(template, method, status, body, media_type=media)
        verdicts.append(f"{label} {'FAIL' if errors else 'ok'}")
        problems += [f"{label} ({doc.name} {doc.version}): {e}" for e in errors]
    if not verdicts:
        problems.append(f"status {status} is documented neither by the reference nor by ours")
        return "undocumented", problems
    if ref is not None and not in_ref:
        verdicts.append("[not in ref]")
    elif ref is not None and not ref.documents(template, method, status):
        verdicts.append(f"[{status} not in ref]")
    return " ".join(verdicts), problems


@dataclass(frozen=True)
class Caller:
    """One API as one caller: ``await producer("GET", TEMPLATE, "case", 200)``.

    The path variables given here fill every template; ``ids`` of a call add to them.
    """

    runner: Runner
    api: Api
    token: str | None
    ids: Mapping[str, str]

    async def __call__(
        self,
        method: str,
        template: str,
        case: str,
        expect: int | Sequence[int],
        *,
        ids: Mapping[str, str] | None = None,
        body: Any = NOTHING,
        raw: tuple[bytes, str] | None = None,
        params: Iterable[tuple[str, str]] = (),
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        return await self.runner.call(
            self.api,
            method,
            template,
            case=case,
            expect=expect,
            token=self.token,
            ids={**self.ids, **(ids or {})},
            body=body,
            raw=raw,
            params=params,
            headers=headers,
        )


class Runner:
    """Sends requests to ``base_url`` and records a :class:`Row` for every check."""

    def __init__(self, http: aiohttp.ClientSession, base_url: str) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.rows: list[Row] = []

    @property
    def failed(self) -> bool:
        return any(row.problems for row in self.rows)

    def caller(self, api: Api, token: str | None, **ids: str) -> Caller:
        return Caller(self, api, token, ids)

    async def call(
        self,
        api: Api,
        method: str,
        template: str,
        *,
        case: str,
        expect: int | Sequence[int],
        token: str | None = None,
        ids: Mapping[str, str] | None = None,
        body: Any = NOTHING,
        raw: tuple[bytes, str] | None = None,
        params: Iterable[tuple[str, str]] = (),
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """One request; ``raw`` is a body sent as is with its content type."""
        method = method.upper()
        expected = (expect,) if isinstance(expect, int) else tuple(expect)
        operation = f"{method} {template}"
        path = template.format_map({k: quote(v, safe="") for k, v in (ids or {}).items()})
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        data: bytes | None = None
        if raw is not None:
            data, sent["Content-Type"] = raw
        elif body is not NOTHING:
            data, sent["Content-Type"] = json.dumps(body).encode(), "application/json"
        try:
            async with self.http.request(
                method,
                self.base_url + api.base + path,
                params=list(params),
                data=data,
                headers=sent,
                allow_redirects=False,
            ) as response:
                reply = await read_reply(response)
        except (aiohttp.ClientError, TimeoutError) as error:
            self.rows.append(
                Row(operation, case, "-", "-", (f"no response: {type(error).__name__}: {error}",))
            )
            return _NO_REPLY
        problems = []
        if reply.status not in expected:
            wanted = "|".join(map(str, expected))
            detail = reply.member("detail")
            problems.append(
                f"expected {wanted}, got {reply.status}" + (f" ({detail})" if detail else "")
            )
        if reply.status == 201 and "Location" not in reply.headers:
            problems.append("201 without a Location header")
        media = reply.content_type or None
        verdict, schema_problems = _schema_verdict(
            api, template, method, reply.status, reply.body, media
        )
        self.rows.append(
            Row(operation, case, str(reply.status), verdict, (*problems, *schema_problems))
        )
        return reply

    def notification(
        self,
        api: Api,
        schema: str,
        body: Any,
        *,
        case: str,
        reference_schema: str | None = None,
    ) -> None:
        """Check a notification the platform sent (``None``: it never came)."""
        operation = f"callback {schema}"
        if body is None:
            self.rows.append(Row(operation, case, "-", "-", ("not received in time",)))
            return
        verdicts: list[str] = []
        problems: list[str] = []
        checks = ((api.reference, reference_schema), (api.own, schema))
        for label, (doc, name) in zip(("ref", "own"), checks, strict=True):
            if doc is None or name is None or not doc.has_schema(name):
                continue
            errors = doc.check_schema(name, body)
            verdicts.append(f"{label} {'FAIL' if errors else 'ok'}")
            problems += [f"{label} ({doc.name} {doc.version}): {e}" for e in errors]
        if len(verdicts) == 1:
            verdicts.append("[not in ref]")
        self.rows.append(Row(operation, case, "recv", " ".join(verdicts), tuple(problems)))

    def fail(self, operation: str, case: str, problem: str) -> None:
        """A check outside a single response (e.g. a list that lacks what was created)."""
        self.rows.append(Row(operation, case, "-", "-", (problem,)))

    def skip(self, operation: str, case: str, why: str) -> None:
        self.rows.append(Row(operation, case, "-", why, skipped=True))


async def read_reply(response: aiohttp.ClientResponse) -> Reply:
    """The response as a :class:`Reply` (JSON decoded when it says so)."""
    raw = await response.read()
    media = response.content_type if raw or response.headers.get("Content-Type") else ""
    body: Any = None
    if raw:
        text = raw.decode(response.charset or "utf-8", errors="replace")
        try:
            body = json.loads(text) if "json" in media else text
        except ValueError:
            body = text
    return Reply(response.status, body, response.headers, media)


def render(rows: Sequence[Row]) -> str:
    """The table, the failures in detail, and a summary line."""
    table = [("#", "result", "operation", "case", "status", "schema")]
    table += [
        (str(i), r.result, r.operation, r.case[:60], r.status, r.schema)
        for i, r in enumerate(rows, 1)
    ]
    widths = [max(len(line[c]) for line in table) for c in range(len(table[0]))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)) for line in table
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    failed = [(i, r) for i, r in enumerate(rows, 1) if r.problems]
    if failed:
        lines += ["", "Failures:"]
        for i, row in failed:
            lines.append(f"{i:>4}  {row.operation} ({row.case})")
            lines += [f"        - {problem}" for problem in row.problems]
    skipped = sum(r.skipped for r in rows)
    passed = len(rows) - len(failed) - skipped
    lines += ["", f"{passed} passed, {len(failed)} failed, {skipped} skipped, {len(rows)} checks"]
    return "\n".join(lines)
