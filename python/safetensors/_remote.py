"""Headers of a remote checkpoint over HTTP Range requests (safetensors.cpp.inspect of a URL), with
the rules of `safetensors-cli inspect URL` (README "Remote headers"): a first 256 KiB range and one
exact follow-up when the header is larger, never a data byte; a server that ignores Range is cut
off after the header; redirects followed, credentials (`headers`, HF_TOKEN) sent only to the host
the caller named; `hf://OWNER/REPO[@REVISION]/PATH` expands to the Hub's resolve URL (HF_ENDPOINT);
an index.json brings every shard's header, fetched concurrently. Parsing and every check of the
header are the core's (_safetensors_cpp.parse_remote_header)."""
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from . import _safetensors_cpp as _core

FIRST_RANGE = 256 * 1024
MAX_INDEX_BYTES = 64 << 20


def is_url(path):
    return isinstance(path, str) and re.match(r"^(https?|hf)://", path) is not None


def _error(message, kind="io"):
    e = _core.SafetensorError(message)
    e.kind = kind
    return e


def expand(url):
    """hf://OWNER/REPO[@REVISION]/PATH -> <HF_ENDPOINT>/OWNER/REPO/resolve/REVISION/PATH."""
    if not url.startswith("hf://"):
        return url
    m = re.fullmatch(r"hf://([^/@]+)/([^/@]+)(?:@([^/]+))?/(.+)", url)
    if not m:
        raise _error("%s: expected hf://OWNER/REPO[@REVISION]/PATH" % url, "invalid_argument")
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    owner, repo, rev, path = m.groups()
    return "%s/%s/%s/resolve/%s/%s" % (endpoint, owner, repo, urllib.parse.quote(rev or "main", safe=""), path)


class _SameHostCredentials(urllib.request.HTTPRedirectHandler):
    """Follows redirects, dropping the caller's credentials when the host changes."""

    def __init__(self, host):
        self.host = host

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and urllib.parse.urlsplit(newurl).netloc != self.host:
            for name in list(new.headers):
                if name.lower() != "range":
                    del new.headers[name]
        return new


class _Fetcher:
    def __init__(self, url, headers, timeout):
        self.host = urllib.parse.urlsplit(url).netloc
        self.headers = dict(headers or {})
        token = os.environ.get("HF_TOKEN")
        if token and not any(k.lower() == "authorization" for k in self.headers):
            self.headers["Authorization"] = "Bearer " + token
        self.timeout = timeout

    def open(self, url, first=None, last=None):
        req = urllib.request.Request(url, headers=self.headers if urllib.parse.urlsplit(url).netloc == self.host else {})
        if first is not None:
            req.add_header("Range", "bytes=%d-%d" % (first, last))
        opener = urllib.request.build_opener(_SameHostCredentials(self.host))
        try:
            return opener.open(req, timeout=self.timeout)
        except urllib.error.HTTPError as e:
            words = {401: "unauthorized (a token is needed: HF_TOKEN or headers)", 403: "forbidden",
                     404: "not found", 416: "range not satisfiable"}
            raise _error("%s: HTTP %d %s" % (url, e.code, words.get(e.code, e.reason))) from None
        except (urllib.error.URLError, OSError) as e:
            raise _error("%s: %s" % (url, getattr(e, "reason", e))) from None

    @staticmethod
    def read(resp, n, url):
        try:
            data = resp.read(n)
        except OSError as e:
            raise _error("%s: %s" % (url, e)) from None
        return data

    def header(self, url):
        """(prefix bytes: length + header, file size) of a .safetensors URL."""
        resp = self.open(url, 0, FIRST_RANGE - 1)
        with resp:
            if resp.status == 206:
                m = re.search(r"/(\d+)$", resp.headers.get("Content-Range", ""))
                if not m:
                    raise _error("%s: a 206 answer without the file size in Content-Range" % url)
                size = int(m.group(1))
                data = self.read(resp, FIRST_RANGE, url)
                ranged = True
            else:  # the server ignores Range: read the header only, then stop
                size = int(resp.headers.get("Content-Length") or 0)
                data = self.read(resp, 8, url)
                ranged = False
                if len(data) == 8:
                    n = int.from_bytes(data, "little")
                    if 8 + n <= size:
                        data += self.read(resp, n, url)
        if len(data) >= 8:
            need = 8 + int.from_bytes(data[:8], "little")
            if ranged and len(data) < need <= size:
                with self.open(url, len(data), need - 1) as more:
                    data += self.read(more, need - len(data), url)
        return data, size

    def index(self, url):
        with self.open(url) as resp:
            data = self.read(resp, MAX_INDEX_BYTES + 1, url)
        if len(data) > MAX_INDEX_BYTES:
            raise _error("%s: index larger than %d bytes" % (url, MAX_INDEX_BYTES), "limit_exceeded")
        try:
            doc = json.loads(data)
            weight_map = doc["weight_map"]
            if not isinstance(weight_map, dict) or not weight_map or \
                    not all(isinstance(v, str) for v in weight_map.values()):
                raise ValueError
        except (ValueError, KeyError, TypeError):
            raise _error("%s: field 'weight_map': expected a non-empty object of strings" % url,
                         "invalid_index") from None
        return doc, weight_map


def inspect_url(url, headers=None, timeout=30.0):
    """The dict of safetensors.cpp.inspect for a URL of a .safetensors file or an index.json."""
    full = expand(url)
    fetcher = _Fetcher(full, headers, timeout)
    if not full.split("?")[0].endswith(".index.json"):
        data, size = fetcher.header(full)
        f, tensors = _core.parse_remote_header(full, data, size)
        for t in tensors:
            t["file"] = 0
        return {"path": url, "sharded": False, "metadata": f["metadata"], "files": [f],
                "tensors": tensors, "total_size": sum(t["data_offsets"][1] - t["data_offsets"][0] for t in tensors)}
    doc, weight_map = fetcher.index(full)
    shards = sorted(set(weight_map.values()))
    for s in shards:
        if "/" in s or "\\" in s or s.startswith("."):
            raise _error("%s: shard '%s' is not a file name beside the index" % (url, s), "invalid_index")
    urls = [urllib.parse.urljoin(full, urllib.parse.quote(s)) for s in shards]
    with ThreadPoolExecutor(min(8, len(urls))) as pool:
        fetched = list(pool.map(fetcher.header, urls))
    files, tensors = [], []
    for i, (shard, shard_url, (data, size)) in enumerate(zip(shards, urls, fetched)):
        f, ts = _core.parse_remote_header(shard_url, data, size)
        for t in ts:
            if weight_map.get(t["name"]) != shard:
                raise _error("%s: tensor '%s' is in %s, the weight_map says %s"
                             % (url, t["name"], shard, weight_map.get(t["name"])), "invalid_index")
            t["file"] = i
        files.append(f)
        tensors.extend(ts)
    found = {t["name"] for t in tensors}
    for name, shard in weight_map.items():
        if name not in found:
            raise _error("%s: tensor '%s' of the weight_map is not in %s" % (url, name, shard), "invalid_index")
    return {"path": url, "sharded": True, "metadata": files[0]["metadata"], "files": files, "tensors": tensors,
            "total_size": sum(t["data_offsets"][1] - t["data_offsets"][0] for t in tensors)}
