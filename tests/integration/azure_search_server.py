"""A loopback HTTPS stand-in for the Azure AI Search REST API, recording every request.

It answers the few operations the runbook adapter uses, with the response shapes the service
documents: create-or-update index (PUT /indexes('name')), index documents
(POST .../docs/search.index) and search (POST .../docs/search.post.search). Search is a toy:
keyword overlap plus cosine similarity when a vector query is given, and it understands only the
OData filter forms the adapter writes. Anything else is answered 400, like the service would.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.integration.tls import self_signed_certificate

API_KEY = "test-admin-key"
_INDEX_PATH = re.compile(r"^/indexes\('([^']+)'\)(/docs/search\.(index|post\.search))?$")
_FILTERS = {
    "services": re.compile(r"^services/any\(s: s eq '((?:[^']|'')*)' or s eq '\*'\)$"),
    "categories": re.compile(r"^categories/any\(c: c eq '((?:[^']|'')*)'\)$"),
    "content_hash": re.compile(r"^content_hash (eq|ne) '((?:[^']|'')*)'$"),
}


@dataclass
class Recorded:
    """One request as it arrived."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class SearchService:
    """State of the stand-in: index definitions, documents, requests, injected failures."""

    requests: list[Recorded] = field(default_factory=list)
    indexes: dict[str, dict[str, Any]] = field(default_factory=dict)
    documents: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    fail_next: list[tuple[int, str]] = field(default_factory=list)

    def calls(self, suffix: str) -> list[Recorded]:
        """Requests whose path ends with ``suffix``."""
        return [r for r in self.requests if r.path.endswith(suffix)]


def _matches(document: dict[str, Any], clause: str) -> bool:
    for name, pattern in _FILTERS.items():
        found = pattern.match(clause)
        if not found:
            continue
        value = found.group(found.lastindex or 1).replace("''", "'")
        if name == "content_hash":
            same = document.get("content_hash") == value
            return same if found.group(1) == "eq" else not same
        members = document.get(name) or []
        return value in members or (name == "services" and "*" in members)
    raise ValueError(f"unsupported filter clause: {clause}")


def _score(document: dict[str, Any], words: set[str], vector: list[float] | None) -> float:
    text = " ".join(str(document.get(f, "")) for f in ("title", "section", "text")).lower()
    score = float(sum(1 for word in words if word in text))
    stored = document.get("embedding")
    if vector and stored:
        dot = sum(a * b for a, b in zip(vector, stored, strict=True))
        norm = math.sqrt(sum(a * a for a in vector)) * math.sqrt(sum(b * b for b in stored))
        score += dot / norm if norm else 0.0
    return score


def run_search(service: SearchService, index: str, body: dict[str, Any]) -> dict[str, Any]:
    """Evaluate a search request body against the stored documents."""
    docs = list(service.documents.get(index, {}).values())
    clauses = [c for c in (body.get("filter") or "").split(" and ") if c]
    docs = [d for d in docs if all(_matches(d, c) for c in clauses)]
    text = body.get("search") or "*"
    words = set() if text == "*" else set(re.findall(r"[a-z0-9]+", text.lower()))
    vector_queries = body.get("vectorQueries") or []
    vector = vector_queries[0]["vector"] if vector_queries else None
    scored = [(_score(d, words, vector), d) for d in docs]
    if words or vector:
        scored = [pair for pair in scored if pair[0] > 0]
    scored.sort(key=lambda pair: pair[0], reverse=True)
    select = [s.strip() for s in (body.get("select") or "").split(",") if s.strip()]
    semantic = body.get("queryType") == "semantic"
    value = []
    for rank, (score, doc) in enumerate(scored[: int(body.get("top", 50))]):
        item = {k: v for k, v in doc.items() if not select or k in select}
        item["@search.score"] = score
        if semantic:
            # The semantic ranker scores 0..4; the stand-in keeps the keyword order.
            item["@search.rerankerScore"] = max(0.0, 4.0 - 0.5 * rank)
        value.append(item)
    answer: dict[str, Any] = {"value": value}
    if body.get("count"):
        answer["@odata.count"] = len(scored)
    return answer


