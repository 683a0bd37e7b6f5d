"""Open notebook 08 in a real JupyterLab in headless Chromium, run it, and screenshot the viewers.

What it checks that ``nbclient`` cannot: the widgets (ipywidgets, plotly's ``FigureWidget``
through anywidget) actually render in JupyterLab's front end. It copies the notebook to a
temporary folder (the repository's copy stays without outputs), starts ``jupyter lab`` on a free
port, drives Chromium with Playwright (Run > Run All Cells), waits for the kernel, counts errors
and rendered widgets, and saves ``figures/demo_jupyterlab.png``.

Needs (opt-in, not part of ``make test``)::

    apt-get update && apt-get install -y chromium      # Debian's browser; never `playwright install`
    pip install playwright

Usage::

    .venv/bin/python scripts/browser_check.py [--notebook notebooks/08_demo.ipynb] [--out figures/demo_jupyterlab.png]
    .venv/bin/python -m pytest -m browser tests/test_viz_viewers.py    # the same, as a test

Exit status: 0 when every cell ran without error and widgets rendered; 1 otherwise; 2 when
Chromium or Playwright is missing. Prints a JSON summary.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


# The open notebook's model: code cells, how many have run, error outputs, kernel status.
MODEL_STATE_JS = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const cells = panel.content.model.cells;
  let n = 0, done = 0; const errors = [];
  for (let i = 0; i < cells.length; i++) {
    const cell = cells.get(i);
    if (cell.type !== 'code') continue;
    n += 1;
    if (cell.executionCount !== null && cell.executionCount !== undefined) done += 1;
    for (let j = 0; j < cell.outputs.length; j++) {
      const out = cell.outputs.get(j).toJSON();
      if (out.output_type === 'error') errors.push(`cell ${i}: ${out.ename}: ${out.evalue}`);
    }
  }
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  return {n, done, errors, status: kernel ? kernel.status : 'none'};
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_lab(root: Path, port: int, token: str, log_path: Path) -> subprocess.Popen:
    """``jupyter lab`` serving ``root`` (its own workspace folder, no browser, no news)."""
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--allow-root", f"--LabApp.workspaces_dir={root / '.ws'}",
           "--LabApp.news_url=", "--LabApp.expose_app_in_browser=True", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    env = dict(os.environ, OMP_WAIT_POLICY=os.environ.get("OMP_WAIT_POLICY", "PASSIVE"))
    log = open(log_path, "w")
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=root)


def wait_ready(server: subprocess.Popen, port: int, token: str, log_path: Path, timeout: float = 90.0) -> None:
    url = f"http://127.0.0.1:{port}/api/status?token={token}"
    deadline = time.time() + timeout
    while time.time() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"jupyter lab exited ({server.returncode}):\n{log_path.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"jupyter lab did not answer on port {port} within {timeout:.0f} s")


def run_in_browser(url: str, out: Path, timeout: float) -> dict:
    """Open the notebook, run all cells, wait, inspect, screenshot. Returns the summary."""
    from playwright.sync_api import sync_playwright

    summary: dict = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1100})
        console_errors: list[str] = []
        page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
        page.goto(url)
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
        for label in ("No", "Dismiss"):  # the "Jupyter news?" toast, if any
            button = page.locator(f".jp-toast-button:has-text('{label}')")
            if button.count():
                button.first.click()
        start = time.time()
        page.locator(".jp-Notebook .jp-Cell").first.click()  # focus the notebook panel
        # Run > Run All Cells, through the application's command registry (expose_app_in_browser).
        page.wait_for_function("window.jupyterapp && window.jupyterapp.commands.isEnabled('notebook:run-all-cells')",
                               timeout=60_000)
        page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        # Done when every code cell of the notebook model has an execution count and the kernel is
        # idle (the DOM cannot tell: JupyterLab 4 only renders the cells in view).
        deadline = start + timeout
        state = {}
        while time.time() < deadline:
            state = page.evaluate(MODEL_STATE_JS)
            if state["n"] and state["done"] == state["n"] and state["status"] == "idle":
                break
            time.sleep(2.0)
        summary["seconds"] = round(time.time() - start, 1)
        summary["code_cells"] = state.get("n")
        summary["cells_executed"] = state.get("done")
        summary["finished"] = bool(state) and state["done"] == state["n"]
        summary["error_outputs"] = state.get("errors", [])
        # Scroll to the viewers of Section 3 (the first cell calling show_prediction), then count
        # what the front end rendered there and take the screenshot.
        page.evaluate("""async () => {
          const nb = window.jupyterapp.shell.currentWidget.content;
          const cells = nb.model.cells;
          for (let i = 0; i < cells.length; i++) {
            if (cells.get(i).sharedModel.getSource().includes('show_prediction(')) {
              nb.activeCellIndex = i;
              await nb.scrollToItem(i, 'start');
              return i;
            }
          }
          return -1;
        }""")
        page.wait_for_timeout(4000)
        summary["widget_views"] = page.locator(".jp-OutputArea-output .jupyter-widgets").count()
        summary["widget_images"] = page.locator(".jp-OutputArea-output img.widget-image").count()
        summary["plotly_figures"] = page.locator(".jp-OutputArea-output .js-plotly-plot").count()
        summary["plotly_webgl_canvases"] = page.locator(".jp-OutputArea-output .js-plotly-plot canvas").count()
        summary["console_errors"] = console_errors[-5:]
        out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out))
        summary["screenshot"] = str(out)
        browser.close()
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notebook", default=str(REPO / "notebooks" / "08_demo.ipynb"))
    parser.add_argument("--out", default=str(REPO / "figures" / "demo_jupyterlab.png"))
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds allowed for the whole notebook")
    args = parser.parse_args(argv)

    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} not found: apt-get update && apt-get install -y chromium", file=sys.stderr)
        return 2
    try:
        import playwright  # noqa: F401
    except ImportError:
        print("playwright is not installed: pip install playwright (the browser is Debian's chromium)", file=sys.stderr)
        return 2
    import nbformat

    sys.path.insert(0, str(REPO))
    from decomr.reproduce import set_quick

    notebook = Path(args.notebook).resolve()
    root = Path(tempfile.mkdtemp(prefix="decomr_lab_"))
    nb = nbformat.read(notebook, as_version=4)
    set_quick(nb, True)
    nbformat.write(nb, root / notebook.name)
    port, token = free_port(), secrets.token_hex(16)
    log_path = root / "jupyterlab.log"
    server = start_lab(root, port, token, log_path)
    try:
        wait_ready(server, port, token, log_path)
        summary = run_in_browser(f"http://127.0.0.1:{port}/lab/tree/{notebook.name}?token={token}",
                                 Path(args.out), args.timeout)
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
    ok = summary["finished"] and not summary["error_outputs"] and summary["widget_views"] > 0
    summary["ok"] = ok
    print(json.dumps(summary, indent=1))
    if ok:
        shutil.rmtree(root, ignore_errors=True)
    else:
        print(f"kept {root} (server log: {log_path})", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
