"""Run inside a desktop (as its user): try what a desktop user must not be able to do, and
report each outcome. ``python3 desktop_probe.py OUT.json SPEC.json``; SPEC names the targets.

Each check reports ``"ok"`` (it worked) or the error's name, so the test decides what is
expected; nothing here asserts.
"""

import json
import os
import socket
import subprocess
import sys


def attempt(fn):
    try:
        result = fn()
    except OSError as exc:
        return {"outcome": type(exc).__name__, "errno": exc.errno}
    return {"outcome": "ok", "value": result}


def read(path):
    with open(path, "rb") as f:
        return len(f.read(64))


def connect_unix(path):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(3)
        s.connect(path)
        return True


def x_without_cookie(display_number):
    """An X11 connection setup without authorisation: the server's answer (1 = accepted)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(3)
        s.connect(f"/tmp/.X11-unix/X{display_number}")
        s.sendall(b"l\0" + (11).to_bytes(2, "little") + (0).to_bytes(2, "little") + bytes(6))
        return s.recv(1)[0]


def run(argv):
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL)
    return {"code": proc.returncode, "out": proc.stdout.strip(), "err": proc.stderr.strip()[-300:]}


def main():
    out, spec = sys.argv[1], json.load(open(sys.argv[2]))
    status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
    report = {
        "uid": os.getuid(), "euid": os.geteuid(), "gid": os.getgid(), "groups": os.getgroups(),
        "env": dict(os.environ), "cwd": os.getcwd(),
        "no_new_privs": status.get("NoNewPrivs", "").strip(), "cap_eff": status.get("CapEff", "").strip(),
        "cgroup": open("/proc/self/cgroup").read(),
        "checks": {},
    }
    checks = report["checks"]
    for name, path in spec.get("read", {}).items():
        checks[f"read {name}"] = attempt(lambda p=path: read(p))
    for name, path in spec.get("list", {}).items():
        checks[f"list {name}"] = attempt(lambda p=path: len(os.listdir(p)))
    for name, path in spec.get("connect", {}).items():
        checks[f"connect {name}"] = attempt(lambda p=path: connect_unix(p))
    for name, pid in spec.get("signal", {}).items():
        checks[f"signal {name}"] = attempt(lambda p=pid: os.kill(p, 0))
    for name, number in spec.get("x_no_cookie", {}).items():
        checks[f"x {name}"] = attempt(lambda n=number: x_without_cookie(n))
    for name, argv in spec.get("run", {}).items():
        checks[f"run {name}"] = attempt(lambda a=argv: run(a))
    for name, path in spec.get("write", {}).items():
        checks[f"write {name}"] = attempt(lambda p=path: open(p, "w").write(f"uid {os.getuid()}"))
    for name, path in spec.get("exists", {}).items():
        checks[f"exists {name}"] = {"outcome": "ok", "value": os.path.exists(path)}
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(report, f)
    os.replace(tmp, out)


if __name__ == "__main__":
    main()