def _handler(service: SearchService) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _reply(self, status: int, payload: dict[str, Any] | None) -> None:
            data = json.dumps(payload).encode() if payload is not None else b""
            self.send_response(status)
            self.send_header("Content-Type", "application/json; odata.metadata=minimal")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _handle(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            path = unquote(url.path)
            service.requests.append(
                Recorded(self.command, path, parse_qs(url.query), dict(self.headers), body)
            )
            if self.headers.get("api-key") != API_KEY:
                return self._reply(403, {"error": {"code": "Forbidden", "message": "bad key"}})
            if service.fail_next:
                status, message = service.fail_next.pop(0)
                return self._reply(status, {"error": {"code": str(status), "message": message}})
            route = _INDEX_PATH.match(path)
            if route is None:
                return self._reply(404, {"error": {"code": "NotFound", "message": path}})
            self._route(route.group(1), route.group(3), body)

        def _route(self, index: str, operation: str | None, body: Any) -> None:
            if operation is None and self.command == "PUT":
                created = index not in service.indexes
                service.indexes[index] = body
                return self._reply(201 if created else 200, {**body, "@odata.etag": '"0x1"'})
            if index not in service.indexes:
                message = f"The index '{index}' for service 'loopback' was not found."
                return self._reply(404, {"error": {"code": "", "message": message}})
            if operation == "index":
                return self._reply(200, self._index_documents(index, body))
            try:
                return self._reply(200, run_search(service, index, body))
            except ValueError as exc:
                return self._reply(
                    400, {"error": {"code": "InvalidRequestParameter", "message": str(exc)}}
                )

        def _index_documents(self, index: str, body: dict[str, Any]) -> dict[str, Any]:
            store = service.documents.setdefault(index, {})
            results = []
            for action in body["value"]:
                kind = action["@search.action"]
                document = {k: v for k, v in action.items() if k != "@search.action"}
                key = document["chunk_id"]
                if kind == "delete":
                    store.pop(key, None)
                    status = 200
                else:
                    status = 200 if key in store else 201
                    store[key] = document
                results.append(
                    {"key": key, "status": True, "errorMessage": None, "statusCode": status}
                )
            return {"value": results}

        do_PUT = _handle
        do_POST = _handle
        do_GET = _handle

    return Handler


@contextmanager
def azure_search_server(folder: Path) -> Iterator[tuple[str, SearchService]]:
    """Serve the stand-in over HTTPS on a free loopback port; yield (endpoint, state)."""
    cert, key = self_signed_certificate(folder)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    service = SearchService()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(service))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", service
    finally:
        server.shutdown()
        server.server_close()


def _fake_vector(text: str, dims: int) -> list[float]:
    vector = [0.0] * dims
    for word in text.lower().split():
        vector[hashlib.sha256(word.encode()).digest()[0] % dims] += 1.0
    return vector


@dataclass
class EmbeddingsService:
    """State of the OpenAI-compatible embeddings stand-in."""

    dims: int = 16
    requests: list[Recorded] = field(default_factory=list)


def _embeddings_handler(service: EmbeddingsService) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_POST(self) -> None:
            url = urlsplit(self.path)
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            service.requests.append(
                Recorded("POST", url.path, parse_qs(url.query), dict(self.headers), body)
            )
            inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
            payload = {
                "object": "list",
                "data": [
                    {"object": "embedding", "index": i, "embedding": _fake_vector(t, service.dims)}
                    for i, t in enumerate(inputs)
                ],
                "model": body["model"],
                "usage": {"prompt_tokens": len(inputs), "total_tokens": len(inputs)},
            }
            data = json.dumps(payload).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


@contextmanager
def embeddings_server() -> Iterator[tuple[str, EmbeddingsService]]:
    """An OpenAI / Azure OpenAI embeddings endpoint on loopback HTTP; yield (base, state)."""
    service = EmbeddingsService()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _embeddings_handler(service))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", service
    finally:
        server.shutdown()
        server.server_close()
