"""Shared by the end-to-end benchmarks' Python parts (PYTHONPATH=bench): an HTTP connection to
berthd's unix socket, a JSON call on it, and median/p95 reports."""
import http.client, json, socket, statistics


class Conn(http.client.HTTPConnection):
    """A keep-alive HTTP/1.1 connection to the daemon's unix socket."""

    def __init__(self, sock):
        super().__init__("localhost")
        self.path = sock

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def call(c, method, path, body=None):
    """One API call (/v1.41 prefixed); its JSON answer, or None; raises on a status >= 300."""
    data = json.dumps(body).encode() if body is not None else None
    c.request(method, "/v1.41" + path, body=data,
              headers={"Content-Type": "application/json"} if data else {})
    r = c.getresponse()
    out = r.read()
    if r.status >= 300:
        raise RuntimeError(f"{method} {path}: {r.status} {out!r}")
    return json.loads(out) if out else None


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def report(name, xs, digits=1):
    print(f"{name}: median {statistics.median(xs):.{digits}f} ms, "
          f"p95 {pct(xs, 95):.{digits}f} ms (n={len(xs)})")
