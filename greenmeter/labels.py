"""What a run is about, beyond what was measured: user tags and the CI job that ran it.

Both end up in the JSON report (``tags``, ``ci``) and the CSV row (``tags`` as one JSON
column; ``git_commit``, ``git_branch``, ``ci_*``), so ``greenmeter report --group-by`` and
``greenmeter compare`` can select runs by branch, commit, job or any tag.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import click

_TAG_KEY = re.compile(r"^[A-Za-z0-9_.-]+$")


class TagType(click.ParamType):
    """``key=value``; the key is letters, digits, ``_ . -``; the value is any text."""

    name = "key=value"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        key, sep, text = str(value).partition("=")
        key = key.strip()
        if not sep or not _TAG_KEY.match(key):
            self.fail(f"{value!r} is not key=value (key: letters, digits, _ . -)", param, ctx)
        return key, text


TAG = TagType()


def tags_dict(pairs) -> dict[str, str]:
    """Later tags win over earlier ones with the same key (a command line over a settings file)."""
    return {key: value for key, value in pairs}


# (field, variables tried in order). GitHub's GITHUB_REF_NAME is "123/merge" for a pull
# request; GITHUB_HEAD_REF is the branch the pull request comes from. GitLab has the same
# split for merge-request pipelines.
_GITHUB = (
    ("git_commit", ("GITHUB_SHA",)),
    ("git_branch", ("GITHUB_HEAD_REF", "GITHUB_REF_NAME")),
    ("repository", ("GITHUB_REPOSITORY",)),
    ("workflow", ("GITHUB_WORKFLOW",)),
    ("job", ("GITHUB_JOB",)),
    ("run_id", ("GITHUB_RUN_ID",)),
    ("run_attempt", ("GITHUB_RUN_ATTEMPT",)),
    ("runner", ("RUNNER_NAME",)),
    ("runner_os", ("RUNNER_OS",)),
    ("event", ("GITHUB_EVENT_NAME",)),
)
_GITLAB = (
    ("git_commit", ("CI_COMMIT_SHA",)),
    ("git_branch", ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "CI_COMMIT_REF_NAME")),
    ("repository", ("CI_PROJECT_PATH",)),
    ("pipeline_id", ("CI_PIPELINE_ID",)),
    ("job", ("CI_JOB_NAME",)),
    ("run_id", ("CI_JOB_ID",)),
    ("runner", ("CI_RUNNER_DESCRIPTION", "CI_RUNNER_ID")),
    ("event", ("CI_PIPELINE_SOURCE",)),
    ("url", ("CI_JOB_URL",)),
)


def _pick(environ: Mapping[str, str], fields) -> dict[str, str]:
    out = {}
    for name, variables in fields:
        value = next((environ[v] for v in variables if environ.get(v)), None)
        if value is not None:
            out[name] = value
    return out


def ci_context(environ: Mapping[str, str]) -> dict[str, str] | None:
    """The CI job running greenmeter, from GitHub Actions' or GitLab CI's variables; None
    outside CI."""
    if environ.get("GITHUB_ACTIONS") == "true":
        ci = {"provider": "github", **_pick(environ, _GITHUB)}
        server, repo, run = (environ.get(v) for v in
                             ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"))
        if server and repo and run:
            ci["url"] = f"{server}/{repo}/actions/runs/{run}"
        return ci
    if environ.get("GITLAB_CI") == "true":
        return {"provider": "gitlab", **_pick(environ, _GITLAB)}
    return None
