"""A small Hugging Face Hub look-alike on 127.0.0.1 for tests: the real huggingface_hub client talks to it.

It serves what huggingface_hub 1.x/2.x asks for, as the real Hub answers it:

- ``GET /api/models/{owner}/{name}[/revision/{rev}]`` (``?blobs=true`` adds sizes and LFS info to siblings)
- ``GET /api/models/{owner}/{name}/tree/{rev}[/{path}]?recursive=…`` (the tree listing)
- ``HEAD``/``GET /{owner}/{name}/resolve/{rev}/{path}``: X-Repo-Commit, ETag, Content-Length; LFS files answer
  302 with X-Linked-Size / X-Linked-Etag and a Location on ``/cdn/…``, as the Hub does with its CDN
- ``Range: bytes=a-b`` → 206 with Content-Range; past the end → 416
- error answers with the Hub's X-Error-Code / X-Error-Message headers for designated repos

Every request is logged in ``FakeHub.requests`` so tests can check what the client asked for.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

_RANGE_RE = re.compile(r"bytes=(\d+)-(\d*)$")


@dataclass
class FakeFile:
    """A file in a fake repo: ``data`` are its first bytes; ``size`` (if larger) pads it with zeros."""

    data: bytes
    size: int | None = None
    lfs: bool = True
    listed_size: object = None  # hostile: what the listings claim as the size (0, -5, 1.5, "big"), if set

    @property
    def total(self) -> int:
        return self.size if self.size is not None else len(self.data)

    @property
    def virtual(self) -> bool:
        """Declared much larger than what is held: serving it whole is a test failure."""
        return self.total > len(self.data)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data + self.total.to_bytes(8, "little")).hexdigest()

    @property
    def blob_id(self) -> str:
        return hashlib.sha1(self.data, usedforsecurity=False).hexdigest()

    def read(self, start: int, end: int) -> bytes:
        """Bytes ``start``..``end`` inclusive."""
        head = self.data[start : end + 1]
        return head + bytes(max(0, end + 1 - max(start, len(self.data))))


@dataclass
class FakeRepo:
    files: dict[str, FakeFile] = field(default_factory=dict)
    sha: str = "0123456789abcdef0123456789abcdef01234567"
    branches: tuple[str, ...] = ("main",)
    # Answer every request to this repo with this status and X-Error-Code (e.g. 429, 500, 401 RepoNotFound).
    status: int | None = None
    error_code: str | None = None
    # Files of a gated repo answer 401 (no token) or 403 (wrong token) with X-Error-Code: GatedRepo.
    gated: bool = False
    # A private repo answers 401 RepoNotFound unless the request carries "Authorization: Bearer <token>".
    token: str | None = None
    sizes_in_info: bool = True  # False: model info ignores ?blobs=true, like some mirrors
    ignore_range: bool = False  # True: answer 200 with the whole body, like a server without range support
    delay_s: float = 0.0
    card_data: dict[str, object] | None = None  # the model card's YAML metadata (base_model …), as cardData
    # Hostile answers: the model-info body as raw bytes (deep JSON, wrong types), or accept and never answer.
    info_body: bytes | None = None
    hang: bool = False


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    status: int = 0
    body_bytes: int = 0


class FakeHub:
    """The server: start() binds an ephemeral port on 127.0.0.1; ``url`` is what HF_ENDPOINT should be."""

    def __init__(self) -> None:
        self.repos: dict[str, FakeRepo] = {}
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.release = threading.Event()  # set on stop: frees handlers of a repo that hangs

    # -- lifecycle -------------------------------------------------------------------------------------------
    def start(self) -> FakeHub:
        hub = self

        class Handler(_Handler):
            fake = hub

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        server.handle_error = lambda request, client_address: None  # type: ignore[method-assign]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # -- helpers for tests -----------------------------------------------------------------------------------
    def add_repo(self, repo_id: str, repo: FakeRepo | None = None, **files: FakeFile) -> FakeRepo:
        repo = repo or FakeRepo()
        repo.files.update(files)
        self.repos[repo_id] = repo
        return repo

    def log(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)

    def file_gets(self, suffix: str) -> list[Request]:
        """GET requests (resolve or CDN) that served the file whose path ends with ``suffix``."""
        return [r for r in self.requests if r.method == "GET" and r.path.endswith(suffix)]

    def find_blob(self, sha256: str) -> tuple[FakeRepo, FakeFile] | None:
        for repo in self.repos.values():
            for fake in repo.files.values():
                if fake.sha256 == sha256:
                    return repo, fake
        return None


class _Handler(BaseHTTPRequestHandler):
    fake: FakeHub
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    # -- plumbing --------------------------------------------------------------------------------------------
    def _record(self) -> Request:
        split = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=unquote(split.path),
            query=parse_qs(split.query),
            headers={k.lower(): v for k, v in self.headers.items()},
        )
        self.fake.log(request)
        return request

    def _send(self, request: Request, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        request.status = status
        try:
            self.send_response(status)
            all_headers = {"Content-Length": str(len(body)), **(headers or {})}
            for key, value in all_headers.items():
                self.send_header(key, value)
            self.end_headers()
            if self.command != "HEAD" and body:
                self.wfile.write(body)
                request.body_bytes = len(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _json(
        self, request: Request, payload: object, status: int = 200, headers: dict[str, str] | None = None
    ) -> None:
        body = json.dumps(payload).encode()
        self._send(request, status, body, {"Content-Type": "application/json", **(headers or {})})

    def _error(self, request: Request, status: int, code: str | None, message: str) -> None:
        headers = {"X-Error-Message": message}
        if code:
            headers["X-Error-Code"] = code
        if status == 429:
            headers["RateLimit"] = '"api";r=0;t=55'
            headers["RateLimit-Policy"] = '"fixed window";"api";q=500;w=300'
        self._json(request, {"error": message}, status, headers)

    # -- routing ---------------------------------------------------------------------------------------------
    def do_HEAD(self) -> None:
        self._route()

    def do_GET(self) -> None:
        self._route()

    def _route(self) -> None:
        request = self._record()
        try:
            self._dispatch(request)
        except Exception as exc:  # a bug in the fake must show up as a 500, not a hung client
            self._error(request, 500, None, f"fake hub bug: {exc!r}")

    def _dispatch(self, request: Request) -> None:
        parts = [unquote(p) for p in urlsplit(self.path).path.split("/")[1:]]
        if parts[:1] == ["cdn"] and len(parts) >= 2:
            found = self.fake.find_blob(parts[1])
            if found is None:
                self._error(request, 404, None, "blob not found")
            else:
                # The real CDN is another host, where huggingface_hub stops following; this one is the same
                # host, so it repeats the commit and etag headers the client then looks for.
                repo, fake = found
                self._serve_bytes(request, fake, {"X-Repo-Commit": repo.sha, "ETag": f'"{fake.sha256}"'})
            return
        if parts[:2] == ["api", "models"] and len(parts) >= 4:
            repo_id = f"{parts[2]}/{parts[3]}"
            rest = parts[4:]
            repo = self._repo(request, repo_id, api=True)
            if repo is None:
                return
            if not rest:
                self._model_info(request, repo_id, repo, "main")
            elif rest[0] == "revision" and len(rest) >= 2:
                self._model_info(request, repo_id, repo, "/".join(rest[1:]))
            elif rest[0] == "tree" and len(rest) >= 2:
                self._tree(request, repo, rest[1], "/".join(rest[2:]))
            else:
                self._error(request, 404, None, "unknown api path")
            return
        if len(parts) >= 5 and parts[2] == "resolve":
            repo_id = f"{parts[0]}/{parts[1]}"
            repo = self._repo(request, repo_id, api=False)
            if repo is not None:
                self._resolve(request, repo_id, repo, parts[3], "/".join(parts[4:]))
            return
        self._error(request, 404, None, "not found")

    def _repo(self, request: Request, repo_id: str, *, api: bool) -> FakeRepo | None:
        repo = self.fake.repos.get(repo_id)
        if repo is None:
            # Authenticated callers get 404 for a missing repo; the Hub gives anonymous ones 401 (as private).
            self._error(request, 404, "RepoNotFound", "Repository not found")
            return None
        if repo.hang:
            self.fake.release.wait(60)  # accepted, never answered (until the test ends)
            return None
        if repo.delay_s:
            time.sleep(repo.delay_s)
        if repo.status is not None:
            self._error(request, repo.status, repo.error_code, f"forced {repo.status}")
            return None
        auth = request.headers.get("authorization")
        if repo.token is not None and auth != f"Bearer {repo.token}":
            self._error(request, 401, "RepoNotFound", "Invalid username or password.")
            return None
        if repo.gated and not api and auth is None:
            self._error(request, 401, "GatedRepo", f"Access to model {repo_id} is restricted. Please log in.")
            return None
        if repo.gated and not api:
            self._error(
                request,
                403,
                "GatedRepo",
                f"Access to model {repo_id} is restricted and you are not in the authorized list.",
            )
            return None
        return repo

    def _revision_ok(self, request: Request, repo: FakeRepo, revision: str) -> bool:
        if revision in repo.branches or revision == repo.sha:
            return True
        self._error(request, 404, "RevisionNotFound", f"Invalid rev id: {revision}")
        return False

    # -- endpoints -------------------------------------------------------------------------------------------
    def _model_info(self, request: Request, repo_id: str, repo: FakeRepo, revision: str) -> None:
        if not self._revision_ok(request, repo, revision):
            return
        if repo.info_body is not None:
            self._send(request, 200, repo.info_body, {"Content-Type": "application/json"})
            return
        blobs = request.query.get("blobs", [""])[0].lower() == "true" and repo.sizes_in_info
        base = (repo.card_data or {}).get("base_model")
        base_tags = [f"base_model:{base}"] if isinstance(base, str) else []  # the Hub tags what the card names
        siblings = []
        for path, fake in sorted(repo.files.items()):
            sibling: dict[str, object] = {"rfilename": path}
            if blobs:
                listed = fake.total if fake.listed_size is None else fake.listed_size
                sibling["size"] = listed
                sibling["blobId"] = fake.blob_id
                if fake.lfs:
                    sibling["lfs"] = {"size": listed, "sha256": fake.sha256, "pointerSize": 134}
            siblings.append(sibling)
        self._json(
            request,
            {"id": repo_id, "modelId": repo_id, "sha": repo.sha, "private": repo.token is not None,
             "gated": "manual" if repo.gated else False, "siblings": siblings, "tags": ["gguf", *base_tags],
             **({"cardData": repo.card_data} if repo.card_data is not None else {})},
        )  # fmt: skip

    def _tree(self, request: Request, repo: FakeRepo, revision: str, folder: str) -> None:
        if not self._revision_ok(request, repo, revision):
            return
        recursive = request.query.get("recursive", ["false"])[0].lower() == "true"
        prefix = f"{folder}/" if folder else ""
        entries: list[dict[str, object]] = []
        folders: set[str] = set()
        for path, fake in sorted(repo.files.items()):
            if not path.startswith(prefix):
                continue
            rest = path[len(prefix) :]
            if "/" in rest and not recursive:
                folders.add(prefix + rest.split("/", 1)[0])
                continue
            if recursive:
                bits = path.split("/")
                folders.update("/".join(bits[:i]) for i in range(1, len(bits)) if "/".join(bits[:i]).startswith(prefix))
            entry: dict[str, object] = {"type": "file", "oid": fake.blob_id, "size": fake.total, "path": path}
            if fake.lfs:
                entry["lfs"] = {"oid": fake.sha256, "size": fake.total, "pointerSize": 134}
            entries.append(entry)
        entries += [{"type": "directory", "oid": "0" * 40, "size": 0, "path": f} for f in sorted(folders)]
        self._json(request, entries)

    def _resolve(self, request: Request, repo_id: str, repo: FakeRepo, revision: str, path: str) -> None:
        if not self._revision_ok(request, repo, revision):
            return
        fake = repo.files.get(path)
        common = {"X-Repo-Commit": repo.sha}
        if fake is None:
            self._error(request, 404, "EntryNotFound", f"{path} does not exist on {revision}")
            return
        if fake.lfs:
            # The Hub sends LFS files to its CDN with a 302 that carries the linked size and etag.
            headers = {
                **common,
                "Location": f"/cdn/{fake.sha256}",
                "X-Linked-Size": str(fake.total),
                "X-Linked-Etag": f'"{fake.sha256}"',
                "ETag": f'"{fake.blob_id}"',
            }
            self._send(request, 302, b"", headers)
            return
        self._serve_bytes(request, fake, {**common, "ETag": f'"{fake.blob_id}"'})

    def _serve_bytes(self, request: Request, fake: FakeFile, headers: dict[str, str]) -> None:
        total = fake.total
        range_header = request.headers.get("range")
        repo_ignores_range = any(
            f is fake and r.ignore_range for r in self.fake.repos.values() for f in r.files.values()
        )
        headers = {**headers, "Accept-Ranges": "bytes", "Content-Type": "application/octet-stream"}
        if range_header and not repo_ignores_range:
            match = _RANGE_RE.match(range_header.strip())
            if match is None:
                self._send(request, 416, b"", {**headers, "Content-Range": f"bytes */{total}"})
                return
            start = int(match.group(1))
            end = min(int(match.group(2)) if match.group(2) else total - 1, total - 1)
            if start >= total:
                self._send(request, 416, b"", {**headers, "Content-Range": f"bytes */{total}"})
                return
            body = fake.read(start, end) if self.command == "GET" else b""
            headers["Content-Range"] = f"bytes {start}-{end}/{total}"
            request.status = 206
            self._send_sized(request, 206, body, end - start + 1, headers)
            return
        if fake.virtual and self.command == "GET":
            # A client asking for the whole of a big file is exactly what must never happen.
            self._error(request, 500, None, "fake hub refuses to send a whole virtual file")
            return
        body = fake.read(0, total - 1) if self.command == "GET" else b""
        self._send_sized(request, 200, body, total, headers)

    def _send_sized(self, request: Request, status: int, body: bytes, length: int, headers: dict[str, str]) -> None:
        request.status = status
        try:
            self.send_response(status)
            for key, value in {**headers, "Content-Length": str(length)}.items():
                self.send_header(key, value)
            self.end_headers()
            if self.command == "GET":
                view = memoryview(body)
                for offset in range(0, len(body), 65536):
                    self.wfile.write(view[offset : offset + 65536])
                    request.body_bytes += len(view[offset : offset + 65536])
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
