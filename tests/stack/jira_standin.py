#!/usr/bin/env python3
"""A small Jira Data Center stand-in (REST v2 shapes) behind a real API gateway.

It checks no token itself: the gateway in front of it (Apache httpd + mod_oauth2, started by
scripts/stack.sh) validates the bearer token with the authorization server's RFC 7662
introspection and passes the user name in the X-Authenticated-User field, having removed any
such field a client sent. A request without that field (one that did not come through the
gateway) is refused with 401. The stand-in listens on 127.0.0.1 only. TEST ONLY.

Environment:
  JIRA_PORT (18091)  JIRA_CONTEXT ("" or e.g. /jira)  JIRA_BASE_URL (the gateway's URL + context:
  `self` links point there)  JIRA_USER_HEADER (X-Authenticated-User)  JIRA_WORKERS (1; >1 forks
  processes sharing the socket, for benchmarks only: state and /test/stats are then per process)
  JIRA_LOG (0)  JIRA_DATA_DIR (attachments; default: a temp dir)
Test-only, unauthenticated, at the root (the gateway passes these four through without a token):
GET /test/stats, POST /test/reset-stats, POST /test/reject-all (body 1/0), POST /test/reject-token
(body: a token refused from now on with 401 invalid_token, as after a key rotation at the gateway).
"""
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlsplit

import jira_agile  # boards, sprints, rank, workflow, comments (tests/stack/jira_agile.py)

PORT = int(os.environ.get("JIRA_PORT", "18091"))
CONTEXT = os.environ.get("JIRA_CONTEXT", "").rstrip("/")
BASE_URL = os.environ.get("JIRA_BASE_URL", f"http://127.0.0.1:{PORT}{CONTEXT}").rstrip("/")
API = BASE_URL + "/rest/api/2"
USER_HEADER = os.environ.get("JIRA_USER_HEADER", "X-Authenticated-User")
LOG = os.environ.get("JIRA_LOG", "0") == "1"
DATA_DIR = os.environ.get("JIRA_DATA_DIR") or tempfile.mkdtemp(prefix="jira-standin.")
CHUNK = 64 * 1024

USERS = {"alice": {"name": "alice", "key": "JIRAUSER10000", "displayName": "Alice Example",
                   "emailAddress": "alice@example.test"}}
_PAD = 1024 - len(json.dumps({"bench": True, "pad": ""}))
BENCH_BODY = json.dumps({"bench": True, "pad": "x" * _PAD}).encode()  # exactly 1 KiB
assert len(BENCH_BODY) == 1024, len(BENCH_BODY)


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


# --- state -------------------------------------------------------------------------------------
class Store:
    """Issues of project DEMO, attachments, and gateway statistics; one lock for all of it."""

    def __init__(self):
        self.lock = threading.Lock()
        self.issues: dict[str, dict] = {}
        self.next_issue = 10001
        self.attachments: dict[str, dict] = {}
        self.next_attachment = 10100
        self.reset_stats()
        for summary, status, sprints in jira_agile.SEED_ISSUES:
            self.create("DEMO", summary, "Seeded by the stand-in.", "alice", status, sprints)

    def reset_stats(self):
        # What reached the stand-in (the gateway stops requests without a valid token):
        # valid = with the gateway's user field, rejected = refused by /test/reject-*,
        # none = without the user field (did not come through the gateway).
        self.auth = {"none": 0, "rejected": 0, "valid": 0}
        self.rejected: set[str] = set()
        self.reject_all = False
        self.token_hashes: set[str] = set()

    def create(self, project: str, summary: str, description: str, user: str,
               status: str = jira_agile.TO_DO, sprints: list | tuple = ()) -> dict:
        """A new issue; it ranks last (agile fields: jira_agile's module docstring)."""
        with self.lock:
            iid = str(self.next_issue)
            self.next_issue += 1
            key = f"{project}-{sum(1 for i in self.issues.values() if i['project'] == project) + 1}"
            issue = {"id": iid, "key": key, "project": project, "summary": summary,
                     "description": description, "reporter": user, "created": now_iso(),
                     "updated": now_iso(), "attachments": [], "status": status, "sprints": list(sprints),
                     "rank": max((i["rank"] for i in self.issues.values()), default=0) + jira_agile.RANK_GAP,
                     "comments": []}
            self.issues[iid] = issue
            return issue

    def find(self, key_or_id: str) -> dict | None:
        with self.lock:
            if key_or_id in self.issues:
                return self.issues[key_or_id]
            return next((i for i in self.issues.values() if i["key"] == key_or_id.upper()), None)


