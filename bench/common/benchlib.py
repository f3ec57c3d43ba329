"""Shared pieces of the benchmark drivers: machine description, statistics, result files, loud failure."""

import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time

BENCH_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO_DIR = os.path.dirname(BENCH_DIR)
RESULTS_DIR = os.path.join(BENCH_DIR, "results")


class BenchFailure(Exception):
    """The thing being measured is broken; the benchmark must stop with a non-zero exit."""


def fail(message):
    """Stops the benchmark loudly: the message goes to stderr with a marker, the exit code is 1."""
    print(f"BENCH FAILED: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def env_int(name, default):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        fail(f"environment variable {name}={value!r} must be an integer")


def env_float(name, default):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return float(value)
    except ValueError:
        fail(f"environment variable {name}={value!r} must be a number")


def machine():
    """What the figures were measured on: cores, CPU model, memory, kernel, software versions."""
    cpu_model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu_model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_kb = 0
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem_kb = int(line.split()[1])
                    break
    except OSError:
        pass
    info = {
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model,
        "mem_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "hostname": socket.gethostname(),
        "python": platform.python_version(),
        "timestamp_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "loadavg_at_start": load_average(),
    }
    try:
        info["dotnet"] = subprocess.run(["dotnet", "--version"], capture_output=True, text=True, timeout=60).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        info["dotnet"] = "unavailable"
    try:
        info["git_commit"] = subprocess.run(["git", "-C", REPO_DIR, "rev-parse", "--short", os.environ.get("BENCH_SOURCE_COMMIT") or "HEAD"],
                                            capture_output=True, text=True, timeout=30).stdout.strip()
        info["built_from"] = "commit snapshot" if os.environ.get("BENCH_SOURCE_COMMIT") else "working tree"
    except (OSError, subprocess.SubprocessError):
        info["git_commit"] = "unknown"
    return info


def load_average():
    """1/5/15-minute load averages: a loaded machine (other builds running) makes every figure noisier."""
    try:
        with open("/proc/loadavg") as f:
            return [float(v) for v in f.read().split()[:3]]
    except OSError:
        return []


_SOURCE_ROOT = None


def source_root():
    """The tree the .NET pieces are built from: the working tree, or a snapshot of BENCH_SOURCE_COMMIT.

    BENCH_SOURCE_COMMIT (e.g. HEAD) exports that commit with `git archive` into a temporary directory, so a
    benchmark measures committed code even while the working tree holds someone's half-finished edits.
    """
    global _SOURCE_ROOT
    if _SOURCE_ROOT is not None:
        return _SOURCE_ROOT
    commit = os.environ.get("BENCH_SOURCE_COMMIT", "").strip()
    if not commit:
        _SOURCE_ROOT = REPO_DIR
        return _SOURCE_ROOT
    resolved = subprocess.run(["git", "-C", REPO_DIR, "rev-parse", "--short", commit], capture_output=True, text=True)
    if resolved.returncode != 0:
        fail(f"BENCH_SOURCE_COMMIT={commit!r} is not a commit of {REPO_DIR}: {resolved.stderr.strip()}")
    target = os.path.join("/tmp", f"ferry-bench-src-{resolved.stdout.strip()}")
    if not os.path.isdir(target):
        os.makedirs(target + ".partial", exist_ok=True)
        archive = subprocess.run(f"git -C '{REPO_DIR}' archive '{commit}' | tar -x -C '{target}.partial'", shell=True,
                                 capture_output=True, text=True)
        if archive.returncode != 0:
            fail(f"exporting {commit} failed: {archive.stderr.strip()}")
        # node_modules are installed by scripts/setup.sh (npm ci), not committed: share the working tree's.
        for dirpath, dirnames, filenames in os.walk(target + ".partial"):
            dirnames[:] = [d for d in dirnames if d not in ("node_modules", "bin", "obj")]
            if "package-lock.json" in filenames:
                rel = os.path.relpath(dirpath, target + ".partial")
                installed = os.path.join(REPO_DIR, rel, "node_modules")
                if os.path.isdir(installed) and not os.path.exists(os.path.join(dirpath, "node_modules")):
                    os.symlink(installed, os.path.join(dirpath, "node_modules"))
        os.rename(target + ".partial", target)
    _SOURCE_ROOT = target
    return _SOURCE_ROOT


def dotnet_build(project_relative):
    """Builds a project (path relative to the repository) in Release; returns its output directory."""
    project = os.path.join(source_root(), project_relative)
    if not os.path.exists(project):
        fail(f"{project} does not exist (in {'BENCH_SOURCE_COMMIT=' + os.environ['BENCH_SOURCE_COMMIT'] if os.environ.get('BENCH_SOURCE_COMMIT') else 'the working tree'})")
    result = subprocess.run(["dotnet", "build", project, "-c", "Release", "-nologo", "-v", "q", "-clp:NoSummary"],
                            capture_output=True, text=True)
    if result.returncode != 0:
        fail(f"building {project} failed:\n{(result.stdout + result.stderr).strip()[-4000:]}")
    return os.path.join(os.path.dirname(project), "bin", "Release", "net10.0")


def dotnet_publish_ready_to_run(project_relative, name):
    """Publishes a project in Release as ReadyToRun for linux-x64 (framework-dependent), the way its image ships it
    precompiled; returns the output directory (under bench/.publish/<name>)."""
    project = os.path.join(source_root(), project_relative)
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".publish", name)
    result = subprocess.run(["dotnet", "publish", project, "-c", "Release", "-r", "linux-x64", "--self-contained", "false",
                             "-p:PublishReadyToRun=true", "-o", out, "-nologo", "-v", "q", "-clp:NoSummary"],
                            capture_output=True, text=True)
    if result.returncode != 0:
        fail(f"publishing {project} failed:\n{(result.stdout + result.stderr).strip()[-4000:]}")
    return out


def median(values):
    return statistics.median(values)


def summary(values):
    """Median plus spread, so a reader can tell a quiet run from a noisy one."""
    ordered = sorted(values)
    return {
        "median": statistics.median(ordered),
        "min": ordered[0],
        "max": ordered[-1],
        "runs": len(ordered),
        "values": ordered,
    }


def write_results(name, payload):
    os.makedirs(RESULTS_DIR, exist_ok=True)
    path = os.path.join(RESULTS_DIR, f"{name}.json")
    with open(path, "w") as f:
        json.dump(payload, f, indent=2, sort_keys=False)
        f.write("\n")
    return path


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peer_python():
    """The interpreter with Debian's python3-torch; the pyenv python3 on PATH does not have it."""
    return os.environ.get("BENCH_PEER_PYTHON", "/usr/bin/python3")


def fmt(value, digits=3):
    return f"{value:.{digits}f}"
