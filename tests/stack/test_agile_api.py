"""The Jira stand-in's agile API and workflow, through the real `jira` library.

Run: scripts/with-stack.sh -- .venv/bin/python -m pytest -q tests/stack/test_agile_api.py
Each test makes the issues it changes (create_issue), so the order of tests does not matter;
the seeded ones (jira_agile.SEED_ISSUES) are only read, and only where no test changes them.
"""
import os

import pytest
import requests
from jira import JIRA, JIRAError
from jira.resources import Issue, Sprint

import stackclient as sc

ENV = os.environ
pytestmark = pytest.mark.skipif("AS_URL" not in ENV, reason="needs scripts/with-stack.sh")
SPRINT_FIELD, RANK_FIELD = "customfield_10100", "customfield_10105"
SEEDED = {f"DEMO-{n}" for n in range(1, 8)}  # jira_agile.SEED_ISSUES; tests add issues after them


@pytest.fixture(scope="module")
def token():
    return sc.login_without_browser()["access_token"]


@pytest.fixture(scope="module")
def jira(token):
    # Batches of 2 when maxResults is 0: the library then pages through startAt itself.
    return JIRA(server=ENV["JIRA_URL"], token_auth=token, max_retries=0,
                default_batch_sizes={Issue: 2, Sprint: 2})


def agile(jira, path, **params):
    return jira._get_json(path, params=params, base=jira.AGILE_BASE_URL)


def board_issues(jira, path="board/1/issue"):
    """Every issue of an agile issue list, fetched by the library in pages of 2."""
    return jira._fetch_pages(Issue, "issues", path, 0, 0, base=jira.AGILE_BASE_URL)


def new_issue(jira, summary):
    return jira.create_issue(project="DEMO", summary=summary, issuetype={"name": "Task"})


def seeded(keys):
    return [k for k in keys if k in SEEDED]


def columns(jira):
    """{column name: [issue keys in rank order]} for board 1, from its configuration."""
    config = agile(jira, "board/1/configuration")
    by_status = {s["id"]: c["name"] for c in config["columnConfig"]["columns"] for s in c["statuses"]}
    out = {c["name"]: [] for c in config["columnConfig"]["columns"]}
    for issue in board_issues(jira):
        out[by_status[issue.fields.status.id]].append(issue.key)
    return out


def test_boards_list_and_one(jira):
    boards = jira.boards()
    assert [(b.id, b.name, b.type) for b in boards] == [(1, "DEMO board", "scrum")]
    assert boards.total == 1 and boards.isLast
    assert boards[0].self == ENV["JIRA_URL"] + "/rest/agile/1.0/board/1"
    assert boards[0].location.projectKey == "DEMO"
    assert list(jira.boards(type="kanban")) == []
    assert [b.id for b in jira.boards(projectKeyOrID="DEMO", name="demo")] == [1]
    assert agile(jira, "board/1")["name"] == "DEMO board"
    with pytest.raises(JIRAError) as e:
        agile(jira, "board/7")
    assert e.value.status_code == 404


def test_board_configuration_columns_map_to_statuses(jira, token):
    config = agile(jira, "board/1/configuration")
    cols = config["columnConfig"]["columns"]
    assert [c["name"] for c in cols] == ["To Do", "In Progress", "Done"]
    assert [[s["id"] for s in c["statuses"]] for c in cols] == [["10000"], ["3"], ["10001"]]
    assert config["ranking"]["rankCustomFieldId"] == 10105
    assert config["location"]["key"] == "DEMO"
    # each status link resolves to the status of the column's name, with its category
    for c in cols:
        r = requests.get(c["statuses"][0]["self"], headers={"Authorization": "Bearer " + token}, timeout=10)
        assert r.status_code == 200 and r.json()["name"] == c["name"]
    assert [s.statusCategory.key for s in jira.statuses()] == ["new", "indeterminate", "done"]


