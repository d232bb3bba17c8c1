"""Jira Software (agile) part of the Jira stand-in: boards, sprints, rank, workflow, comments.

TEST ONLY. Shapes follow Jira Data Center 9.x: the Jira Software REST API (`/rest/agile/1.0`)
and the platform REST API v2 for transitions and comments, as the Python `jira` library
sends and parses them (`boards()`, `sprints()`, `sprint_info()`, `rank()`,
`add_issues_to_sprint()`, `transitions()`, `transition_issue()`, `comments()`,
`add_comment()`).

The model is the stand-in's one issue store: each issue dict carries `status` (a status id),
`rank` (an integer; its LexoRank-like string is the Rank field), `sprints` (sprint ids, oldest
first; at most one open sprint, the last) and `comments`. Boards and sprints are fixed here:
scrum board 1 "DEMO board" over project DEMO, columns To Do / In Progress / Done, sprints 1
(closed), 2 (active), 3 (future). Every list — board issues, sprint issues, backlog, search,
issue GET — is rendered from the same issue dicts, so they agree on status, sprint and rank.

`jira_standin.py` imports this module, builds one `Agile` and appends `Agile.routes`.
"""
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

# --- fixed data --------------------------------------------------------------------------------
TO_DO, IN_PROGRESS, DONE = "10000", "3", "10001"
# id -> (name, category id, category key, category colour, category name)
STATUSES = {
    TO_DO: ("To Do", 2, "new", "blue-gray", "To Do"),
    IN_PROGRESS: ("In Progress", 4, "indeterminate", "yellow", "In Progress"),
    DONE: ("Done", 3, "done", "green", "Done"),
}
# Jira Software's simplified workflow: one global transition into each status.
TRANSITIONS = {"11": TO_DO, "21": IN_PROGRESS, "31": DONE}
RESOLUTION_DONE = {"id": "10000", "name": "Done", "description": "Work has been completed on this issue."}

SPRINT_FIELD, RANK_FIELD = 10100, 10105  # customfield_<id>, as on a fresh Jira Software DC
FIELDS = [
    {"id": f"customfield_{SPRINT_FIELD}", "key": f"customfield_{SPRINT_FIELD}", "name": "Sprint", "custom": True,
     "orderable": True, "navigable": True, "searchable": True, "clauseNames": [f"cf[{SPRINT_FIELD}]", "Sprint"],
     "schema": {"type": "array", "items": "string", "custom": "com.pyxis.greenhopper.jira:gh-sprint",
                "customId": SPRINT_FIELD}},
    {"id": f"customfield_{RANK_FIELD}", "key": f"customfield_{RANK_FIELD}", "name": "Rank", "custom": True,
     "orderable": True, "navigable": True, "searchable": True, "clauseNames": [f"cf[{RANK_FIELD}]", "Rank"],
     "schema": {"type": "any", "custom": "com.pyxis.greenhopper.jira:gh-lexo-rank", "customId": RANK_FIELD}},
]

BOARD_ID = 1
BOARDS = {BOARD_ID: {"id": BOARD_ID, "name": "DEMO board", "type": "scrum", "project": "DEMO", "filter": "10000",
                     "columns": [("To Do", [TO_DO]), ("In Progress", [IN_PROGRESS]), ("Done", [DONE])]}}


def _iso(t: datetime | None) -> str | None:
    return t.strftime("%Y-%m-%dT%H:%M:%S.000+00:00") if t else None


_NOW = datetime.now(timezone.utc).replace(microsecond=0)
_DAY = timedelta(days=1)
SPRINTS = {
    1: {"id": 1, "name": "DEMO Sprint 1", "state": "closed", "goal": "First slice",
        "startDate": _NOW - 21 * _DAY, "endDate": _NOW - 7 * _DAY, "completeDate": _NOW - 7 * _DAY},
    2: {"id": 2, "name": "DEMO Sprint 2", "state": "active", "goal": "Board tools",
        "startDate": _NOW - 7 * _DAY, "endDate": _NOW + 7 * _DAY, "completeDate": None},
    3: {"id": 3, "name": "DEMO Sprint 3", "state": "future", "goal": "",
        "startDate": None, "endDate": None, "completeDate": None},
}
OPEN_STATES = ("active", "future")

