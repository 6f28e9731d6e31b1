"""`make lab` serves the MyST notebooks as notebooks.

The test reads the `lab` recipe's command from the Makefile and starts exactly that server (on a free
loopback port, with a random token), then talks to it through the REST API: the notebooks are listed, a
`.md` page comes back as a notebook with code cells, and a notebook saved through the server is written as
MyST text.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STARTUP_S = 60
PAGE = "notebooks/fig3_init_width.md"


def lab_command() -> list[str]:
    """The `lab` target's `$(BIN)/jupyter lab ...` line, with $(BIN) pointing at this interpreter's bin."""
    recipe = re.search(r"^lab:.*\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), re.M)
    assert recipe, "Makefile has no `lab` target"
    lines = [line.strip() for line in recipe.group(1).splitlines() if "jupyter lab" in line]
    assert len(lines) == 1, f"the lab recipe should run `jupyter lab` once, found {lines}"
    words = shlex.split(lines[0])
    assert words[0] == "$(BIN)/jupyter", f"the lab recipe should start the venv's jupyter, not {words[0]}"
    return [str(Path(sys.executable).parent / "jupyter"), *words[1:]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, port: int, token: str):
        self.base = f"http://127.0.0.1:{port}"
        self.token = token

    def request(self, path: str, method: str = "GET", body: dict | None = None) -> dict:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Authorization": f"token {self.token}",
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as response:
            return json.loads(response.read() or b"null")


def wait_until_up(server: Server, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"jupyter lab exited with code {process.returncode}:\n{log.read_text()}")
        try:
            server.request("/api/status")
            return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.5)
    pytest.fail(f"jupyter lab did not answer /api/status within {STARTUP_S} s:\n{log.read_text()}")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=15)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    pytest.importorskip("jupyterlab", reason="jupyterlab is not installed (`make setup` installs it)")
    tmp = tmp_path_factory.mktemp("lab")
    port, token = free_port(), secrets.token_hex(16)
    command = lab_command() + [f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
                               f"--IdentityProvider.token={token}"]
    # Runtime files (connection files, the cookie secret) go to a scratch folder, not the user's home.
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp / "runtime")}
    log = tmp / "server.log"
    with open(log, "w") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = Server(port, token)
    try:
        wait_until_up(server, process, log)
        yield server
    finally:
        stop(process)


def test_lab_recipe_is_the_venv_jupyter_with_the_repo_config():
    assert lab_command()[1:] == ["lab", "--config=jupyter_lab_config.py"]


def test_lab_lists_every_notebook_page(lab):
    listing = lab.request("/api/contents/notebooks?content=1")
    served = {entry["name"]: entry["type"] for entry in listing["content"]}
    pages = sorted(p.name for p in (ROOT / "notebooks").glob("*.md"))
    assert pages, "no notebooks/*.md in the checkout"
    assert {name: served.get(name) for name in pages} == dict.fromkeys(pages, "notebook")


def test_lab_opens_a_myst_page_as_a_notebook(lab):
    model = lab.request(f"/api/contents/{PAGE}?type=notebook&content=1")
    assert model["type"] == "notebook"
    cells = model["content"]["cells"]
    code = [cell for cell in cells if cell["cell_type"] == "code"]
    assert code, f"{PAGE} came back without code cells"
    assert any("parameters" in cell["metadata"].get("tags", []) for cell in code)
    assert model["content"]["metadata"]["kernelspec"]["name"] == "python3"


def test_lab_default_kernel_is_the_venv_python3(lab):
    specs = lab.request("/api/kernelspecs")
    assert specs["default"] == "python3"
    assert "python3" in specs["kernelspecs"]


def test_lab_saves_a_notebook_back_as_myst_text(lab):
    model = lab.request(f"/api/contents/{PAGE}?type=notebook&content=1")
    # _build/ is git-ignored scratch space inside the server's root.
    folder = ROOT / "_build" / f"lab-test-{secrets.token_hex(4)}"
    folder.mkdir(parents=True)
    target = folder / "copy.md"
    try:
        path = target.relative_to(ROOT).as_posix()
        saved = lab.request(f"/api/contents/{path}", method="PUT",
                            body={"type": "notebook", "format": "json", "content": model["content"]})
        assert saved["type"] == "notebook"
        text = target.read_text()
        assert "format_name: myst" in text
        assert "```{code-cell} ipython3" in text
        assert not text.lstrip().startswith("{"), "saved as .ipynb JSON instead of MyST text"
        original = lab.request(f"/api/contents/{PAGE}?type=notebook&content=1")["content"]
        again = lab.request(f"/api/contents/{path}?type=notebook&content=1")["content"]
        assert [c["source"] for c in again["cells"]] == [c["source"] for c in original["cells"]]
    finally:
        for file in sorted(folder.rglob("*"), reverse=True):
            file.rmdir() if file.is_dir() else file.unlink()
        folder.rmdir()
