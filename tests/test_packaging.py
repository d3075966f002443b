"""Packaging and supported Python versions: the LICENSE and its SPDX expression, the metadata
an install carries, what a wheel holds, and what follows Python 3.14's ``http.server``."""

from __future__ import annotations

import email
import http.client
import http.server
import importlib.metadata
import importlib.resources
import inspect
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

import aiohttpbase
from aiohttpbase import HTTPSServer, cli

ROOT = Path(__file__).resolve().parent.parent
SUPPORTED = ("3.10", "3.11", "3.12", "3.13", "3.14")


def pyproject() -> dict[str, Any]:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        tomllib = pytest.importorskip("tomli", reason="reading pyproject.toml needs tomllib (3.11+) or tomli")
    with (ROOT / "pyproject.toml").open("rb") as file:
        return tomllib.load(file)  # type: ignore[no-any-return]


def test_license_file_is_mit() -> None:
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n")
    assert "Copyright (c) 2026 the aiohttpbase authors" in text
    assert 'THE SOFTWARE IS PROVIDED "AS IS"' in text


def test_pyproject_declares_the_supported_versions() -> None:
    project = pyproject()["project"]
    assert project["requires-python"] == ">=3.10"  # no upper bound, as the peers
    for version in SUPPORTED:
        assert f"Programming Language :: Python :: {version}" in project["classifiers"]


def test_pyproject_declares_the_license() -> None:
    data = pyproject()
    project = data["project"]
    assert project["license"] == "MIT"  # an SPDX expression (PEP 639), not a table
    assert project["license-files"] == ["LICENSE"]
    # PEP 639: license classifiers are superseded by the expression (setuptools refuses both).
    assert not [c for c in project["classifiers"] if c.startswith("License ::")]
    assert "setuptools>=77" in data["build-system"]["requires"]  # the first to write License-Expression


def test_installed_metadata() -> None:
    """What ``pip install`` (editable or not) recorded in the environment's .dist-info."""
    # Only an installed .dist-info has INSTALLER; the source tree's .egg-info, which comes
    # first on sys.path when the tests run from the checkout, has neither it nor licenses/.
    installed = [
        dist
        for dist in importlib.metadata.distributions(name="aiohttpbase")
        if dist.read_text("INSTALLER") is not None
    ]
    if not installed:
        pytest.skip("aiohttpbase is not installed here (imported from the source tree)")
    metadata = installed[0].metadata
    if metadata.get("License-Expression") is None:
        pytest.skip("the install predates the SPDX license: pip install -e . again (scripts/test.sh does)")
    assert metadata["License-Expression"] == "MIT"
    assert "LICENSE" in (metadata.get_all("License-File") or [])
    assert metadata["Requires-Python"] == ">=3.10"
    assert "Programming Language :: Python :: 3.14" in (metadata.get_all("Classifier") or [])
    license_text = installed[0].read_text("licenses/LICENSE")
    assert license_text is not None and license_text.startswith("MIT License")
    assert importlib.resources.files("aiohttpbase").joinpath("py.typed").is_file()


# -- The way in: project URLs, the README (the package page) and the quickstart ------------

DOCS_URL = "https://aiohttpbase.github.io/aiohttpbase/"
REPO_URL = "https://github.com/aiohttpbase/aiohttpbase"


def _mkdocs_setting(name: str) -> str:
    match = re.search(rf"^{name}: *(\S+)$", (ROOT / "mkdocs.yml").read_text(encoding="utf-8"), re.MULTILINE)
    assert match, f"mkdocs.yml has no {name}"
    return match.group(1)


def test_project_urls_agree_with_the_docs_site() -> None:
    urls = pyproject()["project"]["urls"]
    assert set(urls) == {"Homepage", "Documentation", "Source", "Issues", "Changelog"}
    assert urls["Documentation"] == _mkdocs_setting("site_url") == DOCS_URL
    assert urls["Source"] == urls["Homepage"] == _mkdocs_setting("repo_url") == REPO_URL
    assert urls["Issues"] == f"{REPO_URL}/issues"
    assert urls["Changelog"] == f"{REPO_URL}/blob/main/CHANGELOG.md" and (ROOT / "CHANGELOG.md").is_file()


