"""Web Push delivery benchmark against the local fake push service.

    .venv/bin/python bench/bench_push.py [--n 10000] [--workers W]
        [--subs 100] [--delay 0.05] [--naive-n 100] [--sweep 32,64,128]
        [--server-in-process] [--mixed-im 1000] [--im-delay 0.05]
        [--previous-n 3000]

Sends N messages to --subs fake subscriptions through WebPushSender and, in
the same run, a naive one-call-at-a-time ``pywebpush.webpush()`` loop on a
smaller sample; prints deliveries/s for both and the ratio. Also in the same
run, --previous-n messages through the sender as it was before (pywebpush's
encryption and a pinning ``requests`` session, bench/baseline_webpush.py), for
the sender CPU per message before and after. Every delivery
is checked: the fake service must have verified the VAPID JWT and decrypted
exactly the payloads that were sent. Exit status: 0 targets met, 2 targets
missed, 1 a correctness check failed.

A mixed ladder (docs/design.md §14) is measured too: the N pushes and --mixed-im
DingTalk work notifications (action cards with signed "Claim"/"Open" links,
made and signed in the timed part, as the channel dispatcher does) at once,
as the two outboxes drain side by side, against a local fake DingTalk (its
documented protocol: gettoken, asyncsend_v2, getsendresult; --im-delay per
request, so 2 x 50 ms per message) in another child process. The client's
own limit per minute is lifted for the fake: real DingTalk allows an app 1,500
calls a minute, and Baton holds itself below that. Every card is checked: the
fake received each person's once, with two buttons whose links verify.

The fake push service runs in a child process by default: a real push
service is another machine, and in-process it would compete with the sender
for the same GIL and double the CPU charged to the sender. Use
--server-in-process to see that configuration.
"""

from __future__ import annotations

import argparse
import inspect
import json
import multiprocessing
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import pywebpush  # noqa: E402

from app.notify.channels.base import ChannelMessage  # noqa: E402
from app.notify.channels.dingtalk import DingTalkChannel  # noqa: E402
from app.notify.endpoints import EndpointPolicy  # noqa: E402
from app.notify.links import card_links, verify as verify_link  # noqa: E402
from app.notify.webpush import PushMessage, WebPushSender, generate_vapid_keypair  # noqa: E402
from bench.baseline_webpush import PreviousWebPushSender  # noqa: E402
from tests.notify.push_server import FakePushServer  # noqa: E402

SUBJECT = "mailto:bench@example.com"
TARGET_RATE = 1000.0
TARGET_RATIO = 20.0


def payload(i: int) -> dict:
    return {
        "title": f"Work order WO-{i:06d} assigned",
        "body": "Replace the pressure valve on line 3 before the night shift.",
        "url": f"/workorders/{i}",
        "tag": f"wo-{i}",
        "id": i,
    }


# --------------------------------------------------------------------------
# The fake push service, in this process or in a child process
# --------------------------------------------------------------------------


def _stats(server: FakePushServer) -> dict:
    received = server.received
    return {
        "received": len(received),
        "ids": sorted(r.payload["id"] for r in received),
        "payloads_intact": all(r.payload == payload(r.payload["id"]) for r in received),
        "rejected": [(r.status, r.reason) for r in server.rejected[:3]],
        "rejected_count": len(server.rejected),
        "requests": server.request_count,
        "connections": server.connection_count,
        "cpu": time.process_time(),
    }


def _serve(conn, public_key: str, delay: float) -> None:  # child process
    with FakePushServer(vapid_public_key=public_key, delay=delay) as server:
        while True:
            command, arg = conn.recv()
            if command == "subs":
                conn.send([server.new_subscription() for _ in range(arg)])
            elif command == "reset":
                server.reset()
                conn.send(time.process_time())
            elif command == "stats":
                conn.send(_stats(server))
            elif command == "stop":
                conn.send(None)
                return


class InProcess:
    def __init__(self, public_key: str, delay: float) -> None:
        self.server = FakePushServer(vapid_public_key=public_key, delay=delay).start()

    def subs(self, n: int) -> list[dict]:
        return [self.server.new_subscription() for _ in range(n)]

    def reset(self) -> float | None:
        self.server.reset()
        return None  # same process: its CPU is counted in the sender's

    def stats(self) -> dict:
        return {**_stats(self.server), "cpu": None}

    def stop(self) -> None:
        self.server.stop()


class ChildProcess:
    def __init__(self, public_key: str, delay: float) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(child, public_key, delay), daemon=True)
        self.proc.start()

    def _call(self, command: str, arg=None):
        self.conn.send((command, arg))
        return self.conn.recv()

    def subs(self, n: int) -> list[dict]:
        return self._call("subs", n)

    def reset(self) -> float:
        return self._call("reset")

    def stats(self) -> dict:
        return self._call("stats")

    def stop(self) -> None:
        try:
            self._call("stop")
        finally:
            self.proc.join(timeout=10)


