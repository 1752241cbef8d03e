"""The CI job that runs greenmeter, read from GitHub Actions' or GitLab CI's variables.

It ends up in the JSON report (``ci``) and the CSV row (``git_commit``, ``git_branch``,
``ci_*``), beside the user's tags (``--tag``, ``greenmeter.cli.params.TAG``), so
``greenmeter report --group-by`` and ``greenmeter compare`` can select runs by branch,
commit, job or any tag.
"""

from __future__ import annotations

from collections.abc import Mapping

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
        server, repo, run = (
            environ.get(v) for v in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")
        )
        if server and repo and run:
            ci["url"] = f"{server}/{repo}/actions/runs/{run}"
        return ci
    if environ.get("GITLAB_CI") == "true":
        return {"provider": "gitlab", **_pick(environ, _GITLAB)}
    return None