def _slug(heading: str) -> str:
    """The anchor MkDocs' toc extension gives a heading (ASCII headings)."""
    text = re.sub(r"[^\w\s-]", "", heading.replace("`", "").strip().lower())
    return re.sub(r"[\s]+", "-", text)


def _resolves(url: str) -> bool:
    """Whether a link into the docs site or the repository names a page, file and heading
    that exist in this checkout."""
    if url.startswith(f"{REPO_URL}/blob/main/"):
        return (ROOT / url.removeprefix(f"{REPO_URL}/blob/main/")).is_file()
    if url.startswith(DOCS_URL):
        page, _, anchor = url.removeprefix(DOCS_URL).partition("#")
        source = ROOT / "docs" / (page.strip("/") + ".md" if page.strip("/") else "index.md")
        if not source.is_file():
            return False
        headings = re.findall(r"^#+ (.+)$", source.read_text(encoding="utf-8"), re.MULTILINE)
        return not anchor or anchor in {_slug(heading) for heading in headings}
    return url.startswith("https://")


def test_readme_links_work_off_the_repository() -> None:
    """PyPI shows the README without the repository around it: every link is absolute, and
    those into the docs site or the repository name a page, file and heading that exist."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)\s]+)\)", text)  # [text](target)
    targets += re.findall(r"^\[[^]]+\]: *(\S+)", text, re.MULTILINE)  # [label]: target
    targets += re.findall(r"<(https?://[^>]+)>", text)  # <https://...>
    targets += re.findall(r"(?:src|href)=\"([^\"]+)\"", text)
    assert targets
    broken = [target for target in targets if not _resolves(target)]
    assert not broken, f"links that break off the repository or name nothing: {broken}"


def _first_screen_commands(text: str) -> list[str]:
    block = re.search(r"```bash\n(.*?)```", text, re.DOTALL)
    assert block
    return [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_readme_first_screen_has_the_two_commands_and_pip_install() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert _first_screen_commands(text) == ["scripts/serve.sh", "scripts/test.sh"]
    assert "pip install aiohttpbase" in text and 'pip install "aiohttpbase[speed]"' in text
    assert f"git clone {REPO_URL}" in text
    # the first screen: both commands and the install lines within the first 40 lines
    head = "\n".join(text.splitlines()[:40])
    assert "scripts/serve.sh" in head and "pip install aiohttpbase" in head


def test_readme_and_quickstart_say_what_test_sh_installs() -> None:
    script = (ROOT / "scripts" / "test.sh").read_text(encoding="utf-8")
    packages = re.findall(r"missing\+=\(([\w.-]+)\)", script)
    assert packages == ["curl", "apache2-utils", "nginx-light", "openssl"]
    extras = re.search(r"pip install -q -e '\.\[([\w,]+)\]'", script)
    assert extras
    for page in ("README.md", "docs/quickstart.md"):
        text = (ROOT / page).read_text(encoding="utf-8")
        for package in packages:
            assert f"`{package}`" in text, (page, package)
        assert f"pip install -e '.[{extras.group(1)}]'" in text, page


# -- The distributions: built as a release would be, installed into a fresh virtualenv ------


class Built:
    """An sdist and the wheel built from it, and a fresh virtualenv to install into."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.venv = root / "venv"
        self.python = self.venv / "bin" / "python"
        self.sdist = next((root / "dist").glob("aiohttpbase-*.tar.gz"))
        self.wheel = next((root / "dist").glob("aiohttpbase-*.whl"))


