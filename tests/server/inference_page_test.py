"""The inference page (GET /) and /docs in a real browser: headless Chromium from Debian.

Serves the example model, opens /?text=REVIEW with `chromium --headless --dump-dom
--virtual-time-budget` (the page reads /info, fills the box from ?text= and calls /predict) and
checks the label the page shows against /predict's top label, for a review the model calls
POSITIVE and one it calls NEGATIVE; checks that /docs renders the routes of /openapi.json; keeps
a phone-width screenshot of the page as a test artifact (BUILD/test-artifacts/inference_page.png).
Skips (exit 77) only when no chromium is installed (scripts/setup installs it).
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "support"))
sys.path.insert(0, HERE)
import testdata  # noqa: E402
from serve_test import CLI, Server, check, failures  # noqa: E402

MODEL = os.path.join(testdata.ROOT, "examples", "distilbert-imdb")


def browser():
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


def chromium(exe, profile, *args):
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
           f"--user-data-dir={profile}", "--virtual-time-budget=20000", *args]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    check(r.returncode == 0, f"chromium {args[-1]}: rc {r.returncode} {r.stderr[-500:]}")
    return r.stdout


def main():
    exe = browser()
    if exe is None:
        print("SKIP: chromium is not installed (scripts/setup installs Debian's chromium package)")
        return 77
    if not CLI:
        print("SAFETENSORS_CLI is not set")
        return 1
    artifacts = os.path.join(os.environ.get("SAFETENSORS_BINARY_DIR", tempfile.gettempdir()), "test-artifacts")
    os.makedirs(artifacts, exist_ok=True)
    profile = tempfile.mkdtemp(prefix="st_chromium_")
    s = Server(MODEL, "--threads", "1")
    try:
        base = f"http://127.0.0.1:{s.port}"
        seen = set()
        for record in testdata.imdb_records()[:40]:
            text = record["text"].replace("\n", " ")[:400]
            status, body, _ = s.request("POST", "/predict", {"inputs": text, "truncate": True})
            want = json.loads(body)[0]["label"]
            if status != 200 or want in seen:
                continue
            seen.add(want)
            dom = chromium(exe, profile, "--dump-dom", base + "/?text=" + urllib.parse.quote(text))
            shown = re.search(r'id="top" data-label="([^"]*)"', dom)
            check(shown is not None and shown.group(1) == want,
                  f"page label {shown.group(1) if shown else None!r}, /predict says {want!r}")
            check(f"Label: {want}" in dom, f"page text lacks 'Label: {want}'")
            check(dom.count('class="row"') == 2, "page shows one score bar per label (2)")
            check("examples/distilbert-imdb" in dom and "NEGATIVE, POSITIVE" in dom and "256 tokens" in dom,
                  "page shows the model name, labels and limit from /info")
            check(re.search(r'id="latency">[0-9.]+ ms round trip', dom) is not None, "page shows the latency")
            if len(seen) == 2:
                shot = os.path.join(artifacts, "inference_page.png")
                if os.path.exists(shot):
                    os.remove(shot)
                chromium(exe, profile, f"--screenshot={shot}", "--window-size=390,844",
                         base + "/?text=" + urllib.parse.quote(text))
                check(os.path.getsize(shot) > 1000 if os.path.exists(shot) else False, "screenshot written")
                print(f"screenshot: {shot}")
                break
        check(seen == {"POSITIVE", "NEGATIVE"}, f"reviews of both labels tried: {seen}")
        docs = chromium(exe, profile, "--dump-dom", base + "/docs")
        for route in ("POST /predict", "POST /tokenize", "POST /decode", "GET /info", "GET /openapi.json"):
            check(route in docs, f"/docs shows {route}")
    finally:
        s.stop()
        shutil.rmtree(profile, ignore_errors=True)
    print(f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
