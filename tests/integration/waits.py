"""Waiting in tests: every bound scales with the build, and nothing waits a
fixed time for something to happen; it probes until a deadline.

No protobuf here, so that a client with its own generated code
(tests/interop) uses the same waits."""
import os
import time

BIN_DIR = os.environ.get("RAPPORT_BIN_DIR", "build/bin")
# How much slower the workers under test run: RAPPORT_TEST_TIME_SCALE when
# set (tests/valgrind.sh sets 5), else 3 for a sanitized build (its binaries
# live in build-asan/ or build-fuzz/), else 1.
ASAN = any(m in os.path.abspath(BIN_DIR) for m in ("asan", "fuzz"))
TIME_SCALE = float(os.environ.get("RAPPORT_TEST_TIME_SCALE") or (3 if ASAN else 1))


def scaled(seconds):
    """A bound of `seconds` on a plain build, for this build."""
    return seconds * TIME_SCALE


def wait_for(probe, timeout, what, interval=0.02):
    """probe() until it returns something true, which is returned; raises
    AssertionError naming `what` after scaled(timeout) seconds."""
    deadline = time.monotonic() + scaled(timeout)
    while True:
        got = probe()
        if got:
            return got
        if time.monotonic() >= deadline:
            raise AssertionError("%s: not within %.1f s" % (what, scaled(timeout)))
        time.sleep(interval)


def wait_subscribed(connect, subscriptions, timeout=10.0):
    """Connect a subscriber with connect() and wait until the log writer has
    taken its subscription: subscriptions() reads the writer's
    rapport_event_subscriptions, which counts a subscription once it is in
    effect, so every event published after this returns reaches it."""
    before = subscriptions()
    connect()
    wait_for(lambda: subscriptions() > before, timeout, "the log writer taking a subscription")
