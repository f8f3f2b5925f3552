"""The Python half of scripts/ansible-targets (run with the Ansible venv's Python).

  targets.py prepare SRC DEST TARGET...
      copies the targets and the roles their meta/main.yml depend on from SRC
      (the collection's tests/integration/targets) to DEST, drops their
      `resource_actions` assertions, and writes DEST/TARGET.playbook.yml, the
      play ansible-test would run, for each target
  targets.py report RESULTS KNOWN TARGET...
      prints each target's outcome from RESULTS/TARGET.json (written by the
      eipd_tasks callback) and compares its failing tasks with the list in
      KNOWN; exits 1 on a failure not listed or a listed one that did not fail
"""

import json
import os
import re
import shutil
import sys
import uuid
from collections import defaultdict

import yaml

# An assertion on `resource_actions`: amazon.aws collects them by parsing
# "https://<service>." out of botocore's endpoint log, so against
# http://127.0.0.1 they are always empty, and these assertions cannot hold
# (or hold whatever eipd does).
RESOURCE_ACTIONS_ITEM = re.compile(r"^(\s*)- (.*\bresource_actions\b.*)$")


def dependencies(src, target):
    with open(os.path.join(src, target, "meta", "main.yml"), encoding="utf-8") as f:
        meta = yaml.safe_load(f) or {}
    for dep in meta.get("dependencies") or []:
        yield dep["role"] if isinstance(dep, dict) else dep


