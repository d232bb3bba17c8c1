#!/usr/bin/env python3
"""jira-board.py — a small Jira board client that holds no token: jira-auth-agent adds it.

An example to copy. It talks to Jira Data Center (the Jira Software REST API,
/rest/agile/1.0, and the REST API v2) with the Python `jira` library (pip install jira), and
its server is the agent's proxy, `jira-auth-agent proxy-url` (http://127.0.0.1:7744/jira/
<connection>): the agent puts the bearer token on each request, signs you in when needed and
renews the token; this program never sees one.

    jira-auth-agent serve &            # or: systemctl --user start jira-auth-agent
    python3 jira-board.py boards                        # id, type, name, project
    python3 jira-board.py columns 1                     # board 1: columns and their issues
    python3 jira-board.py move DEMO-1                   # to the next column (a transition)
    python3 jira-board.py rank DEMO-6 --before DEMO-1   # or --after OTHER
    python3 jira-board.py sprint-add DEMO-6             # into the board's active sprint

The server is `--server URL`, else $JIRA_URL, else `jira-auth-agent proxy-url [--connection ID]`.
`move` and `sprint-add` use the first board of the issue's project unless `--board N`. A scrum
board's `columns` shows its active sprint (as Jira's board view does); `--all` shows every
issue on the board.

Without the agent (the project's tests point it straight at a Jira): JIRA_BOARD_TOKEN_FILE names a
file holding a bearer token. Never put a token on the command line.

Exit codes (sysexits): 0 done; 1 Jira refused the action (the reason is printed); 64 usage;
69 the agent (or Jira) is not reachable; 77 sign-in required; 78 no server or no such connection.
"""
import argparse
import json
import os
import subprocess
import sys

try:
    from jira import JIRA, JIRAError
    from jira.resources import Issue
    from requests.exceptions import ConnectionError as RequestsConnectionError
except ImportError:
    sys.exit("Error: the Python jira library is missing. Install it: python3 -m pip install jira")


