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
    }
    try:
        info["dotnet"] = subprocess.run(["dotnet", "--version"], capture_output=True, text=True, timeout=60).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        info["dotnet"] = "unavailable"
    try:
        info["git_commit"] = subprocess.run(["git", "-C", REPO_DIR, "rev-parse", "--short", "HEAD"],
                                            capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        info["git_commit"] = "unknown"
    return info


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
