#!/usr/bin/env python3
"""One whole visitor chat against a Chat REST API server, standard library only.

A small, well-behaved reference client for the simulator's conformance server:

    cargo run --example sim_server -- --listen 127.0.0.1:8080 --report report.json
    python3 examples/clients/chat.py http://127.0.0.1:8080 "Hello" "Where is my parcel?"

It follows the guide: X-LIVEAGENT-API-VERSION on every request, affinity `null` for SessionId, one
X-LIVEAGENT-SEQUENCE per chat POST (1, 2, 3, ...), one Messages poll at a time with `ack` = the `sequence` of
the last 200 batch, 204 means "poll again", ChatMessages 50 ms apart (some servers drop those arriving < 15 ms apart). It sends each line after the agent's answer to the previous
one, then ends the chat with ChatEnd and polls until ChatEnded. Exit status 0 when the chat ended normally.
"""

import http.client
import json
import sys
import time
import urllib.parse

API_VERSION = "59"


class Chat:
    def __init__(self, url, timeout=45):
        u = urllib.parse.urlsplit(url)
        if u.scheme not in ("http", "https"):
            raise SystemExit(f"not an http(s) URL: {url}")
        conn = http.client.HTTPSConnection if u.scheme == "https" else http.client.HTTPConnection
        self.conn = conn(u.netloc, timeout=timeout)
        self.base = u.path.rstrip("/") + "/chat/rest/"
        self.key = None
        self.affinity = "null"
        self.sequence = 0  # the last X-LIVEAGENT-SEQUENCE sent
        self.ack = -1  # the `sequence` of the last 200 Messages batch
        self.last_message = 0.0  # when the last ChatMessage was sent (time.monotonic())

    def request(self, method, path, body=None, sequenced=False):
        headers = {"X-LIVEAGENT-API-VERSION": API_VERSION, "X-LIVEAGENT-AFFINITY": self.affinity}
        if self.key is not None:
            headers["X-LIVEAGENT-SESSION-KEY"] = self.key
        if sequenced:
            self.sequence += 1
            headers["X-LIVEAGENT-SEQUENCE"] = str(self.sequence)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        self.conn.request(method, self.base + path, body=data, headers=headers)
        resp = self.conn.getresponse()
        text = resp.read().decode("utf-8", "replace")
        print(f"> {method} {path}{' seq=' + str(self.sequence) if sequenced else ''} -> {resp.status}",
              file=sys.stderr)
        return resp.status, text

    def start(self, org_id, deployment_id, button_id, name):
        status, text = self.request("GET", "System/SessionId")
        if status != 200:
            raise SystemExit(f"SessionId: {status} {text}")
        s = json.loads(text)
        self.key, self.affinity, session_id = s["key"], s["affinityToken"], s["id"]
        status, text = self.request("POST", "Chasitor/ChasitorInit", {
            "organizationId": org_id, "deploymentId": deployment_id, "buttonId": button_id,
            "sessionId": session_id, "userAgent": "chat.py", "language": "en-US",
            "screenResolution": "1920x1080", "visitorName": name, "prechatDetails": [],
            "prechatEntities": [], "receiveQueueUpdates": True, "isPost": True,
        }, sequenced=True)
        if status // 100 != 2:
            raise SystemExit(f"ChasitorInit: {status} {text}")

    def poll(self):
        """One Messages poll: the list of messages (empty on 204)."""
        status, text = self.request("GET", f"System/Messages?ack={self.ack}")
        if status == 204:
            return []
        if status != 200:
            raise SystemExit(f"Messages: {status} {text}")
        body = json.loads(text)
        if body.get("sequence") is not None:
            self.ack = body["sequence"]
        return body.get("messages", [])

    def say(self, text):
        # A server was seen to drop ChatMessages that arrive less than 15 ms apart while answering 200 (§9.7):
        # keep 50 ms between sends, so network and scheduling jitter cannot bring two within 15 ms.
        wait = self.last_message + 0.050 - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self.last_message = time.monotonic()
        status, answer = self.request("POST", "Chasitor/ChatMessage", {"text": text}, sequenced=True)
        if status // 100 != 2:
            raise SystemExit(f"ChatMessage: {status} {answer}")

    def end(self):
        status, answer = self.request("POST", "Chasitor/ChatEnd", {"reason": "client"}, sequenced=True)
        if status // 100 != 2:
            raise SystemExit(f"ChatEnd: {status} {answer}")


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__)
        return 2
    chat = Chat(argv[1])
    lines = argv[2:] or ["Hello!"]
    chat.start("00D000000000001", "572000000000001", "573000000000001", "Py")
    waiting_for_answer, ended = False, None
    while ended is None:
        for m in chat.poll():
            kind, payload = m.get("type"), m.get("message", {})
            if kind == "ChatEstablished":
                print(f"{payload.get('name', 'an agent')} joined")
            elif kind == "ChatMessage":
                print(f"{payload.get('name', 'agent')}: {payload.get('text')}")
                waiting_for_answer = False
            elif kind in ("ChatEnded", "ChatRequestFail"):
                ended = payload.get("reason", kind)
                continue
            else:
                continue
            if not waiting_for_answer and ended is None:
                if lines:
                    line = lines.pop(0)
                    print(f"you: {line}")
                    chat.say(line)
                    waiting_for_answer = True
                elif kind == "ChatMessage":
                    chat.end()
    print(f"chat ended ({ended})")
    return 0 if ended in ("client", "agent") else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
