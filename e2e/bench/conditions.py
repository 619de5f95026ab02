"""What a benchmark run depended on, printed before its figures so that a result can be
reproduced or explained: the machine, what else was using its CPUs, the binary measured
(its revision and whether it is older than the sources), and the stack's versions.

Per-CPU-second figures count only the measured processes' own CPU time, so they are
sensitive to what shares the machine (another build, a test suite, a second benchmark):
`busy_elsewhere` names the processes that used CPU while the benchmark ran, and
`check_quiet` refuses to start while the machine is busy (override with --allow-busy).
"""
import os
import platform
import subprocess
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def _read(path, default="?"):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return default


def _cpu_model():
    for line in _read("/proc/cpuinfo", "").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "?"


def _git(*args):
    proc = subprocess.run(["git", "-C", REPO, *args], capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else "?"


def _newest_source_mtime():
    newest = 0.0
    for root, dirs, files in os.walk(os.path.join(REPO, "operator")):
        dirs[:] = [d for d in dirs if d != "target"]
        for name in files:
            if name.endswith((".rs", ".toml")):
                newest = max(newest, os.path.getmtime(os.path.join(root, name)))
    return max(newest, os.path.getmtime(os.path.join(REPO, "Cargo.lock")))


def process_cpu_seconds(pid):
    """User + system CPU seconds of a process and all its threads (live and exited)."""
    try:
        fields = _read(f"/proc/{pid}/stat", "").rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (IndexError, ValueError):
        return 0.0


def context_switches(pid):
    """Voluntary and involuntary context switches of all live threads of a process: many
    voluntary switches per event mean the consumer keeps running dry and sleeping."""
    voluntary = involuntary = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0, 0
    for task in tasks:
        for line in _read(f"/proc/{pid}/task/{task}/status", "").splitlines():
            if line.startswith("voluntary_ctxt_switches:"):
                voluntary += int(line.split()[1])
            elif line.startswith("nonvoluntary_ctxt_switches:"):
                involuntary += int(line.split()[1])
    return voluntary, involuntary


def all_process_cpu():
    """CPU seconds of every process now, by pid, with its command name."""
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _read(f"/proc/{entry}/stat", "")
            if ")" in stat:
                name = stat[stat.find("(") + 1:stat.rfind(")")]
                out[int(entry)] = (name, process_cpu_seconds(entry))
    return out


def busy_elsewhere(before, after, exclude, threshold=0.5):
    """Processes other than `exclude` that used more than `threshold` CPU seconds between
    two snapshots of all_process_cpu()."""
    busy = []
    for pid, (name, cpu) in after.items():
        if pid in exclude:
            continue
        used = cpu - before.get(pid, (name, 0.0))[1]
        if used > threshold:
            busy.append((used, name, pid))
    return sorted(busy, reverse=True)


def stack_pids():
    """Pids of the local stack's components, by name."""
    pids = {}
    directory = os.path.join(os.environ.get("MESHPLANE_STACK_DIR", os.path.join(REPO, ".stack")), "pids")
    for name in ("kafka", "seaweedfs", "kube-apiserver", "etcd", "kube-controller-manager"):
        text = _read(os.path.join(directory, f"{name}.pid"), "")
        if text.isdigit():
            pids[name] = int(text)
    return pids


def check_quiet(allow_busy, seconds=2.0):
    """Fails when other processes keep the CPUs busy (a build, a test suite)."""
    before = all_process_cpu()
    time.sleep(seconds)
    after = all_process_cpu()
    busy = busy_elsewhere(before, after, exclude=set(stack_pids().values()) | {os.getpid()}, threshold=0.2 * seconds)
    if busy and not allow_busy:
        names = ", ".join(f"{name} (pid {pid}, {used / seconds:.0%} of a CPU)" for used, name, pid in busy[:5])
        raise SystemExit(f"the machine is busy: {names}. Per-CPU figures would not be comparable; "
                         "wait for it to be quiet or pass --allow-busy (the run is then marked busy)")
    return busy


def describe(binary, extra):
    """Prints the conditions of the run."""
    mtime = os.path.getmtime(binary) if os.path.exists(binary) else 0.0
    stale = mtime < _newest_source_mtime()
    versions = _read(os.path.join(REPO, "e2e", "stack", "versions.env"), "")
    stack = ", ".join(line for line in versions.splitlines() if line and not line.startswith("#"))
    lines = [
        f"date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}",
        f"machine: {_cpu_model()}, {os.cpu_count()} CPUs, "
        f"{int(_read('/proc/meminfo').split()[1]) // 1024 // 1024} GiB, kernel {platform.release()}, "
        f"clocksource {_read('/sys/devices/system/clocksource/clocksource0/current_clocksource')}, "
        f"THP {_read('/sys/kernel/mm/transparent_hugepage/enabled')}",
        f"load average before: {_read('/proc/loadavg')}",
        f"binary: {binary} (revision {_git('rev-parse', '--short', 'HEAD')}"
        f"{' with uncommitted changes' if _git('status', '--porcelain', '--untracked-files=no') else ''}"
        f"{', OLDER THAN THE SOURCES: rebuild with cargo build --release -p meshplane' if stale else ''})",
        f"rustc: {subprocess.run(['rustc', '--version'], capture_output=True, text=True).stdout.strip() or '?'}",
        f"stack: {stack}",
        *extra,
    ]
    for line in lines:
        print(f"# {line}")
