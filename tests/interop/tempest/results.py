#!/usr/bin/env python3
"""Tempest results, per run and compared (run by tests/interop/tempest/run.sh
with the Tempest venv's python: subunit and testtools come with stestr).

  results.py collect SUBUNIT OUT.json
      Reads one run's subunit v2 stream (`stestr last --subunit`) and writes
      {test id: {"status": pass|fail|skip, "reason": ...}} to OUT.json.
      A class whose setUpClass skipped or failed shows as one entry,
      `setUpClass (tempest.api...Class)`, as stestr reports it.

  results.py compare BASELINE=FILE LABEL=FILE...
      Prints a table of passed / failed / skipped per run; then, for each run
      after the first, the tests that passed in one of the two runs and not
      in the other, with their status and reason in each. Exits 1 when any
      run's set of passed tests differs from the baseline's, or when the
      baseline passed nothing (the harness itself is broken then).
"""

import json
import sys

import subunit
import testtools

# subunit's statuses, folded to the three that matter here.
STATUS = {"success": "pass", "xfail": "pass", "skip": "skip",
          "fail": "fail", "uxsuccess": "fail"}


def reason(test):
    """The last line of the traceback, or the skip reason."""
    for name in ("traceback", "reason"):
        content = test["details"].get(name)
        if content is not None:
            lines = [l for l in content.as_text().strip().splitlines() if l.strip()]
            if lines:
                return lines[-1].strip()[:300]
    return ""


def collect(subunit_path, out_path):
    tests = {}

    def on_test(test):
        status = STATUS.get(test["status"])
        if status is None:  # "exists", "inprogress": listed, never finished
            status = "fail" if test["status"] == "inprogress" else None
        if status is not None:
            tests[test["id"]] = {"status": status, "reason": reason(test)}

    with open(subunit_path, "rb") as f:
        stream = subunit.ByteStreamToStreamResult(f, non_subunit_name="stdout")
        result = testtools.StreamToDict(on_test)
        result.startTestRun()
        try:
            stream.run(result)
        finally:
            result.stopTestRun()
    with open(out_path, "w") as f:
        json.dump(tests, f, indent=1, sort_keys=True)
    counts = {s: sum(1 for t in tests.values() if t["status"] == s) for s in ("pass", "fail", "skip")}
    print(f"{counts['pass']} passed, {counts['fail']} failed, {counts['skip']} skipped")


def load(spec):
    label, _, path = spec.partition("=")
    with open(path) as f:
        return label, json.load(f)


def passed(tests):
    return {t for t, r in tests.items() if r["status"] == "pass"}


def describe(tests, test_id):
    r = tests.get(test_id)
    if r is None:
        return "not run"
    return r["status"] + (f" ({r['reason']})" if r["reason"] and r["status"] != "pass" else "")


def compare(specs):
    runs = [load(s) for s in specs]
    width = max(len(label) for label, _ in runs)
    print(f"{'run':<{width}}  passed  failed  skipped")
    for label, tests in runs:
        n = {s: sum(1 for t in tests.values() if t["status"] == s) for s in ("pass", "fail", "skip")}
        print(f"{label:<{width}}  {n['pass']:>6}  {n['fail']:>6}  {n['skip']:>7}")
    base_label, base = runs[0]
    ok = True
    if not passed(base):
        print(f"DIFF: the {base_label} run passed no test: the harness itself is broken")
        ok = False
    for label, tests in runs[1:]:
        lost = sorted(passed(base) - passed(tests))
        gained = sorted(passed(tests) - passed(base))
        if not lost and not gained:
            print(f"SAME: {label} passed exactly the tests {base_label} passed ({len(passed(tests))})")
            continue
        ok = False
        print(f"DIFF: {label} vs {base_label}: {len(lost)} passed only {base_label}, {len(gained)} only {label}")
        for test_id in lost:
            print(f"  - {test_id}\n      {base_label}: pass\n      {label}: {describe(tests, test_id)}")
        for test_id in gained:
            print(f"  + {test_id}\n      {base_label}: {describe(base, test_id)}\n      {label}: pass")
    return ok


def main(argv):
    if len(argv) == 3 and argv[0] == "collect":
        collect(argv[1], argv[2])
        return 0
    if len(argv) >= 2 and argv[0] == "compare":
        return 0 if compare(argv[1:]) else 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