def drop_resource_actions(path):
    """Comments out the assertions in place, so that line numbers stay those of
    the collection's files; returns how many were dropped."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    dropped = 0
    for i, line in enumerate(lines):
        found = RESOURCE_ACTIONS_ITEM.match(line)
        if found:
            lines[i] = f"{found.group(1)}# dropped by scripts/ansible-targets: {found.group(2)}"
            dropped += 1
        elif "resource_actions" in line:
            sys.exit(f"{path}:{i + 1}: a resource_actions use this script does not know how to drop: {line.strip()}")
    if dropped:
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(lines))
        check_asserts(path)
    return dropped


def check_asserts(path):
    """An assert whose every condition was dropped would fail for want of one."""

    def walk(node):
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            for key in ("ansible.builtin.assert", "assert"):
                if key in node and isinstance(node[key], dict) and not node[key].get("that"):
                    sys.exit(f"{path}: the assert {node.get('name')!r} has no condition left")
            for key in ("block", "rescue", "always"):
                walk(node.get(key))

    with open(path, encoding="utf-8") as f:
        walk(yaml.safe_load(f))


def prepare(src, dest, targets):
    roles, todo = [], list(targets)
    while todo:
        role = todo.pop(0)
        if role not in roles:
            roles.append(role)
            todo.extend(dependencies(src, role))
    os.makedirs(dest, exist_ok=True)
    for role in roles:
        shutil.copytree(os.path.join(src, role), os.path.join(dest, role))
        dropped = sum(
            drop_resource_actions(os.path.join(top, name))
            for top, _, names in os.walk(os.path.join(dest, role))
            for name in sorted(names)
            if name.endswith((".yml", ".yaml"))
        )
        if dropped:
            print(f"    {role}: dropped {dropped} resource_actions assertion(s) (they need an https://<service>. endpoint)")
    for target in targets:
        write_playbook(dest, target)
    print(f"    roles: {' '.join(roles)}")


def write_playbook(dest, target):
    """The play ansible-test runs for a role target with the aws cloud plugin
    (ansible_test/_internal/commands/integration/{__init__,cloud/aws}.py), plus
    `ignore_errors` so that every failing task is seen (docs/compatibility.md,
    "Ansible's amazon.aws integration targets")."""
    region = "us-east-1"
    variables = {
        "output_dir": os.path.join(dest, "output", target),
        "resource_prefix": f"ansible-test-eipd-{uuid.uuid4().hex[:8]}",
        "tiny_prefix": uuid.uuid4().hex[:12],
        "aws_access_key": "AKIAEIPDANSIBLETESTS",
        "aws_secret_key": "eipd-ansible-targets-secret",
        "aws_region": region,
        "aws_cleanup": True,
        # the aliases of ansible-test's cloud-config-aws.ini template
        "ec2_access_key": "AKIAEIPDANSIBLETESTS",
        "ec2_secret_key": "eipd-ansible-targets-secret",
        "ec2_region": region,
    }
    os.makedirs(variables["output_dir"], exist_ok=True)
    play = {
        "hosts": "testhost",
        "gather_facts": True,
        "ignore_errors": True,
        "vars": variables,
        "roles": [target],
    }
    with open(os.path.join(dest, f"{target}.playbook.yml"), "w", encoding="utf-8") as f:
        json.dump([play], f, indent=1)


def read_known(path):
    """TARGET | WHERE | TASK NAME lines under `== REASON` headers."""
    known, reason = {}, None
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("=="):
                reason = line[2:].strip()
                continue
            fields = [field.strip() for field in line.split("|")]
            if len(fields) != 3 or reason is None:
                sys.exit(f"{path}:{number}: expected 'TARGET | WHERE | TASK' under an '== REASON' line")
            known[(fields[0], fields[1])] = (fields[2], reason)
    return known


def describe(task):
    if "code" in task:
        return f"{task.get('action', 'EC2')} → {task['code']}: {task['error']}"
    return task["error"]


def report(results, known_path, targets):
    known = {key: value for key, value in read_known(known_path).items() if key[0] in targets}
    unlisted, fixed, incomplete = [], [], []
    for target in targets:
        path = os.path.join(results, f"{target}.json")
        if not os.path.exists(path):
            incomplete.append(target)
            print(f"{target}: the playbook did not run to its end (see its log)")
            continue
        with open(path, encoding="utf-8") as f:
            outcome = json.load(f)
        c = outcome["counts"]
        print(
            f"{target}: {c['ok']} ok ({c['changed']} changed), {c['failed']} failed, "
            f"{c['ignored']} ignored by the target, {c['skipped']} skipped"
        )
        tasks = outcome["tasks"]
        for where, task in sorted(tasks.items(), key=lambda item: sort_key(item[0])):
            if task["status"] != "failed":
                continue
            listed = known.get((target, where))
            mark = "known" if listed else "NEW"
            print(f"  {mark:5} {where} {task['name']!r}: {describe(task)}")
            if not listed:
                unlisted.append((target, where, task))
        for (t, where), (name, reason) in sorted(known.items()):
            if t == target and tasks.get(where, {}).get("status") != "failed":
                status = tasks.get(where, {}).get("status", "not run")
                print(f"  FIXED {where} {name!r}: listed ({reason}) but {status}")
                fixed.append((target, where, name))
    if unlisted:
        print("\nFailures not in " + known_path + " (add them under their reason, or fix eipd):")
        by_cause = defaultdict(list)
        for target, where, task in unlisted:
            cause = f"{task['action']}: {task['code']}" if "action" in task else "assertion"
            by_cause[cause].append(f"{target} | {where} | {task['name']}")
        for cause, lines in by_cause.items():
            print(f"== {cause}")
            print("\n".join(lines))
    if fixed:
        print(f"\nListed in {known_path} but did not fail (remove them):")
        for target, where, name in fixed:
            print(f"{target} | {where} | {name}")
    if unlisted or fixed or incomplete:
        sys.exit(1)
    print("\nevery failing task is listed in " + known_path + ", and every listed one failed")


def sort_key(where):
    path, _, line = where.rpartition(":")
    return (path, int(line) if line.isdigit() else 0)


def main(argv):
    if len(argv) >= 4 and argv[0] == "prepare":
        prepare(argv[1], argv[2], argv[3:])
    elif len(argv) >= 4 and argv[0] == "report":
        report(argv[1], argv[2], argv[3:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
