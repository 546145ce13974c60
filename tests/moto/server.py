"""qrie's local AWS: moto in server mode on 127.0.0.1, with a fault-injection hook.

Usage: server.py [--port N] [--parent-pid PID]
Prints the bound port on the first line of stdout, then serves until killed, or until the
parent process (the test binary or the Makefile's shell) exits.

Fault injection, for tests of AccessDenied, throttling and other failures through the real AWS
SDK: POST /_qrie/faults with a JSON rule, DELETE /_qrie/faults to clear them all.

Call counting, for measurements: POST /_qrie/calls with {"account": "<id>"} starts counting the
requests signed by that account's keys, by action (the query protocols' `Action=` or the
X-Amz-Target header); GET /_qrie/calls?account=<id> answers the counts as JSON
({"ListUsers": 1, ...}).
A rule matches a request on any of these (all optional):
  method        HTTP method, e.g. "GET"
  path_regex    regular expression searched in the path, e.g. "^/my-bucket/?$"
  query_key     a query-string key that must be present, e.g. "policy" (GetBucketPolicy)
  target        the X-Amz-Target header, e.g. "DynamoDB_20120810.PutItem"
  access_key    a substring of the Authorization header (e.g. an access key id)
  account       the account id the request's access key belongs to (an assumed role's key
                belongs to the role's account), so that a fault reaches one simulated customer
                account and no other test's
  body_contains a substring of the request body (e.g. an account id in an STS AssumeRole form)
  headers       {name: value} request headers that must have exactly these values, e.g.
                {"x-amz-account-id": "123456789012"} (S3 Control calls of one account)
  service       the service the request is signed for (the SigV4 credential scope), e.g.
                "iam", "ec2", "dynamodb", "s3", "lambda", "kms", "cloudtrail", "rds"
  action        the operation: the X-Amz-Target's name after its dot (JSON protocols, e.g.
                "PutItem", "ListKeys") or the query protocols' `Action=` (e.g. "ListRoles",
                "DescribeInstances"); REST operations (S3, Lambda) are matched with method,
                path_regex and query_key instead
  after         let the first N matching requests through (e.g. 1 with a list action: the
                second page fails)
  pass          true: the rule only counts the requests it matches (its `fired`, read back with
                GET /_qrie/faults) and lets them through to moto, as measurements need
  tag           a name; DELETE /_qrie/faults?tag=<tag> removes that test's rules alone
A matching rule does what its `fault` says:
  "error"       (default) answer the error below
  "reset"       drop the connection without an answer (the client sees the connection closed
                mid-request, as after a reset)
  "timeout"     hold the request `delay_ms` (default 30000) before answering 504, so that the
                client's attempt timeout fires first
  "slow"        hold the request `delay_ms`, then let it through to moto
The error answers with `status`, `code`, `message` in S3's XML shape (protocol "xml", default), the
wrapped XML shape of S3 Control and of the query protocols (STS) (protocol "xml_wrapped":
<ErrorResponse><Error>...</Error></ErrorResponse>), EC2's query shape (protocol "ec2":
<Response><Errors><Error>...</Error></Errors></Response>) or the JSON shape (protocol "json"); protocol "auto" picks the shape of the service the request is
signed for. `times` limits how often the rule fires (default: always).

Emulator corrections (moto answers these differently from AWS, and the Rust SDK, unlike boto3,
rejects the difference):
  GetBucketVersioning  moto's XML root is GetBucketVersioningResponse; S3's is
                       VersioningConfiguration.
  GetBucketNotificationConfiguration  moto's XML root is GetBucketNotificationResponse; S3's
                       is NotificationConfiguration.
  EC2 and RDS actions moto lacks  moto answers 500 with an HTML page, which the SDK takes
                       for a transient fault and retries with backoff (seconds per call); both
                       services answer an action they do not know with 400 InvalidAction, which
                       is what is sent instead (in each one's error shape), so the collectors
                       report the API as unreadable at once.
  DynamoDB requests    served one at a time. The server is threaded, and moto's
                       TransactWriteItems backs up the whole table before it starts and restores
                       that copy when any condition fails, so a transaction refused while another
                       commits (a redelivered unit's DONE marker next to a new one) undoes the
                       other's writes, or half of them when the copy was taken mid-update.
                       DynamoDB applies each transaction atomically and never loses another's.
"""