# (summary, status, sprint ids): DEMO-1 and DEMO-2 keep the stand-in's first two summaries.
SEED_ISSUES = [
    ("First demo issue", TO_DO, [2]),
    ("Second demo issue", IN_PROGRESS, [2]),
    ("Draw the board columns", DONE, [1]),
    ("Carried over from sprint 1", IN_PROGRESS, [1, 2]),
    ("Planned for sprint 3", TO_DO, [3]),
    ("Backlog: rank me", TO_DO, []),
    ("Backlog: and me", TO_DO, []),
]
RANK_GAP = 1 << 16
_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def rank_string(rank: int) -> str:
    """The Rank field's value: fixed-width base 36 in LexoRank's `0|xxxxxx:` form, so that
    string order is rank order."""
    digits = ""
    while rank:
        rank, d = divmod(rank, 36)
        digits = _B36[d] + digits
    return f"0|{digits.rjust(7, '0')}:"


def open_sprint(issue: dict) -> int | None:
    return next((s for s in reversed(issue["sprints"]) if SPRINTS[s]["state"] in OPEN_STATES), None)


def sprint_to_string(s: dict, board: int = BOARD_ID) -> str:
    """The v2 Sprint field as Jira Data Center writes it: the toString of its Sprint object."""
    def v(x):
        return "<null>" if x is None else x
    return (f"com.atlassian.greenhopper.service.sprint.Sprint@{0x1f00 + s['id']:x}[id={s['id']},rapidViewId={board},"
            f"state={s['state'].upper()},name={s['name']},startDate={v(_iso(s['startDate']))},"
            f"endDate={v(_iso(s['endDate']))},completeDate={v(_iso(s['completeDate']))},"
            f"activatedDate={v(_iso(s['startDate']) if s['state'] != 'future' else None)},"
            f"sequence={s['id']},goal={s['goal']},autoStartStop=false,synced=false]")