def test_sprints_of_the_board(jira):
    sprints = jira.sprints(1)
    assert [(s.id, s.state) for s in sprints] == [(1, "closed"), (2, "active"), (3, "future")]
    assert [s.id for s in jira.sprints(1, state="active")] == [2]
    assert [s.id for s in jira.sprints(1, state="future,closed")] == [1, 3]
    assert jira.sprint(2).name == "DEMO Sprint 2" and jira.sprint(2).originBoardId == 1
    info = jira.sprint_info("1", "1")
    assert info["state"] == "closed" and "completeDate" in info
    assert info["self"] == ENV["JIRA_URL"] + "/rest/agile/1.0/sprint/1"
    assert "startDate" not in jira.sprint(3).raw  # a future sprint has no dates yet
    with pytest.raises(JIRAError) as e:
        jira.sprints(1, state="running")
    assert e.value.status_code == 400


def test_paging_with_max_results_2(jira):
    first = jira.sprints(1, maxResults=2)
    assert [s.id for s in first] == [1, 2] and first.total == 3 and not first.isLast
    second = jira.sprints(1, startAt=2, maxResults=2)
    assert [s.id for s in second] == [3] and second.isLast and second.startAt == 2
    assert [s.id for s in jira.sprints(1, maxResults=0)] == [1, 2, 3]  # the library pages by 2

    one_page = agile(jira, "board/1/issue", maxResults=1000)
    paged = board_issues(jira)
    assert [i.key for i in paged] == [i["key"] for i in one_page["issues"]]
    assert len(paged) == one_page["total"] >= 7 and len({i.key for i in paged}) == len(paged)
    page = agile(jira, "board/1/issue", startAt=2, maxResults=2)
    assert [i["key"] for i in page["issues"]] == [i.key for i in paged[2:4]]
    assert page["startAt"] == 2 and page["maxResults"] == 2 and page["total"] == one_page["total"]

    found = jira.search_issues("project = DEMO", maxResults=0)  # search pages by 2 too
    assert sorted(i.key for i in found) == sorted(i.key for i in paged)


def test_board_issues_by_column_agree_with_issue_and_search(jira):
    cols = {name: seeded(keys) for name, keys in columns(jira).items()}
    assert cols == {"To Do": ["DEMO-1", "DEMO-5", "DEMO-6", "DEMO-7"], "In Progress": ["DEMO-2", "DEMO-4"],
                    "Done": ["DEMO-3"]}
    searched = {i.key: i for i in jira.search_issues("project = DEMO", maxResults=100)}
    for issue in board_issues(jira):
        one = jira.issue(issue.key)
        assert one.fields.status.id == issue.fields.status.id == searched[issue.key].fields.status.id
        assert getattr(one.fields, SPRINT_FIELD) == getattr(issue.fields, SPRINT_FIELD)
        assert getattr(searched[issue.key].fields, SPRINT_FIELD) == getattr(one.fields, SPRINT_FIELD)
    carried = jira._get_json("issue/DEMO-4", base=jira.AGILE_BASE_URL)["fields"]
    assert carried["sprint"]["id"] == 2 and [s["id"] for s in carried["closedSprints"]] == [1]
    v2 = getattr(jira.issue("DEMO-4").fields, SPRINT_FIELD)
    assert len(v2) == 2 and "id=1,rapidViewId=1,state=CLOSED" in v2[0] and "state=ACTIVE" in v2[1]
    sprint2 = [i["key"] for i in agile(jira, "sprint/2/issue")["issues"]]
    assert seeded(sprint2) == ["DEMO-1", "DEMO-2", "DEMO-4"]
    assert seeded(i["key"] for i in agile(jira, "sprint/3/issue")["issues"]) == ["DEMO-5"]
    backlog = [i["key"] for i in agile(jira, "board/1/backlog")["issues"]]
    assert seeded(backlog) == ["DEMO-6", "DEMO-7"]  # DEMO-3: done, in no open sprint


def test_transition_moves_issue_to_next_column(jira):
    key = new_issue(jira, "Transition me").key
    assert key in columns(jira)["To Do"]
    ts = jira.transitions(key)
    assert [(t["id"], t["name"], t["to"]["id"]) for t in ts] == [("21", "In Progress", "3"), ("31", "Done", "10001")]
    assert jira.transition_issue(key, "21") == {}  # 204, no body
    issue = jira.issue(key)
    assert issue.fields.status.name == "In Progress" and issue.fields.status.statusCategory.key == "indeterminate"
    assert issue.fields.resolution is None
    assert key in columns(jira)["In Progress"] and key not in columns(jira)["To Do"]
    assert [t["name"] for t in jira.transitions(key)] == ["To Do", "Done"]
    with pytest.raises(JIRAError) as e:
        jira.transition_issue(key, "21")  # no longer valid from In Progress
    assert e.value.status_code == 400
    jira.transition_issue(key, "Done", comment="Finished")
    done = jira.issue(key)
    assert done.fields.status.id == "10001" and done.fields.resolution.name == "Done"
    assert [c.body for c in jira.comments(key)] == ["Finished"]
    assert key in columns(jira)["Done"]