class BoardError(Exception):
    """A failure to show the user: one sentence with what to do, and a sysexits code."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


# --- connecting --------------------------------------------------------------------------------
def server_url(args) -> str:
    if args.server or os.environ.get("JIRA_URL"):
        return (args.server or os.environ["JIRA_URL"]).rstrip("/")
    cmd = ["jira-auth-agent", "proxy-url"] + ([args.connection] if args.connection else [])
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        raise BoardError("jira-auth-agent is not on PATH; install it, or give --server URL "
                         "(the agent's proxy URL, `jira-auth-agent proxy-url`).", 78)
    if out.returncode != 0:
        raise BoardError(f"`{' '.join(cmd)}` failed: {out.stderr.strip()} "
                         "Check the connection: jira-auth-agent connections list", 78)
    return out.stdout.strip()


def connect(args) -> JIRA:
    server = server_url(args)
    token = None
    if os.environ.get("JIRA_BOARD_TOKEN_FILE"):
        with open(os.environ["JIRA_BOARD_TOKEN_FILE"]) as f:
            token = f.read().strip()
    # max_retries=0: the library would otherwise retry a refused connection for minutes.
    try:
        return JIRA(server=server, token_auth=token, max_retries=0)
    except RequestsConnectionError:
        raise BoardError(f"cannot reach {server}: is the agent running? Start it with "
                         "`jira-auth-agent serve` or `systemctl --user start jira-auth-agent`; "
                         "`jira-auth-agent status` shows its proxy URL.", 69)


def jira_error(e: JIRAError) -> BoardError:
    """The proxy's own errors ({"error", "message"}) and Jira's ({"errorMessages", "errors"})."""
    try:
        body = json.loads(e.response.text) if e.response is not None else {}
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    code = body.get("error")
    if code == "authorization_required":
        return BoardError(body.get("message", "sign-in required") + ".", 77)
    if code == "unknown_connection":
        return BoardError(body.get("message", "unknown connection") + "; see jira-auth-agent connections list.", 78)
    if code and code.startswith("upstream"):
        return BoardError(f"the agent could not reach Jira ({code}): {body.get('message', '')}", 69)
    if code:
        return BoardError(f"the agent refused the request ({code}): {body.get('message', '')}")
    if e.status_code == 401:
        return BoardError("Jira refused the token. Sign in again: jira-auth-agent login", 77)
    texts = list(body.get("errorMessages") or []) + [f"{k}: {v}" for k, v in (body.get("errors") or {}).items()]
    return BoardError(f"Jira answered {e.status_code}: {' '.join(texts) or e.text or 'no reason given'}")


# --- the agile API (the library has no call for board configuration or board issues) -----------
def agile_get(jira: JIRA, path: str, **params):
    return jira._get_json(path, params=params, base=jira.AGILE_BASE_URL)


def agile_issues(jira: JIRA, path: str) -> list:
    """Every issue of an agile issue list (board, sprint, backlog), all pages, in rank order."""
    return list(jira._fetch_pages(Issue, "issues", path, 0, 0, {"fields": "summary,status"},
                                  base=jira.AGILE_BASE_URL))


def board_for(jira: JIRA, issue, board_id) -> int:
    if board_id:
        return board_id
    project = issue.fields.project.key
    boards = jira.boards(projectKeyOrID=project)
    if not boards:
        raise BoardError(f"project {project} has no board; give --board N (see: jira-board.py boards).")
    return boards[0].id


def columns_of(jira: JIRA, board_id: int) -> list:
    """[(column name, [status ids])] in board order."""
    config = agile_get(jira, f"board/{board_id}/configuration")
    return [(c["name"], [s["id"] for s in c["statuses"]]) for c in config["columnConfig"]["columns"]]


# --- commands ----------------------------------------------------------------------------------
def cmd_boards(jira, args):
    for b in jira.boards():
        project = getattr(getattr(b, "location", None), "projectKey", "-")
        print(f"{b.id:>4}  {b.type:<7} {b.name}  ({project})")


def cmd_columns(jira, args):
    info = agile_get(jira, f"board/{args.board}")
    issues, scope = None, "all issues"
    if info.get("type") == "scrum" and not args.all:
        active = jira.sprints(args.board, state="active")
        if active:
            issues = [i for s in active for i in agile_issues(jira, f"sprint/{s.id}/issue")]
            scope = "sprint " + ", ".join(s.name for s in active)
    if issues is None:
        issues = agile_issues(jira, f"board/{args.board}/issue")
    print(f"{info['name']} (board {args.board}, {info.get('type')}): {scope}")
    for name, statuses in columns_of(jira, args.board):
        here = [i for i in issues if i.fields.status.id in statuses]
        print(f"\n{name} ({len(here)})")
        for i in here:
            print(f"  {i.key:<10} {i.fields.summary}")


def cmd_move(jira, args):
    issue = jira.issue(args.key, fields="status,project")
    board_id = board_for(jira, issue, args.board)
    cols = columns_of(jira, board_id)
    at = next((n for n, (_, statuses) in enumerate(cols) if issue.fields.status.id in statuses), None)
    if at is None:
        raise BoardError(f"{args.key} is in status {issue.fields.status.name}, which no column of board "
                         f"{board_id} shows; move it in Jira, or give --board N.")
    if at == len(cols) - 1:
        raise BoardError(f"{args.key} is already in the last column ({cols[at][0]}).")
    target, statuses = cols[at + 1]
    transition = next((t for t in jira.transitions(args.key) if t["to"]["id"] in statuses), None)
    if transition is None:
        raise BoardError(f"the workflow offers {args.key} no transition into column {target}; "
                         "see the transitions in Jira.")
    jira.transition_issue(args.key, transition["id"])
    print(f"{args.key}: {cols[at][0]} -> {target} (transition '{transition['name']}')")


def cmd_rank(jira, args):
    r = jira.rank(args.key, next_issue=args.before, prev_issue=args.after)
    if r.status_code == 207:  # some issues could not be ranked; one entry per issue
        failed = [f"{e.get('issueKey')}: {' '.join(e.get('errors', []))}" for e in r.json()["entries"]
                  if e.get("status") != 200]
        raise BoardError("not ranked: " + "; ".join(failed))
    print(f"{args.key}: ranked {'before ' + args.before if args.before else 'after ' + args.after}")


def cmd_sprint_add(jira, args):
    issue = jira.issue(args.key, fields="project")
    board_id = board_for(jira, issue, args.board)
    active = list(jira.sprints(board_id, state="active"))
    if args.sprint:
        active = [s for s in active if s.id == args.sprint]
    if len(active) != 1:
        names = ", ".join(f"{s.id} ({s.name})" for s in active) or "none"
        raise BoardError(f"board {board_id} has {len(active)} active sprints matching: {names}; "
                         "start one in Jira, or pick one with --sprint ID.")
    jira.add_issues_to_sprint(active[0].id, [args.key])
    print(f"{args.key}: added to {active[0].name} (sprint {active[0].id}, board {board_id})")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="jira-board.py", description="A Jira board client through jira-auth-agent.",
                                epilog="Run `pydoc3 ./jira-board.py` or read the top of the file for more.")
    p.add_argument("--server", help="Jira base URL (default: $JIRA_URL, else `jira-auth-agent proxy-url`)")
    p.add_argument("--connection", help="the agent's connection id, for proxy-url (default: its default)")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("boards", help="list the boards").set_defaults(run=cmd_boards)
    c = sub.add_parser("columns", help="a board's columns with their issues")
    c.add_argument("board", type=int)
    c.add_argument("--all", action="store_true", help="every issue on the board, not only the active sprint")
    c.set_defaults(run=cmd_columns)
    m = sub.add_parser("move", help="move an issue to the next column of its board")
    m.add_argument("key")
    m.add_argument("--board", type=int)
    m.set_defaults(run=cmd_move)
    r = sub.add_parser("rank", help="rank an issue before or after another")
    r.add_argument("key")
    where = r.add_mutually_exclusive_group(required=True)
    where.add_argument("--before", metavar="OTHER")
    where.add_argument("--after", metavar="OTHER")
    r.set_defaults(run=cmd_rank)
    s = sub.add_parser("sprint-add", help="add an issue to its board's active sprint")
    s.add_argument("key")
    s.add_argument("--board", type=int)
    s.add_argument("--sprint", type=int, help="the sprint, when a board runs several at once")
    s.set_defaults(run=cmd_sprint_add)
    return p


def main() -> int:
    args = parser().parse_args()
    try:
        jira = connect(args)
        args.run(jira, args)
        return 0
    except JIRAError as e:
        err = jira_error(e)
    except RequestsConnectionError as e:
        err = BoardError(f"lost the connection: {e.__class__.__name__}; is the agent still running? "
                         "jira-auth-agent status", 69)
    except BoardError as e:
        err = e
    print(f"Error: {err}", file=sys.stderr)
    return err.code


if __name__ == "__main__":
    sys.exit(main())