def _clean_env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "AIOHTTPBASE_"))}
    return {**env, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def _run(args: list[str], cwd: Path | None = None, timeout: float = 240) -> str:
    result = subprocess.run(args, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=_clean_env())
    assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _source_files() -> list[str]:
    """The files of a clean checkout: git's list when this is a checkout, else the tree."""
    if (ROOT / ".git").exists() and shutil.which("git"):
        listed = _run(["git", "ls-files", "-z"], cwd=ROOT).split("\0")
        return [name for name in listed if name and (ROOT / name).is_file()]
    skip = (".venv", "build", "dist", ".git", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache")
    return [
        path.relative_to(ROOT).as_posix()
        for path in ROOT.rglob("*")
        if path.is_file()
        and not any(part in skip or part.startswith(".venv") or part.endswith(".egg-info")
                    for part in path.relative_to(ROOT).parts)
    ]  # fmt: skip


@pytest.fixture(scope="module")
def built(tmp_path_factory: Any) -> Built:
    """``python -m build`` (the sdist, then the wheel from the unpacked sdist, as pip does)
    from a copy of the checkout's files, in a fresh virtualenv that has only ``build``,
    setuptools>=77 and trove-classifiers from the configured package index."""
    root = tmp_path_factory.mktemp("built")
    source = root / "src"
    for name in _source_files():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    _run([sys.executable, "-m", "venv", str(root / "venv")])
    python = str(root / "venv" / "bin" / "python")
    _run([python, "-m", "pip", "install", "-q", "build", "setuptools>=77", "trove-classifiers"])
    _run([python, "-m", "build", "--no-isolation", "--sdist", "--wheel", "--outdir", str(root / "dist"),
          str(source)])  # fmt: skip
    return Built(root)


# What the test suite reads besides the package and its own directory.
TEST_DATA = (
    "examples/seed.py",
    "docs/deploy/nginx.conf",
    "deploy/Dockerfile",
    "deploy/k8s.yaml",
    "deploy/app.py",
)


@pytest.mark.timeout(300)
def test_sdist_carries_what_the_tests_need(built: Built) -> None:
    with tarfile.open(built.sdist) as archive:
        top = archive.getnames()[0].split("/")[0]
        names = {name.partition("/")[2] for name in archive.getnames()}
    assert top == f"aiohttpbase-{aiohttpbase.__version__}"
    needed = {
        "pyproject.toml", "README.md", "LICENSE", "CHANGELOG.md", "aiohttpbase/py.typed",
        "tests/__init__.py", "tests/conftest.py", "tests/handlers.py", "tests/worker_app.py",
        "tests/takeover_handlers.py", "scripts/test.sh", *TEST_DATA,
    }  # fmt: skip
    needed |= {name for name in _source_files() if name.startswith(("tests/", "aiohttpbase/"))}
    assert not needed - names, f"missing from the sdist: {sorted(needed - names)}"
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]


@pytest.mark.timeout(300)
def test_tests_run_from_the_unpacked_sdist(built: Built, tmp_path: Path) -> None:
    """The sdist's own tests import their helpers and the sdist's package, and pass."""
    with tarfile.open(built.sdist) as archive:
        if hasattr(tarfile, "data_filter"):  # 3.12, and 3.10.12/3.11.4 on: without it 3.12+ warn
            archive.extractall(tmp_path, filter="data")
        else:
            archive.extractall(tmp_path)
    unpacked = tmp_path / f"aiohttpbase-{aiohttpbase.__version__}"
    probe = "import aiohttpbase, tests.conftest, tests.handlers, tests.takeover_handlers; print(aiohttpbase.__file__)"
    where = _run([sys.executable, "-c", probe], cwd=unpacked).strip()
    assert Path(where).resolve().is_relative_to(unpacked.resolve()), where
    # The seed's acceptance tests read examples/seed.py; the license test reads LICENSE.
    output = _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                   "tests/test_seed.py", "tests/test_packaging.py::test_license_file_is_mit"], cwd=unpacked)  # fmt: skip
    assert re.search(r"\b4 passed\b", output), output