def test_rank_before_and_after(jira, token):
    a, b = new_issue(jira, "Rank A").key, new_issue(jira, "Rank B").key

    def order():
        keys = [i.key for i in board_issues(jira)]
        return keys.index(a), keys.index(b)

    def rank_of(key):
        return getattr(jira.issue(key).fields, RANK_FIELD)

    ia, ib = order()
    assert ia < ib
    others = {k: rank_of(k) for k in ("DEMO-1", "DEMO-3")}
    assert jira.rank(b, next_issue=a).status_code == 204
    ia, ib = order()
    assert ib == ia - 1 and rank_of(b) < rank_of(a)
    assert {k: rank_of(k) for k in others} == others  # only the ranked issue changes rank
    assert jira.rank(b, prev_issue=a).status_code == 204
    ia, ib = order()
    assert ib == ia + 1
    jira.rank(a, next_issue="DEMO-1")
    keys = [i.key for i in board_issues(jira)]
    assert keys.index(a) + 1 == keys.index("DEMO-1")   # adjacency: earlier runs may rank others first
    r = requests.put(ENV["JIRA_URL"] + "/rest/agile/1.0/issue/rank", timeout=10,
                     headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"},
                     json={"issues": [b, "DEMO-99999"], "rankBeforeIssue": a, "rankCustomFieldId": 10105})
    assert r.status_code == 207
    assert [(e["issueKey"], e["status"]) for e in r.json()["entries"]] == [(b, 200), ("DEMO-99999", 404)]
    keys = [i.key for i in board_issues(jira)]
    assert keys.index(b) + 1 == keys.index(a) and keys.index(a) + 1 == keys.index("DEMO-1")


def test_add_issues_to_sprint(jira):
    key = new_issue(jira, "Plan me").key
    backlog = lambda: [i["key"] for i in agile(jira, "board/1/backlog", maxResults=1000)["issues"]]  # noqa: E731
    in_sprint = lambda n: [i["key"] for i in agile(jira, f"sprint/{n}/issue", maxResults=1000)["issues"]]  # noqa: E731
    assert key in backlog() and key not in in_sprint(2)
    assert jira.add_issues_to_sprint(2, [key]).status_code == 204
    assert key in in_sprint(2) and key not in backlog()
    assert getattr(jira.issue(key).fields, SPRINT_FIELD)[0].split("[")[1].startswith("id=2,rapidViewId=1,state=ACTIVE")
    assert jira._get_json(f"issue/{key}", base=jira.AGILE_BASE_URL)["fields"]["sprint"]["id"] == 2
    jira.add_issues_to_sprint(3, [key])  # one open sprint at a time: it leaves sprint 2
    assert key in in_sprint(3) and key not in in_sprint(2)
    with pytest.raises(JIRAError) as e:
        jira.add_issues_to_sprint(1, [key])
    assert e.value.status_code == 400 and key not in in_sprint(1)
    jira.move_to_backlog([key])
    assert key in backlog() and getattr(jira.issue(key).fields, SPRINT_FIELD) is None


def test_comments(jira):
    key = new_issue(jira, "Comment on me").key
    first = jira.add_comment(key, "First comment")
    assert first.body == "First comment" and first.author.name == "alice"
    assert first.self.startswith(ENV["JIRA_URL"] + "/rest/api/2/issue/") and first.self.endswith("/comment/" + first.id)
    jira.add_comment(key, "Second comment")
    assert [c.body for c in jira.comments(key)] == ["First comment", "Second comment"]
    assert [c.body for c in jira.comments(key, order_by="-created")] == ["Second comment", "First comment"]
    assert jira.comment(key, first.id).body == "First comment"
    assert jira.issue(key).fields.comment.total == 2
    with pytest.raises(JIRAError) as e:
        jira.add_comment(key, "  ")
    assert e.value.status_code == 400