import argparse
import io
import json
import os
import re
import socket
import sys
import threading
import time
from urllib.parse import parse_qs

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from moto.server import DomainDispatcherApplication, create_backend_app


_CREDENTIAL = re.compile(r"Credential=([A-Z0-9]+)/")


def _account_of(environ):
    """The account whose access key signed the request, as moto resolves it (None if unsigned)."""
    found = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
    if found is None:
        return None
    from moto.iam.models import get_account_id_from

    return get_account_id_from(found.group(1))


class FaultInjector:
    def __init__(self, app):
        self.app = app
        self.rules = []
        self.lock = threading.Lock()
        self.dynamodb = threading.Lock()
        self.counted = {}

    def _control(self, environ, start_response):
        request = Request(environ)
        with self.lock:
            if request.method == "POST":
                rule = json.loads(request.get_data() or b"{}")
                rule.setdefault("fired", 0)
                self.rules.append(rule)
            elif request.method == "DELETE" and request.args.get("tag"):
                self.rules[:] = [r for r in self.rules if r.get("tag") != request.args["tag"]]
            elif request.method == "DELETE":
                self.rules.clear()
            body = json.dumps(self.rules)
        return Response(body, content_type="application/json")(environ, start_response)

    def _calls(self, environ, start_response):
        request = Request(environ)
        with self.lock:
            if request.method == "POST":
                account = json.loads(request.get_data() or b"{}")["account"]
                self.counted[account] = {}
                body = "{}"
            else:
                body = json.dumps(self.counted.get(request.args.get("account"), {}))
        return Response(body, content_type="application/json")(environ, start_response)

    def _count(self, environ):
        account = _account_of(environ)
        if account not in self.counted:
            return
        action = environ.get("HTTP_X_AMZ_TARGET") or ""
        if not action:
            found = re.search(r"(?:^|&)Action=([A-Za-z0-9]+)", environ.get("qrie.body", ""))
            action = found.group(1) if found else environ.get("REQUEST_METHOD", "?")
        with self.lock:
            counts = self.counted[account]
            counts[action] = counts.get(action, 0) + 1

    def _matches(self, rule, environ):
        if "method" in rule and environ.get("REQUEST_METHOD") != rule["method"]:
            return False
        if "path_regex" in rule and not re.search(rule["path_regex"], environ.get("PATH_INFO", "")):
            return False
        if "query_key" in rule:
            keys = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
            if rule["query_key"] not in keys:
                return False
        if "target" in rule and environ.get("HTTP_X_AMZ_TARGET") != rule["target"]:
            return False
        if "service" in rule and _service_of(environ) != rule["service"]:
            return False
        if "action" in rule and _action_of(environ) != rule["action"]:
            return False
        if "access_key" in rule and rule["access_key"] not in environ.get("HTTP_AUTHORIZATION", ""):
            return False
        if "body_contains" in rule and rule["body_contains"] not in environ.get("qrie.body", ""):
            return False
        if "account" in rule and _account_of(environ) != rule["account"]:
            return False
        for name, value in rule.get("headers", {}).items():
            if environ.get("HTTP_" + name.upper().replace("-", "_")) != value:
                return False
        if "times" in rule and rule["fired"] >= rule["times"]:
            return False
        if rule.get("after", 0) > rule.setdefault("let_through", 0):
            rule["let_through"] += 1
            return False
        return True

    def _rename_root(self, environ, start_response, wrong, right):
        captured = {}

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        body = b"".join(self.app(environ, capture))
        body = body.replace(f"<{wrong}".encode(), f"<{right}".encode()).replace(
            f"</{wrong}>".encode(), f"</{right}>".encode()
        )
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        headers.append(("Content-Length", str(len(body))))
        start_response(captured["status"], headers)
        return [body]

    def _rename_roots(self, environ, start_response, pattern):
        """moto's answer with each root element `<NameResponse>` matching `pattern` renamed
        `<NameResult>`."""
        captured = {}

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        body = b"".join(self.app(environ, capture))
        body = pattern.sub(rb"<\1\2Result", body)
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        headers.append(("Content-Length", str(len(body))))
        start_response(captured["status"], headers)
        return [body]

    def _whole(self, environ, start_response):
        """moto's answer, read to its end (so the lock is held until the request is done)."""
        answer = self.app(environ, start_response)
        try:
            return [b"".join(answer)]
        finally:
            if hasattr(answer, "close"):
                answer.close()

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == "/_qrie/faults":
            return self._control(environ, start_response)
        if environ.get("PATH_INFO") == "/_qrie/calls":
            return self._calls(environ, start_response)
        scope = _QUERY_SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
        query_service = scope.group(1) if scope else None
        if query_service or self.counted or any("body_contains" in r or "action" in r for r in self.rules):
            # Read the body once and hand moto an identical stream.
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
            environ["qrie.body"] = body.decode("utf-8", "replace")
        if self.counted:
            self._count(environ)
        with self.lock:
            rule = None
            for candidate in self.rules:
                if self._matches(candidate, environ):
                    candidate["fired"] += 1
                    if not candidate.get("pass"):
                        rule = candidate
                        break
        if rule is None:
            unknown = _action_moto_lacks(query_service, environ) if query_service else None
            if unknown is not None:
                message = f"The action {unknown} is not valid for this web service."
                if query_service == "ec2":
                    body = (
                        '<?xml version="1.0" encoding="UTF-8"?>\n'
                        f"<Response><Errors><Error><Code>InvalidAction</Code><Message>{message}</Message>"
                        "</Error></Errors><RequestID>qrie-moto-gap</RequestID></Response>"
                    )
                else:
                    body = (
                        '<?xml version="1.0" encoding="UTF-8"?>\n'
                        "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidAction</Code>"
                        f"<Message>{message}</Message></Error><RequestId>qrie-moto-gap</RequestId>"
                        "</ErrorResponse>"
                    )
                return Response(body, status=400, content_type="text/xml")(environ, start_response)
            if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
                with self.dynamodb:
                    return self._whole(environ, start_response)
            if environ.get("REQUEST_METHOD") == "GET" and "versioning" in parse_qs(
                environ.get("QUERY_STRING", ""), keep_blank_values=True
            ):
                return self._rename_root(environ, start_response, "GetBucketVersioningResponse", "VersioningConfiguration")
            if environ.get("REQUEST_METHOD") == "GET" and "notification" in parse_qs(
                environ.get("QUERY_STRING", ""), keep_blank_values=True
            ):
                return self._rename_root(
                    environ, start_response, "GetBucketNotificationResponse", "NotificationConfiguration"
                )
            if environ.get("PATH_INFO", "").startswith("/v20180820/accesspoint"):
                # S3 Control answers `<XResult>`; moto writes `<XResponse>` (errors stay
                # `ErrorResponse`).
                return self._rename_roots(environ, start_response, S3CONTROL_ACCESS_POINT_ROOT)
            return self.app(environ, start_response)
        fault = rule.get("fault", "error")
        if fault == "slow":
            time.sleep(rule.get("delay_ms", 30000) / 1000)
            return self.app(environ, start_response)
        if fault == "reset":
            connection = environ.get("werkzeug.socket")
            if connection is not None:
                connection.shutdown(socket.SHUT_RDWR)
            raise ConnectionResetError("connection dropped by an injected fault")
        if fault == "timeout":
            time.sleep(rule.get("delay_ms", 30000) / 1000)
            rule = {**rule, "status": 504, "code": "GatewayTimeout", "message": "injected timeout"}
        code = rule.get("code", "AccessDenied")
        message = rule.get("message", "Access Denied (injected by the qrie test harness)")
        status = int(rule.get("status", 403))
        protocol = rule.get("protocol", "xml")
        if protocol == "auto":
            protocol = _PROTOCOLS.get(_service_of(environ), "xml")
        if protocol == "json":
            body = json.dumps({"__type": code, "message": message})
            content_type = "application/x-amz-json-1.0"
        elif protocol == "ec2":
            body = (
                '<?xml version="1.0" encoding="UTF-8"?>\n'
                f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error>"
                "</Errors><RequestID>qrie-fault</RequestID></Response>"
            )
            content_type = "text/xml"
        elif protocol == "xml_wrapped":
            body = (
                '<?xml version="1.0" encoding="UTF-8"?>\n'
                "<ErrorResponse><Error><Type>Sender</Type>"
                f"<Code>{code}</Code><Message>{message}</Message></Error>"
                "<RequestId>qrie-fault</RequestId></ErrorResponse>"
            )
            content_type = "text/xml"
        else:
            body = (
                '<?xml version="1.0" encoding="UTF-8"?>\n'
                f"<Error><Code>{code}</Code><Message>{message}</Message>"
                "<RequestId>qrie-fault</RequestId></Error>"
            )
            content_type = "application/xml"
        return Response(body, status=status, content_type=content_type)(environ, start_response)


