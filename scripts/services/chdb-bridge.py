#!/usr/bin/env python3
"""A small HTTP front for chdb: a current ClickHouse engine (PyPI chdb-core, 26.x) that runs
in-process and has no server of its own. It speaks the part of ClickHouse's HTTP interface that
@clickhouse/client (1.x) and curl use, so the dedup-lab connector talks to it as to a server:

  GET  /ping, GET /                 -> "Ok.\\n"
  GET|POST /?query=SQL              -> the query from the URL (a POST body is appended, or is the
                                       data of an `INSERT … FORMAT <fmt>`: spooled to a file and
                                       inserted with `INSERT … FROM INFILE`)
  POST / with the query as the body -> the query (`INSERT … FORMAT <fmt>\\n<data>` also works)
  other URL parameters              -> settings for that query (SET before, SET … = DEFAULT after),
                                       except the HTTP-only ones (query_id, database, session_id,
                                       default_format, …); param_<name> -> query parameters
  Authorization: Basic, X-ClickHouse-User/-Key headers, or user/password parameters -> checked
                                       against --users (a JSON file: user -> sha256 hex of the password)
  Transfer-Encoding: chunked bodies, Content-Encoding gzip/deflate request bodies, gzip responses
  when enable_http_compression=1 and the client accepts it.

Responses carry X-ClickHouse-Query-Id, -Format, -Timezone, -Server-Display-Name and -Summary;
errors answer with the engine's own "Code: N. DB::Exception: … (NAME) (version …)" text and
X-ClickHouse-Exception-Code, as a server does. One chdb Session (persistent, in --data) serves
every request; requests receive their bodies concurrently, and queries run one at a time.
Listens on 127.0.0.1 only. Standard library + chdb.
"""
from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import chdb
import chdb.session

# URL parameters the HTTP handler of a ClickHouse server consumes itself (not settings).
HTTP_PARAMS = {
    "query", "query_id", "database", "default_format", "session_id", "session_timeout", "session_check",
    "role", "user", "password", "quota_key", "compress", "decompress", "buffer_size", "wait_end_of_query",
    "stacktrace", "default_database",
}
INSERT_WITH_FORMAT = re.compile(r"^\s*INSERT\s+INTO\b(?P<head>.*?)\bFORMAT\s+(?P<fmt>\w+)\s*;?\s*$", re.I | re.S)
INSERT_BODY = re.compile(rb"^(?P<q>\s*INSERT\s+INTO\b.*?\bFORMAT\s+\w+)[ \t]*\r?\n(?P<data>.*)$", re.I | re.S)
FORMAT_CLAUSE = re.compile(r"\bFORMAT\s+(\w+)\s*;?\s*$", re.I)
SETTING_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
CODE = re.compile(r"Code: (\d+)")
MEMORY_BODY_LIMIT = 16 << 20  # non-INSERT bodies (query text) are kept in memory up to this size

CONTENT_TYPES = {
    "JSON": "application/json; charset=UTF-8",
    "JSONCompact": "application/json; charset=UTF-8",
    "JSONEachRow": "application/x-ndjson; charset=UTF-8",
    "JSONCompactEachRow": "application/x-ndjson; charset=UTF-8",
    "CSV": "text/csv; charset=UTF-8; header=absent",
    "CSVWithNames": "text/csv; charset=UTF-8; header=present",
}


class QueryError(Exception):
    def __init__(self, message: str, status: int = 500):
        super().__init__(message)
        self.status = status


def status_for(code: int) -> int:
    # what ClickHouse's HTTP handler answers for the common codes
    if code in (192, 193, 194, 516):
        return 401
    if code in (497,):
        return 403
    if code in (60, 81):
        return 404
    if code in (62, 115, 456, 27, 26):
        return 400
    return 500


def sql_value(v: str) -> str:
    if re.fullmatch(r"-?\d+(\.\d+)?", v):
        return v
    return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"