@pytest.mark.timeout(300)
def test_wheel_metadata(built: Built) -> None:
    with zipfile.ZipFile(built.wheel) as archive:
        names = archive.namelist()
        dist_info = next(name.split("/")[0] for name in names if name.endswith(".dist-info/METADATA"))
        metadata = email.message_from_bytes(archive.read(f"{dist_info}/METADATA"))
        license_text = archive.read(f"{dist_info}/licenses/LICENSE").decode()
    assert "aiohttpbase/py.typed" in names and "aiohttpbase/cli.py" in names
    assert not [name for name in names if name.startswith("tests/")]  # tests ship in the sdist only
    assert metadata["License-Expression"] == "MIT" and metadata["License-File"] == "LICENSE"
    assert metadata["Requires-Python"] == ">=3.10"
    assert license_text.startswith("MIT License")
    urls = dict(value.split(", ", 1) for value in metadata.get_all("Project-URL") or [])
    assert set(urls) == {"Homepage", "Documentation", "Source", "Issues", "Changelog"}
    classifiers = metadata.get_all("Classifier") or []
    assert "Programming Language :: Python :: 3.14" in classifiers
    # Every classifier is one PyPI accepts (an unknown one makes an upload fail).
    check = "import sys, trove_classifiers as t; print([c for c in sys.argv[1:] if c not in t.classifiers])"
    assert _run([str(built.python), "-c", check, *classifiers]).strip() == "[]"
    # The README is the package page.
    assert metadata["Description-Content-Type"] == "text/markdown"
    assert "pip install aiohttpbase" in metadata.get_payload()


@pytest.mark.timeout(300)
def test_wheel_installs_into_a_fresh_venv_and_serves(built: Built, tmp_path: Path) -> None:
    _run([str(built.python), "-m", "pip", "install", "-q", str(built.wheel)])
    site = tmp_path / "site"
    site.mkdir()
    (site / "hello.txt").write_text("hello from the wheel\n", encoding="utf-8")
    probe = "import aiohttpbase; print(aiohttpbase.__version__, aiohttpbase.__file__)"
    version, where = _run([str(built.python), "-c", probe], cwd=tmp_path).split()
    assert version == aiohttpbase.__version__
    assert Path(where).resolve().is_relative_to(built.venv.resolve()), where  # not this checkout
    # The console script, on an OS-chosen port, serving a directory.
    proc = subprocess.Popen(
        [str(built.venv / "bin" / "aiohttpbase"), "-b", "127.0.0.1", "-d", str(site), "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=_clean_env(),
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        match = re.search(r"port (\d+)", banner)
        assert match, banner
        conn = http.client.HTTPConnection("127.0.0.1", int(match.group(1)), timeout=10)
        conn.request("GET", "/hello.txt")
        response = conn.getresponse()
        assert (response.status, response.read()) == (200, b"hello from the wheel\n")
        conn.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


# -- Python 3.14's http.server: what aiohttpbase follows ---------------------------------


def test_command_line_takes_the_tls_options_of_python_3_14(
    tmp_path: Path, certificate: tuple[Path, Path]
) -> None:
    cert, key = certificate
    password_file = tmp_path / "password"
    password_file.write_text("  not needed for this key \n", encoding="utf-8")
    args = cli.build_parser().parse_args(
        ["--tls-cert", str(cert), "--tls-key", str(key), "--tls-password-file", str(password_file)]
    )
    context = cli._tls_context(args)
    assert isinstance(context, ssl.SSLContext)
    args.tls_password_file = str(tmp_path / "missing")
    with pytest.raises(cli.UsageError, match="cannot read --tls-password-file"):
        cli._tls_context(args)
    key_only = cli.build_parser().parse_args(["--tls-key", str(key)])
    with pytest.raises(cli.UsageError, match="need --tls-cert"):
        cli._tls_context(key_only)


def test_https_server_keeps_what_python_3_14_keeps(certificate: tuple[Path, Path]) -> None:
    from tests.handlers import Hello

    cert, key = certificate
    made: list[str] = []

    class Custom(HTTPSServer):
        def _create_context(self) -> ssl.SSLContext:
            made.append(self.certfile)
            return super()._create_context()

    with Custom(("127.0.0.1", 0), Hello, certfile=str(cert), keyfile=str(key)) as server:
        assert (server.certfile, server.keyfile, server.password) == (str(cert), str(key), None)
        assert server.alpn_protocols == ["http/1.1"] and server.ssl is ssl
        assert server.ssl_context is not None and made == [str(cert)]
    stdlib = getattr(http.server, "HTTPSServer", None)
    if stdlib is not None:  # Python 3.14+: every parameter of the stdlib's is accepted
        ours = inspect.signature(HTTPSServer.__init__).parameters
        for name, parameter in inspect.signature(stdlib.__init__).parameters.items():
            assert name in ours and ours[name].kind == parameter.kind, name
