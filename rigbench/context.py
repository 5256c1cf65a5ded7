"""Which code a run measured: git SHA, branch and pull request, from CI's environment or flags.

A number without the commit it belongs to cannot be traced back. Every run records its
context when it begins (``Store.begin_run``); ``runs``, ``compare`` and the nightly show it.
Read from the environment of GitHub Actions, GitLab CI, Jenkins, Buildkite and CircleCI, or
the generic ``RIGBENCH_GIT_SHA``, ``RIGBENCH_GIT_BRANCH`` and ``RIGBENCH_PULL_REQUEST`` (which
win over a CI's own variables), or the commands' ``--git-sha``, ``--git-branch`` and
``--pull-request`` flags (which win over everything). Nothing found is nothing claimed: the
fields stay empty.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path


@dataclass(frozen=True)
class RunContext:
    git_sha: str | None = None
    git_branch: str | None = None
    pull_request: str | None = None  # the number, as the CI names it
    ci: str | None = None  # github | gitlab | jenkins | buildkite | circleci | flags | env

    def to_dict(self) -> dict[str, str | None]:
        return asdict(self)

    def describe(self) -> str:
        """`git 1a2b3c4d5e6f on branch main, PR #12 (github)`, or '' when nothing is known."""
        parts = []
        if self.git_sha:
            parts.append(f"git {self.git_sha[:12]}")
        if self.git_branch:
            parts.append(f"on branch {self.git_branch}")
        text = " ".join(parts)
        if self.pull_request:
            text += (", " if text else "") + f"PR #{self.pull_request}"
        if text and self.ci:
            text += f" ({self.ci})"
        return text


def _github(env: Mapping[str, str]) -> RunContext:
    sha, pr = env.get("GITHUB_SHA"), None
    match = re.fullmatch(r"refs/pull/(\d+)/(merge|head)", env.get("GITHUB_REF", ""))
    if match:
        pr = match.group(1)
    event = env.get("GITHUB_EVENT_PATH")
    if event:
        try:
            payload = json.loads(Path(event).read_text())
        except (OSError, ValueError):
            payload = {}
        pull = payload.get("pull_request") if isinstance(payload, dict) else None
        if isinstance(pull, dict):
            pr = str(pull.get("number") or pr or "") or None
            head = pull.get("head")
            if isinstance(head, dict) and head.get("sha"):
                sha = str(head["sha"])  # the PR's commit, not GitHub's merge commit
    branch = env.get("GITHUB_HEAD_REF") or env.get("GITHUB_REF_NAME")
    return RunContext(sha, branch or None, pr, "github")


def _gitlab(env: Mapping[str, str]) -> RunContext:
    branch = env.get("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME") or env.get("CI_COMMIT_REF_NAME")
    return RunContext(
        env.get("CI_COMMIT_SHA"), branch, env.get("CI_MERGE_REQUEST_IID") or None, "gitlab"
    )


def _jenkins(env: Mapping[str, str]) -> RunContext:
    branch = env.get("CHANGE_BRANCH") or env.get("BRANCH_NAME") or env.get("GIT_BRANCH")
    return RunContext(env.get("GIT_COMMIT"), branch, env.get("CHANGE_ID") or None, "jenkins")


def _buildkite(env: Mapping[str, str]) -> RunContext:
    pr = env.get("BUILDKITE_PULL_REQUEST")
    return RunContext(
        env.get("BUILDKITE_COMMIT"),
        env.get("BUILDKITE_BRANCH"),
        pr if pr and pr != "false" else None,
        "buildkite",
    )


def _circleci(env: Mapping[str, str]) -> RunContext:
    url = env.get("CIRCLE_PULL_REQUEST", "")
    pr = url.rstrip("/").rsplit("/", 1)[-1] if url else None
    return RunContext(env.get("CIRCLE_SHA1"), env.get("CIRCLE_BRANCH"), pr or None, "circleci")


_CIS = (
    ("GITHUB_ACTIONS", _github),
    ("GITLAB_CI", _gitlab),
    ("JENKINS_URL", _jenkins),
    ("BUILDKITE", _buildkite),
    ("CIRCLECI", _circleci),
)


def from_environment(env: Mapping[str, str] | None = None) -> RunContext:
    """The context a CI (or the generic RIGBENCH_* variables) gives."""
    env = os.environ if env is None else env
    ctx = RunContext()
    for marker, read in _CIS:
        if env.get(marker):
            ctx = read(env)
            break
    generic = {
        "git_sha": env.get("RIGBENCH_GIT_SHA"),
        "git_branch": env.get("RIGBENCH_GIT_BRANCH"),
        "pull_request": env.get("RIGBENCH_PULL_REQUEST"),
    }
    given = {k: v for k, v in generic.items() if v}
    if given:
        ctx = replace(ctx, **given, ci=ctx.ci or "env")
    return ctx


_flags = RunContext()


def use_flags(
    git_sha: str | None = None, git_branch: str | None = None, pull_request: str | None = None
) -> None:
    """What this command's flags say; they win over the environment (None: not given)."""
    global _flags
    _flags = RunContext(git_sha or None, git_branch or None, pull_request or None, "flags")


def current(env: Mapping[str, str] | None = None) -> RunContext:
    """The context of a run beginning now: flags over the generic variables over the CI's."""
    ctx = from_environment(env)
    fields = ("git_sha", "git_branch", "pull_request")
    given = {k: v for k, v in asdict(_flags).items() if v and k in fields}
    if given:
        ctx = replace(ctx, **given, ci=ctx.ci or "flags")
    return ctx
