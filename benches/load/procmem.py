#!/usr/bin/env python3
"""Memory of a process tree, from /proc (stdlib only).

    procmem.py PID [PID...]   ->  {"rss_kb": .., "pss_kb": .., "cpu_s": .., "procs": n}
    procmem.py --tree PID     ->  PID and its descendants' pids, one line
    procmem.py --cpu-busy S   ->  share of all CPUs busy over S seconds (0..1)
    procmem.py --cpu PID [PID...]  ->  each PID tree's cpu_s, space-separated

RSS is VmRSS summed over each PID and all its descendants (nginx and
Varnish workers are children of the process run.sh started). Summed RSS
counts pages shared between workers (nginx's shared-memory zones,
libraries) once per worker; PSS splits shared pages between the processes
that map them, so it is the fairer "memory this proxy costs" figure. cpu_s is the user +
system CPU time the tree's live processes have used so far; run.sh takes
the difference over a run to get CPU time per request, a figure much less
sensitive to a noisy machine than requests/s.
"""
import json
import os
import sys


def children_map():
    """{ppid: [pid, ...]} for every process visible in /proc."""
    kids = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue  # exited meanwhile
        # The command name may contain spaces and parentheses: split after
        # the last ')'. Fields after it: state, ppid, ...
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(name))
    return kids


def tree(pids):
    """The given pids and all their descendants."""
    kids = children_map()
    out, todo = [], list(pids)
    while todo:
        pid = todo.pop()
        if pid in out:
            continue
        out.append(pid)
        todo.extend(kids.get(pid, []))
    return out


def cpu_busy(seconds):
    """Share of the machine's CPU time spent busy over `seconds` (/proc/stat)."""
    import time

    def snap():
        with open("/proc/stat") as f:
            vals = [int(v) for v in f.readline().split()[1:]]
        idle = vals[3] + vals[4]  # idle + iowait
        return sum(vals), idle

    total0, idle0 = snap()
    time.sleep(seconds)
    total1, idle1 = snap()
    return 1 - (idle1 - idle0) / max(total1 - total0, 1)


def _field_kb(path, field):
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _cpu_ticks(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime + stime (stat fields 14, 15)


def measure(pids):
    """{"rss_kb", "pss_kb", "cpu_s", "procs"} summed over the trees of `pids`."""
    procs = tree(pids)
    rss = sum(_field_kb(f"/proc/{p}/status", "VmRSS") for p in procs)
    pss = sum(_field_kb(f"/proc/{p}/smaps_rollup", "Pss") for p in procs)
    ticks = sum(_cpu_ticks(p) for p in procs)
    return {"rss_kb": rss, "pss_kb": pss, "cpu_s": ticks / os.sysconf("SC_CLK_TCK"), "procs": len(procs)}


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: procmem.py [--tree] PID [PID...]")
    if sys.argv[1] == "--cpu":
        # One process start for several trees (run.sh calls this around
        # every run; a Python start costs ~0.3 s on a busy 2-core machine).
        print(" ".join(str(measure([int(p)])["cpu_s"]) for p in sys.argv[2:]))
    elif sys.argv[1] == "--cpu-busy":
        print(round(cpu_busy(float(sys.argv[2])), 3))
    elif sys.argv[1] == "--tree":
        print(" ".join(str(p) for p in tree([int(p) for p in sys.argv[2:]])))
    else:
        print(json.dumps(measure([int(p) for p in sys.argv[1:]])))