STORE = Store()
PROJECTS = {"DEMO": {"id": "10000", "key": "DEMO", "name": "Demo project"}}
ISSUE_TYPE = {"id": "10002", "name": "Task", "subtask": False, "description": "A task.",
              "self": f"{API}/issuetype/10002"}


def user_json(name: str) -> dict:
    u = USERS.get(name, {"name": name, "key": name, "displayName": name, "emailAddress": f"{name}@example.test"})
    return {"self": f"{API}/user?username={quote(name)}", **u, "active": True, "timeZone": "UTC",
            "avatarUrls": {}, "locale": "en_US"}


def project_json(key: str) -> dict:
    p = PROJECTS[key]
    return {"self": f"{API}/project/{p['id']}", **p, "projectTypeKey": "software", "issueTypes": [ISSUE_TYPE]}


def attachment_json(a: dict) -> dict:
    return {"self": f"{API}/attachment/{a['id']}", "id": a["id"], "filename": a["filename"],
            "author": user_json(a["author"]), "created": a["created"], "size": a["size"],
            "mimeType": a["mimeType"], "sha256": a["sha256"],
            "content": f"{BASE_URL}/secure/attachment/{a['id']}/{quote(a['filename'])}"}


def issue_json(i: dict) -> dict:
    return {"expand": "renderedFields,names,schema", "id": i["id"], "key": i["key"],
            "self": f"{API}/issue/{i['id']}",
            "fields": {"summary": i["summary"], "description": i["description"],
                       "project": {k: v for k, v in project_json(i["project"]).items() if k != "issueTypes"},
                       "issuetype": ISSUE_TYPE,
                       "reporter": user_json(i["reporter"]), "created": i["created"], "updated": i["updated"],
                       "attachment": [attachment_json(STORE.attachments[a]) for a in i["attachments"]],
                       **AGILE.issue_fields(i)}}


AGILE = jira_agile.Agile(STORE, BASE_URL, user_json, issue_json, PROJECTS)


FIELDS = [{"id": f, "key": f, "name": n, "custom": False, "orderable": True, "navigable": True,
           "searchable": True, "clauseNames": [f], "schema": {"type": t, "system": f}}
          for f, n, t in [("summary", "Summary", "string"), ("description", "Description", "string"),
                          ("project", "Project", "project"), ("issuetype", "Issue Type", "issuetype"),
                          ("status", "Status", "status"), ("reporter", "Reporter", "user"),
                          ("attachment", "Attachment", "array")]] + jira_agile.FIELDS