def _serve_dingtalk(conn, delay: float) -> None:  # child process
    from tests.notify.vendor_servers import FakeDingTalk

    with FakeDingTalk() as server:
        server.delay = delay
        conn.send((server.url, FakeDingTalk.agent_id))
        while True:
            command, _ = conn.recv()
            if command == "reset":
                server.reset()
                server.delay = delay
                conn.send(time.process_time())
            elif command == "stats":
                conn.send({"sent": list(server.sent), "requests": len(server.requests),
                           "token_fetches": server.token_fetches, "cpu": time.process_time()})
            elif command == "stop":
                conn.send(None)
                return


class DingTalkProcess(ChildProcess):
    def __init__(self, delay: float) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve_dingtalk, args=(child, delay), daemon=True)
        self.proc.start()
        self.url, self.agent_id = self.conn.recv()


# --------------------------------------------------------------------------
# Runs
# --------------------------------------------------------------------------


class CheckFailed(Exception):
    pass


def check(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def verify(stats: dict, n: int, label: str) -> None:
    check(stats["rejected_count"] == 0,
          f"{label}: server rejected {stats['rejected_count']} requests, e.g. {stats['rejected']}")
    check(stats["received"] == n, f"{label}: server received {stats['received']} != {n}")
    check(stats["ids"] == list(range(n)), f"{label}: decrypted payload ids != ids sent")
    check(stats["payloads_intact"], f"{label}: a decrypted payload differs from what was sent")


def run_sender(server, subs: list[dict], private: str, n: int, workers: int, sender_class=WebPushSender) -> dict:
    server_cpu0 = server.reset()
    messages = [
        PushMessage(ref=i, subscription=subs[i % len(subs)], payload=payload(i),
                    ttl=3600, urgency="normal", topic=f"wo-{i % 997}")
        for i in range(n)
    ]
    # The fake push service listens on 127.0.0.1, which the SSRF rules refuse outside tests and benchmarks.
    with sender_class(private, SUBJECT, max_workers=workers, endpoint_policy=EndpointPolicy(allow_private=True)) as sender:
        t0 = os.times()
        start = time.perf_counter()
        results = sender.send_many(messages)
        elapsed = time.perf_counter() - start
        t1 = os.times()
        user, system = t1.user - t0.user, t1.system - t0.system

    check([r.ref for r in results] == list(range(n)), "results not in input order")
    not_sent = [r for r in results if r.outcome != "sent"]
    check(not not_sent, f"{len(not_sent)} messages not sent, first: {not_sent[:1]}")
    stats = server.stats()
    verify(stats, n, f"{sender_class.__name__}(max_workers={workers})")
    return {
        "workers": workers,
        "elapsed": elapsed,
        "rate": n / elapsed,
        "cpu_ms": (user + system) * 1000 / n,
        "user_ms": user * 1000 / n,
        "sys_ms": system * 1000 / n,
        "server_cpu_ms": None if server_cpu0 is None else (stats["cpu"] - server_cpu0) * 1000 / n,
        "connections": stats["connections"],
        "requests": stats["requests"],
    }


def run_naive(server, subs: list[dict], private: str, n: int) -> dict:
    server.reset()
    start = time.perf_counter()
    for i in range(n):
        try:
            pywebpush.webpush(
                subs[i % len(subs)],
                data=json.dumps(payload(i)),
                vapid_private_key=private,
                vapid_claims={"sub": SUBJECT},  # fresh dict each call: webpush() mutates it
                content_encoding="aes128gcm",
                ttl=3600,
                timeout=10,
            )
        except pywebpush.WebPushException as exc:
            raise CheckFailed(f"naive webpush() loop: message {i}: {exc}") from None
    elapsed = time.perf_counter() - start
    stats = server.stats()
    verify(stats, n, "naive webpush() loop")
    return {"elapsed": elapsed, "rate": n / elapsed, "connections": stats["connections"]}


LINK_SECRET = "bench-card-link-secret-0123456789abcdefghij"
LINK_CONFIG = {"SECRET_KEY": LINK_SECRET, "PUBLIC_URL": "https://baton.example", "CARD_LINK_TTL_SECONDS": 43200}
BUTTONS = [{"action": "claim", "title": "抢单"}, {"action": "open", "title": "查看"}]


def run_mixed(server, dingtalk: DingTalkProcess, subs: list[dict], private: str, n: int, n_im: int, workers: int) -> dict:
    """N pushes and n_im DingTalk cards at once (two threads, as the two outboxes' dispatchers): deliveries/s."""
    import threading
    from datetime import datetime, timezone

    server.reset()
    dingtalk.reset()
    pushes = [PushMessage(ref=i, subscription=subs[i % len(subs)], payload=payload(i), ttl=3600, urgency="normal",
                          topic=f"wo-{i % 997}") for i in range(n)]
    channel = DingTalkChannel(app_key="key-1", app_secret="secret-1", agent_id=str(dingtalk.agent_id), base_url=dingtalk.url,
                              public_url="https://baton.example", per_minute=10**9)
    now = datetime.now(timezone.utc)
    done: dict[str, tuple] = {}

    def cards():
        began = time.perf_counter()
        messages = [ChannelMessage(ref=i, to=f"dt-{i}", title=f"New task you can claim WO-{i:06d}",
                                   body="Replace the pressure valve on line 3.", url=f"/#/task/{i}", actions=BUTTONS,
                                   links=card_links(config=LINK_CONFIG, notification_id=i + 1, user_id=i + 1,
                                                    actions=["claim", "open"], now=now)) for i in range(n_im)]
        done["im"] = (channel.send_many(messages), time.perf_counter() - began)

    with WebPushSender(private, SUBJECT, max_workers=workers, endpoint_policy=EndpointPolicy(allow_private=True)) as sender:
        def push():
            began = time.perf_counter()
            done["push"] = (sender.send_many(pushes), time.perf_counter() - began)

        threads = [threading.Thread(target=push), threading.Thread(target=cards)]
        t0 = os.times()
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - start
        t1 = os.times()

    push_results, push_elapsed = done["push"]
    im_results, im_elapsed = done["im"]
    check(all(r.outcome == "sent" for r in push_results), "mixed: a push was not sent")
    not_sent = [r for r in im_results if r.outcome != "sent"]
    check(not not_sent, f"mixed: {len(not_sent)} DingTalk cards not sent, first: {not_sent[:1]}")
    verify(server.stats(), n, "mixed: WebPushSender")
    stats = dingtalk.stats()
    check(sorted(to for to, _ in stats["sent"]) == sorted(f"dt-{i}" for i in range(n_im)),
          "mixed: the fake DingTalk did not get each card once")
    for to, card in stats["sent"]:
        i = int(to[3:])
        buttons = card["action_card"]["btn_json_list"]
        check([b["title"] for b in buttons] == ["抢单", "查看"], f"mixed: card {i} has buttons {buttons}")
        for action, button in zip(("claim", "open"), buttons):
            link = verify_link(button["action_url"].rsplit("/", 1)[1], secret=LINK_SECRET, now=now)
            check((link.notification_id, link.action) == (i + 1, action), f"mixed: card {i}'s {action} link is wrong")
    total = n + n_im
    return {"elapsed": elapsed, "rate": total / elapsed, "push_rate": n / push_elapsed, "push_elapsed": push_elapsed,
            "im_rate": n_im / im_elapsed, "im_elapsed": im_elapsed, "im_requests": stats["requests"],
            "token_fetches": stats["token_fetches"], "cpu_ms": ((t1.user - t0.user) + (t1.system - t0.system)) * 1000 / total}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=10_000, help="messages through WebPushSender")
    parser.add_argument("--subs", type=int, default=100, help="fake subscriptions")
    parser.add_argument("--workers", type=int, default=None,
                        help="WebPushSender max_workers (default: the sender's default)")
    parser.add_argument("--delay", type=float, default=0.05, help="server delay per request (s)")
    parser.add_argument("--naive-n", type=int, default=100, help="messages in the naive loop")
    parser.add_argument("--sweep", default="", help="comma-separated max_workers values to try first")
    parser.add_argument("--server-in-process", action="store_true",
                        help="run the fake push service in this process (shares the GIL)")
    parser.add_argument("--mixed-im", type=int, default=1000,
                        help="DingTalk cards sent beside the N pushes in the mixed-ladder run (0: skip it)")
    parser.add_argument("--im-delay", type=float, default=0.05, help="the fake DingTalk's delay per request (s)")
    parser.add_argument("--previous-n", type=int, default=3000,
                        help="messages through the previous sender (pywebpush + requests) for comparison (0: skip it)")
    args = parser.parse_args()

    default_workers = inspect.signature(WebPushSender).parameters["max_workers"].default
    workers = args.workers or default_workers
    private, public = generate_vapid_keypair()
    server = (InProcess if args.server_in_process else ChildProcess)(public, args.delay)
    dingtalk = DingTalkProcess(args.im_delay) if args.mixed_im else None
    mixed = previous = None
    try:
        subs = server.subs(args.subs)
        print(f"cpu cores: {os.cpu_count()}, load average before: {os.getloadavg()[0]:.1f}")
        print(f"fake push service: {'in this process' if args.server_in_process else 'child process'}, "
              f"{args.delay * 1000:.0f} ms delay per request, {args.subs} subscriptions")
        for w in [int(x) for x in args.sweep.split(",") if x.strip()]:
            r = run_sender(server, subs, private, args.n, w)
            print(f"sweep max_workers={w}: {r['rate']:.0f} deliveries/s, {r['elapsed']:.2f} s, "
                  f"{r['connections']} connections, sender CPU {r['cpu_ms']:.2f} ms/msg")
        if args.previous_n:
            previous = run_sender(server, subs, private, args.previous_n, workers, PreviousWebPushSender)
        fast = run_sender(server, subs, private, args.n, workers)
        naive = run_naive(server, subs, private, args.naive_n)
        if dingtalk is not None:
            mixed = run_mixed(server, dingtalk, subs, private, args.n, args.mixed_im, workers)
    except CheckFailed as exc:
        print(f"CHECK FAILED: {exc}")
        return 1
    finally:
        server.stop()
        if dingtalk is not None:
            dingtalk.stop()

    ratio = fast["rate"] / naive["rate"]
    ok = fast["rate"] >= TARGET_RATE and ratio >= TARGET_RATIO
    if mixed is not None:
        ok = ok and mixed["rate"] >= TARGET_RATE and mixed["rate"] / naive["rate"] >= TARGET_RATIO
    print(f"WebPushSender max_workers: {fast['workers']}")
    print(f"WebPushSender messages: {args.n} (all sent; VAPID verified, decrypted and compared)")
    print(f"WebPushSender elapsed: {fast['elapsed']:.2f} s")
    print(f"WebPushSender deliveries/s: {fast['rate']:.0f}")
    print(f"WebPushSender TCP connections: {fast['connections']}")
    print(f"WebPushSender sender CPU per message: {fast['cpu_ms']:.2f} ms "
          f"(user {fast['user_ms']:.2f}, kernel {fast['sys_ms']:.2f})")
    if previous is not None:
        print(f"previous sender (pywebpush + requests) messages: {args.previous_n} (all sent and checked likewise)")
        print(f"previous sender deliveries/s: {previous['rate']:.0f}")
        print(f"previous sender CPU per message: {previous['cpu_ms']:.2f} ms "
              f"(user {previous['user_ms']:.2f}, kernel {previous['sys_ms']:.2f})")
        print(f"sender CPU per message, previous / now: {previous['cpu_ms'] / fast['cpu_ms']:.2f}")
    if fast["server_cpu_ms"] is None:
        print("fake push service CPU per message: included above (same process)")
    else:
        print(f"fake push service CPU per message: {fast['server_cpu_ms']:.2f} ms")
    print(f"naive webpush() loop messages: {args.naive_n}")
    print(f"naive webpush() loop elapsed: {naive['elapsed']:.2f} s")
    print(f"naive webpush() loop deliveries/s: {naive['rate']:.1f}")
    print(f"naive webpush() loop TCP connections: {naive['connections']}")
    print(f"speed-up vs naive: {ratio:.1f}x")
    if mixed is not None:
        print(f"mixed ladder: {args.n} pushes + {args.mixed_im} DingTalk cards (signed Claim/Open links), at once; "
              f"fake DingTalk {args.im_delay * 1000:.0f} ms per request, 2 requests per card")
        print(f"mixed ladder elapsed: {mixed['elapsed']:.2f} s")
        print(f"mixed ladder pushes: {mixed['push_rate']:.0f} deliveries/s ({mixed['push_elapsed']:.2f} s)")
        print(f"mixed ladder DingTalk: {mixed['im_rate']:.0f} deliveries/s ({mixed['im_elapsed']:.2f} s, "
              f"{mixed['im_requests']} requests, {mixed['token_fetches']} token fetch)")
        print(f"mixed ladder deliveries/s: {mixed['rate']:.0f}")
        print(f"mixed ladder sender CPU per delivery: {mixed['cpu_ms']:.2f} ms")
        print(f"mixed ladder speed-up vs naive: {mixed['rate'] / naive['rate']:.1f}x")
    print(f"load average after: {os.getloadavg()[0]:.1f} (other processes compete for the CPU)")
    print(f"targets (>= {TARGET_RATE:.0f}/s and >= {TARGET_RATIO:.0f}x{', pushes alone and the mixed ladder' if mixed else ''}): "
          f"{'MET' if ok else 'NOT MET'}")
    return 0 if ok else 2


if __name__ == "__main__":
    raise SystemExit(main())