# The error shape of each service qrie calls (for protocol "auto").
_PROTOCOLS = {
    "s3": "xml",
    "s3control": "xml_wrapped",
    "sts": "xml_wrapped",
    "iam": "xml_wrapped",
    "rds": "xml_wrapped",
    "ec2": "ec2",
    "dynamodb": "json",
    "kms": "json",
    "cloudtrail": "json",
    "lambda": "json",
    "sqs": "json",
    "sns": "xml_wrapped",
    "securityhub": "json",
}

_SCOPE = re.compile(r"Credential=[^/]+/[0-9]{8}/[a-z0-9-]+/([a-z0-9-]+)/aws4_request")


def _service_of(environ):
    """The service the request is signed for (None if unsigned)."""
    found = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    return found.group(1) if found else None


def _action_of(environ):
    """The operation of a JSON- or query-protocol request (None for REST operations)."""
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return target.rsplit(".", 1)[-1]
    for source in (environ.get("qrie.body", ""), environ.get("QUERY_STRING", "")):
        found = re.search(r"(?:^|&)Action=([A-Za-z0-9]+)", source)
        if found:
            return found.group(1)
    return None


# The query-protocol services whose unknown actions are answered as AWS does.
_QUERY_SCOPE = re.compile(r"Credential=[^/]+/[0-9]{8}/[a-z0-9-]+/(ec2|rds)/aws4_request")


