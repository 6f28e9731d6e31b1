"""JupyterLab for the book's notebooks: `make lab` and tests/test_lab.py both start it with this file.

jupytext's server extension (enabled when jupytext is installed) opens `notebooks/*.md` as notebooks and
saves them back as MyST text, so nothing about .md files is configured here.
"""
from pathlib import Path

c = get_config()  # noqa: F821 (defined by traitlets when it loads this file)

c.ServerApp.ip = "127.0.0.1"
c.ServerApp.open_browser = False
# Containers and CI often run as root; the server listens on loopback only and asks for the token.
c.ServerApp.allow_root = True
c.ServerApp.root_dir = str(Path(__file__).resolve().parent)
c.MappingKernelManager.default_kernel_name = "python3"
