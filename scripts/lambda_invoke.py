"""Runs one qrie function binary once, as AWS Lambda would, and prints its response.

A minimal emulation of the Lambda Runtime API (the same HTTP interface `lambda_runtime` polls in
AWS): it serves one invocation of EVENT to the binary, prints the JSON response (or the error the
function reported), then stops the binary. Used by `make invoke` and `make demo`.

Usage: lambda_invoke.py BINARY EVENT_FILE [--function-name NAME]
The binary inherits this process's environment (AWS_ENDPOINT_URL, QRIE_* table names, ...).
With QRIE_INVOKE_RUSAGE=FILE, the binary's CPU time (user, sys) and peak RSS go to FILE as JSON.
Exit status: 0 on a response, 1 when the function reported an error or died.
"""

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Invocation:
    def __init__(self, event: bytes):
        self.event = event
        self.request_id = str(uuid.uuid4())
        self.delivered = False
        self.result = None  # ("response" | "error", bytes)
        self.done = threading.Event()


def make_handler(invocation: Invocation, function_name: str):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _reply(self, status, body=b"", headers=None):
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path.endswith("/runtime/invocation/next"):
                if invocation.delivered:
                    # One invocation only: hold the poll until we shut down.
                    invocation.done.wait()
                    time.sleep(3600)
                invocation.delivered = True
                deadline = int((time.time() + 900) * 1000)
                self._reply(200, invocation.event, {
                    "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
                    "Lambda-Runtime-Deadline-Ms": str(deadline),
                    "Lambda-Runtime-Invoked-Function-Arn":
                        f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}",
                    "Lambda-Runtime-Trace-Id": "Root=1-00000000-000000000000000000000000",
                    "Content-Type": "application/json",
                })
            else:
                self._reply(404)

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if self.path.endswith("/response"):
                invocation.result = ("response", body)
            elif self.path.endswith("/error"):
                invocation.result = ("error", body)
            else:
                self._reply(404)
                return
            self._reply(202, b'{"status":"OK"}')
            invocation.done.set()

    return Handler


def reap(proc):
    """Waits for the stopped binary (killing it after 5 s) and returns its resource usage, or
    None when it was already reaped (it died before answering)."""
    if proc.returncode is not None:
        return None
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        pid, _, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = 0
            return usage
        time.sleep(0.01)
    proc.kill()
    _, _, usage = os.wait4(proc.pid, 0)
    proc.returncode = 0
    return usage


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("event")
    parser.add_argument("--function-name", default=None)
    args = parser.parse_args()
    name = args.function_name or os.path.basename(args.binary)
    with open(args.event, "rb") as f:
        event = f.read()
    json.loads(event)  # fail early on a malformed event file
    invocation = Invocation(event)
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(invocation, name))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = dict(os.environ)
    env.update({
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{server.server_address[1]}",
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "local",
    })
    log_path = os.environ.get("QRIE_INVOKE_LOG")
    log = open(log_path, "ab") if log_path else None
    proc = subprocess.Popen([args.binary], env=env, stdout=log or sys.stderr, stderr=log or sys.stderr)
    try:
        while not invocation.done.wait(0.2):
            if proc.poll() is not None:
                print(f"{name} exited with status {proc.returncode} before answering", file=sys.stderr)
                return 1
    finally:
        proc.terminate()
        usage = reap(proc)
        server.shutdown()
    rusage_path = os.environ.get("QRIE_INVOKE_RUSAGE")
    if rusage_path and usage is not None:
        # The function process's own CPU time (start-up included; the local AWS, a separate
        # process, is not in it): what the handler work costs without the emulator's latency.
        with open(rusage_path, "w") as f:
            json.dump({"user_s": usage.ru_utime, "sys_s": usage.ru_stime,
                       "max_rss_kib": usage.ru_maxrss}, f)
    kind, body = invocation.result
    text = body.decode("utf-8", "replace")
    if kind == "error":
        print(f"{name} reported an error: {text}", file=sys.stderr)
        return 1
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
