"""The code a run measured: from each CI's environment, the generic variables, or flags."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rigbench.context import RunContext, current, from_environment, use_flags
from rigbench.controller.cli import app

SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(autouse=True)
def no_flags():
    use_flags()
    yield
    use_flags()


def test_nothing_in_the_environment_claims_nothing() -> None:
    assert from_environment({}) == RunContext()
    assert RunContext().describe() == ""


def test_github_pull_request_uses_the_head_commit_not_the_merge(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 42, "head": {"sha": SHA}}}))
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_SHA": "f" * 40,  # the merge commit GitHub made
        "GITHUB_REF": "refs/pull/42/merge",
        "GITHUB_HEAD_REF": "feature/faster",
        "GITHUB_REF_NAME": "42/merge",
        "GITHUB_EVENT_PATH": str(event),
    }
    assert from_environment(env) == RunContext(SHA, "feature/faster", "42", "github")


def test_github_push_has_a_branch_and_no_pull_request() -> None:
    env = {"GITHUB_ACTIONS": "true", "GITHUB_SHA": SHA, "GITHUB_REF_NAME": "main"}
    assert from_environment(env) == RunContext(SHA, "main", None, "github")


def test_github_pull_request_number_from_the_ref_when_the_event_is_unreadable() -> None:
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_SHA": SHA,
        "GITHUB_REF": "refs/pull/7/merge",
        "GITHUB_EVENT_PATH": "/nonexistent/event.json",
    }
    assert from_environment(env).pull_request == "7"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {
                "GITLAB_CI": "true",
                "CI_COMMIT_SHA": SHA,
                "CI_COMMIT_REF_NAME": "main",
                "CI_MERGE_REQUEST_IID": "9",
                "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": "mr-branch",
            },
            RunContext(SHA, "mr-branch", "9", "gitlab"),
        ),
        (
            {
                "JENKINS_URL": "http://ci",
                "GIT_COMMIT": SHA,
                "BRANCH_NAME": "PR-3",
                "CHANGE_ID": "3",
            },
            RunContext(SHA, "PR-3", "3", "jenkins"),
        ),
        (
            {
                "BUILDKITE": "true",
                "BUILDKITE_COMMIT": SHA,
                "BUILDKITE_BRANCH": "dev",
                "BUILDKITE_PULL_REQUEST": "false",
            },
            RunContext(SHA, "dev", None, "buildkite"),
        ),
        (
            {
                "CIRCLECI": "true",
                "CIRCLE_SHA1": SHA,
                "CIRCLE_BRANCH": "x",
                "CIRCLE_PULL_REQUEST": "https://github.com/o/r/pull/11",
            },
            RunContext(SHA, "x", "11", "circleci"),
        ),
    ],
)
def test_other_cis(env: dict[str, str], expected: RunContext) -> None:
    assert from_environment(env) == expected


def test_generic_variables_win_over_the_cis_and_work_alone() -> None:
    env = {"GITLAB_CI": "true", "CI_COMMIT_SHA": SHA, "RIGBENCH_PULL_REQUEST": "5"}
    assert from_environment(env) == RunContext(SHA, None, "5", "gitlab")
    assert from_environment({"RIGBENCH_GIT_SHA": "abc"}) == RunContext("abc", None, None, "env")


def test_flags_win_over_everything() -> None:
    use_flags(git_branch="release")
    ctx = current({"GITHUB_ACTIONS": "true", "GITHUB_SHA": SHA, "GITHUB_REF_NAME": "main"})
    assert ctx == RunContext(SHA, "release", None, "github")
    assert current({}) == RunContext(None, "release", None, "flags")


def test_a_context_reads_as_one_line() -> None:
    assert RunContext(SHA, "main", "12", "github").describe() == (
        "git 0123456789ab on branch main, PR #12 (github)"
    )


def test_runs_lists_each_runs_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rigbench.controller.store import Store

    monkeypatch.setenv("RIGBENCH_GIT_SHA", SHA)
    monkeypatch.setenv("RIGBENCH_GIT_BRANCH", "main")
    store = Store(tmp_path / "s.duckdb", create=True)
    store.begin_run("r1", "run", "demo", "{}", None)
    use_flags(pull_request="77")
    store.begin_run("r2", "run", "demo", "{}", None)
    use_flags()
    out = CliRunner().invoke(app, ["runs", "--store", str(tmp_path / "s.duckdb")]).output
    lines = {line.split()[0]: line for line in out.splitlines()[2:]}
    assert "012345678 main #77" in lines["r2"]
    assert "012345678 main" in lines["r1"] and "#" not in lines["r1"]
    js = CliRunner().invoke(app, ["runs", "-f", "json", "--store", str(tmp_path / "s.duckdb")])
    rows = {r["run_id"]: r for r in json.loads(js.output)}
    assert rows["r2"]["pull_request"] == "77" and rows["r1"]["ci"] == "env"
