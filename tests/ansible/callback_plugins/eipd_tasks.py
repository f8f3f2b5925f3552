"""Records every task's outcome of one amazon.aws integration target for
scripts/ansible-targets (tests/ansible/targets.py reads the file it writes).

scripts/ansible-targets runs the target's play with `ignore_errors: true` so
that one failure does not end the play; this plugin tells those failures
apart from the ones the target itself ignores (a task, or a block around it,
with its own `ignore_errors`), which stay "ignored" as under ansible-test.
"""

import json
import os
import re

from ansible.plugins.callback import CallbackBase
from ansible.module_utils.parsing.convert_bool import boolean

DOCUMENTATION = """
    name: eipd_tasks
    type: aggregate
    short_description: each task's outcome, as JSON, for scripts/ansible-targets
    description:
      - Writes the file named by EIPD_ANSIBLE_RESULTS when the playbook ends.
      - Tasks are named by their file and line, relative to EIPD_ANSIBLE_TARGETS.
"""

# amazon.aws's fail_json_aws message: "... An error occurred (CODE) when calling the ACTION operation: ..."
BOTO_ERROR = re.compile(r"An error occurred \(([^)]+)\) when calling the (\w+) operation")
RANK = {"skipped": 0, "ignored": 1, "ok": 2, "failed": 3}


def _ignored_by_target(task):
    """The task's own `ignore_errors`, or that of an enclosing block or include,
    as written in the target; the play's (set by scripts/ansible-targets) does
    not count. The task's attributes cannot tell: by now they hold the value
    inherited from the play."""
    node = task
    while node is not None:
        written = node.get_ds() if hasattr(node, "get_ds") else None
        if isinstance(written, dict) and "ignore_errors" in written:
            return boolean(written["ignore_errors"], strict=False) or "{{" in str(written["ignore_errors"])
        node = getattr(node, "_parent", None)
    return False


def _failure(result):
    """What went wrong, in one line: the assertion, or the EC2 action and code."""
    if isinstance(result.get("results"), list):  # a loop: the first failing item
        for item in result["results"]:
            if isinstance(item, dict) and item.get("failed"):
                return _failure(item)
    if result.get("assertion") is not None:
        return {"error": f"assertion failed: {result['assertion']}"}
    message = str(result.get("msg") or result.get("message") or result.get("reason") or result.get("censored") or "")
    failure = {"error": " ".join(message.split())[:400]}
    found = BOTO_ERROR.search(message)
    if found:
        failure["code"], failure["action"] = found.group(1), found.group(2)
    elif isinstance(result.get("error"), dict) and result["error"].get("code"):
        failure["code"] = result["error"]["code"]
    return failure


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "eipd_tasks"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._root = os.path.realpath(os.environ["EIPD_ANSIBLE_TARGETS"])
        self._out = os.environ["EIPD_ANSIBLE_RESULTS"]
        self._counts = {"ok": 0, "changed": 0, "failed": 0, "ignored": 0, "skipped": 0}
        self._tasks = {}  # "role/tasks/file.yml:LINE" → its outcome over all its runs

    def _record(self, result, status):
        self._counts[status] += 1
        if status == "ok":
            self._counts["changed"] += bool(result._result.get("changed"))
        task = result._task
        where = os.path.relpath(task.get_path(), self._root)
        entry = self._tasks.setdefault(where, {"name": task.get_name(), "status": "skipped"})
        # Over several runs of one task (includes, loops of includes) the
        # worst outcome stands, and its first failure is the one reported.
        if RANK[status] > RANK[entry["status"]]:
            entry["status"] = status
            if status == "failed":
                entry.update(_failure(result._result))

    def v2_runner_on_ok(self, result):
        self._record(result, "ok")

    def v2_runner_on_skipped(self, result):
        self._record(result, "skipped")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, "ignored" if _ignored_by_target(result._task) else "failed")

    def v2_runner_on_unreachable(self, result):
        self._record(result, "failed")

    def v2_playbook_on_stats(self, stats):
        with open(self._out, "w", encoding="utf-8") as f:
            json.dump({"counts": self._counts, "tasks": self._tasks}, f, indent=1, sort_keys=True)