class Engine:
    """The one chdb Session, used by one query at a time."""

    def __init__(self, data_dir: str):
        self.session = chdb.session.Session(data_dir)
        self.lock = threading.Lock()
        self.version = self._raw("SELECT version()", "TabSeparated").bytes().decode().strip()

    def _raw(self, sql: str, fmt: str, params=None):
        return self.session.query(sql, fmt, params=params) if params else self.session.query(sql, fmt)

    def run(self, sql: str, fmt: str, settings: dict[str, str], database: str | None, params: dict[str, str]):
        with self.lock:
            applied: list[str] = []
            try:
                if database:
                    self._raw(f"USE `{database.replace('`', '``')}`", "TabSeparated")
                for k, v in settings.items():
                    if not SETTING_NAME.match(k):
                        raise QueryError(f"Code: 115. DB::Exception: Unknown setting '{k}'. (UNKNOWN_SETTING)", 400)
                    self._raw(f"SET {k} = {sql_value(v)}", "TabSeparated")
                    applied.append(k)
                return self._raw(sql, fmt, params or None)
            finally:
                for k in applied:
                    try:
                        self._raw(f"SET {k} = DEFAULT", "TabSeparated")
                    except Exception as e:  # noqa: BLE001 - a failed reset must not hide the answer
                        print(f"chdb-bridge: could not reset setting {k}: {e}", file=sys.stderr)
                if database:
                    try:
                        self._raw("USE default", "TabSeparated")
                    except Exception:  # noqa: BLE001
                        pass

    def close(self):
        with self.lock:
            self.session.close()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "chdb-bridge"
    engine: Engine
    users: dict[str, str]
    spool_dir: str
    quiet = True

    def log_message(self, format, *args):  # noqa: A002 - BaseHTTPRequestHandler's name
        if not self.quiet:
            super().log_message(format, *args)

    # ---- request bodies --------------------------------------------------------------------

    def _raw_chunks(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise QueryError("Code: 33. DB::Exception: Unexpected end of chunked body. (CANNOT_READ_ALL_DATA)", 400)
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return
                left = size
                while left:
                    b = self.rfile.read(min(left, 1 << 20))
                    if not b:
                        raise QueryError("Code: 33. DB::Exception: Unexpected end of chunked body. (CANNOT_READ_ALL_DATA)", 400)
                    left -= len(b)
                    yield b
                self.rfile.readline(3)
        else:
            left = int(self.headers.get("Content-Length") or 0)
            while left:
                b = self.rfile.read(min(left, 1 << 20))
                if not b:
                    raise QueryError("Code: 33. DB::Exception: Unexpected end of body. (CANNOT_READ_ALL_DATA)", 400)
                left -= len(b)
                yield b

    def _body_chunks(self):
        enc = (self.headers.get("Content-Encoding") or "").lower().strip()
        if enc in ("", "identity"):
            yield from self._raw_chunks()
            return
        if enc not in ("gzip", "deflate"):
            # drain so the connection stays usable, then refuse
            for _ in self._raw_chunks():
                pass
            raise QueryError(f"Code: 48. DB::Exception: Content-Encoding {enc} is not supported by chdb-bridge. (NOT_IMPLEMENTED)", 400)
        d = zlib.decompressobj(47)  # gzip or zlib header
        for b in self._raw_chunks():
            out = d.decompress(b)
            if out:
                yield out
        tail = d.flush()
        if tail:
            yield tail

    def _body_to_memory(self) -> bytes:
        parts, n = [], 0
        for b in self._body_chunks():
            n += len(b)
            if n > MEMORY_BODY_LIMIT:
                raise QueryError("Code: 62. DB::Exception: Query body too large for chdb-bridge. (SYNTAX_ERROR)", 400)
            parts.append(b)
        return b"".join(parts)

    def _body_to_file(self, first: bytes = b"") -> tuple[str, int]:
        fd, path = tempfile.mkstemp(prefix="insert-", suffix=".bin", dir=self.spool_dir)
        n = 0
        with os.fdopen(fd, "wb") as f:
            if first:
                f.write(first)
                n += len(first)
            for b in self._body_chunks():
                f.write(b)
                n += len(b)
        return path, n

    def _body_to_file_empty(self) -> tuple[str, int]:
        fd, path = tempfile.mkstemp(prefix="insert-", suffix=".bin", dir=self.spool_dir)
        os.close(fd)
        return path, 0

    def _has_body(self) -> bool:
        return "chunked" in (self.headers.get("Transfer-Encoding") or "").lower() or int(self.headers.get("Content-Length") or 0) > 0

    # ---- auth --------------------------------------------------------------------------------

    def _credentials(self, params: dict[str, str]) -> tuple[str, str]:
        auth = self.headers.get("Authorization") or ""
        if auth.lower().startswith("basic "):
            try:
                user, _, pw = base64.b64decode(auth[6:].strip()).decode("utf-8").partition(":")
                return user, pw
            except (ValueError, UnicodeDecodeError):
                return "", ""
        if self.headers.get("X-ClickHouse-User"):
            return self.headers["X-ClickHouse-User"], self.headers.get("X-ClickHouse-Key") or ""
        return params.get("user", "default"), params.get("password", "")

    def _authorised(self, params: dict[str, str]) -> str | None:
        user, pw = self._credentials(params)
        want = self.users.get(user)
        got = hashlib.sha256(pw.encode("utf-8")).hexdigest()
        if want is not None and hmac.compare_digest(want, got):
            return None
        return (f"Code: 516. DB::Exception: {user}: Authentication failed: password is incorrect, or there is no user with "
                f"such name. (AUTHENTICATION_FAILED)")

    # ---- responses -----------------------------------------------------------------------------

    def _send(self, status: int, body: bytes, headers: dict[str, str], allow_gzip: bool = False):
        if allow_gzip and body and "gzip" in (self.headers.get("Accept-Encoding") or "").lower():
            body = gzip.compress(body, 1)
            headers["Content-Encoding"] = "gzip"
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Keep-Alive", "timeout=10")
        self.send_header("X-ClickHouse-Server-Display-Name", "chdb-bridge")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, message: str, status: int, query_id: str):
        m = CODE.search(message)
        code = m.group(1) if m else "1000"
        text = message.strip()
        if "(version " not in text:
            text += f" (version {self.engine.version})"
        self._send(status, (text + "\n").encode("utf-8"), {
            "Content-Type": "text/plain; charset=UTF-8",
            "X-ClickHouse-Exception-Code": code,
            "X-ClickHouse-Query-Id": query_id,
        })

    # ---- methods -----------------------------------------------------------------------------

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        self._handle()

    def do_POST(self):
        self._handle()

    def do_PUT(self):  # curl -T
        self._handle()

    def _handle(self):
        url = urlsplit(self.path)
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        query_id = params.get("query_id") or str(uuid.uuid4())
        spooled = None
        try:
            if url.path in ("/ping", "/") and "query" not in params and not (self.command in ("POST", "PUT") and self._has_body()):
                self._send(200, b"Ok.\n", {"Content-Type": "text/html; charset=UTF-8"})
                return
            if url.path not in ("/", "/query"):
                for _ in self._raw_chunks():
                    pass
                self._send(404, b"There is no handle " + url.path.encode() + b"\n", {"Content-Type": "text/plain; charset=UTF-8"})
                return
            denied = self._authorised(params)
            if denied:
                for _ in self._raw_chunks():
                    pass
                raise QueryError(denied, 401)

            sql = params.get("query", "")
            post_body = self.command in ("POST", "PUT") and self._has_body()
            m = INSERT_WITH_FORMAT.match(sql) if sql else None
            if m:
                # the data of INSERT … FORMAT: the body (none = no rows; the engine must never read its own stdin)
                spooled, _ = self._body_to_file() if post_body else self._body_to_file_empty()
                sql = f"INSERT INTO{m.group('head')} FROM INFILE {sql_value(spooled)} FORMAT {m.group('fmt')}"
            elif post_body:
                body = self._body_to_memory()
                if sql:
                    sql = sql + "\n" + body.decode("utf-8")
                else:
                    bm = INSERT_BODY.match(body)
                    if bm and bm.group("data").strip():
                        fd, spooled = tempfile.mkstemp(prefix="insert-", suffix=".bin", dir=self.spool_dir)
                        with os.fdopen(fd, "wb") as f:
                            f.write(bm.group("data"))
                        im = INSERT_WITH_FORMAT.match(bm.group("q").decode("utf-8"))
                        sql = f"INSERT INTO{im.group('head')} FROM INFILE {sql_value(spooled)} FORMAT {im.group('fmt')}"
                    else:
                        sql = body.decode("utf-8")
            if not sql.strip():
                raise QueryError("Code: 62. DB::Exception: Empty query. (SYNTAX_ERROR)", 400)

            settings = {k: v for k, v in params.items() if k not in HTTP_PARAMS and not k.startswith("param_")}
            qparams = {k[6:]: v for k, v in params.items() if k.startswith("param_")}
            fmt = params.get("default_format") or "TabSeparated"
            fm = FORMAT_CLAUSE.search(sql)
            shown_format = fm.group(1) if fm else fmt
            gzip_ok = settings.get("enable_http_compression") == "1"
            started = time.monotonic_ns()
            try:
                r = self.engine.run(sql, fmt, settings, params.get("database") or params.get("default_database"), qparams)
            except QueryError:
                raise
            except Exception as e:  # noqa: BLE001 - chdb raises ChdbError/RuntimeError with the engine's text
                msg = str(e)
                cm = CODE.search(msg)
                raise QueryError(msg, status_for(int(cm.group(1))) if cm else 500) from None
            body = r.bytes() or b""
            summary = {
                "read_rows": str(r.rows_read()),
                "read_bytes": str(r.bytes_read()),
                "written_rows": str(getattr(r, "rows_written", lambda: 0)() or 0),
                "written_bytes": str(getattr(r, "bytes_written", lambda: 0)() or 0),
                "total_rows_to_read": "0",
                "result_rows": "0",
                "result_bytes": str(len(body)),
                "elapsed_ns": str(time.monotonic_ns() - started),
            }
            self._send(200, body, {
                "Content-Type": CONTENT_TYPES.get(shown_format, "text/tab-separated-values; charset=UTF-8"),
                "X-ClickHouse-Query-Id": query_id,
                "X-ClickHouse-Format": shown_format,
                "X-ClickHouse-Timezone": "UTC",
                "X-ClickHouse-Summary": json.dumps(summary, separators=(",", ":")),
            }, allow_gzip=gzip_ok)
        except QueryError as e:
            self._error(str(e), e.status, query_id)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            if spooled:
                try:
                    os.unlink(spooled)
                except OSError:
                    pass


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--data", required=True, help="directory of the persistent chdb session")
    ap.add_argument("--users", required=True, help="JSON file: {user: sha256-hex of the password}")
    ap.add_argument("--pid-file")
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args()

    with open(a.users, encoding="utf-8") as f:
        users = json.load(f)
    os.makedirs(a.data, exist_ok=True)
    spool = os.path.join(os.path.dirname(os.path.abspath(a.data)), "spool")
    os.makedirs(spool, exist_ok=True)
    for leftover in os.listdir(spool):
        os.unlink(os.path.join(spool, leftover))

    engine = Engine(os.path.abspath(a.data))
    Handler.engine = engine
    Handler.users = users
    Handler.spool_dir = os.path.abspath(spool)
    Handler.quiet = not a.verbose
    ThreadingHTTPServer.request_queue_size = 128  # one connection per concurrent INSERT stream and more
    server = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    server.daemon_threads = True

    def stop(signum, _frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if a.pid_file:
        with open(a.pid_file, "w", encoding="utf-8") as f:
            f.write(f"{os.getpid()}\n")
    print(f"chdb-bridge: ClickHouse {engine.version} (chdb {getattr(chdb, '__version__', '?')}) on http://127.0.0.1:{a.port}, "
          f"data {a.data}", file=sys.stderr, flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        engine.close()
        if a.pid_file:
            try:
                os.unlink(a.pid_file)
            except OSError:
                pass
        shutil.rmtree(spool, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