# --- HTTP --------------------------------------------------------------------------------------
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "JiraStandin/1"
    disable_nagle_algorithm = True  # headers and body are separate writes: avoid 40 ms stalls

    def log_message(self, fmt, *args):
        if LOG:
            super().log_message(fmt, *args)

    # responses
    def send_json(self, status: int, obj, headers: dict | None = None):
        body = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if self.command != "HEAD":  # head and body in one write (one packet for small bodies)
            self._headers_buffer.extend([b"\r\n", body])
            self.flush_headers()
        else:
            self.end_headers()

    def send_empty(self, status: int):
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def error(self, status: int, message: str, headers: dict | None = None):
        self.discard_body()
        self.send_json(status, {"errorMessages": [message], "errors": {}}, headers)

    # request bodies
    def body_chunks(self):
        """Yields the request body in chunks (Content-Length or chunked), reading it exactly once."""
        if self._body_read:
            return
        self._body_read = True
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return
                left = size
                while left:
                    data = self.rfile.read(min(left, CHUNK))
                    if not data:
                        raise ConnectionError("body ended early")
                    left -= len(data)
                    yield data
                self.rfile.readline()
        else:
            left = int(self.headers.get("Content-Length") or 0)
            while left > 0:
                data = self.rfile.read(min(left, CHUNK))
                if not data:
                    raise ConnectionError("body ended early")
                left -= len(data)
                yield data

    def discard_body(self):
        try:
            for _ in self.body_chunks():
                pass
        except (ConnectionError, ValueError):
            self.close_connection = True

    def json_body(self) -> dict:
        raw = b"".join(self.body_chunks())
        return json.loads(raw) if raw else {}

    # dispatch
    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_DELETE = do_HEAD = do_GET

    def dispatch(self):
        self._body_read = False  # one handler instance serves every request of a connection
        url = urlsplit(self.path)
        path, self.query = url.path, parse_qs(url.query)
        if path in ("/test/stats", "/test/reset-stats"):
            return self.test_stats(path)
        if path == "/test/reject-all" and self.command == "POST":
            # Body "1": every bearer token is refused with 401 invalid_token, as a gateway
            # whose token check is broken would; "0" ends it.
            flag = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode().strip()
            self._body_read = True
            with STORE.lock:
                STORE.reject_all = flag == "1"
            return self.send_json(200, {"reject_all": flag == "1"})
        if path == "/test/reject-token" and self.command == "POST":
            token = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode().strip()
            self._body_read = True
            with STORE.lock:
                STORE.rejected.add(hashlib.sha256(token.encode()).hexdigest())
            return self.send_json(200, {"rejected": 1})
        if CONTEXT:
            if not (path == CONTEXT or path.startswith(CONTEXT + "/")):
                return self.error(404, "Not under the context path " + CONTEXT)
            path = path[len(CONTEXT):]
        self.user = self.authenticate()
        if self.user is None:
            return
        for method, pattern, handler in ROUTES:
            m = re.fullmatch(pattern, path)
            if m and (self.command == method or (method == "GET" and self.command == "HEAD")):
                try:
                    return handler(self, *m.groups())
                except (ValueError, KeyError) as e:
                    return self.error(400, f"Bad request: {e}")
        self.log_error("no route: %s %s", self.command, path)
        self.error(404, "No route: " + path)

    def authenticate(self) -> str | None:
        """The user the gateway authenticated, or None after answering 401."""
        user = self.headers.get(USER_HEADER, "").strip()
        scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
        token = token.strip() if scheme.lower() == "bearer" else ""
        digest = hashlib.sha256(token.encode()).hexdigest() if token else None
        status = "valid" if user else "none"
        if user and (STORE.reject_all or digest in STORE.rejected):
            status = "rejected"
        with STORE.lock:
            STORE.auth[status] += 1
            if digest and user:
                STORE.token_hashes.add(digest)  # tokens the gateway let through
        if status == "valid":
            return user
        if status == "none":  # RFC 6750 §3.1: no error code when no credentials were sent
            self.error(401, "You are not authenticated. Authentication required to perform this operation.",
                       {"WWW-Authenticate": 'Bearer realm="jira"'})
        else:
            self.error(401, "You are not authenticated. Authentication required to perform this operation.",
                       {"WWW-Authenticate": 'Bearer realm="jira", error="invalid_token"'})
        return None

    # test-only
    def test_stats(self, path: str):
        self.discard_body()
        with STORE.lock:
            if path == "/test/reset-stats":
                if self.command != "POST":
                    return self.error(405, "POST only")
                STORE.reset_stats()
            out = {"authorization": dict(STORE.auth), "token_sha256": sorted(STORE.token_hashes)}
        self.send_json(200, out)

    # Jira REST
    def server_info(self):
        self.send_json(200, {"baseUrl": BASE_URL, "version": "9.12.0", "versionNumbers": [9, 12, 0],
                             "deploymentType": "Server", "buildNumber": 912000, "buildDate": "2024-01-01T00:00:00.000+0000",
                             "serverTime": now_iso(), "scmInfo": "standin", "serverTitle": "Jira stand-in"})

    def myself(self):
        self.send_json(200, user_json(self.user))

    def bench(self):
        self.send_json(200, BENCH_BODY)

    def fields(self):
        self.send_json(200, FIELDS)

    def project(self, key):
        key = next((k for k, p in PROJECTS.items() if key in (k, p["id"])), None)
        if not key:
            return self.error(404, "No project could be found.")
        self.send_json(200, project_json(key))

    def projects(self):
        self.send_json(200, [project_json(k) for k in PROJECTS])

    def issue_types(self, _project=None):
        self.send_json(200, {"maxResults": 50, "startAt": 0, "total": 1, "isLast": True, "values": [ISSUE_TYPE]}
                       if _project else [ISSUE_TYPE])

    def get_issue(self, key):
        issue = STORE.find(key)
        if not issue:
            return self.error(404, "Issue does not exist or you do not have permission to see it.")
        self.send_json(200, issue_json(issue))

    def put_issue(self, key):
        body = self.json_body()
        issue = STORE.find(key)
        if not issue:
            return self.error(404, "Issue does not exist or you do not have permission to see it.")
        fields = dict(body.get("fields") or {})
        for name, ops in (body.get("update") or {}).items():
            for op in ops:
                if "set" in op:
                    fields[name] = op["set"]
        with STORE.lock:
            for name in ("summary", "description"):
                if name in fields:
                    issue[name] = fields[name]
            issue["updated"] = now_iso()
        self.send_empty(204)

    def create_issue(self):
        fields = self.json_body().get("fields") or {}
        p = fields.get("project") or {}
        key = next((k for k, v in PROJECTS.items() if p.get("key") == k or p.get("id") == v["id"]), None)
        if not key or not fields.get("summary"):
            return self.send_json(400, {"errorMessages": [], "errors": {"project" if not key else "summary": "required"}})
        issue = STORE.create(key, fields["summary"], fields.get("description", ""), self.user)
        self.send_json(201, {"id": issue["id"], "key": issue["key"], "self": f"{API}/issue/{issue['id']}"})

    def search(self):
        q = {k: v[0] for k, v in self.query.items()}
        if self.command == "POST":
            q.update(self.json_body())
        m = re.fullmatch(r"\s*project\s*=\s*\"?(\w+)\"?\s*(order by .*)?", q.get("jql") or "", re.I)
        if (q.get("jql") or "").strip() and not m:
            return self.send_json(400, {"errorMessages": ["Only 'project = X' is supported here."], "errors": {}})
        with STORE.lock:
            hits = [i for i in STORE.issues.values() if not m or i["project"] == m.group(1).upper()]
        start, limit = int(q.get("startAt", 0)), int(q.get("maxResults", 50))
        self.send_json(200, {"expand": "schema,names", "startAt": start, "maxResults": limit, "total": len(hits),
                             "issues": [issue_json(i) for i in hits[start:start + limit]]})

    def add_attachment(self, key):
        issue = STORE.find(key)
        if not issue:
            return self.error(404, "Issue does not exist or you do not have permission to see it.")
        if self.headers.get("X-Atlassian-Token", "").lower() != "no-check":
            return self.error(403, "XSRF check failed: send X-Atlassian-Token: no-check")
        ctype = self.headers.get("Content-Type", "application/octet-stream")
        with STORE.lock:
            aid = str(STORE.next_attachment)
            STORE.next_attachment += 1
        raw = os.path.join(DATA_DIR, aid + ".upload")
        with open(raw, "wb") as f:  # stream to disk; never the whole body in memory
            for chunk in self.body_chunks():
                f.write(chunk)
        filename = self.query.get("filename", ["upload.bin"])[0]
        start, end = 0, os.path.getsize(raw)
        m = re.search(r'boundary="?([^";]+)"?', ctype)
        if ctype.startswith("multipart/") and m:
            filename, start, end, ctype = multipart_file_range(raw, m.group(1).encode(), filename)
        digest, path = hashlib.sha256(), os.path.join(DATA_DIR, aid)
        with open(raw, "rb") as src, open(path, "wb") as dst:
            src.seek(start)
            left = end - start
            while left:
                data = src.read(min(left, CHUNK))
                digest.update(data)
                dst.write(data)
                left -= len(data)
        os.unlink(raw)
        a = {"id": aid, "filename": filename, "size": end - start, "sha256": digest.hexdigest(), "path": path,
             "mimeType": ctype, "author": self.user, "created": now_iso()}
        with STORE.lock:
            STORE.attachments[aid] = a
            issue["attachments"].append(aid)
        self.send_json(200, [attachment_json(a)])

    def attachment_meta(self, aid):
        a = STORE.attachments.get(aid)
        if not a:
            return self.error(404, "No attachment " + aid)
        self.send_json(200, attachment_json(a))

    def attachment_content(self, aid, _name):
        a = STORE.attachments.get(aid)
        if not a:
            return self.error(404, "No attachment " + aid)
        self.send_response(200)
        self.send_header("Content-Type", a["mimeType"])
        self.send_header("Content-Length", str(a["size"]))
        self.send_header("Content-Disposition", f"attachment; filename*=UTF-8''{quote(a['filename'])}")
        self.end_headers()
        if self.command != "HEAD":
            with open(a["path"], "rb") as f:
                shutil.copyfileobj(f, self.wfile, CHUNK)

    def blob(self):
        """N deterministic bytes (byte i = i mod 251), streamed, never stored."""
        size = int(self.query.get("size", ["0"])[0])
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        if self.command == "HEAD":
            return
        pattern = bytes(i % 251 for i in range(251 * 262))  # 65762 bytes, a multiple of 251
        while size > 0:
            n = min(size, len(pattern))
            self.wfile.write(pattern[:n])
            size -= n


