"""The container recipe (deploy/Dockerfile, deploy/k8s.yaml), checked by running its commands.

No container runtime runs on the test machines (a docker client without a daemon at most), so
the Dockerfile is read instruction by instruction and its steps are done in a virtualenv: the
``RUN pip install`` line into a fresh venv (the bind-mounted build context being a copy of this
checkout), the ``COPY`` into a directory standing for ``WORKDIR``, then the ``CMD`` on
127.0.0.1 with an OS-chosen port instead of 0.0.0.0:8000. The Kubernetes probes are asked with
http.client, and SIGTERM must end the server with status 0 within the pod's grace period.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
K8S = ROOT / "deploy" / "k8s.yaml"


def instructions() -> list[tuple[str, str]]:
    """The Dockerfile's instructions, ``(KEYWORD, arguments)``, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text(encoding="utf-8"))
    result = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def only(keyword: str) -> str:
    found = [rest for kw, rest in instructions() if kw == keyword]
    assert len(found) == 1, f"{keyword}: {found}"
    return found[0]


def cmd() -> list[str]:
    command = json.loads(only("CMD"))  # the exec form: the server is PID 1 and gets SIGTERM itself
    assert isinstance(command, list)
    return command


def option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def k8s_value(pattern: str) -> str:
    match = re.search(pattern, K8S.read_text(encoding="utf-8"), re.MULTILINE)
    assert match, pattern
    return match.group(1)


def test_dockerfile_is_small_unprivileged_and_stops_on_sigterm() -> None:
    assert only("FROM") == "python:3.12-slim"
    assert only("EXPOSE") == "8000"
    assert only("STOPSIGNAL") == "SIGTERM"
    user = only("USER")
    assert user not in ("root", "0")
    runs = [rest for kw, rest in instructions() if kw == "RUN"]
    assert any(re.search(rf"\buseradd\b.*\b{user}$", run) for run in runs), runs  # the user exists
    pip = [run for run in runs if " pip install " in f" {run} "]
    assert len(pip) == 1 and "[speed]" in pip[0]
    command = cmd()
    assert command[:3] == ["python", "-m", "aiohttpbase"]
    assert option(command, "--bind") == "0.0.0.0" and command[-1] == only("EXPOSE")


def test_k8s_probes_and_grace_period_match_the_image() -> None:
    text = K8S.read_text(encoding="utf-8")
    kinds = re.findall(r"^kind: (\w+)$", text, re.MULTILINE)
    assert kinds == ["Deployment", "Service"]
    assert k8s_value(r"containerPort: (\d+)") == only("EXPOSE")
    probes = re.findall(r"(readinessProbe|livenessProbe):\n\s+httpGet:\n\s+path: (\S+)\n\s+port: (\S+)", text)
    assert {kind for kind, _, _ in probes} == {"readinessProbe", "livenessProbe"}
    assert all(port == "http" for _, _, port in probes)  # the named containerPort
    # SIGKILL must come after the preStop sleep and the whole graceful drain.
    grace = int(k8s_value(r"terminationGracePeriodSeconds: (\d+)"))
    pre_stop = int(k8s_value(r'command: \["sleep", "(\d+)"\]'))
    drain = float(option(cmd(), "--timeout-graceful-shutdown"))
    assert grace >= pre_stop + drain + 1, (grace, pre_stop, drain)
    uid = re.search(r"--uid (\d+)", " ".join(rest for kw, rest in instructions() if kw == "RUN"))
    assert uid and k8s_value(r"runAsUser: (\d+)") == uid.group(1)  # runAsNonRoot needs a numeric user


def _copy_context(target: Path) -> None:
    """The build context (the repository), as git would check it out."""
    if (ROOT / ".git").exists() and shutil.which("git"):
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True,
                                timeout=30).stdout.split("\0")  # fmt: skip
        names = [name for name in listed if name and (ROOT / name).is_file()]
    else:
        names = [p.relative_to(ROOT).as_posix() for p in (ROOT / "aiohttpbase").rglob("*.py")]
        names += ["pyproject.toml", "README.md", "LICENSE", "deploy/app.py", "aiohttpbase/py.typed"]
    for name in names:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target / name)


def _get(port: int, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@pytest.mark.timeout(240)
def test_recipe_runs_answers_the_probes_and_drains_on_sigterm(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "AIOHTTPBASE_"))}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    context = tmp_path / "context"
    _copy_context(context)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    bin_dir = venv / "bin"

    # RUN --mount=type=bind,source=.,target=/src,rw pip install "/src[speed]"
    (pip_line,) = [rest for kw, rest in instructions() if kw == "RUN" and " pip install " in f" {rest} "]
    mount = re.match(r"--mount=(\S+)\s+", pip_line)
    assert mount, pip_line
    fields = dict(part.partition("=")[::2] for part in mount.group(1).split(","))
    assert fields["type"] == "bind" and fields["source"] == "."
    words = shlex.split(pip_line[mount.end() :])
    assert words[:2] == ["pip", "install"]
    words = [word.replace(fields["target"], str(context)) for word in words]
    installed = subprocess.run([str(bin_dir / "python"), "-m", *words, "-q"], capture_output=True, text=True,
                               timeout=200, env=env)  # fmt: skip
    assert installed.returncode == 0, installed.stdout + installed.stderr
    check = "import aiohttpbase, httptools; print(aiohttpbase.__file__)"
    where = subprocess.run([str(bin_dir / "python"), "-c", check], capture_output=True, text=True, timeout=30,
                           cwd=tmp_path, env=env, check=True).stdout.strip()  # fmt: skip
    assert Path(where).resolve().is_relative_to(venv.resolve())  # installed, with the speed extra

    # WORKDIR /app and COPY deploy/app.py /app/app.py
    workdir = Path(only("WORKDIR"))
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    for source, destination in (rest.split() for kw, rest in instructions() if kw == "COPY"):
        shutil.copy2(context / source, app_dir / Path(destination).relative_to(workdir))

    # CMD on loopback, the port chosen by the OS; `python` is the venv's, as on the image's PATH
    command = cmd()
    command[command.index("--bind") + 1] = "127.0.0.1"
    command[-1] = "0"
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=app_dir,
                            env=env, start_new_session=True)  # fmt: skip
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        match = re.search(r"port (\d+)", banner)
        assert match, banner + proc.stderr.read() if proc.stderr else banner
        port = int(match.group(1))
        ready = k8s_value(r"readinessProbe:\n\s+httpGet:\n\s+path: (\S+)")
        alive = k8s_value(r"livenessProbe:\n\s+httpGet:\n\s+path: (\S+)")
        assert _get(port, ready) == (200, b"ok\n")
        assert _get(port, alive)[0] == 200
        assert _get(port, "/") == (200, b"hello from aiohttpbase\n")

        # An idle keep-alive connection is open when the pod is told to stop.
        idle = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        idle.request("GET", "/")
        assert idle.getresponse().read() == b"hello from aiohttpbase\n"
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        grace = int(k8s_value(r"terminationGracePeriodSeconds: (\d+)"))
        assert proc.wait(timeout=grace) == 0
        assert time.monotonic() - started < 5  # nothing in flight: the drain is quick
        with pytest.raises(ConnectionRefusedError):
            _get(port, ready)  # the probe fails once the server has stopped
        idle.close()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=10)