class Agile:
    """Renders and serves the agile model over the stand-in's `Store` (its lock guards it all).

    `user_json(name)` and `issue_json(issue)` are the stand-in's renderers, `projects` its
    projects by key; `base_url` is its link base (context path included), so every `self` is
    absolute like Jira's."""

    def __init__(self, store, base_url: str, user_json, issue_json, projects: dict):
        self.store, self.user_json, self.issue_json, self.projects = store, user_json, issue_json, projects
        self.base = base_url.rstrip("/")
        self.api, self.agile = self.base + "/rest/api/2", self.base + "/rest/agile/1.0"
        self.next_comment = 10000
        self.routes = [
            ("GET", r"/rest/agile/1.0/board/?", self.get_boards),
            ("GET", r"/rest/agile/1.0/board/(\d+)", self.get_board),
            ("GET", r"/rest/agile/1.0/board/(\d+)/configuration", self.get_configuration),
            ("GET", r"/rest/agile/1.0/board/(\d+)/issue", self.get_board_issues),
            ("GET", r"/rest/agile/1.0/board/(\d+)/backlog", self.get_backlog),
            ("GET", r"/rest/agile/1.0/board/(\d+)/sprint", self.get_board_sprints),
            ("GET", r"/rest/agile/1.0/sprint/(\d+)", self.get_sprint),
            ("GET", r"/rest/agile/1.0/sprint/(\d+)/issue", self.get_sprint_issues),
            ("POST", r"/rest/agile/1.0/sprint/(\d+)/issue", self.move_to_sprint),
            ("POST", r"/rest/agile/1.0/backlog/issue", self.move_to_backlog),
            ("PUT", r"/rest/agile/1.0/issue/rank", self.rank),
            ("GET", r"/rest/agile/1.0/issue/([^/]+)", self.get_agile_issue),
            ("GET", r"/rest/api/2/status", self.get_statuses),
            ("GET", r"/rest/api/2/status/([^/]+)", self.get_status),
            ("GET", r"/rest/api/2/issue/([^/]+)/transitions", self.get_transitions),
            ("POST", r"/rest/api/2/issue/([^/]+)/transitions", self.do_transition),
            ("GET", r"/rest/api/2/issue/([^/]+)/comment", self.get_comments),
            ("POST", r"/rest/api/2/issue/([^/]+)/comment", self.add_comment),
            ("GET", r"/rest/api/2/issue/([^/]+)/comment/(\d+)", self.get_comment),
        ]

    # --- JSON shapes ---------------------------------------------------------------------------
    def status_json(self, sid: str) -> dict:
        name, cid, ckey, colour, cname = STATUSES[sid]
        return {"self": f"{self.api}/status/{sid}", "description": "", "name": name, "id": sid,
                "iconUrl": f"{self.base}/images/icons/statuses/generic.png",
                "statusCategory": {"self": f"{self.api}/statuscategory/{cid}", "id": cid, "key": ckey,
                                   "colorName": colour, "name": cname}}

    def sprint_json(self, s: dict) -> dict:
        out = {"id": s["id"], "self": f"{self.agile}/sprint/{s['id']}", "state": s["state"], "name": s["name"]}
        for k in ("startDate", "endDate", "completeDate"):
            if s[k]:
                out[k] = _iso(s[k])
        if s["state"] != "future":
            out["activatedDate"] = _iso(s["startDate"])
        return {**out, "originBoardId": BOARD_ID, "goal": s["goal"]}

    def board_json(self, b: dict) -> dict:
        p = self._project(b["project"])
        return {"id": b["id"], "self": f"{self.agile}/board/{b['id']}", "name": b["name"], "type": b["type"],
                "location": {"projectId": int(p["id"]), "displayName": f"{p['name']} ({p['key']})",
                             "projectName": p["name"], "projectKey": p["key"], "projectTypeKey": "software",
                             "avatarURI": urlsplit(self.base).path + "/secure/projectavatar?size=small&avatarId=10324",
                             "name": f"{p['name']} ({p['key']})"}}

    def comment_json(self, issue: dict, c: dict) -> dict:
        return {"self": f"{self.api}/issue/{issue['id']}/comment/{c['id']}", "id": c["id"],
                "author": self.user_json(c["author"]), "body": c["body"], "updateAuthor": self.user_json(c["author"]),
                "created": c["created"], "updated": c["created"]}

    def issue_fields(self, i: dict) -> dict:
        """The REST v2 fields this module owns, for the stand-in's issue_json."""
        done = i["status"] == DONE
        return {"status": self.status_json(i["status"]),
                "resolution": {"self": f"{self.api}/resolution/10000", **RESOLUTION_DONE} if done else None,
                "resolutiondate": (i.get("resolved") or i["created"]) if done else None,
                f"customfield_{SPRINT_FIELD}": [sprint_to_string(SPRINTS[s]) for s in i["sprints"]] or None,
                f"customfield_{RANK_FIELD}": rank_string(i["rank"]),
                "comment": {"comments": [self.comment_json(i, c) for c in i["comments"]],
                            "maxResults": len(i["comments"]), "total": len(i["comments"]), "startAt": 0}}

    def agile_issue_json(self, i: dict) -> dict:
        """An issue as the agile API returns it: the v2 issue plus sprint, closedSprints, flagged."""
        out = self.issue_json(i)
        current = open_sprint(i)
        closed = [self.sprint_json(SPRINTS[s]) for s in i["sprints"] if SPRINTS[s]["state"] == "closed"]
        out["fields"]["sprint"] = self.sprint_json(SPRINTS[current]) if current else None
        if closed:
            out["fields"]["closedSprints"] = closed
        out["fields"]["flagged"] = False
        return out

    # --- helpers -------------------------------------------------------------------------------
    def _project(self, key: str) -> dict:
        return self.projects[key]

    @staticmethod
    def _paging(h, default: int, cap: int) -> tuple[int, int]:
        start = int(h.query.get("startAt", ["0"])[0])
        limit = int(h.query.get("maxResults", [str(default)])[0])
        if start < 0:
            raise ValueError("startAt must not be negative")
        return start, min(limit if limit > 0 else default, cap)

    def _values_page(self, h, values: list, default=50, cap=50):
        """Agile list paging: startAt, maxResults, total, isLast, values."""
        start, limit = self._paging(h, default, cap)
        page = values[start:start + limit]
        h.send_json(200, {"maxResults": limit, "startAt": start, "total": len(values),
                          "isLast": start + len(page) >= len(values), "values": page})

    def _issues_page(self, h, issues: list):
        """Agile issue lists (search-like): expand, startAt, maxResults, total, issues; rank order."""
        if (h.query.get("jql") or [""])[0].strip():
            return h.error(400, "The stand-in's agile issue lists take no jql.")
        start, limit = self._paging(h, 50, 1000)
        issues = sorted(issues, key=lambda i: i["rank"])
        h.send_json(200, {"expand": "schema,names", "startAt": start, "maxResults": limit, "total": len(issues),
                          "issues": [self.agile_issue_json(i) for i in issues[start:start + limit]]})

    def _board(self, h, bid: str) -> dict | None:
        b = BOARDS.get(int(bid))
        if not b:
            h.error(404, f"The requested board cannot be viewed because it either does not exist or you do not "
                         f"have permission to view it.")
        return b

    def _board_issues(self, b: dict) -> list:
        with self.store.lock:
            return [i for i in self.store.issues.values() if i["project"] == b["project"]]

    def _issue(self, h, key: str) -> dict | None:
        i = self.store.find(key)
        if not i:
            h.error(404, "Issue does not exist or you do not have permission to see it.")
        return i

    # --- boards --------------------------------------------------------------------------------
    def get_boards(self, h):
        q = {k: v[0] for k, v in h.query.items()}
        boards = [b for b in BOARDS.values()
                  if (not q.get("type") or b["type"] in q["type"].split(","))
                  and (not q.get("name") or q["name"].lower() in b["name"].lower())
                  and (not q.get("projectKeyOrId") or q["projectKeyOrId"].upper() in
                       (b["project"], self._project(b["project"])["id"]))]
        self._values_page(h, [self.board_json(b) for b in boards])

    def get_board(self, h, bid):
        if b := self._board(h, bid):
            h.send_json(200, self.board_json(b))

    def get_configuration(self, h, bid):
        if not (b := self._board(h, bid)):
            return
        p = self._project(b["project"])
        h.send_json(200, {
            "id": b["id"], "name": b["name"], "type": b["type"], "self": f"{self.agile}/board/{b['id']}/configuration",
            "location": {"type": "project", "key": p["key"], "id": p["id"], "self": f"{self.api}/project/{p['id']}",
                         "name": p["name"]},
            "filter": {"id": b["filter"], "self": f"{self.api}/filter/{b['filter']}"},
            "columnConfig": {"columns": [{"name": name, "statuses": [{"id": s, "self": f"{self.api}/status/{s}"}
                                                                     for s in statuses]}
                                         for name, statuses in b["columns"]],
                             "constraintType": "issueCount"},
            "ranking": {"rankCustomFieldId": RANK_FIELD}})

    def get_board_issues(self, h, bid):
        if b := self._board(h, bid):
            self._issues_page(h, self._board_issues(b))

    def get_backlog(self, h, bid):
        """Issues in no open sprint, without those in the board's last column (as Jira's backlog)."""
        if b := self._board(h, bid):
            last = set(b["columns"][-1][1])
            self._issues_page(h, [i for i in self._board_issues(b) if open_sprint(i) is None and i["status"] not in last])

    def get_board_sprints(self, h, bid):
        if not self._board(h, bid):
            return
        states = [s.strip() for s in (h.query.get("state") or [""])[0].split(",") if s.strip()]
        if any(s not in ("future", "active", "closed") for s in states):
            return h.error(400, "state must be future, active or closed (comma separated).")
        self._values_page(h, [self.sprint_json(s) for s in SPRINTS.values() if not states or s["state"] in states])

    # --- sprints -------------------------------------------------------------------------------
    def _sprint(self, h, sid: str) -> dict | None:
        s = SPRINTS.get(int(sid))
        if not s:
            h.error(404, "Sprint does not exist or you do not have permission to see it.")
        return s

    def get_sprint(self, h, sid):
        if s := self._sprint(h, sid):
            h.send_json(200, self.sprint_json(s))

    def get_sprint_issues(self, h, sid):
        if s := self._sprint(h, sid):
            with self.store.lock:
                issues = [i for i in self.store.issues.values() if s["id"] in i["sprints"]]
            self._issues_page(h, issues)

    def _issue_list(self, h, body: dict) -> list | None:
        keys = body.get("issues")
        if not isinstance(keys, list) or not keys or len(keys) > 50:
            h.error(400, "issues: between 1 and 50 issue keys or ids.")
            return None
        issues = [self.store.find(str(k)) for k in keys]
        if None in issues:
            h.error(400, "Issue does not exist or you do not have permission to see it: "
                    + ", ".join(str(k) for k, i in zip(keys, issues) if i is None))
            return None
        return issues

    def move_to_sprint(self, h, sid):
        body = h.json_body()
        if not (s := self._sprint(h, sid)):
            return
        if s["state"] == "closed":
            return h.error(400, f"Cannot move issues to a closed sprint: {s['name']}.")
        if (issues := self._issue_list(h, body)) is None:
            return
        with self.store.lock:
            for i in issues:  # an issue is in at most one open sprint: moving takes it out of the other
                i["sprints"] = [x for x in i["sprints"] if SPRINTS[x]["state"] == "closed"] + [s["id"]]
        h.send_empty(204)

    def move_to_backlog(self, h):
        if (issues := self._issue_list(h, h.json_body())) is None:
            return
        with self.store.lock:
            for i in issues:
                i["sprints"] = [x for x in i["sprints"] if SPRINTS[x]["state"] == "closed"]
        h.send_empty(204)

    # --- rank ----------------------------------------------------------------------------------
    def rank(self, h):
        """PUT /issue/rank: the issues, in the given order, right before or after the anchor.
        204 when all moved; 207 with one entry per issue when some could not be ranked."""
        body = h.json_body()
        before, after = body.get("rankBeforeIssue"), body.get("rankAfterIssue")
        keys = body.get("issues")
        if not isinstance(keys, list) or not keys or len(keys) > 50 or (before is None) == (after is None):
            return h.error(400, "Give issues (1 to 50) and exactly one of rankBeforeIssue, rankAfterIssue.")
        field = body.get("rankCustomFieldId")
        if field not in (None, RANK_FIELD, str(RANK_FIELD)):
            return h.error(400, f"The custom field with id {field} is not a rank field.")
        anchor = self.store.find(str(before or after))
        if not anchor:
            return h.error(400, f"Issue {before or after} does not exist or you do not have permission to see it.")
        entries, moving = [], []
        for k in keys:
            i = self.store.find(str(k))
            if i is None:
                entries.append({"issueKey": str(k), "status": 404,
                                "errors": ["Issue does not exist or you do not have permission to see it."]})
            elif i is anchor:
                entries.append({"issueId": int(i["id"]), "issueKey": i["key"], "status": 400,
                                "errors": ["Cannot rank an issue relative to itself."]})
            else:
                if i not in moving:
                    moving.append(i)
                entries.append({"issueId": int(i["id"]), "issueKey": i["key"], "status": 200})
        with self.store.lock:
            self._place(moving, anchor, before is not None)
        if any(e["status"] != 200 for e in entries):
            return h.send_json(207, {"entries": entries})
        h.send_empty(204)

    def _place(self, moving: list, anchor: dict, before: bool):
        """New ranks for `moving` only, between the anchor and its neighbour (LexoRank-like:
        the other issues keep theirs); renumbers everything only when the gap is used up."""
        if not moving:
            return
        rest = sorted((i for i in self.store.issues.values() if i not in moving), key=lambda i: i["rank"])
        at = rest.index(anchor) + (0 if before else 1)
        low = rest[at - 1]["rank"] if at > 0 else 0
        high = rest[at]["rank"] if at < len(rest) else rest[-1]["rank"] + RANK_GAP * (len(moving) + 1)
        step = (high - low) // (len(moving) + 1)
        if step == 0:
            order = rest[:at] + moving + rest[at:]
            for n, i in enumerate(order, 1):
                i["rank"] = n * RANK_GAP
            return
        for n, i in enumerate(moving, 1):
            i["rank"] = low + n * step

    def get_agile_issue(self, h, key):
        if i := self._issue(h, key):
            h.send_json(200, self.agile_issue_json(i))

    # --- workflow ------------------------------------------------------------------------------
    def get_statuses(self, h):
        h.send_json(200, [self.status_json(s) for s in STATUSES])

    def get_status(self, h, sid):
        found = next((s for s, v in STATUSES.items() if sid in (s, v[0])), None)
        if not found:
            return h.error(404, f"The status with id '{sid}' does not exist")
        h.send_json(200, self.status_json(found))

    def transition_json(self, tid: str, with_fields: bool) -> dict:
        t = {"id": tid, "name": STATUSES[TRANSITIONS[tid]][0], "to": self.status_json(TRANSITIONS[tid]),
             "hasScreen": False, "isGlobal": True, "isInitial": False, "isConditional": False}
        return {**t, "fields": {}} if with_fields else t

    def get_transitions(self, h, key):
        if not (i := self._issue(h, key)):
            return
        only = (h.query.get("transitionId") or [None])[0]
        with_fields = "transitions.fields" in (h.query.get("expand") or [""])[0]
        tids = [t for t, to in TRANSITIONS.items() if to != i["status"] and (only is None or t == only)]
        h.send_json(200, {"expand": "transitions", "transitions": [self.transition_json(t, with_fields) for t in tids]})

    def do_transition(self, h, key):
        body = h.json_body()
        if not (i := self._issue(h, key)):
            return
        tid = str((body.get("transition") or {}).get("id", ""))
        if tid not in TRANSITIONS:
            return h.send_json(400, {"errorMessages": [f"Transition id '{tid}' is not valid for this issue."],
                                     "errors": {}})
        fields = body.get("fields") or {}
        if fields:  # the simplified workflow's transitions have no screen
            return h.send_json(400, {"errorMessages": [], "errors": {
                f: f"Field '{f}' cannot be set. It is not on the appropriate screen, or unknown." for f in fields}})
        comments = [op["add"]["body"] for op in (body.get("update") or {}).get("comment", []) if "add" in op]
        with self.store.lock:
            if TRANSITIONS[tid] == i["status"]:
                stale = True
            else:
                stale = False
                i["status"] = TRANSITIONS[tid]
                i["updated"] = _now_v2()
                i["resolved"] = i["updated"] if i["status"] == DONE else None
        if stale:
            return h.send_json(400, {"errorMessages": [
                f"It seems that you have tried to perform a workflow operation ({STATUSES[TRANSITIONS[tid]][0]}) "
                f"that is not valid for the current state of this issue ({i['key']}). The likely cause is that "
                "somebody has changed the issue recently, please look at the issue history for details."],
                "errors": {}})
        for text in comments:
            self._new_comment(i, text, h.user)
        h.send_empty(204)

    # --- comments ------------------------------------------------------------------------------
    def _new_comment(self, issue: dict, body: str, user: str) -> dict:
        with self.store.lock:
            c = {"id": str(self.next_comment), "body": body, "author": user, "created": _now_v2()}
            self.next_comment += 1
            issue["comments"].append(c)
            issue["updated"] = c["created"]
        return c

    def get_comments(self, h, key):
        if not (i := self._issue(h, key)):
            return
        start, limit = self._paging(h, 1048576, 1048576)
        comments = list(i["comments"])
        if (h.query.get("orderBy") or [""])[0] == "-created":
            comments.reverse()
        page = comments[start:start + limit]
        h.send_json(200, {"startAt": start, "maxResults": limit, "total": len(comments),
                          "comments": [self.comment_json(i, c) for c in page]})

    def get_comment(self, h, key, cid):
        if not (i := self._issue(h, key)):
            return
        c = next((c for c in i["comments"] if c["id"] == cid), None)
        if not c:
            return h.error(404, f"Can not find a comment for the id: {cid}.")
        h.send_json(200, self.comment_json(i, c))

    def add_comment(self, h, key):
        body = h.json_body()
        if not (i := self._issue(h, key)):
            return
        text = body.get("body")
        if not isinstance(text, str) or not text.strip():
            return h.send_json(400, {"errorMessages": [], "errors": {"comment": "Comment body can not be empty!"}})
        h.send_json(201, self.comment_json(i, self._new_comment(i, text, h.user)))


def _now_v2() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