def _action_moto_lacks(service, environ):
    """The query action of the request when moto's `service` has no handler for it, else None."""
    from moto.core.utils import camelcase_to_underscores

    if service == "ec2":
        from moto.ec2.responses import EC2Response as responses
    else:
        from moto.rds.responses import RDSResponse as responses

    actions = parse_qs(environ.get("qrie.body", "")).get("Action") or parse_qs(
        environ.get("QUERY_STRING", "")
    ).get("Action")
    if not actions or not re.fullmatch(r"[A-Za-z0-9]+", actions[0]):
        return None
    return None if hasattr(responses, camelcase_to_underscores(actions[0])) else actions[0]


# The access point operations' response roots, opening and closing tags.
S3CONTROL_ACCESS_POINT_ROOT = re.compile(
    rb"<(/?)((?:Create|Get|List)AccessPoints?(?:Policy|PolicyStatus)?)Response"
)


def watch_parent(pid):
    while True:
        try:
            os.kill(pid, 0)
        except OSError:
            os._exit(0)
        time.sleep(0.5)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--parent-pid", type=int, default=os.getppid())
    args = parser.parse_args()
    app = FaultInjector(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", args.port, app, threaded=True)
    print(server.port, flush=True)
    threading.Thread(target=watch_parent, args=(args.parent_pid,), daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