def blob_bytes(size: int) -> bytes:
    """What GET /test/blob?size=N returns, for tests that compare."""
    return bytes(i % 251 for i in range(size))


def multipart_file_range(path: str, boundary: bytes, default_name: str):
    """(filename, start, end, content type) of the first part of a multipart body on disk."""
    with open(path, "rb") as f:
        head = f.read(CHUNK)
        hdr_end = head.find(b"\r\n\r\n")
        if not head.startswith(b"--" + boundary) or hdr_end < 0:
            raise ValueError("malformed multipart body")
        headers = head[:hdr_end].decode("utf-8", "replace")
        size = os.path.getsize(path)
        f.seek(max(0, size - 512))
        tail = f.read()
        close = tail.rfind(b"\r\n--" + boundary)
        if close < 0:
            raise ValueError("multipart body without closing boundary")
    name = re.search(r'filename\*?="?(?:UTF-8\'\')?([^";\r\n]+)"?', headers)
    ctype = re.search(r"Content-Type:\s*([^\r\n]+)", headers, re.I)
    return (unquote(name.group(1)) if name else default_name, hdr_end + 4, max(0, size - 512) + close,
            ctype.group(1).strip() if ctype else "application/octet-stream")


ROUTES = [
    ("GET", r"/rest/api/2/serverInfo", Handler.server_info),
    ("GET", r"/rest/api/2/myself", Handler.myself),
    ("GET", r"/rest/api/2/bench", Handler.bench),
    ("GET", r"/rest/api/2/field", Handler.fields),
    ("GET", r"/rest/api/2/project", Handler.projects),
    ("GET", r"/rest/api/2/project/([^/]+)", Handler.project),
    ("GET", r"/rest/api/2/issuetype", Handler.issue_types),
    ("GET", r"/rest/api/2/issue/createmeta/([^/]+)/issuetypes", Handler.issue_types),
    ("POST", r"/rest/api/2/issue/?", Handler.create_issue),
    ("GET", r"/rest/api/2/issue/([^/]+)", Handler.get_issue),
    ("PUT", r"/rest/api/2/issue/([^/]+)", Handler.put_issue),
    ("GET", r"/rest/api/2/search", Handler.search),
    ("POST", r"/rest/api/2/search", Handler.search),
    ("POST", r"/rest/api/2/issue/([^/]+)/attachments", Handler.add_attachment),
    ("GET", r"/rest/api/2/attachment/(\d+)", Handler.attachment_meta),
    ("GET", r"/secure/attachment/(\d+)/([^/]+)", Handler.attachment_content),
    ("GET", r"/test/blob", Handler.blob),
    *AGILE.routes,
]


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


def main():
    server = Server(("127.0.0.1", PORT), Handler)
    for _ in range(int(os.environ.get("JIRA_WORKERS", "1")) - 1):
        if os.fork() == 0:
            break  # children serve the same listening socket
    print(f"jira-standin: 127.0.0.1:{PORT}, public {BASE_URL} (pid {os.getpid()}, user from {USER_HEADER})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
